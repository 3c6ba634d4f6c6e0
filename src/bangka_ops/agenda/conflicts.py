"""Schedule conflicts: a leader double-booked, a venue double-booked, and a leader's consecutive
items at different venues closer than the travel time plus a buffer.

Intervals are half-open (an item ending at 10:00 and one starting at 10:00 do not clash).
Cancelled items and items that do not occupy anyone (``busy: false``, the default for all-day
events) are left out; a clash with a tentative item (not yet confirmed by the leader's office)
is a warning, a clash between confirmed items an error. One-off items are checked wherever they
fall; recurring events are expanded over the window (and around one-off items outside it).
Each resource's occurrences are swept once in start order with a heap of the active ones:
O(n log n + k) for n occurrences and k clashes.
"""

from __future__ import annotations

import datetime as dt
import gc
import heapq
import operator
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from bangka_ops.agenda.model import CANCELLED, Config, Event
from bangka_ops.agenda.recurrence import Occurrence, occurrences


@dataclass(frozen=True, slots=True)
class Conflict:
    kind: str  # "leader", "venue" or "travel"
    resource: str
    first: Occurrence
    second: Occurrence
    severity: str
    gap_minutes: float | None = None
    needed_minutes: int | None = None

    def involves(self, ids: set[str]) -> bool:
        return self.first.event.id in ids or self.second.event.id in ids

    def message(self) -> str:
        a, b = self.first, self.second
        when = f"{span(a)} / {span(b)}"
        if self.kind == "leader":
            return (
                f"pimpinan {self.resource} terjadwal ganda / leader {self.resource} double-booked: "
                f"{a.event.id} and {b.event.id} ({when})"
            )
        if self.kind == "venue":
            return (
                f"tempat {self.resource} dipakai ganda / venue {self.resource} double-booked: "
                f"{a.event.id} and {b.event.id} ({when})"
            )
        return (
            f"waktu tempuh tidak cukup / not enough travel time for {self.resource}: "
            f"{a.event.id} ({a.event.venue}) ends {a.end:%Y-%m-%d %H:%M %Z}, {b.event.id} "
            f"({b.event.venue}) starts {b.start:%Y-%m-%d %H:%M %Z}: "
            f"{self.gap_minutes:.0f} min between, {self.needed_minutes} min needed"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "resource": self.resource,
            "severity": self.severity,
            "message": self.message(),
            "items": [
                {
                    "id": o.event.id,
                    "file": o.event.file,
                    "start": o.start.isoformat(),
                    "end": o.end.isoformat(),
                    "status": o.event.status,
                    "venue": o.event.venue,
                }
                for o in (self.first, self.second)
            ],
            "gap_minutes": self.gap_minutes,
            "needed_minutes": self.needed_minutes,
        }


def span(item: Occurrence) -> str:
    """When an occurrence is, with its zone (items in different zones can meet): the dates of
    an all-day item, the times of a timed one."""
    if item.event.all_day:
        last = (item.end - dt.timedelta(days=1)).date()
        days = f"{item.start:%Y-%m-%d}" + (f"..{last:%Y-%m-%d}" if last > item.start.date() else "")
        return f"{days} (sepanjang hari / all day)"
    if item.end.date() == item.start.date():
        return f"{item.start:%Y-%m-%d %H:%M}-{item.end:%H:%M} {item.start:%Z}"
    return f"{item.start:%Y-%m-%d %H:%M %Z} - {item.end:%Y-%m-%d %H:%M %Z}"


def severity(a: Occurrence, b: Occurrence) -> str:
    return "warning" if a.event.tentative or b.event.tentative else "error"


def overlaps(kind: str, resource: str, items: list[Occurrence]) -> Iterable[Conflict]:
    """Every overlapping pair among ``items`` (sorted by start), by sweeping with a heap of the
    active items' ends."""
    active: list[tuple[dt.datetime, int, Occurrence]] = []
    for number, item in enumerate(items):
        start = item.start
        while active and active[0][0] <= start:
            heapq.heappop(active)
        if active:  # every one still active overlaps this item; reported in agenda order
            ordered = active if len(active) == 1 else sorted(active, key=SECOND)
            for _, _, other in ordered:
                if kind == "venue" and not same_room(other.event, item.event):
                    continue
                yield Conflict(kind, resource, other, item, severity(other, item))
        heapq.heappush(active, (item.end, number, item))


def same_room(a: Event, b: Event) -> bool:
    """Two items at one venue clash unless both name different rooms."""
    return not (a.room and b.room and a.room != b.room)


def travel(config: Config, leader: str, items: list[Occurrence]) -> Iterable[Conflict]:
    """Consecutive items of a leader at different venues (each with the item before it that
    ends last, if that one does not overlap it)."""
    previous: Occurrence | None = None
    # No pair further apart than the longest travel time can fall short of it.
    longest = dt.timedelta(
        minutes=max([config.travel_default, *config.travel.values()]) + config.travel_buffer
    )
    for item in items:
        if (
            previous is not None
            and previous.end <= item.start
            and item.start - previous.end < longest
            and previous.event.venue != item.event.venue
        ):
            needed = (
                config.travel_minutes(previous.event.venue, item.event.venue) + config.travel_buffer
            )
            gap = (item.start - previous.end).total_seconds() / 60
            if gap < needed:
                yield Conflict(
                    "travel",
                    leader,
                    previous,
                    item,
                    severity(previous, item),
                    gap_minutes=gap,
                    needed_minutes=needed,
                )
        if previous is None or item.end > previous.end:
            previous = item


