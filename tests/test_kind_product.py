"""Kind `product` (arithmetic within a record: a = b x c [/ divisor], rounding stated),
tried on MZ301 v1.3: 0426 berekend bedrag = 0425 aantal x 0424 tarief."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import eicodec
from eicodec.errors import SpecError
from eicodec.layouts import data_dir, load_spec
from eicodec.rules import load_rules

ROOT = Path(__file__).resolve().parents[1]
VALID = (ROOT / "examples" / "mz301_valid.asc").read_bytes()

RULE = """
[[rule]]
id = "record.calculated_amount"
kind = "product"
code = "0001"
record = "04"
rubrics = ["0426", "0425", "0424"]
{extra}
description = "Berekend bedrag = aantal x tarief."
message = "berekend bedrag is not aantal x tarief"
"""


def _spec(tmp_path: Path, extra: str = "") -> eicodec.MessageSpec:
    shutil.copy(data_dir() / "MZ301v1.3.toml", tmp_path / "MZ301v1.3.toml")
    text = (data_dir() / "MZ301v1.3.rules.toml").read_text(encoding="utf-8")
    (tmp_path / "MZ301v1.3.rules.toml").write_text(text + RULE.format(extra=extra), encoding="utf-8")
    return load_spec(tmp_path / "MZ301v1.3.toml")


def _set(data: bytes, line: int, start: int, text: str) -> bytes:
    lines = data.split(b"\r\n")
    raw = lines[line - 1]
    lines[line - 1] = raw[:start - 1] + text.encode() + raw[start - 1 + len(text):]
    return b"\r\n".join(lines)


def test_product_holds_on_the_example_and_fails_on_a_changed_quantity(tmp_path):
    spec = _spec(tmp_path)
    assert eicodec.validate(VALID, spec=spec).status is eicodec.Status.APPROVED
    bad = _set(VALID, 5, 131, "0002")  # 0425 aantal of the 1st prestatie: 1 -> 2
    rep = eicodec.validate(bad, spec=spec)
    assert [(f.line, f.rubric, f.rule) for f in rep.findings] == [(5, "0426", "record.calculated_amount")]
    # quantity 2 and amount 2 x 1940: fine again
    fixed = _set(bad, 5, 135, "00003880")
    assert eicodec.validate(fixed, spec=spec).status is eicodec.Status.APPROVED


@pytest.mark.parametrize("rounding,amount,ok", [
    ("down", "00000161", True), ("half_up", "00000162", True), ("half_even", "00000162", True),
    ("down", "00000162", False),
])
def test_a_divisor_rounds_as_stated(tmp_path, rounding, amount, ok):
    # 5-minute units x hourly tariff / 12: 1 x 1940 / 12 = 161.67
    spec = _spec(tmp_path, f'divisor = 12\nrounding = "{rounding}"')
    data = _set(VALID, 5, 135, amount)
    found = [f for f in eicodec.validate(data, spec=spec).findings if f.line == 5]
    assert (not found) is ok


@pytest.mark.parametrize("extra,words", [
    ("divisor = 12", "states its rounding"),
    ('divisor = 0\nrounding = "down"', "positive integer"),
    ('rounding = "up"', "rounding must be one of"),
])
def test_a_product_rule_that_does_not_say_enough_is_a_spec_error(tmp_path, extra, words):
    spec = _spec(tmp_path, extra)
    with pytest.raises(SpecError, match=words):
        load_rules(tmp_path / "MZ301v1.3.rules.toml", spec)


def test_a_product_needs_two_factors(tmp_path):
    spec = _spec(tmp_path)
    p = tmp_path / "MZ301v1.3.rules.toml"
    p.write_text(p.read_text(encoding="utf-8").replace('["0426", "0425", "0424"]', '["0426", "0425"]'),
                 encoding="utf-8")
    with pytest.raises(SpecError, match="needs rubrics"):
        load_rules(p, spec)
