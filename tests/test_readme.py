"""The README's Python and command-line examples run, and its rule table is current."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import eicodec
from eicodec.cli import main
from eicodec.rules import rule_table
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.DOTALL)
TEXT_BLOCKS = "\n".join(re.findall(r"```text\n(.*?)```", README, re.DOTALL))
COMMANDS = [ln[2:] for ln in re.findall(r"^\$ eicodec .*$", TEXT_BLOCKS, re.MULTILINE)]
SHELL_SECTION = README.split("## Using eicodec from the shell\n")[1].split("\n## ")[0]
SHELL_LINES = [ln[2:] for block in re.findall(r"```sh\n(.*?)```", SHELL_SECTION, re.DOTALL)
               for ln in block.splitlines() if ln.startswith("$ ")]
TODAY = dt.date(2024, 3, 1)


def assert_written_file_is_valid(data: bytes, name: str) -> None:
    """An AP304 the README writes validates as approved; an AP305 reads without problems
    (it repeats the rejected line it answers, so it is not itself approved)."""
    decl = eicodec.read(data)
    if decl.spec.standard == "AP304":
        report = eicodec.validate(data, today=TODAY)
        assert report.status is eicodec.Status.APPROVED, (name, [(f.rubric, f.message) for f in report.findings])
    else:
        assert decl.problems == [] and decl.unplaced == [], name


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
    if "my/AP305v8.0.toml" in code:  # a reader's corrected copy of the spec, and a return file
        (in_copy / "my").mkdir()
        shutil.copy(eicodec.layouts.data_dir() / "AP305v8.0.toml", in_copy / "my" / "AP305v8.0.toml")
        ap304 = ROOT / "examples" / "ap304_claim_rejected.asc"
        report = eicodec.validate(ap304, today=TODAY)
        eicodec.write_retour(ap304, report, in_copy / "retour.asc", return_date=TODAY)
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    written = {k: v for k, v in namespace.items() if isinstance(v, bytes) and v[:2] == b"01"}
    written |= {p.name: p.read_bytes() for p in in_copy.glob("*.asc")}
    for name, data in written.items():
        assert_written_file_is_valid(data, name)


def test_readme_writes_at_least_one_declaration_and_every_one_validates(in_copy: Path) -> None:
    """The "Build and write a declaration" example once wrote a file the validator rejected."""
    build = next(b for b in BLOCKS if "Declaration.new" in b)
    namespace: dict[str, object] = {}
    exec(compile(build, "README.md", "exec"), namespace)
    data = namespace["data"]
    assert isinstance(data, bytes)
    assert_written_file_is_valid(data, "data")


def test_readme_commands_run_with_the_exit_status_they_state(in_copy: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert len(COMMANDS) >= 8
    for line in COMMANDS:
        command, _, comment = line.partition("#")
        want = int(comment.split("exit")[1]) if "exit" in comment else 0
        argv = shlex.split(command)[1:]
        assert main(argv) == want, line
    capsys.readouterr()
    outputs = list(in_copy.glob("*.asc"))
    assert outputs  # the build and the return file
    for path in outputs:
        assert_written_file_is_valid(path.read_bytes(), path.name)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_readme_shell_section_runs_in_a_real_shell(in_copy: Path) -> None:
    """The pipes of "Using eicodec from the shell", run by bash with the installed script."""
    assert len(SHELL_LINES) >= 6 and any(" - " in ln or ln.endswith(" -") for ln in SHELL_LINES)
    bindir = Path(sys.executable).parent
    if not (bindir / "eicodec").exists():
        pytest.skip("the eicodec console script is not installed next to this Python")
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    for line in SHELL_LINES:
        want = int(line.split("# exit")[1]) if "# exit" in line else 0
        res = subprocess.run(["bash", "-c", line], capture_output=True, text=True, env=env, cwd=in_copy,
                             timeout=120, check=False)
        assert res.returncode == want, (line, res.stderr)
        assert "Traceback" not in res.stderr and res.stderr.count("\n") <= 1, (line, res.stderr)
    assert (in_copy / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    findings = (in_copy / "findings.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["kind"] for x in findings] == ["report", "finding"]


def test_readme_rule_table_matches_the_registry() -> None:
    current = README.split("<!-- rules:start -->\n")[1].split("\n<!-- rules:end -->")[0]
    assert current == rule_table(eicodec.get_spec("AP304"))


def test_quickstart_commands_are_what_ci_runs_and_the_example_validates() -> None:
    """Quickstart: line 1 installs and validates an example, line 2 is CI's own command.
    (CI runs line 2 from a fresh clone; here line 1's last step runs with the installed script.)"""
    block = README.split("## Quickstart")[1].split("```sh\n")[1].split("```")[0]
    first, second = [ln.strip() for ln in block.strip().splitlines()]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for step in second.split("&&"):
        assert step.strip() in ci, step
    install, validate = first.split("&&")[1:]
    assert install.strip() == ".venv/bin/pip install -q ."
    argv = shlex.split(validate)
    assert argv[0] == ".venv/bin/eicodec" and argv[1:] == ["validate", "examples/ap304_insurer.asc"]
    script = Path(sys.executable).parent / "eicodec"
    if not script.exists():
        pytest.skip("the eicodec console script is not installed next to this Python")
    res = subprocess.run([str(script), *argv[1:]], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         check=False)
    assert res.returncode == 0 and res.stdout.startswith("examples/ap304_insurer.asc: approved"), res.stdout
