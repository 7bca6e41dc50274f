"""The library as a newcomer meets it: its own lookup errors, typed record views, the
``mode`` type, the writer's mandatory-field check, the ``testing`` extra, and the
release metadata (version, LICENSE, CHANGELOG, what the wheel ships)."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import tomllib
import typing
import zipfile
from pathlib import Path

import pytest

import eicodec
from eicodec.typed import VIEWS, AP304Claim, AP304Insured, typed
from eicodec.typegen import field_type, source
from tests.conftest import EXAMPLES, ROOT

TODAY = dt.date(2024, 3, 1)


# ------------------------------------------------------------------ errors

def test_unknown_spec_record_type_and_rubric_raise_our_errors_that_are_still_key_errors() -> None:
    with pytest.raises(eicodec.UnknownSpecError) as spec_err:
        eicodec.get_spec("AP999")
    spec = eicodec.get_spec("AP304")
    with pytest.raises(eicodec.UnknownRecordTypeError) as type_err:
        spec.layout("77")
    rec = eicodec.read(EXAMPLES / "ap304_full.asc").insured[0].claims[0].record
    with pytest.raises(eicodec.UnknownFieldError) as field_err:
        rec["9999"]
    for exc in (spec_err.value, type_err.value, field_err.value):
        assert isinstance(exc, eicodec.EicodecError) and isinstance(exc, KeyError)
        assert not str(exc).startswith("'")  # a readable message, not KeyError's repr
    assert "AP304 v8.0" in str(spec_err.value) and type_err.value.record_type == "77"
    assert field_err.value.record_type == "04" and field_err.value.line == rec.line
    with pytest.raises(KeyError):  # old code keeps working
        rec["no_such_field"]
    with pytest.raises(AttributeError):
        rec.get("no_such_field")
    with pytest.raises(KeyError):
        spec.new("77")


# ------------------------------------------------------------------ types

def test_mode_is_a_literal_of_the_two_modes() -> None:
    assert typing.get_args(eicodec.Mode) == ("insurer", "vecozo")
    hints = typing.get_type_hints(eicodec.validate)
    assert hints["mode"] == eicodec.Mode
    assert typing.get_type_hints(eicodec.Report)["mode"] == eicodec.Mode
    with pytest.raises(ValueError, match="mode"):
        eicodec.validate(EXAMPLES / "ap304_full.asc", mode="insurance")  # type: ignore[arg-type]


def test_typed_views_are_generated_from_the_specs() -> None:
    assert (ROOT / "src" / "eicodec" / "typed.py").read_text(encoding="utf-8") == source(), \
        "run: python -m eicodec.typegen > src/eicodec/typed.py"


def test_typed_view_types_match_the_values_records_really_hold() -> None:
    names = {"str": str, "int": int, "dt.date": dt.date, "dt.time": dt.time}
    checked = 0
    for path in EXAMPLES.glob("*.asc"):
        with eicodec.open_records(path) as stream:
            records = list(stream)
            spec_name = stream.info.spec.name  # type: ignore[union-attr]
        for rec in records:
            lay = rec.layout
            assert lay is not None
            view = VIEWS[(spec_name, lay.type)]
            assert typed(rec, view) is rec
            hints = typing.get_type_hints(view, localns={"RecordLayout": eicodec.RecordLayout})
            for f in lay.fields:
                value = rec.get(f.attr)
                want = hints[f.attr]
                assert str(field_type(f)).startswith(next(k for k, v in names.items() if v in
                                                          (typing.get_args(want) or (want,))))
                assert isinstance(value, typing.get_args(want) or want) or (
                    value is None and type(None) in typing.get_args(want)), (path.name, f.rubric)
                checked += 1
    assert checked > 500


def test_a_type_checker_sees_field_types_and_modes(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api")
    code = tmp_path / "user.py"
    code.write_text(
        "import eicodec\n"
        "from eicodec.typed import AP304Claim, typed\n"
        "rec = next(iter(eicodec.iter_records('x.asc')))\n"
        "claim = typed(rec, AP304Claim)\n"
        "reveal_type(claim.service_date)\n"
        "reveal_type(claim.declared_amount_signed)\n"
        "reveal_type(claim.to_dict())\n"
        "claim.service_date + 1\n"
        "eicodec.validate('x.asc', mode='insurance')\n")
    out, _, status = api.run([str(code), "--no-incremental", "--cache-dir", str(tmp_path / "cache")])
    assert 'Revealed type is "datetime.date"' in out
    assert 'Revealed type is "int | None"' in out
    assert re.search(r'Revealed type is "(builtins\.)?dict\[(builtins\.)?str, Any\]"', out)  # still a Record
    assert 'Unsupported operand types for + ("date" and "int")' in out
    assert "expected \"Literal['insurer', 'vecozo']\"" in out
    assert status == 1 and out.count("error:") == 2


def test_typed_refuses_a_record_of_another_type() -> None:
    rec = next(r for r in eicodec.iter_records(EXAMPLES / "ap304_full.asc") if r.record_type == "04")
    claim = typed(rec, AP304Claim)
    assert isinstance(claim.service_date, dt.date) and claim.declared_amount_signed == 1250
    with pytest.raises(eicodec.UnknownRecordTypeError, match="AP304Insured"):
        typed(rec, AP304Insured)


# ------------------------------------------------------------------ writer check

def _decl_missing_claim_fields() -> eicodec.Declaration:
    decl = eicodec.read(EXAMPLES / "ap304_full.asc")
    claim = decl.insured[0].claims[0].record
    claim.performer_code = None
    claim.information_record = None
    return decl


def test_check_true_refuses_empty_mandatory_fields_naming_them_without_values() -> None:
    decl = _decl_missing_claim_fields()
    missing = eicodec.missing_fields(decl)
    assert [(m.record_type, m.rubric) for m in missing] == [("04", "0409"), ("04", "0418")]
    with pytest.raises(eicodec.EncodeError) as err:
        eicodec.dumps(decl, check=True)
    exc = err.value
    assert exc.record_type == "04" and exc.rubric == "0409" and exc.line == missing[0].record
    assert "0418" in str(exc) and "2 mandatory field(s) empty" in str(exc)
    assert "123456782" not in str(exc) and "Vries" not in str(exc)
    assert exc.missing == missing  # type: ignore[attr-defined]
    with pytest.raises(eicodec.EncodeError):
        eicodec.write(decl, Path(os.devnull), check=True)
    # without check the writer writes it, and the validator finds the same fields
    report = eicodec.validate(eicodec.dumps(decl), today=TODAY)
    found = {(f.record_type, f.rubric) for f in report.findings if "missing" in f.message}
    assert found == {(m.record_type, m.rubric) for m in missing}


def test_check_true_passes_a_complete_declaration_unchanged() -> None:
    decl = eicodec.read(EXAMPLES / "ap304_full.asc")
    assert eicodec.missing_fields(decl) == []
    assert eicodec.dumps(decl, check=True) == (EXAMPLES / "ap304_full.asc").read_bytes()


# ------------------------------------------------------------------ extras and release metadata

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_testing_extra_and_a_clear_message_without_hypothesis() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert any(d.startswith("hypothesis") for d in extras["testing"])
    assert any(d.startswith("jsonschema") for d in extras["test"])
    code = ("import sys; sys.modules['hypothesis'] = None\n"
            "try:\n    import eicodec.testing\nexcept ImportError as e:\n    print(e)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert 'pip install "eicodec[testing]"' in res.stdout


def test_no_dependency_that_nothing_uses() -> None:
    """python-dateutil only parsed --today (now the few unambiguous forms by hand), and no
    build step runs mypy: neither is installed with eicodec."""
    deps = PYPROJECT["project"]["dependencies"]
    assert not any(d.startswith("python-dateutil") for d in deps)
    assert not any("dateutil" in p.read_text(encoding="utf-8") for p in (ROOT / "src" / "eicodec").glob("*.py"))
    assert [r for r in PYPROJECT["build-system"]["requires"] if not r.startswith("hatchling")] == []


def test_version_license_urls_classifiers_and_changelog_agree() -> None:
    project = PYPROJECT["project"]
    assert project["version"] == eicodec.__version__ == "0.3.0"
    assert project["license"] == "MIT" and "LICENSE" in project["license-files"]
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    assert {"Homepage", "Changelog"} <= set(project["urls"])
    assert not any(c.startswith("License ::") for c in project["classifiers"])  # PEP 639: the expression says it
    assert "Typing :: Typed" in project["classifiers"]
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", changelog, re.MULTILINE)
    assert headings[0] == "Unreleased"
    assert headings[1] == f"{eicodec.__version__} - " + headings[1].split(" - ")[-1]  # the newest release first
    assert re.fullmatch(r"\d+\.\d+\.\d+ - \d{4}-\d{2}-\d{2}", headings[1])


def test_the_wheel_ships_specs_examples_schemas_and_license(tmp_path: Path) -> None:
    pytest.importorskip("hatchling", reason="building the wheel here needs hatchling in the environment")
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                          "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    wheel = next(tmp_path.glob("eicodec-0.3.0-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for example in EXAMPLES.glob("*.asc"):
        assert f"eicodec/examples/{example.name}" in names
    assert {"eicodec/schema/report.schema.json", "eicodec/schema/report-line.schema.json",
            "eicodec/specs/AP304v8.0.toml", "eicodec/typed.py", "eicodec/py.typed"} <= names
    assert any(n.endswith("licenses/LICENSE") for n in names)
