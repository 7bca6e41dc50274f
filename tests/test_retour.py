"""AP305 builder and read-back: golden files per scenario, round trip, properties."""

from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eicodec
from eicodec import Award, Status, Verdict
from eicodec.testing import declarations, nth_bsn
from tests.conftest import EXAMPLES, join, lines_of
from tests.test_validator import INSURER, patch

GOLDEN = EXAMPLES.parent / "tests" / "golden"
STRUCTURE_RULES = {"file.record_length", "file.line_end", "file.record_type", "file.order",
                   "file.missing_trailer", "file.record_id", "file.trailer_count", "file.trailer_total"}


def structure_findings(data: bytes) -> list[eicodec.Finding]:
    """Findings about the file's structure (a copied record keeps its own content errors)."""
    return [f for f in eicodec.validate(data, today=dt.date(2024, 6, 1)).findings if f.rule in STRUCTURE_RULES]
TODAY = dt.date(2024, 3, 1)
RETURN_DATE = dt.date(2024, 2, 20)


def scenario(name: str) -> tuple[bytes, dict]:  # type: ignore[type-arg]
    kw: dict = {"insurer_reference": "ZV-2024-000123", "return_date": RETURN_DATE}  # type: ignore[type-arg]
    if name == "approved":
        return INSURER, kw
    if name == "file_rejected":
        data = patch(patch(patch(INSURER, 1, "0119", "XYZ"), 8, "9902", "000009"), 8, "9907", "00000000001")
        lines = lines_of(data)
        lines[2] = lines[2][:-1]
        return join(lines), kw
    if name == "insured_rejected":
        return patch(INSURER, 2, "0208", "3"), kw
    if name == "claim_rejected":
        return patch(INSURER, 4, "0413", "777"), kw
    if name == "vecozo":
        return patch(INSURER, 4, "0413", "777"), {**kw, "insurer_reference": "VECOZO-0001", "mode": "vecozo"}
    if name == "awards_comments":
        return patch(INSURER, 4, "0413", "777"), {
            **kw, "awards": {"R2024-000103": Award(3000, ("8059",), vat=248)},
            "comments": {"R2024-000102": ["Gebruik prestatiecodelijst 001 (Z-Index)."],
                         "R2024-000103": ["Vergoed volgens contractprijs."]}}
    raise KeyError(name)


SCENARIOS = ["approved", "file_rejected", "insured_rejected", "claim_rejected", "vecozo", "awards_comments"]


def build(name: str) -> bytes:
    data, kw = scenario(name)
    mode = kw.get("mode", "insurer")
    report = eicodec.validate(data, mode=mode, today=TODAY)
    return eicodec.dumps(eicodec.build_retour(data, report, **kw))


@pytest.mark.parametrize("name", SCENARIOS)
def test_golden_return_files(name: str) -> None:
    out = build(name)
    path = GOLDEN / f"ap305_{name}.asc"
    if os.environ.get("EICODEC_UPDATE_GOLDEN"):
        path.write_bytes(out)
    assert out == path.read_bytes()
    back = eicodec.read(out)
    assert back.spec.name == "AP305 v8.0" and back.problems == []
    assert eicodec.dumps(back) == out  # AP305 round trip, byte-exact
    assert structure_findings(out) == []  # structurally correct AP305


def codes(rec: eicodec.Record) -> tuple[str, ...]:
    return tuple(c for c in (rec.return_code_1, rec.return_code_2, rec.return_code_3) if c)


def test_approved_file_holds_header_and_trailer_with_8001_and_awarded_total() -> None:
    ret = eicodec.read(build("approved"))
    assert ret.groups == [] and codes(ret.header) == ("8001",)
    assert ret.header.insurer_reference == "ZV-2024-000123" and ret.header.return_date == RETURN_DATE
    assert ret.header.message_code == "194" and ret.header.software_vendor_code is None
    assert ret.trailer is not None
    assert ret.trailer.awarded_total_signed == 5655 == ret.trailer.submitted_total_signed
    assert not ret.trailer.detail_count  # empty optional count: None


