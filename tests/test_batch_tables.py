"""Issue 24 item 4: claim tables carry their file, so many files' exports stack."""

from __future__ import annotations

from pathlib import Path

import pytest

import eicodec
from tests.conftest import EXAMPLES
from tests.test_tables import _gz321

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

FILE_COLUMNS = ["source", "header_message_code", "header_message_kind", "header_provider_code",
                "header_practice_code", "header_period_start", "header_period_end", "header_invoice_number"]


def test_every_row_carries_its_file_and_tables_stack(tmp_path: Path) -> None:
    files = [EXAMPLES / "ap304_full.asc", EXAMPLES / "ap304_claim_rejected.asc"]
    tables = [eicodec.to_arrow(f) for f in files]
    stacked = pa.concat_tables(tables)
    assert set(FILE_COLUMNS) <= set(stacked.column_names)
    for f, t in zip(files, tables):
        header = eicodec.read(f).header
        rows = t.select(FILE_COLUMNS).to_pylist()
        assert len(rows) == t.num_rows > 0
        assert all(r == rows[0] for r in rows)  # the same on every row
        assert rows[0]["source"] == str(f)
        assert rows[0]["header_invoice_number"] == header.invoice_number
        assert rows[0]["header_provider_code"] == header.provider_code
        assert rows[0]["header_practice_code"] == header.practice_code
        assert rows[0]["header_period_start"] == header.period_start
        assert rows[0]["header_message_code"] == "193"
    # the columns' metadata says where they come from (the spec's header fields)
    assert stacked.schema.field("header_invoice_number").metadata[b"rubric"] == b"0116"
    # Parquet exports of many files stack without the reader's help (DuckDB's filename=true)
    for i, f in enumerate(files):
        eicodec.to_parquet(f, tmp_path / f"{i}.parquet")
    both = pq.read_table(tmp_path, schema=tables[0].schema)
    assert sorted(set(both.column("source").to_pylist())) == sorted(str(f) for f in files)


def test_file_columns_come_from_the_specs_header_and_can_be_left_out() -> None:
    spec, data = _gz321()
    t = eicodec.to_arrow(data, "06", spec=spec)
    assert t.column("source").null_count == t.num_rows  # bytes have no name
    assert set(t.column("header_invoice_number").to_pylist()) == {"G1"}
    head = spec.layout(spec.header)
    assert [n for n in t.column_names if n.startswith("header_")] == \
        [f"header_{f.attr}" for f in head.fields[1:] if f.kind != "reserve"]
    plain = eicodec.to_arrow(data, "06", spec=spec, file_columns=False)
    assert "source" not in plain.column_names and not any(n.startswith("header_") for n in plain.column_names)
    assert plain.equals(t.drop_columns([n for n in t.column_names if n not in plain.column_names]))
    csv_head = next(eicodec.tables.iter_csv_rows(EXAMPLES / "ap304_full.asc"))
    assert "header_invoice_number" in csv_head and csv_head.rstrip().split(",")[-1].startswith("header_")
