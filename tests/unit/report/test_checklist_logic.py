"""Slot logic of the checklist on small hand-made trees (the real-run tests are in
tests/integration/report)."""

from __future__ import annotations

import datetime as dt
import io
import json
import random
from array import array
from pathlib import Path
from typing import Any

import pytest

from bangka_ops.report import checklist, html, outputs

TZ = dt.timezone(dt.timedelta(hours=7))


def record(
    cycle: str, start: str, status: str = "success", trigger: str = "schedule"
) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "kind": "backup_run",
        "host": "fs01",
        "policy": "dokumen",
        "category": "critical",
        "cycle": cycle,
        "trigger": trigger,
        "status": status,
        "start": start,
        "duration_seconds": 10.0,
        "archive": f"fs01-dokumen-{cycle}-{start[:19].replace(':', '-')}",
        "repository": "ssh://borg@backup01:22/srv/borg/repos/fs01",
        "archive_stats": {
            "original_size": 100,
            "compressed_size": 50,
            "deduplicated_size": 5,
            "nfiles": 3,
        },
        "rpo_hours": 24,
    }


def tree(tmp_path: Path, records: list[dict[str, Any]]) -> Path:
    folder = tmp_path / "fs01" / "records" / "dokumen"
    folder.mkdir(parents=True)
    for item in records:
        (folder / f"{item['archive']}.json").write_text(json.dumps(item))
    config = {
        "host": "fs01",
        "timezone": "Asia/Jakarta",
        "policies": {
            "dokumen": {
                "timezone": "Asia/Jakarta",
                "category": "critical",
                "rpo_hours": 24,
                "cycles": {"daily": {"hour": 2, "minute": 30}},
            }
        },
    }
    (tmp_path / "fs01" / "config.json").write_text(json.dumps(config))
    return tmp_path


def run(
    root: Path, first: str, last: str, now: str
) -> tuple[list[dict[str, Any]], checklist.Report]:
    rows: list[dict[str, Any]] = []
    period = checklist.Period(dt.date.fromisoformat(first), dt.date.fromisoformat(last))
    report = checklist.build(root, period, dt.datetime.fromisoformat(now), rows.append)
    return rows, report


def test_a_slot_not_yet_due_is_not_missed(tmp_path: Path) -> None:
    root = tree(tmp_path, [record("daily", "2025-05-12T02:31:00+07:00")])
    rows, _ = run(root, "2025-05-12", "2025-05-13", "2025-05-13T02:00:00+07:00")
    assert [r["status"] for r in rows] == ["success"]  # the 13th's run is due at 02:30
    rows, _ = run(root, "2025-05-12", "2025-05-13", "2025-05-13T02:31:00+07:00")
    assert [r["status"] for r in rows] == ["success", "missed"]


def test_a_rerun_of_the_same_slot_counts_once_and_the_earlier_is_listed(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        [
            record("daily", "2025-05-12T02:31:00+07:00", status="failed"),
            record("daily", "2025-05-12T09:00:00+07:00"),
        ],
    )
    rows, report = run(root, "2025-05-12", "2025-05-12", "2025-05-12T23:00:00+07:00")
    assert [(r["trigger"], r["status"]) for r in rows] == [
        ("retry", "failed"),
        ("schedule", "success"),
    ]
    assert report.kpis()["total"]["success_percent"] == 100.0


def test_a_run_outside_the_period_is_not_a_row_but_still_the_newest_archive(
    tmp_path: Path,
) -> None:
    root = tree(tmp_path, [record("daily", "2025-05-10T02:31:00+07:00")])
    rows, report = run(root, "2025-05-12", "2025-05-12", "2025-05-12T23:00:00+07:00")
    assert [r["status"] for r in rows] == ["missed"]
    (policy,) = report.kpis()["policies"]
    assert policy["rpo_met"] is False
    assert "RPO" in policy["breaches"]


def test_percentile_is_nearest_rank() -> None:
    assert checklist.percentile([1.0, 2.0, 3.0, 4.0], 95) == 4.0
    assert checklist.percentile([float(i) for i in range(1, 101)], 95) == 95.0


