"""Reading an agenda repository: the configuration files and every event file, checked.

Layout (documented with the example in ``examples/agenda/``)::

    calendars.yaml venues.yaml categories.yaml people.yaml rules.yaml
    events/<YYYY>/<MM>/<YYYY-MM-DD>-<slug>.yaml      one event per file

:func:`load` returns an :class:`Agenda` with every diagnostic of every file in one pass: schema
errors, then the semantic checks (times, references, naming and location rules, workflow, an id
used twice). An event with errors is kept out of ``events`` (conflicts and feeds never see it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import os
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bangka_ops.agenda import gitrepo, schema, yamlload
from bangka_ops.agenda import recurrence as recur
from bangka_ops.agenda.cache import (
    Cache,
    Entry,
    fingerprint,
    sync_facts,
    unpack_diagnostics,
    unpack_event,
)
from bangka_ops.agenda.model import (
    DEFAULT_ROLES,
    STAGE_NAMES,
    TRANSITIONS,
    Config,
    Event,
    HistoryEntry,
)
from bangka_ops.agenda.recurrence import Rule
from bangka_ops.agenda.yamlload import Diagnostic, Document, excerpt

EVENTS_DIR = "events"
# An agenda's items fall in these years (a typo of 0205 or 9025 is caught, and counting a
# recurrence from its start stays cheap).
FIRST_YEAR, LAST_YEAR = 1900, 2199
EVENT_NAME = re.compile(r"^events/(\d{4})/(\d{2})/(\d{4}-\d{2}-\d{2})-[a-z0-9-]+\.ya?ml$")

Reader = Callable[[str], bytes | None]  # relative path -> bytes (None: no such file)


@dataclass
class Agenda:
    root: str
    config: Config | None
    events: list[Event] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: int = 0  # event files read
    cached: int = 0  # of which the result came from the cache
    # loaded with sync_data: event file -> (its cache key, the sync's memo, sync_facts()), and
    # the cache the memos are kept in
    sync_facts: dict[str, tuple[str | None, bytes | None, bytes | None]] = field(
        default_factory=dict
    )
    cache: Cache | None = None

    def remember(self, memos: dict[str, bytes]) -> None:
        """Keep the sync's memos (event file -> memo) in the validation cache, if there is one."""
        if self.cache is None or not memos:
            return
        for name, memo in memos.items():
            key = self.sync_facts.get(name, (None, None, None))[0]
            if key is not None:
                self.cache.remember(key, memo)
        with contextlib.suppress(OSError):  # not writable: it only costs time next run
            self.cache.save()

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


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
        try:
            text = read(name)
        except yamlload.Refused as exc:
            problems.append(refused(name, exc))
            continue
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
        publish_hours=float(rules.get("publish_hours_before", 24)),
        window_past_days=int(window.get("past_days", 30)),
        window_future_days=int(window.get("future_days", 365)),
        docs=docs,
    )


def shared_google_calendars(config: Config, calendars: Document) -> list[Diagnostic]:
    """Two calendars with one Google calendar would undo each other's events there."""
    problems: list[Diagnostic] = []
    google: dict[str, str] = {}
    for key, calendar in config.calendars.items():
        calendar_id = str(calendar.get("google_calendar_id") or "").lower()
        if calendar_id in google:
            problems.append(
                calendars.error(
                    f"calendars.{key}.google_calendar_id",
                    f"{calendar.get('google_calendar_id')} is already the Google calendar of "
                    f"calendars.{google[calendar_id]}: two calendars here would undo each "
                    "other's events there",
                    "reference",
                )
            )
        elif calendar_id:
            google[calendar_id] = key
    return problems


