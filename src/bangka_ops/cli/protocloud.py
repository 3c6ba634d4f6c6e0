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
from dataclasses import dataclass
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
    args: argparse.Namespace,
    *,
    keep_data: bool = False,
    events: bool = True,
    sync_data: bool = False,
) -> Agenda | None:
    if not args.dir.is_dir():
        print(f"protocloud: {args.dir}: no such directory", file=sys.stderr)
        return None
    return load(
        args.dir,
        keep_data=keep_data,
        events=events,
        cache_file=None if keep_data else cache_file(args),
        sync_data=sync_data,
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
        field = code(d.field) if d.field else ""
        lines.append(f"| {icon} | {code(d.file)} | {d.line or ''} | {field} | {prose(d.message)} |")
    return "\n".join(lines) + "\n"


# The pull request's comment quotes what files hold: nothing in it may become a link, an image,
# HTML, a mention or a broken table.
MARKDOWN_SPECIAL = "\\`*_[]()!#~|"


def prose(text: str) -> str:
    """Text shown as is in a Markdown table cell."""
    text = " ".join(text.split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = "".join("\\" + ch if ch in MARKDOWN_SPECIAL else ch for ch in text)
    # GitHub links bare addresses: a zero-width space breaks "://", "www." and mentions.
    for token in ("://", "www.", "WWW.", "@"):
        text = text.replace(token, token[0] + "\u200b" + token[1:])
    return text


def code(text: str) -> str:
    """Text as a code span in a Markdown table cell."""
    return "`" + " ".join(text.split()).replace("`", "'").replace("|", "\\|") + "`"


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
            f"{conflicts.span(a)}, {conflicts.span(b)}{extra} |"
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


class Failure(Exception):
    """A command cannot go on: the message for standard error and the exit code."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def diagnostics_of(agenda: Agenda, directory: Path, base: str | None) -> list[Diagnostic]:
    """The agenda's diagnostics, with the workflow checked against ``base`` if given."""
    found = list(agenda.diagnostics)
    if base:
        if not gitrepo.is_repo(directory):
            raise Failure(f"{directory} is not in a git repository", EXIT_GIT)
        extra = workflow.against_base(agenda, directory, base)
        failed = [d for d in extra if d.code == "git"]
        if failed:
            raise Failure("; ".join(str(d) for d in failed), EXIT_GIT)
        found += extra
        found.sort(key=lambda d: (d.file, d.line or 0, d.field or ""))
    return found


@dataclass
class Clashes:
    found: list[conflicts.Conflict]
    changed: set[str] | None
    window: tuple[dt.datetime, dt.datetime]
    skipped: set[str]
    events: int

    def text(self) -> str:
        lines = [
            f"{'GALAT/ERROR' if c.severity == 'error' else 'PERINGATAN/WARNING'}: {c.message()}"
            for c in self.found
        ]
        scope = f", changed items: {len(self.changed)}" if self.changed is not None else ""
        first, last = self.window
        lines.append(
            f"{len(self.found)} bentrok / conflicts in {first:%Y-%m-%d}..{last:%Y-%m-%d} "
            f"({self.events} items{scope})"
        )
        if self.skipped:
            lines.append(
                f"{len(self.skipped)} file(s) with errors left out: run protocloud validate"
            )
        return "\n".join(lines) + "\n"

    def document(self) -> dict[str, Any]:
        return {
            "window": [self.window[0].isoformat(), self.window[1].isoformat()],
            "changed": sorted(self.changed) if self.changed is not None else None,
            "skipped_files": sorted(self.skipped),
            "conflicts": [c.as_dict() for c in self.found],
        }

    @property
    def failing(self) -> bool:
        return any(c.severity == "error" for c in self.found)


def clashes_of(
    agenda: Agenda, directory: Path, today_text: str | None, changed_from: str | None
) -> Clashes:
    if agenda.config is None:
        raise Failure("; ".join(str(d) for d in agenda.errors), EXIT_FOUND)
    try:
        today = today_of(today_text, agenda)
    except ValueError as exc:
        raise Failure(f"--today: {exc}", EXIT_USAGE) from exc
    changed: set[str] | None = None
    if changed_from:
        try:
            files = gitrepo.changed_since(directory, changed_from, EVENTS_DIR)
        except (gitrepo.GitError, OSError) as exc:
            raise Failure(f"{changed_from!r}: {exc}", EXIT_GIT) from exc
        by_file = {event.file: event.id for event in agenda.events}
        changed = {by_file[name] for name in files if name in by_file}
    return Clashes(
        conflicts.find(agenda.events, agenda.config, today, changed),
        changed,
        conflicts.window(agenda.config, today),
        {d.file for d in agenda.errors},
        len(agenda.events),
    )


def summary_line(agenda: Agenda, found: list[Diagnostic]) -> str:
    errors = sum(1 for d in found if d.severity == "error")
    return (
        f"{agenda.files} berkas acara / event files, {errors} kesalahan / errors, "
        f"{len(found) - errors} peringatan / warnings"
    )


def validation_document(agenda: Agenda, found: list[Diagnostic]) -> dict[str, Any]:
    return {
        "files": agenda.files,
        "cached": agenda.cached,
        "errors": sum(1 for d in found if d.severity == "error"),
        "diagnostics": [d.as_dict() for d in found],
    }


def cmd_validate(args: argparse.Namespace) -> int:
    agenda = open_agenda(args, events=False)
    if agenda is None:
        return EXIT_USAGE
    found = diagnostics_of(agenda, args.dir, args.base)
    emit(
        args,
        lambda: "".join(f"{d}\n" for d in found) + summary_line(agenda, found) + "\n",
        lambda: validation_document(agenda, found),
        lambda: markdown_diagnostics(found),
    )
    errors = any(d.severity == "error" for d in found)
    audit(
        "agenda_validate",
        str(args.dir.resolve()),
        "errors" if errors else "ok",
        errors=sum(d.severity == "error" for d in found),
        warnings=sum(d.severity != "error" for d in found),
    )
    return EXIT_FOUND if errors or (args.strict and found) else EXIT_OK


def audit(kind: str, action: str, result: str, **details: Any) -> None:
    """The host's audit log, where one is kept (see bangka_ops.backup.audit)."""
    from bangka_ops.backup import audit as audit_log  # noqa: PLC0415

    audit_log.audit(kind, action, result, **details)


def today_of(text: str | None, agenda: Agenda) -> dt.date:
    if text:
        return dt.date.fromisoformat(text)
    tz = agenda.config.timezone if agenda.config else "Asia/Jakarta"
    return dt.datetime.now(ZoneInfo(tz)).date()


def cmd_conflicts(args: argparse.Namespace) -> int:
    agenda = open_agenda(args)
    if agenda is None:
        return EXIT_USAGE
    clashes = clashes_of(agenda, args.dir, args.today, args.changed_from)
    emit(args, clashes.text, clashes.document, lambda: markdown_conflicts(clashes.found))
    return EXIT_FOUND if clashes.failing else EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    """What a pull request (and the pre-commit hook) runs: validate, then conflicts of the
    changed items against the whole agenda, in one report."""
    agenda = open_agenda(args)
    if agenda is None:
        return EXIT_USAGE
    found = diagnostics_of(agenda, args.dir, args.base)
    clashes = (
        clashes_of(agenda, args.dir, args.today, args.base) if agenda.config is not None else None
    )
    errors = any(d.severity == "error" for d in found)

    def text() -> str:
        out = "".join(f"{d}\n" for d in found) + summary_line(agenda, found) + "\n"
        return out + (clashes.text() if clashes else "")

    def markdown() -> str:
        verdict = (
            "❌ perlu diperbaiki / needs changes"
            if errors or (clashes and clashes.failing)
            else "✅ siap / ready"
        )
        parts = [
            f"### Pemeriksaan agenda / Agenda check: {verdict}\n",
            markdown_diagnostics(found),
        ]
        if clashes:
            parts.append(markdown_conflicts(clashes.found))
        parts.append(f"\n<sub>{summary_line(agenda, found)}</sub>\n")
        return "\n".join(parts)

    emit(
        args,
        text,
        lambda: {
            "validation": validation_document(agenda, found),
            "conflicts": clashes.document() if clashes else None,
        },
        markdown,
    )
    return EXIT_FOUND if errors or (clashes and clashes.failing) else EXIT_OK


def now_of(text: str | None, agenda: Agenda) -> dt.datetime:
    if text:
        when = dt.datetime.fromisoformat(text)
        if when.tzinfo is None:
            raise Failure("--now needs a UTC offset, e.g. 2026-11-24T08:00:00+07:00", EXIT_USAGE)
        return when
    tz = agenda.config.timezone if agenda.config else "Asia/Jakarta"
    return dt.datetime.now(ZoneInfo(tz)).replace(microsecond=0)


def cmd_report(args: argparse.Namespace) -> int:
    from bangka_ops.agenda import report  # noqa: PLC0415

    agenda = open_agenda(args, keep_data=True)
    if agenda is None:
        return EXIT_USAGE
    if agenda.config is None:
        raise Failure("; ".join(str(d) for d in agenda.errors), EXIT_FOUND)
    try:
        now = now_of(args.now, agenda)
    except ValueError as exc:
        raise Failure(f"--now: {exc}", EXIT_USAGE) from exc
    late = report.escalations(agenda.events, agenda.config, now)
    unready = report.open_checklists(agenda.events, agenda.config, now)
    figures = report.kpis(agenda.events, agenda.config, now)
    skipped = sorted({d.file for d in agenda.errors})

    def text() -> str:
        lines = [f"Laporan agenda / agenda report, {now.isoformat()}", ""]
        lines.append(f"Eskalasi / escalation list ({len(late)}):")
        lines += [
            f"  {e.event.id}: {e.stage} for {e.waited_hours:.0f} h (SLA {e.sla_hours:g} h), "
            f"since {e.since.isoformat()}"
            for e in late
        ]
        lines.append(f"Daftar periksa belum lengkap / open pre-event checklists ({len(unready)}):")
        lines += [
            f"  {c.event.id}: starts {c.start:%Y-%m-%d %H:%M} (in {c.hours_left:.0f} h), "
            f"missing: {', '.join(c.missing)}"
            for c in unready
        ]
        conflict = figures["conflicts"]
        lead = figures["submission_to_publication_hours"]
        notice = figures["notification_compliance"]
        lines += [
            "KPI:",
            f"  items in conflict: {conflict['percent_in_error_conflicts']} % (errors), "
            f"{conflict['percent_in_any_conflict']} % (with warnings) of "
            f"{conflict['items_considered']}",
            f"  submission to publication: mean {lead['mean']} h, median {lead['median']} h, "
            f"p95 {lead['p95']} h ({lead['items']} items)",
            f"  notification compliance: {notice['percent']} % published >= "
            f"{notice['hours_before_required']:g} h ahead ({notice['published_in_time']} of "
            f"{notice['published']})",
        ]
        if skipped:
            lines.append(f"{len(skipped)} file(s) with errors left out: run protocloud validate")
        return "\n".join(lines) + "\n"

    def document() -> dict[str, Any]:
        return {
            "now": now.isoformat(),
            "escalations": [
                {
                    "id": e.event.id,
                    "file": e.event.file,
                    "stage": e.stage,
                    "since": e.since.isoformat(),
                    "waited_hours": round(e.waited_hours, 1),
                    "sla_hours": e.sla_hours,
                    "person_in_charge": e.event.person_in_charge,
                }
                for e in late
            ],
            "open_checklists": [
                {
                    "id": c.event.id,
                    "file": c.event.file,
                    "start": c.start.isoformat(),
                    "hours_left": round(c.hours_left, 1),
                    "missing": list(c.missing),
                    "person_in_charge": c.event.person_in_charge,
                }
                for c in unready
            ],
            "kpis": figures,
            "skipped_files": skipped,
        }

    def markdown() -> str:
        rows = [f"## Laporan agenda / Agenda report ({now:%Y-%m-%d %H:%M %Z})", ""]
        rows += [f"### Eskalasi / Escalation ({len(late)})", ""]
        if late:
            rows += [
                "| Acara / item | Tahap / stage | Menunggu / waiting | SLA |",
                "|---|---|---|---|",
            ]
            rows += [
                f"| `{e.event.id}` | {e.stage} | {e.waited_hours:.0f} h | {e.sla_hours:g} h |"
                for e in late
            ]
        rows += ["", f"### Daftar periksa belum lengkap / Open checklists ({len(unready)})", ""]
        if unready:
            rows += ["| Acara / item | Mulai / starts | Kurang / missing |", "|---|---|---|"]
            rows += [
                f"| `{c.event.id}` | {c.start:%Y-%m-%d %H:%M} | {', '.join(c.missing)} |"
                for c in unready
            ]
        rows += ["", "### KPI", "", "```json", json.dumps(figures, indent=1), "```", ""]
        return "\n".join(rows)

    emit(args, text, document, markdown)
    return EXIT_FOUND if agenda.errors else EXIT_OK


# protocloud sync only (the table is in the README):
EXIT_PARTIAL = 3  # some calendar writes failed; the rest were written; the next run finishes
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: Google Calendar unreachable or refusing: nothing written
EXIT_CANTCREAT = 73  # EX_CANTCREAT: the state file, its audit log or the lock cannot be written
EXIT_BUSY = 75  # EX_TEMPFAIL: another sync is running


def state_path(args: argparse.Namespace) -> Path:
    if args.state:
        return Path(args.state)
    try:
        common = gitrepo.git(args.dir, "rev-parse", "--path-format=absolute", "--git-common-dir")
    except (gitrepo.GitError, OSError) as exc:
        raise Failure("--state is needed outside a git repository", EXIT_USAGE) from exc
    return Path(common.decode().strip()) / "protocloud" / "sync-state.json"


def cmd_sync(args: argparse.Namespace) -> int:
    import fcntl  # noqa: PLC0415

    from bangka_ops.agenda import gcal, sync  # noqa: PLC0415 (the Google client loads slowly)

    agenda = open_agenda(args, sync_data=True)
    if agenda is None:
        return EXIT_USAGE
    if agenda.errors:
        for d in agenda.errors:
            print(f"protocloud sync: {d}", file=sys.stderr)
        raise Failure(
            "tidak ada yang ditulis / nothing written: the agenda is not valid", EXIT_FOUND
        )
    credentials_file = gcal.credentials_path(args.credentials)
    if credentials_file is None:
        raise Failure(
            f"no Google credentials (--credentials or ${gcal.ENV_CREDENTIALS}); without a Google "
            "account publish with `protocloud ics`",
            EXIT_USAGE,
        )
    try:
        credentials = gcal.load_credentials(credentials_file)
    except OSError as exc:
        raise Failure(f"credentials {credentials_file}: {exc.strerror}", EXIT_USAGE) from exc
    except ValueError as exc:
        raise Failure(f"credentials {exc}", EXIT_USAGE) from exc
    if agenda.config is None:  # pragma: no cover (an agenda without errors has one)
        raise Failure("the agenda's configuration is not valid", EXIT_FOUND)
    keys = sorted(k for k, c in agenda.config.calendars.items() if c.get("google_calendar_id"))
    try:
        mode, acting = sync.acting_for(
            agenda.config, keys, credentials.kind, subject=args.subject, as_owner=args.as_owner
        )
    except sync.SyncError as exc:
        raise Failure(str(exc), EXIT_USAGE) from exc
    state = state_path(args)
    state.parent.mkdir(parents=True, exist_ok=True)
    with open(state.with_suffix(".lock"), "a", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if args.wait else fcntl.LOCK_NB))
        except BlockingIOError as exc:
            raise Failure("another sync is running (use --wait to wait for it)", EXIT_BUSY) from exc
        client = gcal.GoogleCalendar(
            credentials,
            api_endpoint=args.api_endpoint,
            batch_uri=args.batch_uri,
            retries=args.retries,
        )
        try:
            outcome = sync.Sync(
                agenda,
                client,
                state,
                policy=args.policy,
                prune_acl=args.prune_acl,
                acting=acting,
                allowed_writers=args.allowed_writer,
            ).run(dry_run=args.dry_run)
        except sync.SyncError as exc:
            raise Failure(str(exc), EXIT_FOUND if exc.refused else EXIT_UNAVAILABLE) from exc
        except gcal.AuthError as exc:
            raise Failure(
                f"credentials {credentials_file} at {client.endpoint}: {exc}", EXIT_UNAVAILABLE
            ) from exc
        record = sync_record(args, agenda, outcome, mode, state)
    emit(args, lambda: sync_text(args, outcome), lambda: record, lambda: sync_text(args, outcome))
    return EXIT_PARTIAL if outcome.failures else EXIT_OK


def sync_record(
    args: argparse.Namespace, agenda: Agenda, outcome: Any, mode: str, state: Path
) -> dict[str, Any]:
    """The run's record; on a real run appended to sync-audit.jsonl beside the state file, and
    one line in the host's audit log."""
    record = audit_record(args, agenda, outcome)
    record["credential_mode"] = mode
    record["acting_as"] = {
        k: a.subject or "(the account itself)" for k, a in outcome.acting.items()
    }
    record["reminders_reach"] = {k: a.reminded for k, a in outcome.acting.items()}
    if not args.dry_run:
        with open(state.parent / "sync-audit.jsonl", "a", encoding="utf-8") as log:
            log.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        audit(
            "agenda_sync",
            str(args.dir.resolve()),
            "failed" if outcome.failures else "ok",
            written=outcome.written,
            commit=record.get("agenda_commit"),
        )
    return record


def audit_record(args: argparse.Namespace, agenda: Agenda, outcome: Any) -> dict[str, Any]:
    """What the run changed and when: the audit trail, and the update-time KPI (from the agenda
    commit's time to the moment the change reached the calendar)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    commit = commit_time = None
    try:
        line = gitrepo.git(args.dir, "log", "-1", "--format=%H %ct").decode().split()
        commit, commit_time = line[0], dt.datetime.fromtimestamp(int(line[1]), dt.UTC)
    except (gitrepo.GitError, OSError, IndexError, ValueError):
        pass
    calendars = sorted(
        {c.calendar for c in outcome.plan.changes} | {r.calendar for r in outcome.plan.acl}
    )
    return {
        "kind": "agenda_sync",
        "time": now.isoformat(),
        "dry_run": args.dry_run,
        "agenda_commit": commit,
        "commit_time": commit_time.isoformat() if commit_time else None,
        "update_seconds": (now - commit_time).total_seconds()
        if commit_time and outcome.written
        else None,
        "planned": {key: outcome.plan.count(key) for key in calendars},
        "written": outcome.written,
        "failures": outcome.failures,
        "kept_hand_edits": [
            {"calendar": c.calendar, "agenda_id": c.agenda_id, "event_id": c.event_id}
            for c in outcome.plan.changes
            if c.kind == "kept"
        ],
        "acl_not_in_calendars_yaml": [
            {"calendar": r.calendar, "rule": r.rule_id, "role": r.role}
            for r in outcome.plan.acl
            if r.kind == "extra"
        ],
        "round_trips": outcome.round_trips,
        "calls": outcome.calls,
    }


def sync_text(args: argparse.Namespace, outcome: Any) -> str:
    lines = [
        "Rencana / plan (dry run, nothing written):" if args.dry_run else "Sinkronisasi / sync:"
    ]
    calendars = sorted(
        {c.calendar for c in outcome.plan.changes} | {r.calendar for r in outcome.plan.acl}
    )
    for key in calendars:
        counts = outcome.plan.count(key)
        shown = ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()))
        lines.append(f"  {key}: {shown}")
    for change in outcome.plan.changes:
        if change.note:
            lines.append(f"  {change.calendar}: {change.agenda_id}: {change.note}")
    for rule in outcome.plan.acl:
        if rule.kind == "extra":
            lines.append(
                f"  {rule.calendar}: ACL {rule.rule_id} ({rule.role}) is not in calendars.yaml "
                "(kept; --prune-acl removes it)"
            )
    if not args.dry_run:
        lines.append(
            "  written: "
            + (", ".join(f"{k} {n}" for k, n in sorted(outcome.written.items())) or "nothing")
        )
    for key, acting in sorted(outcome.acting.items()):
        if not acting.invite:
            lines.append(
                f"  {key}: no invitations (a service account acting as itself cannot add "
                "attendees; use --as-owner with domain-wide delegation)"
            )
    lines += [f"  GAGAL / FAILED: {failure}" for failure in outcome.failures]
    lines.append(f"  {outcome.round_trips} HTTP round trips, {outcome.calls} API calls")
    return "\n".join(lines) + "\n"


def cmd_job(args: argparse.Namespace) -> int:
    from bangka_ops.agenda import job  # noqa: PLC0415

    return job.run(args.config)


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
    for path, state in ics.write(args.out, built):
        print(f"{state}: {path}")
    return EXIT_OK


def cmd_cetak(args: argparse.Namespace) -> int:
    from bangka_ops.agenda import cetak  # noqa: PLC0415

    agenda = open_agenda(args, keep_data=True)
    if agenda is None:
        return EXIT_USAGE
    if agenda.errors or agenda.config is None:
        for d in agenda.errors:
            print(f"protocloud cetak: {d}", file=sys.stderr)
        print("protocloud cetak: tidak ada yang ditulis / nothing written: the agenda is not valid",
              file=sys.stderr)  # fmt: skip
        return EXIT_FOUND
    zone = ZoneInfo(agenda.config.timezone)
    try:
        today = (
            dt.date.fromisoformat(args.tanggal) if args.tanggal else dt.datetime.now(zone).date()
        )
    except ValueError:
        print(f"protocloud cetak: --tanggal: a date YYYY-MM-DD, not {args.tanggal!r}",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    problems = 0
    for entry in cetak.write_all(agenda.events, agenda.config, args.out, today,
                                 pdf=not args.tanpa_pdf):  # fmt: skip
        state = "ditulis / written" if entry["changed"] else "tetap / unchanged"
        print(f"{state}: {entry['html']} ({entry['items']} acara / items)")
        if entry.get("pdf_error"):
            problems += 1
            print(f"protocloud cetak: PDF: {entry['html']}: {entry['pdf_error']}", file=sys.stderr)
    return EXIT_FOUND if problems else EXIT_OK


def add_cache_options(parser: argparse.ArgumentParser) -> None:
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument(
        "--cache",
        metavar="DIR",
        help="keep validation results here (default: inside the repository's .git)",
    )
    cache.add_argument("--no-cache", action="store_true", help="validate every file afresh")


def add_sync_parser(sub: Any) -> None:
    syn = sub.add_parser(
        "sync", help="sinkronkan ke Google Calendar / one-way sync to Google Calendar"
    )
    syn.add_argument("dir", nargs="?", type=Path, default=Path("."), help="agenda repository")
    syn.add_argument(
        "--credentials",
        help="service-account JSON or OAuth token file (default: $PROTOCLOUD_GOOGLE_CREDENTIALS)",
    )
    who = syn.add_mutually_exclusive_group()
    who.add_argument(
        "--subject",
        help="service account with domain-wide delegation: act as this user in every calendar",
    )
    who.add_argument(
        "--as-owner",
        action="store_true",
        help="service account with domain-wide delegation: act as each calendar's owner "
        "(calendars.yaml), so the event reminders reach that owner",
    )
    syn.add_argument("--api-endpoint", default="https://www.googleapis.com/", help="API root")
    syn.add_argument(
        "--batch-uri", help="batch endpoint (default: <api-endpoint>batch/calendar/v3)"
    )
    syn.add_argument("--state", help="state file (default: inside the repository's .git)")
    syn.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    syn.add_argument(
        "--policy",
        choices=("overwrite", "keep"),
        default="overwrite",
        help="an event changed by hand in the calendar: overwrite it (default) or keep it "
        "until its agenda item changes",
    )
    syn.add_argument("--prune-acl", action="store_true", help="remove ACL rules not listed")
    syn.add_argument(
        "--allowed-writer",
        action="append",
        default=[],
        metavar="EMAIL",
        help="a calendar writer the access model allows (repeat; when given, any other writer in "
        "calendars.yaml stops the sync)",
    )
    syn.add_argument("--wait", action="store_true", help="wait for a running sync to finish")
    syn.add_argument(
        "--retries", type=int, default=6, help="retries of a rate-limited or failed call (6)"
    )
    syn.add_argument("--format", choices=("text", "json"), default="text")
    add_cache_options(syn)
    syn.set_defaults(func=cmd_sync)


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

    chk = sub.add_parser(
        "check",
        help="pemeriksaan pull request / what a pull request and the pre-commit hook run: "
        "validate, then conflicts of the changed items",
    )
    chk.add_argument("dir", nargs="?", type=Path, default=Path("."), help="agenda repository")
    chk.add_argument(
        "--base",
        metavar="REF",
        help="the pull request's base: workflow checked against it, conflicts of the items "
        "changed since it",
    )
    chk.add_argument("--today", help="the window's reference day, YYYY-MM-DD (default: today)")
    chk.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    add_cache_options(chk)
    chk.set_defaults(func=cmd_check)

    rep = sub.add_parser(
        "report",
        help="laporan agenda / escalation list (stage SLAs), open pre-event checklists, KPIs",
    )
    rep.add_argument("dir", nargs="?", type=Path, default=Path("."), help="agenda repository")
    rep.add_argument("--now", help="judge as of this time (ISO 8601 with offset; default: now)")
    rep.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    rep.set_defaults(func=cmd_report)

    add_sync_parser(sub)

    job = sub.add_parser(
        "job",
        help="tugas terjadwal / the operations host's scheduled job: update the checkout, "
        "validate, conflicts, then sync (or ics); a failure notifies",
    )
    job.add_argument(
        "--config",
        type=Path,
        default=Path("/etc/protocloud/job.json"),
        help="job configuration (written by the agenda_sync role)",
    )
    job.set_defaults(func=cmd_job)

    cet = sub.add_parser(
        "cetak",
        help="agenda cetak / printable daily and weekly agenda per leader (HTML + PDF, A4): "
        "the manual fallback",
    )
    cet.add_argument("dir", nargs="?", type=Path, default=Path("."), help="agenda repository")
    cet.add_argument("--out", type=Path, required=True, help="where the pages go")
    cet.add_argument("--tanggal", help="today, YYYY-MM-DD (default: today in the agenda's zone)")
    cet.add_argument("--tanpa-pdf", action="store_true", help="HTML only (no Chromium)")
    cet.set_defaults(func=cmd_cetak)
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
    try:
        code: int = args.func(args)
    except Failure as exc:
        print(f"protocloud {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except OSError as exc:  # an output, state or lock path that cannot be written
        where = f" {exc.filename}:" if exc.filename else ""
        print(f"protocloud {args.command}:{where} {exc.strerror or exc}", file=sys.stderr)
        return EXIT_CANTCREAT if args.command == "sync" else EXIT_FOUND
    return code


if __name__ == "__main__":
    sys.exit(main())
