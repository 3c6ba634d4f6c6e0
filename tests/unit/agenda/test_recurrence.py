"""Recurring items: the conflict check's expansion is the one calendar programs make of the
feed (checked with ``recurring_ical_events`` and ``dateutil`` on the serialised feed), rules
are bounded, and a local UNTIL is sent in UTC."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
from dateutil import rrule as dateutil_rrule

from bangka_ops.agenda import ics, recurrence, repository, sync
from bangka_ops.agenda.model import Event
from bangka_ops.agenda.recurrence import RuleError, occurrences, parse
from tests.unit.agenda.conftest import AddEvent

ZONES = ("Asia/Jakarta", "Asia/Makassar", "Europe/Berlin", "America/New_York")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
FIRST = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
LAST = dt.datetime(2028, 3, 1, tzinfo=dt.UTC)


def random_rule(rng: random.Random) -> str:
    freq = rng.choice(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"])
    parts = [f"FREQ={freq}"]
    if rng.random() < 0.4:
        parts.append(f"INTERVAL={rng.randint(1, 4)}")
    roll = rng.random()
    if roll < 0.3:
        parts.append(f"COUNT={rng.randint(1, 40)}")
    elif roll < 0.55:
        parts.append(
            f"UNTIL=2027{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
            + rng.choice(["", f"T{rng.randint(0, 23):02d}0000", f"T{rng.randint(0, 23):02d}0000Z"])
        )
    if rng.random() < 0.3:
        months = rng.sample(range(1, 13), rng.randint(1, 5))
        parts.append("BYMONTH=" + ",".join(map(str, months)))
    if freq != "WEEKLY" and rng.random() < 0.3:
        days = {rng.choice([1, -1]) * rng.randint(1, 31) for _ in range(rng.randint(1, 3))}
        parts.append("BYMONTHDAY=" + ",".join(map(str, days)))
    if rng.random() < 0.5:
        ordinal = freq in ("MONTHLY", "YEARLY") and rng.random() < 0.5
        weekdays = {
            (str(rng.choice([1, -1]) * rng.randint(1, 4)) if ordinal else "") + rng.choice(WEEKDAYS)
            for _ in range(rng.randint(1, 3))
        }
        parts.append("BYDAY=" + ",".join(sorted(weekdays)))
    if (
        freq in ("MONTHLY", "YEARLY")
        and rng.random() < 0.2
        and any(p.startswith("BY") for p in parts)
    ):
        parts.append(f"BYSETPOS={rng.choice([1, 2, -1])}")
    if rng.random() < 0.2:
        parts.append("WKST=" + rng.choice(WEEKDAYS))
    return ";".join(parts)


def test_the_check_and_calendar_programs_expand_the_feed_alike(
    agenda_dir: Path, add_event: AddEvent
) -> None:
    rng = random.Random(20261203)  # noqa: S311 (test data)
    made = 0
    while made < 200:
        zone = ZoneInfo(rng.choice(ZONES))
        all_day = rng.random() < 0.2
        day = dt.date(2026, 12, 1) + dt.timedelta(days=rng.randint(0, 120))
        start = dt.datetime.combine(day, dt.time(0 if all_day else rng.randint(6, 20)), zone)
        text = random_rule(rng)
        try:
            rule = parse(text, start, all_day)
            # Mostly start on the rule's first occurrence from that day (the n-th weekdays,
            # the set positions), as a person writing the file would.
            first = next(recurrence.starts(rule, start, start, LAST), None)
            if first is not None and rng.random() < 0.8:
                start = first
                rule = parse(text, start, all_day)
        except RuleError:
            continue
        if not recurrence.occurs(rule, start, start):
            continue  # the validator refuses a start that is not an occurrence (tested apart)
        found = list(recurrence.starts(rule, start, start, LAST))
        skipped = rng.sample(found[1:], min(len(found) - 1, rng.randint(0, 2)))
        fmt = "%Y-%m-%d" if all_day else "%Y-%m-%dT%H:%M"
        fields: dict[str, object] = {
            "start": start.strftime(fmt),
            # an all-day item's end is its last day
            "end": start.strftime(fmt)
            if all_day
            else (start + dt.timedelta(hours=1)).strftime(fmt),
            "timezone": zone.key,
            "recurrence": {"rrule": text, "exdates": [s.strftime(fmt) for s in skipped]},
        }
        if all_day:
            fields["all_day"] = True
        add_event(f"2026-12-10-uji-ulang-{made:03d}", **fields)
        made += 1
    agenda = repository.load(agenda_dir, keep_data=True)
    assert [str(d) for d in agenda.diagnostics if d.severity == "error"] == []
    ours = {
        event.id: sorted(o.start.astimezone(dt.UTC) for o in occurrences(event, FIRST, LAST))
        for event in agenda.events
        if event.id.startswith("2026-12-10-uji-ulang-")
    }
    assert len(ours) >= 200
    feed = icalendar.Calendar.from_ical(ics.feeds(agenda, {}, all_stages=True)["bupati"])
    theirs: dict[str, list[dt.datetime]] = {}
    for item in recurring_ical_events.of(feed).between(FIRST, LAST):
        uid = str(item["UID"]).split("@")[0]
        when = item["DTSTART"].dt
        if not isinstance(when, dt.datetime):  # an all-day item: midnight in its own zone
            when = dt.datetime.combine(when, dt.time(), ZoneInfo(agenda_event(agenda, uid).tz.key))
        theirs.setdefault(uid, []).append(when.astimezone(dt.UTC))
    for uid, starts in ours.items():
        # (Compared away from the window's edges, where a whole day is read as a date there.)
        assert inner(theirs.get(uid, [])) == inner(starts), uid
        # and dateutil, on the RRULE and EXDATE text exactly as serialised
        vevent = next(c for c in feed.walk("VEVENT") if str(c["UID"]).startswith(uid + "@"))
        assert inner(dateutil_starts(vevent, agenda_event(agenda, uid).tz)) == inner(starts), uid


def inner(starts: list[dt.datetime]) -> list[dt.datetime]:
    edge = dt.timedelta(days=2)
    return sorted(s for s in starts if FIRST + edge <= s < LAST - edge)


def agenda_event(agenda: repository.Agenda, uid: str) -> Event:
    return next(e for e in agenda.events if e.id == uid)


def dateutil_starts(vevent: icalendar.Event, zone: ZoneInfo) -> list[dt.datetime]:
    raw = vevent.to_ical().decode()
    lines = [line for line in raw.replace("\r\n ", "").splitlines()]
    rule = next(line for line in lines if line.startswith("RRULE:"))[len("RRULE:") :]
    start = vevent["DTSTART"].dt
    all_day = not isinstance(start, dt.datetime)
    if all_day:
        start = dt.datetime.combine(start, dt.time())
    skipped = set()
    for exdate in (
        vevent.get("EXDATE", [])
        if isinstance(vevent.get("EXDATE"), list)
        else ([vevent["EXDATE"]] if "EXDATE" in vevent else [])
    ):
        for item in exdate.dts:
            value = item.dt
            skipped.add(dt.datetime.combine(value, dt.time()) if all_day else value)
    found = []
    for when in dateutil_rrule.rrulestr(rule, dtstart=start):
        aware = when.replace(tzinfo=zone) if all_day else when
        if aware >= LAST:
            break
        if when in skipped or aware < FIRST:
            continue
        found.append(aware.astimezone(dt.UTC))
    return found


def test_a_local_until_is_sent_in_utc_and_checked_as_clients_read_it(
    agenda_dir: Path, add_event: AddEvent
) -> None:
    # Weekly on Tuesdays 10:00 WIB until 12 January 09:00 local: the 12 January meeting is not
    # in the series, so the one-off meeting then does not clash, in the check or in the feed.
    add_event(
        "2026-12-15-rapat-mingguan",
        start="2026-12-15T10:00",
        end="2026-12-15T11:00",
        recurrence={"rrule": "FREQ=WEEKLY;BYDAY=TU;UNTIL=20270112T090000"},
    )
    agenda = repository.load(agenda_dir, keep_data=True)
    assert agenda.errors == []
    weekly = agenda_event(agenda, "2026-12-15-rapat-mingguan")
    assert weekly.rrule == "FREQ=WEEKLY;UNTIL=20270112T020000Z;BYDAY=TU"
    feed = ics.feeds(agenda, {}, all_stages=True)["bupati"].decode()
    assert "RRULE:FREQ=WEEKLY;UNTIL=20270112T020000Z;BYDAY=TU" in feed
    assert agenda.config is not None
    body = sync.body_of(weekly, agenda.config, "bupati")
    assert body["recurrence"] == ["RRULE:FREQ=WEEKLY;UNTIL=20270112T020000Z;BYDAY=TU"]
    starts = [o.start.date() for o in occurrences(weekly, FIRST, LAST)]
    assert starts == [
        dt.date(2026, 12, 15),
        dt.date(2026, 12, 22),
        dt.date(2026, 12, 29),
        dt.date(2027, 1, 5),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FREQ=SECONDLY", "FREQ='SECONDLY' is not allowed"),
        ("FREQ=MINUTELY", "FREQ='MINUTELY' is not allowed"),
        ("FREQ=HOURLY", "FREQ='HOURLY' is not allowed"),
        ("FREQ=DAILY;BYMINUTE=0,30", "BYMINUTE is not allowed"),
        ("FREQ=DAILY;COUNT=3;UNTIL=20270101", "COUNT and UNTIL together"),
        ("FREQ=DAILY;COUNT=1001", "COUNT: 1001 is out of range"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL: 0 is out of range"),
        ("FREQ=WEEKLY;BYDAY=1MO", "needs FREQ=MONTHLY or YEARLY"),
        ("FREQ=MONTHLY;BYDAY=MO,1TU", "plain weekdays and n-th weekdays"),
        ("FREQ=WEEKLY;BYMONTHDAY=1", "BYMONTHDAY is not allowed with FREQ=WEEKLY"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ is given twice"),
        ("FREQ=DAILY;UNTIL=20261201", "is before the start"),
        ("FREQ=DAILY;X-NAME=1", "unknown part 'X-NAME'"),
        ("FREQ=DAILY;UNTIL=99991231T235959Z", "UNTIL: 99991231T235959Z is out of range"),
        ("FREQ=MONTHLY;BYSETPOS=1", "BYSETPOS needs another BY part"),
        ("FREQ=WEEKLY;BYDAY=MO,WE;BYSETPOS=1", "BYSETPOS is for FREQ=MONTHLY or YEARLY"),
    ],
)
def test_rules_outside_an_agendas_needs_are_refused(text: str, expected: str) -> None:
    start = dt.datetime(2026, 12, 10, 9, tzinfo=ZoneInfo("Asia/Jakarta"))
    with pytest.raises(RuleError, match=None) as caught:
        parse(text, start, all_day=False)
    assert expected in str(caught.value)


def test_expansion_costs_the_windows_periods_not_the_rules_age(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A daily rule started in 1900: expanding one window looks at the window's days only.
    visited: list[int] = []
    real = recurrence.candidates

    def counting(rule: recurrence.Rule, number: int, start: dt.date) -> list[dt.date]:
        visited.append(number)
        return real(rule, number, start)

    monkeypatch.setattr(recurrence, "candidates", counting)
    zone = ZoneInfo("Asia/Jakarta")
    start = dt.datetime(1900, 1, 1, 8, tzinfo=zone)
    rule = parse("FREQ=DAILY", start, all_day=False)
    first = dt.datetime(2026, 12, 1, tzinfo=zone)
    found = list(recurrence.starts(rule, start, first, first + dt.timedelta(days=400)))
    assert len(found) == 400
    assert len(visited) <= 401
    # A rule that matches rarely still costs one look per period in the window.
    visited.clear()
    start = dt.datetime(2028, 2, 29, 8, tzinfo=zone)
    rule = parse("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29", start, all_day=False)
    found = list(recurrence.starts(rule, start, start, start + dt.timedelta(days=3000)))
    assert [w.year for w in found] == [2028, 2032, 2036]
    assert len(visited) <= 3001
