"""Specs load, are checked when they load, and drive everything (AP304, AP305, GZ321)."""

from __future__ import annotations

import datetime as dt
import importlib.resources
from pathlib import Path

import pytest

import eicodec
from eicodec.layouts import data_dir
from tests.conftest import EXAMPLES


def test_ap304_layouts_cover_every_position_of_360() -> None:
    spec = eicodec.get_spec("AP304", "8.0")
    assert spec.record_length == 360
    counts = {t: len(lay.fields) for t, lay in spec.records.items()}
    assert counts == {"01": 20, "02": 25, "03": 31, "04": 47, "98": 5, "99": 9}
    for lay in spec.records.values():
        covered = [p for f in lay.fields for p in range(f.start, f.end + 1)]
        assert covered == list(range(1, 361)), lay.type


def test_ap305_layouts_cover_420_and_mark_the_provisional_tail() -> None:
    spec = eicodec.get_spec("AP305")
    assert spec.record_length == 420 and spec.message_code == "194"
    for lay in spec.records.values():
        assert sum(f.length for f in lay.fields) == 420
    claim = spec.layout("04")
    tail = [f for f in claim.fields if f.start > 360]
    assert tail and all(f.provisional for f in tail)
    assert not any(f.provisional for f in claim.fields if f.start <= 360)


def test_every_field_reachable_by_rubric_and_snake_case_name() -> None:
    spec = eicodec.get_spec("AP304")
    for lay in spec.records.values():
        for f in lay.fields:
            assert lay.field(f.rubric) is f and lay.field(f.attr) is f
            assert f.attr.isidentifier() and f.attr == f.attr.lower()


def test_debit_credit_indicators_are_separate_fields() -> None:
    spec = eicodec.get_spec("AP304")
    amount, dc = spec.field("04", "0443"), spec.field("04", "0444")
    assert (amount.length, amount.kind, amount.sign) == (8, "amount", "0444")
    assert (dc.start, dc.length, dc.kind) == (307, 1, "dc")
    assert spec.field("99", "9908").kind == "dc"


def test_specs_ship_inside_the_package() -> None:
    # Installed (as CI does): the specs sit inside the eicodec package.
    packaged = importlib.resources.files("eicodec") / "specs"
    if packaged.is_dir():
        assert Path(str(packaged)) == data_dir()
    assert (data_dir() / "AP304v8.0.toml").is_file()
    assert (data_dir() / "codelists" / "COD954.csv").is_file()


def _spec_text() -> str:
    return (data_dir() / "AP304v8.0.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        # a gap: 0403 one position later
        (('rubric = "0403", element = "NUM313", name = "BURGERSERVICENUMMER (BSN) VERZEKERDE", '
         'attr = "bsn", type = "N", start = 15'),
         ('rubric = "0403", element = "NUM313", name = "BURGERSERVICENUMMER (BSN) VERZEKERDE", '
         'attr = "bsn", type = "N", start = 16'), "gap"),
        # an overlap
        (('rubric = "0403", element = "NUM313", name = "BURGERSERVICENUMMER (BSN) VERZEKERDE", '
         'attr = "bsn", type = "N", start = 15'),
         ('rubric = "0403", element = "NUM313", name = "BURGERSERVICENUMMER (BSN) VERZEKERDE", '
         'attr = "bsn", type = "N", start = 14'), "overlap"),
        ('attr = "uzovi", type = "N", start = 24', 'attr = "uzovi", type = "X", start = 24', "unknown type"),
        ('attr = "insured_number"', 'attr = "bsn"', "duplicate attr"),
        ('rubric = "0480"', 'rubric = "0446"', "duplicate rubric"),
        ('kind = "date" }', 'kind = "datum" }', "unknown kind"),
    ],
)
def test_broken_spec_fails_loudly_naming_file_and_field(tmp_path: Path, old: str, new: str, needle: str) -> None:
    text = _spec_text()
    assert old in text
    bad = tmp_path / "broken.toml"
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(eicodec.SpecError) as info:
        eicodec.load_spec(bad)
    msg = str(info.value)
    assert "broken.toml" in msg and needle in msg
    assert info.value.rubric is not None or info.value.record_type is not None


