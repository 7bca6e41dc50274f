"""The rule registry: every check as data, with its kind, id, level, rubrics and COD954 code.

A rules file ``<STD>v<VER>.rules.toml`` lies beside its layout spec (or is passed as
``rules=``); it adds checks to, and overrides the codes of, the built-in defaults in
``specs/defaults.rules.toml`` (grammar and layout checks with generic, provisional
codes). A spec without a rules file validates with those defaults alone. The engine
implements each *kind* once (:mod:`eicodec.kinds`); see ``specs/README.md`` for the
vocabulary. Unknown kinds, record types or rubrics are refused with
:class:`~eicodec.errors.SpecError` when the file loads.
"""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .codes import return_codes
from .errors import EicodecError, SpecError
from .layouts import MessageSpec, data_dir, get_spec

#: Checks the engine makes on its own (grammar, layout, trailer); rules files give them codes.
BUILTIN = ("grammar", "field", "trailer_count", "trailer_total", "record_id")
#: Kinds a ``[[rule]]`` may name (see specs/README.md).
KINDS: tuple[str, ...] = ("required", "filled_together", "value_in", "equal_to_ancestor", "equal_fields", "compare",
         "elfproef", "iban", "unique", "credit_pairing", "record_absent", "empty", "any_filled", "pattern",
         "claim_history", "register")
# --- a file the claim history already holds (branch vchecks2: kept apart to ease merging)
KINDS += ("history_file",)
_OPS = ("<=", "<", ">=", ">", "==", "!=")

# --- arithmetic within a record (branch anystd: kept apart to ease merging)
KINDS += ("product",)
_ARITH_KEYS = ("divisor", "rounding")
_ROUNDINGS = ("down", "half_up", "half_even")
# --- siblings and child sums (branch siblings: kept apart to ease merging)
KINDS += ("previous_sibling", "equal_to_previous", "child_sum")
# --- "a value other than ..."
KINDS += ("fields_differ",)
_SIBLING_KEYS = ("previous", "previous_rubric", "child", "sum", "count", "depth")
#: what a ``claim_history`` rule checks (see eicodec.history)
_HISTORY_TESTS = ("credit_known", "not_credited", "exact_copy", "full_credit", "same_date", "reference_new")
_RULE_KEYS = {"id", "kind", "level", "code", "record", "rubrics", "modes", "provisional", "description",
              "message", "when", "report", "at", "values", "ancestor", "ancestor_rubric", "op", "other",
              "signed", "exempt", "scope", "ref", "prev", "dc", "debit_message", "pattern", "whole", "test", "date",
              "amount", "copy_exclude", *_ARITH_KEYS, *_SIBLING_KEYS, "register", "instead"}


#: ``under`` of a condition on the records under the rule's record: some of them pass its
#: test, or none does
UNDER = ("any", "none")
#: kinds whose rules may not have ``under`` conditions (they look across the file or at a history)
_NOT_UNDER = ("unique", "credit_pairing", "claim_history", "history_file")


@attrs.frozen
class Condition:
    """One ``when`` item: *rubric* (of the rule's record, an ancestor or the header).

    With ``under`` (``"any"`` or ``"none"``): a test on the records of type ``record``
    that hang under the rule's record, at any depth -- some of them pass it, or none
    does (no *rubric*: there is such a record, or there is none). The engine decides it
    once the record and all that hangs under it have been read (:mod:`eicodec.subtree`).
    """

    rubric: str | None
    record: str | None = None
    filled: bool | None = None
    equals: tuple[str, ...] | None = None
    not_equals: tuple[str, ...] | None = None
    under: str | None = None


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
    kind: str = "grammar"
    record: str | None = None
    message: str = ""
    report: str | None = None
    at: str | None = None
    when: tuple[Condition, ...] = ()
    params: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def reported_rubric(self) -> str | None:
        return self.report or (self.rubrics[0] if self.rubrics else None)


