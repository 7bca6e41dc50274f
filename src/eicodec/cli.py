"""The ``eicodec`` command line."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence

from . import __version__
from .errors import EicodecError
from .reader import build_tree, open_records

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_UNREADABLE = 0, 1, 2, 3


def _info(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for path in args.files:
        try:
            with open_records(path, encoding=args.encoding) as stream:
                spec = stream.info.spec
                assert spec is not None
                decl = build_tree(stream, spec)
        except EicodecError as exc:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eicodec", description=__doc__)
    parser.add_argument("--version", action="version", version=f"eicodec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="message type, encoding, record counts and structure problems",
                       epilog="example: eicodec info examples/ap304_full.asc")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--encoding", default=None)
    p.set_defaults(func=_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and EXIT_USAGE
    return int(args.func(args))
