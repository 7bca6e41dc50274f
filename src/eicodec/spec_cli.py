"""The ``eicodec spec import`` and ``eicodec specs`` commands (wired in :mod:`eicodec.cli`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from .errors import UsageError
from .layouts import known_specs
from .spec_import import import_spec, write_import

EXIT_OK = 0


def cmd_spec_import(args: argparse.Namespace) -> int:
    """Import a Vektis layout export into a layout spec and a rules skeleton."""

    out = Path(args.output).resolve()
    if out in (Path(args.export).resolve(), *([Path(args.grammar).resolve()] if args.grammar else [])):
        raise UsageError("-o: the output would replace an input")
    result = import_spec(args.export, grammar=args.grammar, folder=out.parent)
    spec_path, skel_path = write_import(result, args.output, force=args.force)
    spec = result.spec
    print(f"{spec_path}: {spec.name} ({len(spec.records)} record types, record length "
          f"{spec.record_length}); rules skeleton: {skel_path}")
    for note in result.notes:
        print(f"  note: {note}")
    if args.grammar is None:
        print("  note: no --grammar given: every detail record sits directly under the file; "
              "edit parent/min/max in the spec", file=sys.stderr)
    return EXIT_OK


def cmd_specs(args: argparse.Namespace) -> int:
    """List every known standard and where it came from."""
    del args
    for known in known_specs():
        spec = known.spec
        print(f"{spec.name}\t{spec.kind}\t{spec.title}\t{known.origin}\t{known.path}")
    return EXIT_OK


def add_commands(command: Callable[[str, str, str], argparse.ArgumentParser]) -> None:
    """Add ``spec`` (with ``import``) and ``specs`` through cli's *command* factory."""
    p = command("spec", "work on layout specs: import Vektis' layout export",
                "eicodec spec import MZ301V0103.xls -o MZ301v1.3.toml --grammar grammar.toml")
    sub = p.add_subparsers(dest="spec_command", required=True, metavar="ACTION")
    q = sub.add_parser("import", help="a Vektis layout export (.xls, .xlsx, .tsv, .csv) -> NAME.toml "
                       "and NAME.rules.skeleton.toml")
    q.add_argument("export", metavar="EXPORT")
    q.add_argument("-o", "--output", metavar="NAME.toml", required=True)
    q.add_argument("--grammar", metavar="GRAMMAR.toml",
                   help="record grammar and message identity ([message], [structure], [records.TT], "
                        "[trailer]); default: a commented flat grammar to edit")
    q.add_argument("--force", action="store_true", help="replace existing output files")
    q.set_defaults(func=cmd_spec_import)
    p = command("specs", "list every known standard and where its spec comes from", "eicodec specs")
    p.set_defaults(func=cmd_specs)
