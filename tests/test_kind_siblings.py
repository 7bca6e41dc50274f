"""Kinds ``previous_sibling`` and ``equal_to_previous``: order and equality among siblings.

The previous sibling of a record is the record of the same level under the same parent
directly before it (comments do not count). Checked on the GZ321 example with small rules
files of their own, for every batch size (a record's previous sibling often lies in the
batch before), on damaged copies, and at load.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import eicodec
from eicodec.errors import SpecError
from tests.conftest import EXAMPLES

SPEC = eicodec.get_spec("GZ321", "1.0")
VALID = EXAMPLES / "gz321_valid.asc"
# the example: 02 at lines 2, 18, 22; 04 at 4 (06 soort 10 at 5, 11 at 6, comment 7, 12 at 8;
# 16 at 9; 17 at 10, 11), 12 (06 02 at 14, 04 at 15), 16 (06 02 at 17), 19 (06 14 at 20,
# 17 at 21), 23 (06 16 at 24)
BATCHES = (1, 2, 3, 5, 7, 4096)


def _rule(rid: str, kind: str, record: str, body: str) -> str:
    return (f'[[rule]]\nid = "{rid}"\nkind = "{kind}"\nlevel = "record"\ncode = "8072"\nrecord = "{record}"\n'
            f'{body}\ndescription = "test"\nmessage = "{rid}"\n')


def _rules(tmp_path: Path, *rules: str) -> Path:
    path = tmp_path / "siblings.rules.toml"
    path.write_text("\n".join(rules), encoding="utf-8")
    return path


def _found(source: Path | bytes, rules: Path, batch_lines: int = 4096) -> dict[str, list[int]]:
    report = eicodec.validate(source, spec=SPEC, rules=rules, batch_lines=batch_lines)
    out: dict[str, list[int]] = {}
    for f in [*report.findings, *report.unassessed]:
        if f.rule.startswith("t.") and f.line:
            out.setdefault(f.rule, []).append(f.line)
    return {k: sorted(v) for k, v in out.items()}


def _same_for_every_batch_size(source: Path | bytes, rules: Path) -> dict[str, list[int]]:
    found = [_found(source, rules, n) for n in BATCHES]
    assert all(f == found[0] for f in found), found
    return found[0]


def _lines() -> list[str]:
    return VALID.read_bytes().decode("utf-8")[:-2].split("\r\n")


def _join(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _put(lines: list[str], line: int, rubric: str, text: str) -> list[str]:
    f = SPEC.records[lines[line - 1][:2]].by_rubric[rubric]
    out = list(lines)
    old = out[line - 1]
    out[line - 1] = old[:f.start - 1] + text + old[f.end:]
    return out


def test_previous_sibling_order(tmp_path: Path) -> None:
    rules = _rules(
        tmp_path,
        # a 06 of soort 11 directly follows one of soort 10 (true); 12 follows 10 (false: 11 is between)
        _rule("t.11_after_10", "previous_sibling", "06",
              'when = [{ rubric = "0610", equals = ["11"] }]\nprevious = { rubric = "0610", equals = ["10"] }'),
        _rule("t.12_after_10", "previous_sibling", "06",
              'when = [{ rubric = "0610", equals = ["12"] }]\nprevious = { rubric = "0610", equals = ["10"] }'),
        # the comment between the soort 11 and 12 records is no sibling
        _rule("t.12_after_11", "previous_sibling", "06",
              'when = [{ rubric = "0610", equals = ["12"] }]\nprevious = { rubric = "0610", equals = ["11"] }'),
        # an OVP fee (02) follows some 06: it is the first under its 04 (lines 14, 17), the
        # 06 of the 04 before does not count
        _rule("t.02_after_06", "previous_sibling", "06", 'when = [{ rubric = "0610", equals = ["02"] }]\n'
              'previous = { record = "06" }'),
        # another type as the previous sibling: a 17 follows a 16
        _rule("t.17_after_16", "previous_sibling", "17", 'previous = { record = "16" }'),
        # top level: an insured follows an insured (the first does not)
        _rule("t.02_after_02", "previous_sibling", "02", 'previous = { record = "02" }'),
    )
    assert _same_for_every_batch_size(VALID, rules) == {
        "t.12_after_10": [8], "t.02_after_06": [14, 17], "t.17_after_16": [11, 21], "t.02_after_02": [2]}


def test_previous_sibling_that_cannot_be_read_is_not_judged(tmp_path: Path) -> None:
    rules = _rules(tmp_path, _rule("t.12_after_10", "previous_sibling", "06",
                                   'when = [{ rubric = "0610", equals = ["12"] }]\n'
                                   'previous = { rubric = "0610", equals = ["10"] }'))
    lines = _lines()
    assert _found(_join(lines), rules) == {"t.12_after_10": [8]}
    lines[5] = lines[5][:-1]  # the soort 11 record (line 6) one character short
    assert _same_for_every_batch_size(_join(lines), rules) == {}


def test_equal_to_previous(tmp_path: Path) -> None:
    rules = _rules(
        tmp_path,
        _rule("t.same_code", "equal_to_previous", "06", 'rubrics = ["0607"]\nprevious = { record = "06" }'),
        # only where the previous sibling passes the test: after the soort 10 record
        _rule("t.start_after_10", "equal_to_previous", "06",
              'rubrics = ["0616"]\nprevious = { record = "06", rubric = "0610", equals = ["10"] }'),
        # another type and rubric: a 17 starts when the 16 before it starts (false at line 10)
        _rule("t.17_like_16", "equal_to_previous", "17",
              'rubrics = ["1713"]\nprevious = { record = "16" }\nprevious_rubric = "1611"'),
    )
    assert _same_for_every_batch_size(VALID, rules) == {"t.start_after_10": [6], "t.17_like_16": [10]}
    damaged = _join(_put(_lines(), 6, "0607", "XXXXXX"))
    # the damaged record differs from the one before it, and the one after it from it
    assert _same_for_every_batch_size(damaged, rules)["t.same_code"] == [6, 8]


@pytest.mark.parametrize(("kind", "record", "body", "message"), [
    ("previous_sibling", "06", 'previous = { record = "02" }', "no sibling"),
    ("previous_sibling", "06", 'previous = { record = "16", rubric = "0610", equals = ["10"] }',
     "not a rubric of record 16"),
    ("previous_sibling", "06", 'previous = "06"', "previous is a table"),
    ("previous_sibling", "06", 'previous = { record = "06", under = "any" }', "previous is a table"),
    ("equal_to_previous", "06", 'rubrics = ["0607", "0612"]\nprevious = { record = "06" }', "one rubric"),
    ("equal_to_previous", "17", 'rubrics = ["1713"]\nprevious = { record = "16" }', "not a rubric of record 16"),
])
def test_nonsense_is_refused_at_load(tmp_path: Path, kind: str, record: str, body: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        eicodec.validate(VALID, spec=SPEC, rules=_rules(tmp_path, _rule("t.bad", kind, record, body)))
