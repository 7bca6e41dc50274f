"""Claims as tables: to_arrow, Parquet, CSV per record, DuckDB (eicodec.tables)."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eicodec
from eicodec import tables
from eicodec.cli import main
from eicodec.errors import DecodeError
from eicodec.testing import declarations, nth_bsn
from tests.conftest import EXAMPLES, ROOT

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

FULL = EXAMPLES / "ap304_full.asc"
TODAY = dt.date(2024, 3, 1)


# --------------------------------------------------------------------------- the reference

def _numpy(kind: str, values: list[Any]) -> np.ndarray:
    if kind == "date":
        return np.array([np.datetime64(v, "D") if v is not None else np.datetime64("NaT", "D") for v in values],
                        dtype="datetime64[D]")
    if kind == "time":
        return np.array([v.hour * 60 + v.minute if v is not None else 0 for v in values],
                        dtype=np.int64).astype("timedelta64[m]")
    if kind in ("number", "amount"):
        return np.array([v if v is not None else 0 for v in values], dtype=np.int64)
    return np.array([v if v is not None else "" for v in values], dtype=str)


def reference_batch_columns(batch: Any, lay: eicodec.RecordLayout, fields: list[Any],
                            *gathered: Any) -> eicodec.ColumnBatch:
    """The engine's batch_columns computed from the batch's text one record at a time with
    Record.get (slow, exact): every line of the record type that has the record length
    (*gathered*, the rows and characters the fast path is handed, are not looked at)."""
    rows = [i for i, text in enumerate(batch.texts) if text[:2] == lay.type and len(text) == lay.length]
    recs = [eicodec.Record(lay, batch.texts[i], int(batch.lines[i])) for i in rows]
    keys = [(f.attr, f.kind) for f in fields] + [(f"{f.attr}_signed", f.kind) for f in fields if f.sign]
    cols, valid = {}, {}
    for key, kind in keys:
        values = []
        for rec in recs:
            try:
                values.append(rec.get(key))
            except DecodeError:
                values.append(None)
        cols[key] = _numpy(kind, values)
        valid[key] = np.array([v is not None for v in values], dtype=bool)
    return eicodec.ColumnBatch(np.array([r.line for r in recs], dtype=np.int64), cols, valid)


def _both(monkeypatch: pytest.MonkeyPatch, make: Any) -> tuple[Any, Any]:
    """*make()* with the engine's columns, then with the reference's."""
    fast = make()
    with monkeypatch.context() as m:
        m.setattr(tables, "_batch_columns", reference_batch_columns)
        slow = make()
    return fast, slow


# --------------------------------------------------------------------------- fixtures

def _declaration(groups: int = 6) -> bytes:
    """A valid-looking AP304 whose claim lines have varied amounts, some credit, and
    two kinds of defects (unknown code list every 3rd line, future service date every
    4th), so that its return file carries several return codes."""
    spec = eicodec.get_spec("AP304")
    decl = eicodec.Declaration.new(
        spec, message_kind="P", uzovi="3311", provider_code="02012345", practice_code="02000123",
        payee_code="03", period_start=dt.date(2024, 1, 1), period_end=dt.date(2024, 1, 31),
        invoice_number="T-1", invoice_date=dt.date(2024, 2, 5), currency="EUR")
    n = 0
    for g in range(groups):
        bsn = nth_bsn(g)  # one verzekerdenrecord per insured (STB §5.2)
        ins = decl.add(spec.new("02", bsn=bsn, uzovi="3311", birth_date=dt.date(1956, 3, 14),
                                gender="2", name_code_1="1", surname_1="Vriesland", initials="J.",
                                name_code_2="0", name_code_3="0", postcode="3511AB", house_number=12,
                                patient_registration="J", deceased="2", patient_number=f"PAT{g:04d}"))
        for _ in range(1 + g % 3):
            n += 1
            amount = (1000 + 137 * n) * (-1 if n % 5 == 0 else 1)
            claim = spec.new("04", bsn=bsn, uzovi="3311", forwarding_allowed="1",
                             birth_date=dt.date(1956, 3, 14), information_record="N",
                             service_date=dt.date(2024, 1, n % 28 + 1), service_code_list_1="001",
                             service_code_1="00000014325911", quantity=n, performer_code="02012345",
                             compounding_indicator="3", wmg_price_system="1", gvs_included="9",
                             tariff=abs(amount), calculated_amount_signed=amount, vat_percentage=900,
                             vat_amount=0, declared_amount_signed=amount, reference=f"R{n:05d}",
                             service_link_number="K1",
                             previous_reference=f"P{n:05d}" if amount < 0 else None)
            if n % 3 == 0:
                claim.service_code_list_1 = "777"
            if n % 4 == 0:
                claim.service_date = dt.date(2024, 5, 1)
            ins.add(claim)
    return eicodec.dumps(decl)


@pytest.fixture(scope="module")
def claims() -> tuple[bytes, bytes]:
    """An AP304 with rejected claim lines and its AP305."""
    data = _declaration()
    report = eicodec.validate(data, today=TODAY)
    assert report.status is eicodec.Status.REJECTED_RECORDS
    return data, eicodec.dumps_retour(data, report, return_date=TODAY)


def _claims_by_insured(source: object) -> list[tuple[eicodec.Record, eicodec.Record]]:
    """(claim record, its insured record), from the tree the reader builds."""
    decl = eicodec.read(source)  # type: ignore[arg-type]
    return [(c.record, g.record) for g in decl.groups for c in g.claims]


# --------------------------------------------------------------------------- columns

def test_columns_are_typed_and_carry_rubric_and_dutch_name() -> None:
    t = eicodec.to_arrow(FULL)
    s = t.schema
    assert s.field("line").type == pa.int64()
    assert s.field("service_date").type == pa.date32()
    assert s.field("service_time").type == pa.time32("ms")
    assert s.field("declared_amount").type == pa.int64()
    assert s.field("declared_amount_signed").type == pa.int64()
    assert s.field("declared_amount_dc").type == pa.string()
    assert s.field("service_code_1").type == pa.string()  # codes stay strings: leading zeros
    meta = s.field("service_date").metadata
    assert meta[b"rubric"] == b"0410" and meta[b"name"] == b"DATUM PRESTATIE"
    assert s.field("declared_amount_signed").metadata[b"signed_by"] == b"0444"
    assert "record_code" not in s.names  # the kenmerk record is the table itself
    assert s.metadata[b"eicodec.record_type"] == b"04"
    recs = [r for r in eicodec.iter_records(FULL) if r.record_type == "04"]
    assert t.column("line").to_pylist() == [r.line for r in recs]
    assert t.column("service_date").to_pylist() == [r.service_date for r in recs]
    assert t.column("service_code_1").to_pylist() == [r.service_code_1 for r in recs]
    assert t.column("reference").to_pylist() == [r.reference for r in recs]


def test_debit_credit_is_applied_in_signed_columns_and_kept_apart(claims: tuple[bytes, bytes]) -> None:
    data, _ = claims
    t = eicodec.to_arrow(data).to_pylist()
    recs = [r for r in eicodec.iter_records(data) if r.record_type == "04"]
    assert any(r.declared_amount_dc == "C" for r in recs)
    for row, rec in zip(t, recs, strict=True):
        assert row["declared_amount"] == rec.declared_amount > 0  # unsigned, as in the file
        assert row["declared_amount_dc"] == rec.declared_amount_dc
        assert row["declared_amount_signed"] == rec.declared_amount_signed
        want = -rec.declared_amount if rec.declared_amount_dc == "C" else rec.declared_amount
        assert row["declared_amount_signed"] == want


def test_claim_lines_carry_their_insured(claims: tuple[bytes, bytes]) -> None:
    data, _ = claims
    t = eicodec.to_arrow(data, unmask=True).to_pylist()
    pairs = _claims_by_insured(data)
    assert len(t) == len(pairs) > 6
    for row, (claim, ins) in zip(t, pairs, strict=True):
        assert row["line"] == claim.line
        assert row["insured_line"] == ins.line
        assert row["insured_record_id"] == ins.record_id
        assert row["insured_patient_number"] == ins.patient_number
        assert row["insured_birth_date"] == ins.birth_date
    assert len({row["insured_patient_number"] for row in t}) == 6


def test_outcome_of_the_ap305_is_joined_per_claim_line(claims: tuple[bytes, bytes]) -> None:
    data, ap305 = claims
    t = eicodec.to_arrow(data, ap305=ap305).to_pylist()
    outs = eicodec.outcome(data, ap305)
    assert [row["line"] for row in t] == [o.line for o in outs]
    for row, o in zip(t, outs, strict=True):
        assert (row["outcome_status"], tuple(row["outcome_codes"]), row["outcome_awarded"]) == (
            o.status, o.codes, o.awarded)
    assert {row["outcome_status"] for row in t} == {"rejected", "not_returned"}
    with pytest.raises(eicodec.EicodecError, match="per claim line"):
        eicodec.to_arrow(data, "02", ap305=ap305)


def _personal_values(source: bytes | Path) -> set[str]:
    """Every personal value of the file, as text (dates also ISO), from iter_records."""
    found: set[str] = set()
    for rec in eicodec.iter_records(source):
        for f in rec.layout.fields if rec.layout else ():
            if f.personal:
                value = rec.get(f.attr)
                if value is not None and len(str(value)) >= 4:
                    found.add(str(value))
    return found


def test_personal_data_is_masked_unless_asked(claims: tuple[bytes, bytes], tmp_path: Path) -> None:
    data, ap305 = claims
    personal = _personal_values(data)
    assert {nth_bsn(0), "Vriesland", "1956-03-14", "PAT0001"} <= personal
    masked = eicodec.to_arrow(data, ap305=ap305)
    cells = {str(v) for col in masked.columns for v in col.to_pylist() if v is not None}
    assert not personal & cells
    for name in ("bsn", "birth_date", "insured_bsn", "insured_surname_1", "insured_patient_number"):
        assert masked.column(name).null_count == masked.num_rows
        assert masked.schema.field(name).metadata[b"masked"] == b"true"
    assert masked.schema.metadata[b"eicodec.masked"] == b"true"
    # The same through the files a user would share
    src = tmp_path / "in.asc"
    src.write_bytes(data)
    assert main(["convert", str(src), "--to", "parquet", "-o", str(tmp_path / "c.parquet")]) == 0
    back = pq.read_table(tmp_path / "c.parquet")
    assert not personal & {str(v) for col in back.columns for v in col.to_pylist() if v is not None}
    assert main(["convert", str(src), "--to", "csv", "-o", str(tmp_path / "c.csv")]) == 0
    text = (tmp_path / "c.csv").read_text(encoding="utf-8")
    assert not [p for p in personal if p in text]
    # ... and shown when asked for
    unmasked = eicodec.to_arrow(data, unmask=True)
    assert set(unmasked.column("bsn").to_pylist()) == {nth_bsn(g) for g in range(6)}
    assert set(unmasked.column("insured_surname_1").to_pylist()) == {"Vriesland"}


# --------------------------------------------------------------------------- any spec

def _gz321(drop_second_claim: bool = False) -> tuple[eicodec.MessageSpec, bytes]:
    spec = eicodec.get_spec("GZ321", "1.0")
    decl = eicodec.Declaration.new(spec, message_kind="P", period_start=dt.date(2024, 1, 1),
                                   period_end=dt.date(2024, 1, 31), invoice_number="G1",
                                   invoice_date=dt.date(2024, 2, 1))
    for i in range(3):
        ins = decl.add(spec.new("02", bsn="123456782"))
        for j in range(2):
            claim = ins.add(spec.new("04", bsn="123456782"))
            for k in range(i + j):
                claim.add(spec.new("06", declared_amount_signed=(-1) ** k * (100 * i + 10 * j + k + 1)))
    data = eicodec.dumps(decl, check=False)  # a sparse draft: what is tested is not its fields
    if drop_second_claim:  # the 06 records of the 2nd insured's first 04 now follow its 02
        lines = data.split(b"\r\n")
        second = [n for n, ln in enumerate(lines) if ln.startswith(b"02")][1]
        assert lines[second + 1].startswith(b"04")
        del lines[second + 1]
        data = b"\r\n".join(lines)
    return spec, data


@pytest.mark.parametrize("broken", [False, True])
def test_gz321_tariff_records_carry_their_claim_and_insured(broken: bool) -> None:
    spec, data = _gz321(drop_second_claim=broken)
    t = eicodec.to_arrow(data, "06", spec=spec)
    assert [n for n in t.schema.names if n.endswith("line")] == ["line", "service_line", "insured_line"]
    assert t.schema.field("service_bsn").metadata[b"rubric"] == b"0403"
    # what the reader's tree says, independently
    decl = eicodec.read(data, spec=spec)
    want = {}
    for g in decl.insured:
        for c in g.services:
            for tariff in c.tariffs:
                want[tariff.record.line] = (c.record.line, g.record.line, tariff.record.declared_amount_signed)
    for rec in decl.unplaced:
        if rec.record_type == "06":
            want[rec.line] = (None, None, rec.declared_amount_signed)
    assert bool(decl.unplaced) == broken
    got = {r["line"]: (r["service_line"], r["insured_line"], r["declared_amount_signed"]) for r in t.to_pylist()}
    assert got == want and len(got) == 9
    assert eicodec.to_arrow(data, spec=spec).schema.metadata[b"eicodec.record_type"] == b"04"
    none = eicodec.to_arrow(data, "16", spec=spec)  # no 16 records: an empty table, typed
    assert none.num_rows == 0 and none.schema.field("service_line").type == pa.int64()


def test_cli_parquet_of_another_standard_and_record_type(tmp_path: Path) -> None:
    spec, data = _gz321()
    (tmp_path / "gz.asc").write_bytes(data)
    out = tmp_path / "tariffs.parquet"
    argv = ["convert", str(tmp_path / "gz.asc"), "--to", "parquet", "-o", str(out), "--record", "06",
            "--spec", str(ROOT / "specs" / "GZ321v1.0.toml")]
    assert main(argv) == 0
    assert pq.read_table(out).equals(eicodec.to_arrow(str(tmp_path / "gz.asc"), "06", spec=spec),
                                     check_metadata=True)
    # an unknown record type is a usage error (exit 2)
    assert main(argv[:-4] + ["--record", "77", "--spec", str(ROOT / "specs" / "GZ321v1.0.toml")]) == 2


def test_claim_type_comes_from_the_grammar() -> None:
    assert tables.claim_type(eicodec.get_spec("AP304")) == "04"
    assert tables.claim_type(eicodec.get_spec("AP305")) == "04"
    assert tables.claim_type(eicodec.get_spec("GZ321", "1.0")) == "04"
    assert [lay.type for lay in tables.ancestors(eicodec.get_spec("GZ321", "1.0"), "17")] == ["04", "02"]


def test_an_ap305_is_a_table_too_and_other_record_types_work() -> None:
    t = eicodec.to_arrow(EXAMPLES / "ap305_claim_rejected.asc")
    assert "return_code_1" in t.schema.names and "insured_line" in t.schema.names
    assert t.schema.metadata[b"eicodec.spec"] == b"AP305 v8.0"
    debtors = eicodec.to_arrow(FULL, "03")
    assert debtors.num_rows == sum(1 for r in eicodec.iter_records(FULL) if r.record_type == "03")
    header = eicodec.to_arrow(FULL, "01")
    assert header.num_rows == 1 and "insured_line" not in header.schema.names
    with pytest.raises(eicodec.EicodecError, match="no record type '77'"):
        eicodec.to_arrow(FULL, "77")


def test_batches_and_sources_do_not_change_the_table(claims: tuple[bytes, bytes], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Batch boundaries (the insured of a claim line in an earlier batch), file objects
    and paths give the same table."""
    data, ap305 = claims
    whole = eicodec.to_arrow(data, ap305=ap305)
    big = _declaration(groups=400)  # ~260 kB: several blocks of the reader
    big_whole = eicodec.to_arrow(big)
    for lines in (1, 150):
        monkeypatch.setattr(tables, "_ENGINE_BATCH_LINES", lines)
        schema, batches = tables.iter_arrow_batches(big)
        got = list(batches)
        assert len(got) > 1
        # some batch starts with a claim line whose insured is in an earlier batch
        assert any(b.column("insured_line")[0].as_py() < prev.column("line")[-1].as_py()
                   for prev, b in itertools.pairwise(got))
        assert pa.Table.from_batches(got, schema=schema).equals(big_whole, check_metadata=True)
    assert big_whole.column("insured_line").to_pylist() == [ins.line for _, ins in _claims_by_insured(big)]
    path = tmp_path / "in.asc"
    path.write_bytes(data)
    from_path = eicodec.to_arrow(path, ap305=ap305)
    assert from_path.column("source").unique().to_pylist() == [str(path)]  # bytes: null
    assert from_path.drop_columns(["source"]).equals(whole.drop_columns(["source"]))
    assert eicodec.to_arrow(io.BytesIO(data), ap305=ap305).equals(whole)
    # text with accents: the same table from UTF-8, cp1252 and str content
    accented = data.replace(b"Vriesland", "Vriesländ".encode())  # 9 characters, 10 bytes
    want = eicodec.to_arrow(accented, unmask=True)
    assert set(want.column("insured_surname_1").to_pylist()) == {"Vriesländ"}
    assert eicodec.to_arrow(accented.decode().encode("cp1252"), unmask=True).equals(want)
    assert eicodec.to_arrow(accented.decode(), unmask=True).equals(want)
    odd = eicodec.to_arrow(data.replace(b"Vriesland", b"Vries\x00and"), unmask=True)  # kept as it is
    assert set(odd.column("insured_surname_1").to_pylist()) == {"Vries\x00and"}


