"""Standards found where users keep them: EICODEC_SPEC_PATH folders and the entry point
group ``eicodec.specs``; ``eicodec specs`` lists every known standard and its origin;
reading without --spec recognises them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import eicodec
from eicodec.cli import main
from eicodec.errors import UnreadableInputError
from eicodec.layouts import data_dir, known_specs, refresh_specs

ROOT = Path(__file__).resolve().parents[1]
VALID = (ROOT / "examples" / "mz301_valid.asc").read_bytes()


def _own_standard(folder: Path) -> bytes:
    """MZ301 v1.3 renamed XX301 (message code 991) with its rules, and a file of it."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = (data_dir() / "MZ301v1.3.toml").read_text(encoding="utf-8")
    spec = spec.replace('standard = "MZ301"', 'standard = "XX301"').replace(
        'message_code = "176"', 'message_code = "991"').replace('fixed = "176"', 'fixed = "991"')
    (folder / "XX301v1.3.toml").write_text(spec, encoding="utf-8")
    shutil.copy(data_dir() / "MZ301v1.3.rules.toml", folder / "XX301v1.3.rules.toml")
    (folder / "XX301v1.3.grammar.toml").write_text("[message]\nkind = 'declaration'\n", encoding="utf-8")
    return VALID[:2] + b"991" + VALID[5:]


@pytest.fixture(autouse=True)
def _fresh():
    refresh_specs()
    yield
    refresh_specs()


def test_a_standard_in_eicodec_spec_path_is_found_without_spec(tmp_path, monkeypatch, capsys):
    data = _own_standard(tmp_path / "mine")
    monkeypatch.delenv("EICODEC_SPEC_PATH", raising=False)
    with pytest.raises(UnreadableInputError):
        eicodec.read(data)
    monkeypatch.setenv("EICODEC_SPEC_PATH", str(tmp_path / "nowhere") + ":" + str(tmp_path / "mine"))
    rep = eicodec.validate(data)
    assert rep.spec.name == "XX301 v1.3" and rep.status is eicodec.Status.APPROVED
    assert eicodec.get_spec("XX301", "1.3") is rep.spec
    # its own rules file is used: a wrong BSN in a claim line is the rules' 0435
    bad = data.replace(b"04000000000004123456782", b"04000000000004100000009")
    assert [f.code for f in eicodec.validate(bad).findings] == ["0435"]
    assert main(["specs"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("XX301 v1.3"))
    assert "EICODEC_SPEC_PATH" in line and str(tmp_path / "mine") in line


def test_a_folder_in_the_path_wins_over_the_package(tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    text = (data_dir() / "MZ301v1.3.toml").read_text(encoding="utf-8")
    (mine / "MZ301v1.3.toml").write_text(text.replace('title = "Declaratie mondzorg"',
                                                      'title = "Mijn mondzorg"'), encoding="utf-8")
    monkeypatch.setenv("EICODEC_SPEC_PATH", str(mine))
    assert eicodec.read(VALID).spec.title == "Mijn mondzorg"
    origins = {k.spec.name: k.origin for k in known_specs()}
    assert origins["MZ301 v1.3"] == "EICODEC_SPEC_PATH" and origins["AP304 v8.0"] == "eicodec"


def test_an_installed_package_adds_a_standard_by_entry_point(tmp_path, monkeypatch, capsys):
    site = tmp_path / "site"
    data = _own_standard(site / "dentalplugin" / "specs")
    (site / "dentalplugin" / "__init__.py").write_text(
        "from pathlib import Path\nSPECS = Path(__file__).parent / 'specs'\n", encoding="utf-8")
    info = site / "dentalplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dentalplugin\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[eicodec.specs]\ndental = dentalplugin:SPECS\n", encoding="utf-8")
    monkeypatch.delenv("EICODEC_SPEC_PATH", raising=False)
    monkeypatch.syspath_prepend(str(site))
    refresh_specs()
    assert eicodec.validate(data).spec.name == "XX301 v1.3"
    assert main(["specs"]) == 0
    assert any(x.startswith("XX301 v1.3") and "entry point dental" in x
               for x in capsys.readouterr().out.splitlines())
