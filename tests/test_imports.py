"""Issue 23: imports flow one way. The import-linter contracts in pyproject.toml hold
(no import circle inside the package; the checking modules import no answer, rendering,
table or fan-out module; nothing inside goes through the ``validator`` re-export), and
they fail when a back-import is planted in a copy of the package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

CONFIG = ROOT / "pyproject.toml"


def lint(config: Path, cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` of *config* in a fresh process (its import graph is not cached)."""
    env = {**os.environ}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    code = "import sys; from importlinter.cli import lint_imports; " \
           "sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True, no_logo=True))"
    return subprocess.run([sys.executable, "-c", code, str(config)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_the_import_contracts_hold() -> None:
    done = lint(CONFIG, ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 3 kept, 0 broken." in done.stdout


def test_the_contracts_name_every_checking_and_answer_module() -> None:
    contracts = tomllib.loads(CONFIG.read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]
    forbidden = next(c for c in contracts if c["type"] == "forbidden")
    modules = {p.stem for p in (ROOT / "src" / "eicodec").glob("*.py")}
    checking = {"engine", "kinds", "grammar", "findings", "subtree", "batches", "history", "historydb", "rules",
                "layouts", "codecs", "codes"}
    answers = {"retour", "readback", "retour_check", "report_json", "report_html", "cli", "many", "tables",
               "convert", "anonymise", "validator", "recording", "history_cli", "spec_cli"}
    assert checking | answers <= modules
    assert {m.removeprefix("eicodec.") for m in forbidden["source_modules"]} == checking
    assert {m.removeprefix("eicodec.") for m in forbidden["forbidden_modules"]} == answers


PLANTED = [
    # a checking module reaching for an answer module
    ("kinds.py", "from . import retour  # planted\n", "eicodec.kinds -> eicodec.retour",
     "Checking modules import no answer, rendering, table or fan-out module"),
    # the layouts importing the records they describe: a circle
    ("layouts.py", "from . import model  # planted\n", "- .model -> .layouts", "No import circle inside the package"),
    # a module inside going through the re-export
    ("convert.py", "from .validator import validate  # planted\n", "eicodec.convert -> eicodec.validator",
     "Nothing inside imports through the validator re-export (kept for users)"),
]


@pytest.mark.parametrize(("module", "line", "shown", "contract"), PLANTED)
def test_a_planted_back_import_breaks_a_contract(tmp_path: Path, module: str, line: str, shown: str,
                                                 contract: str) -> None:
    """A copy of the package passes; with one import planted, the linter names the
    contract broken and the import (or the one that would break the circle)."""
    shutil.copytree(ROOT / "src" / "eicodec", tmp_path / "eicodec",
                    ignore=shutil.ignore_patterns("__pycache__"))
    config = tmp_path / "pyproject.toml"
    shutil.copy(CONFIG, config)
    clean = lint(config, tmp_path, tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    target = tmp_path / "eicodec" / module
    text = target.read_text(encoding="utf-8")
    head, sep, rest = text.partition("from __future__ import annotations\n")
    target.write_text(head + sep + line + rest, encoding="utf-8")
    broken = lint(config, tmp_path, tmp_path)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert f"{contract} BROKEN" in broken.stdout
    assert shown in broken.stdout


def test_import_eicodec_loads_only_reading_and_writing() -> None:
    """``import eicodec`` (issue 26) loads the reader and writer, not the validator's numpy nor
    pyarrow; every public name still works, and the first use imports what it needs."""
    code = ("import sys, eicodec\n"
            "heavy = sorted(m for m in ('numpy', 'pyarrow', 'schwifty', 'sqlalchemy', 'jsonschema',\n"
            "               'eicodec.engine', 'eicodec.tables', 'eicodec.retour') if m in sys.modules)\n"
            "print(' '.join(heavy) or '-')\n"
            "names = [n for n in eicodec.__all__ if getattr(eicodec, n) is None]\n"
            "assert not names, names\n"
            "assert set(eicodec.__all__) <= set(dir(eicodec))\n"
            "assert eicodec.engine.validate is eicodec.validate\n"  # a submodule by attribute, as before
            "from eicodec import to_parquet, ColumnBatch, Report\n"
            "print('numpy' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split("\n")[:2] == ["-", "True"]
    with pytest.raises(AttributeError, match="no_such_name"):
        import eicodec
        eicodec.no_such_name  # noqa: B018


def test_a_function_named_like_its_module_stays_the_function() -> None:
    """``eicodec.columns`` and ``eicodec.anonymise`` are the functions even after their
    modules were imported by their full names (a lazy import must not shadow them)."""
    code = ("import eicodec.columns, eicodec.anonymise, eicodec.tables\n"
            "import eicodec\n"
            "from eicodec.columns import ColumnBatch\n"
            "assert callable(eicodec.columns) and eicodec.columns.__name__ == 'columns', eicodec.columns\n"
            "assert callable(eicodec.anonymise) and eicodec.anonymise.__module__ == 'eicodec.anonymise'\n"
            "from eicodec import columns, anonymise\n"
            "assert columns is eicodec.columns and anonymise is eicodec.anonymise\n")
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
