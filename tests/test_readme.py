"""The README's Python and command-line examples run, and its rule table is current."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

import eicodec
from eicodec.cli import main
from eicodec.rules import rule_table
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)
COMMANDS = [ln[2:] for ln in re.findall(r"^\$ eicodec .*$", README, re.M)]


@pytest.fixture
def in_copy(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run in a scratch folder holding the examples, so outputs land there."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    old = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(old)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_python_example_runs(code: str, in_copy: Path) -> None:
    if "my/AP305v8.0.toml" in code:
        pytest.skip("needs a corrected spec of the reader's own")
    exec(compile(code, "README.md", "exec"), {})


def test_readme_commands_run_with_the_exit_status_they_state(in_copy: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert len(COMMANDS) >= 8
    for line in COMMANDS:
        command, _, comment = line.partition("#")
        want = int(comment.split("exit")[1]) if "exit" in comment else 0
        argv = shlex.split(command)[1:]
        assert main(argv) == want, line
    capsys.readouterr()


def test_readme_rule_table_matches_the_registry() -> None:
    current = README.split("<!-- rules:start -->\n")[1].split("\n<!-- rules:end -->")[0]
    assert current == rule_table(eicodec.get_spec("AP304"))