def test_file_rejection_puts_three_most_fundamental_codes_in_the_header() -> None:
    data, _ = scenario("file_rejected")
    report = eicodec.validate(data, today=TODAY)
    assert {f.code for f in report.file_findings} >= {"0804", "0031", "0151", "0150"}
    ret = eicodec.read(build("file_rejected"))
    assert ret.groups == [] and codes(ret.header) == ("0804", "0031", "0151")
    assert ret.trailer is not None and not ret.trailer.awarded_total
    assert ret.trailer.raw[2:33] == "0" * 31  # every count zero


def test_insured_rejection_returns_the_group_with_not_assessed_claims() -> None:
    ret = eicodec.read(build("insured_rejected"))
    (group,) = ret.groups
    assert codes(group.record) == ("0351",)
    assert [codes(c.record) for c in group.claims] == [("8002",), ("8002",)]
    assert codes(group.claims[1].comments[0]) == ("8002",)
    assert all(not c.record.awarded_amount_signed for c in group.claims)
    assert ret.trailer is not None and ret.trailer.awarded_total_signed == 3410  # the other insured is paid


def test_claim_rejection_returns_only_that_line_and_exact_copies() -> None:
    data, _ = scenario("claim_rejected")
    ret = eicodec.read(build("claim_rejected"))
    (group,) = ret.groups
    assert codes(group.record) == ("0200",) and [codes(c.record) for c in group.claims] == [("0581",)]
    original = eicodec.read(data)
    assert group.claims[0].record.raw[:360] == original.groups[0].claims[1].record.raw
    assert ret.trailer is not None and ret.trailer.awarded_total_signed == 1250 + 3410


def test_vecozo_returns_everything_and_pays_nothing() -> None:
    ret = eicodec.read(build("vecozo"))
    assert ret.header.insurer_reference == "VECOZO-0001"
    recs = [r for r in ret.iter_records() if r.record_type not in ("01", "99")]
    assert len(recs) == 6
    assert [codes(r) for r in recs] == [("8096",), ("8096",), ("0581",), ("0200",), ("8096",), ("8096",)]
    assert ret.trailer is not None and not ret.trailer.awarded_total


def test_awards_and_added_comments() -> None:
    ret = eicodec.read(build("awards_comments"))
    first, second = ret.groups
    claim = first.claims[0]
    assert codes(claim.record) == ("0581",)
    added = claim.comments[-1]
    assert added.text.startswith("Gebruik prestatiecodelijst") and codes(added) == ()
    assert added.record_id == claim.record.record_id
    assert [c.line_number for c in claim.comments] == [1, 2]  # continues after the AP304's comment
    corrected = second.claims[0].record
    assert codes(corrected) == ("8059",) and corrected.awarded_amount_signed == 3000
    assert corrected.awarded_vat_amount == 248
    assert codes(second.record) == ("0200",)
    assert ret.trailer is not None and ret.trailer.awarded_total_signed == 1250 + 3000
    assert ret.trailer.comment_count == 3


def test_outcome_joins_return_codes_to_claim_lines() -> None:
    data, _ = scenario("awards_comments")
    result = {o.reference: o for o in eicodec.outcome(data, build("awards_comments"))}
    assert result["R2024-000101"].status == "not_returned" and result["R2024-000101"].awarded == 1250
    assert result["R2024-000102"].status == "rejected" and result["R2024-000102"].codes == ("0581",)
    assert result["R2024-000102"].meanings[0].startswith("Aanduiding prestatiecodelijst")
    assert result["R2024-000103"].status == "approved" and result["R2024-000103"].awarded == 3000
    data, _ = scenario("file_rejected")
    assert {o.status for o in eicodec.outcome(data, build("file_rejected"))} == {"rejected"}


def test_outcome_refuses_a_return_file_of_another_declaration() -> None:
    other = patch(INSURER, 1, "0116", "F2024-9999  ")
    with pytest.raises(eicodec.MismatchError, match="0116"):
        eicodec.outcome(other, build("claim_rejected"))
    tampered = lines_of(build("claim_rejected"))
    tampered[2] = tampered[2][:100] + b"X" + tampered[2][101:]
    with pytest.raises(eicodec.MismatchError, match="not copies"):
        eicodec.outcome(INSURER, join(tampered))


