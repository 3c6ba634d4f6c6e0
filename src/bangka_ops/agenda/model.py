"""The agenda's domain: the configuration files, events, and the workflow's fixed stages."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from bangka_ops.agenda.yamlload import Document

STAGES = ("diajukan", "diverifikasi", "diinput", "dikonfirmasi", "dipublikasikan")
CANCELLED = "dibatalkan"
STATUSES = (*STAGES, CANCELLED)
# The SOP's order; any stage may be cancelled, a cancelled item may be submitted again.
TRANSITIONS: dict[str | None, set[str]] = {
    None: {"diajukan"},
    "diajukan": {"diverifikasi", CANCELLED},
    "diverifikasi": {"diinput", CANCELLED},
    "diinput": {"dikonfirmasi", CANCELLED},
    "dikonfirmasi": {"dipublikasikan", CANCELLED},
    "dipublikasikan": {CANCELLED},
    CANCELLED: {"diajukan"},
}
# Before the leader's office confirms, an item is tentative: its clashes are warnings.
TENTATIVE = {"diajukan", "diverifikasi", "diinput"}
DEFAULT_ROLES: dict[str, list[str]] = {
    "diajukan": ["pengaju", "operator", "koordinator"],
    "diverifikasi": ["verifikator"],
    "diinput": ["operator"],
    "dikonfirmasi": ["ajudan"],
    "dipublikasikan": ["koordinator"],
    CANCELLED: ["koordinator", "ajudan"],
}
STAGE_NAMES = {
    "diajukan": "submitted",
    "diverifikasi": "verified",
    "diinput": "entered",
    "dikonfirmasi": "confirmed",
    "dipublikasikan": "published",
    CANCELLED: "cancelled",
}


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    status: str
    by: str
    at: dt.datetime
    note: str | None
    index: int


@dataclass(slots=True)
class Event:
    """One agenda item as read from its file (times are aware; ``end`` is exclusive).
    ``history`` and ``data`` (the file's content) are kept only when asked for (the feeds): a
    large agenda's validation and conflict check do without them."""

    file: str
    id: str
    title: str
    start: dt.datetime
    end: dt.datetime
    all_day: bool
    tz: ZoneInfo
    busy: bool
    venue: str
    room: str | None
    leaders: tuple[str, ...]
    calendars: tuple[str, ...]
    category: str
    person_in_charge: str
    status: str
    rrule: str | None
    exdates: tuple[dt.datetime, ...]
    history: tuple[HistoryEntry, ...]
    data: dict[str, Any] | None

    @property
    def tentative(self) -> bool:
        return self.status in TENTATIVE

    @property
    def cancelled(self) -> bool:
        return self.status == CANCELLED


@dataclass(slots=True)
class Config:
    """The five configuration files of an agenda repository (already schema-checked)."""

    calendars: dict[str, dict[str, Any]]
    venues: dict[str, dict[str, Any]]
    travel_default: int
    travel_buffer: int
    travel: dict[frozenset[str], int]
    categories: dict[str, dict[str, Any]]
    leaders: dict[str, dict[str, Any]]
    people: dict[str, dict[str, Any]]
    timezone: str
    title_pattern: str | None
    title_max: int | None
    title_explain: str | None
    location_pattern: str | None
    location_explain: str | None
    roles: dict[str, list[str]]
    sla_hours: dict[str, float]
    checklist_hours: float
    publish_hours: float
    window_past_days: int
    window_future_days: int
    docs: dict[str, Document] = field(default_factory=dict)

    def travel_minutes(self, a: str, b: str) -> int:
        if a == b:
            return 0
        return self.travel.get(frozenset((a, b)), self.travel_default)

    def location(self, venue: str, room: str | None) -> str:
        place = self.venues.get(venue)
        if place is None:
            return room or venue
        parts = [room, place["name"], place["address"]]
        return ", ".join(part for part in parts if part)

    def calendars_of(self, event: Event) -> list[str]:
        """The calendars an event goes to: each attending leader's, and those it names."""
        chosen = [
            key
            for key, calendar in self.calendars.items()
            if calendar.get("leader") in event.leaders
        ]
        chosen += [key for key in event.calendars if key not in chosen]
        return chosen


# ---- what the feeds and the Google Calendar sync both show of an event ----------------


def data_of(event: Event) -> dict[str, Any]:
    if event.data is None:
        raise ValueError(f"{event.file}: loaded without its data (load with keep_data=True)")
    return event.data


def ever_published(event: Event) -> bool:
    return any(entry.status == "dipublikasikan" for entry in event.history)


def description(event: Event, config: Config) -> str:
    data = data_of(event)
    person = config.people.get(event.person_in_charge, {})
    lines = [data.get("description", "").strip()]
    lines.append(
        f"Penanggung jawab / person in charge: {person.get('name', event.person_in_charge)}"
    )
    lines.append(f"Kontak / contact: {data['contact']}")
    leaders = [config.leaders[key]["position"] for key in event.leaders if key in config.leaders]
    if leaders:
        lines.append(f"Pimpinan / leaders: {', '.join(leaders)}")
    for document in data.get("documents", ()):
        lines.append(f"{document['title']}: {document['url']}")
    lines.append(f"Status: {event.status}")
    return "\n".join(line for line in lines if line)
