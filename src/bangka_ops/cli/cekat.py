"""``cekat``: SI CEKAT, the server backups. Argument parsing only; work is in the actions."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rich.console import Console

from bangka_ops import __version__
from bangka_ops.backup import records, restore
from bangka_ops.cli import arsip, collection, drill, driver, handbook, sop
from bangka_ops.report import checklist, ledger, outputs, signoff
from bangka_ops.report import drill as drills

DEFAULT_RECORDS = Path("/var/lib/bangka-backup/records")


def cmd_records(args: argparse.Namespace) -> int:
    """List run records, newest last, and flag invalid ones with file and reason."""
    if not args.dir.is_dir():
        print(f"cekat records: {args.dir}: no such directory", file=sys.stderr)
        return EXIT_USAGE
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


# Exit codes of the playbook commands.
EXIT_OK, EXIT_CHECK_FAILED, EXIT_PLAYBOOK_FAILED, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2, 3, 64
DRILLS_HELP = (
    "reports of the recovery drills (cekat drill report --out): show the last one, flagged "
    f"after {drills.OVERDUE_DAYS} days or when there is none"
)
EXIT_SIGNOFF_REFUSED = 65  # EX_DATAERR: the sign-off does not match the data the form shows


def start(args: argparse.Namespace, playbook: str, extravars: dict[str, Any], collect: str) -> Any:
    project = driver.find_project(args.project)
    return driver.run_playbook(
        playbook,
        project=project,
        extravars=extravars,
        inventory=args.inventory,
        limit=getattr(args, "limit", None),
        vault_password_file=args.vault_password_file,
        collect=(collect,),
    )


def host_problems(run: driver.PlaybookRun, judged: set[str]) -> list[str]:
    """Hosts that failed a task or were unreachable, other than those judged by their records."""
    problems = []
    for host, state in sorted(run.hosts.items()):
        if state.unreachable:
            problems.append(f"{host}: unreachable: {state.unreachable}")
        elif state.failed and host not in judged:
            problems.append(f"{host}: {state.failed[0]}")
    return problems


def cmd_backup_now(args: argparse.Namespace) -> int:
    """Run a backup cycle now on the selected hosts; one row per host and policy."""
    task = "Run the cycle through the wrapper"
    extravars = {"backup_now_cycle": args.cycle, "backup_now_policy": args.policy or ""}
    run = start(args, "backup_now.yml", extravars, task)
    console = Console(highlight=False, soft_wrap=True, emoji=False)
    console.print(f"[bold]Pencadangan sekarang / backup now ({args.cycle})")
    failed = False
    judged = set()
    for host, res in run.collected(task):
        judged.add(host)
        for item in driver.loop_results(res):
            lines = item.get("stdout_lines") or []
            status = lines[0].split(":", 1)[0] if lines else "failed"
            record = next((x.split(": ", 1)[1] for x in lines if x.startswith("record: ")), "-")
            policy = (item.get("item") or {}).get("name", "?")
            failed = failed or status == "failed" or item.get("rc") not in (0, 1)
            style = {"success": "green", "warning": "yellow", "covered": "green"}.get(status, "red")
            console.print(
                f"{driver.as_markup(host)} / {driver.as_markup(policy)}: "
                f"[{style}]{driver.as_markup(status)}[/]\n"
                f"  catatan / record: {driver.as_markup(record)}"
            )
    return verdict(run, judged, failed)


def verdict(run: driver.PlaybookRun, judged: set[str], failed: bool) -> int:
    problems = host_problems(run, judged)
    for problem in problems:
        print(f"cekat: {problem}", file=sys.stderr)
    if failed:
        return EXIT_CHECK_FAILED
    if problems or (run.rc != 0 and not judged):
        return EXIT_PLAYBOOK_FAILED
    return EXIT_OK


def cmd_restore_test(args: argparse.Namespace) -> int:
    """Restore tests through playbooks/restore_test.yml; non-zero when any fails."""
    task = "Report the restore test results"
    extravars: dict[str, Any] = {
        "restore_test_clients": args.client or [],
        "restore_test_policy": args.policy or "",
        "restore_test_date": args.date or "",
        "restore_test_random_older": args.random_older,
        "restore_test_allow_unknown_archives": args.allow_unknown_archives,
        "restore_test_include_marked_archives": args.include_marked_archives,
        "restore_test_mode": args.mode or "",
    }
    run = start(args, "restore_test.yml", extravars, task)
    console = Console(highlight=False, soft_wrap=True, emoji=False)
    console.print("[bold]Uji pemulihan / restore tests")
    failed = False
    judged = set()
    for restore_host, res in run.collected(task):
        judged.add(restore_host)
        for record in (res.get("ansible_facts") or {}).get("restore_test_records", []):
            judged.add(record["host"])
            failed = failed or record["status"] != "passed"
            console.print(restore_test_block(record))
    return verdict(run, judged, failed)


def database_lines(record: dict[str, Any], mark: Any) -> list[str]:
    """The restore test's databases (stage 2): each dump loaded, its rows and smoke query."""
    shown = driver.as_markup
    if record.get("database_check") is None:
        return []
    lines = [f"  basis data / databases: {mark(record.get('result', {}).get('databases'))}"]
    for row in record.get("databases") or []:
        if not isinstance(row, dict) or row.get("kind") != "database":
            continue
        smoke = row.get("smoke")
        lines.append(
            f"    {shown(str(row.get('type')))} {shown(str(row.get('database')))}: "
            f"{shown(str(row.get('status')))}, {row.get('rows_restored', '-')} rows in "
            f"{row.get('restore_seconds', '-')} s"
            + (f", smoke {'ok' if smoke.get('passed') else 'FAILED'}" if smoke else "")
        )
    return lines


