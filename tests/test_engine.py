"""The engine is data-driven: a spec alone validates (any depth of record grammar), rules
files beside a spec add and override checks, bad rules files are refused at load, and
the engine's modules hold no rubric of any standard."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest

import eicodec
from eicodec.codes import codelist
from eicodec.layouts import FieldSpec, MessageSpec
from eicodec.rules import load_rules
from tests.conftest import EXAMPLES, ROOT, join, lines_of

TODAY = dt.date(2024, 6, 1)
GZ = ROOT / "specs" / "GZ321v1.0.toml"  # the shipped spec; tests copy it away from its rules file
ENGINE_MODULES = ["batches.py", "columns.py", "engine.py", "findings.py", "grammar.py", "kinds.py", "rules.py",
                  "validator.py", "retour.py", "readback.py", "retour_check.py", "tables.py", "masking.py",
                  "anonymise.py", "history.py"]


def test_engine_modules_name_no_rubric() -> None:
    """No 4-digit literal (a rubric like "0403" or a return code) in the engine's modules:
    those live in specs/."""
    for name in ENGINE_MODULES:
        text = (ROOT / "src" / "eicodec" / name).read_text(encoding="utf-8")
        hits = re.findall(r"""["'](\d{4})["']""", text)
        assert not hits, (name, hits)



@pytest.mark.parametrize("name", ["retour.py", "readback.py", "retour_check.py"])
def test_the_return_file_builder_and_reader_name_no_record_type(name: str) -> None:
    """retour.py (building a return file), readback.py and retour_check.py (reading and
    verifying one) take claim, insured, header, trailer and comment records from the
    spec's grammar and [answer] data: no kenmerk literal such as "04"."""
    text = (ROOT / "src" / "eicodec" / name).read_text(encoding="utf-8")
    assert not re.findall(r"""["'](0[1-9]|[1-9]\d)["']""", text)


def _value(f: FieldSpec) -> str:
    """A valid text for field *f* (the first listed code where there is a list)."""
    if f.fixed is not None:
        return f.fixed
    allowed = f.allowed or (sorted(codelist(f.codelist) or ()) if f.codelist else None)
    if allowed:
        return allowed[0].rjust(f.length, "0") if f.type == "N" else allowed[0].ljust(f.length)
    if f.kind == "date":
        return "20240115"
    if f.kind == "time":
        return "1200"
    if f.kind == "dc":
        return "D"
    if f.kind == "reserve":
        return " " * f.length
    if f.type == "N":
        return "1".rjust(f.length, "0")
    return "X".ljust(f.length) if f.mandatory == "Y" else " " * f.length


def record(spec: MessageSpec, t: str, rid: int = 0, **texts: str) -> str:
    lay = spec.records[t]
    parts = []
    for f in lay.fields:
        text = texts.get(f.rubric, _value(f))
        if f.element == "NUM040" and rid:
            text = str(rid).rjust(f.length, "0")
        parts.append(text)
    raw = "".join(parts)
    assert len(raw) == lay.length
    return raw


def gz_file(spec: MessageSpec, body: list[str]) -> bytes:
    """A GZ321 file of header, *body* and a trailer whose counts and totals fit."""
    lines = [record(spec, spec.header, **{"0104": spec.subversion_number}), *body]
    recs = list(eicodec.iter_records(join([ln.encode() for ln in lines]) + record(spec, spec.trailer).encode()
                                     + b"\r\n", spec=spec))
    trailer = eicodec.writer.compute_trailer(spec, recs[:-1], recs[-1])
    return join([ln.encode() for ln in lines] + [trailer.raw.encode()])


@pytest.fixture(scope="module")
def gz(tmp_path_factory: pytest.TempPathFactory) -> MessageSpec:
    """The GZ321 spec alone (a copy without the rules file that lies beside the shipped one)."""
    path = tmp_path_factory.mktemp("gz") / GZ.name
    shutil.copy(GZ, path)
    return eicodec.load_spec(path)


def test_a_spec_alone_validates_any_depth(gz: MessageSpec) -> None:
    body = [record(gz, "02", 1), record(gz, "04", 2), record(gz, "06", 3), record(gz, "16", 4),
            record(gz, "04", 5), record(gz, "06", 6)]
    report = eicodec.validate(gz_file(gz, body), spec=gz, today=TODAY)
    assert report.status is eicodec.Status.APPROVED, report.findings
    # a 06 without its 04 is out of place; one level deeper than AP304 knows
    bad = [record(gz, "02", 1), record(gz, "06", 3), record(gz, "04", 2), record(gz, "06", 4)]
    report = eicodec.validate(gz_file(gz, bad), spec=gz, today=TODAY)
    order = [f for f in report.findings if f.rule == "file.order"]
    assert [(f.line, f.message) for f in order] == [(3, "record 06 outside a record 04")]
    assert report.status is eicodec.Status.REJECTED_FILE
    assert order[0].provisional  # a default code: no rules file says otherwise


def test_a_spec_alone_checks_fields_at_depth_with_default_codes(gz: MessageSpec) -> None:
    f = gz.field("06", "0608")
    body = [record(gz, "02", 1), record(gz, "04", 2), record(gz, "06", 3, **{"0608": "20241301"})]
    report = eicodec.validate(gz_file(gz, body), spec=gz, today=TODAY)
    hits = [x for x in report.findings if x.rubric == f.rubric]
    assert [(x.line, x.rule, x.code, x.provisional) for x in hits] == [(4, "record.field", "0001", True)]
    assert report.verdict(4) is eicodec.Verdict.REJECTED
    # the unit (the 04 with its 06) is rejected, the insured is co-returned
    assert report.verdict(3) is eicodec.Verdict.REJECTED and report.codes(2) == ("0200",)


def test_rules_beside_the_spec_add_and_override(gz: MessageSpec, tmp_path: Path) -> None:
    spec_path = tmp_path / "GZ321v1.0.toml"
    shutil.copy(GZ, spec_path)
    (tmp_path / "GZ321v1.0.rules.toml").write_text('''
[fallback_codes]
"06" = "0755"

[[rule]]
id = "file.order"
code = "8026"

[[rule]]
id = "record.insured_bsn"
kind = "equal_to_ancestor"
code = "0435"
record = "06"
rubrics = ["0603"]
ancestor = "04"
ancestor_rubric = "0403"
description = "BSN of a 06 equals that of its 04."
message = "BSN differs from that of the prestatierecord"
''', encoding="utf-8")
    spec = eicodec.load_spec(spec_path)
    body = [record(spec, "02", 1), record(spec, "04", 2), record(spec, "06", 3, **{"0603": "000000002"}),
            record(spec, "06", 4, **{"0608": "20241301"})]
    report = eicodec.validate(gz_file(spec, body), spec=spec, today=TODAY)
    got = {(x.line, x.rule, x.rubric, x.code, x.provisional) for x in report.findings}
    assert (4, "record.insured_bsn", "0603", "0435", False) in got
    assert (5, "record.field", "0608", "0755", True) in got
    # passed in, the same rules apply to a spec in another folder
    (tmp_path / "other").mkdir()
    shutil.copy(GZ, tmp_path / "other" / GZ.name)
    report2 = eicodec.validate(gz_file(spec, body), spec=eicodec.load_spec(tmp_path / "other" / GZ.name), today=TODAY,
                               rules=tmp_path / "GZ321v1.0.rules.toml")
    assert {(x.line, x.rule, x.code) for x in report2.findings} == {(a, b, d) for a, b, _, d, _ in got}


@pytest.mark.parametrize(("rule", "says"), [
    ('id = "x"\nkind = "no_such_kind"\ncode = "0001"\nrecord = "04"\nrubrics = ["0403"]', "unknown kind"),
    ('id = "x"\nkind = "required"\ncode = "0001"\nrecord = "07"\nrubrics = ["0403"]', "unknown record type"),
    ('id = "x"\nkind = "required"\ncode = "0001"\nrecord = "04"\nrubrics = ["0499"]', "unknown rubric"),
    (('id = "x"\nkind = "required"\ncode = "0001"\nrecord = "04"\nrubrics = ["0403"]\n'
     'when = [ { rubric = "0777", filled = true } ]'), "unknown rubric"),
    (('id = "x"\nkind = "compare"\ncode = "0001"\nrecord = "04"\nrubrics = ["0410"]\nop = "=<"\n'
     'other = "today"'), "op must be"),
    ('id = "x"\nkind = "required"\ncode = "0001"\nrecord = "04"\nrubrics = ["0403"]\ncolour = "red"',
     "unknown keys"),
    ('id = "x"\nkind = "required"\ncode = "9999"\nrecord = "04"\nrubrics = ["0403"]', "not in the COD954"),
    ('id = "record.field"\nkind = "required"\ncode = "0001"\nrecord = "04"\nrubrics = ["0403"]',
     "built-in check"),
])
def test_bad_rules_are_refused_at_load(rule: str, says: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.rules.toml"
    path.write_text(f"[[rule]]\n{rule}\n", encoding="utf-8")
    with pytest.raises(eicodec.SpecError, match=says):
        load_rules(path, eicodec.get_spec("AP304"))
    with pytest.raises(eicodec.SpecError):
        eicodec.validate(EXAMPLES / "ap304_full.asc", rules=path, today=TODAY)


def test_a_rule_reads_the_header_and_its_ancestors(tmp_path: Path) -> None:
    """A rules file of one's own: a compare against a header date, a value_in with a
    condition on the header, filled_together -- each kind from data alone."""
    path = tmp_path / "AP304v8.0.rules.toml"
    path.write_text('''
[[rule]]
id = "mine.birth_before_period"
kind = "compare"
code = "8004"
record = "02"
rubrics = ["0207"]
op = "<"
other = { rubric = "0114" }
message = "born after the period began"

[[rule]]
id = "mine.names"
kind = "filled_together"
code = "0317"
record = "02"
rubrics = ["0212", "0213"]
message = "name code 02 and name 02 go together"
''', encoding="utf-8")
    data = (EXAMPLES / "ap304_insurer.asc").read_bytes()
    lines = lines_of(data)
    spec = eicodec.get_spec("AP304")
    i = next(k for k, ln in enumerate(lines) if ln.startswith(b"02"))
    f = spec.field("02", "0207")
    text = lines[i].decode()
    lines[i] = (text[:f.start - 1] + "20240115" + text[f.end:]).encode()
    report = eicodec.validate(join(lines), rules=path, today=TODAY)
    assert [(x.line, x.rule, x.rubric) for x in report.findings if x.rule.startswith("mine.")] == [
        (i + 1, "mine.birth_before_period", "0207")]
    # the rules file replaced the shipped one: its own checks only, besides the built-in ones
    assert not any(x.rule == "record.claim_insured" for x in report.findings)


def test_findings_are_stored_compactly_and_behave_like_a_list() -> None:
    import pickle

    import numpy as np

    from eicodec.findings import Finding, Findings

    items = [Finding("0435", "record", 7, "04", "0403", "record.claim_insured", "BSN differs", False),
             Finding("0801", "file", None, None, None, "file.order", "x", True),
             Finding("0435", "record", 3, "04", "0403", "record.claim_insured", "BSN differs", False)]
    store = Findings(items)
    assert store == items and list(store) == items and len(store) == 3 and store[-1] == items[2]
    assert store[1:] == items[1:] and store != items[:2] and store.levels() == {"record", "file"}
    assert store.reordered(np.array([2, 0, 1])) == [items[2], items[0], items[1]]
    assert pickle.loads(pickle.dumps(store)) == items
    assert len(store._combos) == 2  # the same combination is kept once
    # moving the findings of one level out keeps the others in order, in place (seeded,
    # across the slices the store is compacted in)
    rng = np.random.default_rng(31)
    levels = rng.choice(["file", "record"], 150_000, p=[0.1, 0.9])
    big = Findings()
    for k, level in enumerate(levels.tolist()):
        big.add(big.combo("0435", level, "04", "0403", "r", f"m{k % 7}", False), k + 1)
    want = [(f.line, f.level, f.message) for f in big]
    moved = big.take_out("file")
    assert [(f.line, f.level, f.message) for f in moved] == [w for w in want if w[1] == "file"]
    assert [(f.line, f.level, f.message) for f in big] == [w for w in want if w[1] == "record"]
    with pytest.raises(ValueError):
        Findings().combo("12", "record", None, None, "x", "m", False)


def test_kinds_empty_any_filled_pattern_and_kenmerk_rubrics(tmp_path: Path) -> None:
    path = tmp_path / "AP304v8.0.rules.toml"
    path.write_text('''
name_kenmerk = true

[[rule]]
id = "mine.no_prefix_without_name"
kind = "empty"
code = "0317"
record = "02"
rubrics = ["0214"]
when = [ { rubric = "0213", filled = false } ]
message = "voorvoegsel (02) without naam (02)"

[[rule]]
id = "mine.postcode_or_foreign"
kind = "any_filled"
code = "0317"
record = "02"
rubrics = ["0217", "0218"]
message = "no postcode at all"

[[rule]]
id = "mine.postcode_pattern"
kind = "pattern"
code = "0317"
record = "02"
rubrics = ["0217"]
pattern = "[1-9][0-9]{3}[A-Z]{2}"
message = "postcode is not NNNNAA"
''', encoding="utf-8")
    spec = eicodec.get_spec("AP304")
    lines = lines_of((EXAMPLES / "ap304_insurer.asc").read_bytes())
    i = next(k for k, ln in enumerate(lines) if ln.startswith(b"02"))

    def put(text: str, rubric: str, value: str) -> str:
        f = spec.field("02", rubric)
        return text[:f.start - 1] + value.ljust(f.length) + text[f.end:]

    text = lines[i].decode()
    text = put(put(put(text, "0213", ""), "0214", "van"), "0217", "35x1AB")
    lines[i] = text.encode()
    report = eicodec.validate(join(lines[:-1]), rules=path, today=TODAY)  # (no trailer either)
    # (no trailer: a file-level rejection, so record findings are kept apart, STB §6.4.1)
    mine = [(x.line, x.rule, x.rubric) for x in report.unassessed if x.rule.startswith("mine.")]
    assert mine == [(i + 1, "mine.no_prefix_without_name", "0214"), (i + 1, "mine.postcode_pattern", "0217")]
    text = put(put(text, "0217", ""), "0218", "")
    lines[i] = text.encode()
    report = eicodec.validate(join(lines[:-1]), rules=path, today=TODAY)
    assert (i + 1, "mine.postcode_or_foreign", "0217") in {(x.line, x.rule, x.rubric) for x in report.unassessed}
    missing = [x for x in report.findings if x.rule == "file.missing_trailer"]
    assert [(x.line, x.rubric) for x in missing] == [(None, "9901")]
    # without name_kenmerk (the shipped AP304 rules) structural findings name no rubric
    plain = eicodec.validate(join(lines[:-1]), today=TODAY)
    assert [(x.line, x.rubric) for x in plain.findings if x.rule == "file.missing_trailer"] == [(None, None)]


# ------------------------------------------------------------------ issue #26: flat memory

def test_keys_spill_to_buckets_and_find_the_same_repeats() -> None:
    """Keys beyond the store's limit go to a temporary file in buckets; the repeats found
    are those of all keys, whether kept in memory or not."""
    import numpy as np

    from eicodec.engine import _Keys

    rng = np.random.default_rng(26)
    keys = rng.integers(-(1 << 63), (1 << 63) - 1, 5000, dtype=np.int64)
    keys[4000:4100] = keys[:100]  # 100 repeated keys
    keys[4100] = keys[4000]  # one of them thrice
    want = np.unique(keys[4000:4100])
    for limit in (1 << 19, 64):
        store = _Keys()
        store.LIMIT = limit
        for part in np.array_split(keys, 37):
            store.add(part)
        assert store.spilled() == (limit == 64)
        assert len(store) == len(keys)
        assert np.array_equal(np.sort(store.repeated()), want)


def _repeating_files() -> list[tuple[str, bytes, dt.date]]:
    """Files where something repeats: copied claim lines (identificaties, references and
    whole records), a non-numeric identificatie with its copy, a repeated reference alone
    (record level only), a copied insured, a GZ321 file whose ids start again."""
    lines = lines_of((EXAMPLES / "ap304_full.asc").read_bytes())
    body = lines[1:-1]
    copied = [lines[0], *body, *body[1:4], lines[-1]]
    renamed = [*copied]
    k = next(i for i, line in enumerate(renamed) if line.startswith(b"04"))
    renamed[k] = renamed[k][:2] + b"X" + renamed[k][3:]
    renamed.insert(k + 1, renamed[k])
    spec = eicodec.get_spec("AP304")
    ref = spec.records["04"].by_rubric["0445"].slice
    claims = [i for i, line in enumerate(lines) if line.startswith(b"04")]
    same_ref = [*lines]
    first, other = same_ref[claims[0]], same_ref[claims[-1]]
    same_ref[claims[-1]] = other[:ref.start] + first[ref] + other[ref.stop:]
    insured = next(i for i, line in enumerate(lines) if line.startswith(b"02"))
    twice = [*lines[:-1], lines[insured], lines[-1]]
    gz = lines_of((EXAMPLES / "gz321_valid.asc").read_bytes())
    return [("copied", join(copied), TODAY), ("renamed", join(renamed), TODAY), ("same_ref", join(same_ref), TODAY),
            ("insured_twice", join(twice), TODAY),
            ("gz321_ids_again", join([gz[0], *gz[1:-1], *gz[1:-1], gz[-1]]), dt.date(2025, 6, 1))]


@pytest.mark.parametrize(("name", "data", "today"), _repeating_files(), ids=lambda v: v if isinstance(v, str) else "")
def test_looking_for_repeats_alone_gives_the_report_of_checking_again(
        name: str, data: bytes, today: dt.date, monkeypatch: pytest.MonkeyPatch) -> None:
    """When something repeats, the engine first looks again for what repeats only; the
    report (findings, unassessed ones, verdicts, the answer) is the one a whole second
    check gives, in both modes and batch sizes."""
    from eicodec import engine

    for mode in ("insurer", "vecozo"):
        for size in (3, 4096):
            got = eicodec.validate(data, today=today, mode=mode, batch_lines=size)
            with monkeypatch.context() as m:
                m.setattr(engine, "_repeats_first", lambda _known: False)
                want = eicodec.validate(data, today=today, mode=mode, batch_lines=size)
            assert got.findings, name  # (something repeats)
            assert (got.status, list(got.findings), list(got.unassessed), got.counts) == (
                want.status, list(want.findings), list(want.unassessed), want.counts), (name, mode, size)
            assert [(n, got.outcomes[n]) for n in got.outcomes] == [(n, want.outcomes[n]) for n in want.outcomes]
            if got.spec.name == "AP304":
                assert eicodec.dumps_retour(data, got) == eicodec.dumps_retour(data, want)


def test_findings_do_not_depend_on_where_the_keys_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """Identical records (found through their identificatie), repeated references and
    identificaties: the same report with every key in memory and with keys spilled to the
    temporary file after a few, in batches of any size."""
    from eicodec import engine

    lines = lines_of((EXAMPLES / "ap304_full.asc").read_bytes())
    body = lines[1:-1]
    copied = [lines[0], *body, *body[1:4], lines[-1]]  # identical copies: ids, refs, whole records repeat
    renamed = [*copied]
    k = next(i for i, line in enumerate(renamed) if line.startswith(b"04"))
    renamed[k] = renamed[k][:2] + b"X" + renamed[k][3:]  # an identificatie that is no number ...
    renamed.insert(k + 1, renamed[k])  # ... and an identical copy of that claim line
    for data in (join(copied), join(renamed)):
        want = eicodec.validate(data, today=TODAY)
        assert "file.identical_record" in {f.rule for f in want.findings}
        if data == join(renamed):
            assert any(f.rule == "file.identical_record" and f.line == k + 2 for f in want.findings)
        monkeypatch.setattr(engine._Keys, "LIMIT", 2)
        for size in (3, 4096):
            got = eicodec.validate(data, today=TODAY, batch_lines=size)
            assert list(got.findings) == list(want.findings)
            assert dict(got.outcomes.items()) == dict(want.outcomes.items())
        monkeypatch.undo()


def test_a_group_keeps_its_records_in_arrays() -> None:
    """A top-level group holds (line, record type, unit) per record without a tuple each."""
    from eicodec.grammar import Group

    g = Group(2, "02", 0)
    g.append(3, "04", 3)
    g.append(4, "98", 3)
    g.append(5, "04", 5)
    assert len(g) == 4
    assert list(g) == [(2, "02", 0), (3, "04", 3), (4, "98", 3), (5, "04", 5)]
    assert g.lines.itemsize == 8 and g.types.itemsize == 1


def test_line_numbers_beyond_the_stores_limit_are_refused_not_wrapped() -> None:
    """Findings and outcomes keep line numbers as int32: a line past the limit is an
    UnreadableInputError naming it, never a wrapped (negative) number."""
    import numpy as np

    from eicodec.errors import UnreadableInputError
    from eicodec.findings import LINE_LIMIT, Findings, Outcomes, Verdict

    found, outs = Findings(), Outcomes()
    combo = found.combo("0001", "record", "04", "0401", "record.field", "x", False)
    found.add(combo, LINE_LIMIT)
    outs.put(LINE_LIMIT, "04", Verdict.APPROVED, ("8001",))
    assert found.line_numbers().tolist() == [LINE_LIMIT] and list(outs) == [LINE_LIMIT]
    for call in (lambda: found.add(combo, LINE_LIMIT + 1),
                 lambda: found.add_many(combo, np.array([5, LINE_LIMIT + 1], np.int64)),
                 lambda: outs.put(LINE_LIMIT + 1, "04", Verdict.APPROVED, ("8001",)),
                 lambda: Outcomes().put_many(np.array([1, LINE_LIMIT + 7], np.int64),
                                             [("04", Verdict.APPROVED, ("8001",))], np.array([0, 0]))):
        with pytest.raises(UnreadableInputError) as err:
            call()
        assert err.value.line is not None and err.value.line > LINE_LIMIT


@pytest.mark.parametrize("batch_lines", [3, 100, 8192])
def test_a_finding_without_a_line_comes_last(batch_lines: int) -> None:
    """A file without sluitrecord: that finding (no line) comes after those of lines,
    whatever the batch size (a line-less finding sorts as the largest line)."""
    data = (ROOT / "examples" / "ap304_full.asc").read_bytes().split(b"\r\n")[:-2]
    data.insert(1, data[0])  # (a second voorlooprecord: a finding with a line)
    report = eicodec.validate(b"".join(line + b"\r\n" for line in data), today=dt.date(2024, 6, 1),
                              batch_lines=batch_lines)
    found = list(report.findings) + list(report.unassessed or [])
    assert found[-1].rule == "file.missing_trailer" and found[-1].line is None
    assert len(found) > 1 and all(f.line is not None for f in found[:-1])


def test_a_rule_reads_a_field_past_the_column_major_cut(tmp_path: Path) -> None:
    """AP304's 02 ends in a long reserve, which the engine does not copy column-major
    (FieldChecks.cut): a rule that reads it anyway, on its own record and as an
    ancestor's field, sees its characters (the reserve check itself is off here)."""
    path = tmp_path / "AP304v8.0.rules.toml"
    path.write_text('''
[[rule]]
id = "file.reserve"
kind = "field"
level = "file"
code = "0003"
modes = []

[[rule]]
id = "mine.reserve_02"
kind = "empty"
code = "0317"
record = "02"
rubrics = ["0280"]
message = "02 reserve not empty"

[[rule]]
id = "mine.reserve_under_02"
kind = "equal_to_ancestor"
code = "0317"
record = "04"
rubrics = ["0480"]
ancestor = "02"
ancestor_rubric = "0280"
message = "04 reserve differs from its 02's"
''', encoding="utf-8")
    lines = lines_of((EXAMPLES / "ap304_insurer.asc").read_bytes())
    spec = eicodec.get_spec("AP304")
    f = spec.field("02", "0280")
    i = next(k for k, ln in enumerate(lines) if ln.startswith(b"02"))
    under = [k + 1 for k in range(i + 1, len(lines)) if lines[k].startswith(b"04")
             and not any(lines[j].startswith(b"02") for j in range(i + 1, k))]
    text = lines[i].decode()
    lines[i] = (text[:f.end - 1] + "X" + text[f.end:]).encode()  # (its last character)
    report = eicodec.validate(join(lines), rules=path, today=TODAY)
    mine = [(x.line, x.rule) for x in report.findings if x.rule.startswith("mine.")]
    assert (i + 1, "mine.reserve_02") in mine
    assert sorted(ln for ln, r in mine if r == "mine.reserve_under_02") == under and under
