"""Issue 12 case 6: masked output hides personal data by what a line really is.

A line whose kenmerk record lies (an 02 relabelled 99 or 03), an unknown record and
reserve fields are masked whole; JSON and JSON Lines mask like CSV unless --unmask.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import eicodec
from eicodec.cli import main
from tests.conftest import EXAMPLES, join, lines_of

FULL = EXAMPLES / "ap304_full.asc"


def personal_values(data: bytes) -> set[str]:
    """The personal values of a valid file, as they could appear in any output: every
    personal field's text (stripped) and value, long enough not to occur by chance."""
    found: set[str] = set()
    for rec in eicodec.iter_records(data):
        if rec.layout is None or len(rec.raw) != rec.layout.length:
            continue
        for f in rec.layout.fields:
            if not f.personal:
                continue
            text = rec.raw[f.slice].strip()
            if f.kind in ("number", "amount"):
                text = text.lstrip("0")  # (a house number: 00012 is in every record id)
            if len(text) >= 5 and text.strip("0") and text != "999999999":
                found.add(text)
                if f.kind == "date":
                    found.add(f"{text[:4]}-{text[4:6]}-{text[6:]}")
    return found


def outputs(capsys, path: Path, *extra: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Every masked view the command line gives of *path*."""
    out = {}
    for fmt in ("csv", "json", "jsonl"):
        assert main(["convert", str(path), "--to", fmt, *extra]) == 0
        out[fmt] = capsys.readouterr().out
    assert main(["convert", str(path), "--to", "csv", "--layout", "fields", *extra]) == 0
    out["csv-fields"] = capsys.readouterr().out
    assert main(["show", str(path), *extra]) == 0
    out["show"] = capsys.readouterr().out
    # the tables of every record type (Arrow; Parquet and the records CSV share its cells)
    for t in ("01", "02", "03", "04", "98", "99"):
        out[f"arrow-{t}"] = str(eicodec.to_arrow(path, t, unmask=bool(extra)).to_pylist())
    return out


def relabel(data: bytes, line: int, kenmerk: bytes) -> bytes:
    lines = lines_of(data)
    lines[line - 1] = kenmerk + lines[line - 1][2:]
    return join(lines)


def test_the_example_holds_the_personal_values_the_tests_look_for() -> None:
    values = personal_values(FULL.read_bytes())
    assert {"123456782", "Vries", "19560314", "1956-03-14", "3511AB", "Oudegracht", "Utrecht",
            "NL91ABNA0417164300", "DEB0001"} <= values  # (DEB0001: the debiteurnummer, 0223/0303)


def test_the_debiteurnummer_is_personal_in_every_shipped_spec() -> None:
    """COD316 is the provider's own number for a person: masked like the patient number."""
    for spec in eicodec.layouts.builtin_specs():
        for lay in spec.records.values():
            for f in lay.fields:
                if f.element == "COD316":
                    assert f.personal, (spec.name, f.rubric)


@pytest.mark.parametrize("kenmerk", [b"99", b"03", b"98", b"01", b"04", b"77"])
def test_a_relabelled_insured_record_shows_no_personal_data(capsys, tmp_path: Path, kenmerk: bytes) -> None:  # type: ignore[no-untyped-def]
    data = FULL.read_bytes()
    path = tmp_path / "x.asc"
    path.write_bytes(relabel(data, 2, kenmerk))
    values = personal_values(data)
    for fmt, text in outputs(capsys, path).items():
        leaked = sorted(v for v in values if v in text)
        assert leaked == [], (fmt, leaked)
    unmasked = outputs(capsys, path, "--unmask")
    assert "123456782" in unmasked["csv"] and "123456782" in unmasked["json"]


def test_a_relabelled_debtor_record_shows_no_address_or_iban(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = FULL.read_bytes()
    line = next(i for i, ln in enumerate(lines_of(data), 1) if ln.startswith(b"03"))
    for kenmerk in (b"02", b"04", b"98", b"99"):
        path = tmp_path / "x.asc"
        path.write_bytes(relabel(data, line, kenmerk))
        for fmt, text in outputs(capsys, path).items():
            assert [v for v in personal_values(data) if v in text] == [], (kenmerk, fmt)


def test_reserve_fields_are_masked_whole(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = FULL.read_bytes()
    lines = lines_of(data)
    i = next(i for i, ln in enumerate(lines) if ln.startswith(b"03"))
    reserve = eicodec.get_spec("AP304").field("03", "0380")
    address = b"Keizersgracht 123 Amsterdam".ljust(reserve.length)
    lines[i] = lines[i][: reserve.start - 1] + address
    path = tmp_path / "x.asc"
    path.write_bytes(join(lines))
    for fmt, text in outputs(capsys, path).items():
        assert "Keizersgracht" not in text, fmt
    assert main(["show", str(path), "--fields", "0380"]) == 0
    assert "Keizersgracht" not in capsys.readouterr().out


def test_json_is_masked_unless_unmask(capsys) -> None:  # type: ignore[no-untyped-def]
    masked = outputs(capsys, FULL)
    assert "123456782" not in masked["json"] and "***" in masked["json"]
    assert "123456782" not in masked["jsonl"] and "***" in masked["jsonl"]
    assert '"service_date": "2024-01-08"' in masked["json"]  # what is not personal stays
    plain = outputs(capsys, FULL, "--unmask")
    assert "123456782" in plain["json"] and "123456782" in plain["jsonl"]


def test_library_masks_on_request_only() -> None:
    doc = eicodec.convert.to_json(FULL)
    assert doc["records"][1]["fields"]["bsn"] == "123456782"
    masked = eicodec.convert.to_json(FULL, mask=True)
    assert masked["records"][1]["fields"]["bsn"] == "***"


def test_messages_and_html_report_hold_no_personal_data(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = relabel(FULL.read_bytes(), 2, b"99")
    path = tmp_path / "x.asc"
    path.write_bytes(data)
    report = eicodec.validate(data, today=dt.date(2024, 3, 1))
    messages = " ".join(f.message for f in report.findings)
    html = tmp_path / "r.html"
    main(["report", str(path), "--html", str(html), "--today", "2024-03-01"])
    main(["validate", str(path), "--format", "json", "--today", "2024-03-01"])
    out = capsys.readouterr()
    for text in (messages, html.read_text(encoding="utf-8"), out.out + out.err):
        assert [v for v in personal_values(FULL.read_bytes()) if v in text] == []


def test_a_relabelled_debtor_record_shows_no_phone_in_any_table(capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 25: tables masked by column showed a 03's phone number in a 04 text column."""
    spec = eicodec.get_spec("AP304")
    lines = lines_of(FULL.read_bytes())
    i = next(i for i, ln in enumerate(lines) if ln.startswith(b"03"))
    line = bytearray(lines[i])
    for rubric, text in (("0322", b"0612345678"), ("0324", b"j.devries@example.nl")):
        f = spec.field("03", rubric)
        line[f.start - 1:f.end] = text.ljust(f.length)
    lines[i] = b"04" + bytes(line[2:])
    path = tmp_path / "x.asc"
    path.write_bytes(join(lines))
    for fmt, text in outputs(capsys, path).items():
        assert "0612345678" not in text and "devries" not in text, fmt
    assert main(["convert", str(path), "--to", "csv", "--record", "04", "--unmask"]) == 0
    assert "0612345678" in capsys.readouterr().out  # (unmasked: the column shows it)