def test_a_period_backwards_is_refused() -> None:
    with pytest.raises(ValueError, match="before"):
        checklist.Period(dt.date(2025, 5, 12), dt.date(2025, 5, 1))


def test_runs_due_before_a_policys_first_record_are_not_missed(tmp_path: Path) -> None:
    # Deployed on the 14th after 02:30 (the daily's time) and backed up on demand at once.
    root = tree(tmp_path, [record("daily", "2025-05-14T09:15:00+07:00", trigger="on-demand")])
    rows, _ = run(root, "2025-05-10", "2025-05-15", "2025-05-15T23:00:00+07:00")
    assert [(r["date"], r["trigger"], r["status"]) for r in rows] == [
        ("2025-05-14", "on-demand", "success"),
        ("2025-05-15", "schedule", "missed"),
    ]


@pytest.mark.parametrize("count", [1, 7, 1000, 150_001])
def test_nearest_rank_by_selection_equals_the_sorted_percentile(count: int) -> None:
    rng = random.Random(count)  # noqa: S311 (test data)
    values = array("d", (rng.uniform(0, 3600) for _ in range(count)))
    for pct in (50, 95, 99, 100):
        assert checklist.nearest_rank(values, pct) == checklist.percentile(sorted(values), pct)


def sized(start: str, size: int, status: str = "success") -> dict[str, Any]:
    item = record("daily", start, status)
    item["archive_stats"]["original_size"] = size
    return item


def test_size_growth_per_week_and_30_days_in_json_html_and_prometheus(tmp_path: Path) -> None:
    """The newest good archive's size against the newest good one at least 7 and 30 days
    older; a failed run's size never counts; a start a few minutes later still counts as a
    week."""
    records = [
        sized("2025-04-10T02:30:00+07:00", 1_000 * 2**20),  # 32 days before the newest
        sized("2025-04-12T02:30:00+07:00", 1_100 * 2**20),  # 30 days before
        sized("2025-05-05T02:30:00+07:00", 1_500 * 2**20),  # 7 days before
        sized("2025-05-06T02:30:00+07:00", 1_600 * 2**20),
        sized("2025-05-11T02:30:00+07:00", 9_999 * 2**20, "failed"),
        sized("2025-05-12T02:35:00+07:00", 2_000 * 2**20),
    ]
    root = tree(tmp_path, records)
    _, report = run(root, "2025-05-12", "2025-05-12", "2025-05-12T12:00:00+07:00")
    (policy,) = report.kpis()["policies"]
    assert policy["size_bytes"] == 2_000 * 2**20
    assert policy["growth_week_bytes"] == 500 * 2**20
    assert policy["growth_week_percent"] == pytest.approx(33.33)
    assert policy["growth_30_days_bytes"] == 900 * 2**20
    assert policy["growth_30_days_percent"] == pytest.approx(81.82)

    page = html.render([], report.kpis(), None, "id")
    assert "+500,0 MiB (+33,3 %)" in page
    assert "+900,0 MiB (+81,8 %)" in page
    english = html.render([], report.kpis(), None, "en")
    assert "+500.0 MiB (+33.3 %)" in english
    text = io.StringIO()
    writer = outputs.PrometheusWriter(text)
    writer.finish(report)
    assert (
        'bangka_backup_size_growth_bytes{host="fs01",policy="dokumen",window="7d"} 524288000'
        in text.getvalue()
    )


def test_no_growth_without_enough_history(tmp_path: Path) -> None:
    root = tree(
        tmp_path, [sized("2025-05-10T02:30:00+07:00", 10), sized("2025-05-12T02:30:00+07:00", 20)]
    )
    _, report = run(root, "2025-05-12", "2025-05-12", "2025-05-12T12:00:00+07:00")
    (policy,) = report.kpis()["policies"]
    assert policy["size_bytes"] == 20
    assert policy["growth_week_bytes"] is None
    assert policy["growth_30_days_percent"] is None