def restore_test_block(record: dict[str, Any]) -> str:
    """One restore-test record for people (console markup; the record's text escaped): what was
    restored, how fast, and each verdict."""
    shown = driver.as_markup
    result = record.get("result") or {}
    verification = record.get("verification") or {}

    def mark(value: Any) -> str:
        return {True: "[green]ya / yes[/]", False: "[red]TIDAK / NO[/]", None: "-"}[value]

    status = record["status"]
    colour = "green" if status == "passed" else "red"
    lines = [
        f"{shown(record['host'])} / {shown(record['policy'])}: [{colour}]{shown(status.upper())}[/]"
    ]
    if "archive" in record:
        restored = (
            f"{record['files_restored']} of {record['archive_files']} files, "
            f"{record['bytes_restored'] / 2**20:,.1f} MiB in {record['restore_seconds']} s"
            f" ({record.get('throughput_mib_s') or '-'} MiB/s)"
        )
        if record.get("extrapolated_full_restore_seconds") is not None:
            restored += (
                f"; full restore est. {record['extrapolated_full_restore_seconds']} s "
                "(extrapolated from the sample)"
            )
        lines += [
            f"  arsip / archive       : {shown(record['archive'])} ({shown(record['mode'])})",
            f"  dipulihkan / restored : {restored}",
            f"  {'RTO ' + str(record.get('rto_hours')) + ' h':<22}: {mark(result.get('rto_met'))} "
            f"(judged on the {shown(record.get('rto_judged_on'))})",
            f"  {'RPO ' + str(record.get('rpo_hours')) + ' h':<22}: {mark(result.get('rpo_met'))} "
            f"(newest archive {record.get('newest_archive_age_hours')} h old)",
            f"  integritas / integrity: {mark(result.get('integrity'))} "
            f"({verification.get('files_checked', 0)} files vs Borg's SHA-256, "
            f"{verification.get('live_compared', 0)} vs the live source)",
        ]
    lines += database_lines(record, mark)
    if record.get("reason"):
        lines.append(f"  alasan / reason       : {shown(record['reason'])}")
    lines.append(f"  catatan / record      : {shown(record['record_path'])}")
    return "\n".join(lines)


