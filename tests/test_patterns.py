"""The pattern building blocks of the validator's fast path match exactly what they say."""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eicodec import patterns


def _is_date(text: str) -> bool:
    try:
        dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return False
    return True


DATE = re.compile(patterns.CALENDAR_DATE)
DATE_OR_ZEROS = re.compile(patterns.DATE_OR_ZEROS)
EDGE_YEARS = [0, 1, 4, 100, 400, 1600, 1700, 1800, 1900, 2000, 2023, 2024, 2100, 2400, 9996, 9999]


@pytest.mark.parametrize("year", EDGE_YEARS)
def test_calendar_date_agrees_with_datetime_on_every_day_of_edge_years(year: int) -> None:
    for month in range(0, 14):
        for day in range(0, 33):
            text = f"{year:04d}{month:02d}{day:02d}"
            assert bool(DATE.fullmatch(text)) == _is_date(text), text
            assert bool(DATE_OR_ZEROS.fullmatch(text)) == (_is_date(text) or text == "00000000"), text


@given(st.text(alphabet="0123456789", min_size=8, max_size=8))
def test_calendar_date_agrees_with_datetime(text: str) -> None:
    assert bool(DATE.fullmatch(text)) == _is_date(text)


@given(st.sets(st.text(alphabet="01289AZ -", min_size=3, max_size=3), max_size=40),
       st.text(alphabet="01289AZ -", min_size=3, max_size=3))
def test_one_of_matches_exactly_its_words(words: set[str], probe: str) -> None:
    pattern = re.compile(patterns.one_of(words))
    for w in words:
        assert pattern.fullmatch(w)
    assert bool(pattern.fullmatch(probe)) == (probe in words)


def test_one_of_is_a_trie() -> None:
    assert patterns.one_of(f"{i:03d}" for i in range(1, 81)) == "0(?:0[1-9]|[1-7][0-9]|80)"
    assert patterns.one_of([]) == patterns.NEVER
    with pytest.raises(ValueError):
        patterns.one_of(["1", "22"])


@given(st.text(alphabet="0123456789", min_size=1, max_size=8).flatmap(
    lambda limit: st.tuples(st.just(limit), st.text(alphabet="0123456789", min_size=len(limit),
                                                      max_size=len(limit)))))
def test_not_after_is_less_or_equal(pair: tuple[str, str]) -> None:
    limit, probe = pair
    assert bool(re.fullmatch(patterns.not_after(limit), probe)) == (probe <= limit)
    assert re.fullmatch(patterns.not_after(limit), limit)


# ------------------------------------------------------------- field patterns vs field checks

def _all_fields() -> list[tuple[str, str, str]]:
    import eicodec

    return [(name, t, f.rubric) for name in ("AP304", "AP305")
            for t, lay in eicodec.get_spec(name).records.items() for f in lay.fields]


@functools.lru_cache(maxsize=None)
def _checker(spec_name: str) -> Any:
    import eicodec
    from eicodec.rules import rules_for
    from eicodec.validator import _Checker

    return _Checker(eicodec.get_spec(spec_name), rules_for(eicodec.get_spec("AP304")), "insurer", False,
                    dt.date(2024, 6, 1))


@pytest.mark.parametrize("spec_name,record_type,rubric", _all_fields())
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_each_field_pattern_passes_exactly_what_the_field_check_passes(
        spec_name: str, record_type: str, rubric: str, data: st.DataObject) -> None:
    """The compiled fast path is only as good as each field's pattern: it must accept a
    field's text exactly when the one-by-one check finds nothing wrong with it."""
    from eicodec.validator import _field_pattern

    checker = _checker(spec_name)
    plan = next(p for p in checker.plans[record_type] if p.f.rubric == rubric)
    f, n = plan.f, plan.f.length
    known = sorted(plan.allowed or ()) + ([f.fixed] if f.fixed else [])
    text = data.draw(st.one_of(
        st.sampled_from(["0" * n, " " * n, "9" * n, ("20240229" * n)[:n], ("20230229" * n)[:n],
                         ("00000101" * n)[:n], ("2359" * n)[:n], ("2460" * n)[:n]]),
        st.text(alphabet="0123456789", min_size=n, max_size=n),
        st.text(alphabet="0 1DCAZé\t-", min_size=n, max_size=n),
        *([st.sampled_from(known).map(lambda v: v.ljust(n)[:n]),
           st.sampled_from(known).map(lambda v: v.rjust(n, "0")[:n])] if known else [])))
    ok = re.fullmatch(_field_pattern(f, plan.allowed), text) is not None
    assert ok == (checker._field_problem(f, text, plan.allowed) is None), (text, f.kind, f.type)
