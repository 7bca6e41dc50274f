"""A GZ321 v1.0 file of about N records for bench.py (standard library and eicodec only).

The example's groups (``examples/gz321_valid.asc``: three insured, 04 prestatie records
with their 06 tarief, 16 zorgactiviteit and 17 tijdsbesteding records, 98 comments) are
repeated, each copy with increasing record ids, its own BSNs (the dummy BSN stays) and its
own reference numbers; the sluitrecord holds the real counts and total. The result is
approved. With ``restart_ids=True`` the record ids start again at 1 in every copy, so that
every detail record after the first copy repeats an identificatie: the engine then reads
the file a second time (issue #26's "second pass"), and each repeat is a finding;
``few_repeats=True`` restarts them in the last copy only (the second pass, few findings).
"""

from __future__ import annotations

from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "gz321_valid.asc"
DUMMY_BSN = b"999999999"


def _bsn(n: int) -> bytes:
    """A BSN passing the 11-proef, another for every n (as bench.py's)."""
    for head in (f"{20_000_000 + 2 * n:08d}", f"{20_000_000 + 2 * n + 1:08d}"):
        last = sum(int(d) * w for d, w in zip(head, (9, 8, 7, 6, 5, 4, 3, 2))) % 11
        if last < 10:
            return (head + str(last)).encode()
    raise AssertionError("unreachable")


def generate_gz321(path: Path, n_records: int, restart_ids: bool = False, few_repeats: bool = False,
                   example: Path = EXAMPLE) -> int:
    """Write a GZ321 file of about *n_records* records (whole copies of the example's
    groups, at least one); returns the exact count. *few_repeats*: the ids start again at 1
    in the last copy only (its detail records repeat the first copy's identificaties: the
    second pass, a few findings)."""
    import eicodec

    spec = eicodec.get_spec("GZ321", "1.0")
    lines = example.read_bytes().split(b"\r\n")
    if not lines[-1]:
        lines.pop()
    header, body = lines[0], lines[1:-1]
    # the 0-based byte ranges to rewrite per record type (the file is ASCII)
    id_at = {t: (lay.id_field.start - 1, lay.id_field.end) for t, lay in spec.records.items()
             if lay.id_field is not None}
    bsn_at = {t: (f.start - 1, f.end) for t, lay in spec.records.items() for f in lay.fields if f.attr == "bsn"}
    ref_at = {t: [(f.start - 1, f.end) for f in lay.fields if f.attr in ("reference", "previous_reference")]
              for t, lay in spec.records.items()}
    copies = max(1, (n_records - 2) // len(body))
    width = spec.record_length
    insured = 0
    with path.open("wb") as fh:
        fh.write(header + b"\r\n")
        rid = 0
        out: list[bytes] = []
        for copy in range(copies):
            if restart_ids or few_repeats and copy == copies - 1:
                rid = 0
            bsns: dict[bytes, bytes] = {}
            for line in body:
                t = line[:2].decode()
                rec = bytearray(line)
                if t != "98":  # (a comment has the id of the record it follows)
                    rid += 1
                a, b = id_at[t]
                rec[a:b] = b"%0*d" % (b - a, rid)
                if t in bsn_at:
                    a, b = bsn_at[t]
                    old = bytes(rec[a:b])
                    if old != DUMMY_BSN:
                        if old not in bsns:
                            insured += 1
                            bsns[old] = _bsn(insured)
                        rec[a:b] = bsns[old]
                for a, b in ref_at.get(t, []):
                    ref = rec[a:b].decode().strip()
                    if ref:  # "GGZ25-P0001" -> "GGZ25-00000042-P0001"
                        head, _, tail = ref.partition("-")
                        new = f"{head}-{copy:08d}-{tail}"
                        assert len(new) <= b - a, new
                        rec[a:b] = new.ljust(b - a).encode()
                assert len(rec) == width
                out.append(bytes(rec))
            if len(out) >= 4096:
                fh.write(b"\r\n".join(out) + b"\r\n")
                out.clear()
        if out:
            fh.write(b"\r\n".join(out) + b"\r\n")
        # the sluitrecord: the example's counts and total times the copies
        *_, last = eicodec.iter_records(example)
        counts = {t: sum(1 for ln in body if ln[:2].decode() == t) * copies for t in spec.records}
        total = spec.totals[0]
        lay = spec.layout(spec.trailer)
        f = lay.by_rubric[total.rubric]
        amount = last.get(f.attr) * copies
        if f.sign and last.get(lay.by_rubric[f.sign].attr) == "C":
            amount = -amount
        new = eicodec.writer.trailer_from_counts(spec, counts, {total.rubric: amount})
        fh.write((new.raw + "\r\n").encode())
    return 2 + copies * len(body)
