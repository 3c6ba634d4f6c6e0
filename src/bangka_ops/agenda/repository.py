"""Reading an agenda repository: the configuration files and every event file, checked.

Layout (documented with the example in ``examples/agenda/``)::

    calendars.yaml venues.yaml categories.yaml people.yaml rules.yaml
    events/<YYYY>/<MM>/<YYYY-MM-DD>-<slug>.yaml      one event per file

:func:`load` returns an :class:`Agenda` with every diagnostic of every file in one pass: schema
errors, then the semantic checks (times, references, naming and location rules, workflow, an id
used twice). An event with errors is kept out of ``events`` (conflicts and feeds never see it).
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bangka_ops.agenda import schema, yamlload
from bangka_ops.agenda.model import (
    DEFAULT_ROLES,
    STAGE_NAMES,
    TRANSITIONS,
    Config,
    Event,
    HistoryEntry,
)
from bangka_ops.agenda.recurrence import rule_of as recurrence_rule
from bangka_ops.agenda.yamlload import Diagnostic, Document

EVENTS_DIR = "events"
EVENT_NAME = re.compile(r"^events/(\d{4})/(\d{2})/(\d{4}-\d{2}-\d{2})-[a-z0-9-]+\.ya?ml$")

Reader = Callable[[str], bytes | None]  # relative path -> bytes (None: no such file)


@dataclass
class Agenda:
    root: str
    config: Config | None
    events: list[Event] = field(default_factory=list)
    documents: dict[str, Document] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    def by_id(self) -> dict[str, Event]:
        return {event.id: event for event in self.events}


def zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


# ---- configuration --------------------------------------------------------------------------


def load_config(read: Reader) -> tuple[Config | None, list[Diagnostic], dict[str, Document]]:
    docs: dict[str, Document] = {}
    problems: list[Diagnostic] = []
    data: dict[str, Any] = {}
    for part in schema.CONFIG_FILES:
        name = f"{part}.yaml"
        text = read(name)
        if text is None:
            if part == "rules":
                data[part] = {}
                continue
            problems.append(Diagnostic(name, None, None, "missing", code="config"))
            continue
        doc = yamlload.parse(text, name)
        docs[part] = doc
        problems += doc.problems
        if doc.problems:
            continue
        found = schema.check(doc, schema.CONFIG, part)
        problems += found
        if not found:
            data[part] = doc.data
    if problems:
        return None, problems, docs
    config = build_config(data, docs)
    problems += check_config(config, docs)
    return (None if any(p.severity == "error" for p in problems) else config), problems, docs


def build_config(data: dict[str, Any], docs: dict[str, Document]) -> Config:
    rules = data.get("rules") or {}
    travel = data["venues"].get("travel") or {}
    title = rules.get("title") or {}
    location = rules.get("location") or {}
    workflow = rules.get("workflow") or {}
    window = rules.get("recurrence_window") or {}
    return Config(
        calendars=data["calendars"]["calendars"],
        venues=data["venues"]["venues"],
        travel_default=int(travel.get("default_minutes", 30)),
        travel_buffer=int(travel.get("buffer_minutes", 15)),
        travel={
            frozenset(item["between"]): int(item["minutes"]) for item in travel.get("times", [])
        },
        categories=data["categories"]["categories"],
        leaders=data["people"]["leaders"],
        people=data["people"]["people"],
        timezone=rules.get("timezone", "Asia/Jakarta"),
        title_pattern=title.get("pattern"),
        title_max=title.get("max_length"),
        title_explain=title.get("explain"),
        location_pattern=location.get("pattern"),
        location_explain=location.get("explain"),
        roles={**DEFAULT_ROLES, **workflow.get("roles", {})},
        sla_hours=dict(workflow.get("sla_hours", {})),
        checklist_hours=float(rules.get("checklist_hours_before", 48)),
        window_past_days=int(window.get("past_days", 30)),
        window_future_days=int(window.get("future_days", 365)),
        docs=docs,
    )


def check_config(config: Config, docs: dict[str, Document]) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    calendars, venues, rules = docs["calendars"], docs["venues"], docs.get("rules")
    for key, calendar in config.calendars.items():
        leader = calendar.get("leader")
        if leader is not None and leader not in config.leaders:
            problems.append(
                calendars.error(
                    f"calendars.{key}.leader",
                    f"unknown leader {leader!r} (people.yaml)",
                    "reference",
                )
            )
    for index, item in enumerate((venues.data.get("travel") or {}).get("times", [])):
        for end in item["between"]:
            if end not in config.venues:
                problems.append(
                    venues.error(
                        f"travel.times[{index}].between", f"unknown venue {end!r}", "reference"
                    )
                )
    if zone(config.timezone) is None and rules is not None:
        problems.append(
            rules.error("timezone", f"unknown time zone {config.timezone!r}", "timezone")
        )
    for field_name, pattern in (
        ("title.pattern", config.title_pattern),
        ("location.pattern", config.location_pattern),
    ):
        if pattern is not None and rules is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append(rules.error(field_name, f"not a regular expression: {exc}"))
    if config.location_pattern and not problems:
        matcher = re.compile(config.location_pattern)
        for key in config.venues:
            place = config.location(key, None)
            if not matcher.search(place):
                problems.append(
                    venues.error(
                        f"venues.{key}.address",
                        f"location {place!r} does not follow the location format"
                        + (f" ({config.location_explain})" if config.location_explain else ""),
                        "location",
                    )
                )
    return problems


# ---- events ---------------------------------------------------------------------------------


def local_time(value: str, tz: ZoneInfo) -> dt.datetime:
    """A local date-time (or a date: its midnight) in ``tz``."""
    if "T" in value:
        return dt.datetime.fromisoformat(value).replace(tzinfo=tz)
    return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), tzinfo=tz)


def read_event(doc: Document, config: Config) -> tuple[Event | None, list[Diagnostic]]:
    """The event of a schema-valid document, and every semantic problem of it."""
    data: dict[str, Any] = doc.data
    problems: list[Diagnostic] = []
    tz_name = data.get("timezone", config.timezone)
    tz = zone(tz_name)
    if tz is None:
        problems.append(doc.error("timezone", f"unknown time zone {tz_name!r}", "timezone"))
        tz = ZoneInfo("UTC")
    all_day = bool(data.get("all_day", False))
    span = times(doc, tz, all_day, problems)
    problems += references(doc, config)
    problems += naming(doc, config)
    exdates = recurrence(doc, tz, all_day, span[0] if span else None, problems)
    history, found = read_history(doc, config)
    problems += found
    problems += file_name(doc)
    if span is None or any(p.severity == "error" for p in problems):
        return None, problems
    start, end = span
    recurring = data.get("recurrence")
    return (
        Event(
            file=doc.file,
            doc=doc,
            id=data["id"],
            title=data["title"],
            start=start,
            end=end,
            all_day=all_day,
            tz=tz,
            busy=bool(data.get("busy", not all_day)),
            venue=data["venue"],
            room=data.get("room"),
            leaders=tuple(data.get("leaders", ())),
            calendars=tuple(data.get("calendars", ())),
            category=data["category"],
            person_in_charge=data["person_in_charge"],
            status=data["status"],
            rrule=recurring["rrule"] if recurring else None,
            exdates=tuple(exdates),
            history=history,
            data=data,
        ),
        problems,
    )


def times(
    doc: Document, tz: ZoneInfo, all_day: bool, problems: list[Diagnostic]
) -> tuple[dt.datetime, dt.datetime] | None:
    """Start and (exclusive) end; an all-day event's end is its last day, inclusive."""
    start_text, end_text = doc.data["start"], doc.data.get("end")
    where = "start"
    try:
        if all_day:
            if "T" in start_text or (end_text is not None and "T" in end_text):
                raise ValueError("an all-day event has dates (YYYY-MM-DD), not times")
            start = local_time(start_text, tz)
            where = "end"
            last = local_time(end_text, tz) if end_text else start
            end = (last + dt.timedelta(days=1)).replace(tzinfo=tz)
        else:
            if "T" not in start_text:
                raise ValueError("a timed event starts at a date and time (or set all_day: true)")
            if end_text is None:
                raise ValueError("a timed event needs an end")
            start = local_time(start_text, tz)
            where = "end"
            if "T" not in end_text:
                raise ValueError("the end needs a time as well")
            end = local_time(end_text, tz)
    except ValueError as exc:
        message = str(exc)
        if "range" in message or "must be in" in message or "day is" in message:
            message = f"not a real date or time: {message}"
        problems.append(doc.error(where, message, "time"))
        return None
    if end <= start:
        problems.append(doc.error("end", f"ends ({end_text}) before it starts", "time"))
        return None
    return start, end


