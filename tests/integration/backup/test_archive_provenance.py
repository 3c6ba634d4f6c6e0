"""Restore tests and emergency restores choose only archives the client itself made, as its
collected run records announce (issue 13, item 4): an archive planted in its repository by
another key is flagged, never restored by default. Real Borg, real wrapper runs, the real
known-archives list built from a collected tree."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bangka_ops.backup import agent, restore, restore_test
from bangka_ops.report import ledger, provenance
from tests.conftest import BorgSetup

pytestmark = pytest.mark.borg


def collect_known(setup: BorgSetup, tmp_path: Path) -> Path:
    """What collect_records.yml does: the client's records into the collection, then its known
    archives onto the restore host (here the same machine)."""
    collected = tmp_path / "collected"
    (collected / "web-01").mkdir(parents=True)
    if Path(setup.config["records_dir"]).is_dir():
        shutil.copytree(setup.config["records_dir"], collected / "web-01" / "records")
    known, problems = provenance.known_archives(collected, "web-01")
    assert not problems
    target = Path(setup.config["state_dir"]) / restore_test.KNOWN_DIR / "web-01.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    ledger.write_atomic(target, [json.dumps(known).encode()])
    return target


def plant(setup: BorgSetup, tmp_path: Path, name: str) -> None:
    """Another key (here: Borg run directly, not the wrapper) adds an archive named like the
    client's own."""
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "anggaran.csv").write_text("palsu\n")
    created = setup.borg("create", f"{setup.repo}::{name}", str(evil))
    assert created.returncode == 0, created.stderr


def soon_after(archive: str) -> str:
    """A daily archive name 30 s after ``archive``'s: the newest, yet not dated in the future
    (an archive dated in the future is never chosen at all)."""
    parsed = agent.parse_archive_name(archive)
    assert parsed is not None
    later = dt.datetime.strptime(parsed["timestamp"], "%Y-%m-%dT%H-%M-%S") + dt.timedelta(
        seconds=30
    )
    return f"{parsed['host']}-{parsed['policy']}-daily-{later.strftime('%Y-%m-%dT%H-%M-%S')}"


@pytest.fixture
def planted(borg_setup: BorgSetup, tmp_path: Path) -> tuple[str, str]:
    code, own = borg_setup.run("docs", "daily")
    assert code == 0
    name = soon_after(own["archive"])
    plant(borg_setup, tmp_path, name)
    collect_known(borg_setup, tmp_path)
    return own["archive"], name


def test_the_restore_test_chooses_the_clients_own_archive_and_flags_the_planted_one(
    borg_setup: BorgSetup, planted: tuple[str, str]
) -> None:
    own, evil = planted
    assert set(borg_setup.archives()) == {own, evil}
    code, record = restore_test.RestoreTest(borg_setup.config, "docs").run(min_files=1, min_bytes=1)
    assert code == restore_test.EXIT_PASSED, record
    assert record["archive"] == own  # not the newer planted one
    assert record["provenance"]["checked"] is True
    assert record["provenance"]["unknown_archives"] == [evil]
    assert record["provenance"]["unknown_archives_count"] == 1

    code, record = restore_test.RestoreTest(borg_setup.config, "docs").run(
        min_files=1, min_bytes=1, allow_unknown=True
    )
    assert record["archive"] == evil  # only when asked
    assert record["provenance"]["unknown_allowed"] is True


def test_an_emergency_restore_refuses_a_planted_archive_unless_asked(
    borg_setup: BorgSetup, planted: tuple[str, str], tmp_path: Path
) -> None:
    own, evil = planted
    job = restore.EmergencyRestore(borg_setup.config, "docs")
    record = job.restore(target=tmp_path / "out1", paths=[], archive=evil)
    assert record["status"] == "failed"
    assert "not announced" in record["reason"]
    assert not (tmp_path / "out1").exists() or not any((tmp_path / "out1").iterdir())

    job = restore.EmergencyRestore(borg_setup.config, "docs")
    record = job.restore(target=tmp_path / "out2", paths=[])
    assert record["status"] == "success", record
    assert record["archive"] == own
    restored = list((tmp_path / "out2").rglob("anggaran.csv"))
    assert restored and restored[0].read_text().startswith("kode,uraian")

    job = restore.EmergencyRestore(borg_setup.config, "docs")
    record = job.restore(target=tmp_path / "out3", paths=[], archive=evil, allow_unknown=True)
    assert record["status"] == "success", record


def test_only_planted_archives_means_no_test_rather_than_a_planted_one(
    borg_setup: BorgSetup, tmp_path: Path
) -> None:
    collect_known(borg_setup, tmp_path)  # the client has made nothing yet
    plant(borg_setup, tmp_path, "web-01-docs-daily-2026-01-01T00-00-00")
    code, record = restore_test.RestoreTest(borg_setup.config, "docs").run(min_files=1, min_bytes=1)
    assert code == restore_test.EXIT_FAILED
    assert "announced" in record["reason"] and "--allow-unknown-archives" in record["reason"]


def test_without_a_list_the_choice_is_unchecked_and_says_so(
    borg_setup: BorgSetup, tmp_path: Path
) -> None:
    assert borg_setup.run("docs", "daily")[0] == 0
    code, record = restore_test.RestoreTest(borg_setup.config, "docs").run(min_files=1, min_bytes=1)
    assert code == restore_test.EXIT_PASSED
    assert record["provenance"] == {"checked": False, "known_archives": None}


