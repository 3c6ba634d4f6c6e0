"""The SOP's review cycle (both plans: review the SOP and the checklist every six months, or after
a major incident) and the incidents that trigger it.

One journal, ``<dir>/sop-jurnal.jsonl``, holds every incident and every review as one JSON line,
appended under a lock and never rewritten: the history is the record. :func:`status` says
whether a review is due and why (no review yet, the interval has passed since the last one, a
major incident happened after it); :func:`remind` sends that as a notification at most once per
``every_days`` while it stays due, and notes each reminder in the journal.

The commands (``insiden catat|daftar``, ``sop tinjau|status|ingatkan``) are defined here once, for
``cekat`` and for the admin host's ``bangka-backup-maintenance`` (whose own daily timer, set up
by the borg_admin role, runs ``sop ingatkan``). Standard library only (the admin host's tools
run on Debian's Python).
"""

from __future__ import annotations

import argparse
import calendar
import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

try:
    from bangka_ops.backup import audit as audit_log
    from bangka_ops.backup import notify as notices
except ModuleNotFoundError:  # deployed beside maintenance.py on the admin host
    import audit as audit_log  # type: ignore[import-not-found, no-redef]
    import notify as notices  # type: ignore[import-not-found, no-redef]

audit = audit_log.audit
notify_problems, send_notifications = notices.problems, notices.send_notifications

JOURNAL = "sop-jurnal.jsonl"
INTERVAL_MONTHS = 6
REMIND_EVERY_DAYS = 7
# Tingkat insiden / incident severity; a major one makes the review due at once.
SEVERITIES = {"ringan": "minor", "sedang": "moderate", "berat": "major"}
MAJOR = "berat"
KINDS = ("insiden", "tinjauan", "pengingat")
# The fields each kind of entry must carry (texts), besides jenis and tanggal.
REQUIRED = {
    "insiden": ("id", "judul", "tingkat", "oleh", "dicatat"),
    "tinjauan": ("id", "oleh", "dicatat"),
    "pengingat": ("dicatat",),
}
TEXT_LIMIT = 4000
NAME = re.compile(r"^[\w .,'()@-]{1,100}$")


class SopError(ValueError):
    """Bad input or an unreadable journal; the message names the field or the line."""


@dataclass
class Status:
    """Where the review cycle stands at ``now``."""

    now: dt.datetime
    last_review: dict[str, Any] | None
    due_at: dt.date | None
    reasons: list[str] = field(default_factory=list)
    incidents_since: list[dict[str, Any]] = field(default_factory=list)
    last_reminder: dict[str, Any] | None = None

    @property
    def due(self) -> bool:
        return bool(self.reasons)

    def as_dict(self) -> dict[str, Any]:
        return {
            "due": self.due,
            "reasons": self.reasons,
            "last_review": self.last_review,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "incidents_since_last_review": self.incidents_since,
            "last_reminder": self.last_reminder,
            "as_of": self.now.isoformat(timespec="seconds"),
        }


def journal_path(directory: Path) -> Path:
    return directory / JOURNAL