def _broken_full() -> bytes:
    """ap304_full with a claim line whose 0410 is no date and whose 0444 (D/C) is 'X', an
    empty mandatory text, and a short claim line after it."""
    lines = FULL.read_bytes().split(b"\r\n")
    n = next(i for i, ln in enumerate(lines) if ln.startswith(b"04"))
    spec = eicodec.get_spec("AP304")
    line = bytearray(lines[n])
    for rubric, text in (("0410", b"2024X108"), ("0444", b"X"), ("0445", b" " * 20)):
        f = spec.field("04", rubric)
        line[f.start - 1:f.end] = text.ljust(f.length)
    lines[n] = bytes(line)
    lines.insert(n + 1, lines[n][:100])
    return b"\r\n".join(lines)


def test_a_broken_field_is_null_never_a_guess() -> None:
    masked = eicodec.to_arrow(_broken_full()).to_pylist()[0]
    # masked (the default), a line that does not fit its layout shows nothing of its own,
    # as in every masked view (eicodec.masking): its text may be any record's
    assert masked["declared_amount"] is None and masked["authorisation_number"] is None
    assert masked["line"] is not None
    t = eicodec.to_arrow(_broken_full(), unmask=True).to_pylist()
    first = t[0]
    assert first["service_date"] is None and first["reference"] is None
    assert first["declared_amount"] == 1250 and first["declared_amount_dc"] is None
    assert first["declared_amount_signed"] is None  # no D/C, no sign: never taken as debit
    assert first["calculated_amount_signed"] == 1250 and first["insured_line"] == 2
    # the short line is a row, under its insured, with every field null
    short = t[1]
    assert short["line"] == first["line"] + 1 and short["insured_line"] == 2
    assert short["reference"] is None and short["declared_amount_signed"] is None
    assert [row["line"] for row in t] == [r.line for r in eicodec.iter_records(_broken_full())
                                         if r.record_type == "04"]