def test_a_list_of_another_client_is_a_configuration_error(
    borg_setup: BorgSetup, tmp_path: Path
) -> None:
    target = collect_known(borg_setup, tmp_path)
    target.write_text(json.dumps({"client": "fs01", "policies": {}}))
    with pytest.raises(agent.ConfigError, match="not the known archives of web-01"):
        restore_test.trusted_archives(borg_setup.config, "docs", [], False)


def test_learn_adds_what_the_client_announces_now_but_never_a_planted_archive(
    borg_setup: BorgSetup, tmp_path: Path
) -> None:
    """restore_test.yml and restore.yml ask the client before they choose: an archive made
    after the last collection becomes known; one made outside the wrapper still does not."""
    assert borg_setup.run("docs", "daily")[0] == 0
    collect_known(borg_setup, tmp_path)
    _, newer = borg_setup.run("docs", "weekly")  # after the collection
    planted_name = soon_after(newer["archive"])
    plant(borg_setup, tmp_path, planted_name)
    announced = borg_setup.wrapper("archives")
    assert announced.returncode == 0, announced.stderr
    learned = subprocess.run(
        [
            sys.executable,
            restore_test.__file__,
            "--config",
            str(borg_setup.config_path),
            "learn",
            "--client",
            "web-01",
        ],
        input=announced.stdout,
        capture_output=True,
        text=True,
        check=False,
    )
    assert learned.returncode == 0, learned.stderr
    assert json.loads(learned.stdout)["added"] == 1
    code, record = restore_test.RestoreTest(borg_setup.config, "docs").run(min_files=1, min_bytes=1)
    assert code == restore_test.EXIT_PASSED, record
    assert record["archive"] == newer["archive"]
    assert record["provenance"]["unknown_archives"] == [planted_name]

    other = subprocess.run(
        [
            sys.executable,
            restore_test.__file__,
            "--config",
            str(borg_setup.config_path),
            "learn",
            "--client",
            "web-01",
        ],
        input=json.dumps({"host": "fs01", "archives": []}),
        capture_output=True,
        text=True,
        check=False,
    )
    assert other.returncode == restore_test.EXIT_USAGE
    assert "not web-01's announcement" in other.stderr


def admin_ledger(collected: Path, entries: dict[str, dict[str, str]]) -> None:
    """The admin's archive ledger as collect_records.yml brings it into the collection."""
    folder = collected / provenance.ADMIN_LEDGERS
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "web-01.json").write_text(json.dumps({"schema_version": 2, "archives": entries}))


def test_the_rpo_is_judged_on_the_admin_s_first_sighting_not_on_the_archive_s_own_time(
    borg_setup: BorgSetup, tmp_path: Path
) -> None:
    code, own = borg_setup.run("docs", "daily")
    assert code == 0
    borg_setup.config["policies"]["docs"]["rpo_hours"] = 24
    code, record = restore_test.RestoreTest(borg_setup.config, "docs").run(min_files=1, min_bytes=1)
    assert code == restore_test.EXIT_PASSED and record["result"]["rpo_met"] is True

    # The admin first saw this archive two days ago (its own time claims now): stale.
    collected = tmp_path / "collected"
    two_days_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=48)).isoformat()
    admin_ledger(
        collected,
        {
            "a" * 64: {"name": own["archive"], "first_seen": two_days_ago, "state": "present"},
            "b" * 64: {"name": "not-announced", "first_seen": two_days_ago, "state": "present"},
        },
    )
    target = collect_known(borg_setup, tmp_path)
    known = json.loads(target.read_text())
    assert known["first_seen"] == {own["archive"]: two_days_ago}

    code, record = restore_test.RestoreTest(borg_setup.config, "docs").run(min_files=1, min_bytes=1)

    assert code == restore_test.EXIT_FAILED
    assert record["result"]["rpo_met"] is False and record["result"]["integrity"] is True
    assert record["newest_archive_age_hours"] >= 47


def test_a_damaged_admin_ledger_is_named_and_gives_no_first_sightings(tmp_path: Path) -> None:
    collected = tmp_path / "collected"
    (collected / "web-01").mkdir(parents=True)
    admin_ledger(collected, {"a" * 64: {"name": "x"}})
    known, problems = provenance.known_archives(collected, "web-01")
    assert known["first_seen"] == {}
    (problem,) = problems
    assert str(collected / provenance.ADMIN_LEDGERS / "web-01.json") in str(problem)
    assert "needs a name and a first_seen" in str(problem)


def test_a_first_sighting_without_an_offset_is_a_configuration_error(
    borg_setup: BorgSetup, tmp_path: Path
) -> None:
    code, _ = borg_setup.run("docs", "daily")
    assert code == 0
    target = collect_known(borg_setup, tmp_path)
    known = json.loads(target.read_text())
    known["first_seen"] = {"x": "2026-01-01T00:00:00"}
    target.write_text(json.dumps(known))
    with pytest.raises(agent.ConfigError, match=r"first_seen\.x: not a time with offset"):
        restore_test.known_archives(borg_setup.config)
