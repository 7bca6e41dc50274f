"""The ``eicodec`` command line: validate, show, convert, build, anonymise, explain, report, info, example.

Exit status (scripts rely on it): 0 every file approved (or the command succeeded),
1 at least one file rejected, 2 usage error, 3 at least one file unreadable.
``-`` stands for standard input wherever a file is read and for standard output
wherever one is written.
"""

from __future__ import annotations

import argparse
import codecs
import datetime as dt
import json
import os
import re
import sys
import tempfile
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn, TextIO

from . import spec_cli
from ._version import __version__
from .codes import return_codes, use_return_codes
from .convert import from_json, iter_csv, iter_jsonl, to_json
from .engine import validate
from .errors import EicodecError, LookupFailure, UnreadableInputError, UsageError
from .examples import example_names, read_example
from .findings import Report, Status
from .history_cli import add_commands as add_history_commands
from .history_cli import history_location, open_or_create
from .layouts import MessageSpec, get_spec, load_spec
from .many import failure, run_ordered
from .masking import MASK, Masker
from .messages_nl import translate
from .outputs import (
    OutputConflict,
    answer_paths,
    atomic_output,
    check_not_input,
    cleanup_on_signals,
    remove_stale_partials_of,
)
from .progress import Progress, is_terminal
from .reader import NoClose, RecordStream, Source, build_tree, open_records
from .report_json import iter_report_json, iter_report_jsonl, unreadable_to_dict
from .rules import rules_for

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_UNREADABLE = 0, 1, 2, 3
TEXT_FINDINGS = 10
STDIO = "-"


# ---------------------------------------------------------------------- arguments

_MONTHS = {name: n for n, names in enumerate((
    ("jan", "januari", "january"), ("feb", "februari", "february"), ("mrt", "maart", "mar", "march"),
    ("apr", "april"), ("mei", "may"), ("jun", "juni", "june"), ("jul", "juli", "july"),
    ("aug", "augustus", "august"), ("sep", "sept", "september"), ("okt", "oktober", "oct", "october"),
    ("nov", "november"), ("dec", "december")), 1) for name in names}


def parse_day(text: str) -> dt.date:
    """A calendar date for ``--today``: ISO 8601 (``2024-03-01``, ``20240301``), or a form
    that cannot be misread: the year first (``2024/3/1``), day-month-year with hyphens or
    dots (``1-3-2024``, ``01.03.2024``, as the Netherlands writes it) or a written month
    (``1 maart 2024``, ``1 March 2024``). A slash with the year last (``3/1/2024``: 3 January
    or March 1?) and two-digit years are refused as ambiguous."""
    text = text.strip()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    parts: list[str] = []
    if re.fullmatch(r"\d{1,2}([-.])\d{1,2}\1\d{4}", text):  # day first, as the Netherlands writes it
        parts = re.split(r"[-.]", text)
    elif re.fullmatch(r"\d{4}([-/.])\d{1,2}\1\d{1,2}", text):  # year first: never day before month
        parts = re.split(r"[-/.]", text)[::-1]
    else:
        m = re.fullmatch(r"(\d{1,2})\.?\s+([A-Za-z]+)\.?\s+(\d{4})", text)
        if m and m.group(2).lower() in _MONTHS:
            parts = [m.group(1), str(_MONTHS[m.group(2).lower()]), m.group(3)]
    if parts:
        try:
            return dt.date(int(parts[2]), int(parts[1]), int(parts[0]))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is no calendar date") from None
    raise argparse.ArgumentTypeError(f"{text!r} is not an unambiguous date (use YYYY-MM-DD, e.g. 2024-03-01; "
                                     "or 1-3-2024 / 1 maart 2024, day first)")


def _encoding(text: str) -> str:
    try:
        return codecs.lookup(text).name
    except LookupError:
        raise argparse.ArgumentTypeError(f"unknown encoding {text!r} (e.g. utf-8, cp1252)") from None


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return n


