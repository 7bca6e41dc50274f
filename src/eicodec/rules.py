"""The rule registry: every check, its stable id, level, rubrics and COD954 code.

Loaded from ``specs/<standard>v<version>.rules.toml`` next to the layout spec. The
validator asks this registry which code a finding carries, so correcting a code (for
instance once the Vektis RBC is available) is an edit of that data file.
"""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

import attrs

from .errors import SpecError
from .layouts import MessageSpec, data_dir


@attrs.frozen
class Rule:
    """One check. ``code`` is a COD954 code, or ``"per rubric"`` for field checks."""

    id: str
    level: str
    code: str
    description: str
    rubrics: tuple[str, ...] = ()
    modes: tuple[str, ...] = ("insurer", "vecozo")
    provisional: bool = False


@attrs.frozen
class RuleSet:
    """The rules and code choices for one message version."""

    rules: Mapping[str, Rule]
    field_codes: Mapping[str, str]
    provisional_rubrics: frozenset[str]
    fallback_codes: Mapping[str, str]
    roles: Mapping[str, str]
    file_code_order: tuple[str, ...]
    payee_rubrics: Mapping[str, str] = attrs.field(factory=dict)
    source: str = ""

    def rule(self, rule_id: str) -> Rule:
        return self.rules[rule_id]

    def field_code(self, rubric: str, record_type: str) -> tuple[str, bool]:
        """(code, provisional) for a field check on *rubric*."""
        code = self.field_codes.get(rubric)
        if code is not None:
            return code, rubric in self.provisional_rubrics
        return self.fallback_codes.get(record_type, "0001"), True

    def file_code_rank(self, code: str) -> int:
        """Position of *code* in the header-slot order (unknown codes last)."""
        try:
            return self.file_code_order.index(code)
        except ValueError:
            return len(self.file_code_order)


def rules_path(spec: MessageSpec) -> Path:
    return data_dir() / f"{spec.standard}v{spec.version}.rules.toml"


def load_rules(path: str | os.PathLike[str]) -> RuleSet:
    """Load a rules file (e.g. a corrected copy of the shipped one)."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"cannot load rules: {exc}", spec=str(p)) from None
    rules: dict[str, Rule] = {}
    for raw in data.get("rule", []):
        try:
            rule = Rule(id=raw["id"], level=raw["level"], code=raw["code"],
                        description=raw["description"], rubrics=tuple(raw.get("rubrics", ())),
                        modes=tuple(raw.get("modes", ("insurer", "vecozo"))),
                        provisional=bool(raw.get("provisional", False)))
        except KeyError as exc:
            raise SpecError(f"rule lacks {exc}", spec=p.name) from None
        if rule.level not in ("file", "record"):
            raise SpecError(f"rule {rule.id}: level must be file or record", spec=p.name)
        if rule.id in rules:
            raise SpecError(f"rule {rule.id} defined twice", spec=p.name)
        rules[rule.id] = rule
    return RuleSet(
        rules=rules, field_codes=dict(data.get("field_codes", {})),
        provisional_rubrics=frozenset(data.get("provisional", ())),
        fallback_codes=dict(data.get("fallback_codes", {})), roles=dict(data.get("roles", {})),
        file_code_order=tuple(data.get("file_code_order", ())),
        payee_rubrics=dict(data.get("payee_rubrics", {})), source=str(p),
    )


@functools.cache
def rules_for(spec: MessageSpec) -> RuleSet:
    """The shipped rules of *spec* (AP304 v8.0)."""
    path = rules_path(spec)
    if not path.is_file():
        raise SpecError("no rules file for this message", spec=spec.name)
    return load_rules(path)


def rule_table(spec: MessageSpec) -> str:
    """The rule registry as a Markdown table (for the README)."""
    rs = rules_for(spec)
    lines = ["| rule | level | code | rubrics | modes | description |",
             "|---|---|---|---|---|---|"]
    for r in rs.rules.values():
        code = r.code + (" (provisional)" if r.provisional else "")
        lines.append(f"| `{r.id}` | {r.level} | {code} | {', '.join(r.rubrics)} | "
                     f"{', '.join(r.modes)} | {r.description} |")
    lines += ["", "Field checks (`record.field`, `file.header_field`, `file.trailer_field`, "
              "`file.reserve`) carry the code of their rubric; *p* marks our provisional choice:", ""]
    by_code: dict[str, list[str]] = {}
    for rubric, code in sorted(rs.field_codes.items()):
        mark = "*p*" if rubric in rs.provisional_rubrics else ""
        by_code.setdefault(code, []).append(rubric + mark)
    lines += ["| code | rubrics |", "|---|---|"]
    lines += [f"| {code} | {', '.join(rubrics)} |" for code, rubrics in sorted(by_code.items())]
    fallback = ", ".join(f"{t}: {c}" for t, c in rs.fallback_codes.items())
    lines += ["", f"Rubrics not listed use their record type's fallback code (provisional): {fallback}."]
    return "\n".join(lines)
