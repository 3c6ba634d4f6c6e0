"""Restore tests against real Borg archives: they pass on good data and fail on bad."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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
    # Five files are too few to fit three costs: the time is scaled by bytes (labelled).
    assert record["estimate_model"]["method"] == "bytes"
    expected = record["restore_seconds"] * record["archive_bytes"] / record["bytes_restored"]
    assert record["extrapolated_full_restore_seconds"] == pytest.approx(expected, rel=0.01)
    assert record["rto_judged_on"] == "extrapolation from the sample"
    assert record["result"] == {
        "integrity": True,
        "rto_met": True,
        "rpo_met": True,
        "dates_plausible": True,
        "databases": None,  # the policy has none
        "passed": True,
    }
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

    check = test.verify(items, scratch, None)

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


def test_an_archive_dated_in_the_future_is_never_chosen_and_fails_the_test(
    borg_setup: BorgSetup,
) -> None:
    """A client's own key can make `web-01-docs-daily-2100-...` with --timestamp 2100: Borg lists
    it as the newest. The test restores the real newest archive instead, and fails naming it."""
    code, real = borg_setup.run("docs", "daily")
    assert code == 0
    planted = "web-01-docs-daily-2100-01-01T00-00-00"
    tiny = borg_setup.root / "tiny"
    tiny.mkdir()
    (tiny / "x").write_text("9 bytes!\n")
    made = borg_setup.borg(
        "create", "--timestamp", "2099-12-31T17:00:00", f"{borg_setup.repo}::{planted}", str(tiny)
    )
    assert made.returncode == 0, made.stderr

    code, record = restore_test.RestoreTest(borg_setup.config, "docs").run(min_files=1, min_bytes=1)

    assert code == restore_test.EXIT_FAILED
    assert record["archive"] == real["archive"]
    assert record["result"]["integrity"] is True
    assert record["result"]["dates_plausible"] is False
    assert record["provenance"]["future_dated"] == [planted]
    assert planted in record["reason"] and "future" in record["reason"]
    assert record["newest_archive_age_hours"] < 1


def test_no_archive_yet_is_a_clear_error_from_the_command_line(borg_setup: BorgSetup) -> None:
    borg_setup.write_config()
    proc = subprocess.run(
        [
            sys.executable,
            restore_test.__file__,
            "--config",
            str(borg_setup.config_path),
            "run",
            "--client",
            "web-01",
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


def restore_host_config(setup: BorgSetup, tmp_path: Path) -> Path:
    """A restore host's configuration (clients) reaching the same repository."""
    policy = dict(setup.config["policies"]["docs"])
    policy["restore_test"] = {"mode": "sample", "sample_files": 4, "sample_mib": 0}
    config = {
        "schema_version": 1,
        "host": "restore-01",
        "timezone": "Asia/Jakarta",
        "records_dir": str(tmp_path / "restore-records"),
        "state_dir": str(tmp_path / "restore-state"),
        "lock_wait_seconds": 2,
        "clients": {
            "web-01": {"repository": setup.config["repository"], "policies": {"docs": policy}}
        },
    }
    path = tmp_path / "restore-config.json"
    path.write_text(json.dumps(config))
    return path


def tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, restore_test.__file__, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_a_restore_host_plans_the_client_hashes_live_and_the_host_verifies(
    borg_setup: BorgSetup, tmp_path: Path
) -> None:
    with_files(borg_setup, 12)
    borg_setup.run("docs", "daily")
    config = restore_host_config(borg_setup, tmp_path)
    plan_file = tmp_path / "plan.json"

    planned = tool(
        "--config",
        str(config),
        "plan",
        "--client",
        "web-01",
        "--policy",
        "docs",
        "--out",
        str(plan_file),
    )
    assert planned.returncode == 0, planned.stderr
    summary = json.loads(planned.stdout)
    assert summary["files_planned"] == 4  # the policy's sample settings
    assert summary["archive_files"] == 14

    # On the client (here the same machine): hashes of the unchanged live files.
    hashed = tool("live-hashes", "--plan", str(plan_file), "--root", "/")
    assert hashed.returncode == 0, hashed.stderr
    live = json.loads(hashed.stdout)
    assert len(live) == 4
    live_file = tmp_path / "live.json"
    live_file.write_text(json.dumps(live))

    run = tool(
        "--config",
        str(config),
        "run",
        "--client",
        "web-01",
        "--policy",
        "docs",
        "--plan",
        str(plan_file),
        "--live-hashes",
        str(live_file),
        "--json",
    )
    assert run.returncode == restore_test.EXIT_PASSED, run.stdout + run.stderr
    record = json.loads(run.stdout)
    assert record["restored_on"] == "restore-01"
    assert record["live_source"] == "hashed on web-01"
    assert record["verification"]["live_compared"] == 4
    assert record["record_path"].startswith(str(tmp_path / "restore-records" / "web-01"))
    assert records.validate(record, records.RESTORE_TEST_SCHEMA_FILE) == []

    # The client's live file differs from the archive though size and mtime say unchanged.
    live[next(iter(live))] = "0" * 64
    live_file.write_text(json.dumps(live))
    run = tool(
        "--config",
        str(config),
        "run",
        "--client",
        "web-01",
        "--policy",
        "docs",
        "--plan",
        str(plan_file),
        "--live-hashes",
        str(live_file),
        "--json",
    )
    assert run.returncode == restore_test.EXIT_FAILED
    record = json.loads(run.stdout)
    assert "differ from the live source" in record["reason"]


DEEP = "[" * 100_000


def test_what_other_hosts_send_nested_too_deeply_is_named_before_anything_is_restored(
    borg_setup: BorgSetup, tmp_path: Path
) -> None:
    """The client's live hashes and announcement, the admin's known archives and, on the
    client, the restore host's plan: nested too deeply for the parser, each is a configuration
    error naming the file (exit 64), never a traceback, and no test is recorded."""
    with_files(borg_setup, 2)
    borg_setup.run("docs", "daily")
    config = restore_host_config(borg_setup, tmp_path)
    deep = tmp_path / "dalam.json"
    deep.write_text(DEEP)
    on_the_host = ("--config", str(config), "run", "--client", "web-01", "--policy", "docs")

    live = tool(*on_the_host, "--live-hashes", str(deep), "--json")
    plan = tool("live-hashes", "--plan", str(deep), "--root", "/")
    for proc in (live, plan):
        assert proc.returncode == restore_test.EXIT_USAGE, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
        assert f"{deep}: invalid JSON: nested too deeply" in proc.stderr

    learn = ("--config", str(config), "learn", "--client", "web-01")
    learned = subprocess.run(
        [sys.executable, restore_test.__file__, *learn],
        input=DEEP,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert learned.returncode == restore_test.EXIT_USAGE
    assert "standard input: not JSON (nested too deeply)" in learned.stderr

    known = tmp_path / "restore-state" / restore_test.KNOWN_DIR / "web-01.json"
    known.parent.mkdir(parents=True)
    known.write_text(DEEP)
    run = tool(*on_the_host, "--json")
    assert run.returncode == restore_test.EXIT_USAGE
    assert "Traceback" not in run.stderr
    assert f"{known}: invalid JSON: nested too deeply" in run.stderr
    assert not list((tmp_path / "restore-records").rglob("*.json"))


def test_the_timer_run_tests_every_client_without_live_files_of_others(
    borg_setup: BorgSetup, tmp_path: Path
) -> None:
    with_files(borg_setup, 5)
    borg_setup.run("docs", "daily")
    config = restore_host_config(borg_setup, tmp_path)

    run = tool("--config", str(config), "run", "--all", "--json")

    assert run.returncode == restore_test.EXIT_PASSED, run.stdout + run.stderr
    (record,) = [json.loads(line) for line in run.stdout.splitlines()]
    assert record["live_source"] is None  # web-01's files are not on restore-01
    assert record["verification"]["files_checked"] == 4


def test_a_plan_for_another_client_and_an_unknown_client_are_refused(
    borg_setup: BorgSetup, tmp_path: Path
) -> None:
    config = restore_host_config(borg_setup, tmp_path)
    unknown = tool("--config", str(config), "run", "--client", "db-01", "--policy", "docs")
    assert unknown.returncode == restore_test.EXIT_USAGE
    assert "unknown client 'db-01' (known: web-01)" in unknown.stderr

    with_files(borg_setup, 2)
    borg_setup.run("docs", "daily")
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "kind": "restore_test_plan",
                "host": "db-01",
                "policy": "docs",
                "items": [],
            }
        )
    )
    run = tool(
        "--config",
        str(config),
        "run",
        "--client",
        "web-01",
        "--policy",
        "docs",
        "--plan",
        str(plan),
        "--json",
    )
    assert run.returncode == restore_test.EXIT_FAILED
    assert "the plan is for db-01/docs" in json.loads(run.stdout)["reason"]