def zone_of(config: Config) -> ZoneInfo:
    return ZoneInfo(config.timezone)


def window(config: Config, today: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = zone_of(config)
    first = dt.datetime.combine(today - dt.timedelta(days=config.window_past_days), dt.time(), tz)
    last = dt.datetime.combine(
        today + dt.timedelta(days=config.window_future_days + 1), dt.time(), tz
    )
    return first, last


def find(
    events: Iterable[Event],
    config: Config,
    today: dt.date,
    changed: set[str] | None = None,
) -> list[Conflict]:
    """All conflicts within the window around ``today``; with ``changed`` (event ids of a pull
    request), only those involving a changed item, but checked against the whole agenda."""
    first, last = window(config, today)
    by_leader: dict[str, list[Occurrence]] = {}
    by_venue: dict[str, list[Occurrence]] = {}

    def place(occurrence: Occurrence) -> None:
        for leader in occurrence.event.leaders:
            by_leader.setdefault(leader, []).append(occurrence)
        by_venue.setdefault(occurrence.event.venue, []).append(occurrence)

    # Nothing below makes reference cycles; the collector would only re-scan the agenda's
    # hundred thousand live events while the occurrences are made.
    enabled = gc.isenabled()
    gc.disable()
    try:
        recurring: list[Event] = []
        outside: list[Occurrence] = []
        for event in events:
            if event.status == CANCELLED or not event.busy:
                continue
            if event.rrule is None:  # most events: one occurrence, no generator (inlined)
                occurrence = Occurrence(event, event.start, event.end)
                for leader in event.leaders:
                    by_leader.setdefault(leader, []).append(occurrence)
                by_venue.setdefault(event.venue, []).append(occurrence)
                if event.end <= first or event.start >= last:
                    outside.append(occurrence)
                continue
            recurring.append(event)
            for occurrence in occurrences(event, first, last):
                place(occurrence)
        for occurrence in beside(outside, recurring, config, (first, last)):
            place(occurrence)
        found: list[Conflict] = []
        for leader, occurring in sorted(by_leader.items()):
            occurring.sort(key=ORDER)  # stable: equal times keep the agenda's file order
            found += overlaps("leader", leader, occurring)
            found += travel(config, leader, occurring)
        for venue, occurring in sorted(by_venue.items()):
            occurring.sort(key=ORDER)
            found += overlaps("venue", venue, occurring)
    finally:
        if enabled:
            gc.enable()
    if changed is not None:
        found = [c for c in found if c.involves(changed)]
    found.sort(key=lambda c: (c.first.start, c.kind, c.resource, c.second.start))
    return found


def beside(
    outside: list[Occurrence],
    recurring: list[Event],
    config: Config,
    window_span: tuple[dt.datetime, dt.datetime],
) -> Iterable[Occurrence]:
    """One-off items are checked wherever they fall; recurring items are expanded over the
    window, and also around each one-off item outside it (a day either side and the longest
    travel time), for the recurring items that share a leader or the venue with it."""
    if not outside or not recurring:
        return
    first, last = window_span
    sharing: dict[tuple[str, str], list[Event]] = {}
    for event in recurring:
        for leader in event.leaders:
            sharing.setdefault(("leader", leader), []).append(event)
        sharing.setdefault(("venue", event.venue), []).append(event)
    margin = dt.timedelta(
        days=1,
        minutes=max([config.travel_default, *config.travel.values()]) + config.travel_buffer,
    )
    # Per recurring item, the spans around the one-off items it may meet, merged: each item is
    # expanded once per merged span, however many one-off items fall there.
    spans: dict[int, list[tuple[dt.datetime, dt.datetime]]] = {}
    chosen: dict[int, Event] = {}
    for item in outside:
        keys = [("leader", leader) for leader in item.event.leaders]
        keys.append(("venue", item.event.venue))
        for key in keys:
            for event in sharing.get(key, ()):
                chosen[id(event)] = event
                spans.setdefault(id(event), []).append((item.start - margin, item.end + margin))
    for number, event in chosen.items():
        seen: set[dt.datetime] = set()
        for begin, end in merge(spans[number]):
            for occurrence in occurrences(event, begin, end):
                inside = occurrence.end > first and occurrence.start < last  # placed already
                if not inside and occurrence.start not in seen:
                    seen.add(occurrence.start)
                    yield occurrence


def merge(spans: list[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    """Overlapping spans joined, in order."""
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for begin, end in sorted(spans):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


ORDER = operator.attrgetter("start", "end")
SECOND = operator.itemgetter(1)
