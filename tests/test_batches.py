"""Guard for the batch engine: a file checked a batch of N lines at a time gives exactly
the findings and outcomes of the same file checked one line at a time (groups, comments
and repeated keys across batch boundaries). Not timed; speed lives in benchmarks/."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eicodec
from eicodec.testing import declarations, field_damaged_files, noisy_files, structurally_damaged_files
from tests.conftest import EXAMPLES, ROOT, join, lines_of

TODAY = dt.date(2024, 6, 1)


def alike(data: bytes, mode: str = "insurer", sizes: tuple[int, ...] = (1, 3, 8192)) -> eicodec.Report | None:
    """The reports of *data* checked in batches of each of *sizes* lines are equal, and
    equal to those of the same content given as text (no regular stretch read as bytes)."""
    reports = []
    for size in sizes:
        try:
            reports.append(eicodec.validate(data, mode=mode, today=TODAY, batch_lines=size))
        except eicodec.UnreadableInputError:
            reports.append(None)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and ("\n" in text or "\r" in text):
        try:
            reports.append(eicodec.validate(text, mode=mode, today=TODAY))
        except eicodec.UnreadableInputError:
            reports.append(None)
    first = reports[0]
    for other in reports[1:]:
        if first is None or other is None:
            assert first is other
            continue
        assert other.status is first.status
        assert other.findings == first.findings
        assert other.outcomes == first.outcomes
        assert other.counts == first.counts
    return first


@settings(max_examples=30, suppress_health_check=list(HealthCheck), deadline=None)
@given(declarations(max_insured=3))
def test_valid_generated_files(decl: eicodec.Declaration) -> None:
    report = alike(eicodec.dumps(decl))
    assert report is not None and report.status is eicodec.Status.APPROVED


@settings(max_examples=60, suppress_health_check=list(HealthCheck), deadline=None)
@given(noisy_files(max_insured=3), st.sampled_from(["insurer", "vecozo"]))
def test_corrupted_generated_files(data: bytes, mode: str) -> None:
    alike(data, mode)


@settings(max_examples=80, suppress_health_check=list(HealthCheck), deadline=None)
@given(field_damaged_files(max_insured=4), st.sampled_from(["insurer", "vecozo"]))
def test_field_mutations_hit_rules_alike(data: bytes, mode: str) -> None:
    """A field gets a value of its kind from another record or a boundary value: the
    cross-record rules (claim against its 02, dates against the header, D/C, credit
    lines, forwarding, debtor number) see the same whatever the batch size."""
    alike(data, mode)


@settings(max_examples=60, suppress_health_check=list(HealthCheck), deadline=None)
@given(structurally_damaged_files(max_insured=4))
def test_structural_mutations_alike(data: bytes) -> None:
    """Lines dropped, repeated (duplicate ids and referentienummers), moved, cut short,
    ended with LF only, or empty lines inserted."""
    alike(data)


def test_big_file_across_batches() -> None:
    """Many batches, groups across their boundaries, rejected claim lines, repeated
    referentienummers and one lone LF: the same whatever the batch size."""
    data = (EXAMPLES / "ap304_full.asc").read_bytes()  # insured, debtor, claim lines, comments
    header, body, trailer = data.split(b"\r\n", 1)[0], lines_of(data)[1:-1], lines_of(data)[-1]
    lines = [header] + body * 150 + [trailer]
    for i in range(5, len(lines) - 1, 37):
        if lines[i].startswith(b"04"):
            lines[i] = lines[i][:91] + b"777" + lines[i][94:]  # unknown prestatiecodelijst
    data = join(lines)
    mid = len(data) // 2
    cut = data.index(b"\r\n", mid)
    for payload in (data, data[:cut] + b"\n" + data[cut + 2:]):
        report = alike(payload, sizes=(7, 64, 8192))
        assert report is not None and report.status is not eicodec.Status.APPROVED


@pytest.mark.parametrize("name", ["ap304_full.asc", "ap304_insurer.asc", "ap304_claim_rejected.asc",
                                  "ap305_claim_rejected.asc"])
def test_examples_alike(name: str) -> None:
    for mode in ("insurer", "vecozo"):
        alike((EXAMPLES / name).read_bytes(), mode, sizes=(1, 2, 5, 8192))


def test_whole_groups_are_placed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The walker places runs of well-formed groups with one pattern match (so that the
    tests above compare that way with the line-by-line walk), and not a group that is
    out of order."""
    from eicodec.grammar import Walker

    seen: list[tuple[int, int]] = []
    real = Walker._fast

    def spy(self, batch, a, b, out, header_row):  # type: ignore[no-untyped-def]
        seen.append((batch.first + a, batch.first + b))
        return real(self, batch, a, b, out, header_row)

    monkeypatch.setattr(Walker, "_fast", spy)
    full = lines_of((EXAMPLES / "ap304_full.asc").read_bytes())
    data = join([full[0], *full[1:-1] * 3, full[-1]])  # (ids repeat: no matter here)
    alike(data)
    assert seen and seen[0][0] == 2
    lines = lines_of(data)
    tops = [i for i, ln in enumerate(lines) if ln.startswith(b"02")]
    assert len(tops) >= 3
    i = tops[1] + 1  # swap the first two records under the second 02 (if it has two)
    lines[i], lines[i + 1] = lines[i + 1], lines[i]
    seen.clear()
    report = alike(join(lines))
    assert report is not None and report.status is not eicodec.Status.APPROVED
    assert all(not (a <= tops[1] + 1 < b) for a, b in seen)


