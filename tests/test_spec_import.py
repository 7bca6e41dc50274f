"""`eicodec spec import`: Vektis' layout export -> a layout spec (eicodec.spec_import)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from eicodec import spec_import as si
from eicodec.cli import main
from eicodec.errors import SpecError
from eicodec.layouts import get_spec, parse_spec

ROOT = Path(__file__).resolve().parents[1]
EXPORTS = ROOT / "tests" / "fixtures" / "exports"
GRAMMARS = ROOT / "specs" / "grammars"
GZ321_BER = EXPORTS / "GZ321v1.0_BER.tsv"

STRUCTURE = ("element", "name", "type", "start", "length", "mandatory", "kind", "fixed", "sign",
             "codelist", "personal")


def _diff(old, new, keys):
    out = []
    for t, lay in old.records.items():
        nl = new.records[t]
        assert [f.rubric for f in nl.fields] == [f.rubric for f in lay.fields]
        for f in lay.fields:
            g = nl.by_rubric[f.rubric]
            out += [(f.rubric, k) for k in keys if getattr(f, k) != getattr(g, k)]
    return out


def test_gz321_import_equals_the_shipped_layout_but_for_allowed_subsets():
    res = si.import_spec(GZ321_BER, grammar=GRAMMARS / "GZ321v1.0.grammar.toml")
    old, new = get_spec("GZ321", "1.0"), res.spec
    diffs = _diff(old, new, (*STRUCTURE, "attr", "allowed", "provisional"))
    # `allowed` is the value subset the conditions text names ("alleen code '1' of '2'"):
    # prose, not a column; the importer lists it in the rules skeleton instead.
    assert {k for _, k in diffs} == {"allowed"}
    assert {r for r, _ in diffs} == {f.rubric for lay in old.records.values() for f in lay.fields
                                     if f.allowed is not None}
    for t, lay in old.records.items():
        nl = new.records[t]
        assert (nl.name, nl.english, nl.plural, nl.parent, nl.min, nl.max) == (
            lay.name, lay.english, lay.plural, lay.parent, lay.min, lay.max)
    assert (new.key, new.record_length, new.units, new.counts, new.totals) == (
        old.key, old.record_length, old.units, old.counts, old.totals)
    assert ("# 0208 CODE GESLACHT VERZEKERDE (mandatory Y): Hier alleen code '1' (= mannelijk) of "
            "code '2'") in res.rules_skeleton


def test_gz321_import_without_gz321s_own_names_keeps_every_structural_fact():
    """Built only from AP304/AP305's names, the import still equals GZ321's layout in
    positions, types, mandatory, kinds, D/C links, code lists and personal data; what
    differs are the names of elements no other shipped spec has (Dutch-derived) and the
    names AP304 gives shared elements (e.g. COD836 prescriber_code, not referrer_code)."""
    res = si.import_spec(GZ321_BER, grammar=GRAMMARS / "GZ321v1.0.grammar.toml",
                         catalog=si.shipped_catalog(exclude=["GZ321"]))
    old = get_spec("GZ321", "1.0")
    assert _diff(old, res.spec, STRUCTURE) == []
    ap = si.shipped_catalog(exclude=["GZ321"]).attrs_by_element
    for t, lay in old.records.items():
        for f in lay.fields:
            g = res.spec.records[t].by_rubric[f.rubric]
            if g.attr != f.attr:
                assert f.element in ap or g.attr.startswith(si.snake(f.name)[:8]) or g.attr.endswith(
                    ("_dc", "_1", "_2")), (f.rubric, f.attr, g.attr)


@pytest.mark.parametrize("std,length,key", [("MZ301", 310, ("176", "01", "03")),
                                            ("MZ302", 370, ("177", "01", "03"))])
def test_mz_exports_import_from_xls_and_tsv_alike(std, length, key):
    pytest.importorskip("python_calamine")
    grammar = GRAMMARS / f"{std}v1.3.grammar.toml"
    xls = si.import_spec(EXPORTS / f"{std}V0103.xls", grammar=grammar)
    tsv = si.import_spec(EXPORTS / f"{std}v1.3_BER.tsv", grammar=grammar)
    assert xls.spec.record_length == length and xls.spec.key == key
    assert xls.toml.split("\n", 1)[1] == tsv.toml.split("\n", 1)[1]  # first line names the file
    assert list(xls.spec.records) == ["01", "02", "03", "04", "98", "99"]


def test_amounts_get_the_dc_field_that_follows_them_and_dates_their_kind():
    spec = si.import_spec(EXPORTS / "MZ302v1.3_BER.tsv", grammar=GRAMMARS / "MZ302v1.3.grammar.toml").spec
    rec = spec.records["04"]
    assert rec.by_rubric["0426"].sign == "0427" and rec.by_rubric["0427"].kind == "dc"
    assert rec.by_rubric["0481"].sign == "0482" and rec.by_rubric["0483"].sign == "0484"
    assert rec.by_rubric["0424"].kind == "amount" and rec.by_rubric["0424"].sign is None  # tariff: no D/C
    assert rec.by_rubric["0408"].kind == "date"
    assert rec.by_rubric["0403"].personal and not rec.by_rubric["0412"].personal
    assert spec.records["01"].by_rubric["0102"].fixed == "177"
    assert (spec.kind, spec.return_of) == ("return", "MZ301")


def _rows(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _write(tmp_path: Path, lines: list[str]) -> Path:
    out = tmp_path / "MZ301V0103.tsv"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def _mutate(lines: list[str], rubric: str, column: str, value: str) -> list[str]:
    head = lines[0].split("\t")
    col, rub = head.index(column), head.index("Volgnummer")
    out = []
    for line in lines:
        cells = line.split("\t")
        if len(cells) > rub and cells[rub].replace(".0", "").zfill(4) == rubric:
            cells[col] = value
        out.append("\t".join(cells))
    return out


@pytest.mark.parametrize("rubric,column,value,words", [
    ("0408", "Eindpositie", "67", "gap"),  # ends one later: starts one after 0407's end
    ("0425", "Lengte", "3", "gap"),
    ("0210", "Lengte", "26", "overlap"),
    ("0207", "Verplichting", "X", "Verplichting 'X'"),
    ("0203", "Type", "A", "Type 'A'"),
    ("0403", "Lengte", "nine", "must be numbers"),
])
def test_a_broken_export_is_a_spec_error_naming_record_and_rubric(tmp_path, rubric, column, value, words):
    lines = _mutate(_rows(EXPORTS / "MZ301v1.3_BER.tsv"), rubric, column, value)
    with pytest.raises(si.SpecImportError) as err:
        si.import_spec(_write(tmp_path, lines), grammar=GRAMMARS / "MZ301v1.3.grammar.toml")
    assert isinstance(err.value, SpecError)
    msg = str(err.value)
    assert rubric[:2] in msg
    assert any(w in msg for w in words.split(" or "))


def test_missing_columns_and_empty_exports_are_spec_errors(tmp_path):
    p = tmp_path / "x.tsv"
    p.write_text("Recordcode\tVolgnummer\n01\t0101\n", encoding="utf-8")
    with pytest.raises(si.SpecImportError, match="lacks columns"):
        si.import_spec(p)
    p.write_text("nothing here\n", encoding="utf-8")
    with pytest.raises(si.SpecImportError, match="Recordcode"):
        si.import_spec(p)
    with pytest.raises(si.SpecImportError, match="unknown export type"):
        si.import_spec(tmp_path / "x.pdf")


def test_without_a_grammar_the_default_is_flat_marked_for_editing_and_loads():
    res = si.import_spec(EXPORTS / "MZ301v1.3_BER.tsv")
    assert "EDIT: the record grammar is not in the export" in res.toml
    assert all(lay.parent is None for t, lay in res.spec.records.items())
    assert res.spec.records["04"].min == 0
    # the trailer counts follow the trailer's own field names
    assert res.spec.counts["9904"] == ("04",) and "98" in res.spec.counts["9906"]


def test_a_grammar_naming_an_unknown_record_type_or_key_is_refused(tmp_path):
    g = tmp_path / "g.toml"
    g.write_text('[records.05]\nparent = "02"\n', encoding="utf-8")
    with pytest.raises(si.SpecImportError, match="not in the export"):
        si.import_spec(EXPORTS / "MZ301v1.3_BER.tsv", grammar=g)
    g.write_text('[records.04]\nparnet = "02"\n', encoding="utf-8")
    with pytest.raises(si.SpecImportError, match="takes only"):
        si.import_spec(EXPORTS / "MZ301v1.3_BER.tsv", grammar=g)


def test_the_written_toml_is_what_was_checked():
    res = si.import_spec(EXPORTS / "MZ301v1.3_BER.tsv", grammar=GRAMMARS / "MZ301v1.3.grammar.toml")
    again = parse_spec(tomllib.loads(res.toml), "again")
    assert again.records["04"].fields == res.spec.records["04"].fields


def test_cli_spec_import_writes_spec_and_skeleton_and_never_replaces(tmp_path, capsys):
    out = tmp_path / "MZ301v1.3.toml"
    args = ["spec", "import", str(EXPORTS / "MZ301v1.3_BER.tsv"), "-o", str(out),
            "--grammar", str(GRAMMARS / "MZ301v1.3.grammar.toml")]
    assert main(args) == 0
    skeleton = tmp_path / "MZ301v1.3.rules.skeleton.toml"
    assert out.is_file() and skeleton.is_file()
    tomllib.loads(skeleton.read_text(encoding="utf-8"))  # all comments: valid TOML
    assert "# 0104 SUBVERSIENUMMER BERICHTSTANDAARD" in skeleton.read_text(encoding="utf-8")
    before = out.read_bytes()
    assert main(args) == 1
    assert "exists" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main([*args, "--force"]) == 0


def test_cli_specs_lists_the_shipped_standards(capsys):
    assert main(["specs"]) == 0
    out = capsys.readouterr().out
    assert "AP304 v8.0" in out and "GZ321 v1.0" in out


def test_cli_spec_import_never_writes_over_its_input(tmp_path, capsys):
    export = tmp_path / "MZ301v1.3_BER.tsv"
    export.write_bytes((EXPORTS / "MZ301v1.3_BER.tsv").read_bytes())
    before = export.read_bytes()
    assert main(["spec", "import", str(export), "-o", str(export), "--force"]) == 2
    assert "replace an input" in capsys.readouterr().err
    assert export.read_bytes() == before


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_the_same_sheet_as_csv_imports_alike(tmp_path, delimiter):
    import csv

    rows = list(csv.reader((EXPORTS / "MZ301v1.3_BER.tsv").open(encoding="utf-8", newline=""), delimiter="\t"))
    out = tmp_path / "MZ301V0103.csv"
    with out.open("w", encoding="cp1252", newline="", errors="replace") as fh:  # as Excel saves it
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    grammar = GRAMMARS / "MZ301v1.3.grammar.toml"
    a = si.import_spec(out, grammar=grammar)
    b = si.import_spec(EXPORTS / "MZ301v1.3_BER.tsv", grammar=grammar)
    assert a.toml.split("\n", 1)[1] == b.toml.split("\n", 1)[1]
