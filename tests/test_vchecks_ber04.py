"""The prestatierecord's BER conditions (issue #20 item 2): the v7.2 BER's "Conditie"
texts of the 04 rubrics, mapped by element to v8.0 (specs/AP304v8.0.rules.toml,
"BER conditions"). Each case is the approved INSURER file with one defect."""

from __future__ import annotations

import pytest

import eicodec
from tests.test_validator import INSURER, TODAY, patch


def findings(data: bytes) -> list[tuple[str, int | None, str | None, str]]:
    return [(f.code, f.line, f.rubric, f.rule) for f in eicodec.validate(data, today=TODAY).findings]


def test_the_base_file_is_approved() -> None:
    assert findings(INSURER) == []


@pytest.mark.parametrize(("dosage", "daily", "expected"), [
    ("1", "000000000", [("8072", 3, "0416", "record.dosage_known")]),   # "bij code 1 ... ingevuld"
    ("2", "000001000", [("8072", 3, "0416", "record.dosage_unknown")]),  # "bij codes 2 en 3 ... niet mogelijk"
    ("3", "000000500", [("8072", 3, "0416", "record.dosage_unknown")]),
    ("2", "000000000", []),
    ("3", "000000000", []),
    ("1", "000000001", []),
])
def test_gemiddelde_dagdosering_follows_voorgeschreven_dosering(dosage: str, daily: str,
                                                                 expected: list[tuple[str, int, str, str]]) -> None:
    """BER 0426 (v8.0 0431): code 1 needs a gemiddelde dagdosering (0416), codes 2 and 3
    leave it zeros ("Indien onbekend nullen invullen")."""
    data = patch(patch(INSURER, 3, "0431", dosage), 3, "0416", daily)
    assert findings(data) == expected


def test_a_btw_bedrag_needs_its_btw_percentage() -> None:
    """BER 0435/0436 (v8.0 0441/0442): both filled when BTW is levied; a BTW bedrag says it is."""
    assert findings(patch(INSURER, 4, "0441", "0000")) == [("8016", 4, "0441", "record.vat_percentage")]
    # a percentage without an amount (e.g. rounded to 0 cents) is not refused
    assert findings(patch(INSURER, 4, "0442", "00000000")) == []
    assert findings(patch(patch(INSURER, 4, "0442", "00000000"), 4, "0441", "0000")) == []
