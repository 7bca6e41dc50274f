"""MZ301/MZ302 v1.3 (dental declaration and its return), made by `eicodec spec import`:
read, write, validate, return file, outcome(), tables and anonymise on their own examples."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import eicodec
from eicodec import spec_import as si
from eicodec.errors import EicodecError, SpecError
from eicodec.layouts import data_dir, load_spec
from eicodec.retour import Award, build_retour, dumps_retour

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
EXPORTS = ROOT / "tests" / "fixtures" / "exports"
VALID = EXAMPLES / "mz301_valid.asc"
REJECTED = EXAMPLES / "mz301_claim_rejected.asc"
DAY = dt.date(2008, 4, 20)


@pytest.mark.parametrize("std", ["MZ301", "MZ302"])
def test_the_shipped_spec_is_what_the_importer_makes(std):
    """specs/MZ30xv1.3.toml is the import of Vektis' export with its grammar, untouched."""
    shipped = (data_dir() / f"{std}v1.3.toml").read_text(encoding="utf-8")
    res = si.import_spec(EXPORTS / f"{std}v1.3_BER.tsv", grammar=data_dir() / "grammars" / f"{std}v1.3.grammar.toml")
    body = shipped[shipped.index("# " + std + " v1.3 record layouts"):]
    assert body.split("\n", 1)[1] == res.toml.split("\n", 1)[1]


