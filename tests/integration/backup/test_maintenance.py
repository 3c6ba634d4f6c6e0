"""Admin-side maintenance and rollback against real Borg repositories."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bangka_ops.backup import maintenance, rollback
from tests.conftest import BorgSetup
from tests.integration.backup.admin_helpers import (
    admin_config,
    backups,
    run_maintenance,
    segment_files,
    watchdog_config,
)
from tests.receivers import webhook_receiver

pytestmark = pytest.mark.borg


def test_clean_repository_is_verified_and_pruned_per_retention(borg_setup: BorgSetup) -> None:
    names = backups(borg_setup, 3)
    config = admin_config(borg_setup, retention={"daily": 1})

    code, report = run_maintenance(config)

    assert code == 0, report
    client = report["clients"][0]
    assert client["status"] == "ok"
    assert client["pruned"] == sorted(names[:2])
    assert borg_setup.archives() == [names[2]]
    # The admin's own pruning is not mistaken for tampering next time.
    code, report = run_maintenance(config)
    assert code == 0
    assert report["clients"][0]["status"] == "ok"


def test_a_client_deletion_is_detected_and_nothing_is_compacted(borg_setup: BorgSetup) -> None:
    names = backups(borg_setup, 2)
    config = admin_config(borg_setup)
    assert run_maintenance(config, "check")[0] == 0
    assert borg_setup.wrapper("borg", "delete", f"::{names[0]}").returncode == 0
    segments_before = segment_files(borg_setup.repo)

    with webhook_receiver() as hook:
        borg_setup.config["notify"] = {"webhook_url": hook.url}
        config = admin_config(borg_setup)
        code, report = run_maintenance(config)

    assert code == maintenance.EXIT_TAMPERED
    client = report["clients"][0]
    assert client["status"] == "tampered"
    assert client["missing"] == [names[0]]
    assert "backup_rollback.yml" in client["reason"]
    assert segment_files(borg_setup.repo) == segments_before
    assert hook.received[0]["summary"]["status"] == "tampered"
    assert report["notifications"][0]["delivered"] is True
    assert Path(report["report_path"]).exists()


def test_an_announced_archive_that_never_reached_the_admin_is_missed_too(
    borg_setup: BorgSetup,
) -> None:
    backups(borg_setup, 1)
    config = admin_config(borg_setup)
    announced = json.loads(borg_setup.wrapper("archives", check=True).stdout)
    announced["archives"].append({"archive": "web-01-docs-daily-2025-01-01T01-00-00", "end": None})
    state = borg_setup.root / "admin-state" / "announced"
    state.mkdir(parents=True)
    (state / "web-01.json").write_text(json.dumps(announced))

    code, report = run_maintenance(config, "check")

    assert code == maintenance.EXIT_TAMPERED
    assert report["clients"][0]["missing"] == ["web-01-docs-daily-2025-01-01T01-00-00"]


def test_rollback_restores_archives_a_client_deleted(borg_setup: BorgSetup) -> None:
    # The server's borg serve --append-only, on a local repository.
    assert borg_setup.borg("config", str(borg_setup.repo), "append_only", "1").returncode == 0
    names = backups(borg_setup, 2)
    config = admin_config(borg_setup)
    code, report = run_maintenance(config, "check")
    assert code == 0
    verified_at = report["clients"][0]["verified_at"]
    time.sleep(0.05)
    assert borg_setup.wrapper("borg", "delete", f"::{names[0]}").returncode == 0
    assert borg_setup.archives() == [names[1]]

    plan = rollback.main([str(borg_setup.repo), "--to", verified_at])
    assert plan == 0
    assert rollback.main([str(borg_setup.repo), "--to", verified_at, "--apply"]) == 0
    # The client's cache and replay protection remember the deletion: reset them, as the
    # rollback playbook does on the client and on the admin host.
    repo_id = (borg_setup.repo / "config").read_text().split("id = ")[1].split()[0]
    base = borg_setup.root / "borg-base"
    shutil.rmtree(base / ".cache" / "borg" / repo_id)
    (base / ".config" / "borg" / "security" / repo_id / "manifest-timestamp").unlink()

    assert borg_setup.archives() == names
    assert borg_setup.borg("check", str(borg_setup.repo)).returncode == 0
    assert list(borg_setup.root.glob("repo.quarantine-*"))
    code, report = run_maintenance(config, "check")
    assert code == 0, report
    # The client backs up again after the rollback.
    code, record = borg_setup.run("docs", "daily", "--on-demand")
    assert code == 0, record.get("reason")


def test_rollback_refuses_a_time_without_offset_and_a_non_repository(tmp_path: Path) -> None:
    assert rollback.main([str(tmp_path), "--to", "2025-05-12T12:00:00"]) == rollback.EXIT_USAGE
    assert (
        rollback.main([str(tmp_path), "--to", dt.datetime.now(dt.UTC).isoformat()])
        == rollback.EXIT_USAGE
    )


def test_clients_of_the_wrong_type_are_refused_naming_the_field(tmp_path: Path) -> None:
    config = tmp_path / "admin.json"
    config.write_text(json.dumps({"state_dir": str(tmp_path / "state"), "clients": ["web-01"]}))
    proc = subprocess.run(
        [sys.executable, maintenance.__file__, "--config", str(config), "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == maintenance.EXIT_USAGE
    assert f"{config}: clients: must be an object" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_damaged_state_file_fails_that_client_clearly_and_is_kept(borg_setup: BorgSetup) -> None:
    backups(borg_setup, 1)
    config = admin_config(borg_setup)
    state = borg_setup.root / "admin-state" / "clients" / "web-01.json"
    state.parent.mkdir(parents=True)
    state.write_text('{"verified_at": "2025-')  # truncated by a full disk

    code, report = run_maintenance(config)

    assert code == maintenance.EXIT_FAILED
    client = report["clients"][0]
    assert client["status"] == "failed"
    assert str(state) in client["reason"] and "invalid JSON" in client["reason"]
    # The baseline is evidence: never silently replaced.
    assert state.read_text() == '{"verified_at": "2025-'


def archive_at(setup: BorgSetup, cycle: str, hours_ago: float) -> str:
    """An archive of web-01/docs whose name says it was made ``hours_ago`` (Jakarta time)."""
    when = dt.datetime.now(dt.timezone(dt.timedelta(hours=7))) - dt.timedelta(hours=hours_ago)
    name = f"web-01-docs-{cycle}-{when.strftime('%Y-%m-%dT%H-%M-%S')}"
    proc = setup.borg("create", f"{setup.repo}::{name}", str(setup.source))
    assert proc.returncode == 0, proc.stderr
    return name


def test_watchdog_is_quiet_when_every_cycle_is_fresh(borg_setup: BorgSetup) -> None:
    archive_at(borg_setup, "daily", 2)
    archive_at(borg_setup, "weekly", 3 * 24)
    archive_at(borg_setup, "monthly", 20 * 24)

    code, report = run_maintenance(watchdog_config(borg_setup), "watchdog")

    assert code == maintenance.EXIT_OK, report
    (client,) = report["clients"]
    assert client["status"] == "ok"
    (policy,) = client["policies"]
    assert policy["rpo_met"] is True
    assert all(c["fresh"] for c in policy["cycles"].values())
    assert Path(report["report_path"]).is_file()


def test_watchdog_reports_a_missed_cycle_and_a_breached_rpo(borg_setup: BorgSetup) -> None:
    with webhook_receiver() as hook:
        borg_setup.config["notify"] = {"webhook_url": hook.url}
        archive_at(borg_setup, "daily", 40)  # a host down since yesterday night
        archive_at(borg_setup, "weekly", 6 * 24)
        archive_at(borg_setup, "monthly", 45 * 24)

        code, report = run_maintenance(watchdog_config(borg_setup), "watchdog")

        assert code == maintenance.EXIT_FAILED
        (client,) = report["clients"]
        assert client["status"] == "missed"
        cycles = client["policies"][0]["cycles"]
        assert cycles["daily"]["fresh"] is False and cycles["daily"]["age_hours"] > 39
        assert cycles["weekly"]["fresh"] is True
        assert cycles["monthly"]["fresh"] is False
        assert "daily run missed" in client["reason"]
        assert "RPO breached" in client["reason"]
        (notice,) = hook.received
        assert "web-01" in notice["text"] and "MISSED" in notice["text"]


def test_a_weekly_archive_covers_that_days_daily_run(borg_setup: BorgSetup) -> None:
    archive_at(borg_setup, "weekly", 1)
    archive_at(borg_setup, "monthly", 2)

    code, report = run_maintenance(watchdog_config(borg_setup), "watchdog")

    assert code == maintenance.EXIT_OK, report["clients"][0].get("reason")


def test_a_new_clients_first_weekly_and_monthly_runs_are_not_due_yet(
    borg_setup: BorgSetup,
) -> None:
    archive_at(borg_setup, "daily", 30)
    archive_at(borg_setup, "daily", 5)

    code, report = run_maintenance(watchdog_config(borg_setup), "watchdog")

    assert code == maintenance.EXIT_OK, report["clients"][0].get("reason")
    cycles = report["clients"][0]["policies"][0]["cycles"]
    assert cycles["weekly"]["fresh"] is None and cycles["monthly"]["fresh"] is None

    archive_at(borg_setup, "daily", 8 * 24)  # history older than a week, still no weekly run
    code, report = run_maintenance(watchdog_config(borg_setup), "watchdog")
    assert code == maintenance.EXIT_FAILED
    assert "no weekly archive at all" in report["clients"][0]["reason"]
    assert "monthly" not in report["clients"][0]["reason"]


def test_watchdog_reports_an_unreachable_repository_and_a_client_with_no_archive(
    borg_setup: BorgSetup,
) -> None:
    path = watchdog_config(borg_setup)
    code, report = run_maintenance(path, "watchdog")
    assert code == maintenance.EXIT_FAILED
    assert "no daily archive at all" in report["clients"][0]["reason"]

    config = json.loads(path.read_text())
    config["clients"]["web-01"]["repository"]["location"] = str(borg_setup.root / "gone")
    path.write_text(json.dumps(config))
    code, report = run_maintenance(path, "watchdog")
    assert code == maintenance.EXIT_FAILED
    assert report["clients"][0]["status"] == "failed"
    assert "cannot list the repository" in report["clients"][0]["reason"]