def test_layout_that_covers_359_of_360_is_refused(tmp_path: Path) -> None:
    text = _spec_text().replace('start = 348, length = 13', 'start = 348, length = 12', 1)
    bad = tmp_path / "short.toml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(eicodec.SpecError, match=r"cover 1\.\.359"):
        eicodec.load_spec(bad)


def test_corrected_ap305_spec_changes_parsing_without_code_changes(tmp_path: Path) -> None:
    """Callers can swap the provisional AP305 positions for corrected ones."""
    text = (data_dir() / "AP305v8.0.toml").read_text(encoding="utf-8")
    # Suppose the official BER says 0483-0485 do not exist: 0486 follows 0482 directly.
    lines = [ln for ln in text.splitlines() if 'rubric = "0483"' not in ln
             and 'rubric = "0484"' not in ln and 'rubric = "0485"' not in ln]
    text = "\n".join(lines)
    for _rub, old, new in (("0486", 387, 370), ("0487", 395, 378), ("0488", 403, 386),
                          ("0496", 404, 387), ("0497", 408, 391), ("0498", 412, 395)):
        text = text.replace(f"start = {old}, length", f"start = {new}, length", 1)
    text = text.replace("start = 416, length = 5", "start = 399, length = 22", 1)
    corrected = tmp_path / "AP305v8.0-corrected.toml"
    corrected.write_text(text, encoding="utf-8")
    spec = eicodec.load_spec(corrected)
    assert spec.field("04", "0496").start == 387

    data = (EXAMPLES / "ap305_claim_rejected.asc").read_bytes()
    builtin = eicodec.read(data)
    custom = eicodec.read(data, spec=spec)
    claim_builtin = builtin.groups[0].claims[0].record
    claim_custom = custom.groups[0].claims[0].record
    assert claim_builtin.return_code_1 == "0581"
    assert claim_custom.raw == claim_builtin.raw  # same bytes ...
    assert claim_custom.raw_value("0496") != claim_builtin.raw_value("0496")  # ... read differently


def test_a_new_standard_is_a_new_spec_file() -> None:
    """GZ321 (310 long, 06/16/17 under 04) works with the same engine, as data only."""
    spec = eicodec.get_spec("GZ321", "1.0")
    assert spec.record_length == 310
    assert spec.children_of("04") == ("06", "16", "17")
    decl = eicodec.Declaration.new(spec, message_kind="P", period_start=dt.date(2024, 1, 1),
                                   period_end=dt.date(2024, 1, 31), invoice_number="G1",
                                   invoice_date=dt.date(2024, 2, 1))
    ins = decl.add(spec.new("02", bsn="123456782"))
    claim = ins.add(spec.new("04", bsn="123456782"))
    claim.add(spec.new("06", declared_amount_signed=-500))
    claim.add(spec.new("06", declared_amount_signed=1500))
    claim.add(spec.new("17"))
    data = eicodec.dumps(decl, check=False)  # a sparse draft: what is tested is not its fields
    lines = data.split(b"\r\n")
    assert all(len(line) == 310 for line in lines[:-1]) and lines[-1] == b""
    back = eicodec.read(data, spec=spec)
    assert not back.problems
    assert [c.record.record_type for c in back.insured[0].services[0].children] == ["06", "06", "17"]
    assert back.trailer is not None
    assert back.trailer.total_amount == 1000 and back.trailer.total_amount_dc == "D"
    assert back.trailer.tariff_count == 2 and back.trailer.detail_count == 5
    assert back.trailer.get("9910") == 1000  # every field by rubric too
    assert eicodec.dumps(back) == data
