"""The agenda's manual fallback (*rencana cadangan manual*): a printable daily and weekly agenda per
leader, so the office can print tomorrow's agenda when the cloud or the network is down.

For each leader of ``people.yaml``: the occurrences of the items that leader attends (cancelled
ones left out, tentative ones marked), in the agenda's time zone, with place, category, the
person in charge, the workflow stage and the pre-event checklist (venue confirmed, transport,
guests). One HTML page per leader and period (A4, Bahasa Indonesia with English beside it),
printed to PDF by headless Chromium where it is installed.

Files: ``<out>/<leader>/harian-YYYY-MM-DD.html`` (today and tomorrow) and
``<out>/<leader>/mingguan-YYYY-Www.html`` (this week and next, Monday to Sunday), each with its
``.pdf``; written atomically, only when their content changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape

from bangka_ops.agenda.model import STAGE_NAMES, Config, Event
from bangka_ops.agenda.recurrence import occurrences
from bangka_ops.agenda.report import CHECKLIST
from bangka_ops.chromium import find as chromium
from bangka_ops.chromium import print_pdf
from bangka_ops.report import atomic

CHECK_NAMES = {
    "venue_confirmed": ("Tempat dikonfirmasi", "venue confirmed"),
    "transport": ("Transportasi", "transport"),
    "guests": ("Tamu/undangan", "guests"),
}
# Chromium processes printing at once (each takes about 150 MiB; bounded by the host's cores).
PRINT_WORKERS = 4
DAYS = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
DASH = "\u2013"  # an en dash, as between two times
MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
          "September", "Oktober", "November", "Desember")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Row:
    start: dt.datetime
    end: dt.datetime
    all_day: bool
    title: str
    place: str
    category: str
    colour: str
    person: str
    stage: str
    tentative: bool
    checklist: tuple[tuple[str, str, bool], ...]  # (id label, en label, done)

    @property
    def open_checks(self) -> int:
        return sum(1 for _, _, done in self.checklist if not done)


def tanggal(day: dt.date) -> str:
    """``Senin, 7 Desember 2026``."""
    return f"{DAYS[day.weekday()]}, {day.day} {MONTHS[day.month - 1]} {day.year}"


def rows(
    events: list[Event], config: Config, leader: str, first: dt.date, last: dt.date
) -> list[Row]:
    """The leader's occurrences from ``first`` to ``last`` (inclusive) in the agenda's zone."""
    zone = ZoneInfo(config.timezone)
    start = dt.datetime.combine(first, dt.time(), zone)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), zone)
    found = []
    for event in events:
        if event.cancelled or leader not in event.leaders:
            continue
        data = event.data or {}
        checklist = data.get("checklist") or {}
        category = config.categories.get(event.category) or {}
        person = config.people.get(event.person_in_charge) or {}
        for when in occurrences(event, start, end):
            found.append(Row(
                start=when.start.astimezone(zone), end=when.end.astimezone(zone),
                all_day=event.all_day, title=event.title,
                place=config.location(event.venue, event.room),
                category=str(category.get("name") or event.category),
                colour=str(category.get("colour") or "#607d8b"),
                person=str(person.get("name") or event.person_in_charge),
                stage=f"{event.status} / {STAGE_NAMES.get(event.status, event.status)}",
                tentative=event.tentative,
                checklist=tuple((CHECK_NAMES[c][0], CHECK_NAMES[c][1], bool(checklist.get(c)))
                                for c in CHECKLIST),
            ))  # fmt: skip
    found.sort(key=lambda r: (r.start, r.title))
    return found


def on_day(row: Row, day: dt.date) -> tuple[str, str] | None:
    """How ``row`` shows on ``day`` (its time, in Indonesian and in English), or None when it
    does not take place that day. An item over several days shows on each of them."""
    zone = row.start.tzinfo
    day_start = dt.datetime.combine(day, dt.time(), zone)
    day_end = day_start + dt.timedelta(days=1)
    if row.start >= day_end or (row.end <= day_start and not row.start == row.end == day_start):
        return None
    if row.all_day:
        first, last = row.start.date(), (row.end - dt.timedelta(days=1)).date()
        number, total = (day - first).days + 1, (last - first).days + 1
        if total <= 1:
            return "Sepanjang hari", "all day"
        return (f"Sepanjang hari (hari ke-{number} dari {total})",
                f"all day (day {number} of {total})")  # fmt: skip
    start, end = row.start.strftime("%H.%M"), row.end.strftime("%H.%M")
    shown = {  # (begins this day, ends this day)
        (True, True): (f"{start}{DASH}{end}", ""),
        (True, False): (f"{start} {DASH} s.d. {tanggal(row.end.date())} {end}",
                        f"until {row.end.date().isoformat()} {end}"),
        (False, True): (f"lanjutan, s.d. {end}", f"continued, until {end}"),
        (False, False): ("lanjutan, sepanjang hari", "continued, all day"),
    }  # fmt: skip
    return shown[row.start >= day_start, row.end <= day_end]


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("bangka_ops.agenda", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tanggal"] = tanggal
    return env


def page(
    config: Config, leader: str, kind: str, first: dt.date, last: dt.date, *,
    found: list[Row], made: dt.datetime,
) -> str:  # fmt: skip
    person = config.leaders[leader]
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    by_day = {
        day: [(row, when) for row in found if (when := on_day(row, day)) is not None]
        for day in days
    }
    return environment().get_template("cetak.html.j2").render(
        leader=person, kind=kind, first=first, last=last, days=days, by_day=by_day,
        made=made, zone=config.timezone,
    )  # fmt: skip


def periods(today: dt.date) -> list[tuple[str, str, dt.date, dt.date]]:
    """(kind, file stem, first, last): today, tomorrow, this week, next week."""
    monday = today - dt.timedelta(days=today.weekday())
    found = []
    for day in (today, today + dt.timedelta(days=1)):
        found.append(("harian", f"harian-{day.isoformat()}", day, day))
    for week in (monday, monday + dt.timedelta(days=7)):
        year, number, _ = week.isocalendar()
        found.append(("mingguan", f"mingguan-{year}-W{number:02d}", week,
                      week + dt.timedelta(days=6)))  # fmt: skip
    return found


def write_atomic(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` unless it already holds it; True when written."""
    if path.is_file() and not path.is_symlink() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.replacing(path, binary=True, mode=0o644) as handle:
        handle.write(data)
    return True


