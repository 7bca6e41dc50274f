"""Conditions on the records under a rule's record (``when = [{ under = ... }]``).

Checked on the GZ321 example (02 -> 04 -> 06/16/17) with small rules files of their own:
what the condition means, that it does not depend on where batches end (a 04's 06
records may lie in the next batch), what happens when a record under it cannot be read,
and what is refused at load.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import eicodec
from eicodec.errors import SpecError
from tests.conftest import EXAMPLES

SPEC = eicodec.get_spec("GZ321", "1.0")
VALID = EXAMPLES / "gz321_valid.asc"
# the example: 02 at lines 2, 18, 22; 04 at 4 (DBC: 06 soort 10/11/12, a 16, two 17),
# 12 (OVP: 06 02/04), 16 (credit OVP: 06 02), 19 (Basis GGZ: 06 14, a 17), 23 (ZZP: 06 16)
BATCHES = (1, 2, 3, 5, 7, 4096)


def _rules(tmp_path: Path, *rules: str) -> Path:
    path = tmp_path / "under.rules.toml"
    path.write_text("\n".join(rules), encoding="utf-8")
    return path


def _rule(rid: str, record: str, when: str, kind: str = "record_absent", extra: str = "") -> str:
    return (f'[[rule]]\nid = "{rid}"\nkind = "{kind}"\nlevel = "record"\ncode = "8072"\nrecord = "{record}"\n'
            f'{extra}when = [{when}]\ndescription = "test"\nmessage = "{rid}"\n')


def _lines(report: eicodec.Report, rule: str) -> list[int]:
    return sorted(f.line for f in [*report.findings, *report.unassessed] if f.rule == rule and f.line)


def _run(source: Path | bytes, rules: Path, batch_lines: int = 4096) -> eicodec.Report:
    return eicodec.validate(source, spec=SPEC, rules=rules, batch_lines=batch_lines)


def test_any_and_none_at_any_depth_whatever_the_batch_size(tmp_path: Path) -> None:
    rules = _rules(
        tmp_path,
        _rule("t.basis_insured", "02", '{ under = "any", record = "06", rubric = "0610", equals = ["14"] }'),
        _rule("t.no_activity", "04", '{ under = "none", record = "16" }'),
        _rule("t.with_time", "04", '{ under = "any", record = "17" }'),
        _rule("t.no_ovp_fee", "04", '{ under = "none", record = "06", rubric = "0610", equals = ["04"] }'),
        _rule("t.both", "04", '{ rubric = "0408", equals = ["050"] }, { under = "any", record = "17" }'),
        _rule("t.at_insured", "04", '{ under = "any", record = "16" }', extra='at = "02"\n'),
    )
    want = {"t.basis_insured": [18], "t.no_activity": [12, 16, 19, 23], "t.with_time": [4, 19],
            "t.no_ovp_fee": [4, 16, 19, 23], "t.both": [4], "t.at_insured": [2]}
    first = None
    for n in BATCHES:
        report = _run(VALID, rules, n)
        assert {r: _lines(report, r) for r in want} == want, n
        verdicts = {line: (o.verdict, o.codes) for line, o in report.outcomes.items()}
        first = verdicts if first is None else first
        assert verdicts == first, n  # a deferred finding rejects its unit as any other


def test_a_failing_rule_check_is_needed_too(tmp_path: Path) -> None:
    """The condition only selects: `required` fails where 0426 is empty and the 04 has a
    06 of soort 14 -- in the example it is filled, so nothing; blanked, found."""
    rules = _rules(tmp_path, _rule("t.req", "04", '{ under = "any", record = "06", rubric = "0610", equals = ["14"] }',
                                   kind="required", extra='rubrics = ["0426"]\n'))
    assert _lines(_run(VALID, rules), "t.req") == []
    lines = VALID.read_bytes().split(b"\r\n")
    lines[18] = lines[18][:182] + b" " * 6 + lines[18][188:]
    for n in BATCHES:
        assert _lines(_run(b"\r\n".join(lines), rules, n), "t.req") == [19], n


def test_a_record_under_it_that_cannot_be_read(tmp_path: Path) -> None:
    """A 06 one position short is not read: where no readable 06 passes, the rule is not
    judged on its 04 (nothing found); where a readable one passes, it still decides."""
    rules = _rules(
        tmp_path,
        _rule("t.none14", "04", '{ under = "none", record = "06", rubric = "0610", equals = ["14"] }'),
        _rule("t.any10", "04", '{ under = "any", record = "06", rubric = "0610", equals = ["10"] }'),
    )
    lines = VALID.read_bytes().split(b"\r\n")
    assert lines[19][61:63] == b"14" and lines[5][61:63] == b"11"
    lines[19] = lines[19][:-1]  # the Basis GGZ 04's only 06
    lines[5] = lines[5][:-1]  # the DBC 04's second 06 (its first, soort 10, is readable)
    for n in BATCHES:
        report = _run(b"\r\n".join(lines), rules, n)
        # 19 and 4 (its broken 06 might have been a 14) are not judged
        assert _lines(report, "t.none14") == [12, 16, 23], n
        assert _lines(report, "t.any10") == [4], n


@pytest.mark.parametrize(("record", "when", "message"), [
    ("04", '{ under = "some", record = "06" }', "under must be one of"),
    ("04", '{ under = "any" }', "names the record type"),
    ("04", '{ under = "any", record = "02" }', "does not hang under record 04"),
    ("06", '{ under = "any", record = "04" }', "does not hang under record 06"),
    ("04", '{ under = "any", record = "04" }', "does not hang under record 04"),
    ("04", '{ under = "any", record = "98" }', "does not hang under record 04"),
    ("04", '{ under = "any", record = "99" }', "does not hang under record 04"),
    ("04", '{ under = "any", record = "55" }', "unknown record type '55'"),
    ("04", '{ under = "any", record = "06", rubric = "0408" }', "is not a rubric of record 06"),
    ("04", '{ under = "any", record = "06", equals = ["14"] }', "test its 'rubric'"),
    ("04", '{ under = "any", record = "06", rubric = "0610", filled = "yes" }', "true or false"),
    ("04", '{ record = "06" }', "a condition needs"),
])
def test_nonsense_is_refused_at_load(tmp_path: Path, record: str, when: str, message: str) -> None:
    rules = _rules(tmp_path, _rule("t.bad", record, when))
    with pytest.raises(SpecError, match=message):
        _run(VALID, rules)


def test_kinds_that_look_across_the_file_take_no_under_condition(tmp_path: Path) -> None:
    rules = _rules(tmp_path, _rule("t.bad", "04", '{ under = "any", record = "06" }', kind="unique",
                                   extra='rubrics = ["0440"]\n'))
    with pytest.raises(SpecError, match="kind unique cannot have"):
        _run(VALID, rules)


def test_rules_that_ask_the_same_share_what_is_seen(tmp_path: Path) -> None:
    """Rules on the same record type with the same condition (``any`` and ``none`` alike)
    share the records seen under theirs (issue 26): each finds, beside the others, what
    it finds alone, whatever the batch size."""
    same = '{ under = "%s", record = "06", rubric = "0610", equals = ["10", "11", "12"] }'
    rules = [_rule("t.any_a", "04", same % "any"), _rule("t.any_b", "04", same % "any"),
             _rule("t.none", "04", same % "none"), _rule("t.other", "04", '{ under = "any", record = "17" }')]
    alone = {}
    for i, text in enumerate(rules):
        report = _run(VALID, _rules(tmp_path, text))
        alone[f"r{i}"] = _lines(report, text.split('"')[1])
    assert alone["r0"] == alone["r1"] == [4] and alone["r2"] == [12, 16, 19, 23]
    together = _rules(tmp_path, *rules)
    for n in BATCHES:
        report = _run(VALID, together, n)
        got = [_lines(report, text.split('"')[1]) for text in rules]
        assert got == [alone[f"r{i}"] for i in range(len(rules))], n


def test_sorted_helpers_agree_with_numpy() -> None:
    """``_union``, ``kinds.member`` (which the conditions use) and ``_sums_by`` (sorted
    lines, no sort where they come in order) give what ``np.union1d``, ``np.isin`` and
    ``np.unique`` with ``np.add.at`` give, in order or not."""
    import numpy as np

    from eicodec.kinds import member
    from eicodec.subtree import _sums_by, _union

    rng = np.random.default_rng(26)
    for _ in range(500):
        old = np.unique(rng.integers(0, 60, rng.integers(0, 6)))
        new = rng.integers(0, 80, rng.integers(0, 12))
        if rng.random() < 0.6:
            new = np.sort(new) + (old[-1] + rng.integers(-2, 3) if len(old) else 0)
        got = _union(old, new)
        assert got.tolist() == np.union1d(old, new).tolist() and got.dtype == np.int64
        assert member(new, old).tolist() == np.isin(new, old).tolist()
        values = rng.integers(-5, 50, len(new))
        keys, sums = _sums_by(new, values)
        want_keys, inv = np.unique(new, return_inverse=True)
        want = np.zeros(len(want_keys), np.int64)
        np.add.at(want, inv.reshape(-1), values)
        assert keys.tolist() == want_keys.tolist() and sums.tolist() == want.tolist()
