"""The ``eicodec`` command line: validate, show, convert, build, explain, report, info.

Exit status (scripts rely on it): 0 every file approved (or the command succeeded),
1 at least one file rejected, 2 usage error, 3 at least one file unreadable.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import os
import sys
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .codes import return_codes, use_return_codes
from .convert import from_json, iter_csv, iter_jsonl, to_json
from .errors import EicodecError, UnreadableInputError
from .layouts import MessageSpec, load_spec
from .many import failure
from .masking import MASK, Masker
from .outputs import OutputConflict, answer_paths, atomic_output, check_not_input
from .reader import build_tree, open_records
from .rules import rules_for
from .validator import Report, Status, validate

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_UNREADABLE = 0, 1, 2, 3
TEXT_FINDINGS = 10


class UsageError(Exception):
    """Bad arguments: exit status 2."""


# ---------------------------------------------------------------------- validate

def _validate_one(path: str, opts: dict[str, Any]) -> dict[str, Any]:
    """Validate one file; returns the JSON-ready result (runs in worker processes too).
    Never raises for a bad file: the result always has the keys of :data:`RESULT_KEYS`."""
    result = _empty_result(path)
    try:
        if opts.get("codes"):
            use_return_codes(opts["codes"])
        spec = load_spec(opts["spec"]) if opts.get("spec") else None
        today = dt.date.fromisoformat(opts["today"]) if opts.get("today") else None
        report = validate(path, mode=opts["mode"], today=today, spec=spec,
                          encoding=opts.get("encoding"), progress=opts.get("progress"),
                          history=opts.get("history"))
    except Exception as exc:  # noqa: BLE001 - every file gets its result
        return _failed(result, exc)
    result.update({
        "status": report.status.value, "message_type": report.spec.name,
        "mode": report.mode, "encoding": report.encoding,
        "findings": [f.to_dict() for f in report.findings],
        "unassessed": [f.to_dict() for f in report.unassessed],
        "counts": dict(sorted(report.code_counts().items())),
        "records": report.counts,
    })
    retour = opts.get("retour_target")
    if retour:
        try:
            result["retour"] = _write_retour(path, report, retour, opts)
        except Exception as exc:  # noqa: BLE001 - the answer could not be written: say so
            _failed(result, exc, "return file not written: ")
            result["status"] = "failed"
    return result


def _empty_result(path: str) -> dict[str, Any]:
    result: dict[str, Any] = dict.fromkeys(RESULT_KEYS)
    result.update(file=path, findings=[], unassessed=[], counts={}, records={})
    return result


def _failed(result: dict[str, Any], exc: BaseException, prefix: str = "") -> dict[str, Any]:
    """*result* marked unreadable or failed by *exc* (type and message, no traceback)."""
    fail = failure(result["file"], exc)
    result.update(status=fail.status, error_type=fail.error_type, message=prefix + fail.message)
    return result


#: The keys of every ``validate --format json`` object, whatever became of the file.
RESULT_KEYS = ("file", "status", "message_type", "mode", "encoding", "findings", "unassessed", "counts",
               "records", "retour", "error_type", "message")


def _write_retour(path: str, report: Report, target: str, opts: dict[str, Any]) -> str | None:
    from .retour import write_retour

    if report.mode == "vecozo" and report.status is Status.APPROVED:
        return None
    with atomic_output(target) as fh:
        write_retour(path, report, fh, insurer_reference=opts.get("insurer_reference"),
                     return_date=dt.date.fromisoformat(opts["today"]) if opts.get("today") else None)
    return target


def _print_text(result: dict[str, Any], out: TextIO) -> None:
    table = return_codes()
    status = result["status"]
    print(f"{result['file']}: {status}", file=out)
    if status in ("unreadable", "failed") and result.get("message"):
        print(f"  {result['message']}", file=out)
    if status == "unreadable":
        return
    if result["counts"]:
        print("  return codes:", file=out)
        for code, n in result["counts"].items():
            print(f"    {code} x{n}  {table.meaning(code)}", file=out)
        print("  first findings:", file=out)
        for f in result["findings"][:TEXT_FINDINGS]:
            where = f"line {f['line']}" if f["line"] else "file"
            rubric = f" rubric {f['rubric']}" if f["rubric"] else ""
            print(f"    {where}{rubric}: {f['code']} {f['message']}", file=out)
        more = len(result["findings"]) - TEXT_FINDINGS
        if more > 0:
            print(f"    ... and {more} more", file=out)
    if result.get("unassessed"):  # STB §6.4.1: not part of the answer
        print(f"  not assessed (the file is rejected at file level): {len(result['unassessed'])} record "
              "finding(s), not in the return file", file=out)
    if result.get("retour"):
        print(f"  return file: {result['retour']}", file=out)


def _progress_printer(path: str) -> Callable[[int], None]:
    def show(n: int) -> None:
        sys.stderr.write(f"\r{path}: {n:,} records checked")
        sys.stderr.flush()
    return show


def cmd_validate(args: argparse.Namespace) -> int:
    files: list[str] = args.files
    targets: dict[str, str] = {}
    if args.retour:
        try:
            if len(files) > 1 or Path(args.retour).is_dir():
                answers = answer_paths(files, args.retour)
            else:
                check_not_input(args.retour, files, "return file")
                answers = [Path(args.retour)]
        except OutputConflict as exc:
            raise UsageError(str(exc)) from None
        targets = {f: str(t) for f, t in zip(files, answers)}
    if args.codes and not Path(args.codes).is_file():
        raise UsageError(f"code list not found: {args.codes}")
    if args.spec and not Path(args.spec).is_file():
        raise UsageError(f"spec not found: {args.spec}")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.history and not Path(args.history).is_file():
        raise UsageError(f"claim history not found: {args.history}")
    base = {"mode": args.mode, "codes": args.codes, "spec": args.spec, "today": args.today,
            "encoding": args.encoding, "insurer_reference": args.insurer_reference, "history": args.history}
    show_progress = args.format == "text" and sys.stderr.isatty() and args.jobs == 1

    def opts_for(path: str) -> dict[str, Any]:
        opts = dict(base)
        if args.retour:
            opts["retour_target"] = targets[path]
        if show_progress:
            opts["progress"] = _progress_printer(path)
        return opts

    results: list[dict[str, Any]] = []
    if args.jobs > 1 and len(files) > 1:
        with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
            futures = [pool.submit(_validate_one, path, opts_for(path)) for path in files]
            for path, fut in zip(files, futures):
                try:
                    results.append(fut.result())
                except Exception as exc:  # noqa: BLE001 - e.g. a worker process was killed
                    results.append(_failed(_empty_result(path), exc))
                _emit(results[-1], args.format)
    else:
        for path in files:
            results.append(_validate_one(path, opts_for(path)))
            if show_progress:
                sys.stderr.write("\r\033[K")
            _emit(results[-1], args.format)
    statuses = {r["status"] for r in results}
    if statuses & {"unreadable", "failed"}:
        return EXIT_UNREADABLE
    if statuses - {"approved"}:
        return EXIT_REJECTED
    return EXIT_OK


def _emit(result: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(result, ensure_ascii=False), flush=True)
    else:
        _print_text(result, sys.stdout)


# ---------------------------------------------------------------------- show

def cmd_show(args: argparse.Namespace) -> int:
    wanted = {f.strip() for f in args.fields.split(",")} if args.fields else None
    spec = load_spec(args.spec) if args.spec else None
    with open_records(args.file, encoding=args.encoding, spec=spec) as stream:
        assert stream.info.spec is not None
        masker = None if args.unmask else Masker(stream.info.spec)
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
                    value = rec.get(f.attr)
                    shown = "" if value is None else str(value)
                except EicodecError:
                    shown = "(invalid)"
                if f.attr in hide and shown not in ("", "(invalid)"):
                    shown = MASK
                print(f"  {f.rubric}  {f.name[:48]:<48}  {shown}")
    return EXIT_OK


# ---------------------------------------------------------------------- convert / build

def cmd_convert(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec) if args.spec else None
    _refuse_input_as_output(args.output, [args.file])
    if args.output and args.output != "-":
        with atomic_output(args.output, "w", encoding="utf-8", newline="") as out:
            _convert_to(args, spec, out)
    else:
        _convert_to(args, spec, sys.stdout)
    return EXIT_OK


def _convert_to(args: argparse.Namespace, spec: MessageSpec | None, out: TextIO) -> None:
    mask = not args.unmask
    if args.to == "json":
        json.dump(to_json(args.file, encoding=args.encoding, spec=spec, mask=mask), out,
                  ensure_ascii=False, indent=1)
        out.write("\n")
    elif args.to == "jsonl":
        for line in iter_jsonl(args.file, encoding=args.encoding, spec=spec, mask=mask):
            out.write(line + "\n")
    else:
        for chunk in iter_csv(args.file, encoding=args.encoding, spec=spec, mask=mask):
            out.write(chunk)


def _refuse_input_as_output(output: str | None, inputs: list[str]) -> None:
    """Exit 2 when an output path names an input file (it would be destroyed)."""
    if output:
        try:
            check_not_input(output, inputs)
        except OutputConflict as exc:
            raise UsageError(str(exc)) from None


def cmd_build(args: argparse.Namespace) -> int:
    text = Path(args.file).read_text(encoding="utf-8")
    try:
        if args.file.endswith(".jsonl"):
            doc: Any = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EicodecError(f"{args.file} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    spec = load_spec(args.spec) if args.spec else None
    data = from_json(doc, spec=spec, encoding=args.encoding)
    if args.output == "-":
        sys.stdout.buffer.write(data)
    else:
        _refuse_input_as_output(args.output, [args.file])
        with atomic_output(args.output) as fh:
            fh.write(data)
    return EXIT_OK


# ---------------------------------------------------------------------- explain / report / info

def cmd_explain(args: argparse.Namespace) -> int:
    from .layouts import get_spec

    code = args.code
    table = return_codes()
    if code not in table:
        print(f"{code}: not in the COD954 list in use ({table.source})", file=sys.stderr)
        return EXIT_REJECTED
    rc = table.codes[code]
    print(f"{code}  {rc.meaning}")
    if rc.explanation:
        print(f"  {rc.explanation}")
    rs = rules_for(get_spec("AP304"))
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
        print("no eicodec rule emits this code (it may come from an insurer's own checks)")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from .reader import iter_records
    from .report_html import render

    today = dt.date.fromisoformat(args.today) if args.today else None
    _refuse_input_as_output(args.html, [args.file])
    try:
        report = validate(args.file, mode=args.mode, today=today)
    except UnreadableInputError as exc:
        print(f"{args.file}: unreadable: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    page = render(report, iter_records(args.file), title=f"eicodec: {Path(args.file).name}")
    with atomic_output(args.html, "w", encoding="utf-8") as fh:
        fh.write(page)
    print(f"{args.file}: {report.status.value}; report written to {args.html}")
    return EXIT_OK if report.status is Status.APPROVED else EXIT_REJECTED


def cmd_info(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for path in args.files:
        try:
            given = load_spec(args.spec) if args.spec else None
            with open_records(path, encoding=args.encoding, spec=given) as stream:
                spec: MessageSpec | None = stream.info.spec
                assert spec is not None
                decl = build_tree(stream, spec)
        except UnreadableInputError as exc:
            print(f"{path}: unreadable: {exc}", file=sys.stderr)
            status = max(status, EXIT_UNREADABLE)
            continue
        counts = Counter(r.record_type for r in decl.iter_records())
        print(f"{path}: {spec.name} ({spec.title}), encoding {stream.info.encoding}")
        print("  records: " + ", ".join(f"{t}={counts.get(t, 0)}" for t in spec.records))
        for p in decl.problems:
            where = f"line {p.line}: " if p.line else ""
            print(f"  problem: {where}{p.message}")
        if decl.problems:
            status = max(status, EXIT_REJECTED)
    return status


# ---------------------------------------------------------------------- parser

def _example(text: str) -> str:
    return f"example:\n  {text}"


def _input_options(p: argparse.ArgumentParser) -> None:
    """--spec and --encoding: how to read the input."""
    p.add_argument("--spec", metavar="SPEC", help="a corrected spec file to read the input with")
    p.add_argument("--encoding", default=None, help="the input's encoding (default: UTF-8, else cp1252)")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="eicodec", formatter_class=fmt,
        description="Read, write and validate Vektis EI pharmacy claim files (AP304/AP305 v8.0).",
        epilog="exit status: 0 approved, 1 rejected, 2 usage error, 3 unreadable input\n"
               + _example("eicodec validate examples/ap304_insurer.asc"))
    parser.add_argument("--version", action="version", version=f"eicodec {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check files; print findings; write return files",
                       formatter_class=fmt, epilog=_example(
                           "eicodec validate examples/ap304_claim_rejected.asc --retour retour.asc"))
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--mode", choices=("insurer", "vecozo"), default="insurer")
    p.add_argument("--retour", metavar="OUT", help="write the AP305 return file (a folder for several files)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--codes", metavar="COD954.csv", help="official COD954 list (CSV export) to use")
    p.add_argument("--today", metavar="YYYY-MM-DD", help="date to check dates against (default: today)")
    p.add_argument("--insurer-reference", help="referentienummer zorgverzekeraar for return files")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="validate N files in parallel")
    p.add_argument("--history", metavar="CLAIMS.sqlite",
                   help="claim history (eicodec.history.ClaimHistory file): run the STB 5.4.8 rules on earlier files")
    _input_options(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("show", help="records as a readable table (personal data masked)",
                       formatter_class=fmt, epilog=_example(
                           "eicodec show examples/ap304_full.asc --record 04 --fields 0403,0410,0443"))
    p.add_argument("file", metavar="FILE")
    p.add_argument("--record", metavar="TYPE", help="only records of this type, e.g. 04")
    p.add_argument("--fields", metavar="RUBRICS", help="comma-separated rubrics or names")
    p.add_argument("--unmask", action="store_true", help="show personal data (BSN, names, birth dates)")
    _input_options(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("convert", help="AP304/AP305 to JSON, JSON Lines or CSV", formatter_class=fmt,
                       epilog=_example("eicodec convert examples/ap304_full.asc --to json -o full.json"))
    p.add_argument("file", metavar="FILE")
    p.add_argument("--to", choices=("json", "jsonl", "csv"), required=True)
    p.add_argument("-o", "--output", metavar="OUT", default="-")
    p.add_argument("--unmask", action="store_true",
                   help="do not mask personal data (masked by default in CSV, JSON and JSON Lines)")
    _input_options(p)
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("build", help="JSON (from convert) back to an AP304/AP305 file", formatter_class=fmt,
                       epilog=_example("eicodec build full.json -o full.asc"))
    p.add_argument("file", metavar="FILE.json")
    p.add_argument("-o", "--output", metavar="OUT", required=True)
    _input_options(p)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("explain", help="what a COD954 return code means and which rules emit it",
                       formatter_class=fmt, epilog=_example("eicodec explain 0435"))
    p.add_argument("code", metavar="CODE")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("report", help="a self-contained HTML report of a validation", formatter_class=fmt,
                       epilog=_example("eicodec report examples/ap304_claim_rejected.asc --html report.html"))
    p.add_argument("file", metavar="FILE")
    p.add_argument("--html", metavar="OUT.html", required=True)
    p.add_argument("--mode", choices=("insurer", "vecozo"), default="insurer")
    p.add_argument("--today", metavar="YYYY-MM-DD")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("info", help="message type, encoding, record counts, structure problems",
                       formatter_class=fmt, epilog=_example("eicodec info examples/ap304_full.asc"))
    p.add_argument("files", nargs="+", metavar="FILE")
    _input_options(p)
    p.set_defaults(func=cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_OK if exc.code in (0, None) else EXIT_USAGE
    try:
        if getattr(args, "today", None):
            dt.date.fromisoformat(args.today)
        return int(args.func(args))
    except UsageError as exc:
        print(f"eicodec: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"eicodec: {exc}", file=sys.stderr)
        return EXIT_USAGE if not isinstance(exc, EicodecError) else EXIT_REJECTED
    except UnreadableInputError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"eicodec: unreadable input: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    except EicodecError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"eicodec: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    except BrokenPipeError:  # the reader of our output went away (e.g. `| head`)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"eicodec: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return EXIT_UNREADABLE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug of ours: one line, traceback on request
        if args.debug:
            traceback.print_exc()
        print(f"eicodec: internal error ({type(exc).__name__}); run with --debug and please report it",
              file=sys.stderr)
        return EXIT_REJECTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
