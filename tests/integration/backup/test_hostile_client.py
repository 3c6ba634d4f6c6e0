"""A client with its own key and passphrase attacks its repository; the admin's maintenance
(real Borg, the tool run as a separate process) must stop, notify and destroy nothing."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bangka_ops.backup import maintenance
from tests.conftest import BorgSetup
from tests.integration.backup.admin_helpers import (
    admin_config,
    backups,
    roll_back,
    run_maintenance,
    segment_files,
    watchdog_config,
)
from tests.receivers import webhook_receiver

pytestmark = pytest.mark.borg
JAKARTA = dt.timezone(dt.timedelta(hours=7))


def client_archive(setup: BorgSetup, name: str, when: dt.datetime, source: Path) -> None:
    """What root on the client can do with its key: any name, any --timestamp, any content."""
    stamp = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    proc = setup.borg("create", "--timestamp", stamp, f"{setup.repo}::{name}", str(source))
    assert proc.returncode == 0, proc.stderr


def stamp(when: dt.datetime) -> str:
    return when.astimezone(JAKARTA).strftime("%Y-%m-%dT%H-%M-%S")


def ledger_of(setup: BorgSetup) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (setup.root / "admin-state" / "clients" / "web-01.json").read_text()
    )
    return data


def as_client(
    setup: BorgSetup, argv: list[str], base: str = "borg-base", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """A command run with the client's passphrase and Borg state: what root on it can run."""
    return subprocess.run(
        argv,
        env={
            "BORG_PASSPHRASE": setup.passphrase,
            "BORG_BASE_DIR": str(setup.root / base),
            "PATH": "/usr/bin:/bin",
        },
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def backup_with_record(setup: BorgSetup) -> tuple[str, Path]:
    """One real backup run of the wrapper: its archive and its run record."""
    proc = setup.wrapper("run", "--policy", "docs", "--cycle", "daily", "--on-demand")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record_path = Path(proc.stdout.split("record: ")[1].split()[0])
    return json.loads(record_path.read_text())["archive"], record_path


def key_changed_and_nothing_written(setup: BorgSetup, config: Path) -> dict[str, Any]:
    """The maintenance's one finding after a key attack: key-changed, with no prune and no
    compaction (the segments are as they were)."""
    before = segment_files(setup.repo)
    code, report = run_maintenance(config)
    assert code == maintenance.EXIT_TAMPERED
    (finding,) = report["clients"][0]["findings"]
    assert finding["kind"] == "key-changed"
    assert segment_files(setup.repo) == before
    found: dict[str, Any] = finding
    return found


def kinds(report: dict[str, Any]) -> set[str]:
    return {f["kind"] for f in report["clients"][0].get("findings", [])}


def test_same_name_replacement_is_caught_by_archive_id(borg_setup: BorgSetup) -> None:
    unique = borg_setup.source / "unique.bin"
    unique.write_bytes(os.urandom(2 * 1024 * 1024))
    names = backups(borg_setup, 2)
    config = admin_config(borg_setup)
    assert run_maintenance(config, "check")[0] == 0
    verified = ledger_of(borg_setup)
    listed = json.loads(borg_setup.borg("list", "--json", str(borg_setup.repo)).stdout)
    original = next(a for a in listed["archives"] if a["name"] == names[0])
    # Delete the verified archive and make one of the same name and time holding almost nothing.
    assert borg_setup.borg("delete", f"{borg_setup.repo}::{names[0]}").returncode == 0
    decoy = borg_setup.root / "decoy"
    decoy.mkdir()
    (decoy / "hostname").write_text("web-01\n")
    client_archive(
        borg_setup, names[0], dt.datetime.fromisoformat(original["start"]).astimezone(), decoy
    )
    segments = segment_files(borg_setup.repo)

    with webhook_receiver() as hook:
        borg_setup.config["notify"] = {"webhook_url": hook.url}
        code, report = run_maintenance(admin_config(borg_setup))

    assert code == maintenance.EXIT_TAMPERED
    client = report["clients"][0]
    # Seen twice: the name now has another id, and the repository's history holds the delete.
    assert kinds(report) == {"replaced", "deleted"}
    assert client["missing"] == [names[0]]
    by_kind = {f["kind"]: f for f in client["findings"]}
    assert original["id"][:16] in by_kind["replaced"]["detail"]
    assert by_kind["deleted"]["archive"] == names[0]
    assert segment_files(borg_setup.repo) == segments  # no prune, no compaction
    assert ledger_of(borg_setup) == verified  # the baseline did not move past the attack
    (notice,) = hook.received
    assert "TAMPERED" in notice["text"] and "web-01" in notice["text"]
    noticed = {f["kind"]: f["archive"] for f in notice["summary"]["clients"][0]["findings"]}
    assert noticed == {"replaced": names[0], "deleted": names[0]}


def test_a_prune_flood_of_future_archives_prunes_nothing(borg_setup: BorgSetup) -> None:
    backups(borg_setup, 3)
    config = admin_config(borg_setup, retention={"daily": 7, "weekly": 4, "monthly": 12})
    assert run_maintenance(config)[0] == 0  # three runs of one day: the newest is kept
    names = borg_setup.archives()
    tiny = borg_setup.root / "tiny"
    tiny.mkdir()
    (tiny / "x").write_text("9 bytes!\n")
    flood = []
    for day in range(1, 8):
        when = dt.datetime(2099, 1, day, tzinfo=JAKARTA)
        flood.append(f"web-01-docs-daily-{stamp(when)}")
        client_archive(borg_setup, flood[-1], when, tiny)
    for month in range(1, 13):
        when = dt.datetime(2100, month, 1, tzinfo=JAKARTA)
        flood.append(f"web-01-docs-monthly-{stamp(when)}")
        client_archive(borg_setup, flood[-1], when, tiny)
    segments = segment_files(borg_setup.repo)

    code, report = run_maintenance(config)

    assert code == maintenance.EXIT_TAMPERED
    assert kinds(report) == {"future-dated", "burst"}
    assert {f["archive"] for f in report["clients"][0]["findings"]} >= set(flood)
    assert set(names) <= set(borg_setup.archives())  # every real archive is still there
    assert segment_files(borg_setup.repo) == segments

    # The watchdog does not call the flood fresh: it counts for nothing and is reported.
    for name in names:  # the real backups are now two days old by the admin's clock
        assert borg_setup.borg("delete", f"{borg_setup.repo}::{name}").returncode == 0
    code, report = run_maintenance(watchdog_config(borg_setup), "watchdog")
    assert code == maintenance.EXIT_FAILED
    client = report["clients"][0]
    assert len(client["future_dated"]) == len(flood)
    assert "dated in the future" in client["reason"]
    assert "no daily archive at all" in client["reason"]


def test_backdated_burst_and_foreign_archives_are_findings(borg_setup: BorgSetup) -> None:
    backups(borg_setup, 1)
    config = admin_config(borg_setup)
    assert run_maintenance(config, "check")[0] == 0
    now = dt.datetime.now(JAKARTA)
    backdated = f"web-01-docs-daily-{stamp(now - dt.timedelta(days=3))}"
    client_archive(borg_setup, backdated, now - dt.timedelta(days=3), borg_setup.source)
    client_archive(borg_setup, "evil", now, borg_setup.source)
    client_archive(borg_setup, f"db-01-docs-daily-{stamp(now)}", now, borg_setup.source)

    code, report = run_maintenance(config)

    assert code == maintenance.EXIT_TAMPERED
    found = {(f["kind"], f["archive"]) for f in report["clients"][0]["findings"]}
    assert ("backdated", backdated) in found
    assert ("foreign", "evil") in found
    assert ("foreign", f"db-01-docs-daily-{stamp(now)}") in found

    for name in (backdated, "evil", f"db-01-docs-daily-{stamp(now)}"):
        assert borg_setup.borg("delete", f"{borg_setup.repo}::{name}").returncode == 0
    for second in range(6):  # six "daily" runs within a minute: more than any schedule
        when = now + dt.timedelta(seconds=second)
        client_archive(borg_setup, f"web-01-docs-daily-{stamp(when)}", when, borg_setup.source)
    code, report = run_maintenance(config)
    assert code == maintenance.EXIT_TAMPERED
    # (the three deleted above are in the repository history too)
    assert kinds(report) == {"burst", "deleted"}
    (burst,) = [f for f in report["clients"][0]["findings"] if f["kind"] == "burst"]
    assert "6 new docs daily archives" in burst["detail"]


def test_prune_waits_for_the_next_check_before_compacting(borg_setup: BorgSetup) -> None:
    # One local repository: the client's deletes write what --append-only would (Borg 1.2
    # frees nothing before a compaction); the admin's compaction is a real one.
    names = backups(borg_setup, 3)
    config = admin_config(borg_setup, retention={"daily": 1})

    code, report = run_maintenance(config)
    assert code == 0, report
    first = report["clients"][0]
    assert first["pruned"] == sorted(names[:2]) and "compacted" not in first
    assert ledger_of(borg_setup)["compact_due"] is True
    verified_at = first["verified_at"]

    # Before the next check, the client deletes the archive retention kept.
    time.sleep(0.05)
    assert borg_setup.wrapper("borg", "delete", f"::{names[2]}").returncode == 0
    code, report = run_maintenance(config)
    assert code == maintenance.EXIT_TAMPERED
    assert report["clients"][0]["missing"] == [names[2]]
    assert "compacted" not in report["clients"][0]

    # Nothing was compacted: the rollback to the last verification brings back the archive the
    # client deleted; the two the admin pruned stay pruned (their space is freed next).
    roll_back(borg_setup, verified_at)
    assert borg_setup.archives() == [names[2]]
    code, report = run_maintenance(config)
    assert code == 0, report
    assert report["clients"][0]["compacted"] is True
    assert report["clients"][0]["pruned"] == []
    assert borg_setup.archives() == [names[2]]
    assert ledger_of(borg_setup)["compact_due"] is False


def test_accept_makes_the_repository_as_it_is_the_baseline(borg_setup: BorgSetup) -> None:
    names = backups(borg_setup, 2)
    config = admin_config(borg_setup)
    assert run_maintenance(config, "check")[0] == 0
    assert borg_setup.borg("delete", f"{borg_setup.repo}::{names[0]}").returncode == 0
    assert run_maintenance(config, "check")[0] == maintenance.EXIT_TAMPERED

    base = [sys.executable, maintenance.__file__, "--config", str(config), "accept"]
    refused = subprocess.run(
        [*base, "--client", "web-01", "--reason", " "], capture_output=True, text=True, check=False
    )
    assert refused.returncode == maintenance.EXIT_USAGE and "--reason" in refused.stderr
    accepted = subprocess.run(
        [*base, "--client", "web-01", "--reason", "ticket 42: disk replaced, archive lost"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert accepted.returncode == 0, accepted.stderr
    assert "2 finding(s) accepted" in accepted.stdout  # disappeared, and deleted in the history
    entries = ledger_of(borg_setup)["archives"].values()
    (given_up,) = [e for e in entries if e["name"] == names[0]]
    assert given_up["state"] == "given-up" and "ticket 42" in given_up["accepted"]
    assert run_maintenance(config, "check")[0] == 0


def test_a_damaged_ledger_entry_is_named(borg_setup: BorgSetup) -> None:
    backups(borg_setup, 1)
    config = admin_config(borg_setup)
    state = borg_setup.root / "admin-state" / "clients" / "web-01.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"archives": {"abc": {"name": "x"}}}))

    code, report = run_maintenance(config)

    assert code == maintenance.EXIT_FAILED
    assert f"{state}: archives.abc" in report["clients"][0]["reason"]
    # The watchdog fails that client naming the file too, instead of stopping for all.
    code, report = run_maintenance(watchdog_config(borg_setup), "watchdog")
    assert code == maintenance.EXIT_FAILED
    assert report["clients"][0]["status"] == "failed"
    assert f"{state}: archives.abc" in report["clients"][0]["reason"]


def test_a_version_1_baseline_is_still_enforced_then_upgraded(borg_setup: BorgSetup) -> None:
    names = backups(borg_setup, 2)
    config = admin_config(borg_setup)
    state = borg_setup.root / "admin-state" / "clients" / "web-01.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"verified_at": None, "archives": names, "pruned": []}))
    assert borg_setup.borg("delete", f"{borg_setup.repo}::{names[0]}").returncode == 0

    code, report = run_maintenance(config, "check")
    assert code == maintenance.EXIT_TAMPERED
    assert report["clients"][0]["missing"] == [names[0]]

    state.write_text(json.dumps({"verified_at": None, "archives": names[1:], "pruned": []}))
    assert run_maintenance(config, "check")[0] == 0
    ledger = ledger_of(borg_setup)
    assert ledger["schema_version"] == 2
    assert [e["name"] for e in ledger["archives"].values()] == [names[1]]


def test_a_rewritten_key_is_tampering_and_the_escrowed_key_restores_it(
    borg_setup: BorgSetup,
) -> None:
    names = backups(borg_setup, 1)
    escrow = borg_setup.root / "escrow.key"
    assert borg_setup.borg("key", "export", str(borg_setup.repo), str(escrow)).returncode == 0
    config = admin_config(borg_setup)
    assert run_maintenance(config, "check")[0] == 0
    # The client re-encrypts the repository key under a passphrase only it knows.
    changed = subprocess.run(
        ["borg", "key", "change-passphrase", str(borg_setup.repo)],
        env={
            "BORG_PASSPHRASE": borg_setup.passphrase,
            "BORG_NEW_PASSPHRASE": "only-the-attacker-knows-this",
            "BORG_BASE_DIR": str(borg_setup.root / "borg-base"),
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert changed.returncode == 0, changed.stderr
    finding = key_changed_and_nothing_written(borg_setup, config)
    assert "backup_key_restore.yml" in finding["detail"]

    base = [sys.executable, maintenance.__file__, "--config", str(config), "key-import"]
    missing = subprocess.run(
        [*base, "--client", "web-01", "--key-file", str(borg_setup.root / "nope")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == maintenance.EXIT_USAGE
    assert "no escrowed key file" in missing.stderr
    restored = subprocess.run(
        [*base, "--client", "web-01", "--key-file", str(escrow), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert json.loads(restored.stdout)["clients"][0]["status"] == "restored"
    assert run_maintenance(config, "check")[0] == 0
    assert borg_setup.archives() == names


def test_an_archive_made_and_deleted_between_two_checks_is_found_in_the_history(
    borg_setup: BorgSetup,
) -> None:
    """Attack 3: after the admin's check the agent makes a backup; root on the agent deletes it
    and its run record before the next check. The announced list never names it; the
    repository's segments do."""
    backups(borg_setup, 1)
    config = admin_config(borg_setup)
    code, report = run_maintenance(config)
    assert code == 0 and report["clients"][0]["history"] == "baseline", report
    unique = borg_setup.source / "unique.bin"
    unique.write_bytes(os.urandom(2 * 1024 * 1024))
    made, record_path = backup_with_record(borg_setup)
    assert borg_setup.borg("delete", f"{borg_setup.repo}::{made}").returncode == 0
    record_path.unlink()  # the announcement goes too
    verified = ledger_of(borg_setup)
    segments = segment_files(borg_setup.repo)

    with webhook_receiver() as hook:
        borg_setup.config["notify"] = {"webhook_url": hook.url}
        code, report = run_maintenance(admin_config(borg_setup))

    assert code == maintenance.EXIT_TAMPERED
    client = report["clients"][0]
    assert kinds(report) == {"deleted"}
    # The transaction that deleted, and (read from the manifests with the admin's key) the
    # archive it deleted, by name.
    assert {f["archive"] for f in client["findings"]} == {
        "(archives made after the admin's last check)",
        made,
    }
    assert all("not by the admin" in f["detail"] for f in client["findings"])
    assert segment_files(borg_setup.repo) == segments  # nothing pruned or compacted
    assert ledger_of(borg_setup) == verified
    assert f"backup_rollback_to={client['rollback_to']}" in client["reason"]
    (notice,) = hook.received
    assert notice["summary"]["clients"][0]["findings"][0]["kind"] == "deleted"
    # Every run says it again until someone acts.
    assert run_maintenance(config)[0] == maintenance.EXIT_TAMPERED

    # The documented rollback, to the time the finding names, brings the archive back whole.
    roll_back(borg_setup, client["rollback_to"])
    assert made in borg_setup.archives()
    out = borg_setup.root / "out"
    out.mkdir()
    extracted = as_client(borg_setup, ["borg", "extract", f"{borg_setup.repo}::{made}"], cwd=out)
    assert extracted.returncode == 0, extracted.stderr
    assert (out / str(unique).lstrip("/")).read_bytes() == unique.read_bytes()
    code, report = run_maintenance(config)
    assert code == 0, report
    assert made in {e["name"] for e in ledger_of(borg_setup)["archives"].values()}


def test_another_key_under_the_same_passphrase_is_a_changed_key(borg_setup: BorgSetup) -> None:
    """Through append-only, a client may store any key in the repository's config (Borg's
    save_key call): here one of another repository, under the same passphrase, so Borg still
    opens it and only its MAC check fails. The admin compares the stored key itself."""
    backups(borg_setup, 1)
    config = admin_config(borg_setup)
    assert run_maintenance(config, "check")[0] == 0
    other = borg_setup.root / "other"
    made = as_client(borg_setup, ["borg", "init", "-e", "repokey", str(other)], base="other-base")
    assert made.returncode == 0, made.stderr
    key_line = next(
        line for line in (other / "config").read_text().splitlines() if line.startswith("key =")
    )
    config_file = borg_setup.repo / "config"
    lines = config_file.read_text().splitlines()
    config_file.write_text(
        "\n".join(key_line if line.startswith("key =") else line for line in lines) + "\n"
    )
    finding = key_changed_and_nothing_written(borg_setup, config)
    assert "changed since the admin's last check" in finding["detail"]


HIDE = """
import sys
from borg.logger import setup_logging
setup_logging(level="error")
from borg.helpers import Manifest
from borg.repository import Repository
with Repository(sys.argv[1], exclusive=True) as repository:
    manifest, key = Manifest.load(repository, Manifest.NO_OPERATION_CHECK)
    del manifest.archives[sys.argv[2]]
    manifest.write()
    repository.commit(compact=False)
"""


def test_an_archive_dropped_from_the_manifest_without_a_delete_is_found_hidden(
    borg_setup: BorgSetup,
) -> None:
    """A modified client (Borg's own code, the client's key) writes a manifest without the
    archive it made since the admin's check: no object is deleted, so only the manifests the
    repository committed since then, read with the admin's key, show it existed."""
    backups(borg_setup, 1)
    config = admin_config(borg_setup)
    assert run_maintenance(config)[0] == 0
    unique = borg_setup.source / "unique.bin"
    unique.write_bytes(os.urandom(1024 * 1024))
    made, record_path = backup_with_record(borg_setup)
    hide = as_client(
        borg_setup, ["/usr/bin/python3", "-Es", "-c", HIDE, str(borg_setup.repo), made]
    )
    assert hide.returncode == 0, hide.stderr
    record_path.unlink()
    assert made not in borg_setup.archives()

    code, report = run_maintenance(config)

    assert code == maintenance.EXIT_TAMPERED
    client = report["clients"][0]
    (finding,) = client["findings"]
    assert (finding["kind"], finding["archive"]) == ("hidden", made)
    assert f"backup_rollback_to={client['rollback_to']}" in client["reason"]

    roll_back(borg_setup, client["rollback_to"])
    assert made in borg_setup.archives()
    code, report = run_maintenance(config)
    assert code == 0, report["clients"]
