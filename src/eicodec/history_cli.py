"""The command line's claim history: ``--history WHERE`` of ``validate`` and the
``eicodec history`` commands (``record``, ``show``).

*WHERE* is a SQLite file (made, empty, when it does not exist yet) or a database URL
(``postgresql://user@host/db``; ``pip install eicodec[postgres]``) shared by many
workers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .historydb import is_url


def history_location(text: str) -> str:
    """argparse type of ``--history``: a URL, or a file path whose folder exists."""
    if is_url(text):
        return text
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder, not a claim history file")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"no such folder for a new claim history: {path.parent}")
    return text


def open_or_create(where: str | None) -> None:
    """Before a run: make a new SQLite history (saying so on stderr), or check that an
    existing one opens (an :class:`~eicodec.errors.EicodecError` otherwise)."""
    if where is None:
        return
    from .history import HistoryStore

    new = not is_url(where) and not Path(where).exists()
    HistoryStore(where).close()
    if new:
        print(f"eicodec: new claim history {where}", file=sys.stderr)


#: The columns ``history show`` prints (the hashes shortened: they identify, they are not data).
SHOWN = ("reference", "previous", "dc", "service_date", "declared", "awarded", "status", "rejected_by",
         "source", "line", "copy_key", "file_key")


def _masked(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in SHOWN}
    for k in ("copy_key", "file_key"):
        out[k] = (row[k][:12] + "...") if row[k] else ""
    return out


def cmd_history_record(args: argparse.Namespace) -> int:
    from .recording import record_at

    open_or_create(args.history)
    n = record_at(args.history, args.ap304, args.ap305, by=args.by, source=args.source or Path(args.ap304).name)
    what = "answered" if args.ap305 else "sent"
    print(f"{args.ap304}: {n} claim line row(s) added or changed ({what}) in {_name(args.history)}")
    return 0


def cmd_history_show(args: argparse.Namespace) -> int:
    from .history import HistoryStore

    if not is_url(args.history) and not Path(args.history).is_file():
        print(f"eicodec: history show: no such claim history: {args.history}", file=sys.stderr)
        return 2
    with HistoryStore(args.history) as hist:
        rows = [_masked(r) for r in hist.rows(args.reference)]
    if args.format == "json":
        print(json.dumps({"reference": args.reference.strip(), "rows": rows}, ensure_ascii=False))
    elif not rows:
        print(f"{args.reference}: not in the claim history")
    else:
        for r in rows:
            print("  ".join(f"{k}={r[k]}" for k in SHOWN if r[k] not in ("", None)))
    return 0


def _name(where: str) -> str:
    if not is_url(where):
        return where
    from .historydb import connect

    db = connect(where)
    try:
        return db.name
    finally:
        db.close()


def add_commands(command: Callable[[str, str, str], argparse.ArgumentParser],
                 existing_file: Callable[[str], Callable[[str], str]]) -> None:
    """Add ``eicodec history record|show`` to the command line's parser."""
    p = command("history", "record AP304/AP305 pairs in a claim history; show a reference's rows",
                "eicodec history record examples/ap304_claim_rejected.asc "
                "examples/ap305_claim_rejected.asc --history claims.sqlite")
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=type(p))
    r = sub.add_parser("record", help="record an AP304 and its AP305 (or, without one, its lines as sent)")
    r.add_argument("--history", metavar="WHERE", type=history_location, required=True,
                   help="SQLite file (made when new) or database URL")
    r.add_argument("ap304", metavar="AP304", type=existing_file("AP304"))
    r.add_argument("ap305", metavar="AP305", nargs="?", type=existing_file("AP305"))
    r.add_argument("--by", choices=("insurer", "vecozo"), default="insurer", help="who sent the AP305")
    r.add_argument("--source", help="how the rows name the file (default: the AP304's file name)")
    r.set_defaults(func=cmd_history_record)
    s = sub.add_parser("show", help="the rows of one referentienummer (hashes shortened)")
    s.add_argument("--history", metavar="WHERE", type=history_location, required=True,
                   help="SQLite file or database URL")
    s.add_argument("reference", metavar="REFERENCE", help="referentienummer (0445)")
    s.add_argument("--format", choices=("text", "json"), default="text")
    s.set_defaults(func=cmd_history_show)