def test_builder_refuses_a_report_of_another_declaration() -> None:
    report = eicodec.validate(patch(INSURER, 4, "0413", "777"), today=TODAY)
    with pytest.raises(eicodec.MismatchError):
        eicodec.build_retour(INSURER, report, return_date=RETURN_DATE)
    with pytest.raises(eicodec.MismatchError):
        eicodec.build_retour(eicodec.read(INSURER), report, return_date=RETURN_DATE)
    ok = eicodec.validate(INSURER, mode="vecozo", today=TODAY)
    with pytest.raises(eicodec.EicodecError, match="VECOZO sends no return file"):
        eicodec.build_retour(INSURER, ok)


def test_a_report_of_another_declaration_leaves_no_return_file(tmp_path: Path) -> None:
    # whether the report is about the input is known at the end of the one pass over it
    report = eicodec.validate(patch(INSURER, 4, "0413", "777"), today=TODAY)
    source = tmp_path / "in.asc"
    source.write_bytes(INSURER)
    target = tmp_path / "out.ap305"
    with pytest.raises(eicodec.MismatchError, match="records differ"):
        eicodec.write_retour(source, report, target, return_date=RETURN_DATE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.asc"]
    sink = io.BytesIO()
    sink.write(b"kept")
    with pytest.raises(eicodec.MismatchError):
        eicodec.write_retour(INSURER, report, sink, return_date=RETURN_DATE)
    assert sink.getvalue() == b"kept"


def _many_groups(copies: int, rejected: set[int]) -> bytes:
    """INSURER with its detail records repeated *copies* times (identificatie renumbered,
    trailer recomputed); claim lines on the lines in *rejected* get prestatiecodelijst 777."""
    recs = list(eicodec.iter_records(INSURER))
    out = [recs[0]]
    rid = 0
    for k in range(copies):
        for rec in recs[1:-1]:
            rec = rec.copy()
            if rec.record_type != "98":
                rid += 1
            rec.record_id = rid
            if rec.record_type in ("02", "04"):  # one verzekerdenrecord per insured (STB §5.2)
                rec.bsn = nth_bsn(2 * k + int(rec.bsn == "111222333"))
            if rec.record_type == "04":
                rec.reference = f"R{rid:015d}"
                if len(out) + 1 in rejected:
                    rec.service_code_list_1 = "777"
            out.append(rec)
    out.append(eicodec.writer.compute_trailer(eicodec.get_spec("AP304"), iter(out)))
    return b"".join((r.raw + "\r\n").encode() for r in out)


@pytest.mark.parametrize("mode", ["insurer", "vecozo"])
def test_groups_across_reading_batches_are_returned_like_from_records(mode: str) -> None:
    # the input is read a few thousand lines at a time: groups that span two batches, and
    # rejected lines right at a batch's edges, come back as from the Declaration's records
    data = _many_groups(1400, {3, 4094, 4096, 4097, 4099, 8191, 8192, 8194, 8195, 8196})
    report = eicodec.validate(data, mode=mode, today=TODAY)
    assert report.status is Status.REJECTED_RECORDS
    for kw in ({}, {"awards": {"R000000000004095": 1}} if mode == "insurer" else {}):
        streamed = eicodec.dumps_retour(data, report, return_date=RETURN_DATE, **kw)
        assert streamed == eicodec.dumps_retour(eicodec.read(data), report, return_date=RETURN_DATE, **kw)
    assert eicodec.read(streamed).trailer is not None


def test_build_from_a_declaration_object_equals_build_from_bytes() -> None:
    data, kw = scenario("claim_rejected")
    report = eicodec.validate(data, today=TODAY)
    assert eicodec.dumps(eicodec.build_retour(eicodec.read(data), report, **kw)) == build("claim_rejected")


def test_corrected_ap305_spec_changes_the_output(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = (eicodec.layouts.data_dir() / "AP305v8.0.toml").read_text(encoding="utf-8")
    # an official layout that puts the retourcodes of the 04 right after 0488, reserve last
    text = text.replace("start = 404, length = 4", "start = 404, length = 4", 1)
    custom = tmp_path / "AP305.toml"
    custom.write_text(text.replace('attr = "awarded_vat_amount", type = "N", start = 387, length = 8',
                                   'attr = "awarded_vat_amount", type = "N", start = 387, length = 8'), encoding="utf-8")
    spec = eicodec.load_spec(custom)
    swapped = text
    for a, b in (("start = 370, length = 8", "start = 370, length = 9"),
                 ("start = 378, length = 1", "start = 379, length = 1"),
                 ("start = 379, length = 8", "start = 380, length = 7")):
        swapped = swapped.replace(a, b, 1)
    custom.write_text(swapped, encoding="utf-8")
    spec = eicodec.load_spec(custom)
    data, kw = scenario("claim_rejected")
    report = eicodec.validate(data, today=TODAY)
    out = eicodec.dumps(eicodec.build_retour(data, report, spec=spec, **kw))
    assert out != build("claim_rejected")
    assert eicodec.read(out, spec=spec).groups[0].claims[0].record.return_code_1 == "0581"


# ------------------------------------------------------------------ property

FAULTS = {
    "02": [("0208", "3"), ("0224", "7")],
    "04": [("0413", "777"), ("0407", "9"), ("0440", "X")],
    "98": [("9804", " " * 140)],
    "99": [("9902", "999999")],
}


@settings(max_examples=50, suppress_health_check=list(HealthCheck), deadline=None)
@given(declarations(max_insured=3), st.data(), st.sampled_from(["insurer", "vecozo"]))
def test_any_faults_give_a_valid_return_that_recovers_every_verdict(decl, data, mode) -> None:  # type: ignore[no-untyped-def]
    raw = eicodec.dumps(decl)
    lines = [ln.decode() for ln in lines_of(raw)]
    n_faults = data.draw(st.integers(0, 3))
    spec = eicodec.get_spec("AP304")
    for _ in range(n_faults):
        i = data.draw(st.integers(1, len(lines) - 1))
        t = lines[i][:2]
        if t not in FAULTS:
            continue
        rubric, text = data.draw(st.sampled_from(FAULTS[t]))
        f = spec.field(t, rubric)
        lines[i] = lines[i][: f.start - 1] + text + lines[i][f.end:]
    source = join([ln.encode() for ln in lines])
    report = eicodec.validate(source, mode=mode, today=dt.date(2024, 6, 1))
    if mode == "vecozo" and report.status is Status.APPROVED:
        return
    out = eicodec.dumps(eicodec.build_retour(source, report, return_date=RETURN_DATE))
    assert structure_findings(out) == []
    results = eicodec.outcome(source, out)
    for res in results:
        if report.status is Status.REJECTED_FILE:
            assert res.status == "rejected"
            continue
        verdict = report.verdict(res.line)
        approved = {"rejected_with_file"} if mode == "vecozo" else {"approved", "not_returned"}
        expected = {Verdict.APPROVED: approved, Verdict.REJECTED: {"rejected"},
                    Verdict.NOT_ASSESSED: {"not_assessed"}}[verdict]
        assert res.status in expected, (res, verdict)


def test_dumps_and_write_retour_stream_the_same_bytes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data, kw = scenario("claim_rejected")
    report = eicodec.validate(data, today=TODAY)
    out = tmp_path / "r.asc"
    eicodec.write_retour(data, report, out, **kw)
    assert eicodec.dumps_retour(data, report, **kw) == out.read_bytes() == build("claim_rejected")


# ------------------------------------------------------------------ [answer] as data

def _ap304_copy(tmp_path: Path, edit: tuple[str, str] | None = None) -> eicodec.MessageSpec:
    """The shipped AP304 spec and rules copied to *tmp_path*, the rules edited by *edit*."""
    data = eicodec.layouts.data_dir()
    (tmp_path / "AP304v8.0.toml").write_text((data / "AP304v8.0.toml").read_text(encoding="utf-8"), encoding="utf-8")
    rules = (data / "AP304v8.0.rules.toml").read_text(encoding="utf-8")
    if edit is not None:
        assert edit[0] in rules
        rules = rules.replace(edit[0], edit[1], 1)
    (tmp_path / "AP304v8.0.rules.toml").write_text(rules, encoding="utf-8")
    return eicodec.load_spec(tmp_path / "AP304v8.0.toml")


def test_the_return_file_reads_claim_reference_and_amount_from_the_rules_data() -> None:
    answer = eicodec.rules.rules_for(eicodec.get_spec("AP304")).answer
    assert answer is not None
    assert (answer.claim_reference, answer.claim_amount) == ("0445", "0443")
    assert set(answer.header_rewritten) == {"0102", "0103", "0104", "0105", "0106", "0107"}  # (0103/0104: issue #20)


def test_outcome_compares_the_header_rubrics_the_rules_data_does_not_exempt(tmp_path: Path) -> None:
    """An AP305 header carries another software vendor (0106) than the AP304: fine, as the
    shipped [answer] says the return rewrites it; a rules copy that does not exempt 0106
    makes outcome() refuse the pair, naming 0106."""
    data, kw = scenario("claim_rejected")
    ap305 = lines_of(build("claim_rejected"))
    f0106 = eicodec.get_spec("AP305").field("01", "0106")
    ap305[0] = ap305[0][:f0106.start - 1] + b"VEND01" + ap305[0][f0106.end:]
    assert {o.status for o in eicodec.outcome(data, join(ap305))} >= {"rejected"}
    spec = _ap304_copy(tmp_path, ('"0105", "0106", "0107"', '"0105", "0107"'))
    decl = eicodec.read(data, spec=spec)
    with pytest.raises(eicodec.MismatchError, match="0106"):
        eicodec.outcome(decl, join(ap305))


@pytest.mark.parametrize("edit, message", [
    (('claim_reference = "0445"', 'claim_reference = "0203"'), "not a rubric of a claim record"),
    (('claim_amount = "0443"', 'claim_amount = "0445"'), "not an amount with D/C"),
    (('header_rewritten = ["0102"', 'header_rewritten = ["0403"'), "not a rubric of the header"),
    (('claim_amount = "0443"\n', ''), "needs claim_reference and claim_amount"),
])
def test_a_rules_file_with_a_bad_answer_table_is_refused_at_load(tmp_path: Path, edit: tuple[str, str],
                                                                 message: str) -> None:
    with pytest.raises(eicodec.SpecError, match=message):
        eicodec.rules.rules_for(_ap304_copy(tmp_path, edit))


def test_a_declaration_without_a_shipped_return_message_gets_a_clear_error() -> None:
    gz = EXAMPLES / "gz321_valid.asc"
    report = eicodec.validate(gz, today=TODAY)
    with pytest.raises(eicodec.EicodecError, match="no return message for GZ321"):
        eicodec.dumps_retour(gz, report)


# ------------------------------------------------------------------ outcome, streamed

def test_outcome_streams_the_declaration(tmp_path: Path) -> None:
    """iter_outcomes keeps of the AP304 one record at a time: its peak memory does not grow
    with the declaration (the AP305 of an insurer holds only the rejected lines)."""
    import tracemalloc

    peaks = []
    for copies in (1500, 6000):  # (above the reader's read-ahead of about a megabyte)
        path = tmp_path / f"d{copies}.asc"
        path.write_bytes(_many_groups(copies, {4}))
        report = eicodec.validate(path, today=TODAY)
        ap305 = eicodec.dumps_retour(path, report, return_date=RETURN_DATE)
        tracemalloc.start()
        n = sum(1 for o in eicodec.iter_outcomes(path, ap305) if o.status)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert n == report.counts["04"]
    assert peaks[1] < 1.3 * peaks[0], peaks  # four times the records, about the same memory


def test_outcome_finds_returned_lines_in_another_order() -> None:
    """A return file whose detail records come in another order than the declaration's
    (copies all the same) still accounts for every returned claim line."""
    data, _ = scenario("claim_rejected")
    lines = lines_of(build("claim_rejected"))
    blocks: list[list[bytes]] = []  # each record with the comments that follow it
    for ln in lines[1:-1]:
        if ln.startswith(b"98"):
            blocks[-1].append(ln)
        else:
            blocks.append([ln])
    shuffled = join([lines[0], *(ln for block in reversed(blocks) for ln in block), lines[-1]])
    assert shuffled != build("claim_rejected")
    assert eicodec.outcome(data, shuffled) == eicodec.outcome(data, build("claim_rejected"))
    # a comment carries its codes to the record it follows: one moved away is refused
    moved = join([lines[0], *reversed(lines[1:-1]), lines[-1]])
    with pytest.raises(eicodec.ReturnFileError, match="comment record"):
        eicodec.outcome(data, moved)