def read(directory: Path) -> list[dict[str, Any]]:
    """Every entry of the journal, oldest first; SopError names a line that is not one."""
    path = journal_path(directory)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise SopError(f"{path}: cannot be read: {exc}") from exc
    entries = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError) as exc:
            why = "nested too deeply" if isinstance(exc, RecursionError) else exc
            raise SopError(f"{path}:{number}: not a JSON line: {why}") from exc
        if not isinstance(entry, dict) or entry.get("jenis") not in KINDS:
            raise SopError(f"{path}:{number}: not an entry of this journal")
        if not isinstance(entry.get("tanggal"), str) or _date(entry["tanggal"]) is None:
            raise SopError(f"{path}:{number}: tanggal: a date YYYY-MM-DD")
        for name in REQUIRED[entry["jenis"]]:
            if not isinstance(entry.get(name), str) or not entry[name]:
                raise SopError(f"{path}:{number}: {name}: missing or not a text")
        if _moment(entry["dicatat"]) is None:
            raise SopError(f"{path}:{number}: dicatat: a time with its offset")
        for name in ("insiden_dicakup", "sistem", "alasan"):
            if name in entry and not isinstance(entry[name], list):
                raise SopError(f"{path}:{number}: {name}: a list")
        entries.append(entry)
    return entries


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[Path]:
    directory.mkdir(parents=True, exist_ok=True, mode=0o750)
    with open(directory / ".sop.lock", "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield journal_path(directory)


def _append(
    directory: Path, make: Callable[[list[dict[str, Any]]], dict[str, Any]]
) -> dict[str, Any]:
    """Append the entry ``make`` builds from the journal as it is (under the lock)."""
    with _locked(directory) as path:
        entry = make(read(directory))
        _write_line(path, entry)
    return entry


def _write_line(path: Path, entry: dict[str, Any]) -> None:
    """``entry`` as one line at the end of the journal (the caller holds the lock)."""
    line = json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        data = line.encode("utf-8")
        while data:  # a short write is continued, never left as a torn line
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except (TypeError, ValueError):
        return None


def _moment(text: str) -> dt.datetime | None:
    """An ISO time with its offset (the journal never holds a naive one)."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else None


def _text(value: str | None, name: str, *, required: bool = True, lines: bool = False) -> str:
    """A text field; only ``lines`` fields (uraian, catatan) may hold line breaks, so a title
    cannot forge lines of a status or a reminder."""
    text = (value or "").strip()
    if required and not text:
        raise SopError(f"{name}: required")
    if len(text) > TEXT_LIMIT:
        raise SopError(f"{name}: at most {TEXT_LIMIT} characters")
    allowed = "\n\t" if lines else ""
    if any((ord(c) < 32 or ord(c) == 127) and c not in allowed for c in text):
        what = "control characters" if lines else "line breaks or control characters"
        raise SopError(f"{name}: {what} are not allowed")
    return text


def _person(value: str | None) -> str:
    text = _text(value, "oleh")
    if not NAME.match(text):
        raise SopError(
            f"oleh: a person's name or account (letters, digits, . , ' ( ) @ -), not {text[:40]!r}"
        )
    return text


def _day(value: str | None, now: dt.datetime, name: str = "tanggal") -> dt.date:
    if value is None:
        return now.date()
    day = _date(value)
    if day is None:
        raise SopError(f"{name}: a date YYYY-MM-DD, not {value[:40]!r}")
    if day > now.date():
        raise SopError(f"{name}: {day} is in the future")
    return day


def record_incident(
    directory: Path,
    *,
    title: str,
    severity: str,
    by: str,
    description: str = "",
    systems: list[str] | None = None,
    day: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """One incident (``INS-YYYY-NNN``); a major one (``berat``) makes the SOP review due."""
    now = now or dt.datetime.now().astimezone()
    if severity not in SEVERITIES:
        raise SopError(f"tingkat: one of {', '.join(SEVERITIES)}, not {severity[:40]!r}")
    fields = {
        "judul": _text(title, "judul"),
        "tingkat": severity,
        "oleh": _person(by),
        "uraian": _text(description, "uraian", required=False, lines=True),
        "sistem": [_text(s, "sistem") for s in systems or []],
        "tanggal": _day(day, now).isoformat(),
    }

    def make(entries: list[dict[str, Any]]) -> dict[str, Any]:
        year = fields["tanggal"][:4]
        same_year = [
            e
            for e in entries
            if e["jenis"] == "insiden" and str(e.get("id", "")).startswith(f"INS-{year}-")
        ]
        return {"jenis": "insiden", "id": f"INS-{year}-{len(same_year) + 1:03d}",
                "dicatat": now.isoformat(timespec="seconds"), **fields}  # fmt: skip

    return _append(directory, make)


def record_review(
    directory: Path,
    *,
    by: str,
    notes: str = "",
    day: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """One review of the SOP and the checklist; it covers every incident up to its day."""
    now = now or dt.datetime.now().astimezone()
    fields = {"oleh": _person(by), "catatan": _text(notes, "catatan", required=False, lines=True),
              "tanggal": _day(day, now).isoformat()}  # fmt: skip

    def make(entries: list[dict[str, Any]]) -> dict[str, Any]:
        covered = [
            e["id"]
            for e in entries
            if e["jenis"] == "insiden" and e["tanggal"] <= fields["tanggal"]
        ]
        number = sum(1 for e in entries if e["jenis"] == "tinjauan") + 1
        return {"jenis": "tinjauan", "id": f"SOP-{number:03d}", "insiden_dicakup": covered,
                "dicatat": now.isoformat(timespec="seconds"), **fields}  # fmt: skip

    return _append(directory, make)


def add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def status(
    entries: list[dict[str, Any]], now: dt.datetime, interval_months: int = INTERVAL_MONTHS
) -> Status:
    reviews = [e for e in entries if e["jenis"] == "tinjauan"]
    last = max(reviews, key=lambda e: (e["tanggal"], e.get("dicatat", ""))) if reviews else None
    reminders = [e for e in entries if e["jenis"] == "pengingat"]
    result = Status(now=now, last_review=last, due_at=None,
                    last_reminder=reminders[-1] if reminders else None)  # fmt: skip
    covered = set(last.get("insiden_dicakup") or []) if last else set()
    # Every incident the last review did not cover, whatever its date: one entered late, dated
    # before that review, was not part of it.
    since = [e for e in entries if e["jenis"] == "insiden" and e["id"] not in covered]
    result.incidents_since = since
    if last is None:
        result.reasons.append(
            "belum ada tinjauan SOP yang dicatat / no SOP review has been recorded yet"
        )
    else:
        result.due_at = add_months(dt.date.fromisoformat(last["tanggal"]), interval_months)
        if now.date() >= result.due_at:
            result.reasons.append(
                f"{interval_months} bulan sejak tinjauan terakhir ({last['tanggal']}, "
                f"jatuh tempo {result.due_at}) / {interval_months} months since the last "
                f"review ({last['tanggal']}, due {result.due_at})"
            )
    for incident in since:
        if incident.get("tingkat") == MAJOR:
            after = " setelah tinjauan terakhir / after the last review" if last else ""
            result.reasons.append(
                f"insiden berat / major incident {incident['id']} ({incident['tanggal']}: "
                f"{incident['judul'][:80]}){after}"
            )
    return result


def remind(
    directory: Path,
    send: Callable[[str, str, dict[str, Any]], list[dict[str, Any]]],
    *,
    now: dt.datetime | None = None,
    interval_months: int = INTERVAL_MONTHS,
    every_days: int = REMIND_EVERY_DAYS,
    host: str = "",
) -> dict[str, Any]:
    """Notify (through ``send(subject, body, summary)``) that the review is due, unless it is
    not, or a reminder went out fewer than ``every_days`` calendar days ago and nothing was
    recorded since (a new incident or review starts the count again). A reminder is journalled
    only when at least one channel took it; with no channel configured it is an error
    (``outcome["error"]``), never a silent week. The journal stays locked from reading it to
    journalling the reminder: two runs at once (the timer and an admin by hand) send one."""
    if every_days < 1 or interval_months < 1:
        raise SopError("every_days and interval_months: whole numbers of 1 or more")
    with _locked(directory) as path:
        moment = now or dt.datetime.now().astimezone()
        return _remind(directory, path, send, now=moment, interval_months=interval_months,
                       every_days=every_days, host=host)  # fmt: skip


def _remind(
    directory: Path,
    path: Path,
    send: Callable[[str, str, dict[str, Any]], list[dict[str, Any]]],
    *,
    now: dt.datetime,
    interval_months: int,
    every_days: int,
    host: str,
) -> dict[str, Any]:
    entries = read(directory)
    current = status(entries, now, interval_months)
    outcome: dict[str, Any] = {"status": current.as_dict(), "sent": False}
    if not current.due:
        return outcome
    kinds = [e["jenis"] for e in entries]
    last_reminder = max((i for i, k in enumerate(kinds) if k == "pengingat"), default=-1)
    last_record = max((i for i, k in enumerate(kinds) if k != "pengingat"), default=-1)
    if last_reminder > last_record:
        sent_on = (_moment(entries[last_reminder]["dicatat"]) or now).astimezone(now.tzinfo)
        if (now.date() - sent_on.date()).days < every_days:
            outcome["next_reminder_on"] = (
                sent_on.date() + dt.timedelta(days=every_days)
            ).isoformat()
            return outcome
    subject = f"[SI CEKAT] TINJAUAN SOP JATUH TEMPO / SOP REVIEW DUE{f' ({host})' if host else ''}"
    body = "\n".join(
        [
            "Tinjauan SOP dan daftar periksa perlu dilakukan / "
            "The SOP and checklist review is due:",
            *[f"- {reason}" for reason in current.reasons],
            "",
            f"Tinjauan terakhir / Last review: "
            f"{current.last_review['tanggal'] if current.last_review else '-'}",
            "Catat tinjauan / Record the review: cekat sop tinjau --oleh NAMA [--catatan ...]",
        ]
    )
    summary = {"status": "warning", "kind": "sop_review_due", "reasons": current.reasons,
               "host": host}  # fmt: skip
    deliveries = send(subject, body, summary)
    outcome["notifications"] = deliveries
    if not deliveries:
        outcome["error"] = "no notification channel is configured (webhook, e-mail or Apprise)"
        return outcome
    if not any(d.get("delivered") for d in deliveries):
        outcome["error"] = "no channel took the reminder; it is tried again on the next run"
        return outcome
    outcome["sent"] = True
    _write_line(path, {"jenis": "pengingat", "tanggal": now.date().isoformat(),
                       "dicatat": now.isoformat(timespec="seconds"), "alasan": current.reasons,
                       "terkirim": [bool(d.get("delivered")) for d in deliveries]})  # fmt: skip
    return outcome


# ---- the commands ----------------------------------------------------------------------

PROG = "cekat "  # in messages; the admin host's tool sets its own
DEFAULT_DIR = Path(os.environ.get("BANGKA_SOP_DIR", "/var/lib/bangka-backup-admin/sop"))
DEFAULT_CONFIG = Path("/etc/bangka-backup-admin/config.json")
DEFAULT_ZONE = "Asia/Jakarta"
EXIT_OK, EXIT_DUE, EXIT_FAILED, EXIT_USAGE = 0, 1, 2, 64


def err(command: str, message: object) -> int:
    print(f"{PROG}{command}: {message}", file=sys.stderr)
    return EXIT_USAGE


def cmd_incident_record(args: argparse.Namespace) -> int:
    try:
        entry = record_incident(
            args.dir,
            title=args.judul,
            severity=args.tingkat,
            by=args.oleh,
            description=args.uraian or "",
            systems=args.sistem,
            day=args.tanggal,
            now=now(args),
        )
    except (SopError, OSError) as exc:
        return err("insiden catat", exc)
    audit("sop", "insiden", "dicatat", id=entry["id"], tingkat=entry["tingkat"])
    print(f"{entry['id']} dicatat / recorded ({entry['tingkat']}, {entry['tanggal']})")
    if entry["tingkat"] == MAJOR:
        print("insiden berat: tinjauan SOP jatuh tempo / a major incident: the SOP review is due")
    return EXIT_OK


def cmd_incident_list(args: argparse.Namespace) -> int:
    try:
        incidents = [e for e in read(args.dir) if e["jenis"] == "insiden"]
    except SopError as exc:
        return err("insiden daftar", exc)
    if args.format == "json":
        print(json.dumps(incidents, ensure_ascii=False, indent=1))
        return EXIT_OK
    if not incidents:
        print("belum ada insiden / no incident recorded")
    for entry in incidents:
        systems = ", ".join(entry.get("sistem") or []) or "-"
        print(
            f"{entry['id']}  {entry['tanggal']}  {entry['tingkat']:6}  {entry['judul']}  "
            f"[{systems}]  oleh {entry['oleh']}"
        )
    return EXIT_OK


def cmd_review(args: argparse.Namespace) -> int:
    try:
        entry = record_review(
            args.dir, by=args.oleh, notes=args.catatan or "", day=args.tanggal, now=now(args)
        )
    except (SopError, OSError) as exc:
        return err("sop tinjau", exc)
    audit("sop", "tinjauan", "dicatat", id=entry["id"], insiden=entry["insiden_dicakup"])
    covered = ", ".join(entry["insiden_dicakup"]) or "-"
    due = add_months(dt.date.fromisoformat(entry["tanggal"]), args.interval_months)
    print(
        f"{entry['id']} dicatat / recorded ({entry['tanggal']}, oleh {entry['oleh']}); "
        f"insiden dicakup / incidents covered: {covered}; "
        f"tinjauan berikutnya / next review: {due}"
    )
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    try:
        current = status(read(args.dir), now(args), args.interval_months)
    except SopError as exc:
        return err("sop status", exc)
    if args.format == "json":
        print(json.dumps(current.as_dict(), ensure_ascii=False, indent=1))
    else:
        last = current.last_review
        shown = f"{last['id']} {last['tanggal']} oleh {last['oleh']}" if last else "-"
        print(f"tinjauan terakhir / last review: {shown}")
        print(f"jatuh tempo / due: {current.due_at or 'sekarang / now'}")
        for reason in current.reasons:
            print(f"PERLU DITINJAU / REVIEW DUE: {reason}")
        if not current.due:
            print("tidak ada tinjauan yang jatuh tempo / no review is due")
    return EXIT_DUE if current.due else EXIT_OK


def cmd_remind(args: argparse.Namespace) -> int:
    try:
        config = json.loads(args.konfigurasi.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        why = "not JSON: nested too deeply" if isinstance(exc, RecursionError) else exc
        return err("sop ingatkan", f"{args.konfigurasi}: {why}")
    settings = config.get("notify") if isinstance(config, dict) else None
    found = notify_problems(settings or {}, f"{args.konfigurasi}: notify")
    if not isinstance(settings, dict) or found:
        return err("sop ingatkan", "; ".join(found) or f"{args.konfigurasi}: notify: an object")
    host = str(config.get("host") or os.uname().nodename)

    def send(subject: str, body: str, summary: dict[str, Any]) -> list[dict[str, Any]]:
        return send_notifications(settings, subject, body, summary)

    try:
        outcome = remind(
            args.dir,
            send,
            now=now(args),
            interval_months=args.interval_months,
            every_days=args.every_days,
            host=host,
        )
    except (SopError, OSError) as exc:
        print(f"{PROG}sop ingatkan: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if outcome.get("error"):
        audit("sop", "pengingat", "gagal", galat=outcome["error"])
        print(f"{PROG}sop ingatkan: {outcome['error']}", file=sys.stderr)
        return EXIT_FAILED
    if outcome["sent"]:
        delivered = sum(1 for d in outcome["notifications"] if d.get("delivered"))
        audit("sop", "pengingat", "terkirim", alasan=outcome["status"]["reasons"])
        print(
            f"pengingat terkirim / reminder sent: {delivered} of "
            f"{len(outcome['notifications'])} channel(s)"
        )
        return EXIT_OK
    if outcome["status"]["due"]:
        print(
            "jatuh tempo; pengingat berikutnya pada / due; next reminder on "
            f"{outcome.get('next_reminder_on')}"
        )
    else:
        print("tidak ada tinjauan yang jatuh tempo / no review is due")
    return EXIT_OK


def now(args: argparse.Namespace) -> dt.datetime:
    """Now, in the office's time zone (a date typed by staff is a date there)."""
    try:
        return dt.datetime.now(ZoneInfo(str(args.zona_waktu)))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SopError(f"--zona-waktu: unknown time zone {args.zona_waktu!r}") from exc


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"a whole number of 1 or more, not {text!r}")
    return value


