"""What a shared output may hold: CSV safe for spreadsheets, outputs never over what stdin
reads, private partial files, linear-time patterns (issue 25)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import eicodec
from eicodec.cli import main
from eicodec.convert import iter_csv
from tests.conftest import EXAMPLES

FULL = EXAMPLES / "ap304_full.asc"
FORMULA = "=cmd|'/C calc'!A0"


def _with_reference(value: str) -> bytes:
    """The full example with the first claim line's reference (0445, free text) set."""
    lines = FULL.read_bytes().split(b"\r\n")
    for i, line in enumerate(lines):
        if line[:2] == b"04":
            lines[i] = line[:307] + value.ljust(20).encode() + line[327:]
            break
    return b"\r\n".join(lines)


@pytest.mark.parametrize("layout", ["records", "fields"])
def test_formula_cells_are_neutralised_in_both_csv_layouts(tmp_path: Path, layout: str) -> None:
    src = tmp_path / "in.asc"
    src.write_bytes(_with_reference(FORMULA))
    out = tmp_path / "out.csv"
    assert main(["convert", str(src), "--to", "csv", "--layout", layout, "-o", str(out)]) == 0
    cells = [c for row in csv.reader(io.StringIO(out.read_text())) for c in row]
    assert "'" + FORMULA in cells
    assert not any(c.startswith(("=", "+", "@", "\t", "\r")) for c in cells)
    # numbers stay numbers: no quote before a digit or a minus sign of a number cell
    assert not any(c.startswith("'") and c[1:].lstrip("-").isdigit() for c in cells)
    raw = tmp_path / "raw.csv"
    assert main(["convert", str(src), "--to", "csv", "--layout", layout, "--raw-csv", "-o", str(raw)]) == 0
    raw_cells = [c for row in csv.reader(io.StringIO(raw.read_text())) for c in row]
    assert FORMULA in raw_cells and "'" + FORMULA not in raw_cells


@pytest.mark.parametrize("first", ["=", "+", "-", "@", "\t"])
def test_every_formula_start_is_neutralised(first: str) -> None:
    data = _with_reference(first + "SUM(A1)")
    rows = "".join(eicodec.tables.iter_csv_rows(data))
    fields = "".join(iter_csv(data))
    for text in (rows, fields):
        cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
        assert "'" + first + "SUM(A1)" in cells


# --------------------------------------------------------------------------- no output over stdin

def _run(args: list[str], stdin: Path) -> subprocess.CompletedProcess[bytes]:
    with stdin.open("rb") as fh:
        return subprocess.run([sys.executable, "-m", "eicodec", *args], stdin=fh, capture_output=True,
                              timeout=120, check=False)


@pytest.mark.parametrize(("command", "option"), [
    (["validate", "-", "--retour", "{in}"], "--retour"),
    (["report", "-", "--html", "{in}"], "--html"),
    (["convert", "-", "--to", "csv", "-o", "{in}"], "--output"),
    (["convert", "-", "--to", "json", "--output", "{in}"], "--output"),
    (["anonymise", "-", "-o", "{in}"], "--output"),
    (["build", "-", "-o", "{in}"], "--output"),
])
def test_no_output_replaces_the_file_behind_stdin(tmp_path: Path, command: list[str], option: str) -> None:
    """`cmd - -o in.asc < in.asc` (and a hard link to it) is refused with exit 2 naming the option."""
    src = tmp_path / "in.asc"
    if command[0] == "build":
        assert main(["convert", str(FULL), "--to", "json", "--unmask", "-o", str(src)]) == 0
    else:
        src.write_bytes(FULL.read_bytes())
    before = src.read_bytes()
    link = tmp_path / "link.asc"
    os.link(src, link)
    for target in (src, link):
        got = _run([a.replace("{in}", str(target)) for a in command], src)
        assert got.returncode == 2, got.stderr
        assert option in got.stderr.decode() and "standard input" in got.stderr.decode()
        assert src.read_bytes() == before
    # another file is fine
    other = tmp_path / "other.out"
    got = _run([a.replace("{in}", str(other)) for a in command], src)
    assert got.returncode in (0, 1), got.stderr
    assert other.exists()


# --------------------------------------------------------------------------- partial files

def _partials(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(".part"))


def test_a_sigkilled_writer_leaves_only_a_private_partial_that_the_next_run_removes(tmp_path: Path) -> None:
    target = tmp_path / "copy.asc"
    code = ("import time\n"
            "from eicodec.outputs import atomic_output\n"
            f"with atomic_output({str(target)!r}) as fh:\n"
            "    fh.write(b'0212345678219560314Vries' * 1000); fh.flush()\n"
            "    print('writing', flush=True)\n"
            "    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"writing\n"
    # while its writer lives, another run leaves the partial alone
    from eicodec.outputs import remove_stale_partials

    assert remove_stale_partials(target) == []
    proc.kill()
    proc.wait(timeout=20)
    left = _partials(tmp_path)
    assert len(left) == 1 and list(tmp_path.iterdir()) == left
    assert stat.S_IMODE(left[0].stat().st_mode) == 0o600
    # a partial of another target and a file of another pattern stay
    other = tmp_path / f".other.asc.{proc.pid}.abcdefgh.part"
    other.write_bytes(b"x")
    mine = tmp_path / ".copy.asc.notes.part"
    mine.write_bytes(b"x")
    assert main(["anonymise", str(FULL), "-o", str(target)]) == 0
    assert sorted(tmp_path.iterdir()) == sorted([target, other, mine])


def test_the_library_never_replaces_signal_handlers(tmp_path: Path) -> None:
    """An application embedding eicodec keeps its own SIGTERM/SIGINT handlers while it writes."""
    from eicodec.outputs import atomic_output

    def mine(signum: int, frame: object) -> None:  # pragma: no cover - never called
        pass

    old = signal.signal(signal.SIGTERM, mine)
    try:
        with atomic_output(tmp_path / "x.asc") as fh:
            fh.write(b"x")
            assert signal.getsignal(signal.SIGTERM) is mine
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert eicodec.anonymise_to(FULL, tmp_path / "y.asc", b"k") > 0
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, old)