def cmd_restore(args: argparse.Namespace) -> int:
    """Emergency restore through playbooks/restore.yml."""
    task = "Restore with bangka-backup-restore"
    extravars: dict[str, Any] = {
        "restore_client": args.client,
        "restore_policy": args.policy,
        "restore_target_dir": args.target or "",
        "restore_paths": args.path,
        "restore_database": args.database or "",
        "restore_database_as": args.as_name or "",
        "restore_database_type": args.db_type or "",
        "restore_database_replace": args.replace,
        "restore_include_marked_archives": args.include_marked_archives,
        "restore_archive": args.archive or "",
        "restore_date": args.date or "",
        "restore_overwrite": args.overwrite,
        "restore_allow_unknown_archives": args.allow_unknown_archives,
    }
    if args.target_host:
        extravars["restore_target_host"] = args.target_host
    if args.target is not None and not args.target.startswith("/"):
        print("cekat restore: --target must be an absolute directory", file=sys.stderr)
        return EXIT_USAGE
    run = start(args, "restore.yml", extravars, task)
    code = EXIT_PLAYBOOK_FAILED
    judged = set()
    for host, res in run.collected(task):
        judged.add(host)
        try:  # the host's output: read as data, never trusted to be a record
            record = json.loads(res.get("stdout") or "")
            shown = restore.summary(record)
            status = record.get("status")
            outcome = {"success": EXIT_OK, "warning": EXIT_OK, "refused": EXIT_REFUSED}.get(
                status if isinstance(status, str) else "", EXIT_CHECK_FAILED
            )
        except RecursionError:
            print(
                f"cekat restore: {host}: its output is not JSON (nested too deeply)",
                file=sys.stderr,
            )
            continue
        # ValueError: not JSON; ArithmeticError: a number too large to show (OverflowError)
        except (ValueError, KeyError, TypeError, AttributeError, ArithmeticError):
            print(f"cekat restore: {host}: its output is not a restore record", file=sys.stderr)
            continue
        print(shown)
        code = outcome
    for problem in host_problems(run, judged):
        print(f"cekat: {problem}", file=sys.stderr)
    return code


def period_of(args: argparse.Namespace, today: dt.date) -> checklist.Period:
    if args.month:
        first = dt.date.fromisoformat(args.month + "-01")
        following = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return checklist.Period(first, following - dt.timedelta(days=1))
    last = dt.date.fromisoformat(args.to) if args.to else today
    first = dt.date.fromisoformat(args.since) if args.since else last - dt.timedelta(days=6)
    return checklist.Period(first, last)


def signed_moment(args: argparse.Namespace) -> tuple[str | None, checklist.Period | None]:
    """For an HTML form with ``--signoff``: the moment (``kpis.generated``) and period the
    signed checklist was built for, from the JSON beside the sign-off file
    (``REPORT.json.signoff.json`` -> ``REPORT.json``), so the form shows exactly the data that
    was signed. (None, None) when there is no sign-off or its report cannot be read."""
    signed = getattr(args, "signoff", None)
    if not signed or not str(signed).endswith(".signoff.json"):
        return None, None
    report = Path(str(signed).removesuffix(".signoff.json"))
    try:
        kpis = json.loads(report.read_text(encoding="utf-8")).get("kpis") or {}
        generated = str(kpis["generated"])
        first, _, last = str(kpis["period"]).partition("..")
        period = checklist.Period(dt.date.fromisoformat(first), dt.date.fromisoformat(last))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None, None
    return generated, period