def test_an_insured_of_the_wrong_length_is_not_replaced_by_the_one_before(claims: tuple[bytes, bytes]) -> None:
    data, _ = claims
    lines = data.split(b"\r\n")
    second = [i for i, ln in enumerate(lines) if ln.startswith(b"02")][1]
    lines[second] = lines[second][:-10]
    broken = b"\r\n".join(lines)
    t = eicodec.to_arrow(broken).to_pylist()
    pairs = _claims_by_insured(broken)  # the reader places it (and reports its length)
    assert [(r["line"], r["insured_line"]) for r in t] == [(c.line, i.line) for c, i in pairs]
    for row in t:
        if row["insured_line"] == second + 1:
            assert row["insured_uzovi"] is None and row["insured_record_id"] is None
        else:
            assert row["insured_uzovi"] == "3311"
    assert any(row["insured_line"] == second + 1 for row in t)


# --------------------------------------------------------------------------- fast == reference

def test_fast_path_equals_the_reference(claims: tuple[bytes, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    data, ap305 = claims
    gz_spec, gz = _gz321(drop_second_claim=True)
    cases = [
        lambda: eicodec.to_arrow(data, ap305=ap305),
        lambda: eicodec.to_arrow(data, unmask=True),
        lambda: eicodec.to_arrow(data.replace(b"Vriesland", "Vriesländ".encode()), unmask=True),
        lambda: eicodec.to_arrow(FULL, "03", unmask=True),
        lambda: eicodec.to_arrow(_broken_full(), unmask=True),
        lambda: eicodec.to_arrow(EXAMPLES / "ap305_claim_rejected.asc", unmask=True),
        lambda: eicodec.to_arrow(gz, "06", spec=gz_spec),
        lambda: eicodec.to_arrow(gz, "04", spec=gz_spec),
    ]
    for make in cases:
        fast, slow = _both(monkeypatch, make)
        assert fast.num_rows > 0 and fast.equals(slow, check_metadata=True)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(decl=declarations(max_insured=3), hits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 319),
                                                                 st.sampled_from("0 9AZC-")), max_size=6),
       cuts=st.lists(st.tuples(st.integers(0, 10**6), st.integers(2, 400)), max_size=2))