def _big(n_copies: int) -> list[bytes]:
    """FULL's lines with its detail records repeated (over a megabyte, no trailer check);
    each copy's insured get their own BSN / verzekerdennummer (one 02 per insured)."""
    from eicodec.testing import nth_bsn

    lines = lines_of(EXAMPLES.joinpath("ap304_full.asc").read_bytes())
    out = [lines[0]]
    for k in range(n_copies):
        bsn = nth_bsn(k).encode()
        for ln in lines[1:-1]:
            if ln[:2] in (b"02", b"04"):
                if ln[14:23] == b"999999999":  # 0205/0405 verzekerdennummer (27..41)
                    ln = ln[:27] + f"Z{k:014d}".encode() + ln[42:]
                else:  # 0203/0403 BSN (15..23)
                    ln = ln[:14] + bsn + ln[23:]
            out.append(ln)
    return [*out, lines[-1]]


@pytest.mark.parametrize("late", ["cp1252", "mixed", "undecodable", "none"])
def test_encoding_and_fingerprint_of_a_byte_beyond_the_first_megabyte(late: str) -> None:
    # validate reads a file that starts ASCII without a pass of its own over the bytes:
    # what it says of the encoding and the fingerprint is still that of all the bytes
    lines = _big(900)
    comments = [i for i, ln in enumerate(lines) if ln.startswith(b"98")]
    far = [i for i in comments if i > 5000]  # (in the second batch of lines read)
    assert sum(len(x) + 2 for x in lines[:far[0]]) > 1 << 20, "beyond the part the reader looks at first"
    if late in ("cp1252", "mixed", "undecodable"):
        lines[far[1]] = lines[far[1]][:-1] + (b"\x81" if late == "undecodable" else b"\xe9")
    if late == "mixed":
        lines[far[0]] = lines[far[0]][:-2] + "é".encode()
    data = join(lines)
    if late == "undecodable":
        with pytest.raises(eicodec.UnreadableInputError, match="utf-8 or cp1252"):
            eicodec.validate(data, today=dt.date(2024, 6, 1))
        return
    report = eicodec.validate(data, today=dt.date(2024, 6, 1))
    stream = eicodec.open_records(data)
    list(stream)
    assert (report.encoding, report.bom, report.fingerprint) == (
        stream.info.encoding, stream.info.bom, eicodec.reader.fingerprint_bytes([data]))
    assert report.encoding == ("cp1252" if late == "cp1252" else "utf-8")
    encoding_findings = [f.line for f in report.findings if f.rule == "file.encoding"]
    assert encoding_findings == ([far[1] + 1] if late == "mixed" else [])


