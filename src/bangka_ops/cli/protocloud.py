"""``protocloud``: the leaders' agenda (PROTOCLOUD), kept as YAML files in a git repository.

    protocloud validate [DIR] [--base REF]          schema, rules, workflow (against REF)
    protocloud conflicts [DIR] [--changed-from REF] double bookings and travel times
    protocloud ics [DIR] --out FEEDS                one iCalendar feed per calendar

Exit codes: 0 fine (warnings may be printed), 1 errors found (or, for ``ics``, nothing written
because the agenda is not valid), 2 git could not answer, 64 wrong usage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bangka_ops import __version__
from bangka_ops.agenda import conflicts, gitrepo, workflow
from bangka_ops.agenda.repository import EVENTS_DIR, Agenda, load
from bangka_ops.agenda.yamlload import Diagnostic

EXIT_OK, EXIT_FOUND, EXIT_GIT, EXIT_USAGE = 0, 1, 2, 64


def cache_file(args: argparse.Namespace) -> Path | None:
    """Where validation results are cached: --cache, else inside the repository's git directory
    (never committed); none with --no-cache or outside git."""
    if getattr(args, "no_cache", False):
        return None
    if getattr(args, "cache", None):
        return Path(args.cache) / "validation.pickle"
    try:
        common = gitrepo.git(args.dir, "rev-parse", "--path-format=absolute", "--git-common-dir")
    except (gitrepo.GitError, OSError):
        return None
    return Path(common.decode().strip()) / "protocloud" / "validation.pickle"


def open_agenda(
    args: argparse.Namespace, *, keep_data: bool = False, events: bool = True
) -> Agenda | None:
    if not args.dir.is_dir():
        print(f"protocloud: {args.dir}: no such directory", file=sys.stderr)
        return None
    return load(
        args.dir,
        keep_data=keep_data,
        events=events,
        cache_file=None if keep_data else cache_file(args),
    )


# ---- output --------------------------------------------------------------------------------


def markdown_diagnostics(items: list[Diagnostic]) -> str:
    if not items:
        return "✅ **Agenda valid** — tidak ada kesalahan / no problems found.\n"
    errors = sum(1 for d in items if d.severity == "error")
    lines = [
        f"❌ **{errors} kesalahan / error(s)**, {len(items) - errors} peringatan / warning(s)\n",
        "| | Berkas / file | Baris / line | Isian / field | Pesan / message |",
        "|---|---|---|---|---|",
    ]
    for d in items:
        icon = "❌" if d.severity == "error" else "⚠️"
        field = f"`{d.field}`" if d.field else ""
        message = d.message.replace("|", "\\|")
        lines.append(f"| {icon} | `{d.file}` | {d.line or ''} | {field} | {message} |")
    return "\n".join(lines) + "\n"


def markdown_conflicts(found: list[conflicts.Conflict]) -> str:
    if not found:
        return "✅ **Tidak ada bentrok jadwal / no schedule conflicts.**\n"
    errors = sum(1 for c in found if c.severity == "error")
    lines = [
        f"{'❌' if errors else '⚠️'} **{len(found)} bentrok jadwal / schedule conflict(s)** "
        f"({errors} error(s), {len(found) - errors} warning(s) involving tentative items)\n",
        "| | Jenis / kind | Siapa-apa / who-what | Acara / items | Waktu / time |",
        "|---|---|---|---|---|",
    ]
    kinds = {
        "leader": "pimpinan / leader",
        "venue": "tempat / venue",
        "travel": "waktu tempuh / travel",
    }
    for c in found:
        a, b = c.first, c.second
        extra = f" ({c.gap_minutes:.0f} of {c.needed_minutes} min)" if c.kind == "travel" else ""
        lines.append(
            f"| {'❌' if c.severity == 'error' else '⚠️'} | {kinds[c.kind]} | {c.resource} | "
            f"`{a.event.id}` ({a.event.status}), `{b.event.id}` ({b.event.status}) | "
            f"{a.start:%Y-%m-%d %H:%M}-{a.end:%H:%M}, {b.start:%Y-%m-%d %H:%M}-{b.end:%H:%M}"
            f"{extra} |"
        )
    return "\n".join(lines) + "\n"


def emit(
    args: argparse.Namespace,
    text: Callable[[], str],
    document: Callable[[], Any],
    md: Callable[[], str],
) -> None:
    if args.format == "json":
        print(json.dumps(document(), ensure_ascii=False, indent=1))
    elif args.format == "markdown":
        print(md(), end="")
    else:
        print(text(), end="")


# ---- commands ------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    agenda = open_agenda(args, events=False)
    if agenda is None:
        return EXIT_USAGE
    found = list(agenda.diagnostics)
    if args.base:
        if not gitrepo.is_repo(args.dir):
            print(f"protocloud validate: {args.dir} is not in a git repository", file=sys.stderr)
            return EXIT_GIT
        extra = workflow.against_base(agenda, args.dir, args.base)
        if any(d.code == "git" for d in extra):
            for d in extra:
                print(f"protocloud validate: {d}", file=sys.stderr)
            return EXIT_GIT
        found += extra
        found.sort(key=lambda d: (d.file, d.line or 0, d.field or ""))
    errors = [d for d in found if d.severity == "error"]

    def text() -> str:
        lines = [str(d) for d in found]
        lines.append(
            f"{agenda.files} berkas acara / event files, {len(errors)} kesalahan / "
            f"errors, {len(found) - len(errors)} peringatan / warnings"
        )
        return "\n".join(lines) + "\n"

    emit(
        args,
        text,
        lambda: {
            "files": agenda.files,
            "cached": agenda.cached,
            "errors": len(errors),
            "diagnostics": [d.as_dict() for d in found],
        },
        lambda: markdown_diagnostics(found),
    )
    failing = errors or (args.strict and found)
    return EXIT_FOUND if failing else EXIT_OK


def today_of(args: argparse.Namespace, agenda: Agenda) -> dt.date:
    if args.today:
        return dt.date.fromisoformat(args.today)
    tz = agenda.config.timezone if agenda.config else "Asia/Jakarta"
    return dt.datetime.now(ZoneInfo(tz)).date()


def cmd_conflicts(args: argparse.Namespace) -> int:
    agenda = open_agenda(args)
    if agenda is None:
        return EXIT_USAGE
    if agenda.config is None:
        for d in agenda.errors:
            print(f"protocloud conflicts: {d}", file=sys.stderr)
        return EXIT_FOUND
    try:
        today = today_of(args, agenda)
    except ValueError as exc:
        print(f"protocloud conflicts: --today: {exc}", file=sys.stderr)
        return EXIT_USAGE
    changed: set[str] | None = None
    if args.changed_from:
        try:
            files = gitrepo.changed_since(args.dir, args.changed_from, EVENTS_DIR)
        except (gitrepo.GitError, OSError) as exc:
            print(f"protocloud conflicts: {args.changed_from!r}: {exc}", file=sys.stderr)
            return EXIT_GIT
        by_file = {event.file: event.id for event in agenda.events}
        changed = {by_file[name] for name in files if name in by_file}
    skipped = {d.file for d in agenda.errors}
    found = conflicts.find(agenda.events, agenda.config, today, changed)
    window = conflicts.window(agenda.config, today)

    def text() -> str:
        lines = [
            f"{'GALAT/ERROR' if c.severity == 'error' else 'PERINGATAN/WARNING'}: {c.message()}"
            for c in found
        ]
        scope = f", changed items: {len(changed)}" if changed is not None else ""
        lines.append(
            f"{len(found)} bentrok / conflicts in {window[0]:%Y-%m-%d}..{window[1]:%Y-%m-%d} "
            f"({len(agenda.events)} items{scope})"
        )
        if skipped:
            lines.append(f"{len(skipped)} file(s) with errors left out: run protocloud validate")
        return "\n".join(lines) + "\n"

    emit(
        args,
        text,
        lambda: {
            "window": [window[0].isoformat(), window[1].isoformat()],
            "changed": sorted(changed) if changed is not None else None,
            "skipped_files": sorted(skipped),
            "conflicts": [c.as_dict() for c in found],
        },
        lambda: markdown_conflicts(found),
    )
    return EXIT_FOUND if any(c.severity == "error" for c in found) else EXIT_OK


def cmd_ics(args: argparse.Namespace) -> int:
    from bangka_ops.agenda import ics  # noqa: PLC0415 (icalendar takes a while to import)

    agenda = open_agenda(args, keep_data=True)
    if agenda is None:
        return EXIT_USAGE
    if agenda.errors:
        for d in agenda.errors:
            print(f"protocloud ics: {d}", file=sys.stderr)
        print(
            "protocloud ics: tidak ada yang ditulis / nothing written: the agenda is not valid",
            file=sys.stderr,
        )
        return EXIT_FOUND
    try:
        sequence = ics.sequences(agenda, args.dir)
    except (gitrepo.GitError, OSError) as exc:
        print(f"protocloud ics: git history: {exc}", file=sys.stderr)
        return EXIT_GIT
    built = ics.feeds(agenda, sequence, all_stages=args.all_stages)
    for path, written in ics.write(args.out, built):
        print(f"{'written' if written else 'unchanged'}: {path}")
    return EXIT_OK


def add_cache_options(parser: argparse.ArgumentParser) -> None:
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument(
        "--cache",
        metavar="DIR",
        help="keep validation results here (default: inside the repository's .git)",
    )
    cache.add_argument("--no-cache", action="store_true", help="validate every file afresh")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="protocloud",
        description="PROTOCLOUD - agenda pimpinan / leaders' agenda, kept as YAML in git.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    val = sub.add_parser(
        "validate",
        help="periksa berkas agenda / check the agenda files (schema, rules, workflow)",
    )
    val.add_argument("dir", nargs="?", type=Path, default=Path("."), help="agenda repository")
    val.add_argument(
        "--base",
        metavar="REF",
        help="also check the workflow against this git revision (a pull request's base)",
    )
    val.add_argument("--strict", action="store_true", help="warnings fail too")
    add_cache_options(val)
    val.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    val.set_defaults(func=cmd_validate)

    con = sub.add_parser("conflicts", help="bentrok jadwal / double bookings and travel times")
    con.add_argument("dir", nargs="?", type=Path, default=Path("."), help="agenda repository")
    con.add_argument(
        "--changed-from",
        metavar="REF",
        help="only conflicts involving items changed since this git revision (checked against "
        "the whole agenda)",
    )
    con.add_argument("--today", help="the window's reference day, YYYY-MM-DD (default: today)")
    add_cache_options(con)
    con.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    con.set_defaults(func=cmd_conflicts)

    feed = sub.add_parser("ics", help="umpan iCalendar / one iCalendar feed per calendar")
    feed.add_argument("dir", nargs="?", type=Path, default=Path("."), help="agenda repository")
    feed.add_argument("--out", type=Path, required=True, help="directory for the .ics files")
    feed.add_argument(
        "--all-stages",
        action="store_true",
        help="include items not yet published (TENTATIVE / CONFIRMED), for internal feeds",
    )
    feed.set_defaults(func=cmd_ics)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
