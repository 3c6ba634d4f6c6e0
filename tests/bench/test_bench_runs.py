"""The benchmark itself keeps working (tiny dataset; figures are not asserted)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.borg
def test_backup_benchmark_runs_end_to_end_on_a_small_dataset() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "bench" / "backup_wrapper.py"),
            "--size-mb",
            "8",
            "--rounds",
            "2",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "median ratio wrapper/plain:" in proc.stdout
    assert "monthly archive" in proc.stdout


@pytest.mark.borg
def test_restore_benchmark_runs_end_to_end_on_small_archives() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "bench" / "restore_overhead.py"),
            "--base-mb",
            "4",
            "--scales",
            "1,2",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "verification overhead (full restore test / plain borg extract; target" in proc.stdout
    assert "10 % sample (estimate / plain extract" in proc.stdout
    assert "2x: size x" in proc.stdout


def test_report_benchmark_runs_end_to_end_on_a_small_tree() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "bench" / "report.py"),
            *("--hosts", "4", "--days", "20", "--loose-hosts", "2"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "floor  (read + orjson.loads per line):" in proc.stdout
    assert "report / floor = " in proc.stdout
    assert "month as HTML (the printed form):" in proc.stdout
    assert "rows 240, missed 0" in proc.stdout
    assert "consolidate 120 loose records into the ledger" in proc.stdout


def test_agenda_benchmark_runs_end_to_end_on_a_small_agenda() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "agenda.py"), "--events", "300"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "300 event files; one core" in proc.stdout
    assert "validate, warm (1 file changed)" in proc.stdout
    assert "cold / floor = " in proc.stdout


def test_sync_benchmark_runs_end_to_end_on_a_small_agenda() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "agenda_sync.py"), "--events", "60"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "events in the calendars after the first sync: 60" in proc.stdout
    assert "0 writes (target 0)" in proc.stdout


@pytest.mark.skipif(shutil.which("ocrmypdf") is None, reason="needs Debian's ocrmypdf")
def test_archive_benchmark_runs_end_to_end_on_a_few_pages() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "bench" / "arsip.py"),
            *("--docs", "2", "--pages", "1", "--index-docs", "300", "--queries", "20"),
            *("--memory-pages", "2", "--upload-docs", "3", "--upload-kib", "16"),
            *("--web-users", "3"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ratio intake/ocrmypdf = " in proc.stdout
    assert "search: 300 documents indexed" in proc.stdout
    assert "ratio unggah/rclone = " in proc.stdout
    assert "ratio p95 page/search = " in proc.stdout
    assert "archive search      : p50" in proc.stdout
    assert "intake process peak (VmHWM):" in proc.stdout


@pytest.mark.borg
def test_database_benchmark_runs_end_to_end_on_a_small_database() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "db_backup.py"), "--rows", "2000",
         "--rounds", "1"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "median ratio wrapper/plain dump:" in proc.stdout
    assert "median ratio restore test/plain pg_restore:" in proc.stdout
