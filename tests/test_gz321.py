"""GZ321 v1.0 ships as data: spec, code lists, rules, a valid example and negative fixtures.

The validation tests run the data-driven engine on the shipped spec and rules: no Python
knows GZ321. Fixtures the engine does not yet report at their manifest rubric are marked
xfail with the reason (ENGINE_GAPS); fixtures whose condition the rule vocabulary cannot
say carry ``gap`` in the manifest.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

import eicodec
from eicodec.codes import codelist
from tests.conftest import EXAMPLES

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "gz321"
VALID = EXAMPLES / "gz321_valid.asc"
MANIFEST = tomllib.loads((FIXTURES / "manifest.toml").read_text(encoding="utf-8"))
SPEC = eicodec.get_spec("GZ321", "1.0")

# Fixtures the engine does not report at their manifest rubric, and why (engine side).
ENGINE_GAPS: dict[str, str] = {}


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gz321_make_fixtures", FIXTURES / "make_fixtures.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_spec_loads_and_every_record_covers_310_positions() -> None:
    assert SPEC.title == "Declaratie basis en gespecialiseerde GGZ"
    assert SPEC.key == ("195", "01", "00")
    counts = {t: len(lay.fields) for t, lay in SPEC.records.items()}
    assert counts == {"01": 20, "02": 24, "04": 42, "06": 29, "16": 21, "17": 21, "98": 5, "99": 12}
    for lay in SPEC.records.values():
        covered = [p for f in lay.fields for p in range(f.start, f.end + 1)]
        assert covered == list(range(1, 311)), lay.type
        assert not any(f.attr.startswith("f0") for f in lay.fields), lay.type


def test_grammar_is_02_04_and_06_16_17() -> None:
    assert SPEC.top_types == ("02",)
    assert SPEC.children_of("02") == ("04",)
    assert SPEC.children_of("04") == ("06", "16", "17")
    assert (SPEC.layout("04").min, SPEC.layout("06").min, SPEC.layout("16").min) == (1, 1, 0)


def test_amounts_carry_their_own_dc_and_personal_data_is_marked() -> None:
    tariff = SPEC.layout("06")
    assert {f.rubric: f.sign for f in tariff.fields if f.sign} == {"0620": "0621", "0622": "0623", "0625": "0626"}
    assert SPEC.field("99", "9910").sign == "9911"
    personal = {f.rubric for lay in SPEC.records.values() for f in lay.fields if f.personal}
    for rubric in ("0203", "0207", "0210", "0215", "0217", "0403", "0603", "1603", "1703", "9804"):
        assert rubric in personal
    assert "0408" not in personal and "0625" not in personal


def test_linked_code_lists_are_shipped_and_hold_the_allowed_values() -> None:
    for lay in SPEC.records.values():
        for f in lay.fields:
            if f.codelist:
                codes = codelist(f.codelist)
                assert codes, (f.rubric, f.codelist)
                assert all(len(c) <= f.length for c in codes), f.rubric
                if f.allowed:
                    assert set(f.allowed) <= codes, f.rubric


def test_rules_file_names_only_rubrics_and_records_of_the_spec() -> None:
    data = tomllib.loads((ROOT / "specs" / "GZ321v1.0.rules.toml").read_text(encoding="utf-8"))
    rubrics = {f.rubric for lay in SPEC.records.values() for f in lay.fields}
    assert set(data["field_codes"]) <= rubrics
    ids = [r["id"] for r in data["rule"]]
    assert len(ids) == len(set(ids))
    for rule in data["rule"]:
        for key in ("id", "kind", "level", "code", "description", "message", "provisional"):
            assert key in rule, (rule["id"], key)
        named = list(rule.get("rubrics", []))
        named += [w["rubric"] for w in rule.get("when", []) if "rubric" in w]
        for w in rule.get("when", []):
            if "under" in w:  # a record type under the rule's; its rubric is that record's
                assert SPEC.layout(w["record"]).parent == rule["record"], rule["id"]
                assert w.get("rubric", w["record"])[:2] == w["record"], rule["id"]
        if isinstance(rule.get("other"), dict):
            named.append(rule["other"]["rubric"])
        if "ancestor_rubric" in rule:
            named.append(rule["ancestor_rubric"])
            assert rule["ancestor_rubric"][:2] == rule["ancestor"]
        assert set(named) <= rubrics, rule["id"]
        if rule.get("record"):
            assert rule["record"] in SPEC.records, rule["id"]
            assert all(r[:2] == rule["record"] for r in rule.get("rubrics", [])), rule["id"]


def test_valid_example_reads_and_writes_back_byte_exact() -> None:
    data = VALID.read_bytes()
    lines = data.split(b"\r\n")
    assert lines[-1] == b"" and all(len(line) == 310 for line in lines[:-1])
    assert b"\n" not in data.replace(b"\r\n", b"")
    decl = eicodec.read(data, spec=SPEC)
    assert not decl.problems and not decl.unplaced
    assert eicodec.dumps(decl) == data
    assert len(decl.insured) >= 2
    services = [s for ins in decl.insured for s in ins.services]
    assert len(services) >= 4
    kinds = {c.record.record_type for s in services for c in s.children}
    assert kinds == {"06", "16", "17"}
    assert sum(len(n.comments) for n in decl.iter_nodes()) >= 3
    for node in decl.iter_nodes():  # 11-proef, or the 999999999 dummy
        bsn = node.record.bsn
        assert bsn == "999999999" or sum(int(c) * w for c, w in zip(bsn, (9, 8, 7, 6, 5, 4, 3, 2, -1))) % 11 == 0


def test_typed_columns_of_tariff_records_add_up_to_the_trailer_total() -> None:
    from eicodec.columns import columns

    tariffs = columns(VALID, "tariff", spec=SPEC)
    decl = eicodec.read(VALID.read_bytes(), spec=SPEC)
    assert decl.trailer is not None
    total = decl.trailer.total_amount * (1 if decl.trailer.total_amount_dc == "D" else -1)
    assert int(tariffs["declared_amount_signed"].sum()) == total
    assert len(tariffs["line"]) == decl.trailer.tariff_count
    assert set(tariffs["tariff_type"]) <= set(SPEC.field("06", "0610").allowed or ())


def test_fixtures_are_what_the_generator_writes() -> None:
    made = _generator().outputs()
    on_disk = {p.name for p in FIXTURES.glob("*.asc")}
    assert on_disk == {p.name for p in made if p.suffix == ".asc" and p.parent == FIXTURES}
    for path, data in made.items():
        assert path.read_bytes() == data, f"{path.name} is stale: run tests/fixtures/gz321/make_fixtures.py"


def test_manifest_names_every_fixture_and_points_at_its_record() -> None:
    valid = VALID.read_bytes().split(b"\r\n")
    assert set(MANIFEST) == {p.stem for p in FIXTURES.glob("*.asc")}
    for name, entry in MANIFEST.items():
        level, rubric, _ = name.removeprefix("TB_").split("_")
        assert level in ("N2", "N3", "N4", "N5") and entry["rubric"] == rubric
        data = (FIXTURES / f"{name}.asc").read_bytes()
        assert data != VALID.read_bytes()
        lines = data.split(b"\r\n")
        if level == "N5":  # across fields or records: may add a record (a repeated key)
            assert lines[entry["line"] - 1][:2].decode() == rubric[:2], name
        if level in ("N3", "N4") and "gap" not in entry:
            # a content defect changes records in place: same shape as the valid file
            assert len(lines) == len(valid), name
            assert lines[entry["line"] - 1][:2].decode() == rubric[:2], name
            assert lines[entry["line"] - 1] != valid[entry["line"] - 1], name


def test_valid_example_is_approved_with_the_shipped_spec_and_rules() -> None:
    from eicodec.rules import rules_for

    assert Path(rules_for(SPEC).source).name == "GZ321v1.0.rules.toml"  # the data in use
    report = eicodec.validate(VALID, spec=SPEC)
    assert [(f.rubric, f.line, f.message) for f in report.findings] == []
    assert report.status is eicodec.Status.APPROVED
    assert not list((ROOT / "src" / "eicodec").glob("*gz321*"))  # no Python of its own


def test_dates_in_the_future_are_caught_against_today() -> None:
    """BER 0117/0411/0412 'niet in de toekomst': seen from 15 January 2025 the invoice
    (3 February) and the services ending after that day lie in the future."""
    report = eicodec.validate(VALID, spec=SPEC, today=dt.date(2025, 1, 15))
    got = {(f.rubric, f.rule) for f in report.findings}
    assert ("0117", "file.invoice_date_not_future") in got
    # the file is rejected at file level, so record findings are kept apart (STB §6.4.1)
    assert ("0412", "record.service_end_not_future") in {(f.rubric, f.rule) for f in report.unassessed}
    assert ("0114", "file.period_start_not_future") not in got  # 1 January: not in the future


def test_valid_example_is_approved_without_the_rules_file(tmp_path: Path) -> None:
    """A spec alone validates: grammar, layout and code lists with the default codes."""
    spec_copy = tmp_path / "GZ321v1.0.toml"
    spec_copy.write_bytes((ROOT / "specs" / "GZ321v1.0.toml").read_bytes())
    report = eicodec.validate(VALID, spec=eicodec.load_spec(spec_copy))
    assert report.findings == [] and report.status is eicodec.Status.APPROVED


def test_a_tariff_defect_rejects_its_prestatie_not_the_insureds_others() -> None:
    """[structure] units = ["04"]: a 04 with its 06/16/17 is judged as one unit."""
    name = "TB_N4_0603_01"
    report = eicodec.validate(FIXTURES / f"{name}.asc", spec=SPEC)
    assert report.status is eicodec.Status.REJECTED_RECORDS
    bad = MANIFEST[name]["line"]
    assert report.verdict(bad) is eicodec.Verdict.REJECTED and "0435" in report.codes(bad)
    assert report.verdict(bad - 1) is eicodec.Verdict.REJECTED  # its 04
    lines = (FIXTURES / f"{name}.asc").read_bytes().split(b"\r\n")
    other_services = [i + 1 for i, ln in enumerate(lines) if ln[:2] == b"04" and i + 1 != bad - 1]
    assert other_services and all(report.verdict(n) is eicodec.Verdict.APPROVED for n in other_services)


def test_cli_recognises_gz321_from_its_header(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from eicodec.cli import main

    assert main(["validate", str(VALID)]) == 0
    capsys.readouterr()
    assert main(["validate", "--format", "json", str(FIXTURES / "TB_N4_0441_01.asc")]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["message_type"] == "GZ321 v1.0"
    entry = MANIFEST["TB_N4_0441_01"]
    assert [(f["rubric"], f["line"], f["code"]) for f in out["findings"]] == [("0441", entry["line"], entry["code"])]


CAUGHT = [pytest.param(n, marks=pytest.mark.xfail(strict=False, reason=ENGINE_GAPS[n])) if n in ENGINE_GAPS
          else n for n, e in MANIFEST.items() if "gap" not in e]
GAPS = [n for n, e in MANIFEST.items() if "gap" in e]


@pytest.mark.parametrize("name", CAUGHT)
def test_fixture_is_rejected_at_its_rubric(name: str) -> None:
    entry = MANIFEST[name]
    report = eicodec.validate(FIXTURES / f"{name}.asc", spec=SPEC)
    assert report.status is not eicodec.Status.APPROVED
    # (a record finding of a file that is also rejected at file level, e.g. an amount the
    # trailer total no longer matches, is kept apart as unassessed: STB §6.4.1)
    found = [*report.findings, *report.unassessed]
    at = [f for f in found if f.rubric == entry["rubric"]
          and ("line" not in entry or f.line == entry["line"])]
    assert at, [(f.rubric, f.line, f.rule) for f in found]
    if "code" in entry:
        assert entry["code"] in {f.code for f in at}


EXACT = [n for n, e in MANIFEST.items() if "rules" in e]


@pytest.mark.parametrize("name", EXACT)
def test_condition_fixture_breaks_exactly_its_rules(name: str) -> None:
    """Issue #20: a fixture written from one BER condition is caught at its rubric, line
    and code, and by no rule but the ones it lists (no knock-on finding)."""
    entry = MANIFEST[name]
    report = eicodec.validate(FIXTURES / f"{name}.asc", spec=SPEC)
    found = [*report.findings, *report.unassessed]
    assert {f.rule for f in found} == set(entry["rules"]), [(f.rule, f.rubric, f.line) for f in found]
    at = [f for f in found if f.rubric == entry["rubric"] and f.line == entry["line"]]
    assert at and ("code" not in entry or entry["code"] in {f.code for f in at})
    assert report.status is not eicodec.Status.APPROVED


def test_every_n5_fixture_is_exact() -> None:
    """The cross-field fixtures (N5) each name the rules they break (and there are some)."""
    n5 = [n for n in MANIFEST if n.startswith("TB_N5_")]
    assert len(n5) >= 35 and set(n5) <= set(EXACT)


STRUCTURE = [pytest.param(n, marks=pytest.mark.xfail(strict=False, reason=ENGINE_GAPS[n])) if n in ENGINE_GAPS
             else n for n in MANIFEST if n.startswith("TB_N2_")]


@pytest.mark.parametrize("name", STRUCTURE)
def test_structure_fixture_rejects_the_file_at_its_line(name: str) -> None:
    """A structure defect rejects the whole file (and is reported at the manifest's line)."""
    entry = MANIFEST[name]
    report = eicodec.validate(FIXTURES / f"{name}.asc", spec=SPEC)
    assert report.status is eicodec.Status.REJECTED_FILE
    assert any(f.line == entry.get("line") for f in report.findings), \
        [(f.rubric, f.line, f.rule) for f in report.findings]


def test_no_fixture_is_a_known_gap() -> None:
    """Every fixture's condition can be said as data and the engine reports it (issue 11:
    every fixture caught at its rubric)."""
    assert GAPS == [] and ENGINE_GAPS == {}


def _valid_lines() -> list[str]:
    return VALID.read_bytes().decode("utf-8")[:-2].split("\r\n")


def _rules_at(path: Path, line: int) -> set[str]:
    report = eicodec.validate(path, spec=SPEC)
    return {f.rule for f in [*report.findings, *report.unassessed] if f.line == line}


def test_activity_time_unit_of_a_dbc_without_care_activities_is_00(tmp_path: Path) -> None:
    """BER 0432 '04 (= uur) vullen bij DBC en als er zorgactiviteiten zijn, anders met 00':
    a DBC 04 whose 16 is removed keeps 04 -- wrong, by the rule on 'no 16 under the 04'
    (and its 0433 still says the 16's 20 hours: BER 0433 makes it the sum of none, 0)."""
    gen = _generator()
    lines = _valid_lines()
    dbc = next(i for i, ln in enumerate(lines) if ln[:2] == "04")
    act = next(i for i, ln in enumerate(lines) if ln[:2] == "16")
    path = tmp_path / "dbc_without_16.asc"
    path.write_bytes(gen.join(gen.retrailer([ln for i, ln in enumerate(lines) if i != act])))
    assert _rules_at(path, dbc + 1) == {"record.activity_unit_none_without_activities",
                                        "record.activity_time_units_sum"}


def test_activity_time_unit_outside_a_dbc_is_00_even_with_care_activities(tmp_path: Path) -> None:
    """... and an OVP 04 (no 06 of soort 10/11/12) with a 16 and 0432 = 04: wrong, by the
    rule on 'no DBC 06 under the 04' (the rule on 16s holds there)."""
    decl = eicodec.read(VALID.read_bytes(), spec=SPEC)
    ovp = decl.insured[0].services[1]
    assert {c.record.tariff_type for c in ovp.children} == {"02", "04"}
    svc = ovp.record
    svc.activity_time_unit = "04"
    ovp.add(SPEC.new("16", bsn=svc.bsn, uzovi=svc.uzovi, service_code_list=svc.service_code_list,
                     declaration_code=svc.declaration_code, service_start=svc.service_start,
                     service_sequence=svc.service_sequence, activity_code="act_9.1",
                     activity_start=svc.service_start, activity_end=svc.service_end, activity_time_unit="04",
                     activity_time_units=1, debit_credit="D", reference="GGZ25-A0002"))
    path = tmp_path / "ovp_with_16.asc"
    path.write_bytes(eicodec.dumps(decl))
    report = eicodec.validate(path, spec=SPEC)
    found = {(f.rule, f.rubric, f.record_type) for f in [*report.findings, *report.unassessed]}
    assert found == {("record.activity_unit_none_outside_dbc", "0432", "04")}, found


def test_fixture_findings_do_not_depend_on_the_batch_size() -> None:
    """Rules with conditions on the records under a 04 wait until the 04 is closed: a
    batch of 1 or 3 lines (a 04's 06s in later batches) finds what one batch finds."""
    def seen(report: eicodec.Report) -> tuple[object, ...]:
        return (report.status, [(f.rule, f.line, f.rubric, f.code) for f in report.findings],
                [(f.rule, f.line) for f in report.unassessed],
                [(line, o.verdict, o.codes) for line, o in report.outcomes.items()])

    for name in MANIFEST:
        path = FIXTURES / f"{name}.asc"
        whole = seen(eicodec.validate(path, spec=SPEC))
        for n in (1, 3):
            assert seen(eicodec.validate(path, spec=SPEC, batch_lines=n)) == whole, (name, n)


def test_cli_names_the_spec_of_a_file_without_voorlooprecord(capsys: pytest.CaptureFixture[str]) -> None:
    """TB_N2_0101_01 (no 01): unreadable unless the spec is named; then rejected at 0101, line 1."""
    import json

    from eicodec.cli import main
    from eicodec.layouts import data_dir

    path = str(FIXTURES / "TB_N2_0101_01.asc")
    assert main(["validate", path]) == 3
    capsys.readouterr()
    assert main(["validate", "--spec", str(data_dir() / "GZ321v1.0.toml"), "--format", "json", path]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["message_type"] == "GZ321 v1.0" and out["status"] == "rejected_file"
    assert [(f["rubric"], f["line"], f["rule"]) for f in out["findings"]] == [("0101", 1, "file.missing_header")]


def _ber_audit() -> dict[str, tuple[str, list[str]]]:
    """The rules file's BER audit: rubric -> (status, rule ids)."""
    text = (ROOT / "specs" / "GZ321v1.0.rules.toml").read_text(encoding="utf-8")
    block = text.split("# ---- BER audit", 1)[1].split("# ---- end of BER audit", 1)[0]
    out: dict[str, tuple[str, list[str]]] = {}
    for line in block.splitlines():
        words = line.removeprefix("# ").split(" -- ", 1)[0].split()
        if words and len(words[0]) == 4 and words[0].isdigit():
            assert words[0] not in out, words[0]
            out[words[0]] = (words[1], words[2:])
    return out


def test_ber_audit_covers_every_condition_of_the_ber() -> None:
    """Issue #20 item 2: every BER field with a condition is accounted for -- a rule that
    names it, the layout, or data outside the file -- and each rule named exists."""
    import csv

    with (ROOT / "tests" / "fixtures" / "exports" / "GZ321v1.0_BER.tsv").open(encoding="cp1252", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    conditioned = {r["Volgnummer"] for r in rows if r["Constraints/condities"].strip()} | {"0109", "0113"}
    audit = _ber_audit()
    assert set(audit) == conditioned
    data = tomllib.loads((ROOT / "specs" / "GZ321v1.0.rules.toml").read_text(encoding="utf-8"))
    by_id: dict[str, list[dict[str, object]]] = {}
    for rule in data["rule"]:
        by_id.setdefault(rule["id"], []).append(rule)
    builtin = {"grammar", "field", "trailer_count", "trailer_total", "record_id"}
    for rubric, (status, ids) in audit.items():
        assert status in ("rule", "partly", "layout", "outside", "list"), rubric
        assert bool(ids) == (status in ("rule", "partly")), rubric
        for rid in ids:
            assert rid in by_id, (rubric, rid)
            named = {r for rule in by_id[rid] if rule["kind"] not in builtin
                     for r in [*rule.get("rubrics", []), rule.get("report")]}  # type: ignore[list-item]
            assert rubric in named or all(rule["kind"] in builtin for rule in by_id[rid]), (rubric, rid)
        if status == "layout":
            f = SPEC.field(rubric[:2], rubric)
            assert f.fixed or f.allowed or f.codelist or f.kind in ("reserve", "dc") or rubric == "0104", rubric


@pytest.mark.parametrize("rubric,value,code", [("0102", "196", "0010"), ("0103", "02", "0011"), ("0104", "01", "8027")])
def test_a_gz321_header_with_one_wrong_key_part_is_recognised_without_a_spec(rubric: str, value: str, code: str) -> None:
    """GZ321 and MZ301 share the record length 310: a header whose 0102/0103/0104 agree
    with GZ321's in two of three is read as GZ321 and rejected at the wrong rubric
    (before: unreadable without --spec)."""
    f = SPEC.field("01", rubric)
    data = VALID.read_bytes()
    bad = data[:f.start - 1] + value.encode() + data[f.end:]
    report = eicodec.validate(bad)
    assert report.spec.name == "GZ321 v1.0" and report.status is eicodec.Status.REJECTED_FILE
    assert [(x.rubric, x.code) for x in report.findings] == [(rubric, code)]
