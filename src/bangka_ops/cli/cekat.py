"""``cekat``: SI CEKAT, the server backups. Argument parsing only; work is in the actions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bangka_ops import __version__
from bangka_ops.backup import records

DEFAULT_RECORDS = Path("/var/lib/bangka-backup/records")


def cmd_records(args: argparse.Namespace) -> int:
    """List run records, newest last, and flag invalid ones with file and reason."""
    rows = []
    problems = 0
    for item in records.iter_records(args.dir):
        if isinstance(item, records.RecordProblem):
            problems += 1
            print(f"cekat: invalid record skipped: {item}", file=sys.stderr)
            continue
        rows.append(item)
    rows.sort(key=lambda r: r["start"])
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
    else:
        print(
            f"{'MULAI / START':25} {'SERVER':14} {'KEBIJAKAN':12} {'SIKLUS':8} {'STATUS':8} CATATAN"
        )
        for r in rows[-args.last :] if args.last else rows:
            print(
                f"{r['start']:25} {r['host']:14} {r['policy']:12} {r['cycle']:8} {r['status']:8} "
                f"{r['record_path']}"
            )
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cekat",
        description="SI CEKAT - pencadangan server / server backups (BorgBackup).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser(
        "records",
        help="daftar catatan pencadangan / list backup run records (invalid ones are reported)",
    )
    rec.add_argument("dir", nargs="?", type=Path, default=DEFAULT_RECORDS, help="records directory")
    rec.add_argument("--json", action="store_true", help="print the records as a JSON array")
    rec.add_argument("--last", type=int, default=0, help="only the newest N rows")
    rec.set_defaults(func=cmd_records)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code