def check_config(config: Config, docs: dict[str, Document]) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    calendars, venues, rules = docs["calendars"], docs["venues"], docs.get("rules")
    for key, calendar in config.calendars.items():
        leader = calendar.get("leader")
        if leader is not None and leader not in config.leaders:
            problems.append(
                calendars.error(
                    f"calendars.{key}.leader",
                    f"unknown leader {excerpt(leader)} (people.yaml)",
                    "reference",
                )
            )
    problems += shared_google_calendars(config, calendars)
    for index, item in enumerate((venues.data.get("travel") or {}).get("times", [])):
        for end in item["between"]:
            if end not in config.venues:
                problems.append(
                    venues.error(
                        f"travel.times[{index}].between",
                        f"unknown venue {excerpt(end)}",
                        "reference",
                    )
                )
    if zone(config.timezone) is None and rules is not None:
        problems.append(
            rules.error("timezone", f"unknown time zone {excerpt(config.timezone)}", "timezone")
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
                        f"location {excerpt(place)} does not follow the location format"
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
        problems.append(doc.error("timezone", f"unknown time zone {excerpt(tz_name)}", "timezone"))
        tz = ZoneInfo("UTC")
    all_day = bool(data.get("all_day", False))
    span = times(doc, tz, all_day, problems)
    problems += references(doc, config)
    problems += naming(doc, config)
    rule, exdates = recurrence(doc, tz, all_day, span[0] if span else None, problems)
    history, found = read_history(doc, config)
    problems += found
    problems += file_name(doc)
    if span is None or any(p.severity == "error" for p in problems):
        return None, problems
    start, end = span
    return (
        Event(
            file=doc.file,
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
            # The canonical rule (UNTIL in UTC): what the feeds, Google and the checks all use.
            rrule=rule.text() if rule is not None else None,
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
    if end < start:
        problems.append(doc.error("end", f"ends ({end_text}) before it starts", "time"))
        return None
    if end == start:
        problems.append(
            doc.error("end", f"ends ({end_text}) when it starts: give it a length", "time")
        )
        return None
    for where, when in (("start", start), ("end", end)):
        wrong = real_time(when, all_day)
        if wrong:
            problems.append(doc.error(where, wrong, "time"))
            return None
    return start, end


def real_time(when: dt.datetime, all_day: bool) -> str | None:
    """Why an item's start or end cannot be used: a time in a daylight-saving gap, a year out
    of range; None if it can."""
    if not all_day and not exists(when):
        zone_name = getattr(when.tzinfo, "key", str(when.tzinfo))
        return (
            f"{when:%Y-%m-%d %H:%M} does not exist in {zone_name}: the clocks jump forward "
            "over it that day"
        )
    if not FIRST_YEAR <= when.year <= LAST_YEAR:
        return f"the year {when.year} is not {FIRST_YEAR} to {LAST_YEAR}"
    return None


def exists(local: dt.datetime) -> bool:
    """Whether an aware local time is a real moment (not in a daylight-saving gap)."""
    back = local.astimezone(dt.UTC).astimezone(local.tzinfo)
    return back.replace(tzinfo=None) == local.replace(tzinfo=None)


def references(doc: Document, config: Config) -> list[Diagnostic]:
    """Every key the event names exists in the configuration; documents are web links."""
    data = doc.data
    problems = []
    if data["venue"] not in config.venues:
        problems.append(
            doc.error("venue", f"unknown venue {excerpt(data['venue'])} (venues.yaml)", "reference")
        )
    lists = (
        ("leaders", config.leaders, "leader", "people.yaml"),
        ("calendars", config.calendars, "calendar", "calendars.yaml"),
    )
    for name, known, what, source in lists:
        for index, key in enumerate(data.get(name, ())):
            if key not in known:
                problems.append(
                    doc.error(
                        f"{name}[{index}]", f"unknown {what} {excerpt(key)} ({source})", "reference"
                    )
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
                doc.error(name, f"unknown {what} {excerpt(data[name])} ({source})", "reference")
            )
    for index, document in enumerate(data.get("documents", ())):
        url = urllib.parse.urlsplit(document["url"])
        if url.scheme not in ("http", "https") or not url.netloc or " " in document["url"]:
            problems.append(
                doc.error(
                    f"documents[{index}].url",
                    f"{excerpt(document['url'])} is not a web address (http:// or https://)",
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
            doc.error(
                "title", f"{excerpt(title)} does not follow the naming convention{explain}", "title"
            )
        )
    if data.get("room") and config.location_pattern and data["venue"] in config.venues:
        place = config.location(data["venue"], data["room"])
        if not re.search(config.location_pattern, place):
            explain = f" ({config.location_explain})" if config.location_explain else ""
            problems.append(
                doc.error(
                    "room",
                    f"location {excerpt(place)} does not follow the location format{explain}",
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
) -> tuple[Rule | None, list[dt.datetime]]:
    """The RRULE (anchored at the start, which must be one of its occurrences) and the EXDATEs,
    each of the event's kind and each one of the rule's occurrences."""
    data = doc.data.get("recurrence")
    if data is None or start is None:
        return None, []
    rule: Rule | None = None
    try:
        rule = recur.parse(data["rrule"], start, all_day)
    except recur.RuleError as exc:
        problems.append(doc.error("recurrence.rrule", f"not a valid RRULE: {exc}", "recurrence"))
    if rule is not None and not recur.occurs(rule, start, start):
        # RFC 5545 leaves such a series undefined: calendar programs expand it differently.
        problems.append(
            doc.error(
                "recurrence.rrule",
                f"the start ({doc.data['start']}) is not one of the rule's occurrences: start "
                "the item on its first occurrence",
                "recurrence",
            )
        )
        rule = None
    exdates = []
    for index, text in enumerate(data.get("exdates", ())):
        where = f"recurrence.exdates[{index}]"
        try:
            if ("T" in text) == all_day:
                raise ValueError(
                    "a date (YYYY-MM-DD) for an all-day event"
                    if all_day
                    else "a date and time (the occurrence's start)"
                )
            skipped = local_time(text, tz)
        except ValueError as exc:
            problems.append(doc.error(where, str(exc), "recurrence"))
            continue
        exdates.append(skipped)
        if rule is not None and not recur.occurs(rule, start, skipped):
            problems.append(
                doc.warning(
                    where, f"{text} is not an occurrence of the rule: nothing is left out", "exdate"
                )
            )
    return rule, exdates


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
                f"{excerpt(doc.data['status'])} is not the last stage in history "
                f"({excerpt(entries[-1].status)})",
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
        return [doc.error(f"{where}.by", f"unknown person {excerpt(by)} ({source})", "role")]
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


def check_ids(root: Path, read: Reader, ids: list[tuple[str, str]]) -> list[Diagnostic]:
    """An id used by two files: an error on each (on the id's line), naming the other."""
    first: dict[str, str] = {}
    seen: dict[str, list[str]] = {}  # only the ids used more than once
    for event_id, name in ids:
        other = first.setdefault(event_id, name)
        if other != name:
            seen.setdefault(event_id, [other]).append(name)
    problems = []
    for event_id, names in seen.items():
        for name in names:
            others = ", ".join(other for other in names if other != name)
            try:
                text = read(name) or b""
            except yamlload.Refused:
                text = b""
            problems.append(
                yamlload.parse(text, name).error(
                    "id", f"id {excerpt(event_id)} is also used by {others}", "duplicate-id"
                )
            )
    return problems


# ---- the whole repository ----------------------------------------------------------------


def event_files(root: Path) -> list[str]:
    """``events/**/*.yaml`` (and ``.yml``) relative to ``root``, sorted; hidden ones skipped;
    symbolic links to directories listed too, so that they are reported."""
    found = []
    base = root / EVENTS_DIR
    if base.is_symlink():  # listed (and refused when read), never walked
        return [EVENTS_DIR]
    for folder, dirs, names in os.walk(base):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        relative = os.path.relpath(folder, root).replace(os.sep, "/")
        # A symbolic link to a directory is listed (and refused when read), never walked.
        found += [f"{relative}/{d}" for d in dirs if os.path.islink(os.path.join(folder, d))]
        found += [
            f"{relative}/{name}"
            for name in names
            if name.endswith((".yaml", ".yml")) and not name.startswith(".")
        ]
    return sorted(found)


def file_reader(root: Path) -> Reader:
    """A reader of the working tree: regular files only, no symbolic link followed, at most
    the size limit read (:func:`yamlload.read_regular`; it raises ``Refused``)."""

    def read(name: str) -> bytes | None:
        return yamlload.read_regular(root, name)

    return read


def cache_key(blob: str, name: str) -> str:
    return f"{blob}:{name}"


def refused(name: str, exc: yamlload.Refused) -> Diagnostic:
    return Diagnostic(name, None, None, f"not read: {exc}", code="file")


def check_file(text: bytes, name: str, config: Config | None, keep_data: bool) -> Entry:
    """Everything validating one event file gives: its id, diagnostics and event."""
    doc = yamlload.parse(text, name)
    if doc.problems:
        return Entry(None, tuple(yamlload.cap(doc.problems)), None)
    found = schema.check(doc)
    if found:
        return Entry(None, tuple(yamlload.cap(found)), None)
    if config is None:
        return Entry(doc.data["id"], (), None)
    event, found = read_event(doc, config)
    facts = None
    if event is not None:
        facts = sync_facts(event)
        if not keep_data:
            event.data = None  # only the feeds need the raw data; they ask for it
            event.history = ()
    return Entry(doc.data["id"], tuple(yamlload.cap(found)), event, facts)


def load(
    root: Path,
    *,
    keep_data: bool = False,
    cache_file: Path | None = None,
    events: bool = True,
    files: list[str] | None = None,
    read: Reader | None = None,
    sync_data: bool = False,
) -> Agenda:
    """Read and check the agenda at ``root``. ``keep_data``: events keep their raw data and
    history (for the feeds; never cached). ``sync_data``: events get the history and the few
    raw fields the Google Calendar sync needs (cached). ``cache_file``: reuse the results of
    files whose content is unchanged (:mod:`cache`). ``events``: False when only the
    diagnostics matter. ``read``/``files``: another source (a git revision)."""
    reading = Reading(root, read, keep_data=keep_data, events=events, sync_data=sync_data)
    # A large agenda is a hundred thousand long-lived objects made in one go, with no reference
    # cycles: the cyclic collector would scan them again and again. Paused while loading.
    enabled = gc.isenabled()
    gc.disable()
    try:
        agenda = reading.run(files, cache_file)
    finally:
        if enabled:
            gc.enable()
    agenda.diagnostics.sort(key=lambda d: (d.file, d.line or 0, d.field or ""))
    return agenda


class Reading:
    """One pass over an agenda: configuration, then every event file (from the cache where
    the file is unchanged), then the ids across files."""

    def __init__(
        self,
        root: Path,
        read: Reader | None,
        *,
        keep_data: bool,
        events: bool,
        sync_data: bool = False,
    ):
        self.root = root
        self.sync_data = sync_data and not keep_data
        self.from_disk = read is None
        self.read = read or file_reader(root)
        self.keep_data = keep_data
        self.events = events
        self.config_bytes: dict[str, bytes | None] = {}
        self.cache: Cache | None = None
        self.blobs: dict[str, str] = {}

    def read_config(self, name: str) -> bytes | None:
        self.config_bytes[name] = self.read(name)
        return self.config_bytes[name]

    def run(self, files: list[str] | None, cache_file: Path | None) -> Agenda:
        config, problems, _ = load_config(self.read_config)
        agenda = Agenda(str(self.root), config, diagnostics=list(problems))
        if cache_file is not None and config is not None and self.from_disk and not self.keep_data:
            self.cache = Cache(cache_file, fingerprint(self.config_bytes))
            if gitrepo.is_repo(self.root):
                self.blobs = gitrepo.blob_ids(self.root, EVENTS_DIR)
        ids: list[tuple[str, str]] = []
        for name in files if files is not None else event_files(self.root):
            result = self.one(name, config, agenda)
            if result is None:
                continue
            event_id, diagnostics, event = result
            agenda.files += 1
            agenda.diagnostics += diagnostics
            if event_id is not None:
                ids.append((event_id, name))
            if event is not None and self.events:
                agenda.events.append(event)
        duplicates = check_ids(self.root, self.read, ids)
        if duplicates:
            agenda.diagnostics += duplicates
            bad = {d.file for d in duplicates}
            agenda.events = [e for e in agenda.events if e.file not in bad]
        if self.cache is not None:
            with contextlib.suppress(OSError):  # not writable: it only costs time next run
                self.cache.save()
            if self.sync_data:
                agenda.cache = self.cache
        return agenda

    def one(
        self, name: str, config: Config | None, agenda: Agenda
    ) -> tuple[str | None, tuple[Diagnostic, ...], Event | None] | None:
        """A file's id, diagnostics and event: cached by its index blob id, else read (and
        looked up by its content's blob id), else checked."""
        # The key is the content's blob id and the path: a result names its file, and the
        # file name is checked too (a renamed file is checked again).
        cache, blob = self.cache, self.blobs.get(name)
        key = cache_key(blob, name) if blob is not None else None
        packed = cache.get(key) if cache is not None and key is not None else None
        if packed is not None:
            agenda.cached += 1
        else:
            try:
                text = self.read(name)
            except yamlload.Refused as exc:
                return None, (refused(name, exc),), None
            if text is None:
                return None
            if cache is not None:
                key = cache_key(blob or gitrepo.hash_blob(text), name)
                packed = cache.get(key)
            if packed is None:
                entry = check_file(text, name, config, self.keep_data)
                if cache is not None and key is not None:
                    cache.put(key, entry)
                if entry.event is not None and self.sync_data:
                    agenda.sync_facts[name] = (key if cache else None, None, entry.sync)
                return entry.event_id, entry.diagnostics, entry.event
        event = unpack_event(packed) if self.events else None
        if event is not None and self.sync_data:
            agenda.sync_facts[name] = (key, packed[4], packed[3])
        return packed[0], unpack_diagnostics(packed), event
