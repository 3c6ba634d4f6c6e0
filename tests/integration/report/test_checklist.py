"""The checklist and KPIs from records made by real Borg runs through the wrapper: a clean run,
a warning run, an interrupted run, a failed run, scheduled runs that never happened, and a
truncated record."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bangka_ops.report import checklist, ledger
from tests.integration.report.helpers import cekat_report

pytestmark = pytest.mark.borg
JAKARTA = ZoneInfo("Asia/Jakarta")


def build(root: Path, today: dt.date) -> tuple[list[dict[str, Any]], checklist.Report]:
    rows: list[dict[str, Any]] = []
    period = checklist.Period(today - dt.timedelta(days=2), today)
    report = checklist.build(root, period, dt.datetime.now(JAKARTA), rows.append)
    return rows, report


def test_one_row_per_scheduled_run_missed_runs_included(tree: tuple[Path, dt.date]) -> None:
    root, today = tree
    rows, _ = build(root, today)

    scheduled = [
        (r["policy"], r["date"], r["cycle"], r["status"])
        for r in rows
        if r["trigger"] == "schedule"
    ]
    day = today.isoformat()
    assert sorted(scheduled) == sorted(
        [
            ("docs", day, "daily", "success"),
            ("docs", day, "weekly", "warning"),
            ("docs", day, "monthly", "failed"),
            *(
                ("arsip", (today - dt.timedelta(days=n)).isoformat(), "daily", "missed")
                for n in (2, 1, 0)
            ),
        ]
    )
    by_cycle = {r["cycle"]: r for r in rows if r["policy"] == "docs" and r["trigger"] == "schedule"}
    assert by_cycle["daily"]["backup_type"] == "incremental"
    assert by_cycle["daily"]["original_bytes"] > 0
    assert by_cycle["daily"]["files"] == 2
    assert by_cycle["daily"]["log_check"] == "clean"
    assert by_cycle["daily"]["restore_test"] == "passed"
    assert by_cycle["weekly"]["backup_type"] == "full"
    assert by_cycle["weekly"]["log_check"] == "warnings"
    assert by_cycle["weekly"]["borg_check"] == "passed"
    assert "killed by signal 9" in by_cycle["monthly"]["reason"]
    on_demand = [r for r in rows if r["trigger"] == "on-demand"]
    assert [r["status"] for r in on_demand] == ["failed"]


def test_kpis_count_the_schedule_and_flag_the_host(tree: tuple[Path, dt.date]) -> None:
    root, today = tree
    _, report = build(root, today)
    kpis = report.kpis()

    total = kpis["total"]
    assert (total["scheduled"], total["success"], total["warning"]) == (6, 1, 1)
    assert (total["failed"], total["missed"], total["on_demand"]) == (1, 3, 1)
    assert total["success_percent"] == 16.67
    success = next(r for r in build(root, today)[0] if r["status"] == "success")
    # backup time over successful runs only; the warning and failed runs' apart
    assert total["duration_mean_seconds"] == round(success["duration_seconds"], 3)
    assert total["duration_p95_seconds"] == round(success["duration_seconds"], 3)
    assert total["duration_unsuccessful_runs"] == 2
    assert total["duration_unsuccessful_mean_seconds"] > 0
    assert kpis["categories"]["critical"]["scheduled"] == 3
    assert kpis["categories"]["archive"]["missed"] == 3
    (host,) = kpis["hosts"]
    assert host["host"] == "web-01" and host["breaching"] is True
    policies = {p["policy"]: p for p in kpis["policies"]}
    assert policies["docs"]["rpo_met"] is True
    assert policies["docs"]["restore_test"]["status"] == "passed"
    assert policies["docs"]["restore_test"]["rto_met"] is True
    assert policies["arsip"]["rpo_met"] is False
    assert kpis["policies"][0]["policy"] == "arsip"  # breaching first


def test_a_truncated_record_is_named_with_its_line_and_never_counted(
    tree: tuple[Path, dt.date],
) -> None:
    root, today = tree
    rows, report = build(root, today)
    (problem,) = report.problems
    assert problem.path.name == "web-01-docs-daily-2020-01-01T00-00-00.json"
    assert problem.line == 4
    assert all(r["record"] != str(problem.path) for r in rows)


def test_cekat_report_writes_json_csv_and_prometheus(tree: tuple[Path, dt.date]) -> None:
    root, today = tree
    outputs = {}
    for fmt in ("json", "csv", "prom"):
        proc = cekat_report(root, today, "--format", fmt, timeout=120)
        assert proc.returncode == 1, proc.stderr  # the truncated record is reported
        assert "invalid or truncated JSON" in proc.stderr
        assert "web-01-docs-daily-2020-01-01T00-00-00.json:4" in proc.stderr
        outputs[fmt] = proc.stdout

    document = json.loads(outputs["json"])
    assert len(document["rows"]) == 7
    assert document["kpis"]["total"]["missed"] == 3
    table = list(csv.DictReader(io.StringIO(outputs["csv"])))
    assert [r["status"] for r in table].count("missed") == 3
    prom = outputs["prom"]
    assert 'bangka_backup_success_ratio{host="web-01",policy="docs"} 0.3333' in prom
    assert 'bangka_backup_missed_runs{host="web-01",policy="arsip"} 3' in prom
    assert 'bangka_backup_success_ratio{host="web-01",policy="arsip"} 0.0' in prom
    assert "# TYPE bangka_backup_last_success_timestamp_seconds gauge" in prom


def test_consolidating_real_records_changes_no_figure(tree: tuple[Path, dt.date]) -> None:
    root, today = tree
    now = dt.datetime.now(JAKARTA)
    period = checklist.Period(today - dt.timedelta(days=2), today)

    def figures() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        report = checklist.build(root, period, now, rows.append)
        kpis = report.kpis()
        kpis.pop("generated", None)
        return [{k: v for k, v in r.items() if k != "record"} for r in rows], kpis

    before = figures()
    summary = ledger.consolidate(root)
    assert summary.moved == 4  # clean, warning, killed, failed; the truncated file stays
    assert [p.path.name for p in summary.left] == ["web-01-docs-daily-2020-01-01T00-00-00.json"]
    records = root / "web-01" / "records" / "docs"
    assert not [p for p in records.glob("*.json") if "2020" not in p.name]
    assert list(records.glob("*.log.jsonl")), "the raw Borg logs stay beside"
    assert list(records.parent.glob("restore-tests/docs/*.json")), "restore-test records stay"
    assert figures() == before