def references(doc: Document, config: Config) -> list[Diagnostic]:
    """Every key the event names exists in the configuration; documents are web links."""
    data = doc.data
    problems = []
    if data["venue"] not in config.venues:
        problems.append(
            doc.error("venue", f"unknown venue {data['venue']!r} (venues.yaml)", "reference")
        )
    lists = (
        ("leaders", config.leaders, "leader", "people.yaml"),
        ("calendars", config.calendars, "calendar", "calendars.yaml"),
    )
    for name, known, what, source in lists:
        for index, key in enumerate(data.get(name, ())):
            if key not in known:
                problems.append(
                    doc.error(f"{name}[{index}]", f"unknown {what} {key!r} ({source})", "reference")
                )
    if not data.get("leaders") and not data.get("calendars"):
        problems.append(
            doc.error(
                "leaders", "no leader and no calendar: the event would appear nowhere", "reference"
            )
        )
    singles = (
        ("category", config.categories, "category", "categories.yaml"),
        ("person_in_charge", config.people, "person", "people.yaml"),
    )
    for name, known, what, source in singles:
        if data[name] not in known:
            problems.append(
                doc.error(name, f"unknown {what} {data[name]!r} ({source})", "reference")
            )
    for index, document in enumerate(data.get("documents", ())):
        url = urllib.parse.urlsplit(document["url"])
        if url.scheme not in ("http", "https") or not url.netloc or " " in document["url"]:
            problems.append(
                doc.error(
                    f"documents[{index}].url",
                    f"{document['url']!r} is not a web address (http:// or https://)",
                    "url",
                )
            )
    return problems


