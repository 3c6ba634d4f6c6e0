"""The protocol office's report: what to escalate, what to prepare, and the SOP's KPIs.

* **Escalation list**: items waiting in a workflow stage longer than its SLA
  (``rules.yaml`` ``workflow.sla_hours``), counted from the step that put them there; items
  whose event is already over are not escalated.
* **Open pre-event checklists**: items starting within ``checklist_hours_before`` hours whose
  checklist (venue confirmed, transport, guests) is not complete.
* **KPIs**: the share of items in a conflict (errors, and including warnings) among the busy
  items of the conflict window; hours from submission to publication (mean, median, 95th
  percentile); notification compliance: the share of published items published at least
  ``publish_hours_before`` hours before they start, so invitations and reminders reach people
  in time.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from dataclasses import dataclass
from typing import Any

from bangka_ops.agenda import conflicts
from bangka_ops.agenda.model import CANCELLED, STAGE_NAMES, Config, Event
from bangka_ops.agenda.recurrence import occurrences

CHECKLIST = ("venue_confirmed", "transport", "guests")


@dataclass(frozen=True, slots=True)
class Escalation:
    event: Event
    stage: str
    since: dt.datetime
    waited_hours: float
    sla_hours: float


@dataclass(frozen=True, slots=True)
class OpenChecklist:
    event: Event
    start: dt.datetime
    hours_left: float
    missing: tuple[str, ...]


def nearest_rank(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


def escalations(events: list[Event], config: Config, now: dt.datetime) -> list[Escalation]:
    found = []
    for event in events:
        sla = config.sla_hours.get(event.status)
        if sla is None or not event.history or (event.rrule is None and event.end <= now):
            continue
        since = event.history[-1].at
        waited = (now - since).total_seconds() / 3600
        if waited > sla:
            found.append(Escalation(event, event.status, since, waited, sla))
    found.sort(key=lambda e: (-(e.waited_hours - e.sla_hours), e.event.id))
    return found


def open_checklists(events: list[Event], config: Config, now: dt.datetime) -> list[OpenChecklist]:
    horizon = now + dt.timedelta(hours=config.checklist_hours)
    found = []
    for event in events:
        if event.status == CANCELLED or event.data is None:
            continue
        upcoming = next(occurrences(event, now, horizon), None)
        if upcoming is None or upcoming.start < now:
            continue
        checklist = event.data.get("checklist") or {}
        missing = tuple(item for item in CHECKLIST if not checklist.get(item))
        if missing:
            hours = (upcoming.start - now).total_seconds() / 3600
            found.append(OpenChecklist(event, upcoming.start, hours, missing))
    found.sort(key=lambda c: (c.start, c.event.id))
    return found


def kpis(events: list[Event], config: Config, now: dt.datetime) -> dict[str, Any]:
    clashes = conflicts.find(events, config, now.astimezone(conflicts.zone_of(config)).date())
    first, last = conflicts.window(config, now.astimezone(conflicts.zone_of(config)).date())
    considered = {
        e.id
        for e in events
        if e.status != CANCELLED and e.busy and next(occurrences(e, first, last), None)
    }
    in_error = {o.event.id for c in clashes if c.severity == "error" for o in (c.first, c.second)}
    in_any = {o.event.id for c in clashes for o in (c.first, c.second)}
    lead_times = []
    compliant = published = 0
    for event in events:
        submitted = next((h.at for h in event.history if h.status == "diajukan"), None)
        publication = next((h.at for h in event.history if h.status == "dipublikasikan"), None)
        if submitted is None or publication is None:
            continue
        lead_times.append((publication - submitted).total_seconds() / 3600)
        published += 1
        if (event.start - publication).total_seconds() / 3600 >= config.publish_hours:
            compliant += 1
    stages: dict[str, int] = {}
    for event in events:
        stages[event.status] = stages.get(event.status, 0) + 1
    return {
        "items": len(events),
        "by_stage": {f"{key} ({STAGE_NAMES[key]})": stages[key] for key in sorted(stages)},
        "conflicts": {
            "items_considered": len(considered),
            "items_in_error_conflicts": len(in_error & considered),
            "items_in_any_conflict": len(in_any & considered),
            "percent_in_error_conflicts": percent(len(in_error & considered), len(considered)),
            "percent_in_any_conflict": percent(len(in_any & considered), len(considered)),
        },
        "submission_to_publication_hours": {
            "items": len(lead_times),
            "mean": round(statistics.fmean(lead_times), 1) if lead_times else None,
            "median": round(statistics.median(lead_times), 1) if lead_times else None,
            "p95": round(nearest_rank(lead_times, 95), 1) if lead_times else None,
        },
        "notification_compliance": {
            "published": published,
            "published_in_time": compliant,
            "hours_before_required": config.publish_hours,
            "percent": percent(compliant, published),
        },
    }


def percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None
