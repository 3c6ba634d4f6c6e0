"""Recurring agenda items: the part of RFC 5545's RRULE an agenda needs, read once into a
:class:`Rule`, written back in one canonical form (what the feeds and Google Calendar receive)
and expanded by one function, :func:`starts`, which the conflict check, the reports and the
validator all use. Calendar clients expand the canonical text the same way (a test compares
:func:`starts` with ``recurring_ical_events`` and ``dateutil`` on the serialised feed).

What a rule may hold, and why the rest is refused:

* ``FREQ`` DAILY, WEEKLY, MONTHLY or YEARLY. An agenda item happens at most once a day;
  SECONDLY, MINUTELY and HOURLY would make millions of occurrences of one file.
* ``BYHOUR``, ``BYMINUTE`` and ``BYSECOND`` are refused for the same reason: the item's start
  gives its time of day, and a second time in a day is a second item. ``BYYEARDAY`` and
  ``BYWEEKNO`` are refused too (no agenda need; "the n-th weekday of the month" is ``BYDAY``).
* ``INTERVAL`` up to :data:`MAX_INTERVAL`, ``COUNT`` up to :data:`MAX_COUNT`, ``UNTIL``, but not
  ``COUNT`` and ``UNTIL`` together (RFC 5545 §3.3.10 forbids it). ``BYDAY`` (with an ordinal
  such as ``-1FR`` for MONTHLY and YEARLY only), ``BYMONTHDAY`` (not with WEEKLY), ``BYMONTH``,
  ``BYSETPOS`` (MONTHLY and YEARLY, with another BY part) and ``WKST``.
* A local ``UNTIL`` (no ``Z``) is read in the item's zone, as the person writing the file means
  it, and written in UTC (the RFC requires UTC next to a DTSTART with a zone); an all-day item's
  ``UNTIL`` is a date.

So an item has at most one occurrence per day, and expanding it over a window costs time linear
in the window's periods (days, weeks, months or years): the expansion jumps straight to the
first period in the window and looks only at that period's days. A ``COUNT`` rule is counted from
its start, so its cost is linear in the periods from its start to the window's end.
"""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from bangka_ops.agenda import yamlload
from bangka_ops.agenda.model import Event

FREQS = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
ALLOWED = (
    "FREQ",
    "INTERVAL",
    "COUNT",
    "UNTIL",
    "BYDAY",
    "BYMONTHDAY",
    "BYMONTH",
    "BYSETPOS",
    "WKST",
)
REFUSED = {
    "BYHOUR": "the item's start gives its time of day; another time is another item",
    "BYMINUTE": "the item's start gives its time of day; another time is another item",
    "BYSECOND": "the item's start gives its time of day; another time is another item",
    "BYYEARDAY": "not used by an agenda (use BYMONTH and BYMONTHDAY)",
    "BYWEEKNO": "not used by an agenda (use BYDAY with BYMONTH)",
}
MAX_COUNT = 1000
# A COUNT rule's series is made up to here (the agenda's items are in the years to 2199).
SERIES_END = dt.date(2200, 1, 1)
MAX_INTERVAL = 1000
UNTIL_FORM = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?$")
BYDAY_FORM = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
NUMBER = re.compile(r"^[+-]?\d{1,4}$")


class RuleError(ValueError):
    """A rule outside what an agenda item may use; the message says which part and why."""


@dataclass(frozen=True, slots=True)
class Rule:
    freq: str
    interval: int = 1
    count: int | None = None
    # An aware UTC datetime for a timed item, a date for an all-day one.
    until: dt.datetime | dt.date | None = None
    byday: tuple[tuple[int, int], ...] = ()  # (ordinal, 0 = none; weekday, 0 = Monday)
    bymonthday: tuple[int, ...] = ()
    bymonth: tuple[int, ...] = ()
    bysetpos: tuple[int, ...] = ()
    wkst: int = 0

    def text(self) -> str:
        """The canonical RRULE value (without ``RRULE:``)."""
        parts = [f"FREQ={self.freq}"]
        if self.interval != 1:
            parts.append(f"INTERVAL={self.interval}")
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        if isinstance(self.until, dt.datetime):
            parts.append(f"UNTIL={self.until.astimezone(dt.UTC):%Y%m%dT%H%M%S}Z")
        elif self.until is not None:
            parts.append(f"UNTIL={self.until:%Y%m%d}")
        if self.bymonth:
            parts.append("BYMONTH=" + ",".join(map(str, self.bymonth)))
        if self.bymonthday:
            parts.append("BYMONTHDAY=" + ",".join(map(str, self.bymonthday)))
        if self.byday:
            days = (f"{n or ''}{WEEKDAYS[day]}" for n, day in self.byday)
            parts.append("BYDAY=" + ",".join(days))
        if self.bysetpos:
            parts.append("BYSETPOS=" + ",".join(map(str, self.bysetpos)))
        if self.wkst:
            parts.append(f"WKST={WEEKDAYS[self.wkst]}")
        return ";".join(parts)


