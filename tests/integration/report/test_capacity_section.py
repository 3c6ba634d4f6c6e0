"""The capacity forecast from real runs: `borg create --json` of Borg 1.2 and 1.4 on a real
repository, ten runs each adding about a MiB. The runs are real, the days are not: each record
is dated one day after the other (a test cannot wait ten days), its sizes kept as Borg gave
them. Then `cekat report` (JSON, Prometheus textfile, HTML) and the admin's watchdog notifying a
real webhook receiver."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bangka_ops.report import capacity
from tests.conftest import BorgSetup
from tests.integration.backup.admin_helpers import run_maintenance, watchdog_config
from tests.receivers import webhook_receiver

RUNS = 10
MIB = 2**20


@pytest.fixture
def collection(borg_setup: BorgSetup, tmp_path: Path) -> tuple[Path, list[int]]:
    """A collected tree of RUNS real runs of web-01 dated a day apart (the newest an hour ago),
    and the repository sizes Borg reported."""
    records = tmp_path / "collected" / "web-01" / "records" / "docs"
    records.mkdir(parents=True)
    newest = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
    sizes = []
    for index in range(RUNS):
        (borg_setup.source / f"laporan-{index}.bin").write_bytes(os.urandom(MIB))
        code, record = borg_setup.run("docs", "daily", "--on-demand")
        assert code == 0, record.get("reason")
        sizes.append(record["borg"]["cache"]["stats"]["unique_csize"])
        record["start"] = (newest - dt.timedelta(days=RUNS - 1 - index)).isoformat()
        (records / f"{record['archive']}.json").write_text(json.dumps(record))
    return tmp_path / "collected", sizes


def quota_in_days(sizes: list[int], days: int) -> str:
    """A quota (in Borg's M) that the repository fills in about ``days`` days."""
    growth = (sizes[-1] - sizes[0]) / (len(sizes) - 1)
    return f"{(sizes[-1] + days * growth) // 10**6 + 1:.0f}M"


def cekat_report(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", "report", str(root), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_checklist_forecasts_the_repository_from_real_borg_sizes(
    collection: tuple[Path, list[int]],
) -> None:
    root, sizes = collection
    growth = (sizes[-1] - sizes[0]) / (RUNS - 1)
    assert MIB < growth < 1.2 * MIB  # a MiB of random data a run, compressed and deduplicated
    (root / ".inventory.json").write_text(
        json.dumps(
            {
                "agents": ["web-01"],
                "restore_hosts": {},
                "repositories": {
                    "web-01": {"server": "backup01", "storage_quota": quota_in_days(sizes, 12)}
                },
                "capacity": {"warn_days": 20, "warn_percent": 95},
            }
        )
    )

    proc = cekat_report(root, "--format", "json")

    assert proc.returncode in (0, 1), proc.stderr
    kpis: dict[str, Any] = json.loads(proc.stdout)["kpis"]
    (repository,) = kpis["capacity"]
    assert repository["repository"] == "web-01" and repository["server"] == "backup01"
    assert repository["size_bytes"] == sizes[-1]
    assert repository["points"] == RUNS
    assert repository["growth_bytes_per_day"] == pytest.approx(growth, rel=0.15)
    assert 10 < repository["days_until_quota_full"] < 14
    assert repository["status"] == "warning" and repository["warning"] is True
    assert kpis["capacity_thresholds"] == {"warn_days": 20, "warn_percent": 95}

    prom = cekat_report(root, "--format", "prom").stdout
    assert "# TYPE bangka_backup_repository_unique_bytes gauge" in prom
    assert f'bangka_backup_repository_unique_bytes{{repository="web-01"}} {sizes[-1]}' in prom
    assert 'bangka_backup_repository_days_until_full{repository="web-01",limit="quota"}' in prom
    assert 'bangka_backup_repository_capacity_warning{repository="web-01"} 1' in prom

    page = cekat_report(root, "--format", "html").stdout
    assert "Kapasitas repositori" in page and "PERINGATAN" in page
    english = cekat_report(root, "--format", "html", "--lang", "en").stdout
    assert "Repository capacity" in english and "Expected full on" in english


def test_a_hostile_size_is_named_and_not_used(collection: tuple[Path, list[int]]) -> None:
    root, sizes = collection
    newest = max((root / "web-01" / "records" / "docs").glob("*.json"))
    record = json.loads(newest.read_text())
    record["borg"]["cache"]["stats"]["unique_csize"] = -5
    newest.write_text(json.dumps(record))

    proc = cekat_report(root, "--format", "json")

    kpis = json.loads(proc.stdout)["kpis"]
    (repository,) = kpis["capacity"]
    assert repository["size_bytes"] == sizes[-2]  # the day before: the newest one is refused
    assert repository["quota_bytes"] is None and repository["status"] == "ok"
    assert any(
        newest.name in p and "borg.cache.stats.unique_csize: expected a whole number" in p
        for p in kpis["problems"]
    )


def test_watchdog_notifies_a_quota_about_to_fill(
    borg_setup: BorgSetup, collection: tuple[Path, list[int]]
) -> None:
    root, sizes = collection
    with webhook_receiver() as hook:
        borg_setup.config["notify"] = {"webhook_url": hook.url}
        path = watchdog_config(borg_setup)
        config = json.loads(path.read_text())
        config["collected_dir"] = str(root)
        config["clients"]["web-01"]["storage_quota"] = quota_in_days(sizes, 12)
        config["capacity"] = {"warn_days": 20, "warn_percent": 95}
        path.write_text(json.dumps(config))

        code, report = run_maintenance(path, "watchdog")

        assert code == 0, report  # fresh: the capacity notice does not change the exit code
        (repository,) = report["capacity"]
        assert repository["status"] == "warning", repository
        notices = [n for n in hook.received if "CAPACITY" in n["text"]]
        (notice,) = notices
        assert "web-01" in notice["text"]
        assert notice["summary"]["status"] == "warning"
        assert notice["summary"]["repositories"][0]["repository"] == "web-01"
        assert report["capacity_notifications"][0]["delivered"] is True

        # Under the thresholds: no capacity notice.
        config["clients"]["web-01"]["storage_quota"] = quota_in_days(sizes, 200)
        path.write_text(json.dumps(config))
        hook.received.clear()
        code, report = run_maintenance(path, "watchdog")
        assert code == 0, report
        assert report["capacity"][0]["status"] == "ok"
        assert "capacity_notifications" not in report
        assert not [n for n in hook.received if "CAPACITY" in n["text"]]


def test_a_quota_lasting_past_any_date_is_a_century_not_a_crash(
    borg_setup: BorgSetup, collection: tuple[Path, list[int]]
) -> None:
    """About a MiB a day against 9000 PB: billions of years, past the last date there is."""
    root, _ = collection
    path = watchdog_config(borg_setup)
    config = json.loads(path.read_text())
    config["collected_dir"] = str(root)
    config["clients"]["web-01"]["storage_quota"] = "9000P"
    path.write_text(json.dumps(config))

    code, report = run_maintenance(path, "watchdog")

    assert code == 0, report
    assert "capacity_error" not in report
    (repository,) = report["capacity"]
    assert repository["status"] == "ok"
    assert repository["days_until_quota_full"] == capacity.MAX_DAYS
    assert repository["quota_full_at"] is None
    (root / ".inventory.json").write_text(json.dumps({
        "agents": ["web-01"], "restore_hosts": {},
        "repositories": {"web-01": {"server": "backup01", "storage_quota": "9000P"}},
    }))  # fmt: skip
    shown = cekat_report(root, "--format", "json")
    assert shown.returncode in (0, 1), shown.stderr
    (row,) = json.loads(shown.stdout)["kpis"]["capacity"]
    assert row["days_until_quota_full"] == capacity.MAX_DAYS


def test_watchdog_refuses_a_bad_quota_before_anything_runs(borg_setup: BorgSetup) -> None:
    path = watchdog_config(borg_setup)
    config = json.loads(path.read_text())
    config["clients"]["web-01"]["storage_quota"] = "200GB"
    path.write_text(json.dumps(config))

    from bangka_ops.backup import maintenance  # noqa: PLC0415

    proc = subprocess.run(
        [sys.executable, maintenance.__file__, "--config", str(path), "watchdog"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert proc.returncode == maintenance.EXIT_USAGE
    assert "clients.web-01.storage_quota: expected a size like 200G" in proc.stderr


def test_the_admins_disk_measurement_gives_the_disk_forecast(
    borg_setup: BorgSetup, collection: tuple[Path, list[int]]
) -> None:
    """Maintenance measures the repository's segments and its file system through the gate
    (statvfs of the real disk); the checklist and the watchdog forecast the disk from it."""
    root, sizes = collection
    with webhook_receiver() as hook:
        borg_setup.config["notify"] = {"webhook_url": hook.url}
        path = watchdog_config(borg_setup)
        code, maintained = run_maintenance(path, "run")
        assert code == 0, maintained
        (client,) = maintained["clients"]
        storage = client["storage"]
        disk = os.statvfs(borg_setup.repo)
        assert storage["filesystem_bytes"] == disk.f_blocks * disk.f_frsize
        assert 0 < storage["available_bytes"] <= storage["filesystem_bytes"]
        # Measured before the prune and compaction that follow the look: at least the
        # deduplicated size, and about the segments on disk now.
        segments = sum(p.stat().st_size for p in (borg_setup.repo / "data").rglob("*")
                       if p.is_file() and p.name.isdigit())  # fmt: skip
        assert storage["segments_bytes"] >= sizes[-1]
        assert abs(storage["segments_bytes"] - segments) < 0.05 * segments

        # The checklist reads the admin's report as collect_records.yml copies it.
        (report_path,) = (borg_setup.root / "admin-state" / "runs").glob("*-maintenance_run.json")
        (root / "_admin" / "runs").mkdir(parents=True)
        (root / "_admin" / "runs" / report_path.name).write_text(report_path.read_text())
        (root / ".inventory.json").write_text(json.dumps({
            "agents": ["web-01"], "restore_hosts": {},
            "repositories": {"web-01": {"server": "backup01", "storage_quota": ""}},
            "capacity": {"warn_days": 20, "warn_percent": 99.9},
        }))  # fmt: skip
        kpis = json.loads(cekat_report(root, "--format", "json").stdout)["kpis"]
        (repository,) = kpis["capacity"]
        assert repository["disk"]["available_bytes"] == storage["available_bytes"]
        growth = repository["growth_bytes_per_day"]
        # Days, from the measurement (just now); a large disk may last past the cap.
        expected = min(storage["available_bytes"] / growth, capacity.MAX_DAYS)
        assert abs(repository["days_until_disk_full"] - expected) < max(1.0, expected * 0.01)
        prom = cekat_report(root, "--format", "prom").stdout
        assert 'bangka_backup_repository_days_until_full{repository="web-01",limit="disk"}' in prom
        assert 'bangka_backup_repository_disk_available_bytes{repository="web-01"} ' in prom
        assert "Disk server" in cekat_report(root, "--format", "html").stdout

        # A disk used past the percent threshold flags the repository and the watchdog notifies.
        used = 100 * (1 - storage["available_bytes"] / storage["filesystem_bytes"])
        config = json.loads(path.read_text())
        config["collected_dir"] = str(root)
        config["capacity"] = {"warn_days": 0, "warn_percent": max(1, int(used))}
        path.write_text(json.dumps(config))
        hook.received.clear()
        code, report = run_maintenance(path, "watchdog")
        assert code == 0, report
        (flagged,) = report["capacity"]
        assert flagged["status"] == "warning" and "of the disk used" in flagged["reasons"][-1]
        (notice,) = [n for n in hook.received if "CAPACITY" in n["text"]]
        (sent,) = notice["summary"]["repositories"]
        assert sent["repository"] == "web-01" and sent["disk"]["filesystem_id"]
        assert "of the disk used" in sent["reasons"][-1]


def test_a_hostile_disk_measurement_is_named_and_not_used(
    collection: tuple[Path, list[int]],
) -> None:
    root, _ = collection
    (root / "_admin" / "runs").mkdir(parents=True)
    report = {"schema_version": 2, "kind": "maintenance_run", "start": "2026-01-01T00:00:00+00:00",
              "clients": [{"client": "web-01", "status": "ok", "storage": {
                  "measured_at": "2026-01-01T00:00:00+00:00", "segments_bytes": 5,
                  "filesystem_bytes": 10, "available_bytes": 11,
                  "filesystem_id": "801"}}]}  # fmt: skip
    (root / "_admin" / "runs" / "2026-01-01T00-00-00-maintenance_run.json").write_text(
        json.dumps(report)
    )
    kpis = json.loads(cekat_report(root, "--format", "json").stdout)["kpis"]
    (repository,) = kpis["capacity"]
    assert repository["disk"] is None
    assert any(
        "clients[0].storage.available_bytes: more than filesystem_bytes" in p
        for p in kpis["problems"]
    )
