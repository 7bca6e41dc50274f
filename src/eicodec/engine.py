"""The validation engine: grammar, layout and rules checked a batch of lines at a time.

:func:`validate` reads the input once in batches (:mod:`eicodec.batches`). For each
batch the :class:`~eicodec.grammar.Walker` places every line in the record tree and
reports what is out of order; the layout's field checks and every ``[[rule]]`` of the
rules file then run once per record type over the whole batch (:mod:`eicodec.kinds`),
and findings are made for the failing rows only. When a top-level group is complete,
its records get their verdicts (STB §6.4.3). What must be unique across the file (record
ids, ``unique`` and ``credit_pairing`` rules) is kept as 64-bit keys; only when a key
repeats is the file read again, knowing them. Memory grows with the largest group and
with the number of findings, not with the file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, Any, cast

import numpy as np

from .answer_index import FileFingerprint, Recorder, kept_stamp, now_ns, stable_before, stamp_of
from .batches import BATCH_LINES, Batch, char_matrix, column_major, digits_value, iter_batches, replayable, unique_ints
from .codes import return_codes, use_return_codes
from .findings import MODES, Findings, Mode, Outcomes, Report, Status, Verdict
from .grammar import Grammar, Group, Placement, Walker
from .history import HistorySource, HistoryStore
from .kinds import (
    CHECKS,
    NOT_LEFT_ALIGNED,
    SIBLING_KINDS,
    FieldChecks,
    View,
    aligned_left,
    child_sum_stated,
    field_message,
    fuse,
    keys_of,
    make_previous,
    pairing_keys,
    unique_keys,
    whole_hash,
)
from .layouts import KEY_RUBRICS, MessageSpec
from .line_codes import LineCodes
from .reader import RecordStream, Source, source_name
from .registers import Register, Registers, RegisterSource
from .rules import Rule, RuleSet, load_rules, owner, rules_for
from .subtree import ChildSums, SubtreeConditions

_PROGRESS_EVERY = 20_000
#: lines validated at a time: four times the readers' batch (fewer kernel calls per record:
#: about a tenth less CPU than half as many; the blocks of a batch are freed before the next
#: is read, so memory stays flat: about 10 MB more than half as many)
VALIDATE_BATCH_LINES = 4 * BATCH_LINES
#: rule checks that a batch of VALIDATE_BATCH_LINES is made for: each batch calls every
#: rule's kernel, so a rules file with more checks gets batches as many times larger (at
#: most 4x; GZ321's 171 checks: 2x, about a tenth less CPU; AP304's 67: 1x)
CHECKS_PER_BATCH = 64


def batch_lines_for(rules: RuleSet) -> int:
    """The lines :func:`validate` checks at a time with *rules* (see :data:`CHECKS_PER_BATCH`)."""
    return VALIDATE_BATCH_LINES * min(4, max(1, len(rules.checks) // CHECKS_PER_BATCH))


#: the general EI format rule on alphanumeric values (specs/defaults.rules.toml)
ALIGN_RULE = "format.left_aligned"
_TYPE_NAMES = [f"{t:02d}" for t in range(100)]
_LAST = np.int64(1 << 62)  # sorts findings without a line last (an int64: lines are int32)
#: a finding's order key: its phase (0-4) above the order within the phase (a field's
#: start, a rule's index: below 2**26)
_ORDER_BITS = 26
_ORDER_MASK = (1 << _ORDER_BITS) - 1
#: a finding made once and put at many lines: (combination, code, order key, of level record)
_Made = tuple[int, str, int, bool]


class _Known:
    """What a first pass found repeated across the file (see :func:`validate`)."""

    def __init__(self) -> None:
        self.ids: dict[str, np.ndarray] = {}  # record type -> ids that occur more than once
        self.dups: dict[int, np.ndarray] = {}  # rule index -> keys that occur more than once
        self.credited: dict[int, np.ndarray] = {}  # rule index -> keys of debit lines credited here
        self.file_seen: tuple[Rule, ...] = ()  # history_file rules: the history holds this file

    def any(self) -> bool:
        return bool(self.file_seen) or any(len(v) for d in (self.ids, self.dups, self.credited) for v in d.values())


def _numbers(fc: np.ndarray) -> np.ndarray:
    """The int64 numbers that rows of digits *fc* spell."""
    return digits_value(fc)


def id_repeats(spec: MessageSpec, batches: Iterable[Batch], types: set[str]) -> dict[str, np.ndarray]:
    """Per record type of *types*: the identificaties (digits) that occur more than once
    among the records of the record length (a pass of its own, run only when a type's
    ids did not only increase)."""
    slices = {t: spec.records[t].id_field.slice for t in types}  # type: ignore[union-attr]
    parts = {t: _Keys() for t in types}
    for batch in batches:
        for t, sl in slices.items():
            fc = batch.chars[batch.rows(t), sl]
            fc = fc[((fc >= 48) & (fc <= 57)).all(axis=1)]
            if len(fc):
                parts[t].add(_numbers(fc))
    return {t: p.repeated() for t, p in parts.items()}


class _Keys:
    """64-bit keys collected batch by batch. Up to :attr:`LIMIT` of them are held in
    memory; beyond, they go to a temporary file in 16 buckets by their top bits, and the
    repeats are found a bucket at a time (memory stays flat however large the file)."""

    LIMIT = 1 << 16  #: keys held in memory (512 kB) before they go to the file
    BUCKETS = 16

    def __init__(self) -> None:
        self._parts: list[np.ndarray] = []
        self._n = 0  # keys in memory
        self._total = 0
        self._file: IO[bytes] | None = None
        self._where: list[list[tuple[int, int]]] = [[] for _ in range(self.BUCKETS)]  # (offset, bytes)

    def __len__(self) -> int:
        return self._total

    def add(self, keys: np.ndarray) -> None:
        if not len(keys):
            return
        self._parts.append(np.ascontiguousarray(keys, np.int64))
        self._n += len(keys)
        self._total += len(keys)
        if self._n > self.LIMIT:
            self._spill()

    def _spill(self) -> None:
        """The keys in memory to the file, by bucket."""
        keys = self._take()
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115  (closed by buckets())
        fh = self._file
        fh.seek(0, os.SEEK_END)
        for b, part in enumerate(self._split(keys)):
            if len(part):
                self._where[b].append((fh.tell(), part.nbytes))
                fh.write(part.tobytes())

    def _take(self) -> np.ndarray:
        """The keys in memory as one array (emptied)."""
        if not self._parts:
            return np.zeros(0, np.int64)
        keys = np.concatenate(self._parts) if len(self._parts) != 1 else self._parts[0]
        self._parts, self._n = [], 0
        return keys

    @classmethod
    def _split(cls, keys: np.ndarray) -> list[np.ndarray]:
        """*keys* by bucket (their top bits), each in the order given (one stable radix
        sort of the bucket numbers, not a pass per bucket)."""
        bucket = ((keys >> 60) & (cls.BUCKETS - 1)).astype(np.uint8)
        ends = np.cumsum(np.bincount(bucket, minlength=cls.BUCKETS)).tolist()
        ordered = keys[np.argsort(bucket, kind="stable")]
        return [ordered[a:b] for a, b in zip([0, *ends[:-1]], ends)]

    def spilled(self) -> bool:
        return self._file is not None

    def buckets(self) -> Iterator[np.ndarray]:
        """The keys, a bucket at a time when spilled (else one array of them all); the
        store is emptied on the way."""
        if self._file is None:
            yield self._take()
            return
        rest = self._split(self._take())
        fh, self._file = self._file, None
        try:
            for b in range(self.BUCKETS):
                chunks = [rest[b]]
                for offset, size in self._where[b]:
                    fh.seek(offset)
                    chunks.append(np.frombuffer(fh.read(size), np.int64))
                rest[b] = chunks[0][:0]
                yield np.concatenate(chunks)
        finally:
            fh.close()

    def in_buckets(self) -> Iterator[np.ndarray]:
        """The keys bucket by bucket (an in-memory store split as a spilled one is, to
        pair its buckets with those of a spilled store)."""
        if self._file is not None:
            yield from self.buckets()
        else:
            yield from self._split(self._take())

    def repeated(self) -> np.ndarray:
        """The keys that occur more than once (the store is emptied)."""
        found = []
        for keys in self.buckets():
            if not keys.flags.writeable:
                keys = keys.copy()
            keys.sort()
            same = keys[1:] == keys[:-1]
            if same.any():
                found.append(np.unique(keys[1:][same]))
        return np.concatenate(found) if found else np.zeros(0, np.int64)


class _IdsSoFar:
    """The identificaties (digits) of one record type that a first pass read, kept so that
    the repeated ones are known without a pass of their own (:func:`id_repeats`) when they
    turn out not to only increase: while they increase, as runs of consecutive numbers
    (ids count up: a run or a few); from the first that does not, every one (a
    :class:`_Keys`, flat in memory). Increasing ids with many gaps make too many runs:
    then it gives up (:attr:`lost`) and the pass of their own runs as before."""

    RUNS = 1 << 12  #: runs kept at most

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.later: _Keys | None = None  # (every id from the first that did not increase)
        self.lost = False

    def add(self, fc: np.ndarray) -> None:
        """The ids of one batch (rows of digits, in file order)."""
        if self.lost or not len(fc):
            return
        if self.later is not None:
            self.later.add(_numbers(fc))
            return
        texts = keys_of(fc)  # (digits of one width compare as their numbers)
        first, last = int(texts[0]), int(texts[-1])
        if (self.ends and first <= self.ends[-1]) or not bool((texts[1:] > texts[:-1]).all()):
            self.later = _Keys()
            self.later.add(_numbers(fc))
            return
        if last - first == len(fc) - 1:  # (increasing, none missing: one run)
            starts, ends = [first], [last]
        else:
            keys = _numbers(fc)
            cut = np.flatnonzero(keys[1:] != keys[:-1] + 1) + 1
            if len(self.starts) + len(cut) >= self.RUNS:
                self.lost, self.starts, self.ends = True, [], []
                return
            starts, ends = keys[np.concatenate(([0], cut))].tolist(), keys[np.append(cut - 1, len(keys) - 1)].tolist()
        if self.ends and starts[0] == self.ends[-1] + 1:
            self.ends[-1] = ends[0]
            starts, ends = starts[1:], ends[1:]
        self.starts += starts
        self.ends += ends
        if len(self.starts) > self.RUNS:
            self.lost, self.starts, self.ends = True, [], []

    def repeated(self) -> np.ndarray:
        """The ids that occur more than once (as :func:`id_repeats` finds them; the store
        is emptied)."""
        assert not self.lost
        if self.later is None:
            return np.zeros(0, np.int64)
        starts, ends = np.array(self.starts, np.int64), np.array(self.ends, np.int64)
        found = []
        for keys in self.later.buckets():
            if not keys.flags.writeable:
                keys = keys.copy()
            keys.sort()
            same = keys[1:] == keys[:-1]
            found.append(keys[1:][same])
            if len(starts):  # (an id within an earlier run was read before)
                at = np.searchsorted(starts, keys, side="right") - 1
                found.append(keys[(at >= 0) & (keys <= ends[np.maximum(at, 0)])])
        return np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)


def _left_aligned(spec: MessageSpec, rules: RuleSet, record: str, mode: str) -> frozenset[str]:
    """The rubrics of *record* checked by the general format rule ``format.left_aligned``
    (every alphanumeric value field but the rule's ``exempt`` rubrics; none when the
    rules have no such rule or it does not run in *mode*)."""
    rule = rules.rules.get(ALIGN_RULE)
    if rule is None or mode not in rule.modes:
        return frozenset()
    exempt = set(rule.params.get("exempt", ()))
    return frozenset(f.rubric for f in spec.records[record].fields if aligned_left(f) and f.rubric not in exempt)


class _Run:
    """One pass over the file: findings, outcomes, counts and totals."""

    def __init__(self, spec: MessageSpec, rules: RuleSet, mode: str, show_values: bool, today: dt.date,
                 known: _Known | None, history: HistoryStore | None = None,
                 registers: Registers | None = None) -> None:
        self.spec = spec
        self.registers = registers if registers is not None else Registers()  # (rules of kind register)
        self.rules = rules
        self.mode = mode
        self.show_values = show_values
        self.today = today.year * 10000 + today.month * 100 + today.day
        self.known = known
        self.grammar = Grammar(spec)
        self.walker = Walker(self.grammar)
        codes = frozenset(return_codes())
        self.field_checks = {t: FieldChecks(lay, codes, _left_aligned(spec, rules, t, mode))
                             for t, lay in spec.records.items()}
        self.history = history  # rules of kind claim_history and history_file run only with one
        self.checks = [(i, r) for i, r in enumerate(rules.checks)
                       if mode in r.modes and (history is not None or r.kind not in ("claim_history", "history_file"))
                       and (r.kind != "register" or r.params.get("register") in self.registers)]
        # a file the history holds: its history_file rules' findings stand instead of those rules
        self.file_rules = tuple(r for _, r in self.checks if r.kind == "history_file")
        seen = known.file_seen if known is not None else ()
        instead = {rid for r in seen for rid in r.params.get("instead", ())}
        self.checks = [(i, r) for i, r in self.checks if r.kind != "history_file" and r.id not in instead]
        # ``unique`` rules on whole records of a type whose identificatie detailrecord the
        # engine checks (not comments): two identical records repeat their identificatie,
        # so only records whose identificatie repeats (or is no number) can be copies
        self.whole_by_id = {i for i, r in self.checks if r.kind == "unique" and r.params.get("whole")
                            and r.params.get("scope", "file") == "file" and r.record != spec.comment
                            and r.record in self.grammar.id_slice}
        # (the first pass hashes the file: its key in the history, see eicodec.history.file_key)
        self.digest = hashlib.sha256() if self.file_rules and known is None else None
        self.needs = {i: self._foreign(r) for i, r in self.checks}
        # rules of one family of kinds read through one view: checked at once (kinds.Fused)
        self.fused = fuse(spec, ((i, r, (r.record, self.needs[i])) for i, r in self.checks
                                 if r.kind not in SIBLING_KINDS))
        self.subtree = SubtreeConditions(spec, self.checks)  # rules with conditions on records under theirs
        self.sums = ChildSums(spec, self.checks)  # rules on the sum of the records under theirs
        # sibling rules: per depth of the tree, the last record at that depth read so far
        # (parent line, its characters, type, readable), carried across batches
        self.sibling_depths = {self.grammar.depth[r.record] for _, r in self.checks
                               if r.kind in SIBLING_KINDS and r.record in self.grammar.depth}
        self.depth_of = np.full(256, -1, np.int64)
        for t, d in self.grammar.depth.items():
            self.depth_of[int(t)] = d
        self.last_sibling: dict[int, tuple[int, np.ndarray, int, bool]] = {}
        self.found = Findings()
        self.keys = array("i")  # per finding: phase << _ORDER_BITS | order (its line is in self.found)
        self._ordered = 0  # the findings before this one are in order (see _order_tail)
        self.line_codes = LineCodes()  # record-level findings of lines awaiting verdicts
        self.outcomes = Outcomes()
        self.total = 0
        self.totals = self._total_fields()
        #: per entry of ``totals``: its own signed sum, the rows summed, whether each had
        #: plain digits and D or C (for :meth:`exact_sums`), and the sum of the amounts
        #: without their sign (for :meth:`exact_magnitudes`)
        self.total_parts = [[0, 0, True, 0] for _ in self.totals]
        self.seq = 0
        roles = rules.roles
        self.ok, self.not_assessed = roles.get("assessed_ok", ""), roles.get("not_assessed", "")
        # keys of a first pass
        self.id_increasing: dict[str, bool] = {}  # record type -> its ids so far only increase
        self.id_last: dict[str, int] = {}
        self.ids_so_far: dict[str, _IdsSoFar] = {}  # record type -> its ids (see _IdsSoFar)
        self.unique_keys: dict[int, _Keys] = {}
        self.debit_keys: dict[int, _Keys] = {}
        self.credit_keys: dict[int, _Keys] = {}
        # what a second pass has seen of the repeated keys
        self.seen: dict[Any, set[int]] = {}
        self.parent_seen: dict[int, tuple[int, set[int]]] = {}
        self._rows_cache: dict[object, Any] = {}  # per batch: rows of a type, placed rows, ancestors
        self._worded: dict[tuple[str, int, int], tuple[str, str, bool]] = {}
        self._made: dict[tuple[str, int, int, int], _Made] = {}
        self._rows_batch: Batch | None = None
        self.recorder = Recorder(spec)  # where the groups with an outcome lie (for the answer)
        #: a look at the file again for what repeats only (see :meth:`look_for_repeats`)
        self.repeats_only = False
        self.repeat_checks = [(i, r) for i, r in self.checks if r.kind == "credit_pairing" or (
            r.kind == "unique" and r.params.get("scope", "file") == "file")]

    def _foreign(self, rule: Rule) -> tuple[str, ...]:
        """Record types other than the rule's own that it reads (ancestors, header)."""
        names = [*rule.rubrics, *(c.rubric for c in rule.when if c.rubric and c.under is None), *(
            rule.params[k] for k in ("ref", "prev", "dc") if k in rule.params)]
        types: set[str | None] = {c.record for c in rule.when if c.record and c.under is None}
        types |= {owner(self.spec, r) for r in names}
        other = rule.params.get("other")
        for o in (other if isinstance(other, list) else [other]) if other is not None else []:
            if isinstance(o, dict):
                types.add(o.get("record") or owner(self.spec, o["rubric"]))
        if "ancestor" in rule.params:
            types.add(rule.params["ancestor"])
        if rule.at:
            types.add(rule.at)
        return tuple(sorted(t for t in types if t and t != rule.record))

    def _total_fields(self) -> list[tuple[int, slice, int]]:
        out = []
        for total in self.spec.totals:
            for t, lay in self.spec.records.items():
                f = lay.by_rubric.get(total.sum)
                if f is not None and f.sign:
                    out.append((int(t), f.slice, lay.by_rubric[f.sign].start - 1))
        return out

    # ------------------------------------------------------------------ findings
    def add(self, key: tuple[int, int], rule_id: str, line: int | None, record_type: str | None,
            rubric: str | None, message: str, *, code: str | None = None, level: str | None = None,
            provisional: bool | None = None, value: str | None = None, rule: Rule | None = None) -> None:
        """A finding of rule *rule_id* (or of *rule*: several checks may share an id)."""
        rule = rule or self.rules.rules[rule_id]
        if value is not None and self.show_values:
            message = f"{message} (value {value!r})"
        combo, code, order, record_level = self._made_as(key, rule, record_type, rubric, message, code=code,
                                                         level=level, provisional=provisional)
        self.found.add(combo, line)
        self.seq += 1
        self.keys.append(order)
        if record_level and line is not None:
            self.line_codes.add(line, key[0], key[1], self.seq, code)

    def missing_header(self) -> None:
        """The file does not start with a voorlooprecord (the caller named its spec): a
        file-level finding at line 1 that names the header's kenmerk rubric; the rest of
        the file is walked as if an unreadable header stood before it (rules that read the
        header skip)."""
        header = self.spec.header
        self.walker.assume_header()
        self.add((0, 0), "file.missing_header", 1, header, self.spec.records[header].fields[0].rubric,
                 "the file does not start with a voorlooprecord")

    # ------------------------------------------------------------------ per batch
    def feed(self, batch: Batch) -> None:
        if self.repeats_only:
            self._feed_repeats(batch)
            return
        if self.digest is not None:
            self.digest.update(batch.key_bytes())
        pl = self.walker.walk(batch)
        for event in pl.events:
            self._structural(event)
        chars, ext_ok, ext_lines = self._with_context(batch, pl)
        body = pl.body & batch.length_ok
        # record type -> its rows that are field-checked, their characters row- and
        # column-major, and values the rules worked out for them (see _block)
        self._blocks: dict[str, tuple[np.ndarray, np.ndarray | None, np.ndarray, dict[object, object]] | None] = {}
        self._masks: dict[str, np.ndarray] = {}  # record type -> its lines, and its lines in the body
        self._checked: np.ndarray | None = None
        self._record_ids(batch, pl, body, chars)
        self._fields(batch, pl, chars)
        for i, rule in self.checks:
            self._rule(i, rule, batch, pl, chars, ext_ok, ext_lines, body)
        if self.subtree or self.sums:
            self._subtree(batch, pl, chars, ext_lines, body)
        if self.sibling_depths:
            self._carry_siblings(batch, pl)
        for (t, sl, sign), kept in zip(self.totals, self.total_parts):
            rows = self._body_rows(batch, body, _TYPE_NAMES[t])
            if len(rows):
                block = self._blocks.get(_TYPE_NAMES[t])
                cols = block[2] if block is not None and block[0] is rows else None
                fc = cols[sl].T if cols is not None and sl.stop <= len(cols) else chars[rows, sl]
                ok = ((fc >= 48) & (fc <= 57)).all(axis=1)
                value = np.where(ok, digits_value(fc), 0)
                dc = cols[sign] if cols is not None and sign < len(cols) else chars[rows, sign]
                neg = dc == ord("C")
                part = int(np.where(neg, -value, value).sum())
                self.total += part
                kept[0] += part
                kept[1] += len(rows)
                kept[3] += int(value.sum())
                if kept[2] and not (ok.all() and (neg | (dc == ord("D"))).all()):
                    kept[2] = False
            # records of another length count as written (their amount at its place): the
            # file is rejected for their length (0804), not again for a total that was right
            odd = np.flatnonzero(pl.body & ~batch.length_ok & self._mine(batch, _TYPE_NAMES[t]))
            for r in odd.tolist():
                text = batch.text(r)
                amount, dc_text = text[sl], text[sign:sign + 1]
                if amount.isascii() and amount.isdigit() and len(amount) == sl.stop - sl.start:
                    self.total += -int(amount) if dc_text == "C" else int(amount)
        for group in pl.closed:
            self._verdicts(group)
        if pl.fast is not None:
            self._fast_verdicts(batch, *pl.fast)
        self._order_tail()
        # what was made for this batch goes before the next is read (peak memory)
        self._blocks, self._masks, self._rows_cache, self._rows_batch = {}, {}, {}, None

    def _with_context(self, batch: Batch, pl: Placement) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(characters, has the record length, line) of the batch's rows followed by its
        context rows (ancestors read in earlier batches)."""
        chars, ext_ok, ext_lines = batch.chars, batch.length_ok, batch.lines
        if pl.context:
            width = self.spec.record_length
            extra = char_matrix([t[:width].ljust(width) for t in pl.context], width)
            n, room = len(chars), batch.room
            if room is not None and extra.dtype == room.dtype and n + len(extra) <= len(room):
                room[n:n + len(extra)] = extra  # (after the batch's rows: no copy of them)
                chars = room[:n + len(extra)].view()
                chars.flags.writeable = False
            else:
                if extra.dtype != chars.dtype:
                    chars, extra = chars.astype(np.uint32), extra.astype(np.uint32)
                chars = np.concatenate([chars, extra])
            ext_ok = np.concatenate([ext_ok, np.array(pl.context_ok, bool)])
            ext_lines = np.concatenate([ext_lines, np.array(pl.context_lines, np.int64)])
        return chars, ext_ok, ext_lines

    def look_for_repeats(self, known: _Known, headerless: bool) -> Walker:
        """Make this (finished) run look at the file again for what *known* says repeats,
        and for nothing else: its findings are added to the first pass's (see
        :func:`validate`). Returns the first pass's walker (its counts and texts are the
        file's), to be put back afterwards."""
        walker = self.walker
        self.known, self.repeats_only, self.walker = known, True, Walker(self.grammar)

        def some(found: dict[Any, np.ndarray], key: object) -> bool:
            return len(found.get(key, ())) > 0

        # (a rule none of whose keys repeats finds nothing: not looked at)
        self.repeat_checks = [(i, r) for i, r in self.repeat_checks if (
            some(known.credited, i) if r.kind == "credit_pairing" else
            some(known.dups, i) or (i in self.whole_by_id and some(known.ids, r.record)))]
        if headerless:
            self.walker.assume_header()
        return walker

    def _feed_repeats(self, batch: Batch) -> None:
        """A batch looked at again for what repeats: identificaties, keys of file-wide
        ``unique`` rules and credited lines (their findings only: every other check made
        its findings in the first pass already, and the same)."""
        pl = self.walker.walk(batch)
        chars, ext_ok, ext_lines = self._with_context(batch, pl)
        body = pl.body & batch.length_ok
        self._blocks, self._masks, self._checked = {}, {}, None
        self._record_ids(batch, pl, body, chars)
        for i, rule in self.repeat_checks:
            self._rule(i, rule, batch, pl, chars, ext_ok, ext_lines, body)
        self._order_tail()
        self._blocks, self._masks, self._rows_cache, self._rows_batch = {}, {}, {}, None

    def header_key(self, spec: MessageSpec) -> None:
        """The header names another message (0102/0103/0104) than the spec it was read
        as (given, or known from its record length): each such rubric without a fixed
        value in the layout is a file-level finding with its code (the fixed ones, 0102
        and 0103, are found by the header's field checks)."""
        raw = self.walker.header_raw
        lay = self.spec.records[spec.header]
        if len(raw) != lay.length:
            return
        for rubric, want in zip(KEY_RUBRICS, spec.key):
            f = lay.by_rubric[rubric]
            if f.fixed is None and raw[f.start - 1:f.end] != want:
                code, prov = self.rules.field_code(rubric, spec.header)
                line = self.walker.header.line if self.walker.header is not None else 1
                self.add((2, f.start), "file.header_field", line, spec.header, rubric,
                         f"{f.name} ({rubric}) is not {want}", code=code, level="file", provisional=prov)

    def _structural(self, event: tuple[int | None, str, str, str | None, str | None]) -> None:
        """A finding of the walker; with ``name_kenmerk`` in the rules, one about a whole
        record names that record's kenmerk rubric (xx01)."""
        line, rule_id, message, rubric, rtype = event
        if rubric is None and self.rules.name_kenmerk and rtype is not None and rtype in self.spec.records:
            rubric = self.spec.records[rtype].fields[0].rubric
        self.add((0, 0), rule_id, line, rtype, rubric, message)

    def _fast_verdicts(self, batch: Batch, a: int, b: int, tops: np.ndarray, units: np.ndarray) -> None:
        """Verdicts of the groups the walker placed at once (rows a..b of *batch*): only
        those with a record-level finding need any."""
        lo, hi = batch.first + a, batch.first + b
        bad_lines, bad_ids, tuples = self.line_codes.pop_between(lo, hi)
        if not len(bad_lines):
            return
        # The rules of _verdicts, for all groups at once. The rows of the groups with a
        # record-level finding (every group starts with its top record: tops is its line):
        bad_at = bad_lines - lo
        tops_found = unique_ints(tops[bad_at])
        at = np.minimum(np.searchsorted(tops_found, tops), len(tops_found) - 1)
        rows = np.flatnonzero(tops_found[at] == tops)
        lines, unit, top = batch.lines[a:b][rows], units[rows], tops[rows]
        # their own codes (as _verdicts orders them), numbered
        own_id = np.full(len(rows), -1, np.int64)
        own_id[np.searchsorted(lines, bad_lines)] = bad_ids
        own = own_id >= 0
        is_top = unit == 0
        top_bad = np.zeros(len(tops_found), bool)
        top_bad[np.searchsorted(tops_found, top[own & is_top])] = True
        top_bad = top_bad[np.searchsorted(tops_found, top)]
        bad_units = unique_ints(unit[own & ~is_top])
        unit_bad = ~is_top & (bad_units[np.minimum(np.searchsorted(bad_units, unit), len(bad_units) - 1)] == unit
                              if len(bad_units) else np.zeros(len(rows), bool))
        vecozo = self.mode == "vecozo"
        ok_id, na_id = len(tuples), len(tuples) + 1  # the codes of assessed-ok / not assessed
        rejected, approved, not_assessed = 0, 1, 2
        verdict = np.full(len(rows), approved, np.int64)
        codes_id = np.where(own, own_id, ok_id)
        # top part of a group whose top part has a finding: rejected if own codes or the top record
        head = top_bad & is_top
        verdict[head & (own | (lines == top))] = rejected
        put = head.copy()
        if not vecozo:
            under = top_bad & ~is_top  # (insurer) the units of a rejected top part
            verdict[under], codes_id[under] = not_assessed, na_id
            put |= under
            put |= ~top_bad & is_top  # co-returned with rejected units: approved
        units_put = unit_bad & (~top_bad if not vecozo else True)
        verdict[units_put & (own | (lines == unit))] = rejected
        put |= units_put
        names = [*tuples, (self.ok,), (self.not_assessed,)]
        verdicts = (Verdict.REJECTED, Verdict.APPROVED, Verdict.NOT_ASSESSED)
        types = batch.types[a:b][rows][put].astype(np.int64)
        keys, which = unique_ints((types * 3 + verdict[put]) * (len(tuples) + 2) + codes_id[put], return_inverse=True)
        combos = []
        for key in keys.tolist():
            rest, c = divmod(key, len(tuples) + 2)
            t, v = divmod(rest, 3)
            combos.append((_TYPE_NAMES[t], verdicts[v], names[c]))
        self.outcomes.put_many(lines[put], combos, which)

    def _record_ids(self, batch: Batch, pl: Placement, body: np.ndarray, chars: np.ndarray) -> None:
        """Identificatie detailrecord unique per record type (comments excepted)."""
        g = self.grammar
        for t, sl in g.id_slice.items():
            if t == self.spec.comment:
                continue
            # (first: the rows below are then its array if the same; none made to look for repeats)
            block = self._block(batch, pl, chars, t) if not self.repeats_only else None
            rows = self._body_rows(batch, body, t)
            fc = batch.chars[:0, sl]
            if len(rows):
                if block is not None and block[0] is rows and sl.stop <= len(block[2]):
                    fc = block[2][sl].T  # (column-major: see _block)
                else:
                    fc = batch.chars[rows, sl]
            digits = np.asarray(((fc >= 48) & (fc <= 57)).all(axis=1))
            if self.known is None and not self.repeats_only:
                self._ids_so_far(batch, t, sl, rows, fc, digits)
            if not len(rows):
                continue
            if self.known is None and not digits.all():
                self.id_increasing[t] = False  # (the field check reports it; look closer)
            if not digits.all():
                rows, fc = rows[digits], fc[digits]
            if self.known is None:
                # ids that only ever increase cannot repeat: nothing to keep (else a
                # separate pass collects them, see id_repeats); digits of one length
                # compare as their numbers do
                if self.id_increasing.get(t, True) and len(fc):
                    texts = keys_of(fc)
                    last = self.id_last.get(t, -1)
                    ok = int(texts[0]) > last and bool((texts[1:] > texts[:-1]).all())
                    self.id_increasing[t] = ok
                    self.id_last[t] = int(texts[-1])
                continue
            keys = _numbers(fc)
            dups = self.known.ids.get(t)
            if dups is None or not len(dups):
                continue
            idf = self.spec.records[t].id_field
            assert idf is not None
            sel = np.flatnonzero(np.isin(keys, dups))
            again = _seen_before(keys[sel], self.seen.setdefault(("id", t), set()))
            if again.any():
                rule = self.rules.rules["file.record_id"]
                made = self._made_as((1, 0), rule, t, idf.rubric,
                                     f"{idf.name} ({idf.rubric}) is not unique for record type {t}")
                self._put_many(made, batch.first + rows[sel[again]])

    def _ids_so_far(self, batch: Batch, t: str, sl: slice, rows: np.ndarray, fc: np.ndarray,
                    digits: np.ndarray) -> None:
        """The ids of *t* in *batch* to :class:`_IdsSoFar`: those of every record of the
        type with the record length, as :func:`id_repeats` reads them (*rows*, *fc*: the
        body's, *digits*: which of them are digits)."""
        ids = self.ids_so_far.setdefault(t, _IdsSoFar())
        if ids.lost:
            return
        every = batch.rows(t)
        if len(every) != len(rows):
            fc = batch.chars[every, sl]
            digits = np.asarray(((fc >= 48) & (fc <= 57)).all(axis=1))
        ids.add(fc if digits.all() else fc[digits])

    def _block(self, batch: Batch, pl: Placement, chars: np.ndarray, t: str,
               ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, dict[object, object]] | None:
        """(rows of type *t* that the field checks check, ``chars[rows]``, the same
        column-major, a memo), once per batch: the field checks, record ids and every rule
        of the type read them (column-major, a reduction over a field's characters runs
        across all rows at once); None when the batch has no such rows."""
        if t in self._blocks:
            return self._blocks[t]
        if self._checked is None:
            self._checked = (pl.level > 0) & batch.length_ok
        rows = np.flatnonzero(self._checked & self._mine(batch, t))
        block: tuple[np.ndarray, np.ndarray | None, np.ndarray, dict[Any, Any]] | None = None
        if len(rows):
            # (column-major up to where the field checks need it: see FieldChecks.cut; a
            # rule reading beyond gets its field from the rows, see View.field)
            fc = self.field_checks.get(t)
            cut = chars if fc is None or fc.cut >= chars.shape[1] else chars[:, :fc.cut]
            block = (rows, None, column_major(cut, rows=rows), {})  # (row-major: not kept, see View.sub)
        self._blocks[t] = block
        return block

    def _mine(self, batch: Batch, t: str) -> np.ndarray:
        """Per line of *batch*: it is of record type *t* (once per batch)."""
        found = self._masks.get(t)
        if found is None:
            found = self._masks[t] = batch.types == int(t)
        return found

    def _body_rows(self, batch: Batch, body: np.ndarray, t: str) -> np.ndarray:
        """The rows of type *t* in the file's body with the record length (once per batch;
        the block's array when the same rows, see :meth:`_same_rows`)."""
        key = "body " + t
        found = self._masks.get(key)
        if found is None:
            found = self._masks[key] = self._same_rows(t, np.flatnonzero(body & self._mine(batch, t)))
        return found

    def _same_rows(self, t: str, rows: np.ndarray) -> np.ndarray:
        """*rows* of type *t*, or the block's equal array (see :meth:`_block`)."""
        block = self._blocks.get(t)
        if block is not None and len(block[0]) == len(rows) and np.array_equal(block[0], rows):
            return block[0]
        return rows

    def _fields(self, batch: Batch, pl: Placement, chars: np.ndarray) -> None:
        runs_reserve = self.mode in self.rules.rules["file.reserve"].modes
        for t, fc in self.field_checks.items():
            if not fc.fields:
                continue
            block = self._block(batch, pl, chars, t)
            if block is None:
                continue
            rows, _, cols, _ = block
            bad, problems = fc.failing(chars, cols, rows)
            if not len(bad):
                continue
            bad_rows, bad_fields = np.nonzero(problems)
            kinds = problems[bad_rows, bad_fields].astype(np.int64)
            at_rows = rows[bad[bad_rows]]
            levels = pl.level[at_rows].astype(np.int64)
            # one finding per (field, problem, level) worded once; alike ones put at once
            combo_key = (bad_fields.astype(np.int64) * 256 + kinds) * 4 + levels
            keys, which = unique_ints(combo_key, return_inverse=True)
            which = which.reshape(-1)
            slow = np.zeros(len(keys), bool)
            for k, key in enumerate(keys.tolist()):
                rest, lvl = divmod(key, 4)
                j, problem = divmod(rest, 256)
                made = self._made_for(t, j, problem, lvl, fc) if not self.show_values else None
                if made is None:
                    slow[k] = True
                    continue
                sel = np.flatnonzero(which == k)
                self._put_many(made, batch.first + at_rows[sel])
            if slow.any():
                for r in np.flatnonzero(slow[which]).tolist():
                    self._field_finding(batch, t, fc, int(at_rows[r]), int(bad_fields[r]), int(kinds[r]),
                                        int(levels[r]), runs_reserve)

    def _made_for(self, t: str, j: int, problem: int, lvl: int, fc: FieldChecks) -> _Made | None:
        """The finding of field *j* of record type *t* with *problem* at level *lvl*
        (1: record, else file) as :meth:`add` would make it (see :meth:`_made_as`); None
        for the fields whose findings are made one by one (a reserve, the identificatie
        detailrecord)."""
        made = self._made.get((t, j, problem, lvl))
        if made is not None:
            return made
        f = fc.fields[j]
        if f.kind == "reserve" or f.element == "NUM040":
            return None
        message, code, prov = self._wording(t, j, problem, fc)
        rule_id, level = self._field_rule(t, problem, lvl)
        made = self._made[(t, j, problem, lvl)] = self._made_as(
            (2, f.start), self.rules.rules[rule_id], t, f.rubric, message, code=code, level=level, provisional=prov)
        return made

    def _field_rule(self, t: str, problem: int, lvl: int) -> tuple[str, str]:
        """(rule id, level) of a field's finding with *problem* on a line of level *lvl*
        (1: record, else file: the voorloop- or sluitrecord) of record type *t*."""
        level = "record" if lvl == 1 else "file"
        rule_id = ALIGN_RULE if problem == NOT_LEFT_ALIGNED else "record.field" if level == "record" \
            else "file.header_field" if t == self.spec.header else "file.trailer_field"
        return rule_id, level

    def _wording(self, t: str, j: int, problem: int, fc: FieldChecks) -> tuple[str, str, bool]:
        """(message, code, provisional) of field *j* of *t* with *problem*, worded once."""
        worded = self._worded.get((t, j, problem))
        if worded is None:
            f = fc.fields[j]
            worded = self._worded[(t, j, problem)] = (
                field_message(f, problem), *self.rules.field_code(f.rubric, t))
        return worded

    def _made_as(self, key: tuple[int, int], rule: Rule, record_type: str | None, rubric: str | None,
                 message: str, *, code: str | None = None, level: str | None = None,
                 provisional: bool | None = None) -> _Made:
        """A finding of *rule* (its code, level and provisional flag unless given) with
        order *key*: (combination, code, order key, of level ``record``)."""
        code = code or rule.code
        level = level or rule.level
        combo = self.found.combo(code, level, record_type, rubric, rule.id, message,
                                 rule.provisional if provisional is None else provisional)
        return combo, code, key[0] << _ORDER_BITS | key[1], level == "record"

    def _put_many(self, made: _Made, lines: np.ndarray) -> None:
        """The finding *made* (see :meth:`_made_as`) at each of *lines* (ascending)."""
        combo, code, order, record_level = made
        n = len(lines)
        self.found.add_many(combo, lines)
        self.keys.frombytes(np.full(n, order, np.int32).tobytes())
        seqs = np.arange(self.seq + 1, self.seq + 1 + n, dtype=np.int64)
        self.seq += n
        if record_level:
            self.line_codes.add_many(lines, order >> _ORDER_BITS, np.full(n, order & _ORDER_MASK, np.int64), seqs,
                                     np.full(n, self.line_codes.code_id(code), np.int64))

    def _field_finding(self, batch: Batch, t: str, fc: FieldChecks, row: int, j: int, problem: int, lvl: int,
                       runs_reserve: bool) -> None:
        """One finding of field *j* of *t* on *row* of *batch*, made as :meth:`add` makes it."""
        f = fc.fields[j]
        line = batch.first + row
        message, code, prov = self._wording(t, j, problem, fc)
        key = (2, f.start)
        if f.kind == "reserve":
            if runs_reserve:
                self.add(key, "file.reserve", line, t, f.rubric, message, code=code)
        elif f.element == "NUM040":
            self.add(key, "file.record_id", line, t, f.rubric, message, code=code)
        else:
            rule_id, level = self._field_rule(t, problem, lvl)
            text = batch.text(row)[f.start - 1:f.end] if self.show_values else None
            self.add(key, rule_id, line, t, f.rubric, message, code=code, level=level, provisional=prov, value=text)

    def _rows(self, batch: Batch, pl: Placement, body: np.ndarray, record: str) -> tuple[np.ndarray, np.ndarray]:
        """(rows of *record* in their place with the record length, rows of *record* in the
        file's body), once per batch and record type."""
        found = self._rows_cache.get(record)
        if found is None or self._rows_batch is not batch:
            if self._rows_batch is not batch:
                self._rows_cache = {}
                self._rows_batch = batch
            mine = self._mine(batch, record)
            placed = (pl.level > 0) & pl.chain_ok & batch.length_ok & mine
            in_body = self._body_rows(batch, body, record)
            found = self._rows_cache[record] = (placed, in_body)
        return cast("tuple[np.ndarray, np.ndarray]", found)

    def _placed_rows(self, record: str, placed: np.ndarray) -> np.ndarray:
        """The rows of *placed*, once per batch and record type: the very array the field
        checks used when it holds the same rows (so that rules share their column-major copy)."""
        key = ("placed", record)
        found = self._rows_cache.get(key)  # (emptied per batch by _rows)
        if found is None:
            found = self._same_rows(record, np.flatnonzero(placed))
            self._rows_cache[key] = found
        return cast("np.ndarray", found)

    def _ancestors(self, pl: Placement, ext_ok: np.ndarray, rows: np.ndarray, a: str,
                   ) -> tuple[np.ndarray, np.ndarray, bool] | None:
        """(row of the ancestor (or header) of type *a* per row of *rows*, it is there with
        the record length, whether it is for every row); once per batch, rows and type."""
        key = ("anc", id(rows), a)  # (rows live in the per-batch cache as long as this)
        found = self._rows_cache.get(key)
        if found is None:
            if a not in pl.anc:
                return None
            idx = pl.anc[a][rows]
            ok = (idx >= 0) & ext_ok[np.maximum(idx, 0)]
            found = self._rows_cache[key] = (idx, ok, bool(ok.all()))
        return cast("tuple[np.ndarray, np.ndarray, bool]", found)

    def _rule(self, i: int, rule: Rule, batch: Batch, pl: Placement, chars: np.ndarray, ext_ok: np.ndarray,
              ext_lines: np.ndarray, body: np.ndarray) -> None:
        placed, in_body = self._rows(batch, pl, body, rule.record)  # type: ignore[arg-type]
        across = rule.kind in ("unique", "credit_pairing")
        # the rows, ancestors and view of the rules of one record type that read the same
        # ancestors are the same: made once per batch (a sibling rule's view is its own)
        key = ("view", rule.record, self.needs[i], across)
        made = self._rows_cache.get(key) if rule.kind not in SIBLING_KINDS else None
        if made is None:
            made = self._view(i, rule, pl, chars, ext_ok, placed, in_body, across)
            if rule.kind not in SIBLING_KINDS:
                self._rows_cache[key] = made
        if not made:
            return
        rows, usable, view = cast("tuple[np.ndarray, np.ndarray, View]", made)
        if rule.kind == "unique":
            self._unique(i, rule, view, usable & placed[rows], pl, batch)
            return
        if rule.kind == "credit_pairing":
            self._pairing(i, rule, view, usable & placed[rows], batch)
            return
        if rule.kind == "child_sum":
            stated, judged = child_sum_stated(rule, view)
            self.sums.expect(i, batch.first + rows[judged], stated[judged])
            return
        if rule.kind in SIBLING_KINDS:
            view.previous = self._previous(rule, batch, pl, chars, rows)  # type: ignore[attr-defined]
        group = self.fused.get(i)
        fails = CHECKS[rule.kind](rule, view) if group is None else group.fails(i, view)
        if fails is None or not fails.any():
            return
        failing = np.flatnonzero(fails)
        rubric = rule.reported_rubric
        value_f = view.field(rule.rubrics[0]) if rule.kind == "iban" and self.show_values else None
        if i in self.subtree.rules:  # decided when the record and what hangs under it are read
            values: list[str | None] | None = (
                ["".join(map(chr, value_f[1][k])).strip() for k in failing.tolist()] if value_f else None)
            self.subtree.defer(i, batch.first + rows[failing],
                               ext_lines[view.anc[rule.at][failing]] if rule.at else batch.first + rows[failing], values)
            return
        rtype: str | None
        for k in failing.tolist():
            if rule.at:
                at = int(view.anc[rule.at][k])
                line, rtype = int(ext_lines[at]), rule.at
            else:
                line, rtype = batch.first + int(rows[k]), rule.record
            value = None
            if value_f is not None:
                value = "".join(map(chr, value_f[1][k])).strip()
            self.add((3, i), rule.id, line, rtype, rubric, rule.message, value=value, rule=rule)

    def _view(self, i: int, rule: Rule, pl: Placement, chars: np.ndarray, ext_ok: np.ndarray, placed: np.ndarray,
              in_body: np.ndarray, across: bool) -> tuple[np.ndarray, np.ndarray, View] | tuple[()]:
        """(rows rule *i* checks, which of them have every ancestor it reads, its
        :class:`View`); ``()`` when it checks none in this batch."""
        # keys of every record of the type count across the file, placed or not
        rows = in_body if across else self._placed_rows(rule.record, placed)  # type: ignore[arg-type]
        if not len(rows):
            return ()
        anc: dict[str, np.ndarray] = {}
        usable: np.ndarray | None = None  # (None: every row)
        for a in self.needs[i]:
            found = self._ancestors(pl, ext_ok, rows, a)
            if found is None:
                return ()
            anc[a], ok, all_ok = found
            if not all_ok:
                usable = ok if usable is None else usable & ok
        if not across:
            if usable is not None:
                rows = rows[usable]
                anc = {a: arr[usable] for a, arr in anc.items()}
            if not len(rows):
                return ()
        if usable is None:
            usable = np.ones(len(rows), bool)
        block = self._blocks.get(rule.record)  # type: ignore[arg-type]
        others = {a: (b[0], b[2]) for a in anc if (b := self._blocks.get(a)) is not None}
        if block is not None and block[0] is rows:
            view = View(self.spec, rule.record, chars, rows, anc, self.today,  # type: ignore[arg-type]
                        block[2], block[1], block[3], others)
        else:
            view = View(self.spec, rule.record, chars, rows, anc, self.today,  # type: ignore[arg-type]
                        blocks=others)
        view.history = self.history  # type: ignore[attr-defined]
        view.registers = self.registers  # type: ignore[attr-defined]
        return rows, usable, view

    def _unique(self, i: int, rule: Rule, view: View, checked: np.ndarray, pl: Placement, batch: Batch) -> None:
        if i in self.whole_by_id:
            self._whole_by_id(i, rule, view, checked, batch)
            return
        keys, some = unique_keys(rule, view)
        rows = view.rows
        rubric = rule.reported_rubric
        if rule.params.get("scope", "file") == "parent":
            # unique within each run of rows under the same parent (the run of the last
            # batch's last parent carried over as the keys seen in it)
            sel = np.flatnonzero(some)
            if not len(sel):
                return
            last, seen = self.parent_seen.get(i, (0, set()))
            parent, mine = pl.parent_line[rows[sel]], keys[sel]
            new = np.empty(len(sel), bool)
            new[0] = parent[0] != last
            new[1:] = parent[1:] != parent[:-1]
            run = np.cumsum(new)
            carried = np.fromiter(seen, np.int64, len(seen)) if not new[0] else np.zeros(0, np.int64)
            all_run = np.concatenate([np.zeros(len(carried), run.dtype), run])
            all_key = np.concatenate([carried, mine])
            at = np.concatenate([np.full(len(carried), -1, np.int64), np.arange(len(sel))])
            order = np.lexsort((at, all_key, all_run))
            run_o, key_o = all_run[order], all_key[order]
            again = np.sort(at[order][1:][(run_o[1:] == run_o[:-1]) & (key_o[1:] == key_o[:-1])])
            for j in again[checked[sel[again]]].tolist():
                self.add((3, i), rule.id, batch.first + int(rows[sel[j]]), rule.record, rubric, rule.message,
                         rule=rule)
            tail = run == run[-1]
            kept = set(mine[tail].tolist())
            if run[-1] == 0:
                kept |= seen
            self.parent_seen[i] = (int(parent[-1]), kept)
            return
        if self.known is None:
            self.unique_keys.setdefault(i, _Keys()).add(keys[some])
            return
        dups = self.known.dups.get(i)
        if dups is None or not len(dups):
            return
        sel = np.flatnonzero(some & np.isin(keys, dups))
        self._repeats(i, rule, rows[sel], keys[sel], checked[sel], batch)

    def _repeats(self, i: int, rule: Rule, rows: np.ndarray, keys: np.ndarray, checked: np.ndarray,
                 batch: Batch) -> None:
        """The second pass of a file-wide ``unique`` rule: a finding at each of *rows* (in
        order) whose key was seen before in the file and that is checked."""
        hit = _seen_before(keys, self.seen.setdefault(i, set())) & checked
        if hit.any():
            made = self._made_as((3, i), rule, rule.record, rule.reported_rubric, rule.message)
            self._put_many(made, batch.first + rows[hit])

    def _whole_by_id(self, i: int, rule: Rule, view: View, checked: np.ndarray, batch: Batch) -> None:
        """A ``unique`` rule on whole records (see ``whole_by_id``): the first pass keeps the
        keys of the records whose identificatie is not all digits only (an identical copy
        with a numeric identificatie repeats it, and repeated identificaties send the file
        through the second pass); the second looks at the records whose identificatie
        repeats and at the records with a key that repeats."""
        t = rule.record
        idf = self.spec.records[t].id_field  # type: ignore[index]
        assert idf is not None
        rows = view.rows
        _, ic = view.field(idf.rubric)
        digit = np.asarray(((ic >= 48) & (ic <= 57)).all(axis=1))
        if self.known is None:
            if not digit.all():
                self.unique_keys.setdefault(i, _Keys()).add(whole_hash(view.all_chars, rows[~digit]))
            return
        ids, dups = self.known.ids.get(t), self.known.dups.get(i)  # type: ignore[arg-type]
        cand = np.zeros(view.n, bool)
        if ids is not None and len(ids):
            cand |= digit & np.isin(_numbers(ic), ids)
        if dups is not None and len(dups):
            cand |= ~digit
        sel = np.flatnonzero(cand)
        if not len(sel):
            return
        keys = whole_hash(view.all_chars, rows[sel])
        if dups is not None and len(dups):
            keep = digit[sel] | np.isin(keys, dups)
            sel, keys = sel[keep], keys[keep]
        self._repeats(i, rule, rows[sel], keys, checked[sel], batch)

    def _pairing(self, i: int, rule: Rule, view: View, checked: np.ndarray, batch: Batch) -> None:
        ref, debit, prev, credit = pairing_keys(rule, view)
        if self.known is None:
            self.debit_keys.setdefault(i, _Keys()).add(ref[debit])
            self.credit_keys.setdefault(i, _Keys()).add(prev[credit])
            return
        credited = self.known.credited.get(i)
        if credited is None or not len(credited):
            return
        hit_credit = credit & np.isin(prev, credited) & checked
        hit_debit = debit & np.isin(ref, credited) & checked
        for k in np.flatnonzero(hit_credit | hit_debit).tolist():
            line = batch.first + int(view.rows[k])
            if hit_credit[k]:
                self.add((3, i), rule.id, line, rule.record, rule.params["prev"], rule.message, rule=rule)
            if hit_debit[k]:
                self.add((3, i), rule.id, line, rule.record, rule.params["ref"],
                         str(rule.params.get("debit_message", rule.message)), rule=rule)

    def _subtree(self, batch: Batch, pl: Placement, chars: np.ndarray, ext_lines: np.ndarray,
                 body: np.ndarray) -> None:
        """Conditions on the records under a record: what this batch shows, and the
        findings of the records it closed (before their groups get verdicts)."""
        if self.subtree:
            self.subtree.observe(chars, ext_lines, batch.types, pl.level,
                                 lambda t: self._rows(batch, pl, body, t)[0], pl.anc, self.today)
        if self.sums:
            self.sums.observe(chars, ext_lines, batch.types, pl.level, pl.parent_line,
                              lambda t: self._rows(batch, pl, body, t)[0], pl.anc, self.today)
        self._settle({n.type: n.line for n in self.walker.stack})

    def _settle(self, open_lines: dict[str, int] | None) -> None:
        for i, line, _ in self.sums.settle(open_lines):
            rule = self.sums.rules[i]
            if i in self.subtree.rules:  # (its record is closed: its ``under`` conditions decide below)
                at = np.array([line], np.int64)
                self.subtree.defer(i, at, at, None)
                continue
            self.add((3, i), rule.id, line, rule.record, rule.reported_rubric, rule.message, rule=rule)
        for i, line, value in self.subtree.settle(open_lines):
            rule = self.subtree.rules[i]
            self.add((3, i), rule.id, line, rule.at or rule.record, rule.reported_rubric, rule.message,
                     value=value, rule=rule)

    # ------------------------------------------------------------------ siblings
    def _sibling_rows(self, batch: Batch, pl: Placement, d: int) -> np.ndarray:
        """The rows of *batch* at depth *d* of the tree (records, not comments), in order;
        once per batch."""
        key = ("depth", d)
        found = self._rows_cache.get(key)
        if found is None or self._rows_batch is not batch:
            if self._rows_batch is not batch:
                self._rows_cache = {}
                self._rows_batch = batch
            types = batch.types.astype(np.int64)
            at_d = self.depth_of[np.where((types >= 0) & (types < 256), types, 255)] == d
            found = self._rows_cache[key] = np.flatnonzero(at_d & (pl.level == 1) & pl.body)
        return cast("np.ndarray", found)

    def _previous(self, rule: Rule, batch: Batch, pl: Placement, chars: np.ndarray, rows: np.ndarray) -> Any:
        """The previous sibling of each of *rows* (records of the rule's type), from this
        batch or carried from the one before (:class:`~eicodec.kinds.Previous`)."""
        d = self.grammar.depth[rule.record]  # type: ignore[index]
        cand = self._sibling_rows(batch, pl, d)
        pos = np.searchsorted(cand, rows)
        before = cand[np.maximum(pos - 1, 0)]
        first = pos == 0
        width = chars.shape[1]
        prev_chars = chars[before].astype(np.uint32)
        parent = pl.parent_line[before].copy()
        types = batch.types[before].astype(np.int64)
        readable = batch.length_ok[before].copy()
        carried = self.last_sibling.get(d)
        if first.any():
            if carried is None:
                parent[first], types[first] = -1, -1
            else:
                c_parent, c_chars, c_type, c_ok = carried
                prev_chars[first] = c_chars[:width]
                parent[first], types[first], readable[first] = c_parent, c_type, c_ok
        sibling = parent == pl.parent_line[rows]
        types = np.where(sibling, types, -1)
        known = ~sibling | readable
        return make_previous(rule, self.spec, prev_chars, types, known, self.today)

    def _carry_siblings(self, batch: Batch, pl: Placement) -> None:
        """Keep, per depth the sibling rules read, the last record at that depth."""
        for d in self.sibling_depths:
            cand = self._sibling_rows(batch, pl, d)
            if len(cand):
                r = int(cand[-1])
                self.last_sibling[d] = (int(pl.parent_line[r]), batch.chars[r].astype(np.uint32).copy(),
                                        int(batch.types[r]), bool(batch.length_ok[r]))

    # ------------------------------------------------------------------ verdicts
    def _verdicts(self, group: Group) -> None:
        """Verdicts of one closed top-level group (STB §6.4.3): its top part (the top record
        and the records judged with it) and each unit with what hangs under it."""
        codes_of = self.line_codes.pop_group(group.lines)
        if not codes_of:
            return
        put = self.outcomes.put
        ok, not_assessed = (self.ok,), (self.not_assessed,)
        rejected, approved = Verdict.REJECTED, Verdict.APPROVED
        head_line = group.lines[0]
        vecozo = self.mode == "vecozo"
        top_bad = any(line in codes_of for line, _t, u in group if not u)
        bad_units = {u for line, _t, u in group if u and line in codes_of}
        if top_bad:
            for line, t, u in group:
                if not u:
                    own = codes_of.get(line)
                    put(line, t, rejected if own or line == head_line else approved, own or ok)
            if not vecozo:  # insurer: the units of a rejected top record are not assessed
                for line, t, u in group:
                    if u:
                        put(line, t, Verdict.NOT_ASSESSED, not_assessed)
                return
        elif bad_units and not vecozo:
            for line, t, u in group:  # co-returned with the rejected units, assessed and fine
                if not u:
                    put(line, t, approved, ok)
        for line, t, u in group:
            if u in bad_units:
                own = codes_of.get(line)
                put(line, t, rejected if own or line == u else approved, own or ok)

    # ------------------------------------------------------------------ the end
    def finish(self) -> None:
        spec = self.spec
        for rule in self.known.file_seen if self.known is not None else ():
            header = self.walker.header
            self.add((0, 0), rule.id, (header.line if header is not None else 0) or 1, spec.header,
                     rule.report or (rule.rubrics[0] if rule.rubrics else None), rule.message, rule=rule)
        if self.subtree or self.sums:
            self._settle(None)
        for group in self.walker.finish(self._structural):
            self._verdicts(group)
        w = self.walker
        if w.trailer_line is None:
            rubric = spec.records[spec.trailer].fields[0].rubric if self.rules.name_kenmerk else None
            self.add((4, 0), "file.missing_trailer", None, None, rubric, "the file has no sluitrecord")
            return
        raw = w.trailer_raw
        lay = spec.records[spec.trailer]
        if raw is None or len(raw) != lay.length:
            return
        line = w.trailer_line
        for rubric, types in spec.counts.items():
            f = lay.by_rubric[rubric]
            text = raw[f.slice]
            actual = sum(w.counts.get(t, 0) for t in types)
            if text.isascii() and text.isdigit() and int(text) != actual:
                code, _ = self.rules.field_code(rubric, spec.trailer)
                self.add((4, 0), "file.trailer_count", line, spec.trailer, rubric,
                         f"{f.name} ({rubric}) says {int(text)}, the file holds {actual}", code=code)
        for total in spec.totals:
            f = lay.by_rubric[total.rubric]
            dc = lay.by_rubric[f.sign] if f.sign else None
            text = raw[f.slice]
            if not (text.isascii() and text.isdigit()):
                continue
            sign = raw[dc.start - 1] if dc is not None else "D"
            stated = int(text) * (-1 if sign == "C" else 1)
            if stated != self.total or (self.total == 0 and dc is not None and sign != "D"):
                self.add((4, 1), "file.trailer_total", line, spec.trailer, total.rubric,
                         f"{f.name} ({total.rubric}) with its D/C does not equal the signed sum of {total.sum}")

    def exact_sums(self) -> dict[str, int]:
        """The signed sums of the trailer totals' amounts (by the summed rubric) that are
        exact for the whole file: every record of the type holding it was summed (whole,
        between voorlooprecord and sluitrecord) with plain digits and D or C. The return
        file's builder takes its totals from them instead of reading the file again."""
        return self._exact(0)

    def exact_magnitudes(self) -> dict[str, int]:
        """:meth:`exact_sums` of the amounts without their D/C: a bound the return file's
        builder sets on a total made of some of them (that it cannot overflow)."""
        return self._exact(3)

    def _exact(self, part: int) -> dict[str, int]:
        rubrics = self._total_rubrics()
        return {total: kept[part] for (t, _, _), kept, total in zip(self.totals, self.total_parts, rubrics)
                if kept[2] and kept[1] == self.walker.counts.get(_TYPE_NAMES[t], 0) and rubrics.count(total) == 1}

    def _total_rubrics(self) -> list[str]:
        return [total.sum for total in self.spec.totals for lay in self.spec.records.values()
                if (f := lay.by_rubric.get(total.sum)) is not None and f.sign]

    def known_repeats(self) -> _Known:
        """After a first pass: the keys that repeat (empty when nothing does)."""
        out = _Known()
        if self.digest is not None and self.history is not None and self.history.holds_file(self.digest.hexdigest()):
            out.file_seen = self.file_rules
        for i, keys in self.unique_keys.items():
            out.dups[i] = keys.repeated()
        for i, keys in self.debit_keys.items():
            credits = self.credit_keys.get(i)
            if credits is None or not len(credits) or not len(keys):
                continue
            pairs: Iterable[tuple[np.ndarray, np.ndarray]]
            if credits.spilled() or keys.spilled():  # (bucket by bucket: the same top bits)
                pairs = zip(keys.in_buckets(), credits.in_buckets())
            else:
                pairs = [(next(keys.buckets()), next(credits.buckets()))]
            found = []
            for debits, prevs in pairs:
                if len(debits) and len(prevs):
                    # the many debit keys looked up among the few credit lines' (sorted):
                    # no sort of the many
                    prev = np.unique(prevs)
                    at = np.minimum(np.searchsorted(prev, debits), len(prev) - 1)
                    found.append(np.unique(debits[prev[at] == debits]))
            out.credited[i] = np.concatenate(found) if found else np.zeros(0, np.int64)
        return out

    def _order_tail(self) -> None:
        """Put the findings made since the last call in order (see :meth:`findings`):
        a batch's findings at a time, so that the whole is mostly in order already."""
        a, n = self._ordered, len(self.keys)
        self._ordered = n
        if n - a < 2:
            return
        keys = np.frombuffer(self.keys, np.int32)[a:n]
        lines = self.found.line_numbers()[a:n]
        order = np.lexsort((keys, np.where(lines < 0, _LAST, lines)))
        if (order[1:] < order[:-1]).any():
            keys[:] = keys[order]
            del keys, lines  # (the views hold the arrays: let them go)
            self.found.reorder(order, a)

    def findings(self) -> Findings:
        """The findings in order: by line, then structure, identificatie, fields, rules
        (in the order of the rules file), trailer; in the order made within those."""
        self._order_tail()
        keys = np.frombuffer(self.keys, np.int32) if len(self.keys) else np.zeros(0, np.int32)
        lines = self.found.line_numbers()
        if not _in_order(lines, keys):  # (findings of earlier lines made later: sort them all)
            lines = np.where(lines < 0, _LAST, lines)  # (no line: last)
            order = np.lexsort((keys, lines))  # (a stable sort: made order within equal keys)
            del keys, lines  # (the view holds the array: let it go)
            self.found.reorder(order)  # (in place: the run is done with them)
        else:
            del keys, lines
        self.keys = array("i")
        return self.found


