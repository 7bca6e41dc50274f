"""Kind `fields_differ` ("een andere waarde vullen als ..."): all named fields filled and
the first equal to one of the others fails; tried on GZ321 0612 vs 0607 (BER 0612)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import eicodec
from eicodec.errors import SpecError
from eicodec.layouts import data_dir, load_spec

ROOT = Path(__file__).resolve().parents[1]
VALID = (ROOT / "examples" / "gz321_valid.asc").read_bytes()

RULE = """
[[rule]]
id = "record.other_code"
kind = "fields_differ"
level = "record"
code = "0582"
record = "06"
rubrics = {rubrics}
description = "Declaratiecode deelprestatie other than the declaratiecode."
message = "declaratiecode deelprestatie equals the declaratiecode"
"""


def _spec(tmp_path: Path, rubrics: str) -> eicodec.MessageSpec:
    shutil.copy(data_dir() / "GZ321v1.0.toml", tmp_path / "GZ321v1.0.toml")
    (tmp_path / "GZ321v1.0.rules.toml").write_text(RULE.format(rubrics=rubrics), encoding="utf-8")
    return load_spec(tmp_path / "GZ321v1.0.toml")


def test_fields_differ_fails_where_the_values_are_equal(tmp_path: Path) -> None:
    spec = _spec(tmp_path, '["0612", "0607"]')
    rep = eicodec.validate(VALID, spec=spec)
    lines = VALID.split(b"\r\n")
    f12, f07 = spec.field("06", "0612"), spec.field("06", "0607")
    same = {i + 1 for i, ln in enumerate(lines) if ln[:2] == b"06" and ln[f12.slice] == ln[f07.slice]}
    assert same and same != {i + 1 for i, ln in enumerate(lines) if ln[:2] == b"06"}  # some differ
    assert {f.line for f in rep.findings} == same
    assert {(f.rule, f.rubric, f.code) for f in rep.findings} == {("record.other_code", "0612", "0582")}


def test_fields_differ_skips_an_empty_field(tmp_path: Path) -> None:
    """0611 (empty in the example) against 0606: nothing to compare."""
    spec = _spec(tmp_path, '["0611", "0606"]')
    assert eicodec.validate(VALID, spec=spec).findings == []


def test_fields_differ_needs_two_rubrics(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="at least two rubrics"):
        eicodec.validate(VALID, spec=_spec(tmp_path, '["0612"]'))
