"""Backup schedules: from a policy's window to concrete timer and cron times.

Used on the controller by the ``borg_agent`` role (filter plugin ``bangka_backup_schedule``), so
that the role's templates receive plain data and the arithmetic is tested here.

Rules:
- A window is ``start``-``end`` wall-clock times in the policy's time zone (may cross midnight).
- A cycle needs ``min_window_minutes[cycle]`` of the window for itself (its expected duration) and
  the timer may add up to ``randomized_delay_minutes``; what is left is slack.
- The start time is the window start plus an offset drawn from ``random.Random(seed)`` with the
  seed built from the host, the policy and the cycle: stable across runs, spread across hosts.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import asdict, dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CYCLES = ("daily", "weekly", "monthly")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DEFAULT_MIN_WINDOW_MINUTES = {"daily": 60, "weekly": 120, "monthly": 240}


class ScheduleError(ValueError):
    """A policy's schedule cannot work; the message names the policy and the field."""


@dataclass(frozen=True)
class ScheduledRun:
    policy: str
    cycle: str
    timezone: str
    hour: int
    minute: int
    # ISO weekday (1 = Monday) for weekly runs, day of month for monthly runs, after a window
    # that crosses midnight has moved the start into the next day.
    weekday: int | None
    day: int | None
    on_calendar: str
    randomized_delay_minutes: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_clock(value: str, where: str) -> int:
    """``"HH:MM"`` to minutes after midnight."""
    try:
        hours, minutes = (int(part) for part in str(value).split(":"))
    except ValueError:
        raise ScheduleError(f"{where}: {value!r} is not a time of day in HH:MM form") from None
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise ScheduleError(f"{where}: {value!r} is not a time of day in HH:MM form")
    return hours * 60 + minutes


def window_minutes(start: int, end: int) -> int:
    """Length of a window that may cross midnight; equal ends are a full day."""
    return (end - start) % 1440 or 1440


def plan(
    host: str,
    policies: list[dict[str, Any]],
    min_window_minutes: dict[str, int] | None = None,
    randomized_delay_minutes: int = 10,
) -> list[dict[str, Any]]:
    """Concrete start times for every enabled cycle of every policy of one host."""
    needs = {**DEFAULT_MIN_WINDOW_MINUTES, **(min_window_minutes or {})}
    runs: list[dict[str, Any]] = []
    for policy in policies:
        name = policy.get("name", "?")
        window = policy.get("window") or {}
        tz_name = window.get("timezone", "Asia/Jakarta")
        try:
            ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ScheduleError(
                f"policy {name!r}: window.timezone {tz_name!r} is not a known time zone"
            ) from None
        start = parse_clock(window.get("start", ""), f"policy {name!r}: window.start")
        end = parse_clock(window.get("end", ""), f"policy {name!r}: window.end")
        length = window_minutes(start, end)
        for cycle, cycle_settings in (policy.get("cycles") or {}).items():
            if cycle not in CYCLES:
                raise ScheduleError(
                    f"policy {name!r}: unknown cycle {cycle!r} (allowed: {', '.join(CYCLES)})"
                )
            slack = length - needs[cycle] - randomized_delay_minutes
            if slack < 0:
                raise ScheduleError(
                    f"policy {name!r}: the window {window['start']}-{window['end']} "
                    f"({length} min) is too short for the {cycle} cycle, which needs "
                    f"{needs[cycle]} min plus {randomized_delay_minutes} min of timer delay"
                )
            offset = random.Random(f"{host}/{name}/{cycle}").randint(0, slack)  # noqa: S311
            minute_of_day = start + offset
            day_shift, minute_of_day = divmod(minute_of_day, 1440)
            hour, minute = divmod(minute_of_day, 60)
            weekday = day = None
            settings = cycle_settings or {}
            if cycle == "weekly":
                weekday = (int(settings.get("weekday", 7)) - 1 + day_shift) % 7 + 1
                calendar = f"{WEEKDAYS[weekday - 1]} *-*-*"
            elif cycle == "monthly":
                day = int(settings.get("day", 1)) + day_shift
                if not 1 <= day <= 28:
                    raise ScheduleError(
                        f"policy {name!r}: cycles.monthly.day must be 1-28 so every month has "
                        f"it (window crossing midnight moves it to {day})"
                    )
                calendar = f"*-*-{day:02d}"
            else:
                calendar = "*-*-*"
            runs.append(
                ScheduledRun(
                    policy=name,
                    cycle=cycle,
                    timezone=tz_name,
                    hour=hour,
                    minute=minute,
                    weekday=weekday,
                    day=day,
                    on_calendar=f"{calendar} {hour:02d}:{minute:02d}:00 {tz_name}",
                    randomized_delay_minutes=randomized_delay_minutes,
                ).as_dict()
            )
    return runs


def to_host_clock(run: dict[str, Any], host_utc_offset: str) -> dict[str, int]:
    """Hour and minute of a run on a host clock with the given UTC offset (``"+0700"``).

    Used for cron, which knows no time zones. Cron entries fire daily and the wrapper itself
    decides, in the policy's time zone, whether today is the weekly or monthly day, so only the
    time of day needs converting. ``day_shift`` (-1, 0, 1) says whether that time falls on the
    day before or after on the host clock, for entries that name a weekday.
    """
    sign = -1 if host_utc_offset.startswith("-") else 1
    digits = host_utc_offset.lstrip("+-")
    host_offset = sign * (int(digits[:2]) * 60 + int(digits[2:4]))
    reference = dt.datetime(
        2025, 1, 15, run["hour"], run["minute"], tzinfo=ZoneInfo(run["timezone"])
    )
    local = reference.astimezone(dt.timezone(dt.timedelta(minutes=host_offset)))
    return {
        "hour": local.hour,
        "minute": local.minute,
        "day_shift": (local.date() - reference.date()).days,
    }
