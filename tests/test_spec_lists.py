"""Code lists beside a user's spec, and load-time errors for lists and `allowed` values."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import eicodec
from eicodec.errors import SpecError
from eicodec.layouts import data_dir, load_spec

ROOT = Path(__file__).resolve().parents[1]
VALID = ROOT / "examples" / "mz301_valid.asc"


def _spec_copy(tmp_path: Path, old: str = "", new: str = "") -> Path:
    for name in ("MZ301v1.3.toml", "MZ301v1.3.rules.toml"):
        shutil.copy(data_dir() / name, tmp_path / name)
    p = tmp_path / "MZ301v1.3.toml"
    if old:
        text = p.read_text(encoding="utf-8")
        assert old in text
        p.write_text(text.replace(old, new, 1), encoding="utf-8")
    return p


# 0409 INDICATIE SOORT PRESTATIERECORD (COD853) has no shipped list: the example uses "01".
_0409 = 'attr = "service_record_kind", type = "N", start = 67, length = 2, mandatory = "Y", kind = "digits" }'
_0409_LISTED = _0409[:-2] + ', codelist = "COD853" }'


def test_a_code_list_beside_the_spec_is_used(tmp_path):
    p = _spec_copy(tmp_path, _0409, _0409_LISTED)
    (tmp_path / "codelists").mkdir()
    lst = tmp_path / "codelists" / "COD853.csv"
    lst.write_text("code,meaning\n01,prestatie\n", encoding="utf-8")
    spec = load_spec(p)
    assert spec.records["04"].by_rubric["0409"].codelist_path == str(lst)
    assert eicodec.validate(VALID, spec=spec).status is eicodec.Status.APPROVED
    lst.write_text("code,meaning\n02,other\n", encoding="utf-8")
    shutil.copytree(tmp_path, tmp_path.parent / (tmp_path.name + "_b"))  # a fresh path: lists are cached
    spec_b = load_spec(tmp_path.parent / (tmp_path.name + "_b") / "MZ301v1.3.toml")
    rep = eicodec.validate(VALID, spec=spec_b)
    assert {f.rubric for f in rep.findings} == {"0409"}


def test_the_package_list_is_used_when_none_lies_beside_the_spec(tmp_path):
    spec = load_spec(_spec_copy(tmp_path))
    f = spec.records["02"].by_rubric["0208"]
    assert f.codelist == "COD134" and f.codelist_path == str(data_dir() / "codelists" / "COD134.csv")


def test_a_code_list_with_no_file_is_a_spec_error(tmp_path):
    p = _spec_copy(tmp_path, _0409, _0409_LISTED)
    with pytest.raises(SpecError, match="code list 'COD853' has no file COD853.csv") as err:
        load_spec(p)
    assert err.value.rubric == "0409" and err.value.record_type == "04"


@pytest.mark.parametrize("allowed,words", [
    ('["1"]', "cannot stand in this N field of length 2"),       # N: all digits written
    ('["001"]', "cannot stand in this N field of length 2"),
    ('["0A"]', "cannot stand in this N field of length 2"),
    ('[1]', "allowed must be a list of strings"),
])
def test_allowed_values_that_cannot_fit_the_field_are_a_spec_error(tmp_path, allowed, words):
    p = _spec_copy(tmp_path, _0409, _0409[:-2] + f", allowed = {allowed} }}")
    with pytest.raises(SpecError, match=words.replace("(", r"\(")):
        load_spec(p)


def test_allowed_values_that_fit_load(tmp_path):
    spec = load_spec(_spec_copy(tmp_path, _0409, _0409[:-2] + ', allowed = ["01", "02"] }'))
    assert spec.records["04"].by_rubric["0409"].allowed == ("01", "02")


@pytest.mark.parametrize("allowed", ['["EURO"]', '["EU "]', '[""]'])
def test_allowed_an_values_longer_than_the_field_or_padded_are_a_spec_error(tmp_path, allowed):
    old = 'kind = "text", codelist = "COD363" }'
    p = _spec_copy(tmp_path, old, old[:-2] + f", allowed = {allowed} }}")
    with pytest.raises(SpecError, match="cannot stand in this AN field of length 3"):
        load_spec(p)