@pytest.mark.parametrize("late", ["cp1252", "mixed", "undecodable"])
def test_typed_columns_of_a_file_with_a_late_non_ascii_byte(late: str) -> None:
    # columns and tables read without a first pass too: a late byte of another encoding
    # gives the same text as the reader gives it, an undecodable one the same error
    lines = _big(900)
    comments = [i for i, ln in enumerate(lines) if ln.startswith(b"98")]
    far = [i for i in comments if i > 5000]
    lines[far[1]] = lines[far[1]][:-1] + (b"\x81" if late == "undecodable" else b"\xe9")
    if late == "mixed":  # (a UTF-8 "é" in one line, a cp1252 one in another)
        lines[far[0]] = lines[far[0]][:-1] + "é".encode()
    data = join(lines)
    if late == "undecodable":
        with pytest.raises(eicodec.UnreadableInputError):
            eicodec.columns(data, "98")
        return
    got = eicodec.columns(data, "98")
    want = [rec.raw for rec in eicodec.iter_records(data) if rec.record_type == "98"]
    text = next(f.attr for f in eicodec.get_spec("AP304").layout("98").fields if f.kind == "text"
                and f.mandatory == "Y" and f.element != "NUM040")
    assert list(got[text]) == [eicodec.get_spec("AP304").layout("98").field(text).decode(
        raw[eicodec.get_spec("AP304").layout("98").field(text).slice]) or "" for raw in want]