def add_commands(
    sub: Any,
    default_dir: Path | None = DEFAULT_DIR,
    default_config: Path | None = DEFAULT_CONFIG,
    default_zone: str | None = DEFAULT_ZONE,
) -> None:
    """The ``insiden`` and ``sop`` commands on ``sub`` (an argparse sub-parsers object). A
    default of None: the caller fills it in (the admin host's tool, from its configuration)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--dir",
        type=Path,
        default=default_dir,
        help=f"the journal's directory (default {default_dir or '<state_dir>/sop'})",
    )
    common.add_argument(
        "--zona-waktu",
        default=default_zone,
        help=f"the office's time zone, for dates (default {default_zone or 'the configuration'})",
    )
    interval = argparse.ArgumentParser(add_help=False)
    interval.add_argument(
        "--interval-months",
        type=positive,
        default=INTERVAL_MONTHS,
        help="months between reviews (default 6)",
    )

    incident = sub.add_parser("insiden", help="insiden / record and list incidents")
    isub = incident.add_subparsers(dest="insiden_command", required=True)
    record = isub.add_parser("catat", parents=[common], help="catat insiden / record an incident")
    record.add_argument("--judul", required=True, help="title / judul")
    record.add_argument(
        "--tingkat",
        required=True,
        choices=sorted(SEVERITIES),
        help="ringan (minor), sedang (moderate), berat (major: the SOP review becomes due)",
    )
    record.add_argument("--oleh", required=True, help="who records it / pencatat")
    record.add_argument("--uraian", help="what happened / uraian")
    record.add_argument("--sistem", action="append", help="a system affected (repeatable)")
    record.add_argument("--tanggal", help="the incident's day, YYYY-MM-DD (default today)")
    record.set_defaults(func=cmd_incident_record)
    listing = isub.add_parser("daftar", parents=[common], help="daftar insiden / list incidents")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    listing.set_defaults(func=cmd_incident_list)

    review = sub.add_parser("sop", help="tinjauan SOP / the SOP's six-monthly review")
    rsub = review.add_subparsers(dest="sop_command", required=True)
    done = rsub.add_parser(
        "tinjau",
        parents=[common, interval],
        help="catat tinjauan / record a review of the SOP and the checklist",
    )
    done.add_argument("--oleh", required=True, help="the reviewer / peninjau")
    done.add_argument("--catatan", help="notes: what changed / catatan")
    done.add_argument("--tanggal", help="the review's day, YYYY-MM-DD (default today)")
    done.set_defaults(func=cmd_review)
    state = rsub.add_parser(
        "status", parents=[common, interval], help="is a review due? (exit 1 when it is)"
    )
    state.add_argument("--format", choices=("text", "json"), default="text")
    state.set_defaults(func=cmd_status)
    remind = rsub.add_parser(
        "ingatkan",
        parents=[common, interval],
        help="notify when a review is due (the admin's daily job)",
    )
    remind.add_argument(
        "--konfigurasi",
        type=Path,
        default=default_config,
        help=f"a JSON file with notify settings (default {default_config or '--config'})",
    )
    remind.add_argument(
        "--every-days",
        type=positive,
        default=REMIND_EVERY_DAYS,
        help="at most one reminder per this many days while due (default 7)",
    )
    remind.set_defaults(func=cmd_remind)