def report_moment(args: argparse.Namespace) -> tuple[dt.datetime, checklist.Period]:
    """The time the report judges at and its period; ValueError names a wrong option. With
    ``--signoff`` and no ``--as-of``/period options, those of the signed checklist."""
    try:
        zone = ZoneInfo(args.timezone)
    except ZoneInfoNotFoundError:
        raise ValueError(f"--timezone: unknown time zone {args.timezone!r}") from None
    signed_at, signed_period = signed_moment(args)
    as_of = args.as_of or signed_at
    now = (
        dt.datetime.fromisoformat(as_of) if as_of else dt.datetime.now(zone).replace(microsecond=0)
    )
    if now.tzinfo is None:
        raise ValueError("--as-of needs a UTC offset, e.g. 2025-05-31T23:59:59+07:00")
    if signed_period is not None and not (args.month or args.since or args.to):
        return now, signed_period
    return now, period_of(args, now.astimezone(zone).date())


def report_usage_error(args: argparse.Namespace) -> str | None:
    """What is wrong with the report's directory and output options, if anything."""
    if not args.dir.is_dir():
        return f"{args.dir}: no such directory"
    if args.signoff and not (args.allowed_signers or args.inventory):
        return "--signoff needs --allowed-signers FILE or -i INVENTORY"
    if args.out and args.out.is_dir():
        return f"--out {args.out}: is a directory"
    if args.out and not args.out.parent.is_dir():
        return f"--out {args.out}: no such directory {args.out.parent}"
    return None