def test_borgs_hashes_are_listed_beside_the_extract_or_after_it_on_one_core(
    borg_setup: BorgSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_files(borg_setup, 6)
    borg_setup.run("docs", "daily")

    code, record = restore_test.RestoreTest(borg_setup.config, "docs").run(full=True)
    assert code == 0, record
    assert record["borg_hashes"] == "listed beside the extract"
    assert record["verification"]["files_checked"] == record["archive_files"] == 8

    monkeypatch.setattr(restore_test, "usable_cores", lambda: 1)
    code, record = restore_test.RestoreTest(borg_setup.config, "docs").run(full=True)
    assert code == 0, record
    assert record["borg_hashes"] == "listed after the extract"
    assert record["verification"]["files_checked"] == 8


@pytest.mark.parametrize("full", [True, False])
def test_a_file_lost_or_altered_after_the_extract_fails_the_test(
    borg_setup: BorgSetup, monkeypatch: pytest.MonkeyPatch, full: bool
) -> None:
    """The file list of a full test comes from Borg's listing beside the extract; a restored
    file that is gone or differs is still caught, in both modes."""
    with_files(borg_setup, 6)
    borg_setup.run("docs", "daily")
    extract = restore_test.RestoreTest.extract
    damaged: dict[str, str] = {}

    def extract_then_damage(
        self: restore_test.RestoreTest, archive: str, selection: Any, scratch: Path
    ) -> float:
        seconds = extract(self, archive, selection, scratch)
        files = sorted(p for p in scratch.rglob("*") if p.is_file())
        files[0].unlink()
        files[1].write_bytes(b"X" + files[1].read_bytes()[1:])
        damaged.update(gone=files[0].relative_to(scratch).as_posix())
        damaged.update(altered=files[1].relative_to(scratch).as_posix())
        return seconds

    monkeypatch.setattr(restore_test.RestoreTest, "extract", extract_then_damage)
    test = restore_test.RestoreTest(borg_setup.config, "docs")
    code, record = test.run(full=full, min_files=8, min_bytes=1)

    assert code == restore_test.EXIT_FAILED
    assert record["verification"]["missing"] == [damaged["gone"]]
    assert record["verification"]["mismatched"] == [damaged["altered"]]
    assert record["result"]["integrity"] is False


def test_a_larger_sample_fits_per_file_and_per_byte_costs_from_borgs_stamps(
    borg_setup: BorgSetup,
) -> None:
    with_files(borg_setup, 40)
    borg_setup.run("docs", "daily")

    code, record = restore_test.RestoreTest(borg_setup.config, "docs").run(
        min_files=20, min_bytes=1
    )

    assert code == restore_test.EXIT_PASSED, record
    model = record["estimate_model"]
    assert model["method"] == "per file and per byte, fitted"
    assert model["files_timed"] == record["files_restored"] - 1  # between consecutive starts
    expected = (
        model["fixed_seconds"]
        + model["per_file_seconds"] * record["archive_files"]
        + model["per_mib_seconds"] * record["archive_bytes"] / 2**20
    )
    assert record["extrapolated_full_restore_seconds"] == pytest.approx(expected, rel=0.01)
    assert 0 < model["fixed_seconds"] <= record["restore_seconds"]
    assert records.validate(record, records.RESTORE_TEST_SCHEMA_FILE) == []
