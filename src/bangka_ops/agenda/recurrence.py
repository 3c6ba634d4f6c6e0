"""Occurrences of events within a window: recurring ones expanded (RRULE minus EXDATE, with
dateutil), open-ended rules bounded by the window."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

from dateutil import rrule as dateutil_rrule

from bangka_ops.agenda.model import Event

UNTIL = re.compile(r"UNTIL=(\d{8})(T(\d{6}))?(Z?)", re.IGNORECASE)


def rule_of(text: str, start: dt.datetime) -> dateutil_rrule.rrule:
    """The rule, anchored at the aware local ``start``. A local UNTIL (no ``Z``) is read in the
    event's zone, as a person writing the file means it (dateutil wants UTC)."""

    def utc(match: re.Match[str]) -> str:
        if match.group(4):
            return match.group(0)
        clock = match.group(3) or "235959"
        local = dt.datetime.strptime(match.group(1) + clock, "%Y%m%d%H%M%S")
        when = local.replace(tzinfo=start.tzinfo).astimezone(dt.UTC)
        return f"UNTIL={when:%Y%m%dT%H%M%S}Z"

    parsed = dateutil_rrule.rrulestr(UNTIL.sub(utc, text), dtstart=start)
    if not isinstance(parsed, dateutil_rrule.rrule):
        raise ValueError("one RRULE only")
    return parsed


@dataclass(frozen=True, slots=True)
class Occurrence:
    event: Event
    start: dt.datetime
    end: dt.datetime

    @property
    def key(self) -> str:
        """The occurrence's identity: the event id, and the start for a recurring one."""
        if self.event.rrule is None:
            return self.event.id
        return f"{self.event.id}@{self.start.isoformat()}"


def occurrences(event: Event, first: dt.datetime, last: dt.datetime) -> Iterator[Occurrence]:
    """The event's occurrences overlapping ``[first, last)``."""
    length = event.end - event.start
    if event.rrule is None:
        if event.end > first and event.start < last:
            yield Occurrence(event, event.start, event.end)
        return
    skipped = set(event.exdates)
    rule = rule_of(event.rrule, event.start)
    for found in rule.xafter(first - length, inc=True):
        if found >= last:
            break
        if found in skipped:
            continue
        # Wall-clock recurrence: re-attach the zone so a DST change keeps the local time.
        start = found.replace(tzinfo=event.tz)
        yield Occurrence(event, start, start + length)