def _seen_before(keys: np.ndarray, seen: set[int]) -> np.ndarray:
    """Per key of *keys* (in file order): it was seen before, in *seen* (the keys of
    earlier batches) or earlier in *keys*; *seen* takes them all."""
    again = np.ones(len(keys), bool)
    if not len(keys):
        return again
    uniq, first = np.unique(keys, return_index=True)
    again[first] = False
    if seen:
        again |= np.isin(keys, np.fromiter(seen, np.int64, len(seen)))
    seen.update(uniq.tolist())
    return again


def _in_order(lines: np.ndarray, keys: np.ndarray, chunk: int = 1 << 18) -> bool:
    """Whether findings with *lines* (-1: none, last) and order *keys* are in order
    (ascending by line, then key), checked a chunk at a time (no copy of them all)."""
    for a in range(0, max(len(lines) - 1, 0), chunk):
        b = min(a + chunk + 1, len(lines))
        li = np.where(lines[a:b] < 0, _LAST, lines[a:b])
        k = keys[a:b]
        if not ((li[1:] > li[:-1]) | ((li[1:] == li[:-1]) & (k[1:] >= k[:-1]))).all():
            return False
    return True


def _rules_of(spec: MessageSpec, rules: str | os.PathLike[str] | None) -> RuleSet:
    if rules is not None:
        return load_rules(rules, spec)
    return rules_for(spec)