def numbers(name: str, value: str, low: int, high: int, signed: bool = False) -> tuple[int, ...]:
    """A comma list of integers from ``low`` to ``high`` (``signed``: or from -high to -low),
    sorted, each once."""
    found = set()
    for item in value.split(","):
        if not NUMBER.match(item):
            raise RuleError(f"{name}: {excerpt(item)} is not a whole number")
        number = int(item)
        if not (low <= abs(number) <= high) or (number < 0 and not signed):
            allowed = f"{low} to {high}" + (f" or -{low} to -{high}" if signed else "")
            raise RuleError(f"{name}: {number} is out of range ({allowed})")
        found.add(number)
    return tuple(sorted(found))


def excerpt(text: str) -> str:
    return yamlload.excerpt(text, limit=20)


def parse(text: str, start: dt.datetime, all_day: bool) -> Rule:
    """The rule of an item starting at the aware local ``start``; :class:`RuleError` names the
    part that is not allowed and why."""
    values = parts_of(text)
    freq = values.get("FREQ")
    if freq is None:
        raise RuleError("FREQ is required")
    if freq not in FREQS:
        raise RuleError(
            f"FREQ={excerpt(freq)} is not allowed: an agenda item happens at most once a day "
            f"(allowed: {', '.join(FREQS)})"
        )
    if "COUNT" in values and "UNTIL" in values:
        raise RuleError("COUNT and UNTIL together are not allowed (RFC 5545): give one")
    interval = numbers("INTERVAL", values.get("INTERVAL", "1"), 1, MAX_INTERVAL)
    count = numbers("COUNT", values["COUNT"], 1, MAX_COUNT) if "COUNT" in values else None
    if len(interval) != 1 or (count is not None and len(count) != 1):
        raise RuleError("INTERVAL and COUNT take one number")
    byday = weekdays(values.get("BYDAY"), freq, "BYMONTH" in values)
    bymonthday: tuple[int, ...] = ()
    if "BYMONTHDAY" in values:
        if freq == "WEEKLY":
            raise RuleError("BYMONTHDAY is not allowed with FREQ=WEEKLY (RFC 5545)")
        bymonthday = numbers("BYMONTHDAY", values["BYMONTHDAY"], 1, 31, signed=True)
    bymonth = numbers("BYMONTH", values["BYMONTH"], 1, 12) if "BYMONTH" in values else ()
    bysetpos: tuple[int, ...] = ()
    if "BYSETPOS" in values:
        if freq not in ("MONTHLY", "YEARLY"):
            # dateutil (and so many clients) takes the first week from the start, not whole.
            raise RuleError(
                "BYSETPOS is for FREQ=MONTHLY or YEARLY (such as the last weekday of a month)"
            )
        if not (byday or bymonthday or bymonth):
            raise RuleError("BYSETPOS needs another BY part (BYDAY, BYMONTHDAY or BYMONTH)")
        bysetpos = numbers("BYSETPOS", values["BYSETPOS"], 1, 366, signed=True)
    wkst = 0
    if "WKST" in values:
        if values["WKST"] not in WEEKDAYS:
            raise RuleError(f"WKST: {excerpt(values['WKST'])} is not a weekday (MO to SU)")
        wkst = WEEKDAYS.index(values["WKST"])
    until = until_of(values["UNTIL"], start, all_day) if "UNTIL" in values else None
    return Rule(
        freq=freq,
        interval=interval[0],
        count=count[0] if count else None,
        until=until,
        byday=byday,
        bymonthday=bymonthday,
        bymonth=bymonth,
        bysetpos=bysetpos,
        wkst=wkst,
    )