def cmd_report(args: argparse.Namespace) -> int:
    """The backup checklist and KPIs of a period from a tree of collected records."""
    try:
        wrong = report_usage_error(args)
        if wrong:
            raise ValueError(wrong)
        now, period = report_moment(args)
    except ValueError as exc:
        print(f"cekat report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    options: dict[str, Any] = {}
    refused: list[str] = []
    if args.format == "html":
        options["lang"] = args.lang
        if args.signoff:
            options["signoff"] = signature_checker(args, refused)
    try:
        with outputs.replacing(args.out) if args.out else contextlib.nullcontext(sys.stdout) as out:
            writer = outputs.WRITERS[args.format](out, **options)
            report = checklist.build(args.dir, period, now, writer.row)
            if args.drills is not None:
                report.drill = drills.latest(args.drills, now)
            writer.finish(report)
    except OSError as exc:
        where = exc.filename or args.out or "standard output"
        print(f"cekat report: {where}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_PLAYBOOK_FAILED
    for problem in report.problems:
        print(f"cekat report: skipped: {problem}", file=sys.stderr)
    if args.out:
        print(f"report: {args.out}", file=sys.stderr)
    if refused:
        print(
            f"cekat report: TIDAK DITANDATANGANI / NOT SIGNED: {refused[0]}; the form was "
            "written without a signature (sign the data it shows, or render the signed "
            "checklist: --signoff REPORT.json.signoff.json without --as-of or period options)",
            file=sys.stderr,
        )
        return EXIT_SIGNOFF_REFUSED
    return 1 if report.problems else 0


def cmd_consolidate(args: argparse.Namespace) -> int:
    """Fold collected run records into the ledger (one JSON Lines file per host, policy and
    month) that the report reads quickly; run by collect_records.yml after every collection."""
    if not args.dir.is_dir():
        print(f"cekat consolidate: {args.dir}: no such directory", file=sys.stderr)
        return EXIT_USAGE
    try:
        summary = ledger.consolidate(args.dir)
    except OSError as exc:
        print(f"cekat consolidate: {exc}", file=sys.stderr)
        return 2
    for problem in summary.left:
        print(f"cekat consolidate: left in place: {problem}", file=sys.stderr)
    print(f"cekat consolidate: {summary}")
    return 1 if summary.left else 0


def signature_checker(args: argparse.Namespace, refused: list[str]) -> outputs.Signoff:
    """For the HTML form: the sign-off, verified against the data being shown; why it was
    refused goes to ``refused``."""

    def check(rows: Iterable[dict[str, Any]], kpis: dict[str, Any]) -> dict[str, Any] | None:
        try:
            allowed = signoff.allowed_signers(args.allowed_signers, args.inventory)
            return signoff.verify_checklist(rows, kpis, args.signoff, allowed)
        except (OSError, signoff.SignoffError) as exc:
            refused.append(str(exc))
            return None

    return check


def cmd_sign(args: argparse.Namespace) -> int:
    """Sign a checklist's data with the operator's SSH key."""
    try:
        out = signoff.sign(args.report, args.key.expanduser(), args.signer)
    except signoff.SignoffError as exc:
        print(f"cekat sign: {exc}", file=sys.stderr)
        return 1
    print(f"ditandatangani / signed by {args.signer}: {out}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    """Filter audit entries; damaged lines are named (file:line) on stderr, exit 1."""
    from bangka_ops.access import auditlog  # noqa: PLC0415

    def moment(value: str | None, name: str) -> dt.datetime | None:
        if value is None:
            return None
        try:
            when = dt.datetime.fromisoformat(value)
        except ValueError:
            print(f"cekat audit: --{name}: not a date or ISO time: {value!r}", file=sys.stderr)
            raise SystemExit(EXIT_USAGE) from None
        return when if when.tzinfo else when.replace(tzinfo=dt.UTC)

    query = auditlog.Query(
        args.host,
        args.actor,
        args.kind,
        args.result,
        moment(args.since, "since"),
        moment(args.until, "until"),
    )
    missing = [p for p in args.paths if not p.exists()]
    if missing:
        print(f"cekat audit: {missing[0]}: no such file or directory", file=sys.stderr)
        return EXIT_USAGE
    found = auditlog.read(args.paths, query)
    if args.format == "json":
        # A lone surrogate (from a file name that was not UTF-8) cannot be printed as UTF-8:
        # it is written as its JSON escape instead.
        text = json.dumps(found.entries, indent=1, ensure_ascii=False)
        print(text.encode("utf-8", "backslashreplace").decode("utf-8"))
    else:
        sys.stdout.write(auditlog.text(found.entries))
    for problem in found.problems:
        print(f"cekat audit: {problem}", file=sys.stderr)
    return 1 if found.problems else 0


def cmd_totp_new(args: argparse.Namespace) -> int:
    """A new TOTP secret for an admin, kept in the vault, shown once."""
    from bangka_ops.access import enrol  # noqa: PLC0415

    try:
        enrol.new(
            args.inventory,
            args.person,
            password_file=args.vault_password_file,
            vault_id=args.vault_id,
            rotate=args.rotate,
        )
    except enrol.EnrolError as exc:
        print(f"cekat totp-new: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify a checklist's sign-off against the inventory's allowed signers."""
    try:
        allowed = signoff.allowed_signers(args.allowed_signers, args.inventory)
        result = signoff.verify(args.report, allowed)
    except (OSError, signoff.SignoffError) as exc:
        print(f"cekat verify: TIDAK SAH / NOT VALID: {exc}", file=sys.stderr)
        return 1
    print(f"sah / valid: {result['period']} signed by {result['signer']} at {result['signed_at']}")
    return 0


def add_runner_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-i", "--inventory", help="inventory (default: ansible.cfg's, the local inventory)"
    )
    parser.add_argument("--vault-password-file", type=Path, help="ansible-vault password file")
    parser.add_argument("--project", type=Path, help="the bangka-ops checkout (playbooks/)")


class UsageParser(argparse.ArgumentParser):
    """A wrong option or value exits 64 (EX_USAGE), as cekat's own checks do: argparse's 2 is a
    failed host or task for the playbook commands."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = UsageParser(
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

    add_playbook_commands(sub)
    add_report_commands(sub)
    collection.add_collection_commands(sub)
    return parser


def add_playbook_commands(sub: Any) -> None:
    now = sub.add_parser(
        "backup-now",
        help="cadangkan sekarang / run a backup cycle now (playbooks/backup_now.yml)",
    )
    add_runner_options(now)
    now.add_argument("--limit", help="only these hosts (Ansible pattern)")
    now.add_argument("--cycle", choices=("daily", "weekly", "monthly"), default="daily")
    now.add_argument("--policy", help="only this policy (default: every policy with the cycle)")
    now.set_defaults(func=cmd_backup_now)

    test = sub.add_parser(
        "restore-test",
        help="uji pemulihan / restore tests now (playbooks/restore_test.yml); exit 1 when any "
        "fails its integrity, RTO or RPO check",
    )
    add_runner_options(test)
    test.add_argument("--client", action="append", help="only this client (repeatable)")
    test.add_argument("--policy", help="only this policy")
    mode = test.add_mutually_exclusive_group()
    mode.add_argument("--full", dest="mode", action="store_const", const="full")
    mode.add_argument("--sample", dest="mode", action="store_const", const="sample")
    which = test.add_mutually_exclusive_group()
    which.add_argument("--date", help="the newest archive of this day (YYYY-MM-DD)")
    which.add_argument("--random-older", action="store_true", help="a random older archive")
    test.add_argument(
        "--allow-unknown-archives",
        action="store_true",
        help="also archives the clients' collected run records do not announce",
    )
    test.add_argument(
        "--include-marked-archives",
        action="store_true",
        help="also archives whose run failed a database dump (their test then fails)",
    )
    test.set_defaults(func=cmd_restore_test)

    restore = sub.add_parser(
        "restore",
        help="pemulihan darurat / emergency restore (playbooks/restore.yml); exit 3 when it "
        "would overwrite files",
    )
    add_runner_options(restore)
    restore.add_argument("--client", required=True, help="the host whose archive to restore")
    restore.add_argument("--policy", required=True)
    what = restore.add_mutually_exclusive_group(required=True)
    what.add_argument("--target", help="absolute directory to restore files into")
    what.add_argument(
        "--database", help="restore this database (into a new one: NAME_pulih_TIME, or --as)"
    )
    restore.add_argument("--as", dest="as_name", help="the restored database's name")
    restore.add_argument(
        "--type", dest="db_type", choices=["postgresql", "mariadb"], help="the database's server"
    )
    restore.add_argument(
        "--replace",
        action="store_true",
        help="replace an existing database of that name (a fresh dump of it is taken first)",
    )
    restore.add_argument(
        "--target-host", help="restore onto this host (default: the client itself)"
    )
    restore.add_argument("--path", action="append", default=[], help="path to restore (repeat)")
    archive = restore.add_mutually_exclusive_group()
    archive.add_argument("--archive", help="archive name (default: the newest)")
    archive.add_argument("--date", help="the newest archive of this day (YYYY-MM-DD)")
    restore.add_argument("--overwrite", action="store_true", help="replace existing files")
    restore.add_argument(
        "--allow-unknown-archives",
        action="store_true",
        help="also an archive the client's collected run records do not announce",
    )
    restore.add_argument(
        "--include-marked-archives",
        action="store_true",
        help="also an archive whose run failed a database dump (it may be incomplete)",
    )
    restore.set_defaults(func=cmd_restore)


def add_report_commands(sub: Any) -> None:
    rep = sub.add_parser(
        "report",
        help="daftar periksa & KPI / backup checklist and KPIs of a period from collected records",
    )
    rep.add_argument("dir", type=Path, help="tree of collected records and host configurations")
    span = rep.add_mutually_exclusive_group()
    span.add_argument("--month", help="a calendar month, YYYY-MM")
    span.add_argument("--since", help="first day, YYYY-MM-DD (default: 6 days before --to)")
    rep.add_argument("--to", help="last day, YYYY-MM-DD (default: today)")
    rep.add_argument("--as-of", help="judge missed runs and RPO as of this time (default: now)")
    rep.add_argument("--timezone", default="Asia/Jakarta", help="for 'today'")
    rep.add_argument("--format", choices=sorted(outputs.WRITERS), default="json")
    rep.add_argument("--out", type=Path, help="write here instead of standard output")
    rep.add_argument("--lang", choices=("id", "en"), default="id", help="language of the form")
    rep.add_argument(
        "--signoff", type=Path, help="HTML: show this sign-off (REPORT.json.signoff.json) if valid"
    )
    rep.add_argument("--drills", type=Path, help=DRILLS_HELP)
    trust = rep.add_mutually_exclusive_group()
    trust.add_argument("--allowed-signers", type=Path, help="for --signoff")
    trust.add_argument("-i", "--inventory", type=Path, help="for --signoff: signers.yml")
    rep.set_defaults(func=cmd_report)
    add_ledger_commands(sub)


def add_ledger_commands(sub: Any) -> None:
    con = sub.add_parser(
        "consolidate",
        help="satukan catatan ke buku besar / fold collected run records into the ledger "
        "(one file per host, policy and month)",
    )
    con.add_argument("dir", type=Path, help="tree of collected records (collect_records.yml)")
    con.set_defaults(func=cmd_consolidate)

    sig = sub.add_parser(
        "sign", help="tanda tangan operator / sign a checklist's data (JSON) with an SSH key"
    )
    sig.add_argument(
        "report",
        type=Path,
        help="checklist from cekat report --format json, or a drill report (cekat drill report)",
    )
    sig.add_argument("--key", type=Path, required=True, help="the operator's SSH private key")
    sig.add_argument("--signer", required=True, help="principal in the allowed-signers list")
    sig.set_defaults(func=cmd_sign)

    ver = sub.add_parser("verify", help="periksa tanda tangan / verify a checklist's sign-off")
    ver.add_argument("report", type=Path)
    who = ver.add_mutually_exclusive_group(required=True)
    who.add_argument("--allowed-signers", type=Path, help="ssh-keygen allowed-signers file")
    who.add_argument(
        "-i",
        "--inventory",
        type=Path,
        help="inventory directory with group_vars/all/signers.yml (backup_checklist_signers)",
    )
    ver.set_defaults(func=cmd_verify)

    aud = sub.add_parser(
        "audit",
        help="jejak audit / query audit logs: a host's, or what the admin host collected",
    )
    aud.add_argument(
        "paths",
        nargs="*",
        type=Path,
        default=[Path("/var/lib/bangka-backup-admin/collected")],
        help="audit log files or directories (searched for *.jsonl)",
    )
    aud.add_argument("--host")
    aud.add_argument("--actor", help="who (account name)")
    aud.add_argument("--kind", help="backup, check, restore_test, restore, prune, key_export, ...")
    aud.add_argument("--result")
    aud.add_argument("--since", help="YYYY-MM-DD or an ISO time with offset")
    aud.add_argument("--until", help="YYYY-MM-DD or an ISO time with offset (exclusive)")
    aud.add_argument("--format", choices=("text", "json"), default="text")
    aud.set_defaults(func=cmd_audit)

    otp = sub.add_parser(
        "totp-new",
        help="kode TOTP admin / a new TOTP secret for an admin: vault-encrypted in the inventory, "
        "shown once as a QR code",
    )
    otp.add_argument("person", help="the admin's id in group_vars/all/access.yml")
    otp.add_argument("-i", "--inventory", type=Path, required=True, help="inventory directory")
    otp.add_argument(
        "--vault-password-file", type=Path, help="default: $ANSIBLE_VAULT_PASSWORD_FILE"
    )
    otp.add_argument(
        "--vault-id",
        help="LABEL@prompt or LABEL@FILE: encrypt with this vault id of the admin's own "
        "(default: $ANSIBLE_VAULT_IDENTITY_LIST's entry for the admin)",
    )
    otp.add_argument("--rotate", action="store_true", help="replace an existing secret")
    otp.set_defaults(func=cmd_totp_new)

    arsip.add_parser(sub)
    sop.add_parser(sub)
    drill.add_parser(sub)
    handbook.add_parser(sub)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except driver.DriverError as exc:
        print(f"cekat: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return code
