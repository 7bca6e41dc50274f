"""Kind ``child_sum``: a field of a record against the sum (or count) of the records under it.

The record comes before its children, which may lie in later batches: the rule is decided
once the record is closed (:class:`eicodec.subtree.ChildSums`). Checked on the GZ321
example with small rules files of their own, for every batch size, on damaged copies, with
a child that cannot be read, and at load; the shipped GZ321 rules (0433, 0435-0437) on
the example and its fixtures are in tests/test_gz321.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import eicodec
from eicodec.errors import SpecError
from tests.conftest import EXAMPLES
from tests.test_kind_siblings import BATCHES, _found, _join, _lines, _put, _rules, _same_for_every_batch_size

SPEC = eicodec.get_spec("GZ321", "1.0")
VALID = EXAMPLES / "gz321_valid.asc"


def _rule(rid: str, record: str, body: str) -> str:
    return (f'[[rule]]\nid = "{rid}"\nkind = "child_sum"\nlevel = "record"\ncode = "8072"\nrecord = "{record}"\n'
            f'{body}\ndescription = "test"\nmessage = "{rid}"\n')


SUM_0433 = _rule("t.sum", "04", 'rubrics = ["0433"]\nchild = "16"\nsum = ["1614"]')


def test_sum_count_and_depth(tmp_path: Path) -> None:
    rules = _rules(
        tmp_path, SUM_0433,
        # the 04s' direct and indirect minutes are their 17s' (the 04s without 17 state 0)
        _rule("t.time", "04", 'rubrics = ["0435"]\nchild = "17"\nsum = ["1716", "1717"]'),
        # count: prestatievolgnummer (01) against the number of 06 records (3 and 2 at 4 and 12)
        _rule("t.count", "04", 'rubrics = ["0413"]\nchild = "06"\ncount = true'),
        # any depth: an insured's house number (12, 7, 3) at least its 06s' quantities (11, 1, 31)
        _rule("t.any_depth", "02", 'rubrics = ["0219"]\nchild = "06"\nsum = ["0618"]\ndepth = "any"\nop = ">="'),
    )
    assert _same_for_every_batch_size(VALID, rules) == {"t.count": [4, 12], "t.any_depth": [22]}
    wrong = _join(_put(_lines(), 4, "0433", "000002"))  # 2, while its 16 says 20
    assert _same_for_every_batch_size(wrong, rules)["t.sum"] == [4]
    more = _put(_lines(), 11, "1717", "000031")  # a 17's indirect minutes one more
    assert _same_for_every_batch_size(_join(more), rules)["t.time"] == [4]


def test_a_child_that_cannot_be_read_leaves_its_parent_unjudged(tmp_path: Path) -> None:
    rules = _rules(tmp_path, SUM_0433)
    lines = _put(_lines(), 4, "0433", "000002")
    assert _found(_join(lines), rules) == {"t.sum": [4]}
    letter = _put(lines, 9, "1614", "0000X0")
    short = list(lines)
    short[8] = short[8][:-1]
    for damaged in (letter, short):
        for n in BATCHES:
            assert _found(_join(damaged), rules, n) == {}, n


def test_shipped_gz321_sums(tmp_path: Path) -> None:
    """The example keeps its verdict; 0433 is the 16s' sum for a DBC only (an OVP with a
    16 and 0433 = 0 is left to the 0432 rules); 0435-0437 at least the 17s' minutes."""
    assert eicodec.validate(VALID, spec=SPEC).status is eicodec.Status.APPROVED
    lines = _lines()
    for line, rubric, text, rule in [
            (4, "0433", "000021", "record.activity_time_units_sum"),
            (4, "0435", "000179", "record.time_units_total_covers_time_spent"),
            (4, "0436", "000119", "record.time_units_direct_covers_time_spent"),
            (19, "0437", "000059", "record.time_units_indirect_covers_time_spent")]:
        report = eicodec.validate(_join(_put(lines, line, rubric, text)), spec=SPEC, batch_lines=3)
        assert {(f.rule, f.line, f.rubric) for f in report.findings} == {(rule, line, rubric)}, rubric
    # more time at the 04 than its 17s hold is allowed (time no practitioner's record holds)
    more = _put(_put(lines, 4, "0435", "000200"), 4, "0436", "000140")
    assert eicodec.validate(_join(more), spec=SPEC).status is eicodec.Status.APPROVED


@pytest.mark.parametrize(("record", "body", "message"), [
    ("04", 'rubrics = ["0433"]\nsum = ["1614"]', "names the record type"),
    ("04", 'rubrics = ["0433"]\nchild = "16"', "either sum"),
    ("04", 'rubrics = ["0433"]\nchild = "16"\nsum = ["1614"]\ncount = true', "either sum"),
    ("04", 'rubrics = ["0433"]\nchild = "16"\nsum = ["1614"]\ndepth = "deep"', "depth must be"),
    ("04", 'rubrics = ["0433"]\nchild = "16"\nsum = ["1614"]\nop = "=~"', "op must be"),
    ("04", 'rubrics = ["0433", "0435"]\nchild = "16"\nsum = ["1614"]', "one rubric"),
    ("04", 'rubrics = ["0433"]\nchild = "16"\nsum = ["1614"]\nat = "02"', "no 'at'"),
    ("02", 'rubrics = ["0219"]\nchild = "06"\nsum = ["0618"]', "not a child of record 02"),
    ("04", 'rubrics = ["0433"]\nchild = "02"\nsum = ["0219"]', "not a child"),
    ("04", 'rubrics = ["0433"]\nchild = "16"\nsum = ["1716"]', "not a rubric of record 16"),
    ("04", 'rubrics = ["0409"]\nchild = "16"\nsum = ["1614"]', "not a numeric field"),
])
def test_nonsense_is_refused_at_load(tmp_path: Path, record: str, body: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        eicodec.validate(VALID, spec=SPEC, rules=_rules(tmp_path, _rule("t.bad", record, body)))
