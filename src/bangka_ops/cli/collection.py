"""``cekat intake`` and ``cekat known-archives``: the admin host's side of the collection
(``playbooks/collect_records.yml``). Argument parsing and output only; the work is in
:mod:`bangka_ops.report.intake` and :mod:`bangka_ops.report.provenance`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bangka_ops.report import intake, ledger, provenance

EXIT_USAGE = 64
EXIT_REFUSED = 3


def admin_audit(action: str, result: str, **details: Any) -> None:
    """One line in the admin host's own audit log (the collection is an admin action)."""
    from bangka_ops.backup import agent  # noqa: PLC0415 - the on-host audit writer

    agent.audit("collection", action, result, **details)


def cmd_intake(args: argparse.Namespace) -> int:
    """Check one host's package and store it under the collection (see the intake module)."""
    if not args.package.is_file():
        print(f"cekat intake: {args.package}: no such package", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = intake.intake(
            args.dir,
            args.host,
            args.package,
            watermark=args.watermark,
            limits=intake.Limits(
                members=args.max_members,
                member_bytes=args.max_member_bytes,
                total_bytes=args.max_total_bytes,
            ),
        )
    except ValueError as exc:
        print(f"cekat intake: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"cekat intake: {args.host}: {exc}", file=sys.stderr)
        admin_audit(f"collect {args.host}", "failed", host_collected=args.host, reason=str(exc))
        return 2
    if result.refused:
        print(f"cekat intake: {result}", file=sys.stderr)
        admin_audit(
            f"refuse the package of {args.host}",
            "refused",
            host_collected=args.host,
            reason=result.refused,
        )
        return EXIT_REFUSED
    print(f"cekat intake: {result}")
    admin_audit(
        f"collect {args.host}",
        "ok",
        host_collected=args.host,
        stored=result.stored,
        already_present=result.present,
        audit_chunks=result.chunks,
    )
    return 0


def cmd_known_archives(args: argparse.Namespace) -> int:
    """The archives each client is known to have made, from its collected run records: one
    ``<client>.json`` per client in ``--out-dir``, or one client's list on standard output."""
    if not args.dir.is_dir():
        print(f"cekat known-archives: {args.dir}: no such directory", file=sys.stderr)
        return EXIT_USAGE
    if args.out_dir is None and len(args.client) != 1:
        print("cekat known-archives: several --client need --out-dir", file=sys.stderr)
        return EXIT_USAGE
    for client in args.client:
        if not intake.HOST_NAME.match(client):
            print(f"cekat known-archives: --client: {client!r} is not a host name", file=sys.stderr)
            return EXIT_USAGE
        known, problems = provenance.known_archives(args.dir, client)
        for problem in problems:
            print(f"cekat known-archives: {problem}", file=sys.stderr)
        text = json.dumps(known, indent=2, sort_keys=True)
        if args.out_dir is None:
            print(text)
            continue
        try:
            ledger.write_atomic(args.out_dir / f"{client}.json", [text.encode()])
        except OSError as exc:
            print(f"cekat known-archives: {args.out_dir}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
    return 0


def positive(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value}: must be a positive number")
    return number


def add_collection_commands(sub: Any) -> None:
    take = sub.add_parser(
        "intake",
        help="terima paket host / check one host's collected package and store it "
        "(refused whole if any member is not a plain, well-named file)",
    )
    take.add_argument("dir", type=Path, help="the collection root on the admin host")
    take.add_argument("--host", required=True, help="the inventory host the package came from")
    take.add_argument("--package", type=Path, required=True, help="its gzip'd tar package")
    take.add_argument(
        "--watermark", type=int, help="the host's clock when it packed (its next 'since')"
    )
    take.add_argument("--max-members", type=positive, default=intake.MAX_MEMBERS)
    take.add_argument("--max-member-bytes", type=positive, default=intake.MAX_MEMBER_BYTES)
    take.add_argument("--max-total-bytes", type=positive, default=intake.MAX_TOTAL_BYTES)
    take.set_defaults(func=cmd_intake)

    known = sub.add_parser(
        "known-archives",
        help="arsip yang dibuat klien / the archives a client made, from its collected run "
        "records (restore tests choose only these)",
    )
    known.add_argument("dir", type=Path, help="the collection root on the admin host")
    known.add_argument(
        "--client", action="append", required=True, help="a client's inventory name (repeatable)"
    )
    known.add_argument("--out-dir", type=Path, help="write <client>.json here (else stdout)")
    known.set_defaults(func=cmd_known_archives)