def parts_of(text: str) -> dict[str, str]:
    """NAME -> value, each allowed part at most once."""
    if not isinstance(text, str) or not text.strip():
        raise RuleError("empty rule")
    values: dict[str, str] = {}
    for part in text.strip().split(";"):
        name, equals, value = part.partition("=")
        name = name.strip().upper()
        if not equals or not name or not value.strip():
            raise RuleError(f"{excerpt(part)} is not NAME=VALUE")
        if name in REFUSED:
            raise RuleError(f"{name} is not allowed: {REFUSED[name]}")
        if name not in ALLOWED:
            raise RuleError(f"unknown part {excerpt(name)} (allowed: {', '.join(ALLOWED)})")
        if name in values:
            raise RuleError(f"{name} is given twice")
        values[name] = value.strip().upper()
    return values


def weekdays(value: str | None, freq: str, in_months: bool) -> tuple[tuple[int, int], ...]:
    if value is None:
        return ()
    found = set()
    for item in value.split(","):
        match = BYDAY_FORM.match(item)
        if match is None:
            raise RuleError(f"BYDAY: {excerpt(item)} is not a weekday such as MO, 1MO or -1FR")
        ordinal = int(match.group(1) or 0)
        if match.group(1) is not None:
            if freq not in ("MONTHLY", "YEARLY"):
                raise RuleError(f"BYDAY: {item} (an n-th weekday) needs FREQ=MONTHLY or YEARLY")
            most = 5 if freq == "MONTHLY" or in_months else 53
            if not 1 <= abs(ordinal) <= most:
                raise RuleError(f"BYDAY: {item}: the ordinal must be 1 to {most} or -1 to -{most}")
        found.add((ordinal, WEEKDAYS.index(match.group(2))))
    if len({ordinal == 0 for ordinal, _ in found}) > 1:
        # RFC 5545 makes it a union; dateutil (and so many clients) an intersection.
        raise RuleError(
            "BYDAY: plain weekdays and n-th weekdays (MO and 1MO) together are read differently "
            "by calendar programs; make two items"
        )
    return tuple(sorted(found))


def until_of(value: str, start: dt.datetime, all_day: bool) -> dt.datetime | dt.date:
    match = UNTIL_FORM.match(value)
    if match is None:
        raise RuleError(
            f"UNTIL: {excerpt(value)} is not YYYYMMDD, YYYYMMDDTHHMMSS or YYYYMMDDTHHMMSSZ"
        )
    try:
        day = dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        clock = (
            dt.time(int(match.group(4)), int(match.group(5)), int(match.group(6)))
            if match.group(4)
            else None
        )
    except ValueError as exc:
        raise RuleError(f"UNTIL: {value} is not a real date or time ({exc})") from exc
    tz = start.tzinfo
    try:
        if clock is None:
            local = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=tz)
        elif match.group(7):
            local = dt.datetime.combine(day, clock, tzinfo=dt.UTC).astimezone(tz)
        else:
            local = dt.datetime.combine(day, clock, tzinfo=tz)
        in_utc = local.astimezone(dt.UTC)
    except OverflowError as exc:  # the year 9999 moved past the calendar's end by the zone
        raise RuleError(f"UNTIL: {value} is out of range") from exc
    if all_day:
        if local.date() < start.date():
            raise RuleError(f"UNTIL ({value}) is before the start")
        return local.date()
    if local < start:
        raise RuleError(f"UNTIL ({value}) is before the start")
    return in_utc


# ---- expansion --------------------------------------------------------------------------


def period(freq: str, day: dt.date, wkst: int) -> int:
    """The number of the day's period (day, week starting on ``wkst``, month, year)."""
    if freq == "DAILY":
        return day.toordinal()
    if freq == "WEEKLY":
        return (day.toordinal() - 1 - wkst) // 7  # day 1 (0001-01-01) is a Monday
    if freq == "MONTHLY":
        return day.year * 12 + day.month - 1
    return day.year


def first_day(freq: str, number: int, wkst: int) -> dt.date:
    if freq == "DAILY":
        return dt.date.fromordinal(number)
    if freq == "WEEKLY":
        return dt.date.fromordinal(max(number * 7 + 1 + wkst, 1))
    if freq == "MONTHLY":
        return dt.date(number // 12, number % 12 + 1, 1)
    return dt.date(number, 1, 1)


def month_days(year: int, month: int) -> list[dt.date]:
    return [dt.date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)]


def by_monthday(days: list[dt.date], wanted: tuple[int, ...]) -> set[dt.date]:
    """Of one month's ``days``, those that are the wanted days of the month (negative: from
    the end)."""
    picked = set()
    for n in wanted:
        index = n - 1 if n > 0 else len(days) + n
        if 0 <= index < len(days):
            picked.add(days[index])
    return picked