def validate(source: Source, *, mode: Mode = "insurer", today: dt.date | None = None,
             codes: str | os.PathLike[str] | None = None, spec: MessageSpec | None = None,
             rules: str | os.PathLike[str] | None = None, encoding: str | None = None,
             show_values: bool = False, progress: Callable[[int], None] | None = None,
             batch_lines: int | None = None, history: HistorySource | None = None,
             registers: Registers | Mapping[str, RegisterSource | Register] | None = None) -> Report:
    """Check *source* against its spec and rules and return a :class:`Report`.

    ``mode``: ``"insurer"`` (an insurer's checks and return rules) or ``"vecozo"``
    (every record assessed; a record-level rejection rejects the whole file).
    ``today`` is the date dates are checked against (default: today). ``codes`` loads
    an official COD954 list (CSV export) and makes it the list in use. ``spec`` a spec
    of your own (a spec alone validates: grammar, layout and code lists with the
    default codes); ``rules`` a rules file (default: the one beside the spec, if any).
    ``show_values=True`` puts offending values in messages (off by default: they may
    be personal data). ``progress`` is called now and then with the number of lines
    checked so far. ``batch_lines``: lines checked at a time (findings do not depend on it;
    default: :func:`batch_lines_for` the rules).
    ``history``: earlier claim lines and their outcomes (:class:`~eicodec.ClaimHistory`,
    its SQLite file's path, or a mapping): the rules of kind ``claim_history`` (STB §5.4.8)
    run only with one. ``registers``: code registers by name (``{"agb": "agb.csv",
    "uzovi": lookup}``, see :mod:`eicodec.registers`): the rules of kind ``register``
    run only for the registers given.

    Raises :class:`~eicodec.errors.UnreadableInputError` for input that is no EI file.
    A file that does not start with a voorlooprecord is one, unless ``spec`` is given and
    its first record is another record of that spec: then the file is rejected at file
    level (``file.missing_header``, line 1) and the rest is checked as usual.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if codes is not None:
        use_return_codes(codes)
    day = today or dt.date.today()
    past = HistoryStore.of(history) if history is not None else None
    regs = Registers.of(registers)
    since, before = now_ns(), stamp_of(source)
    # a file whose stamp can be trusted is fingerprinted only when the report is asked
    # for it (Report.fingerprint): the answer knows it by its stamp
    later = stable_before(before, since)
    opener, to_close = replayable(source)
    if past is not None and past is not history:
        to_close.append(past)  # type: ignore[arg-type]  # opened here: closed here
    try:
        with RecordStream(opener(), encoding=encoding, spec=spec, defer_check=True,
                          headerless=spec is not None, recognise=True) as stream:
            found = stream.info.spec
            assert found is not None
            info = stream.info
            headerless = info.header_missing
            ruleset = _rules_of(found, rules)
            batch_lines = batch_lines or batch_lines_for(ruleset)
            run = _Run(found, ruleset, mode, show_values, day, None, past, regs)
            if headerless:
                run.missing_header()
            _consume(run, stream, batch_lines, progress, opener, fingerprint=not later)
        known = run.known_repeats()
        unsure = {t for t, ok in run.id_increasing.items() if not ok}
        # (the first pass kept the ids: a pass of their own only for those it gave up on)
        so_far = {t: run.ids_so_far.get(t, _IdsSoFar()) for t in unsure}
        known.ids = {t: ids.repeated() for t, ids in so_far.items() if not ids.lost}
        if unsure - set(known.ids):
            with RecordStream(opener(), encoding=encoding, spec=found, defer_check=True,
                              headerless=headerless) as stream:
                known.ids.update(id_repeats(found, iter_batches(stream, batch_lines, opener, fingerprint=False),
                                            unsure - set(known.ids)))
        again = known.any()
        if again and _repeats_first(known):
            # Rare: something repeats. Look again for what repeats only; when that (or the
            # first pass) rejects the file as a whole no verdict counts, and the findings
            # are the first pass's and these (a file seen before drops rules instead).
            walker = run.look_for_repeats(known, headerless)
            with RecordStream(opener(), encoding=encoding, spec=found, defer_check=True,
                              headerless=headerless) as stream:
                _consume(run, stream, batch_lines, progress, opener, fingerprint=False)
            run.walker, run.repeats_only = walker, False
            again = "file" not in run.found.levels()
        if again:
            # Check again knowing what repeats, so that the affected groups get their
            # verdicts right.
            run = _Run(found, ruleset, mode, show_values, day, known, past, regs)
            if headerless:
                run.missing_header()
            with RecordStream(opener(), encoding=encoding, spec=found, defer_check=True,
                              headerless=headerless) as stream:
                _consume(run, stream, batch_lines, progress, opener, fingerprint=False)  # (taken above)
    finally:
        for fh in to_close:
            fh.close()
    if info.header_key_wrong:
        run.header_key(found)
    if "file.encoding" in run.rules.rules and mode in run.rules.rules["file.encoding"].modes:
        for line in info.fallback_lines:  # lines of a UTF-8 file that were not UTF-8 (see reader)
            run.add((0, 0), "file.encoding", line, None, None,
                    "line is not UTF-8 like the rest of the file; read as cp1252")
    findings = run.findings()
    kept = kept_stamp(before, source, since)
    fingerprint: str | FileFingerprint = info.fingerprint
    if later and not fingerprint:
        fingerprint = FileFingerprint(source, kept) if kept is not None else ""  # type: ignore[arg-type]
    levels = findings.levels()
    unassessed: Findings | None = None
    if "file" in levels:
        status = Status.REJECTED_FILE
        if "record" in levels:  # (kept apart, see Report; the many moved out of the way of the few)
            findings, unassessed = findings.take_out("file"), findings
    elif "record" in levels:
        status = Status.REJECTED_RECORDS
    else:
        status = Status.APPROVED
    return Report(spec=found, mode=mode, status=status, findings=findings, outcomes=run.outcomes,
                  unassessed=unassessed if unassessed is not None else [],
                  counts=dict(run.walker.counts), encoding=info.encoding, fingerprint=fingerprint,
                  header_raw=run.walker.header_raw, bom=info.bom, checked_on=day,
                  header_line=run.walker.header.line if run.walker.header is not None else None,
                  trailer_raw=run.walker.trailer_raw, amount_sums=run.exact_sums(),
                  amount_magnitudes=run.exact_magnitudes(),
                  source=source_name(source),
                  answer_index=run.recorder.finish(run.outcomes, kept))


def _repeats_first(known: _Known) -> bool:
    """Whether to look for what repeats alone before checking the file again as a whole
    (not when the history holds the file: some rules then stand instead of others)."""
    return not known.file_seen


def _consume(run: _Run, stream: RecordStream, batch_lines: int, progress: Callable[[int], None] | None,
             reopen: Callable[[], Source], fingerprint: bool = True) -> None:
    mark = _PROGRESS_EVERY
    done = 0
    for batch in iter_batches(stream, batch_lines, reopen, fingerprint=fingerprint):
        run.feed(batch)
        if not run.repeats_only:
            run.recorder.feed(batch, run.outcomes)
        done += len(batch)
        del batch  # (before the next is read: peak memory)
        if progress is not None and done >= mark:
            progress(done)
            mark = done + _PROGRESS_EVERY
    if not run.repeats_only:
        run.finish()
