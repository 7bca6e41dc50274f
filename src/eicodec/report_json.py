"""A validation report as JSON: one document (``--format json``) or JSON Lines (``--format jsonl``).

Both shapes are described by JSON Schemas shipped in the package
(``eicodec/schema/report.schema.json`` and ``eicodec/schema/report-line.schema.json``;
:func:`schema` loads them). Names are chosen so Python and JSON mean the same thing:

- ``record_counts``: records per record type in the file (Python: ``report.counts``);
- ``code_counts``: findings per COD954 return code (Python: ``report.code_counts()``).

JSON Lines streams a big report without building it as one string: a first line with
everything but the findings (``"kind": "report"``), then one line per finding
(``"kind": "finding"``), so a consumer can start at once and memory stays flat.

``lang="nl"`` gives the findings' messages in Dutch (see :mod:`eicodec.messages_nl`; the
``lang`` key says which); the default ``"en"`` keeps the engine's English messages.
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .findings import FORMAT, report_to_dict
from .findings import report_summary as _summary
from .messages_nl import check_lang

if TYPE_CHECKING:
    from .findings import Finding, Report

__all__ = ["FORMAT", "finding_to_dict", "iter_report_json", "iter_report_jsonl", "report_to_dict", "schema",
           "unreadable_to_dict"]


def finding_to_dict(finding: Finding, lang: str = "en") -> dict[str, Any]:
    """One finding: code, level, line, record_type, rubric, rule, message (in *lang*),
    meaning, provisional."""
    return finding.to_dict(lang)


def iter_report_json(report: Report, *, file: str | None = None, show_values: bool = False,
                     retour: str | None = None, error: tuple[str, str] | None = None,
                     lang: str = "en") -> Iterator[str]:
    """``json.dumps(report_to_dict(...))`` in pieces, one finding at a time, so a big
    report is never one string or one list of dicts."""
    head = json.dumps(_summary(report, file, show_values, retour, error, lang), ensure_ascii=False)
    yield head[:-1] + ', "findings": ['
    for i, f in enumerate(report.findings):
        yield (", " if i else "") + json.dumps(finding_to_dict(f, lang), ensure_ascii=False)
    yield '], "unassessed": ['
    for i, f in enumerate(report.unassessed):
        yield (", " if i else "") + json.dumps(finding_to_dict(f, lang), ensure_ascii=False)
    yield "]}"


def iter_report_jsonl(report: Report, *, file: str | None = None, show_values: bool = False,
                      retour: str | None = None, error: tuple[str, str] | None = None,
                      lang: str = "en") -> Iterator[str]:
    """The report as JSON Lines (no newline at the end of each): a summary line, then
    one line per finding. Each line is small; nothing holds the whole text."""
    head = _summary(report, file, show_values, retour, error, lang)
    yield json.dumps({"kind": "report", **head}, ensure_ascii=False)
    for f in report.findings:
        yield json.dumps({"kind": "finding", "file": file, **finding_to_dict(f, lang)}, ensure_ascii=False)
    for f in report.unassessed:  # STB §6.4.1: record findings of a file rejected at file level
        yield json.dumps({"kind": "unassessed", "file": file, **finding_to_dict(f, lang)}, ensure_ascii=False)


def unreadable_to_dict(file: str | None, message: str, *, status: str = "unreadable",
                       error_type: str = "UnreadableInputError", show_values: bool = False,
                       lang: str = "en") -> dict[str, Any]:
    """What the CLI prints for a file that got no report: not an EI file, missing, a folder
    (*status* ``unreadable``), or an error while validating it (``failed``). The keys are
    those of a report, null or empty where they do not apply (*message* stays English)."""
    return {"format": FORMAT, "eicodec_version": __version__, "file": file, "status": status,
            "message_type": None, "mode": None, "encoding": None, "fingerprint": None,
            "checked_on": None, "show_values": show_values, "lang": check_lang(lang), "record_counts": {}, "code_counts": {},
            "findings_count": 0, "file_findings_count": 0, "unassessed_count": 0, "retour": None, "error_type": error_type,
            "message": message, "findings": [], "unassessed": []}


def schema(name: str = "report") -> dict[str, Any]:
    """A shipped JSON Schema: ``"report"`` (one document) or ``"report-line"`` (one JSON Lines line)."""
    text = (importlib.resources.files("eicodec") / "schema" / f"{name}.schema.json").read_text(encoding="utf-8")
    result: dict[str, Any] = json.loads(text)
    return result