@attrs.frozen
class Answer:
    """The ``[answer]`` table: which fields of a declaration a return file (STB §6.7)
    and :func:`eicodec.outcome` work with. ``claim_reference``: the rubric that names a
    claim line (its record type is the claim line's); ``claim_amount``: the claim line's
    declared amount (a field with its own D/C); ``header_rewritten``: header rubrics the
    return file does not copy as they were."""

    claim_reference: str
    claim_amount: str
    header_rewritten: tuple[str, ...] = ()

    def claim_type(self, spec: MessageSpec) -> str:
        """The claim line's record type: the one holding ``claim_reference``."""
        t = owner(spec, self.claim_reference)
        assert t is not None  # (checked when the rules were loaded)
        return t

    def amount_attr(self, spec: MessageSpec) -> str:
        """The signed attribute (amount with its D/C) of ``claim_amount``."""
        lay = spec.layout(self.claim_type(spec))
        return next(k for k, (a, _) in lay.signed.items() if a.rubric == self.claim_amount)


@attrs.frozen
class RuleSet:
    """The rules and code choices for one message version."""

    rules: Mapping[str, Rule]  # id -> first rule of that id (several checks may share an id)
    field_codes: Mapping[str, str]
    provisional_rubrics: frozenset[str]
    fallback_codes: Mapping[str, str]
    roles: Mapping[str, str]
    file_code_order: tuple[str, ...]
    checks: tuple[Rule, ...] = ()  # every [[rule]] of a data kind, in file order
    source: str = ""
    #: structural findings name the kenmerk rubric (xx01) of the record they are about
    name_kenmerk: bool = False
    #: what a return file needs of the declaration (``[answer]``, see :class:`Answer`)
    answer: Answer | None = None

    def rule(self, rule_id: str) -> Rule:
        return self.rules[rule_id]

    def field_code(self, rubric: str, record_type: str) -> tuple[str, bool]:
        """(code, provisional) for a field check on *rubric*."""
        code = self.field_codes.get(rubric)
        if code is not None:
            return code, rubric in self.provisional_rubrics
        return self.fallback_codes.get(record_type, self.fallback_codes.get("*", "")), True

    def file_code_rank(self, code: str) -> int:
        """Position of *code* in the header-slot order (unknown codes last)."""
        try:
            return self.file_code_order.index(code)
        except ValueError:
            return len(self.file_code_order)


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"cannot load rules: {exc}", spec=str(path)) from None