def by_weekday(days: list[dt.date], wanted: tuple[tuple[int, int], ...]) -> set[dt.date]:
    """Of a month's or a year's ``days``, the wanted weekdays (with an ordinal: the n-th, or
    from the end, in that span)."""
    picked = set()
    for ordinal, weekday in wanted:
        matching = [d for d in days if d.weekday() == weekday]
        if ordinal == 0:
            picked.update(matching)
        elif ordinal > 0 and ordinal <= len(matching):
            picked.add(matching[ordinal - 1])
        elif ordinal < 0 and -ordinal <= len(matching):
            picked.add(matching[ordinal])
    return picked


def candidates(rule: Rule, number: int, start: dt.date) -> list[dt.date]:
    """The days of period ``number`` the rule selects (before BYSETPOS, COUNT and UNTIL)."""
    freq, months = rule.freq, rule.bymonth
    if freq == "DAILY":
        day = dt.date.fromordinal(number)
        length = calendar.monthrange(day.year, day.month)[1]
        keep = (
            (not months or day.month in months)
            and (
                not rule.bymonthday
                or any(n in (day.day, day.day - length - 1) for n in rule.bymonthday)
            )
            and (not rule.byday or any(day.weekday() == w for _, w in rule.byday))
        )
        return [day] if keep else []
    if freq == "WEEKLY":
        first = first_day(freq, number, rule.wkst)
        wanted = {w for _, w in rule.byday} or {start.weekday()}
        week = [first + dt.timedelta(days=n) for n in range(7)]
        return [d for d in week if d.weekday() in wanted and (not months or d.month in months)]
    if freq == "MONTHLY":
        year, month = number // 12, number % 12 + 1
        if months and month not in months:
            return []
        days = month_days(year, month)
        return sorted(select(rule, days, start))
    # YEARLY
    year = number
    bymonthday, byday = rule.bymonthday, rule.byday
    if not bymonthday and not byday:
        months = months or (start.month,)
        bymonthday = (start.day,)
    chosen_months = months or tuple(range(1, 13))
    picked: set[dt.date] = set()
    if bymonthday:
        for month in chosen_months:
            picked |= by_monthday(month_days(year, month), bymonthday)
    if byday:
        if months:  # the n-th weekday of each month named
            weekdays_found: set[dt.date] = set()
            for month in months:
                weekdays_found |= by_weekday(month_days(year, month), byday)
        else:  # the n-th weekday of the year
            days = [d for month in range(1, 13) for d in month_days(year, month)]
            weekdays_found = by_weekday(days, byday)
        picked = picked & weekdays_found if bymonthday else weekdays_found
    return sorted(picked)


def select(rule: Rule, days: list[dt.date], start: dt.date) -> set[dt.date]:
    """A month's days chosen by BYMONTHDAY and BYDAY (both: those chosen by each)."""
    if not rule.bymonthday and not rule.byday:
        return by_monthday(days, (start.day,))
    picked = by_monthday(days, rule.bymonthday) if rule.bymonthday else None
    if rule.byday:
        weekdays_found = by_weekday(days, rule.byday)
        picked = weekdays_found if picked is None else picked & weekdays_found
    return picked or set()


def positions(days: list[dt.date], wanted: tuple[int, ...]) -> list[dt.date]:
    picked = {days[n - 1 if n > 0 else n] for n in wanted if -len(days) <= n <= len(days) and n}
    return sorted(picked)


def starts(
    rule: Rule, start: dt.datetime, first: dt.datetime, last: dt.datetime
) -> Iterator[dt.datetime]:
    """The starts of the rule's occurrences (EXDATEs not removed) with ``first <= s < last``,
    in order: wall-clock times in ``start``'s zone (a DST change keeps the local time)."""
    if rule.count is None:
        yield from walk(rule, start, first, last)
        return
    # A COUNT rule is counted from its start: its whole series (at most MAX_COUNT) is made once
    # per process, then each window is a slice of it.
    whole = series(rule, start, str(start.tzinfo))
    yield from whole[bisect.bisect_left(whole, first) : bisect.bisect_left(whole, last)]


@functools.lru_cache(maxsize=4096)
def series(rule: Rule, start: dt.datetime, zone_key: str) -> tuple[dt.datetime, ...]:
    """Every start of a COUNT rule, up to the year SERIES_END (``zone_key`` keeps starts
    that are the same moment in different zones apart)."""
    del zone_key
    end = dt.datetime.combine(SERIES_END, dt.time(), start.tzinfo)
    return tuple(walk(rule, start, start, end))