def _bench_lines(tmp_path: Path, records: int) -> list[bytes]:
    """The lines of a valid file of about *records* records made by benchmarks/bench.py."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench import generate
    finally:
        sys.path.pop(0)
    generate(tmp_path / "f.asc", records)
    return lines_of((tmp_path / "f.asc").read_bytes())


@pytest.mark.parametrize("mode", ["insurer", "vecozo"])
def test_verdicts_of_groups_placed_at_once_are_those_of_the_walk(mode: str, tmp_path: Path) -> None:
    # many groups in one batch (placed at once, verdicts for all of them together) against
    # one line at a time (group by group): rejected claim lines, a rejected insured record
    # (its claim lines not assessed by an insurer), clean groups
    lines = _bench_lines(tmp_path, 80)
    claims = [i for i, ln in enumerate(lines) if ln.startswith(b"04")]
    insured = [i for i, ln in enumerate(lines) if ln.startswith(b"02")]
    for i in (claims[1], claims[7], claims[8]):
        lines[i] = lines[i][:91] + b"777" + lines[i][94:]  # unknown prestatiecodelijst (0413)
    lines[insured[5]] = lines[insured[5]][:53] + b"X" + lines[insured[5]][54:]  # geboortedatum (0207) not numeric
    # a comment on an insured record whose regelnummer (9803) is not numeric: the top
    # part is rejected by a record of it other than the top record (one comment less
    # elsewhere, so that the counts hold)
    comment = next(ln for ln in lines if ln.startswith(b"98"))
    del lines[max(i for i, ln in enumerate(lines) if ln.startswith(b"98"))]
    at = insured[9]
    lines.insert(at + 1, b"98" + lines[at][2:14] + b"00X1" + comment[18:])
    report = alike(join(lines), mode)
    assert report is not None
    verdicts = {o.verdict for o in report.outcomes.values()}
    if mode == "insurer":
        assert verdicts == {eicodec.Verdict.REJECTED, eicodec.Verdict.APPROVED, eicodec.Verdict.NOT_ASSESSED}
    else:
        assert eicodec.Verdict.REJECTED in verdicts


def test_unique_under_a_parent_across_batches(tmp_path: Path) -> None:
    # regelnummers (9803) of the comments on one record: a repeat is found once per
    # repeat, the same number under another record is no repeat, however the lines fall
    # into batches (the keys seen under the last parent carry over)
    lines = _bench_lines(tmp_path, 60)
    commented = [i for i, ln in enumerate(lines) if ln.startswith(b"98")][:2]
    added = 0
    for at, numbers in zip(sorted(commented, reverse=True), ([b"0002", b"0001", b"0003", b"0002"], [b"0002"])):
        lines[at + 1:at + 1] = [lines[at][:14] + n + b"ABCD"[k:k + 1] + lines[at][19:]  # (no identical copies)
                                for k, n in enumerate(numbers)]
        added += len(numbers)
    trailer = lines[-1]
    for start, length in ((21, 6), (27, 7)):  # comment count (9905) and detail count (9906)
        value = int(trailer[start - 1:start - 1 + length]) + added
        trailer = trailer[:start - 1] + str(value).zfill(length).encode() + trailer[start - 1 + length:]
    lines[-1] = trailer
    report = alike(join(lines))
    assert report is not None
    repeats = [f.line for f in report.findings if f.rubric == "9803"]
    # under the later comment (line later + 2 once one line went in before it): 0002,
    # 0001 (a repeat of the comment's own 0001), 0003, 0002 (a repeat)
    later = max(commented)
    assert repeats == [later + 4, later + 6]


@pytest.mark.parametrize("strategy", [noisy_files(), field_damaged_files(), structurally_damaged_files()],
                         ids=["noisy", "field", "structural"])
def test_the_damaged_file_strategies_damage(strategy: st.SearchStrategy[bytes]) -> None:
    """eicodec.testing's damaged files are what they say: among a few, some are rejected
    or unreadable (a stretch of noise may also hit nothing that is checked)."""
    statuses: set[str] = set()

    @settings(max_examples=15, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(data: bytes) -> None:
        try:
            statuses.add(eicodec.validate(data, today=TODAY).status.value)
        except eicodec.UnreadableInputError:
            statuses.add("unreadable")

    collect()
    assert statuses - {"approved"}, statuses


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-(1 << 40), 1 << 40), max_size=60), st.integers(0, 3), st.booleans(), st.booleans())
def test_unique_ints_is_np_unique(values: list[int], spread: int, inverse: bool, ordered: bool) -> None:
    """``unique_ints`` (runs of values in order, a table over a small span, else a sort)
    gives what ``np.unique`` gives, the inverse flat, for narrow and wide spans alike."""
    from eicodec.batches import unique_ints

    arr = np.array(values, np.int64) >> (40 - 10 * spread) if values else np.zeros(0, np.int64)
    if ordered:
        arr = np.sort(arr)
    if inverse:
        keys, which = unique_ints(arr, return_inverse=True)
        want_keys, want_which = np.unique(arr, return_inverse=True)
        assert keys.tolist() == want_keys.tolist() and which.tolist() == want_which.reshape(-1).tolist()
    else:
        assert unique_ints(arr).tolist() == np.unique(arr).tolist()


@pytest.mark.parametrize("name", ["AP304", "AP305", "GZ321", "MZ301"])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_possessive_grammar_pattern_matches_what_backtracking_matches(name: str, data: st.DataObject) -> None:
    """The walker places a stretch of whole groups at once when the grammar's pattern
    matches its record types; the pattern's repeats are possessive (no backtracking). For
    the shipped grammars it accepts exactly what the same pattern with backtracking
    accepts: well-formed groups (built from the grammar) and mutated ones (a type
    dropped, doubled, swapped or foreign)."""
    import re

    from eicodec.grammar import Grammar

    g = Grammar(eicodec.get_spec(name))
    plain = re.compile(g.pattern.pattern.replace(b"*+", b"*").replace(b"}+", b"}"))
    assert plain.pattern != g.pattern.pattern

    def group(t: str, depth: int = 0) -> list[int]:
        out = [int(t)] + [int(g.comment)] * data.draw(st.integers(0, 2))
        for c in g.children[t]:
            lay = g.spec.records[c]
            hi = lay.max if lay.max is not None else lay.min + 3
            for _ in range(data.draw(st.integers(lay.min, min(hi, lay.min + 3)))):
                out += group(c, depth + 1)
        return out

    types: list[int] = []
    for _ in range(data.draw(st.integers(0, 4))):
        types += group(data.draw(st.sampled_from(list(g.top_types))))
    if types and data.draw(st.booleans()):
        at = data.draw(st.integers(0, len(types) - 1))
        how = data.draw(st.sampled_from(["drop", "double", "swap", "foreign"]))
        if how == "drop":
            del types[at]
        elif how == "double":
            types.insert(at, types[at])
        elif how == "swap" and at + 1 < len(types):
            types[at], types[at + 1] = types[at + 1], types[at]
        else:
            types[at] = data.draw(st.sampled_from([int(t) for t in g.spec.records] + [255]))
    text = bytes(types)
    assert (g.pattern.fullmatch(text) is None) == (plain.fullmatch(text) is None), types


@pytest.mark.parametrize("keep", ["batches", "views", "raw", "nothing", "nothing_for_loop"])
def test_a_batch_buffer_is_used_again_only_when_let_go(keep: str) -> None:
    """Batches read as bytes: the buffer of a batch its consumer let go of is read into
    again (one or two buffers however many batches), never one that a batch, an array
    view of its characters or its raw bytes still holds (what was kept reads as the file)."""
    from eicodec.batches import iter_batches
    from eicodec.reader import RecordStream

    data = (EXAMPLES / "ap304_insurer.asc").read_bytes() * 1  # (one file, read 3 lines a batch)
    lines = lines_of(data)
    kept: list[object] = []
    buffers: list[int] = []
    with RecordStream(data, defer_check=True) as stream:
        it = iter_batches(stream, 3, lambda: data)
        if keep == "nothing_for_loop":
            for b in it:  # (the loop's name holds the last batch while the next is read)
                buffers.append(id(b.raw.obj))
        else:
            for b in it:
                assert b.raw is not None
                buffers.append(id(b.raw.obj))
                kept.append({"batches": b, "views": b.chars[:, :40], "raw": b.raw}.get(keep, b.first))
                del b
    assert len(buffers) == -(-len(lines) // 3)
    if keep.startswith("nothing"):
        assert len(set(buffers)) <= 2
        return
    assert len(set(buffers)) == len(buffers)  # (every batch held: a buffer each)
    for k, item in enumerate(kept):
        rows = lines[3 * k:3 * k + 3]
        if keep == "batches":
            assert [bytes(r) for r in item.chars] == [ln[:360] for ln in rows]  # type: ignore[attr-defined]
        elif keep == "views":
            assert [bytes(r) for r in item] == [ln[:40] for ln in rows]  # type: ignore[union-attr]
        else:
            assert bytes(item) == b"".join(ln + b"\r\n" for ln in rows)  # type: ignore[arg-type]


def test_a_batch_read_as_bytes_has_room_after_its_rows() -> None:
    """Batches read as bytes leave room after their rows (``Batch.room``), where the
    engine puts the records of earlier batches its rows hang under without copying the
    batch; the batch's own characters stay read-only."""
    import numpy as np

    from eicodec.batches import ROOM_ROWS, iter_batches
    from eicodec.reader import RecordStream

    data = (EXAMPLES / "ap304_insurer.asc").read_bytes()
    with RecordStream(data, defer_check=True) as stream:
        batches = list(iter_batches(stream, 5, lambda: data))
    assert batches and all(b.room is not None for b in batches)
    for b in batches:
        assert b.room is not None and len(b.room) >= len(b) + ROOM_ROWS
        assert np.shares_memory(b.room, b.chars) and (b.room[:len(b)] == b.chars).all()
        assert not b.chars.flags.writeable and b.room.flags.writeable
        b.room[len(b):] = ord("Z")  # (the room only)
        assert (b.chars != ord("Z")).any(axis=1).all()