def test_the_examples_are_what_their_script_makes():
    done = subprocess.run([sys.executable, "tests/fixtures/mz301/make_examples.py", "--check"],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", [VALID, REJECTED], ids=lambda p: p.name)
def test_read_write_round_trip_byte_for_byte(path):
    data = path.read_bytes()
    decl = eicodec.read(path)
    assert decl.spec.name == "MZ301 v1.3"
    assert eicodec.dumps(decl) == data
    assert len(decl.groups) == 2 and decl.groups[0].record.record_type == "02"


def test_validate_the_valid_and_the_rejected_example():
    assert eicodec.validate(VALID).status is eicodec.Status.APPROVED
    rep = eicodec.validate(REJECTED)
    assert rep.status is eicodec.Status.REJECTED_RECORDS
    assert [(f.line, f.rubric, f.code) for f in rep.findings] == [(6, "0403", "0435")]


def test_a_return_file_for_rejected_records_and_outcome_for_every_claim_line():
    rep = eicodec.validate(REJECTED)
    ret = build_retour(REJECTED, rep, return_date=DAY)
    assert ret.spec.name == "MZ302 v1.3"
    data = dumps_retour(REJECTED, rep, return_date=DAY)
    assert data.endswith(b"\r\n") and all(len(line) == 370 for line in data[:-2].split(b"\r\n"))
    # the return validates as an MZ302 of its own
    assert eicodec.validate(data).status is eicodec.Status.APPROVED
    rec = [r for r in ret.iter_records() if r.record_type == "04"]
    assert len(rec) == 1 and rec[0].return_code_1 == "0435"
    assert rec[0].insurer_calculated_amount_dc == "D"  # 0482 is mandatory in MZ302
    assert rec[0].raw[319:328] == "00000000D"  # 0483/0484: nothing awarded
    outs = eicodec.outcome(REJECTED, data)
    claims = [r for r in eicodec.read(REJECTED).iter_records() if r.record_type == "04"]
    assert [o.reference for o in outs] == [c.reference for c in claims]
    assert [o.status for o in outs] == ["not_returned", "rejected", "not_returned", "not_returned"]
    assert outs[1].codes == ("0435",) and outs[1].awarded == 0
    assert [o.declared for o in outs] == [1940, 1520, 3180, -1940]


def test_an_approved_file_with_an_award_is_read_back():
    rep = eicodec.validate(VALID)
    data = dumps_retour(VALID, rep, return_date=DAY, awards={"MZ08-P0003": 3000})
    outs = {o.reference: o for o in eicodec.outcome(VALID, data)}
    assert outs["MZ08-P0003"].awarded == 3000 and outs["MZ08-P0003"].status == "approved"
    assert outs["MZ08-P0001"].status == "not_returned"
    trailer = eicodec.read(data).trailer
    assert trailer.awarded_total_signed == 1940 + 1520 + 3000 - 1940


def test_an_award_with_vat_is_refused_where_the_return_has_no_vat_field():
    rep = eicodec.validate(VALID)
    with pytest.raises(EicodecError, match="no awarded VAT field"):
        dumps_retour(VALID, rep, return_date=DAY, awards={"MZ08-P0003": Award(3000, vat=100)})


def test_tables_and_anonymise():
    pytest.importorskip("pyarrow")
    table = eicodec.to_arrow(REJECTED, ap305=dumps_retour(REJECTED, eicodec.validate(REJECTED), return_date=DAY))
    assert table.num_rows == 4
    assert "bsn" in table.column_names and table.column("bsn").null_count == 4  # masked
    copy = b"".join(eicodec.anonymise(VALID, key=b"k"))
    assert copy != VALID.read_bytes() and b"Visser" not in copy and b"123456782" not in copy
    assert eicodec.validate(copy).status is eicodec.Status.APPROVED


def _copy_specs(tmp_path: Path) -> tuple[Path, Path]:
    for name in ("MZ301v1.3.toml", "MZ301v1.3.rules.toml", "MZ302v1.3.toml"):
        shutil.copy(data_dir() / name, tmp_path / name)
    return tmp_path / "MZ301v1.3.toml", tmp_path / "MZ302v1.3.toml"


def test_outcome_takes_the_specs_as_files_of_your_own(tmp_path):
    p301, p302 = _copy_specs(tmp_path)
    s301, s302 = load_spec(p301), load_spec(p302)
    rep = eicodec.validate(REJECTED, spec=s301)
    data = dumps_retour(REJECTED, rep, return_date=DAY, spec=s302)
    outs = eicodec.outcome(REJECTED, data, spec=s301, return_spec=s302)
    assert [o.status for o in outs][1] == "rejected"
    assert list(eicodec.iter_outcomes(REJECTED, data, spec=s301, return_spec=s302)) == outs


@pytest.mark.parametrize("edit,words", [
    (("[return]\n", "[returns]\n"), "needs a [return] table"),
    (('awarded = "awarded_amount"', 'awarded = "awarded_amont"'), "no field 'awarded_amont'"),
    (('awarded = "awarded_amount"', 'awarded = "tariff"'), "must be an amount with its D/C field"),
    (('codes = ["return_code_1", "return_code_2", "return_code_3"]', 'codes = ["return_code_1", "x"]'),
     "no field 'x'"),
    (('submitted_total = "submitted_total"', 'submitted_total = "claim_count"'), "must be an amount"),
    (('cleared = [', 'colour = ["red"]\ncleared = ['), "unknown keys ['colour']"),
])
def test_a_return_spec_lacking_what_the_builder_needs_is_a_spec_error(tmp_path, edit, words):
    _, p302 = _copy_specs(tmp_path)
    text = p302.read_text(encoding="utf-8")
    assert edit[0] in text
    p302.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(SpecError) as err:
        load_spec(p302)
    assert words in str(err.value)


def test_cli_validate_writes_the_mz302(tmp_path):
    from eicodec.cli import main

    out = tmp_path / "retour.asc"
    assert main(["validate", str(REJECTED), "--retour", str(out), "--today", "2008-04-20"]) == 1
    assert eicodec.read(out).spec.name == "MZ302 v1.3"


def test_cli_retour_spec_writes_the_return_with_a_spec_of_your_own(tmp_path):
    from eicodec.cli import main

    p301, p302 = _copy_specs(tmp_path)
    text = p302.read_text(encoding="utf-8")
    # a user's corrected return spec: the software fields are copied, not cleared
    p302.write_text(text.replace('cleared = ["software_vendor_code", "software_version"]', "cleared = []"),
                    encoding="utf-8")
    out, plain = tmp_path / "retour.asc", tmp_path / "plain.asc"
    args = ["validate", str(REJECTED), "--today", "2008-04-20", "--spec", str(p301)]
    assert main([*args, "--retour", str(out), "--retour-spec", str(p302)]) == 1
    assert main([*args, "--retour", str(plain)]) == 1
    mine, shipped = out.read_bytes().split(b"\r\n")[0], plain.read_bytes().split(b"\r\n")[0]
    assert mine[10:26] == b"123401MZ 1.3    " and shipped[10:26] == b"000000          "


def test_builder_and_reader_name_no_field_of_a_return_message():
    """retour.py and readback.py take every return field from the spec's [return] table:
    none of AP305's or MZ302's return field names, and no rubric, is written in them."""
    import re

    names: set[str] = set()
    for std in ("AP305", "MZ302"):
        spec = eicodec.get_spec(std, "8.0" if std == "AP305" else "1.3")
        assert spec.returns is not None
        ret = spec.returns
        names |= {*ret.codes, *ret.cleared, *ret.claim_fields()}
        names |= {a for a in (ret.insurer_reference, ret.return_date, ret.submitted_total, ret.awarded_total) if a}
    for module in ("retour.py", "readback.py"):
        text = (ROOT / "src" / "eicodec" / module).read_text(encoding="utf-8")
        found = [n for n in sorted(names) if re.search(rf"""["']{n}(_signed|_dc)?["']""", text)]
        assert not found, (module, found)
        assert not re.findall(r"""["'](\d{4})["']""", text), module
