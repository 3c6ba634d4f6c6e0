from __future__ import annotations

from typing import Any

import pytest

from bangka_ops.backup import schedule


def policy(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "dokumen",
        "window": {"start": "00:00", "end": "06:00", "timezone": "Asia/Jakarta"},
        "cycles": {"daily": {}, "weekly": {"weekday": 7}, "monthly": {"day": 1}},
    }
    base.update(overrides)
    return base


def minutes(run: dict[str, Any]) -> int:
    return int(run["hour"]) * 60 + int(run["minute"])


def test_every_start_leaves_the_cycle_its_time_inside_the_window() -> None:
    for host in (f"srv{i:02d}" for i in range(50)):
        for run in schedule.plan(host, [policy()], randomized_delay_minutes=10):
            need = schedule.DEFAULT_MIN_WINDOW_MINUTES[run["cycle"]] + 10
            assert 0 <= minutes(run) <= 360 - need


def test_starts_are_stable_per_host_and_spread_across_hosts() -> None:
    first = schedule.plan("web01", [policy()])
    assert schedule.plan("web01", [policy()]) == first
    daily_starts = {minutes(schedule.plan(f"srv{i}", [policy()])[0]) for i in range(30)}
    assert len(daily_starts) > 15


def test_on_calendar_carries_day_and_time_zone() -> None:
    runs = {r["cycle"]: r for r in schedule.plan("web01", [policy()])}
    assert runs["daily"]["on_calendar"].startswith("*-*-* ")
    assert runs["weekly"]["on_calendar"].startswith("Sun *-*-* ")
    assert runs["monthly"]["on_calendar"].startswith("*-*-01 ")
    assert all(r["on_calendar"].endswith(" Asia/Jakarta") for r in runs.values())


def test_window_across_midnight_moves_the_weekday_with_the_start() -> None:
    late = policy(window={"start": "23:55", "end": "06:00"}, cycles={"weekly": {"weekday": 7}})
    for i in range(20):
        run = schedule.plan(f"h{i}", [late])[0]
        if run["hour"] < 23:
            assert run["weekday"] == 1 and run["on_calendar"].startswith("Mon ")
        else:
            assert run["weekday"] == 7


def test_window_too_short_for_its_cycle_is_refused_with_the_policy_named() -> None:
    short = policy(window={"start": "01:00", "end": "03:00"})
    with pytest.raises(
        schedule.ScheduleError, match=r"policy 'dokumen'.*too short for the weekly cycle"
    ):
        schedule.plan("web01", [short])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cycles": {"hourly": {}}}, "unknown cycle 'hourly'"),
        (
            {"window": {"start": "25:00", "end": "05:00"}},
            "window.start: '25:00' is not a time of day",
        ),
        (
            {"window": {"start": "01:00", "end": "05:00", "timezone": "Asia/Bangka"}},
            "not a known time zone",
        ),
        ({"cycles": {"monthly": {"day": 31}}}, "monthly.day must be 1-28"),
    ],
)
def test_bad_schedules_name_the_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(schedule.ScheduleError, match=message):
        schedule.plan("web01", [policy(**changes)])


def test_cron_time_is_converted_to_the_host_clock() -> None:
    run = {"hour": 2, "minute": 30, "timezone": "Asia/Jakarta"}
    # 02:30 in Jakarta is 19:30 the day before in UTC: a weekly cron entry moves a day back.
    assert schedule.to_host_clock(run, "+0000") == {"hour": 19, "minute": 30, "day_shift": -1}
    assert schedule.to_host_clock(run, "+0700") == {"hour": 2, "minute": 30, "day_shift": 0}
    assert schedule.to_host_clock(run, "+0800") == {"hour": 3, "minute": 30, "day_shift": 0}
    late = {"hour": 23, "minute": 30, "timezone": "Asia/Jakarta"}
    assert schedule.to_host_clock(late, "+0900")["day_shift"] == 1