@pytest.mark.parametrize("n", [0, 1, 5, 256, 257, 1000])
def test_column_major_of_chosen_rows_is_their_transpose(n: int) -> None:
    """The engine's column-major blocks: the transpose of the rows it chose (seeded rows,
    across the copy's 256-row pieces), with and without a row choice."""
    import numpy as np

    from eicodec.batches import column_major

    rng = np.random.default_rng(n)
    full = rng.integers(0, 256, (max(n, 1) * 2, 362), dtype=np.uint8)[:, :360]  # (a strided view, as a batch's)
    rows = np.sort(rng.choice(len(full), n, replace=False))
    got = column_major(full, rows=rows)
    assert got.flags.c_contiguous and np.array_equal(got, full[rows].T)
    assert np.array_equal(column_major(full[rows]), full[rows].T)


def test_a_small_file_gets_a_buffer_its_size(tmp_path: Path) -> None:
    """A file smaller than a batch is read into a buffer of about its size (not the 5.9 MB
    of 16,384 lines), with the same batches as a stream of unknown size gives."""
    import io

    from eicodec.batches import ROOM_ROWS, iter_batches
    from eicodec.reader import RecordStream

    data = (EXAMPLES / "ap304_insurer.asc").read_bytes()
    path = tmp_path / "small.asc"
    path.write_bytes(data)
    step = len(lines_of(data)[0]) + 2
    with RecordStream(path, defer_check=True) as stream:
        got = [(b.first, bytes(b.raw), len(b.raw.obj)) for b in iter_batches(stream, 16384, lambda: path)]
    assert len(got) == 1 and got[0][1] == data
    assert got[0][2] <= len(data) + (ROOM_ROWS + 1) * step
    with RecordStream(io.BytesIO(data), defer_check=True) as stream:  # (no file: size unknown)
        assert [(b.first, bytes(b.raw)) for b in iter_batches(stream, 16384, lambda: data)] == [got[0][:2]]