def naming(doc: Document, config: Config) -> list[Diagnostic]:
    """The naming convention of titles and the location format (rules.yaml)."""
    data = doc.data
    problems = []
    title = data["title"]
    if config.title_max and len(title) > config.title_max:
        problems.append(
            doc.error("title", f"longer than {config.title_max} characters ({len(title)})", "title")
        )
    if config.title_pattern and not re.search(config.title_pattern, title):
        explain = f": {config.title_explain}" if config.title_explain else ""
        problems.append(
            doc.error("title", f"{title!r} does not follow the naming convention{explain}", "title")
        )
    if data.get("room") and config.location_pattern and data["venue"] in config.venues:
        place = config.location(data["venue"], data["room"])
        if not re.search(config.location_pattern, place):
            explain = f" ({config.location_explain})" if config.location_explain else ""
            problems.append(
                doc.error(
                    "room",
                    f"location {place!r} does not follow the location format{explain}",
                    "location",
                )
            )
    return problems


def recurrence(
    doc: Document,
    tz: ZoneInfo,
    all_day: bool,
    start: dt.datetime | None,
    problems: list[Diagnostic],
) -> list[dt.datetime]:
    """The RRULE parses (anchored at the start); EXDATEs are of the event's kind."""
    rule = doc.data.get("recurrence")
    if rule is None or start is None:
        return []
    try:
        recurrence_rule(rule["rrule"], start)
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        problems.append(doc.error("recurrence.rrule", f"not a valid RRULE: {exc}", "recurrence"))
    exdates = []
    for index, text in enumerate(rule.get("exdates", ())):
        try:
            if ("T" in text) == all_day:
                raise ValueError(
                    "a date (YYYY-MM-DD) for an all-day event"
                    if all_day
                    else "a date and time (the occurrence's start)"
                )
            exdates.append(local_time(text, tz))
        except ValueError as exc:
            problems.append(doc.error(f"recurrence.exdates[{index}]", str(exc), "recurrence"))
    return exdates


def file_name(doc: Document) -> list[Diagnostic]:
    """events/<YYYY>/<MM>/<YYYY-MM-DD>-<slug>.yaml, dated with the start (a warning)."""
    match = EVENT_NAME.match(doc.file)
    if match is None:
        return [
            doc.warning(
                None,
                "file name does not follow events/<YYYY>/<MM>/<YYYY-MM-DD>-<slug>.yaml",
                "file-name",
            )
        ]
    day = match.group(3)
    if not doc.data["start"].startswith(day) or day[:7] != f"{match.group(1)}-{match.group(2)}":
        return [
            doc.warning("start", f"the file's date ({day}) is not the start's date", "file-name")
        ]
    return []


