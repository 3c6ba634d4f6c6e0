"""A wrapper killed mid-run (SIGKILL: nothing of it can react) leaves its start marker; the next
run, or the collection's `reap`, turns it into an `interrupted` record and notifies it, and the
checklist shows the run as interrupted (terputus), not as missed."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bangka_ops.backup import agent, maintenance, records
from bangka_ops.report import checklist, html, ledger
from tests.conftest import BorgSetup
from tests.integration.backup.admin_helpers import run_maintenance, watchdog_config
from tests.receivers import webhook_receiver

pytestmark = pytest.mark.borg


def kill_wrapper_mid_run(setup: BorgSetup, hooks: str = "pre_hooks") -> Path:
    """Start a run whose pre-hook (or post-hook: after borg create) waits, kill the wrapper's
    whole session with SIGKILL once its start marker is there (with the create step, for a
    post-hook); returns the marker."""
    setup.config["policies"]["docs"][hooks] = ["sleep 60"]
    setup.write_config()
    wrapper = subprocess.Popen(
        [
            sys.executable,
            agent.__file__,
            "--config",
            str(setup.config_path),
            "run",
            "--policy",
            "docs",
            "--cycle",
            "daily",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    folder = Path(setup.config["records_dir"]) / "docs"
    deadline = time.monotonic() + 60
    markers: list[Path] = []
    while time.monotonic() < deadline:
        markers = sorted(folder.glob(f"*{agent.STARTED_SUFFIX}"))
        if markers and (hooks == "pre_hooks" or '"create"' in markers[0].read_text()):
            break
        time.sleep(0.05)
    assert markers, "the wrapper wrote no start marker"
    os.killpg(wrapper.pid, signal.SIGKILL)
    wrapper.wait(timeout=30)
    setup.config["policies"]["docs"][hooks] = []
    return markers[0]


def test_the_next_run_records_an_interrupted_run_and_notifies_it(borg_setup: BorgSetup) -> None:
    marker = kill_wrapper_mid_run(borg_setup)
    archive = marker.name.removesuffix(agent.STARTED_SUFFIX)
    assert not marker.with_name(f"{archive}.json").exists()
    listed = subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", "records", borg_setup.config["records_dir"]],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert "invalid" not in listed.stderr
    assert "running" in listed.stdout  # the marker, shown as the run it announces

    with webhook_receiver() as hook:
        borg_setup.config["notify"] = {"on": ["failed"], "webhook_url": hook.url}
        time.sleep(1)  # the next run's archive name differs by its second
        code, record = borg_setup.run("docs", "daily", "--on-demand")

    assert code == agent.EXIT_OK, record
    assert not marker.exists()
    interrupted = json.loads(marker.with_name(f"{archive}.json").read_text())
    assert interrupted["status"] == "interrupted"
    assert interrupted["archive"] == archive
    assert "never finished" in interrupted["reason"]
    assert interrupted["duration_seconds"] >= 0
    assert records.validate(interrupted) == []
    assert [h["summary"]["status"] for h in hook.received] == ["interrupted"]
    assert hook.received[0]["summary"]["archive"] == archive


def test_reap_writes_the_record_now_and_never_touches_a_run_in_progress(
    borg_setup: BorgSetup,
) -> None:
    marker = kill_wrapper_mid_run(borg_setup)
    archive = marker.name.removesuffix(agent.STARTED_SUFFIX)
    state = Path(borg_setup.config["state_dir"])
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "run.lock", "a") as held:  # a run is going: reap waits for it
        fcntl.flock(held, fcntl.LOCK_EX)
        busy = borg_setup.wrapper("reap")
    assert busy.returncode == 0, busy.stderr
    assert json.loads(busy.stdout) == {"locked_by_a_run": True, "interrupted": []}
    assert marker.exists()

    done = borg_setup.wrapper("reap")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["interrupted"] == [archive]
    assert not marker.exists()
    assert json.loads(marker.with_name(f"{archive}.json").read_text())["status"] == "interrupted"


def test_the_checklist_shows_a_lone_marker_as_running_then_as_interrupted(
    borg_setup: BorgSetup, tmp_path: Path
) -> None:
    """A marker collected while its run was going has no record yet: `running` (berjalan);
    once it is a day old and still alone, `interrupted` (terputus). A marker whose record came
    later disappears behind the record."""
    marker = kill_wrapper_mid_run(borg_setup)
    tz = ZoneInfo("Asia/Jakarta")
    start = dt.datetime.fromisoformat(json.loads(marker.read_text())["start"])
    period = checklist.Period(
        start.date() - dt.timedelta(days=1), start.date() + dt.timedelta(days=1)
    )
    root = tmp_path / "collected" / "web-01"
    (root / "records").mkdir(parents=True)
    (root / "records" / "docs").mkdir()
    copy = root / "records" / "docs" / marker.name
    copy.write_text(marker.read_text())

    def statuses(now: dt.datetime) -> tuple[list[dict[str, Any]], checklist.Report]:
        rows: list[dict[str, Any]] = []
        report = checklist.build(root.parent, period, now, rows.append)
        return [r for r in rows if r["start"]], report

    rows, report = statuses(start.astimezone(tz) + dt.timedelta(hours=1))
    assert [(r["status"], r["log_check"]) for r in rows] == [("running", "no record")]
    assert report.kpis()["total"]["running"] == 1
    assert report.kpis()["total"]["failed"] == 0

    rows, report = statuses(start.astimezone(tz) + dt.timedelta(hours=30))
    assert [r["status"] for r in rows] == ["interrupted"]
    assert report.kpis()["total"]["failed"] == 1
    page = html.render(rows, report.kpis(), None, "id")
    assert "terputus" in page
    assert "tidak pernah selesai" in page

    borg_setup.wrapper("reap")
    record = marker.with_name(marker.name.removesuffix(agent.STARTED_SUFFIX) + ".json")
    (root / "records" / "docs" / record.name).write_text(record.read_text())
    rows, _ = statuses(start.astimezone(tz) + dt.timedelta(hours=30))
    assert [r["status"] for r in rows] == ["interrupted"]
    assert [r["record"] for r in rows] == [str(root / "records" / "docs" / record.name)]


def test_the_admins_watchdog_notifies_a_collected_marker_whose_record_never_came(
    borg_setup: BorgSetup,
) -> None:
    """The host was killed and has not been collected since its marker was: the admin's
    freshness watchdog names the run; once the record arrives (loose, or consolidated into
    the ledger) it no longer does."""
    code, _ = borg_setup.run("docs", "daily", "--on-demand")  # a fresh archive: nothing missed
    assert code == 0
    marker = kill_wrapper_mid_run(borg_setup)
    archive = marker.name.removesuffix(agent.STARTED_SUFFIX)
    started = json.loads(marker.read_text())
    started["start"] = (
        dt.datetime.fromisoformat(started["start"]) - dt.timedelta(hours=30)
    ).isoformat()
    collected = borg_setup.root / "admin-state" / "collected" / "web-01" / "records" / "docs"
    collected.mkdir(parents=True)
    (collected / marker.name).write_text(json.dumps(started))

    with webhook_receiver() as hook:
        borg_setup.config["notify"] = {"webhook_url": hook.url}
        code, report = run_maintenance(watchdog_config(borg_setup), "watchdog")

    assert code == maintenance.EXIT_FAILED, report
    (client,) = report["clients"]
    assert client["interrupted"] == [{"archive": archive, "start": started["start"]}]
    assert "started and never finished" in client["reason"]
    assert archive in json.dumps(hook.received)

    ledger = collected.parent.parent / "ledger" / "docs" / f"{started['start'][:7]}.jsonl"
    ledger.parent.mkdir(parents=True)
    ledger.write_text(json.dumps({"kind": "backup_run", "archive": archive}) + "\n")
    code, report = run_maintenance(watchdog_config(borg_setup), "watchdog")
    assert code == maintenance.EXIT_OK, report
    assert "interrupted" not in report["clients"][0]


def test_a_run_cut_off_after_borg_create_still_announces_its_archive(
    borg_setup: BorgSetup,
) -> None:
    """Killed in its post-hook: the archive exists, so the interrupted record carries the create
    step and sizes, and `bangka-backup archives` (the admin's and the restore tests' source of
    trusted archives) names it."""
    marker = kill_wrapper_mid_run(borg_setup, "post_hooks")
    archive = marker.name.removesuffix(agent.STARTED_SUFFIX)
    assert archive in borg_setup.archives()

    assert borg_setup.wrapper("reap").returncode == 0
    record = json.loads(marker.with_name(f"{archive}.json").read_text())
    assert record["status"] == "interrupted"
    assert record["steps"]["create"]["exit_code"] == 0
    assert record["archive_stats"]["nfiles"] > 0
    assert "borg create had finished" in record["reason"]
    assert records.validate(record) == []
    announced = json.loads(borg_setup.wrapper("archives").stdout)
    assert archive in [a["archive"] for a in announced["archives"]]


def test_consolidation_leaves_a_start_marker_loose_for_the_watchdog(
    borg_setup: BorgSetup, tmp_path: Path
) -> None:
    marker = kill_wrapper_mid_run(borg_setup)
    code, done = borg_setup.run("docs", "daily", "--on-demand")  # reaps the marker first
    assert code == 0, done
    root = tmp_path / "collected" / "web-01" / "records" / "docs"
    root.mkdir(parents=True)
    (root / marker.name).write_text(json.dumps({**json.loads(
        marker.with_name(marker.name.removesuffix(agent.STARTED_SUFFIX) + ".json").read_text()
    ), "kind": "backup_started", "status": "running"}))  # fmt: skip
    (root / Path(done["record_path"]).name).write_text(Path(done["record_path"]).read_text())

    summary = ledger.consolidate(tmp_path / "collected")

    assert summary.moved == 1  # the run record, not the marker
    assert (root / marker.name).is_file()
