"""Seeded mutated files and every output a user can share of them (issue 25).

Used by ``tests/test_privacy_corpus.py`` (a few hundred files in the suite) and by
``scripts/privacy_corpus.py`` (20,000 or more). A *base* file is a well-formed example
whose personal values are known from its own layout; each mutation damages it the way
real vendors' files are damaged (a relabelled kenmerk, joined and split lines, a CR
inside a line, shifted fields, truncation, byte noise, non-ASCII text). :func:`check`
then runs every output over the mutated file and reports

* ``leak``: a personal value of the base (as written, dates also ISO and Dutch,
  postcodes also with a space) in an output: the anonymised copy, masked CSV (both
  layouts, every record type), JSON, JSON Lines, Arrow, Parquet, ``show``, the HTML
  report, the findings' messages and the JSON report;
* ``foreign``: an exception that is not the library's own (EicodecError);
* ``verdict``: the anonymised copy of a readable file validates differently (status,
  findings by line, rubric and code, outcomes);
* ``refused``: the anonymiser refused (LeakError) instead of writing a copy.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import eicodec
from eicodec import tables
from eicodec.anonymise import LeakError, anonymise, load_fakes
from eicodec.convert import iter_csv, iter_jsonl, to_json
from eicodec.reader import open_records
from eicodec.report_html import render
from eicodec.report_json import iter_report_json

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
TODAY = dt.date(2024, 3, 1)
KEY = b"privacy corpus key"
_VOCABULARY = frozenset(v for c in load_fakes().by_element.values() for v in c.values)


# --------------------------------------------------------------------------- base files

def _set(line: str, spec: eicodec.MessageSpec, rubric: str, text: str) -> str:
    f = spec.field(line[:2], rubric)
    return line[:f.start - 1] + text.ljust(f.length)[:f.length] + line[f.end:]


def bases() -> list[bytes]:
    """The well-formed examples, the full one also with a phone number, an e-mail address
    and a reserve holding an address (every kind of personal value the spec knows)."""
    out = [p.read_bytes() for p in sorted(EXAMPLES.glob("*.asc"))]
    spec = eicodec.get_spec("AP304")
    lines = (EXAMPLES / "ap304_full.asc").read_bytes().decode().split("\r\n")
    for i, line in enumerate(lines):
        if line.startswith("03"):
            line = _set(line, spec, "0322", "0612345678")
            lines[i] = _set(line, spec, "0324", "j.devries@example.nl")
    out.append("\r\n".join(lines).encode())
    return out


def _forms(kind: str, text: str) -> list[str]:
    forms = [text, text.lstrip("0")] if kind in ("digits", "number", "date") else [text]
    if kind == "date" and re.fullmatch("[0-9]{8}", text):
        forms += [f"{text[:4]}-{text[4:6]}-{text[6:]}", f"{text[6:]}-{text[4:6]}-{text[:4]}"]
    if re.fullmatch("[1-9][0-9]{3}[A-Z]{2}", text):
        forms.append(f"{text[:4]} {text[4:]}")
    return forms


def personal_values(data: bytes) -> dict[str, str]:
    """Each personal value of a well-formed file (in every form it could be shown in),
    with its rubric: long enough not to occur by chance (5 characters, 3 of them not
    0), not the no-BSN dummy, not a word of the fake table, and not found in the file
    outside personal fields (such text is not personal)."""
    found: dict[str, str] = {}
    public = []
    for rec in eicodec.iter_records(data):
        lay = rec.layout
        assert lay is not None and len(rec.raw) == lay.length, "a base file is well-formed"
        chars = list(rec.raw)
        for f in lay.fields:
            if f.personal or f.kind == "reserve":
                chars[f.start - 1:f.end] = "\x00" * f.length
                for form in _forms(f.kind, rec.raw[f.slice].strip(" ")):
                    if len(form) >= 5 and len(form.replace("0", "")) >= 3 and form != "999999999":
                        found.setdefault(form, f.rubric)
        public.append("".join(chars))
    text = "\n".join(public)
    return {v: r for v, r in found.items() if v not in text and v not in _VOCABULARY}


# --------------------------------------------------------------------------- mutations

def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n")[:-1] if data.endswith(b"\r\n") else data.split(b"\r\n")


def _join(lines: list[bytes]) -> bytes:
    return b"".join(x + b"\r\n" for x in lines)


def mutate(data: bytes, rng: random.Random, kinds: list[str]) -> tuple[bytes, list[str]]:
    """*data* damaged by one to three of the mutations (their names returned)."""
    done = []
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
        kind = rng.choice(MUTATIONS)
        lines = _lines(data)
        if not lines:
            break
        i = rng.randrange(len(lines))
        line = lines[i]
        if kind == "relabel":
            lines[i] = rng.choice([k for k in kinds if k.encode() != line[:2]] or kinds).encode() + line[2:]
        elif kind == "join" and i + 1 < len(lines):
            lines[i:i + 2] = [lines[i] + lines[i + 1]]
        elif kind == "split" and len(line) > 3:
            p = rng.randrange(2, len(line))
            lines[i:i + 1] = [line[:p], line[p:]]
        elif kind == "cr_inside" and len(line) > 3:
            p = rng.randrange(2, len(line))
            lines[i] = line[:p] + rng.choice((b"\r", b"\n")) + line[p:]
        elif kind == "shift" and len(line) > 20:
            p, k = rng.randrange(2, len(line)), rng.randrange(1, 16)
            if rng.random() < 0.5:
                lines[i] = (line[:p] + b" " * k + line[p:])[:len(line)]
            else:
                lines[i] = (line[:p] + line[p + k:]).ljust(len(line))
        elif kind == "truncate_line" and len(line) > 3:
            lines[i] = line[:rng.randrange(2, len(line))]
        elif kind == "truncate_file":
            cut = _join(lines)
            done.append(kind)
            data = cut[:rng.randrange(len(cut) + 1)]
            continue
        elif kind == "noise":
            b = bytearray(line)
            for _ in range(rng.randrange(1, 6)):
                if b:
                    b[rng.randrange(len(b))] = rng.randrange(256)
            lines[i] = bytes(b)
        elif kind == "foreign" and len(line) > 80:
            p = rng.randrange(2, len(line) - 4)
            text = rng.choice(("é", "ü", "ß", "一", "Ā", "\r", "𝄞"))
            lines[i] = line[:p] + text.encode()[:rng.randrange(1, 5)] + line[p + 1:]
        elif kind == "duplicate":
            lines.insert(i, line)
        elif kind == "drop" and len(lines) > 1:
            del lines[i]
        else:
            continue
        done.append(kind)
        data = _join(lines)
    return data, done


MUTATIONS = ("relabel", "relabel", "relabel", "join", "join", "split", "cr_inside", "shift", "shift",
             "truncate_line", "truncate_file", "noise", "foreign", "duplicate", "drop")


def corpus(seed: int, n: int) -> Iterator[tuple[int, bytes, bytes, list[str]]]:
    """*n* seeded mutated files: (number, base, mutated file, mutations)."""
    rng = random.Random(seed)
    all_bases = bases()
    kinds = {id(b): list(eicodec.read(b).spec.records) for b in all_bases}
    for k in range(n):
        base = all_bases[k % len(all_bases)]
        data, done = mutate(base, rng, [*kinds[id(base)], "00", "77"])
        yield k, base, data, done


# --------------------------------------------------------------------------- outputs

def verdict(data: bytes) -> tuple[object, ...]:
    """What a user reads in a report: status, findings (where, which code), outcomes."""
    return _verdict(eicodec.validate(data, today=TODAY))


def _verdict(r: eicodec.Report) -> tuple[object, ...]:
    findings = sorted((f.level, f.line or 0, f.record_type or "", f.rubric or "", f.code) for f in r.findings)
    return r.status, findings, [(line, r.outcomes[line]) for line in r.outcomes]


def _show(path: Path) -> str:
    from eicodec.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
        main(["show", str(path)])
    return buf.getvalue()


def outputs(data: bytes, path: Path, *, parquet: bool,
            validated: eicodec.Report | None = None) -> Iterator[tuple[str, Callable[[], str]]]:
    """Every shareable output of *data* (written at *path* for the command line;
    *validated*: its report when already made)."""
    yield "convert csv fields", lambda: "".join(iter_csv(data, mask=True))
    yield "convert json", lambda: json.dumps(to_json(data, mask=True), ensure_ascii=False)
    yield "convert jsonl", lambda: "\n".join(iter_jsonl(data, mask=True))
    yield "show", lambda: _show(path)
    types: list[str | None] = [None]
    with contextlib.suppress(Exception), open_records(data) as stream:  # (the outputs below report it)
        assert stream.info.spec is not None
        types = list(stream.info.spec.records)
    for t in types:
        yield f"convert csv records {t}", lambda t=t: "".join(tables.iter_csv_rows(data, t))
        yield f"arrow {t}", lambda t=t: str(tables.to_arrow(data, t).to_pylist())
    if parquet:
        def pq() -> str:
            import pyarrow.parquet as pq_

            buf = io.BytesIO()
            tables.to_parquet(data, buf)
            buf.seek(0)
            return str(pq_.read_table(buf).to_pylist())

        yield "parquet", pq

    def report() -> str:
        r = validated if validated is not None else eicodec.validate(data, today=TODAY)
        return "\n".join([" ".join(f.message for f in r.findings), *iter_report_json(r),
                          render(r, eicodec.iter_records(data))])

    yield "messages, json report, html", report


def check(data: bytes, values: dict[str, str], workdir: Path, *, parquet: bool = False) -> list[tuple[str, str]]:
    """The problems (kind, where: rubric or exception type, never a value) of *data*."""
    problems: list[tuple[str, str]] = []
    path = workdir / "in.asc"
    path.write_bytes(data)

    def scan(what: str, text: str) -> None:
        for v, rubric in values.items():
            if v in text:
                problems.append(("leak", f"{what}: rubric {rubric}"))

    report: eicodec.Report | None = None
    try:
        report = eicodec.validate(data, today=TODAY)
        before: tuple[object, ...] | None = _verdict(report)
    except eicodec.EicodecError:
        before = None
    except Exception as exc:  # noqa: BLE001 - what we are looking for
        problems.append(("foreign", f"validate: {type(exc).__name__}"))
        before = None
    try:
        copy = b"".join(anonymise(data, KEY))
    except LeakError as exc:
        problems.append(("refused", f"anonymise: rubric {exc.rubric}"))
    except eicodec.EicodecError:
        if before is not None:
            problems.append(("verdict", "anonymise refused a readable file"))
    except Exception as exc:  # noqa: BLE001
        problems.append(("foreign", f"anonymise: {type(exc).__name__}"))
    else:
        scan("anonymise", copy.decode("latin-1") + copy.decode("utf-8", "replace"))
        if before is not None:
            try:
                if verdict(copy) != before:
                    problems.append(("verdict", "anonymised copy validates differently"))
            except Exception as exc:  # noqa: BLE001
                problems.append(("verdict", f"anonymised copy: {type(exc).__name__}"))
    for what, make in outputs(data, path, parquet=parquet, validated=report):
        try:
            text = make()
        except eicodec.EicodecError:
            continue
        except Exception as exc:  # noqa: BLE001
            problems.append(("foreign", f"{what}: {type(exc).__name__}"))
            continue
        scan(what, text)
    return problems