def walk(
    rule: Rule, start: dt.datetime, first: dt.datetime, last: dt.datetime
) -> Iterator[dt.datetime]:
    """:func:`starts` by stepping through the rule's periods: from the window's first period
    (from the start for a COUNT rule), skipping months a DAILY rule's BYMONTH or BYMONTHDAY
    leaves out."""
    tz, clock, day0 = start.tzinfo, start.time(), start.date()
    origin = period(rule.freq, day0, rule.wkst)
    number = origin
    if rule.count is None and first > start:
        # No COUNT: nothing before the window matters; jump to the window's first period.
        within = period(rule.freq, first.astimezone(tz).date(), rule.wkst)
        number = origin + (within - origin) // rule.interval * rule.interval
    last_day = last.astimezone(tz).date()
    if isinstance(rule.until, dt.datetime):
        last_day = min(last_day, rule.until.astimezone(tz).date())
    elif rule.until is not None:
        last_day = min(last_day, rule.until)
    sparse_daily = rule.freq == "DAILY" and bool(rule.bymonth or rule.bymonthday)
    counted = 0
    while (days := period_days(rule, number, day0, last_day)) is not None:
        for day in days:
            if day < day0:
                continue
            when = dt.datetime.combine(day, clock, tzinfo=tz)
            counted += 1
            if past_until(rule, day, when) or (rule.count is not None and counted > rule.count):
                return
            if when >= last:
                return
            if when >= first:
                yield when
        if sparse_daily and not days:
            following = next_daily(rule, number, origin, last_day)
            if following is None:
                return
            number = following
        else:
            number += rule.interval


def next_daily(rule: Rule, number: int, origin: int, last_day: dt.date) -> int | None:
    """The next day (ordinal) after ``number`` that a DAILY rule's interval, BYMONTH and
    BYMONTHDAY allow, looking month by month; None past ``last_day``."""
    try:
        day = dt.date.fromordinal(number + 1)
    except (ValueError, OverflowError):
        return None
    while day <= last_day:
        if not rule.bymonth or day.month in rule.bymonth:
            days = month_days(day.year, day.month)
            chosen = sorted(by_monthday(days, rule.bymonthday)) if rule.bymonthday else days
            for found in chosen:
                if found >= day and (found.toordinal() - origin) % rule.interval == 0:
                    return found.toordinal()
        year, month = divmod(day.year * 12 + day.month, 12)
        if year > dt.MAXYEAR:
            return None
        day = dt.date(year, month + 1, 1)
    return None


def period_days(rule: Rule, number: int, day0: dt.date, last_day: dt.date) -> list[dt.date] | None:
    """The days period ``number`` selects, in order; None once it starts after ``last_day``."""
    try:
        if first_day(rule.freq, number, rule.wkst) > last_day:
            return None
        days = candidates(rule, number, day0)
    except (ValueError, OverflowError):  # past the year 9999
        return None
    return positions(days, rule.bysetpos) if rule.bysetpos else days


def past_until(rule: Rule, day: dt.date, when: dt.datetime) -> bool:
    if isinstance(rule.until, dt.datetime):
        return when > rule.until
    return rule.until is not None and day > rule.until


def occurs(rule: Rule, start: dt.datetime, when: dt.datetime) -> bool:
    """Whether ``when`` is the start of one of the rule's occurrences."""
    return next(starts(rule, start, when, when + dt.timedelta(seconds=1)), None) == when


# ---- occurrences of events -------------------------------------------------------------


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


def rule_of(event: Event) -> Rule:
    """The event's (already validated, canonical) rule."""
    if event.rrule is None:
        raise ValueError(f"{event.file}: not a recurring item")
    return parsed(event.rrule, event.start, str(event.start.tzinfo), event.all_day)


@functools.lru_cache(maxsize=4096)
def parsed(text: str, start: dt.datetime, zone_key: str, all_day: bool) -> Rule:
    del zone_key  # part of the cache key only
    return parse(text, start, all_day)


def occurrences(event: Event, first: dt.datetime, last: dt.datetime) -> Iterator[Occurrence]:
    """The event's occurrences overlapping ``[first, last)``."""
    length = event.end - event.start
    if event.rrule is None:
        if event.end > first and event.start < last:
            yield Occurrence(event, event.start, event.end)
        return
    skipped = set(event.exdates)
    for found in starts(rule_of(event), event.start, first - length, last):
        if found in skipped:
            continue
        yield Occurrence(event, found, found + length)
