"""Restore tests against real Borg archives: they pass on good data and fail on bad."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bangka_ops.backup import records, restore_test
from tests.conftest import BorgSetup

pytestmark = pytest.mark.borg


def with_files(setup: BorgSetup, count: int = 30) -> None:
    folder = setup.source / "arsip"
    folder.mkdir()
    for i in range(count):
        (folder / f"berkas-{i:03d}.bin").write_bytes(os.urandom(4096 + i * 100))


def test_a_sample_restore_is_verified_twice_and_extrapolated(
    borg_setup: BorgSetup, tmp_path: Path
) -> None:
    with_files(borg_setup)
    borg_setup.run("docs", "daily")
    test = restore_test.RestoreTest(borg_setup.config, "docs")
    scratch_parent = tmp_path / "scratch"
    scratch_parent.mkdir()

    code, record = test.run(min_files=5, min_bytes=1, scratch_root=scratch_parent)

    assert code == restore_test.EXIT_PASSED, record
    assert record["mode"] == "sample"
    assert record["files_restored"] == 5
    assert record["verification"]["files_checked"] == 5
    assert record["verification"]["live_compared"] == 5
    assert record["archive_files"] == 32
    expected = record["restore_seconds"] * record["archive_bytes"] / record["bytes_restored"]
    assert record["extrapolated_full_restore_seconds"] == pytest.approx(expected, rel=0.01)
    assert record["rto_judged_on"] == "extrapolation from the sample"
    assert record["result"] == {"integrity": True, "rto_met": True, "rpo_met": True, "passed": True}
    assert record["scratch_removed"] is True
    assert list(scratch_parent.iterdir()) == []
    assert Path(record["record_path"]).is_file()
    assert records.validate(record, records.RESTORE_TEST_SCHEMA_FILE) == []
    # Borg logs nothing on success; the file exists so a failure's messages have a home.
    assert Path(record["log_path"]).is_file()


def test_a_full_restore_checks_every_file(borg_setup: BorgSetup) -> None:
    with_files(borg_setup, 10)
    borg_setup.run("docs", "daily")

    code, record = restore_test.RestoreTest(borg_setup.config, "docs").run(full=True)

    assert code == 0
    assert record["mode"] == "full"
    assert record["files_restored"] == record["archive_files"] == 12
    assert record["extrapolated_full_restore_seconds"] is None
    assert record["rto_judged_on"] == "full restore"
    assert records.validate(record, records.RESTORE_TEST_SCHEMA_FILE) == []


def test_restored_data_tampered_before_verification_fails(
    borg_setup: BorgSetup, tmp_path: Path
) -> None:
    with_files(borg_setup, 3)
    _, backup = borg_setup.run("docs", "daily")
    test = restore_test.RestoreTest(borg_setup.config, "docs")
    items = test.items(backup["archive"])
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    test.extract(backup["archive"], None, scratch)
    victim = scratch / items[0].path
    victim.write_bytes(b"X" + victim.read_bytes()[1:])
    (scratch / items[1].path).unlink()

    check = test.verify(items, scratch, live_root=None)

    assert not check.passed
    assert check.mismatched == [items[0].path]
    assert check.missing == [items[1].path]


def test_a_live_file_changed_behind_the_files_cache_is_reported(borg_setup: BorgSetup) -> None:
    with_files(borg_setup, 3)
    borg_setup.run("docs", "daily")
    victim = borg_setup.source / "arsip" / "berkas-001.bin"
    stat = victim.stat()
    victim.write_bytes(os.urandom(stat.st_size))  # same size ...
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ... and same mtime

    code, record = restore_test.RestoreTest(borg_setup.config, "docs").run(full=True)

    assert code == restore_test.EXIT_FAILED
    assert record["verification"]["live_mismatched"] == [str(victim).lstrip("/")]
    assert record["result"]["integrity"] is False


def test_an_archive_older_than_the_rpo_fails_the_test(borg_setup: BorgSetup) -> None:
    borg_setup.run("docs", "daily")
    borg_setup.config["policies"]["docs"]["rpo_hours"] = 0

    code, record = restore_test.RestoreTest(borg_setup.config, "docs").run(min_files=1, min_bytes=1)

    assert code == restore_test.EXIT_FAILED
    assert record["result"]["rpo_met"] is False
    assert record["result"]["integrity"] is True


def test_no_archive_yet_is_a_clear_error_from_the_command_line(borg_setup: BorgSetup) -> None:
    borg_setup.write_config()
    proc = subprocess.run(
        [
            sys.executable,
            restore_test.__file__,
            "--config",
            str(borg_setup.config_path),
            "--policy",
            "docs",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == restore_test.EXIT_FAILED
    assert "no archive of this policy yet" in proc.stdout
    record = json.loads(Path(proc.stdout.split("record: ")[1].strip()).read_text())
    assert record["status"] == "error"
    assert records.validate(record, records.RESTORE_TEST_SCHEMA_FILE) == []