def test_a_partial_file_is_private_from_its_creation(tmp_path: Path) -> None:
    from eicodec.outputs import atomic_output

    with atomic_output(tmp_path / "x.asc") as fh:
        (part,) = _partials(tmp_path)
        assert stat.S_IMODE(part.stat().st_mode) == 0o600
        fh.write(b"x")
    assert _partials(tmp_path) == []


# --------------------------------------------------------------------------- linear-time patterns

def _rules_with_pattern(tmp_path: Path, pattern: str) -> Path:
    rules = tmp_path / "mine.rules.toml"
    rules.write_text(f'''
[[rule]]
id = "record.comment_words"
kind = "pattern"
level = "record"
code = "0001"
record = "98"
rubrics = ["9804"]
pattern = '{pattern}'
description = "a comment is words"
message = "comment is not words"
''', encoding="utf-8")
    return rules


def test_a_backtracking_pattern_validates_the_example_correctly(tmp_path: Path) -> None:
    """Issue 25: ``([A-Za-z]+ ?)*`` on the comment text stalled Python's re for minutes on
    the shipped example's 27-character comment; on RE2 it is a plain (linear) match."""
    from eicodec.kinds import compile_pattern

    pattern = "([A-Za-z]+ ?)*"
    comment = next(r for r in eicodec.iter_records(FULL) if r.record_type == "98")
    text = comment.raw[eicodec.get_spec("AP304").field("98", "9804").slice].rstrip(" ")
    assert len(text) >= 20 and not text.replace(" ", "").isalpha()  # the text that stalled re
    assert compile_pattern(pattern).fullmatch(text) is None
    assert compile_pattern(pattern).fullmatch("Graag contact opnemen") is not None
    started = time.monotonic()
    report = eicodec.validate(FULL, rules=_rules_with_pattern(tmp_path, pattern))
    assert time.monotonic() - started < 30  # (a generous guard; Python's re took minutes)
    field = eicodec.get_spec("AP304").field("98", "9804")

    def words(t: str) -> bool:  # what the pattern says, without backtracking
        return re.fullmatch("[A-Za-z ]*", t) is not None and not t.startswith(" ") and "  " not in t

    want = [r.line for r in eicodec.iter_records(FULL) if r.record_type == "98"
            and not words(r.raw[field.slice].rstrip(" "))]
    got = [(f.line, f.rubric, f.code) for f in report.findings if f.rule == "record.comment_words"]
    assert want and got == [(line, "9804", "0001") for line in want]


@pytest.mark.parametrize("pattern", [r"(a+)\1", "(?=a)a", "(?<!x)y", "[a-"])
def test_a_pattern_re2_cannot_run_in_linear_time_is_refused_at_load(tmp_path: Path, pattern: str) -> None:
    with pytest.raises(eicodec.SpecError, match="record.comment_words"):
        eicodec.validate(FULL, rules=_rules_with_pattern(tmp_path, pattern))


# --------------------------------------------------------------------------- anonymise: guard, dates

def test_a_birth_date_in_year_9999_gets_a_fake_not_an_error() -> None:
    spec = eicodec.get_spec("AP304")
    f = spec.field("02", "0207")
    lines = FULL.read_bytes().split(b"\r\n")
    i = next(i for i, ln in enumerate(lines) if ln[:2] == b"02")
    lines[i] = lines[i][:f.start - 1] + b"99991231" + lines[i][f.end:]
    data = b"\r\n".join(lines)
    out = b"".join(eicodec.anonymise(data, b"k")).split(b"\r\n")[i]
    fake = out[f.start - 1:f.end].decode()
    assert fake != "99991231" and fake.startswith("9999") and dt.date(9999, int(fake[4:6]), int(fake[6:]))


def test_the_leak_guard_writes_nothing_and_names_the_rubric_not_the_value(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Were a fake to fail (here: the anonymiser made to copy lines unchanged), the guard
    stops the copy before anything is written: the target keeps its content, stdout gets
    nothing, and the error says which rubric, never the value."""
    from eicodec.anonymise import Anonymiser, LeakError

    monkeypatch.setattr(Anonymiser, "line", lambda self, text: text)
    target = tmp_path / "copy.asc"
    target.write_bytes(b"old")
    with pytest.raises(LeakError) as caught:
        eicodec.anonymise_to(FULL, target, b"k")
    assert target.read_bytes() == b"old" and _partials(tmp_path) == []
    assert caught.value.rubric is not None and "rubric" in str(caught.value)
    assert "123456782" not in str(caught.value) and "Vries" not in str(caught.value)
    sink = io.BytesIO()
    with pytest.raises(LeakError):
        eicodec.anonymise_to(FULL, sink, b"k")
    assert sink.getvalue() == b""
