"""eicodec.heap: glibc's malloc keeps freed batch memory (once per process), unless the
process chose its own settings or opted out."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
CODE = ("import eicodec, eicodec.heap as h\n"
        "eicodec.validate('examples/ap304_full.asc')\n"
        "print(h.keep_freed_memory.cache_info().misses, h.keep_freed_memory())\n")


def run(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "EICODEC_MALLOC"}
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True,
                         env={**clean, **env}, cwd=os.path.dirname(os.path.dirname(__file__)))
    return out.stdout.strip()


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt only")
def test_validating_tunes_malloc_once() -> None:
    assert run() == "1 True"  # (validating asked once; asked again: the same answer)


@pytest.mark.parametrize("env", [{"EICODEC_MALLOC": "system"}, {"MALLOC_TRIM_THRESHOLD_": "131072"},
                                 {"MALLOC_MMAP_THRESHOLD_": "131072"}], ids=["opt-out", "own-trim", "own-mmap"])
def test_a_process_s_own_malloc_settings_are_left_alone(env: dict[str, str]) -> None:
    assert run(**env) == "1 False"