def write_all(
    events: list[Event], config: Config, out: Path, today: dt.date, *, pdf: bool = True,
    made: dt.datetime | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Every leader's pages for :func:`periods` under ``out``; one entry per page: its path,
    whether it changed, its PDF or why there is none."""
    made = made or dt.datetime.now(ZoneInfo(config.timezone))
    browser = chromium() if pdf else None
    results: list[dict[str, Any]] = []
    to_print: list[tuple[dict[str, Any], Path, Path]] = []
    for leader in sorted(config.leaders):
        for kind, stem, first, last in periods(today):
            found = rows(events, config, leader, first, last)
            # The page's time stamp is not part of what "changed" means: same items, same page.
            body = page(config, leader, kind, first, last, found=found, made=made).encode("utf-8")
            html = out / leader / f"{stem}.html"
            fixed = dt.datetime(2000, 1, 1, tzinfo=made.tzinfo)
            digest = hashlib.sha256(
                page(config, leader, kind, first, last, found=found, made=fixed).encode()
            ).hexdigest()
            stamp = html.with_suffix(".sha256")
            changed = not (stamp.is_file() and stamp.read_text().strip() == digest)
            entry: dict[str, Any] = {"leader": leader, "kind": kind, "html": str(html),
                                     "items": len(found), "changed": changed}  # fmt: skip
            pdf_path = html.with_suffix(".pdf")
            if changed:
                write_atomic(html, body)
                # An outdated PDF is worse than none: it goes before the new one is printed,
                # so a print that fails leaves no PDF (and the next run prints it).
                if pdf_path.is_file() or pdf_path.is_symlink():
                    pdf_path.unlink()
                write_atomic(stamp, digest.encode() + b"\n")
            if pdf:
                if browser is None:
                    entry["pdf_error"] = "no Chromium on this host (Debian package chromium)"
                elif changed or not pdf_path.is_file():
                    to_print.append((entry, html, pdf_path))
                else:
                    entry["pdf"] = str(pdf_path)
            results.append(entry)
    if browser is not None and to_print:
        print_each(browser, to_print)
    return results


def print_each(browser: str, pages: list[tuple[dict[str, Any], Path, Path]]) -> None:
    """Print ``pages`` a few at a time (one Chromium start costs about 1.5 s; a dozen pages in a
    row took 20 s), noting each page's PDF or why there is none in its entry."""

    def one(job: tuple[dict[str, Any], Path, Path]) -> None:
        entry, html, pdf_path = job
        problem = print_pdf(browser, html, pdf_path)
        entry["pdf_error" if problem else "pdf"] = problem or str(pdf_path)

    workers = max(1, min(PRINT_WORKERS, os.cpu_count() or 1, len(pages)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, pages))