def test_fast_path_equals_the_reference_on_any_file(monkeypatch: pytest.MonkeyPatch, decl: eicodec.Declaration,
                                                    hits: list[tuple[int, int, str]],
                                                    cuts: list[tuple[int, int]]) -> None:
    """Valid files, and the same with characters of claim lines overwritten, and claim
    lines cut short or made longer."""
    lines = eicodec.dumps(decl).decode("utf-8").split("\r\n")
    claims = [i for i, ln in enumerate(lines) if ln.startswith("04")]
    for which, pos, char in hits:
        i = claims[which % len(claims)]
        lines[i] = lines[i][:max(pos, 2)] + char + lines[i][max(pos, 2) + 1:]
    for which, length in cuts:
        i = claims[which % len(claims)]
        lines[i] = (lines[i] + "7" * 100)[:length]
    data = "\r\n".join(lines).encode("utf-8")
    fast, slow = _both(monkeypatch, lambda: eicodec.to_arrow(data, unmask=True))
    assert fast.equals(slow), fast.to_pylist()
    assert fast.column("line").to_pylist() == [i + 1 for i in claims]


# --------------------------------------------------------------------------- files out

def test_parquet_round_trip_equals_to_arrow_in_row_groups(claims: tuple[bytes, bytes], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    data, ap305 = claims
    out = tmp_path / "claims.parquet"
    want = eicodec.to_arrow(data, ap305=ap305)
    for lines, group in ((8192, 4), (3, 4), (7, 3), (1, 100)):
        monkeypatch.setattr(tables, "_ENGINE_BATCH_LINES", lines)
        rows = eicodec.to_parquet(data, out, ap305=ap305, row_group_rows=group)
        assert rows == want.num_rows
        meta = pq.ParquetFile(out).metadata
        sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        assert sizes == [group] * (rows // group) + ([rows % group] if rows % group else [])
        assert pq.read_table(out).equals(want, check_metadata=True)
    eicodec.to_parquet(data, out, ap305=ap305, compression="zstd")
    assert pq.ParquetFile(out).metadata.row_group(0).column(0).compression == "ZSTD"
    assert pq.read_table(out).equals(want, check_metadata=True)


def test_parquet_stores_the_tables_schema_as_pyarrow_does(claims: tuple[bytes, bytes], tmp_path: Path) -> None:
    """The file's own columns go to the writer as dictionaries (one value on every row:
    nothing to hash), yet the file is what pyarrow writes of the table: the same
    key-value metadata byte for byte (its ARROW:schema too), the same Parquet schema, and
    read back the same table (strings, not dictionaries) -- by pyarrow and by DuckDB. A
    caller's own store_schema is honoured as pyarrow honours it."""
    data, ap305 = claims
    src = tmp_path / "in.asc"
    src.write_bytes(data)
    ours, theirs = tmp_path / "ours.parquet", tmp_path / "theirs.parquet"
    want = eicodec.to_arrow(src, ap305=ap305)
    eicodec.to_parquet(src, ours, ap305=ap305, row_group_rows=7)
    pq.write_table(want, theirs, row_group_size=7, dictionary_pagesize_limit=tables.DICTIONARY_PAGE_BYTES)
    a, b = pq.ParquetFile(ours), pq.ParquetFile(theirs)
    assert a.metadata.metadata == b.metadata.metadata and b"ARROW:schema" in a.metadata.metadata
    assert a.schema.equals(b.schema) and a.schema_arrow.equals(want.schema, check_metadata=True)
    assert pq.read_table(ours).equals(want, check_metadata=True)
    names = a.schema_arrow.names
    for name in ("source", "header_invoice_number"):
        chunk = a.metadata.row_group(1).column(names.index(name))
        assert "RLE_DICTIONARY" in chunk.encodings or "PLAIN_DICTIONARY" in chunk.encodings
        assert a.schema_arrow.field(name).type == pa.string()
    duckdb = pytest.importorskip("duckdb")
    got = duckdb.sql(f"SELECT DISTINCT source, header_invoice_number FROM read_parquet('{ours}')").fetchall()
    assert got == [(str(src), want.column("header_invoice_number")[0].as_py())]
    for options in ({"use_dictionary": False}, {"write_statistics": True}):  # (dictionaries decoded; min/max of them)
        eicodec.to_parquet(src, ours, ap305=ap305, **options)
        assert pq.read_table(ours).equals(want, check_metadata=True)
        if "use_dictionary" in options:
            assert "PLAIN" in pq.ParquetFile(ours).metadata.row_group(0).column(names.index("source")).encodings
    for stored in (False, True):  # the caller's choice: pyarrow's plain way
        eicodec.to_parquet(src, ours, ap305=ap305, store_schema=stored)
        meta = pq.ParquetFile(ours).metadata.metadata or {}
        assert (b"ARROW:schema" in meta) is stored
        back = pq.read_table(ours)
        assert back.schema.field("source").type == pa.string()
        assert back.select(["line", "source", "header_invoice_number"]).to_pylist() == \
            want.select(["line", "source", "header_invoice_number"]).to_pylist()
        if stored:
            assert back.equals(want, check_metadata=True)


def test_the_writer_thread_holds_one_row_group_while_the_next_is_made() -> None:
    """Row groups are written one behind the one being made, and a written one is let
    go at once: never more than two in memory, however slow the writing."""
    import time
    import weakref

    class Item:
        pass

    alive: weakref.WeakSet[Item] = weakref.WeakSet()
    written: list[int] = []

    def write(item: Item) -> None:
        time.sleep(0.005)  # (a slow disk)
        written.append(id(item))

    with tables._BackgroundWriter(write) as out:
        for k in range(6):
            item = Item()
            alive.add(item)
            out.put(item)
            del item
            assert k <= len(written) <= k + 1 and len(alive) <= 1  # (the one the thread has taken)
    assert len(written) == 6 and not alive and not _writer_threads()


def test_duckdb_rejected_amount_per_return_code(claims: tuple[bytes, bytes], tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    data, ap305 = claims
    (tmp_path / "in.asc").write_bytes(data)
    (tmp_path / "in.ap305").write_bytes(ap305)
    out = tmp_path / "claims.parquet"
    assert main(["convert", str(tmp_path / "in.asc"), "--to", "parquet", "-o", str(out),
                 "--ap305", str(tmp_path / "in.ap305")]) == 0
    got = duckdb.sql(f"""
        SELECT code, count(*) AS lines, sum(declared_amount_signed) AS rejected_cents
        FROM read_parquet('{out}'), unnest(outcome_codes) AS t(code)
        WHERE outcome_status = 'rejected'
        GROUP BY code ORDER BY code""").fetchall()
    # Independently: the claim lines of the AP305 itself, with their codes
    want: dict[str, list[int]] = {}
    for rec in eicodec.iter_records(ap305):
        if rec.record_type == "04":
            for code in (rec.return_code_1, rec.return_code_2, rec.return_code_3):
                if code:
                    want.setdefault(code, []).append(rec.declared_amount_signed)
    assert got == [(code, len(v), sum(v)) for code, v in sorted(want.items())]
    assert {code for code, *_ in got} == {"0581", "8007", "8176"}


def test_cli_csv_is_one_row_per_record_and_fields_layout_is_kept(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(FULL), "--to", "csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    header = out[0].split(",")
    assert header[:3] == ["line", "record_id", "bsn"] and "declared_amount_signed" in header
    assert len(out) - 1 == sum(1 for r in eicodec.iter_records(FULL) if r.record_type == "04")
    first = dict(zip(header, out[1].split(","), strict=True))
    assert first["service_date"] == "2024-01-08" and first["bsn"] == "" and first["insured_line"] == "2"
    assert main(["convert", str(FULL), "--to", "csv", "--record", "02", "--unmask"]) == 0
    assert "123456782" in capsys.readouterr().out
    assert main(["convert", str(FULL), "--to", "csv", "--layout", "fields"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "line,record_type,rubric,name,attr,value"
    assert main(["convert", str(FULL), "--to", "json", "--record", "04"]) == 2
    assert main(["convert", str(FULL), "--to", "parquet"]) == 2  # needs -o


def test_without_pyarrow_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r"pip install eicodec\[arrow\]"):
        eicodec.to_arrow(FULL)
    assert main(["convert", str(FULL), "--to", "parquet", "-o", str(tmp_path / "x.parquet")]) == 2
    assert "eicodec[arrow]" in capsys.readouterr().err
    assert main(["convert", str(FULL), "--to", "csv"]) == 0  # CSV needs no pyarrow


def test_readme_pandas_and_polars_lines_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's pandas/polars block (kept out of the plain README run) runs: pandas and
    polars are test dependencies."""
    pytest.importorskip("pandas")
    pytest.importorskip("polars")
    import re

    from tests.conftest import ROOT

    blocks = re.findall(r"```py\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.DOTALL)
    blocks = [b for b in blocks if "import pandas" in b]  # (the other ```py block is Spark, on paper)
    assert len(blocks) == 1
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    assert len(namespace["df"]) == len(namespace["claims"])  # type: ignore[arg-type]


def test_bench_reports_the_parquet_export(tmp_path: Path) -> None:
    """benchmarks/bench.py's parquet_04 op runs (a tiny file; not timed)."""
    import json
    import subprocess

    from tests.conftest import ROOT

    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--records", "2000",
                          "--ops", "lines,parquet_04", "--keep", str(tmp_path)],
                         capture_output=True, text=True, check=True, timeout=300)
    rows = {r["op"]: r for r in map(json.loads, out.stdout.splitlines()) if "records_per_s" in r}
    claim_lines = sum(1 for r in eicodec.iter_records(tmp_path / "bench_2000.asc") if r.record_type == "04")
    assert rows["parquet_04"]["records"] == claim_lines > 1000 and rows["parquet_04"]["peak_rss_mb"] > 0


# --------------------------------------------------------------------------- Parquet: errors midway

def _late_undecodable() -> bytes:
    """A file that is plain ASCII for more than a megabyte, then has a byte that no
    encoding the reader accepts can decode (a comment line far in)."""
    lines = FULL.read_bytes()[:-2].split(b"\r\n")
    lines = [lines[0], *(lines[1:-1] * 900), lines[-1]]
    far = [i for i, ln in enumerate(lines) if ln.startswith(b"98") and i > 5000]
    lines[far[1]] = lines[far[1]][:-1] + b"\x81"
    return b"".join(ln + b"\r\n" for ln in lines)


def _writer_threads() -> list[Any]:
    import threading

    return [t for t in threading.enumerate() if t.name == "eicodec-writer"]


def test_parquet_input_error_midway_leaves_no_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Row groups already written by the writer thread when the input turns out
    unreadable: the library's error, no file (nor a temporary one), no thread left."""
    src = tmp_path / "late.asc"
    src.write_bytes(_late_undecodable())
    out = tmp_path / "claims.parquet"
    with pytest.raises(eicodec.UnreadableInputError):
        eicodec.to_parquet(src, out, row_group_rows=100)
    assert list(tmp_path.iterdir()) == [src] and not _writer_threads()
    out.write_bytes(b"an older file")  # an existing target is left as it was
    with pytest.raises(eicodec.UnreadableInputError):
        eicodec.to_parquet(src, out, row_group_rows=100)
    assert out.read_bytes() == b"an older file" and sorted(tmp_path.iterdir()) == sorted([src, out])
    out.unlink()
    assert main(["convert", str(src), "--to", "parquet", "-o", str(out)]) == 3
    assert "unreadable input" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [src] and not _writer_threads()


@pytest.mark.parametrize("fail_at", [1, 3])
def test_parquet_write_error_in_the_writer_thread_surfaces(claims: tuple[bytes, bytes], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str], fail_at: int) -> None:
    """A row group that cannot be written (a full disk): the error of the write reaches
    the caller -- the same exception, not lost in the thread nor hanging it -- and no
    file is left; the CLI says so with its exit status for OS errors."""
    data, _ = claims
    calls: list[int] = []
    real = pq.ParquetWriter.write_table

    def failing(self: Any, table: Any, *args: Any, **kw: Any) -> None:
        calls.append(table.num_rows)
        if len(calls) == fail_at:
            raise OSError(28, "No space left on device")
        real(self, table, *args, **kw)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", failing)
    monkeypatch.setattr(tables, "_ENGINE_BATCH_LINES", 3)  # many row groups
    out = tmp_path / "claims.parquet"
    with pytest.raises(OSError, match="No space left") as caught:
        eicodec.to_parquet(data, out, row_group_rows=2)
    assert caught.value.errno == 28
    assert len(calls) >= fail_at and list(tmp_path.iterdir()) == [] and not _writer_threads()
    calls[:] = [0] * (fail_at - 1)  # the CLI's one row group is the call that fails
    (tmp_path / "in.asc").write_bytes(data)
    assert main(["convert", str(tmp_path / "in.asc"), "--to", "parquet", "-o", str(out)]) == 3
    assert "No space left on device" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.asc"] and not _writer_threads()


def test_parquet_error_while_reading_stops_the_writer(claims: tuple[bytes, bytes], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """An error on the reading side while the writer thread holds row groups: that
    error goes on, the thread ends, nothing is left."""
    data, _ = claims
    real = tables._batch_columns
    seen: list[int] = []

    def failing(batch: Any, lay: Any, fields: Any, *rest: Any) -> Any:
        seen.append(1)
        if len(seen) == 7:
            raise eicodec.EicodecError("broken on purpose", line=int(batch.first))
        return real(batch, lay, fields, *rest)

    monkeypatch.setattr(tables, "_batch_columns", failing)
    monkeypatch.setattr(tables, "_ENGINE_BATCH_LINES", 3)
    with pytest.raises(eicodec.EicodecError, match="broken on purpose"):
        eicodec.to_parquet(data, tmp_path / "claims.parquet", row_group_rows=1)
    assert list(tmp_path.iterdir()) == [] and not _writer_threads()


def test_parquet_to_a_file_object_and_row_counts(claims: tuple[bytes, bytes], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller's file object is written (and left open, also after an error); the rows
    are to_arrow's."""
    data, ap305 = claims
    buf = io.BytesIO()
    rows = eicodec.to_parquet(data, buf, ap305=ap305, row_group_rows=5)
    assert not buf.closed and rows == eicodec.to_arrow(data, ap305=ap305).num_rows
    buf.seek(0)
    assert pq.read_table(buf).equals(eicodec.to_arrow(data, ap305=ap305), check_metadata=True)

    def failing(*args: Any) -> Any:
        raise eicodec.EicodecError("broken on purpose")

    monkeypatch.setattr(tables, "_batch_columns", failing)
    other = io.BytesIO()
    with pytest.raises(eicodec.EicodecError, match="broken on purpose"):
        eicodec.to_parquet(data, other)
    assert not other.closed


@pytest.mark.parametrize("mode", ["insurer", "vecozo"])
def test_the_outcome_join_streams_across_batches(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The outcome is joined batch by batch from the same reading (no table of all lines):
    any batch size gives each claim line what eicodec.outcome says of it."""
    big = _declaration(groups=300)
    report = eicodec.validate(big, today=TODAY, mode=mode)
    ap305 = eicodec.dumps_retour(big, report, return_date=TODAY)
    outs = [(o.line, o.status, o.codes, o.awarded) for o in eicodec.outcome(big, ap305)]
    assert {o[1] for o in outs} >= {"rejected"}
    for lines in (1, 7, 4096):
        monkeypatch.setattr(tables, "_ENGINE_BATCH_LINES", lines)
        t = eicodec.to_arrow(big, ap305=ap305).to_pylist()
        assert [(r["line"], r["outcome_status"], tuple(r["outcome_codes"]), r["outcome_awarded"]) for r in t] == outs


def test_an_ap305_with_records_not_in_the_ap304_leaves_no_parquet(claims: tuple[bytes, bytes], tmp_path: Path) -> None:
    data, ap305 = claims
    lines = ap305.split(b"\r\n")
    lines[1] = lines[1][:100] + (b"X" if lines[1][100:101] != b"X" else b"Y") + lines[1][101:]
    out = tmp_path / "claims.parquet"
    with pytest.raises(eicodec.MismatchError, match="not copies"):
        eicodec.to_parquet(data, out, ap305=b"\r\n".join(lines))
    assert list(tmp_path.iterdir()) == []
    other = ap305.replace(b"T-1 ", b"T-2 ", 1)  # the return of another invoice (factuurnummer 0116)
    with pytest.raises(eicodec.MismatchError, match="0116"):
        eicodec.to_parquet(data, out, ap305=other)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- CSV, vectorised == csv module

def _csv_reference(source: Any, **kw: Any) -> str:
    """CSV of the table written cell by cell by the csv module (the way before issue 26)."""
    import csv

    plan, cells = tables.iter_cells(source, **kw)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([c.name for c in plan.columns])
    for batch in cells:
        writer.writerows(zip(*[tables._csv_text(c.type, *batch[c.name]) for c in plan.columns]))
    return buf.getvalue()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(decl=declarations(max_insured=3),
       hits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 359),
                               st.sampled_from(["0", " ", "9", "A", "C", "D", "-", ",", '"', "\x00", "\r",
                                                "é", "€", "x,y", '"q"', "=1", "\t"])), max_size=8),
       cuts=st.lists(st.tuples(st.integers(0, 10**6), st.integers(2, 400)), max_size=2),
       unmask=st.booleans(), small=st.booleans())
def test_csv_rows_equal_the_csv_module_on_any_file(monkeypatch: pytest.MonkeyPatch, decl: eicodec.Declaration,
                                                   hits: list[tuple[int, int, str]], cuts: list[tuple[int, int]],
                                                   unmask: bool, small: bool) -> None:
    """The vectorised CSV (bytes assembled per batch) is the csv module's text exactly:
    quotes, commas, CR, NUL, multi-byte characters, signs, broken dates and short lines in
    insured and claim lines, masked or not, in batches of any size."""
    lines = eicodec.dumps(decl).decode("utf-8").split("\r\n")
    body = [i for i, ln in enumerate(lines) if ln[:2] in ("02", "04")]
    for which, pos, text in hits:
        i = body[which % len(body)]
        lines[i] = lines[i][:max(pos, 2)] + text + lines[i][max(pos, 2) + len(text):]
    for which, length in cuts:
        i = body[which % len(body)]
        lines[i] = (lines[i] + "7" * 100)[:length]
    data = "\r\n".join(lines).encode("utf-8")
    if small:
        monkeypatch.setattr(tables, "_ENGINE_BATCH_LINES", 3)
    got = "".join(tables.iter_csv_rows(data, unmask=unmask))
    assert got == _csv_reference(data, unmask=unmask)


def test_csv_rows_equal_the_csv_module_with_outcomes_and_numbers(claims: tuple[bytes, bytes]) -> None:
    data, ap305 = claims
    for kw in ({"ap305": ap305}, {"unmask": True}, {"record_type": "02", "unmask": True}, {"file_columns": False}):
        got = "".join(tables.iter_csv_rows(data, **kw))  # type: ignore[arg-type]
        assert got == _csv_reference(data, **kw) and got.count("\n") > 5
    # every width and sign of a number, dates at the calendar's ends, times of the day
    n = np.array([0, 7, -7, 10, -10, 99, 100, 2**31 - 1, -(2**31) + 1, 2**31, -(2**40), 10**18, -(2**63)],
                 dtype=np.int64)
    for values, null in ((n, np.zeros(len(n), dtype=bool)), (n, np.arange(len(n)) % 3 == 0)):
        m, odd = tables._csv_cell_bytes("int64", values, null)
        assert odd is None and [bytes(r[r != 0]).decode() for r in m] == tables._csv_text("int64", values, null)
    d = np.array(["0001-01-01", "1970-01-01", "2000-02-29", "2024-12-31", "9999-12-31", "NaT"], dtype="datetime64[D]")
    null = np.isnat(d)
    m, _ = tables._csv_cell_bytes("date", d, null)
    assert [bytes(r[r != 0]).decode() for r in m] == tables._csv_text("date", d, null)
    t = np.array([0, 59, 60, 23 * 60 + 59, 99 * 60 + 59, 100 * 60, -1], dtype=np.int64).astype("timedelta64[m]")
    null = np.zeros(len(t), dtype=bool)
    for nulls in (null, np.arange(len(t)) >= 5):
        m, _ = tables._csv_cell_bytes("time", t, nulls)
        assert [bytes(r[r != 0]).decode() for r in m] == tables._csv_text("time", t, nulls)


def test_csv_quotes_text_as_the_csv_module_does() -> None:
    """A name with a comma, a quote or a NUL is quoted/written exactly as the csv module would."""
    data = _declaration(8)
    surname = eicodec.get_spec("AP304").field("02", "0210")
    lines = data.split(b"\r\n")
    for k, i in enumerate(i for i, ln in enumerate(lines) if ln.startswith(b"02")):
        text = lines[i].decode()
        name = ['de Vries, J.', 'O"Brien', "A\x00B", "Ünal"][k % 4].ljust(surname.length)
        lines[i] = (text[:surname.start - 1] + name + text[surname.end:]).encode()
    data = b"\r\n".join(lines)
    got = "".join(tables.iter_csv_rows(data, unmask=True))
    assert '"de Vries, J."' in got and '"O""Brien"' in got and "Ünal" in got
    assert got == _csv_reference(data, unmask=True)


def test_csv_rows_beginning_with_given_bytes_go_through_the_csv_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook for neutralising CSV for spreadsheets: a text cell that begins with one of
    the bytes given sends its row to the cell-by-cell path (here marked by a stand-in)."""
    import csv

    data = _declaration(3)
    plan, cells = tables.iter_cells(data, unmask=True)
    batch = next(cells)
    seen: list[int] = []
    original = tables._csv_text

    def marked(kind: str, values: Any, null: np.ndarray, safe: bool = True) -> list[str]:
        seen.append(len(null))
        return original(kind, values, null, safe)

    monkeypatch.setattr(tables, "_csv_text", marked)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    plain = tables._csv_batch(plan, batch, writer, buf)
    assert not seen
    # every claim line's reference begins with R: every row goes the csv module's way
    assert tables._csv_batch(plan, batch, writer, buf, neutralise=b"R") == plain
    assert set(seen) == {len(batch["line"][1])}
