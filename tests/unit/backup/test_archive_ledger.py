"""The admin's archive ledger: retention on the admin's clock, the burst rule's arithmetic."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bangka_ops.backup import agent, archive_ledger

TZ = ZoneInfo("Asia/Jakarta")
POLICIES = {"docs": {"cycles": ["daily"], "retention": {"daily": 2}}}
KEEP = {"daily": 7, "weekly": 4, "monthly": 12}


def ledger_with(tmp_path: Path, entries: list[tuple[str, str, str, str]]) -> archive_ledger.Ledger:
    """(id, name, Borg start, admin's first sighting) per archive."""
    path = tmp_path / "web-01.json"
    path.write_text(
        json.dumps(
            {
                "archives": {
                    i: {"name": n, "start": s, "first_seen": f, "state": "present"}
                    for i, n, s, f in entries
                }
            }
        )
    )
    return archive_ledger.Ledger(path)


def test_retention_follows_the_admins_first_sighting_not_the_name(tmp_path: Path) -> None:
    """Three archives seen on three days; the oldest claims (name and start) to be from 2099.
    Borg's prune would keep it forever as the newest; the admin keeps the two newest it saw."""
    ledger = ledger_with(
        tmp_path,
        [
            ("a" * 64, "web-01-docs-daily-2099-01-01T00-00-00", "2099-01-01T00:00:00+07:00",
             "2026-11-01T01:00:00+07:00"),
            ("b" * 64, "web-01-docs-daily-2026-11-02T01-00-00", "2026-11-02T01:00:00+07:00",
             "2026-11-02T12:00:00+07:00"),
            ("c" * 64, "web-01-docs-daily-2026-11-03T01-00-00", "2026-11-03T01:00:00+07:00",
             "2026-11-03T12:00:00+07:00"),
        ],
    )  # fmt: skip

    plan = archive_ledger.prune_plan(ledger, "web-01", POLICIES, TZ, KEEP)

    assert [e.name for e in plan["docs daily"]] == ["web-01-docs-daily-2099-01-01T00-00-00"]


def test_an_archive_can_look_older_never_newer_than_the_admin_saw_it(tmp_path: Path) -> None:
    ledger = ledger_with(
        tmp_path,
        [("a" * 64, "web-01-docs-daily-2026-11-01T01-00-00", "2026-11-01T01:00:00+07:00",
          "2026-11-05T12:00:00+07:00")],
    )  # fmt: skip
    (entry,) = ledger.entries.values()
    assert archive_ledger.effective_time(entry, TZ) == dt.datetime(2026, 11, 1, 1, tzinfo=TZ)
    entry.start = entry.first_seen = "2026-11-01T00:30:00+07:00"
    assert archive_ledger.effective_time(entry, TZ) == dt.datetime(2026, 11, 1, 0, 30, tzinfo=TZ)


def test_fewer_periods_than_the_target_keep_the_oldest_too(tmp_path: Path) -> None:
    """As Borg 1.2: while a cycle has fewer periods than its retention, its oldest archive stays."""
    ledger = ledger_with(
        tmp_path,
        [
            (c * 64, f"web-01-docs-daily-2026-11-01T0{h}-00-00", f"2026-11-01T0{h}:00:00+07:00",
             f"2026-11-01T0{h}:10:00+07:00")
            for c, h in (("a", 1), ("b", 2), ("c", 3))
        ],
    )  # fmt: skip
    plan = archive_ledger.prune_plan(ledger, "web-01", POLICIES, TZ, KEEP)
    assert [e.name for e in plan["docs daily"]] == ["web-01-docs-daily-2026-11-01T02-00-00"]


def test_a_retention_below_one_is_refused_naming_the_field(tmp_path: Path) -> None:
    ledger = ledger_with(
        tmp_path,
        [("a" * 64, "web-01-docs-daily-2026-11-01T01-00-00", "2026-11-01T01:00:00+07:00",
          "2026-11-01T02:00:00+07:00")],
    )  # fmt: skip
    policies = {"docs": {"cycles": ["daily"], "retention": {"daily": 0}}}
    with pytest.raises(agent.ConfigError, match=r"policies\.docs\.retention\.daily"):
        archive_ledger.prune_plan(ledger, "web-01", policies, TZ, KEEP)


@pytest.mark.parametrize(
    ("hours", "cycle", "new", "burst"),
    [
        (24, "daily", 5, False),  # one scheduled run + one more day + 3 by hand
        (24, "daily", 6, True),
        (0.1, "weekly", 4, False),
        (0.1, "monthly", 5, True),
        (24 * 60, "monthly", 6, False),
    ],
)
def test_the_burst_rule_counts_what_the_schedule_can_make(
    hours: float, cycle: str, new: int, burst: bool
) -> None:
    now = dt.datetime(2026, 12, 2, 12, tzinfo=TZ)
    names = [f"web-01-docs-{cycle}-{i}" for i in range(new)]
    findings = archive_ledger.bursts(
        {("docs", cycle): names},
        now,
        now - dt.timedelta(hours=hours),
        archive_ledger.settings_of({}),
    )
    assert bool(findings) is burst


def test_tamper_settings_are_checked_by_name() -> None:
    with pytest.raises(agent.ConfigError, match=r"tamper\.burst_allowance"):
        archive_ledger.settings_of({"tamper": {"burst_allowance": "many"}})
    assert (
        archive_ledger.settings_of({"tamper": {"backdate_slack_hours": 2}})["backdate_slack_hours"]
        == 2.0
    )