def read_history(
    doc: Document, config: Config, people: dict[str, dict[str, Any]] | None = None
) -> tuple[tuple[HistoryEntry, ...], list[Diagnostic]]:
    """The workflow history: legal order, times ascending, each person known and holding the
    role the stage requires (in ``people``: the current file, or the base version's)."""
    problems: list[Diagnostic] = []
    entries: list[HistoryEntry] = []
    previous: str | None = None
    previous_at: dt.datetime | None = None
    for index, item in enumerate(doc.data["history"]):
        where = f"history[{index}]"
        status, by = item["status"], item["by"]
        try:
            at = dt.datetime.fromisoformat(item["at"].replace("Z", "+00:00"))
        except ValueError as exc:
            problems.append(doc.error(f"{where}.at", f"not a real time: {exc}", "time"))
            continue
        if status not in TRANSITIONS[previous]:
            allowed = " or ".join(sorted(TRANSITIONS[previous]))
            problems.append(
                doc.error(
                    f"{where}.status",
                    f"{previous or 'a new item'} ({STAGE_NAMES.get(previous or '', 'new')}) cannot "
                    f"go to {status} ({STAGE_NAMES[status]}); next may be {allowed}",
                    "workflow",
                )
            )
        if previous_at is not None and at < previous_at:
            problems.append(
                doc.error(f"{where}.at", "earlier than the entry before it", "workflow")
            )
        problems += role_problems(
            doc, config, where, status=status, by=by, people=people or config.people
        )
        entries.append(HistoryEntry(status, by, at, item.get("note"), index))
        previous, previous_at = status, at
    if entries and doc.data["status"] != entries[-1].status:
        problems.append(
            doc.error(
                "status",
                f"{doc.data['status']!r} is not the last stage in history ({entries[-1].status!r})",
                "workflow",
            )
        )
    return tuple(entries), problems


def role_problems(
    doc: Document,
    config: Config,
    where: str,
    *,
    status: str,
    by: str,
    people: dict[str, dict[str, Any]],
    source: str = "people.yaml",
) -> list[Diagnostic]:
    person = people.get(by)
    if person is None:
        return [doc.error(f"{where}.by", f"unknown person {by!r} ({source})", "role")]
    needed = config.roles.get(status, [])
    if needed and not set(person.get("roles", ())) & set(needed):
        return [
            doc.error(
                f"{where}.by",
                f"{by} may not record {status}: it needs the role {' or '.join(needed)} ({source})",
                "role",
            )
        ]
    return []


def check_ids(events: Iterable[tuple[str, Document]]) -> list[Diagnostic]:
    """An id used by two files: an error on each, naming the other."""
    seen: dict[str, list[Document]] = {}
    for event_id, doc in events:
        seen.setdefault(event_id, []).append(doc)
    problems = []
    for event_id, docs in seen.items():
        if len(docs) > 1:
            for doc in docs:
                others = ", ".join(d.file for d in docs if d is not doc)
                problems.append(
                    doc.error("id", f"id {event_id!r} is also used by {others}", "duplicate-id")
                )
    return problems


# ---- the whole repository ----------------------------------------------------------------


def event_files(root: Path) -> list[str]:
    base = root / EVENTS_DIR
    if not base.is_dir():
        return []
    return sorted(
        p.relative_to(root).as_posix()
        for p in base.rglob("*")
        if p.suffix in (".yaml", ".yml") and p.is_file() and not p.name.startswith(".")
    )


def file_reader(root: Path) -> Reader:
    def read(name: str) -> bytes | None:
        try:
            return (root / name).read_bytes()
        except FileNotFoundError:
            return None

    return read


def load(
    root: Path,
    *,
    parse: Callable[[bytes, str], Document] = yamlload.parse,
    files: list[str] | None = None,
    read: Reader | None = None,
) -> Agenda:
    """Read and check the agenda at ``root`` (``read``/``files``: another source, e.g. a git
    revision; ``parse``: e.g. a cached parser)."""
    read = read or file_reader(root)
    config, problems, _ = load_config(read)
    agenda = Agenda(str(root), config, diagnostics=problems)
    ids: list[tuple[str, Document]] = []
    for name in files if files is not None else event_files(root):
        text = read(name)
        if text is None:
            continue
        doc = parse(text, name)
        agenda.documents[name] = doc
        if doc.problems:
            agenda.diagnostics += doc.problems
            continue
        found = schema.check(doc)
        if found:
            agenda.diagnostics += found
            continue
        ids.append((doc.data["id"], doc))
        if config is None:
            continue
        event, found = read_event(doc, config)
        agenda.diagnostics += found
        if event is not None:
            agenda.events.append(event)
    duplicates = check_ids(ids)
    if duplicates:
        agenda.diagnostics += duplicates
        bad = {d.file for d in duplicates}
        agenda.events = [e for e in agenda.events if e.file not in bad]
    agenda.diagnostics.sort(key=lambda d: (d.file, d.line or 0, d.field or ""))
    return agenda
