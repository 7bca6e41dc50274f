"""The engine's English finding messages in Dutch, for every report that is asked for Dutch.

The words live in ``report_text.toml`` (one table per language): ``messages`` translates a
message by its exact text, ``patterns`` by [regular expression, replacement] pairs tried
in order. A trailing `` (value '...')`` (reports made with ``show_values``) is kept, its
word translated. A message nothing matches stays in English. The HTML report
(:mod:`eicodec.report_html`) and the JSON report (``lang="nl"``) both translate here.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
import tomllib
from typing import Any

LANGUAGES = ("nl", "en")
_VALUE = re.compile(r" \(value '.*'\)$")


@functools.cache
def catalogue() -> dict[str, Any]:
    """All words of ``report_text.toml``, per language."""
    data = (importlib.resources.files("eicodec") / "report_text.toml").read_text(encoding="utf-8")
    return tomllib.loads(data)


def check_lang(lang: str) -> str:
    """*lang* when it is one of :data:`LANGUAGES`; ValueError otherwise."""
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {LANGUAGES}, not {lang!r}")
    return lang


@functools.cache
def _tables(lang: str) -> tuple[dict[str, str], list[tuple[re.Pattern[str], str]]]:
    table = catalogue()[check_lang(lang)]
    rules = table.get("patterns", {}).get("rules", [])
    return dict(table.get("messages", {})), [(re.compile(a), b) for a, b in rules]


def translate(text: str, lang: str = "nl") -> tuple[str, bool]:
    """*text* (an engine message) in *lang*, and whether it is (False: left in English)."""
    if check_lang(lang) == "en":
        return text, True
    messages, patterns = _tables(lang)
    value = _VALUE.search(text)
    core, tail = (text[:value.start()], text[value.start():]) if value else (text, "")
    tail = tail.replace(" (value ", " (waarde ")
    if core in messages:
        return messages[core] + tail, True
    for pattern, replacement in patterns:
        if pattern.match(core):
            return pattern.sub(replacement, core) + tail, True
    return text, False