def _strs(value: Any, what: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{what} must be a list of strings", spec=where)
    return tuple(value)


def owner(spec: MessageSpec, rubric: str) -> str | None:
    """The record type whose layout holds *rubric*."""
    for t, lay in spec.records.items():
        if rubric in lay.by_rubric:
            return t
    return None


@functools.lru_cache(maxsize=64)
def compile_pattern(pattern: str) -> Any:
    """A ``pattern`` rule's regular expression on RE2 (``google-re2``): matching takes
    time linear in the text, whatever the pattern, so no file can stall validation
    (Python's ``re`` backtracks: ``([A-Za-z]+ ?)*`` on a 27-character comment runs for
    minutes). RE2's syntax is Python's without backreferences and lookaround; such a
    pattern raises ``re2.error`` (the rule loader turns it into a SpecError)."""
    import re2

    options = re2.Options()
    options.log_errors = False  # (the loader reports the error; RE2 would also print it)
    return re2.compile(pattern, options=options)


def _parse_condition(c: Any, rid: str, kind: str, where: str) -> Condition:
    """One ``when`` item of rule *rid* (see :class:`Condition`)."""
    if not isinstance(c, Mapping) or set(c) - {"rubric", "record", "filled", "equals", "not_equals", "under"} \
            or ("rubric" not in c and "under" not in c):
        raise SpecError(f"rule {rid}: a condition needs 'rubric' (and record/filled/equals/not_equals), "
                        "or 'under' and 'record'", spec=where)
    under = c.get("under")
    if under is not None:
        if under not in UNDER:
            raise SpecError(f"rule {rid}: under must be one of {', '.join(UNDER)}", spec=where)
        if not isinstance(c.get("record"), str):
            raise SpecError(f"rule {rid}: a condition with 'under' names the record type in 'record'", spec=where)
        if kind in _NOT_UNDER:
            raise SpecError(f"rule {rid}: a rule of kind {kind} cannot have a condition with 'under'", spec=where)
    if "rubric" not in c and {"filled", "equals", "not_equals"} & set(c):
        raise SpecError(f"rule {rid}: filled/equals/not_equals of a condition test its 'rubric'", spec=where)
    if "filled" in c and not isinstance(c["filled"], bool):
        raise SpecError(f"rule {rid}: filled of a condition is true or false", spec=where)
    return Condition(c.get("rubric"), c.get("record"), c.get("filled"),
                     _strs(c["equals"], "equals", where) if "equals" in c else None,
                     _strs(c["not_equals"], "not_equals", where) if "not_equals" in c else None, under)


def _check_product(rid: str, raw: Mapping[str, Any], params: Mapping[str, Any], where: str) -> None:
    """A ``product`` rule: a result and at least two factors, a positive integer divisor
    and, when it divides, the rounding stated."""
    if len(raw.get("rubrics", [])) < 3:
        raise SpecError(f"rule {rid}: kind product needs rubrics = [result, factor, factor, ...]", spec=where)
    divisor = params.get("divisor", 1)
    if not isinstance(divisor, int) or isinstance(divisor, bool) or divisor < 1:
        raise SpecError(f"rule {rid}: divisor must be a positive integer", spec=where)
    if divisor > 1 and "rounding" not in params:
        raise SpecError(f"rule {rid}: a product with a divisor states its rounding "
                        f"({', '.join(_ROUNDINGS)})", spec=where)
    if params.get("rounding", "down") not in _ROUNDINGS:
        raise SpecError(f"rule {rid}: rounding must be one of {', '.join(_ROUNDINGS)}", spec=where)


def _parse_rule(raw: Mapping[str, Any], defaults: Mapping[str, Rule] | None, where: str) -> Rule:
    """One ``[[rule]]``; *defaults* None while reading the defaults file itself."""
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise SpecError(f"rule {raw.get('id', '?')}: unknown keys {sorted(unknown)}", spec=where)
    rid = raw.get("id")
    if not isinstance(rid, str) or not rid:
        raise SpecError("a rule lacks its id", spec=where)
    base = defaults.get(rid) if defaults is not None else None
    kind = raw.get("kind", base.kind if base is not None else None)
    if kind is None:
        raise SpecError(f"rule {rid}: no kind", spec=where)
    if kind not in KINDS and kind not in BUILTIN:
        raise SpecError(f"rule {rid}: unknown kind {kind!r} (known: {', '.join(KINDS)})", spec=where)
    if kind in BUILTIN and base is None and defaults is not None:
        raise SpecError(f"rule {rid}: kind {kind!r} is built in; name one of its ids", spec=where)
    level = raw.get("level", base.level if base is not None else "record")
    if level not in ("file", "record"):
        raise SpecError(f"rule {rid}: level must be file or record", spec=where)
    code = raw.get("code", base.code if base is not None else None)
    if not isinstance(code, str):
        raise SpecError(f"rule {rid}: no code", spec=where)
    if code != "per rubric" and code not in return_codes():
        raise SpecError(f"rule {rid}: code {code} is not in the COD954 list in use", spec=where)
    when = [_parse_condition(c, rid, kind, where) for c in raw.get("when", [])]
    params = {k: v for k, v in raw.items() if k in ("values", "ancestor", "ancestor_rubric", "op", "other",
                                                     "signed", "exempt", "scope", "ref", "prev", "dc",
                                                     "debit_message", "pattern", "whole", "test", "date",
                                                     "amount", "copy_exclude", *_ARITH_KEYS,
                                                     *_SIBLING_KEYS, "register", "instead")}
    if kind == "pattern":
        import re2

        try:
            compile_pattern(str(params.get("pattern", "")))
        except re2.error as exc:
            why = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
            raise SpecError(f"rule {rid}: pattern is no linear-time (RE2) regular expression ({why}); "
                            "backreferences and lookaround are not supported", spec=where) from None
        if "pattern" not in params:
            raise SpecError(f"rule {rid}: kind pattern needs a pattern", spec=where)
    if kind == "compare" and params.get("op") not in _OPS:
        raise SpecError(f"rule {rid}: op must be one of {' '.join(_OPS)}", spec=where)
    if kind == "claim_history" and params.get("test") not in _HISTORY_TESTS:
        raise SpecError(f"rule {rid}: test must be one of {' '.join(_HISTORY_TESTS)}", spec=where)
    if kind == "claim_history" and not {"ref", "prev", "dc", "date", "amount"} <= set(params):
        raise SpecError(f"rule {rid}: a claim_history rule names ref, prev, dc, date and amount", spec=where)
    if kind == "register" and not (isinstance(params.get("register"), str) and params["register"]):
        raise SpecError(f"rule {rid}: a register rule names its register (e.g. register = \"agb\")", spec=where)
    if kind == "history_file" and not (isinstance(params.get("instead", []), list)
                                       and all(isinstance(x, str) for x in params.get("instead", []))):
        raise SpecError(f"rule {rid}: instead is a list of rule ids", spec=where)
    if kind == "history_file" and level != "file":
        raise SpecError(f"rule {rid}: a history_file rule is of level file", spec=where)
    if kind == "unique" and params.get("scope", "file") not in ("file", "parent"):
        raise SpecError(f"rule {rid}: scope must be file or parent", spec=where)
    if kind == "fields_differ" and len(raw.get("rubrics", [])) < 2:
        raise SpecError(f"rule {rid}: a fields_differ rule names at least two rubrics", spec=where)
    if kind == "product":
        _check_product(rid, raw, params, where)
    if kind in ("previous_sibling", "equal_to_previous", "child_sum"):
        params = _sibling_params(rid, kind, raw, params, where)
    return Rule(
        id=rid, level=level, code=code,
        description=str(raw.get("description", base.description if base is not None else "")),
        rubrics=_strs(raw.get("rubrics", list(base.rubrics) if base is not None else []), "rubrics", where),
        modes=_strs(raw.get("modes", list(base.modes) if base is not None else ["insurer", "vecozo"]), "modes",
                    where),
        # a file that gives a built-in check its own code makes that code its own choice
        provisional=bool(raw.get("provisional", base.provisional if base is not None and "code" not in raw
                                 else False)),
        kind=kind, record=raw.get("record"), message=str(raw.get("message", "")), report=raw.get("report"),
        at=raw.get("at"), when=tuple(when), params=params,
    )


def _check_against(rule: Rule, spec: MessageSpec, where: str) -> None:
    """Refuse a rule that names a record type or rubric the spec does not have."""
    if rule.kind in BUILTIN:
        return

    def bad(msg: str) -> SpecError:
        return SpecError(f"rule {rule.id}: {msg}", spec=where, record_type=rule.record)

    if rule.record not in spec.records:
        raise bad(f"unknown record type {rule.record!r}")
    names = list(rule.rubrics) + [c.rubric for c in rule.when if c.rubric is not None and c.under is None]
    for c in rule.when:
        if c.under is not None:
            _check_under(rule, c, spec, bad)
    for key in ("ancestor_rubric", "ref", "prev", "dc", "date", "amount"):
        if key in rule.params:
            names.append(rule.params[key])
    names += list(rule.params.get("copy_exclude", ()))
    other = rule.params.get("other")
    for o in (other if isinstance(other, list) else [other]) if other is not None else []:
        if isinstance(o, Mapping):
            names.append(o.get("rubric", ""))
        elif o != "today":
            raise bad("other must be {rubric = ...} or \"today\"")
    if rule.report:
        names.append(rule.report)
    for rub in names:
        if owner(spec, rub) is None:
            raise bad(f"unknown rubric {rub!r}")
    if not rule.rubrics and rule.kind not in ("record_absent", "credit_pairing", "claim_history",
                                              "previous_sibling", "history_file") and not (
            rule.kind == "unique" and rule.params.get("whole")):
        raise bad("no rubrics")
    for t in (rule.at, rule.params.get("ancestor")):
        if t is not None and t not in spec.records:
            raise bad(f"unknown record type {t!r}")
    if rule.kind in ("previous_sibling", "equal_to_previous", "child_sum"):
        _check_siblings(rule, spec, bad)


# --- siblings and child sums (branch siblings: kept apart to ease merging)

def _sibling_params(rid: str, kind: str, raw: Mapping[str, Any], params: Mapping[str, Any],
                    where: str) -> dict[str, Any]:
    """The params of a ``previous_sibling``, ``equal_to_previous`` or ``child_sum`` rule,
    checked; ``previous`` parsed into a :class:`Condition` (its ``record`` defaults to the
    rule's)."""
    out = dict(params)
    if kind in ("previous_sibling", "equal_to_previous"):
        prev = raw.get("previous", {})
        if not isinstance(prev, Mapping) or "under" in prev or set(prev) - {
                "rubric", "record", "filled", "equals", "not_equals"}:
            raise SpecError(f"rule {rid}: previous is a table {{record = ..., rubric = ..., equals = [...]}}",
                            spec=where)
        out["previous"] = _parse_condition({"record": raw.get("record"), **prev, "rubric": prev.get("rubric")},
                                           rid, kind, where) if "rubric" in prev else Condition(
            None, str(prev.get("record", raw.get("record"))))
        if kind == "equal_to_previous":
            if len(raw.get("rubrics", [])) != 1:
                raise SpecError(f"rule {rid}: kind equal_to_previous compares one rubric (rubrics = [x])",
                                spec=where)
            out.setdefault("previous_rubric", raw["rubrics"][0])
        return out
    if not isinstance(raw.get("child"), str):
        raise SpecError(f"rule {rid}: kind child_sum names the record type summed over in 'child'", spec=where)
    if ("sum" in raw) == bool(raw.get("count", False)):
        raise SpecError(f"rule {rid}: kind child_sum has either sum = [rubrics] or count = true", spec=where)
    if "sum" in raw:
        out["sum"] = _strs(raw["sum"], "sum", where)
    if raw.get("depth", "direct") not in ("direct", "any"):
        raise SpecError(f"rule {rid}: depth must be direct or any", spec=where)
    if raw.get("op", "==") not in _OPS:
        raise SpecError(f"rule {rid}: op must be one of {' '.join(_OPS)}", spec=where)
    if len(raw.get("rubrics", [])) != 1:
        raise SpecError(f"rule {rid}: kind child_sum checks one rubric of its record (rubrics = [x])", spec=where)
    if "at" in raw:
        raise SpecError(f"rule {rid}: a child_sum rule is reported at its own record (no 'at')", spec=where)
    return out


def _check_siblings(rule: Rule, spec: MessageSpec, bad: Any) -> None:
    """Refuse sibling and child-sum rules that name record types or rubrics wrongly."""
    rec = rule.record or ""
    if rule.kind == "child_sum":
        child = rule.params["child"]
        if child not in spec.records:
            raise bad(f"unknown record type {child!r} in child")
        if rule.params.get("depth", "direct") == "direct" and spec.records[child].parent != rec:
            raise bad(f"record {child} is not a child of record {rec} (depth = direct)")
        if not descends(spec, child, rec):
            raise bad(f"record {child} does not hang under record {rec}")
        for rub in rule.params.get("sum", ()):
            if rub not in spec.records[child].by_rubric:
                raise bad(f"rubric {rub!r} is not a rubric of record {child} (sum)")
        f = spec.records[rec].by_rubric.get(rule.rubrics[0])
        if f is None or f.type != "N":
            raise bad(f"rubric {rule.rubrics[0]} is not a numeric field of record {rec}")
        return
    prev: Condition = rule.params["previous"]
    t = prev.record or rec
    if t not in spec.records:
        raise bad(f"unknown record type {t!r} in previous")
    if spec.records[t].parent != spec.records[rec].parent:
        raise bad(f"record {t} is no sibling of record {rec} (not under the same parent type)")
    for rub in (prev.rubric, rule.params.get("previous_rubric")):
        if rub is not None and rub not in spec.records[t].by_rubric:
            raise bad(f"rubric {rub!r} is not a rubric of record {t} (previous)")


def descends(spec: MessageSpec, record: str, ancestor: str) -> bool:
    """Whether records of type *record* hang under records of type *ancestor* (at any depth)."""
    seen: set[str] = set()
    t = spec.records[record].parent if record in spec.records else None
    while t and t not in seen:
        if t == ancestor:
            return True
        seen.add(t)
        t = spec.records[t].parent if t in spec.records else None
    return False


def _check_under(rule: Rule, c: Condition, spec: MessageSpec, bad: Any) -> None:
    """Refuse an ``under`` condition whose record type does not hang under the rule's."""
    assert c.record is not None
    if c.record not in spec.records:
        raise bad(f"unknown record type {c.record!r} in a condition")
    if not descends(spec, c.record, rule.record or ""):
        raise bad(f"record {c.record} does not hang under record {rule.record} (a condition with 'under')")
    if c.rubric is not None and c.rubric not in spec.records[c.record].by_rubric:
        raise bad(f"rubric {c.rubric!r} is not a rubric of record {c.record} (a condition with 'under')")


def parse_rules(data: Mapping[str, Any], source: str, spec: MessageSpec | None = None,
                base: RuleSet | None = None) -> RuleSet:
    """A :class:`RuleSet` from parsed TOML *data* on top of *base* (the defaults)."""
    defaults = dict(base.rules) if base is not None else None
    rules: dict[str, Rule] = dict(defaults or {})
    checks: list[Rule] = []
    overridden: set[str] = set()
    for raw in data.get("rule", []):
        rule = _parse_rule(raw, defaults, source)
        if spec is not None:
            _check_against(rule, spec, source)
        if rule.kind in BUILTIN:
            if rule.id in overridden:
                raise SpecError(f"rule {rule.id} defined twice", spec=source)
            overridden.add(rule.id)
            rules[rule.id] = rule
            continue
        if defaults and rule.id in defaults:
            raise SpecError(f"rule {rule.id}: id of a built-in check", spec=source)
        rules.setdefault(rule.id, rule)
        checks.append(rule)

    for rule in checks:  # (a history_file rule names the rules it stands in for)
        for rid in rule.params.get("instead", ()) if rule.kind == "history_file" else ():
            if rid not in rules:
                raise SpecError(f"rule {rule.id}: instead names no rule {rid!r}", spec=source)

    def merged(key: str) -> dict[str, str]:
        out = dict(getattr(base, key)) if base is not None else {}
        out.update(data.get(key, {}))
        return out

    table = return_codes()
    for key in ("field_codes", "fallback_codes"):
        for name, code in data.get(key, {}).items():
            if code not in table:
                raise SpecError(f"[{key}] {name}: code {code} is not in the COD954 list in use", spec=source)
    prov = frozenset(data.get("provisional", ())) | (base.provisional_rubrics if base is not None else frozenset())
    order = tuple(data.get("file_code_order", base.file_code_order if base is not None else ()))
    kenmerk = data.get("name_kenmerk", base.name_kenmerk if base is not None else False)
    if not isinstance(kenmerk, bool):
        raise SpecError("name_kenmerk must be true or false", spec=source)
    answer = _parse_answer(data["answer"], source, spec) if "answer" in data else (
        base.answer if base is not None else None)
    return RuleSet(rules=rules, field_codes=merged("field_codes"), provisional_rubrics=prov,
                   fallback_codes=merged("fallback_codes"), roles=merged("roles"), file_code_order=order,
                   checks=tuple(checks), source=source, name_kenmerk=kenmerk, answer=answer)


def _parse_answer(raw: Any, source: str, spec: MessageSpec | None) -> Answer:
    """The ``[answer]`` table, checked against *spec* when given."""
    keys = {"claim_reference", "claim_amount", "header_rewritten"}
    if not isinstance(raw, Mapping) or set(raw) - keys or not {"claim_reference", "claim_amount"} <= set(raw):
        raise SpecError(f"[answer] needs claim_reference and claim_amount (keys: {', '.join(sorted(keys))})",
                        spec=source)
    ref, amount = raw["claim_reference"], raw["claim_amount"]
    rewritten = _strs(raw.get("header_rewritten", []), "[answer] header_rewritten", source)
    if not isinstance(ref, str) or not isinstance(amount, str):
        raise SpecError("[answer] claim_reference and claim_amount are rubrics (strings)", spec=source)
    if spec is not None:
        claim = owner(spec, ref)
        if claim is None or claim not in spec.unit_types:
            raise SpecError(f"[answer] claim_reference {ref!r} is not a rubric of a claim record "
                            f"({', '.join(spec.unit_types)})", spec=source)
        if owner(spec, amount) != claim or not any(a.rubric == amount for a, _ in spec.records[claim].signed.values()):
            raise SpecError(f"[answer] claim_amount {amount!r} is not an amount with D/C of record {claim}",
                            spec=source)
        for rub in rewritten:
            if owner(spec, rub) != spec.header:
                raise SpecError(f"[answer] header_rewritten: {rub!r} is not a rubric of the header", spec=source)
    return Answer(ref, amount, rewritten)


@functools.cache
def default_rules() -> RuleSet:
    """The built-in checks with their generic codes (``specs/defaults.rules.toml``)."""
    path = data_dir() / "defaults.rules.toml"
    return parse_rules(_read(path), str(path))


def rules_path(spec: MessageSpec) -> Path:
    """Where the rules of *spec* lie: beside its spec file (shipped specs: in the package)."""
    src = Path(spec.source)
    folder = src.parent if src.is_absolute() or len(src.parts) > 1 else data_dir()
    return folder / f"{spec.standard}v{spec.version}.rules.toml"


def load_rules(path: str | os.PathLike[str], spec: MessageSpec | None = None) -> RuleSet:
    """Load a rules file (e.g. a corrected copy of the shipped one) over the defaults;
    with *spec*, its record types and rubrics are checked against it."""
    p = Path(path)
    return parse_rules(_read(p), p.name, spec, default_rules())


@functools.cache
def rules_for(spec: MessageSpec) -> RuleSet:
    """The rules of *spec*: its rules file if there is one, else those of the message it
    answers (``return_of``: codes and roles only), else the defaults."""
    path = rules_path(spec)
    if path.is_file():
        return load_rules(path, spec)
    if spec.return_of:
        try:
            other = get_spec(spec.return_of, spec.version)
        except KeyError:
            return default_rules()
        theirs = rules_for(other)
        return attrs.evolve(theirs, checks=())
    return default_rules()


def answer_for(spec: MessageSpec) -> Answer:
    """The ``[answer]`` table of *spec*'s rules (which fields name and price a claim line)."""
    answer = rules_for(spec).answer
    if answer is None:
        raise EicodecError(f"the rules of {spec.name} have no [answer] table: no return file can be made "
                           "or read against it (specs/README.md)")
    return answer


def rule_table(spec: MessageSpec) -> str:
    """The rule registry as a Markdown table (for the README)."""
    rs = rules_for(spec)
    lines = ["| rule | kind | level | code | rubrics | modes | description |",
             "|---|---|---|---|---|---|---|"]
    rows = [r for r in rs.rules.values() if r.kind in BUILTIN] + list(rs.checks)
    for r in rows:
        code = r.code + (" (provisional)" if r.provisional else "")
        lines.append(f"| `{r.id}` | {r.kind} | {r.level} | {code} | {', '.join(r.rubrics)} | "
                     f"{', '.join(r.modes)} | {r.description} |")
    lines += ["", ("Field checks (`record.field`, `file.header_field`, `file.trailer_field`, "
                   "`file.reserve`) carry the code of their rubric; *p* marks our provisional choice:"), ""]
    by_code: dict[str, list[str]] = {}
    for rubric, code in sorted(rs.field_codes.items()):
        mark = "*p*" if rubric in rs.provisional_rubrics else ""
        by_code.setdefault(code, []).append(rubric + mark)
    lines += ["| code | rubrics |", "|---|---|"]
    lines += [f"| {code} | {', '.join(rubrics)} |" for code, rubrics in sorted(by_code.items())]
    fallback = ", ".join(f"{t}: {c}" for t, c in rs.fallback_codes.items())
    lines += ["", f"Rubrics not listed use their record type's fallback code (provisional): {fallback}."]
    return "\n".join(lines)