def _existing_file(option: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        if not Path(text).is_file():
            raise argparse.ArgumentTypeError(f"no such file: {text}")
        return text
    check.__name__ = option
    return check


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line naming the option (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("eicodec").strip()
        raise UsageError(f"{command + ': ' if command else ''}{message} (see {self.prog} --help)")


# ---------------------------------------------------------------------- input / output

def _is_std(name: str | None) -> bool:
    return name == STDIO


def _stdin() -> IO[bytes]:
    return sys.stdin.buffer


def _replayable_stdin() -> IO[bytes]:
    """Standard input copied to a temporary file (memory up to 16 MB, then disk), for
    commands that read their input twice."""
    spool = tempfile.SpooledTemporaryFile(max_size=16 << 20)  # noqa: SIM115 - closed by the caller
    while chunk := _stdin().read(1 << 20):
        spool.write(chunk)
    spool.seek(0)
    return spool


def _label(name: str) -> str:
    return "<stdin>" if _is_std(name) else name


class _Tracked(NoClose):
    """A binary file that reports how far into it reading has come (for progress)."""

    def __init__(self, path: str, progress: Progress) -> None:
        super().__init__(open(path, "rb"))  # noqa: SIM115 - closed by close()
        self._progress = progress

    def readinto(self, buf: Any) -> int:
        n = super().readinto(buf)
        self._progress.update(self._fh.tell())
        return n

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        self._progress.update(self._fh.tell())
        return data

    def close(self) -> None:
        self._fh.close()
        super().close()


def _estimated_records(path: str) -> int | None:
    """Records in a file, from its size and the length of its first line (EI records
    all have one length); None for standard input or an odd file."""
    if _is_std(path):
        return None
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            first = fh.readline(4096)
    except OSError:
        return None
    return size // len(first) if first.endswith(b"\n") else None


def _write_text_output(target: str, chunks: Iterator[str] | Sequence[str]) -> None:
    """Write text to *target* (``-``: stdout) with the line ends given."""
    if _is_std(target):
        for chunk in chunks:
            sys.stdout.write(chunk)
        sys.stdout.flush()
        return
    with atomic_output(target, "w", encoding="utf-8", newline="") as out:
        for chunk in chunks:
            out.write(chunk)


def _write_bytes_output(target: str, data: bytes) -> None:
    if _is_std(target):
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        with atomic_output(target) as fh:
            fh.write(data)


def _refuse_input_as_output(option: str, output: str | None, inputs: Sequence[str]) -> None:
    """Usage error (exit 2) when an output path names an input file: it would be destroyed."""
    if output and not _is_std(output):
        try:
            check_not_input(output, inputs)  # ("-": the file behind standard input)
        except OutputConflict as exc:
            raise UsageError(f"{option}: {exc}") from None


# ---------------------------------------------------------------------- validate

class _Result:
    """One file's validation: its report, or (report None) why it has none: ``failed``
    says ``unreadable`` or ``failed`` with the error's type and a one-line message. A
    report whose return file could not be written keeps the report, with ``message``
    and ``error_type`` saying why (``answer_failed``)."""

    def __init__(self, path: str, report: Report | None, message: str = "", retour: str | None = None,
                 failed: str = "unreadable", error_type: str = "UnreadableInputError") -> None:
        self.path, self.report, self.message, self.retour = path, report, message, retour
        self.failed, self.error_type = failed, error_type

    @property
    def answer_failed(self) -> bool:
        """A report, but the return file asked for was not written."""
        return self.report is not None and bool(self.message)

    @property
    def status(self) -> str:
        return self.failed if self.report is None else self.report.status.value

    @classmethod
    def of_error(cls, path: str, exc: BaseException, prefix: str = "") -> _Result:
        """The result of a file whose validation (or answer) raised *exc* (no traceback)."""
        fail = failure(path, exc)
        status = "failed" if prefix else fail.status  # the file was read; its answer failed
        return cls(path, None, prefix + fail.message, failed=status, error_type=fail.error_type)


def _validate_one(path: str, opts: dict[str, Any]) -> _Result:
    """Validate one file (runs in worker processes too; the result pickles). Never raises
    for a bad file: an unreadable file or an error gives a result that says so."""
    retour = opts.get("retour_target")
    source: Source = path
    progress: Progress | None = opts.get("progress")
    try:
        if opts.get("codes"):
            use_return_codes(opts["codes"])
        spec = load_spec(opts["spec"]) if opts.get("spec") else None
        if _is_std(path):  # read once, or spooled when the return file needs it again
            source = _replayable_stdin() if retour else _stdin()
        try:
            report = validate(source, mode=opts["mode"], today=opts.get("today"), spec=spec,
                              encoding=opts.get("encoding"), show_values=bool(opts.get("show_values")),
                              progress=progress.update if progress else None, history=opts.get("history"),
                              registers=opts.get("registers"))
        finally:
            if progress:
                progress.close()
    except Exception as exc:  # noqa: BLE001 - every file gets its result
        _close_spool(source, path, retour)
        return _Result.of_error(path, exc)
    try:
        written = None
        if retour and not (report.mode == "vecozo" and report.status is Status.APPROVED):
            if not isinstance(source, str):
                source.seek(0)  # type: ignore[union-attr]
            from .retour import write_retour

            retour_spec = load_spec(opts["retour_spec"]) if opts.get("retour_spec") else None
            if _is_std(retour):
                sys.stdout.flush()
                write_retour(source, report, sys.stdout.buffer, insurer_reference=opts.get("insurer_reference"),
                             return_date=opts.get("today"), spec=retour_spec, decisions=opts.get("decisions"))
                sys.stdout.buffer.flush()
            else:
                with atomic_output(retour, sweep=not opts.get("swept")) as fh:
                    write_retour(source, report, fh, insurer_reference=opts.get("insurer_reference"),
                                 return_date=opts.get("today"), spec=retour_spec,
                                 decisions=opts.get("decisions"))
            written = retour
        return _Result(path, report, retour=written)
    except Exception as exc:  # noqa: BLE001 - the answer could not be written: say so, keep the report
        fail = failure(path, exc)
        return _Result(path, report, "return file not written: " + fail.message, failed="failed",
                       error_type=fail.error_type)
    finally:
        _close_spool(source, path, retour)


def _validate_job(item: tuple[str, dict[str, Any]], name: str) -> _Result:
    """:func:`_validate_one` as a job of :func:`~eicodec.many.run_ordered`."""
    return _validate_one(*item)


def _close_spool(source: Any, path: str, retour: str | None) -> None:
    if source is not path and retour and hasattr(source, "close"):  # the spool of standard input
        source.close()


def _print_text(result: _Result, out: TextIO, lang: str = "en") -> None:
    table = return_codes()
    print(f"{_label(result.path)}: {result.status}", file=out)
    report = result.report
    if report is None:
        print(f"  {result.message}", file=out)
        return
    code_counts = report.code_counts()
    if code_counts:
        print("  return codes:", file=out)
        for code, n in sorted(code_counts.items()):
            print(f"    {code} x{n}  {table.meaning(code)}", file=out)
        print("  first findings:", file=out)
        for f in report.findings[:TEXT_FINDINGS]:
            where = f"line {f.line}" if f.line else "file"
            rubric = f" rubric {f.rubric}" if f.rubric else ""
            print(f"    {where}{rubric}: {f.code} {translate(f.message, lang)[0]}", file=out)
        more = len(report.findings) - TEXT_FINDINGS
        if more > 0:
            print(f"    ... and {more} more", file=out)
    if report.unassessed:  # STB §6.4.1: not part of the answer
        print(f"  not assessed (the file is rejected at file level): {len(report.unassessed)} record "
              "finding(s), not in the answer", file=out)
    if result.retour:
        print(f"  return file: {result.retour}", file=out)
    if result.answer_failed:
        print(f"  {result.message}", file=out)


def _emit(result: _Result, fmt: str, show_values: bool, out: TextIO | None = None, lang: str = "en") -> None:
    """Print one file's result (to *out*; default stdout, stderr when stdout holds the return file)."""
    out = out or sys.stdout
    report = result.report
    if fmt == "text":
        _print_text(result, out, lang)
        return
    if report is None:
        doc = unreadable_to_dict(result.path, result.message, status=result.failed,
                                 error_type=result.error_type, show_values=show_values, lang=lang)
        if fmt == "jsonl":  # a summary line, as for a report (and no finding lines follow)
            del doc["findings"], doc["unassessed"]
            doc = {"kind": "unreadable", **doc}
        print(json.dumps(doc, ensure_ascii=False), file=out, flush=True)
        return
    error = (result.error_type, result.message) if result.answer_failed else None
    if fmt == "json":
        # report.to_dict(), streamed a finding at a time
        for piece in iter_report_json(report, file=result.path, show_values=show_values, retour=result.retour,
                                      error=error, lang=lang):
            out.write(piece)
        out.write("\n")
    else:
        for line in iter_report_jsonl(report, file=result.path, show_values=show_values, retour=result.retour,
                                      error=error, lang=lang):
            out.write(line + "\n")
    out.flush()


def _registers(items: list[str] | None) -> dict[str, str] | None:
    """``--register NAME=PATH`` items (see eicodec.registers)."""
    from .registers import RegisterError, parse_option

    try:
        return parse_option(items) if items else None
    except RegisterError as exc:
        raise UsageError(str(exc)) from None


def cmd_validate(args: argparse.Namespace) -> int:
    files: list[str] = args.files
    if files.count(STDIO) > 1:
        raise UsageError("FILE: standard input (-) can be read only once")
    if args.retour and _is_std(args.retour) and len(files) > 1:
        raise UsageError("--retour: - (standard output) holds the return file of one input, not of several")
    targets: dict[str, str] = {}
    if args.retour and _is_std(args.retour):
        targets = {files[0]: STDIO}
    elif args.retour:
        try:
            if len(files) > 1 or Path(args.retour).is_dir():
                # (answer_paths refuses an answer that is an input, in linear time; what
                # is left is -: the file behind standard input, one stat per answer)
                answers = dict(zip(files, answer_paths(files, args.retour)))
                if STDIO in files:
                    for answer in answers.values():
                        check_not_input(answer, [STDIO], "return file")
            else:
                check_not_input(args.retour, files, "return file")
                answers = {files[0]: Path(args.retour)}
        except OutputConflict as exc:
            raise UsageError(f"--retour: {exc}") from None
        targets = {f: str(t) for f, t in answers.items()}
        remove_stale_partials_of(targets.values())  # (each folder listed once, not per answer)
    if args.decisions and not args.retour:
        raise UsageError("--decisions: they go into the return file: add --retour OUT")
    if args.decisions and args.mode == "vecozo":
        raise UsageError("--decisions: decisions are an insurer's (VECOZO decides nothing): use --mode insurer")
    decisions = None
    if args.decisions:
        from .decisions import read_decisions

        if args.codes:
            use_return_codes(args.codes)
        try:
            decisions = read_decisions(args.decisions)
        except EicodecError as exc:
            raise UsageError(f"--decisions: {exc}") from None
    open_or_create(args.history)
    base = {"mode": args.mode, "codes": args.codes, "spec": args.spec, "today": args.today,
            "encoding": args.encoding, "insurer_reference": args.insurer_reference,
            "show_values": args.show_values, "history": args.history, "retour_spec": args.retour_spec,
            "decisions": decisions, "registers": _registers(args.register), "swept": bool(targets)}
    terminal = args.format == "text" and is_terminal(sys.stderr)

    def opts_for(path: str, *, local: bool) -> dict[str, Any]:
        opts = dict(base)
        if args.retour:
            opts["retour_target"] = targets[path]
        if terminal and local:
            opts["progress"] = Progress(_label(path), total=_estimated_records(path), enabled=True,
                                       unit="records checked")
        return opts

    statuses: set[str] = set()
    jobs = args.jobs or os.cpu_count() or 1
    parallel = jobs > 1 and len(files) > 1 and STDIO not in files
    if parallel:  # through validate_many's engine: in input order, a bounded window ahead
        with Progress("validate", total=len(files), unit="files", enabled=terminal) as bar:
            items = [(path, opts_for(path, local=False)) for path in files]
            for n, result in enumerate(run_ordered(_validate_job, items, files, _Result.of_error, jobs=jobs), 1):
                bar.close()
                _emit(result, args.format, args.show_values, lang=args.lang)
                statuses.add("failed" if result.answer_failed else result.status)
                bar.update(n)
    else:
        for path in files:
            result = _validate_one(path, opts_for(path, local=True))
            _emit(result, args.format, args.show_values, sys.stderr if _is_std(args.retour) else None, args.lang)
            statuses.add("failed" if result.answer_failed else result.status)
            del result  # a big report goes before the next file is read
    if statuses & {"unreadable", "failed"}:
        return EXIT_UNREADABLE
    if statuses - {"approved"}:
        return EXIT_REJECTED
    return EXIT_OK


# ---------------------------------------------------------------------- show


def _wanted_fields(spec: MessageSpec, record: str | None, fields: str | None) -> set[str] | None:
    """The --fields asked for, each checked against the spec (usage error if unknown)."""
    if not fields:
        return None
    wanted = {f.strip() for f in fields.split(",") if f.strip()}
    types = [record] if record else list(spec.records)
    for key in sorted(wanted):
        if not any(key in spec.layout(t).by_rubric or key in spec.layout(t).by_attr for t in types):
            where = f"record {record} of {spec.name}" if record else spec.name
            raise UsageError(f"--fields: {where} has no field {key!r}")
    return wanted


def _shown(rec: Any, f: Any) -> str:
    """A field's value as ``show`` prints it: amounts in euros, signed by their D/C field."""
    from .report_html import euro

    if f.kind == "amount":
        signed = f"{f.attr}_signed"
        value = rec.get(signed) if signed in rec.layout.signed else rec.get(f.attr)
        return "" if value is None else euro(value)
    value = rec.get(f.attr)
    return "" if value is None else str(value)


def cmd_show(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec) if args.spec else None
    source: Source = _stdin() if _is_std(args.file) else args.file
    with open_records(source, encoding=args.encoding, spec=spec) as stream:
        found = stream.info.spec
        assert found is not None
        if args.record and args.record not in found.records:
            raise UsageError(f"--record: {found.name} has no record type {args.record!r} "
                             f"(it has {', '.join(found.records)})")
        wanted = _wanted_fields(found, args.record, args.fields)
        masker = None if args.unmask else Masker(found)
        for rec in stream:
            if args.record and rec.record_type != args.record:
                continue
            lay = rec.layout
            name = lay.name if lay else "UNKNOWN"
            print(f"line {rec.line}  record {rec.record_type}  {name}")
            if lay is None or len(rec.raw) != lay.length:
                print(f"  (record of {len(rec.raw)} characters cannot be shown field by field)")
                continue
            hide = masker.hidden(rec) if masker is not None else frozenset()
            if hide is None:
                print(f"  (masked: the text does not fit the layout of record {rec.record_type}; "
                      "--unmask shows it)")
                continue
            for f in lay.fields:
                if wanted and f.rubric not in wanted and f.attr not in wanted:
                    continue
                if f.kind == "reserve" and not wanted:
                    continue
                try:
                    shown = _shown(rec, f)
                except EicodecError:
                    shown = "(invalid)"
                if f.attr in hide and shown not in ("", "(invalid)"):
                    shown = MASK
                print(f"  {f.rubric}  {f.name[:48]:<48}  {shown}")
    return EXIT_OK


# ---------------------------------------------------------------------- convert / build

def cmd_convert(args: argparse.Namespace) -> int:
    _refuse_input_as_output("--output", args.output, [args.file, *([args.ap305] if args.ap305 else [])])
    spec = load_spec(args.spec) if args.spec else None
    mask = not args.unmask
    table = args.to == "parquet" or args.to == "csv" and args.layout == "records"
    if not table and (args.record or args.ap305):
        raise UsageError("--record and --ap305 go with --to parquet or --to csv (records layout)")
    if args.to == "parquet":
        from .tables import to_parquet

        if _is_std(args.output):
            raise UsageError("--output: Parquet output needs a file: -o OUT.parquet")
        source: Any = _replayable_stdin() if _is_std(args.file) else args.file
        try:
            with atomic_output(args.output) as fh:
                to_parquet(source, fh, args.record, ap305=args.ap305, spec=spec,
                           encoding=args.encoding, unmask=args.unmask)
        except ImportError as exc:
            raise UsageError(str(exc)) from None
        finally:
            if not isinstance(source, str):
                source.close()
        return EXIT_OK
    terminal = is_terminal(sys.stderr) and not (_is_std(args.output) and is_terminal(sys.stdout))
    bar = Progress(f"convert {_label(args.file)}", unit="bytes", enabled=terminal,
                   total=None if _is_std(args.file) else os.path.getsize(args.file))
    source = _stdin() if _is_std(args.file) else (_Tracked(args.file, bar) if terminal else args.file)
    if table and _is_std(args.file):
        source = _replayable_stdin()  # the table reader may read its input twice
    try:
        if args.to == "json":
            doc = to_json(source, encoding=args.encoding, spec=spec, mask=mask)
            bar.close()
            _write_text_output(args.output, [json.dumps(doc, ensure_ascii=False, indent=1), "\n"])
        elif args.to == "jsonl":
            _write_text_output(args.output, (line + "\n" for line in
                                             iter_jsonl(source, encoding=args.encoding, spec=spec, mask=mask)))
        elif args.layout == "fields":
            _write_text_output(args.output, iter_csv(source, encoding=args.encoding, spec=spec, mask=mask,
                                                     raw_csv=args.raw_csv))
        else:
            from .tables import iter_csv_rows

            _write_text_output(args.output, iter_csv_rows(source, args.record, ap305=args.ap305, spec=spec,
                                                          encoding=args.encoding, unmask=args.unmask,
                                                          raw_csv=args.raw_csv))
    finally:
        bar.close()
        if isinstance(source, _Tracked) or table and _is_std(args.file):
            source.close()
    return EXIT_OK


def _load_json(text: str, name: str) -> Any:
    """A JSON document, or the parsed lines of a JSON Lines file (as a list)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            raise UsageError(f"FILE: {_label(name)} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    items = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise UsageError(f"FILE: {_label(name)} is not valid JSON Lines: {exc.msg} (line {n})") from None
    return items


def cmd_build(args: argparse.Namespace) -> int:
    _refuse_input_as_output("--output", args.output, [args.file])
    try:
        raw = _stdin().read() if _is_std(args.file) else Path(args.file).read_bytes()
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"FILE: {_label(args.file)} is not UTF-8 text") from None
    doc = _load_json(text, args.file)
    if isinstance(doc, list):  # JSON Lines: the message keys, then one record per line
        if not doc or not isinstance(doc[0], dict):
            raise UsageError(f"FILE: {_label(args.file)} holds no JSON Lines from eicodec convert")
        doc = {**doc[0], "records": doc[1:]}
    if not isinstance(doc, dict) or not isinstance(doc.get("records"), list):
        raise UsageError(f"FILE: {_label(args.file)} is not JSON from eicodec convert (no records list)")
    spec = load_spec(args.spec) if args.spec else None
    terminal = is_terminal(sys.stderr) and not (_is_std(args.output) and is_terminal(sys.stdout))
    with Progress(f"build {_label(args.file)}", total=len(doc["records"]), enabled=terminal,
                      unit="records built") as bar:
        doc = {**doc, "records": bar.iterate(doc["records"])}
        try:
            data = from_json(doc, spec=spec, encoding=args.encoding)
        except EicodecError as exc:
            raise UsageError(f"FILE: {_label(args.file)}: {exc}") from None
    _write_bytes_output(args.output, data)
    return EXIT_OK


# ---------------------------------------------------------------------- anonymise

def cmd_anonymise(args: argparse.Namespace) -> int:
    from .anonymise import OverwriteRefused, anonymise_to

    _refuse_input_as_output("--output", args.output, [args.file])
    key = None
    if args.key_file:
        key = Path(args.key_file).read_bytes()
        if not key:
            raise UsageError("--key-file: the key file is empty")
    spec = load_spec(args.spec) if args.spec else None
    source: Any = _stdin() if _is_std(args.file) else args.file
    target: Any = sys.stdout.buffer if _is_std(args.output) else args.output
    try:
        anonymise_to(source, target, key, spec=spec, encoding=args.encoding)
    except OverwriteRefused as exc:
        raise UsageError(f"--output: {exc}") from None
    if target is sys.stdout.buffer:
        sys.stdout.buffer.flush()
    return EXIT_OK


# ---------------------------------------------------------------------- explain / report / info / example

def cmd_explain(args: argparse.Namespace) -> int:
    from .describe import describe

    key = args.code.strip()
    table = return_codes()
    spec = get_spec(args.message)
    if key.isdigit() and len(key) <= 2:  # a record type: its fields
        if key.zfill(2) not in spec.records:
            raise UsageError(f"CODE: {spec.name} has no record type {key.zfill(2)} "
                             f"(it has {', '.join(spec.records)})")
        print(describe(spec, key), end="")
        return EXIT_OK
    code = key.zfill(4) if key.isdigit() and len(key) == 3 else key
    is_field = any(code in lay.by_rubric or code in lay.by_attr for lay in spec.records.values())
    if is_field:
        print(describe(spec, code), end="")
    if code not in table:
        if is_field:
            return EXIT_OK
        raise UsageError(f"CODE: {code} is no COD954 return code ({table.source}), nor a record type or "
                         f"field of {spec.name}")
    if is_field:
        print()
    rc = table.codes[code]
    print(f"{code}  {rc.meaning}")
    if rc.explanation:
        print(f"  {rc.explanation}")
    rs = rules_for(spec if spec.kind == "declaration" else get_spec("AP304"))
    rules = [r for r in rs.rules.values() if r.code == code]
    rubrics = sorted(r for r, c in rs.field_codes.items() if c == code)
    roles = [name for name, c in rs.roles.items() if c == code]
    if rules:
        print("emitted by rules:")
        for r in rules:
            print(f"  {r.id} ({r.level}{', provisional' if r.provisional else ''}): {r.description}")
    if rubrics:
        print("field checks of rubrics: " + ", ".join(rubrics))
    if roles:
        print("used in return files as: " + ", ".join(roles))
    if not (rules or rubrics or roles):
        print("no eicodec rule emits this code (it may come from an insurer's own checks: "
              f"Reject({code!r}) in decisions=, or a row in validate --decisions)")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from .report_html import render

    _refuse_input_as_output("--html", args.html, [args.file])
    source: Source = _replayable_stdin() if _is_std(args.file) else args.file
    terminal = is_terminal(sys.stderr) and not (_is_std(args.html) and is_terminal(sys.stdout))
    today = args.today or dt.date.today()
    spec = load_spec(args.spec) if args.spec else None
    try:
        with Progress(_label(args.file), total=_estimated_records(args.file), enabled=terminal,
                      unit="records checked") as bar:
            try:
                report = validate(source, mode=args.mode, today=today, show_values=args.show_values,
                                  progress=bar.update, spec=spec, encoding=args.encoding)
            except UnreadableInputError as exc:
                print(f"{_label(args.file)}: unreadable: {exc}", file=sys.stderr)
                return EXIT_UNREADABLE
            if not isinstance(source, str):
                source.seek(0)  # type: ignore[union-attr]
            # (a file without voorlooprecord was validated with its spec named: read it so too)
            records = iter(RecordStream(source, encoding=args.encoding, spec=report.spec,
                                        headerless=not report.header_raw))
            page = render(report, records, title=f"eicodec: {Path(_label(args.file)).name}", checked_on=today,
                          lang=args.lang)
    finally:
        if not isinstance(source, str):
            source.close()  # type: ignore[union-attr]
    _write_text_output(args.html, [page])
    where = "standard output" if _is_std(args.html) else args.html
    print(f"{_label(args.file)}: {report.status.value}; report written to {where}", file=sys.stderr
          if _is_std(args.html) else sys.stdout)
    return EXIT_OK if report.status is Status.APPROVED else EXIT_REJECTED


def cmd_info(args: argparse.Namespace) -> int:
    status = EXIT_OK
    if args.files.count(STDIO) > 1:
        raise UsageError("FILE: standard input (-) can be read only once")
    for path in args.files:
        try:
            given = load_spec(args.spec) if args.spec else None
            source: Source = _stdin() if _is_std(path) else path
            with open_records(source, encoding=args.encoding, spec=given) as stream:
                spec: MessageSpec | None = stream.info.spec
                assert spec is not None
                decl = build_tree(stream, spec)
        except UnreadableInputError as exc:
            print(f"{_label(path)}: unreadable: {exc}", file=sys.stderr)
            status = max(status, EXIT_UNREADABLE)
            continue
        counts = Counter(r.record_type for r in decl.iter_records())
        print(f"{_label(path)}: {spec.name} ({spec.title}), encoding {stream.info.encoding}")
        print("  records: " + ", ".join(f"{t}={counts.get(t, 0)}" for t in spec.records))
        for p in decl.problems:
            where = f"line {p.line}: " if p.line else ""
            print(f"  problem: {where}{p.message}")
        if decl.problems:
            status = max(status, EXIT_REJECTED)
    return status


def cmd_example(args: argparse.Namespace) -> int:
    names = example_names()
    if args.list:
        for name in names:
            print(name)
        return EXIT_OK
    if args.name is not None:
        wanted = args.name if args.name in names else f"{args.name}.asc"
        if wanted not in names:
            raise UsageError(f"NAME: no example {args.name!r} (there are {', '.join(names)})")
        chosen = [wanted]
    else:
        chosen = names
    if _is_std(args.output):
        if len(chosen) != 1:
            raise UsageError("--output: name one example to write it to standard output")
        _write_bytes_output(STDIO, read_example(chosen[0]))
        return EXIT_OK
    folder = Path(args.output)
    folder.mkdir(parents=True, exist_ok=True)
    for name in chosen:
        target = folder / name
        data = read_example(name)
        if target.exists() and target.read_bytes() != data and not args.force:
            raise UsageError(f"--output: {target} exists and differs from the example (use --force)")
        target.write_bytes(data)
        print(target)
    return EXIT_OK


# ---------------------------------------------------------------------- parser

def _example(text: str) -> str:
    return f"example:\n  {text}"


def _input_options(p: argparse.ArgumentParser) -> None:
    """--spec and --encoding: how to read the input."""
    p.add_argument("--spec", metavar="SPEC", type=_existing_file("--spec"),
                   help="a corrected spec file to read the input with")
    p.add_argument("--encoding", default=None, type=_encoding,
                   help="the input's encoding (default: UTF-8, else cp1252)")


GET_EXAMPLES = "(the example files: eicodec example -o examples)"


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show a traceback on errors")
    parser = _Parser(
        prog="eicodec", formatter_class=fmt, parents=[common],
        description="Read, write and validate Vektis EI pharmacy claim files (AP304/AP305 v8.0).\n"
                    "FILE may be - for standard input; -o, --html and --retour may be - for standard output.",
        epilog="exit status: 0 approved, 1 rejected, 2 usage error, 3 unreadable input\n"
               + _example("eicodec validate examples/ap304_insurer.asc") + f"\n{GET_EXAMPLES}")
    parser.add_argument("--version", action="version", version=f"eicodec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    def command(name: str, help_: str, example: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, formatter_class=fmt, parents=[common],
                              epilog=_example(example) + f"\n{GET_EXAMPLES}")

    p = command("validate", "check files; print findings; write return files",
                "eicodec validate examples/ap304_claim_rejected.asc --retour retour.asc")
    p.add_argument("files", nargs="+", metavar="FILE", help="AP304/AP305 files; - for standard input")
    p.add_argument("--mode", choices=("insurer", "vecozo"), default="insurer")
    p.add_argument("--retour", metavar="OUT", help="write the AP305 return file (a folder for several files; "
                   "-: standard output, the findings then go to standard error)")
    p.add_argument("--format", choices=("text", "json", "jsonl"), default="text",
                   help="json: one object per file (Report.to_dict()); jsonl: a summary line per file, "
                        "then one line per finding")
    p.add_argument("--lang", choices=("en", "nl"), default="en",
                   help="language of the findings' messages (default: en; nl: Dutch where known)")
    p.add_argument("--codes", metavar="COD954.csv", type=_existing_file("--codes"),
                   help="official COD954 list (CSV export) to use")
    p.add_argument("--today", metavar="YYYY-MM-DD", type=parse_day,
                   help="date to check dates against and of the return file (default: today; "
                        "also 1-3-2024 or 1 maart 2024; never 3/1/2024)")
    p.add_argument("--insurer-reference", help="referentienummer zorgverzekeraar for return files")
    p.add_argument("--decisions", metavar="CSV", type=_existing_file("--decisions"),
                   help="the insurer's own decisions for the return file: rows of reference,code[,awarded "
                        "euros] (no amount: the claim line is rejected with code)")
    p.add_argument("--jobs", type=_jobs, default=None, metavar="N",
                   help="validate N files in parallel (default: the number of CPUs)")
    p.add_argument("--show-values", action="store_true",
                   help="put offending values in messages (may be personal data; off by default)")
    p.add_argument("--retour-spec", metavar="SPEC", type=_existing_file("--retour-spec"),
                   help="the return message's spec file for --retour (default: the shipped return of the standard)")
    p.add_argument("--history", metavar="WHERE", type=history_location,
                   help="claim history: a SQLite file (made when new) or a database URL; runs the STB 5.4.8 "
                        "rules on earlier files")
    p.add_argument("--register", action="append", metavar="NAME=PATH",
                   help="look codes up in a register (agb=AGB.csv, uzovi=UZOVI.sqlite; repeatable; off by default)")
    _input_options(p)
    p.set_defaults(func=cmd_validate)

    p = command("show", "records as a readable table (personal data masked)",
                "eicodec show examples/ap304_full.asc --record 04 --fields 0403,0410,0443")
    p.add_argument("file", metavar="FILE", help="- for standard input")
    p.add_argument("--record", metavar="TYPE", help="only records of this type, e.g. 04")
    p.add_argument("--fields", metavar="RUBRICS", help="comma-separated rubrics or names")
    p.add_argument("--unmask", action="store_true", help="show personal data (BSN, names, birth dates)")
    _input_options(p)
    p.set_defaults(func=cmd_show)

    p = command("convert", "to JSON, JSON Lines, CSV or Parquet (CSV/Parquet: one row per record)",
                "eicodec convert examples/ap304_full.asc --to parquet -o claims.parquet")
    p.add_argument("file", metavar="FILE", help="- for standard input")
    p.add_argument("--to", choices=("json", "jsonl", "csv", "parquet"), required=True)
    p.add_argument("-o", "--output", metavar="OUT", default=STDIO, help="default: - (standard output)")
    p.add_argument("--record", metavar="TYPE", help="CSV/Parquet: rows of this record type (default: claim lines)")
    p.add_argument("--ap305", metavar="AP305", type=_existing_file("--ap305"),
                   help="CSV/Parquet: join each claim line's outcome from this return file")
    p.add_argument("--layout", choices=("records", "fields"), default="records",
                   help="CSV: one row per record (default) or one row per field")
    p.add_argument("--unmask", action="store_true",
                   help="do not mask personal data (masked by default in CSV, Parquet, JSON and JSON Lines)")
    p.add_argument("--raw-csv", action="store_true",
                   help="CSV: text cells as they are (default: a leading ' before = + - @ tab CR, "
                        "so a spreadsheet never runs a cell as a formula)")
    _input_options(p)
    p.set_defaults(func=cmd_convert)

    p = command("build", "JSON or JSON Lines (from convert) back to an AP304/AP305 file",
                "eicodec build full.json -o full.asc")
    p.add_argument("file", metavar="FILE.json", help="- for standard input")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="- for standard output")
    _input_options(p)
    p.set_defaults(func=cmd_build)

    p = command("anonymise", "a copy with fake personal data that validates the same",
                "eicodec anonymise prod.asc -o test.asc --key-file team.key")
    p.epilog = ("Every personal field (BSN, names, birth dates, address, IBAN, numbers,\n"
                "free text) gets a fake derived from the key; everything else is copied\n"
                "byte for byte. Without --key-file a random key is used, so two runs give\n"
                "different fakes; with the same key file, runs (and an AP304 and its\n"
                "AP305) get the same fakes. Keep the key file secret.\n" + (p.epilog or ""))
    p.add_argument("file", metavar="IN", help="input file, or - for standard input")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="output file, or - for standard output")
    p.add_argument("--key-file", metavar="K", type=_existing_file("--key-file"),
                   help="file whose bytes are the key (default: a random key)")
    _input_options(p)
    p.set_defaults(func=cmd_anonymise)

    p = command("explain", "a COD954 return code (0581, 581), a record type's fields (04) or a field (0403)",
                "eicodec explain 0435")
    p.add_argument("code", metavar="CODE", help="return code, record type or rubric (or attribute name)")
    p.add_argument("--message", default="AP304", metavar="NAME",
                   help="the message whose records and fields to explain (default AP304; e.g. AP305 v8.0)")
    p.set_defaults(func=cmd_explain)

    p = command("report", "a self-contained HTML report of a validation",
                "eicodec report examples/ap304_claim_rejected.asc --html report.html")
    p.add_argument("file", metavar="FILE", help="- for standard input")
    p.add_argument("--html", metavar="OUT.html", required=True, help="- for standard output")
    p.add_argument("--lang", choices=("nl", "en"), default="nl", help="the report's language (default: nl, Dutch)")
    p.add_argument("--mode", choices=("insurer", "vecozo"), default="insurer")
    p.add_argument("--today", metavar="YYYY-MM-DD", type=parse_day,
                   help="date to check dates against (default: today; also 1-3-2024 or 1 maart 2024)")
    p.add_argument("--show-values", action="store_true",
                   help="put offending values in messages (may be personal data; off by default)")
    _input_options(p)
    p.set_defaults(func=cmd_report)

    p = command("info", "message type, encoding, record counts, structure problems",
                "eicodec info examples/ap304_full.asc")
    p.add_argument("files", nargs="+", metavar="FILE", help="- for standard input")
    _input_options(p)
    p.set_defaults(func=cmd_info)

    p = command("example", "write the example files shipped with eicodec", "eicodec example -o examples")
    p.add_argument("name", nargs="?", metavar="NAME", help="one example (default: all)")
    p.add_argument("-o", "--output", metavar="DIR", default="examples",
                   help="folder to write to (default: examples); - writes NAME to standard output")
    p.add_argument("--list", action="store_true", help="only list the examples' names")
    p.add_argument("--force", action="store_true", help="overwrite files that differ")
    p.set_defaults(func=cmd_example)
    spec_cli.add_commands(command)

    add_history_commands(command, _existing_file)
    return parser


def _named(prefix: str, exc: BaseException) -> str:
    """*prefix* (``FILE: ``) unless the message names the file already."""
    return "" if not prefix or prefix[:-2] in str(exc) else prefix


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in given
    if not given:  # `eicodec` alone: the help (no command ran: exit status 2)
        build_parser().print_help()
        return EXIT_USAGE
    named = ""  # the file of a single-file command, to name in its errors
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help, --version
            return EXIT_OK if exc.code in (0, None) else EXIT_USAGE
        debug = bool(getattr(args, "debug", False))
        if isinstance(getattr(args, "file", None), str):
            named = _label(args.file) + ": "
        with cleanup_on_signals():  # (SIGTERM: partial files removed, as on Ctrl-C)
            return int(args.func(args))
    except UsageError as exc:
        if debug:
            traceback.print_exc()
        print(f"eicodec: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except UnreadableInputError as exc:
        if debug:
            traceback.print_exc()
        print(f"eicodec: {_named(named, exc)}unreadable input: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    except LookupFailure as exc:
        if debug:
            traceback.print_exc()
        print(f"eicodec: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except EicodecError as exc:
        if debug:
            traceback.print_exc()
        print(f"eicodec: {_named(named, exc)}{exc}", file=sys.stderr)
        return EXIT_REJECTED
    except BrokenPipeError:  # the reader of our output went away (e.g. `| head`)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        if debug:
            traceback.print_exc()
        print(f"eicodec: {exc.strerror}: {exc.filename or named.rstrip(': ')}", file=sys.stderr)
        return EXIT_UNREADABLE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug of ours: one line, traceback on request
        if debug:
            traceback.print_exc()
        print(f"eicodec: internal error ({type(exc).__name__}); run with --debug and please report it",
              file=sys.stderr)
        return EXIT_REJECTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
