"""What a shared output may hold: CSV safe for spreadsheets, outputs never over what stdin
reads, private partial files, linear-time patterns (issue 25)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
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
