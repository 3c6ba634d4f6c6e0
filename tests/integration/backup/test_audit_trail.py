"""The audit trail: real wrapper runs (backup, check, key export), the operator tool and
protocloud append one line each to the host's audit log; `cekat audit` reads it back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bangka_ops.backup import agent, bangka_operator
from bangka_ops.backup import audit as audit_log
from tests.conftest import BorgSetup


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def cekat(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", "audit", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.borg
def test_backups_checks_key_exports_and_operator_actions_are_audited(
    borg_setup: BorgSetup, audit_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = audit_log
    code, record = borg_setup.run("docs", "daily")
    assert code == agent.EXIT_OK
    assert borg_setup.run("docs", "weekly")[0] == agent.EXIT_OK
    assert borg_setup.wrapper("key-export").returncode == 0
    entries = lines(log)
    assert [(e["kind"], e["action"], e["result"]) for e in entries] == [
        ("backup", "daily docs", "success"),
        ("backup", "weekly docs", "success"),
        ("check", "repository-only docs", "passed"),
        ("key_export", str(borg_setup.repo), "ok"),
    ]
    assert entries[0]["details"] == {"archive": record["archive"], "record": record["record_path"]}
    assert all(e["host"] and e["actor"] and e["time"] for e in entries)
    assert oct(log.stat().st_mode)[-3:] == "640"
    assert borg_setup.passphrase not in log.read_text()

    config = str(borg_setup.config_path)
    assert bangka_operator.main(["--config", config, "records", "--format", "json"]) == 0
    assert bangka_operator.main(["--config", config, "start", "backup", "nope", "daily"]) == 77
    monkeypatch.setenv("SUDO_USER", "dodi")
    assert bangka_operator.main(["--config", config, "records"]) == 77  # no --config under sudo
    operator_lines = lines(log)[4:]
    assert [(e["actor"], e["action"], e["result"]) for e in operator_lines] == [
        (os.environ.get("USER") or operator_lines[0]["actor"], "records", "ok"),
        (operator_lines[0]["actor"], "start backup", "refused"),
        ("dodi", "records --config", "refused"),
    ]

    by_kind = cekat(str(log.parent), "--kind", "backup", "--format", "json")
    assert by_kind.returncode == 0, by_kind.stderr
    assert [e["action"] for e in json.loads(by_kind.stdout)] == ["daily docs", "weekly docs"]
    assert "dodi" in cekat(str(log), "--actor", "dodi").stdout
    with log.open("a") as handle:
        handle.write('{"kind": "backup", "time": \n')
    damaged = cekat(str(log), "--since", "2000-01-01")
    assert damaged.returncode == 1
    assert f"{log}:{len(entries) + 4}: damaged line" in damaged.stderr
    assert len(damaged.stdout.splitlines()) == len(entries) + 3


def test_no_audit_log_is_made_where_none_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(agent.AUDIT_ENV, raising=False)
    monkeypatch.setattr(audit_log, "AUDIT_LOG", tmp_path / "absent" / "audit.jsonl")
    assert agent.audit("backup", "daily docs", "success") is False
    assert not (tmp_path / "absent").exists()
    (tmp_path / "absent").mkdir()
    assert agent.audit("backup", "daily docs", "success") is True
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a directory")
    monkeypatch.setenv(agent.AUDIT_ENV, str(blocked / "audit.jsonl"))
    assert agent.audit("backup", "daily docs", "success") is False  # said on stderr, no raise


MOUNTS = """\
/dev/sda1 / ext4 rw,relatime 0 0
nas01:/export/backup /mnt/backup nfs4 rw,relatime 0 0
//fs01/arsip /mnt/arsip\\040lama cifs rw 0 0
"""


def test_a_repository_on_a_network_mount_is_named_and_ssh_is_not() -> None:
    assert agent.network_mount("/mnt/backup/fs01", MOUNTS) == "nfs4 at /mnt/backup"
    assert agent.network_mount("/mnt/arsip lama/x", MOUNTS) == "cifs at /mnt/arsip lama"
    assert agent.network_mount("/srv/bangka-borg/fs01", MOUNTS) is None
    assert agent.network_mount("/mnt/backupx", MOUNTS) is None
    assert agent.network_mount("ssh://borg@backup01:22/srv/borg/repos/fs01", MOUNTS) is None
    assert agent.network_mount("borg@backup01:/srv/borg/repos/fs01", MOUNTS) is None


@pytest.mark.borg
def test_the_wrapper_refuses_a_repository_on_a_network_mount_unless_allowed(
    borg_setup: BorgSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real run: the repository path is reported as NFS (the mount table is the wrapper's only
    view of it; here it comes from a file the test writes, via the wrapper's own function)."""
    mounts = borg_setup.root / "mounts"
    mounts.write_text(f"nas01:/export {borg_setup.repo.parent} nfs4 rw 0 0\n")
    assert agent.network_mount(str(borg_setup.repo), mounts.read_text()) is not None
    real = agent.network_mount
    monkeypatch.setattr(agent, "network_mount", lambda loc, m=None: real(loc, mounts.read_text()))
    run = agent.Run(borg_setup.config, "docs", "daily", borg_setup.config_path)
    code, record = run.execute(on_demand=True)
    assert code != agent.EXIT_OK and record["status"] == "failed"
    assert "network file system (nfs4 at" in record["reason"]
    borg_setup.config["repository"]["allow_network_mount"] = True
    run = agent.Run(borg_setup.config, "docs", "daily", borg_setup.config_path)
    assert run.execute(on_demand=True)[1]["status"] == "success"


def test_audit_cut_forwards_whole_lines_once_and_a_rotated_log_from_its_start(
    tmp_path: Path,
) -> None:
    logs, out = tmp_path / "logs", tmp_path / "out"
    logs.mkdir()
    log = logs / "audit.jsonl"
    log.write_bytes(b'{"kind": "backup", "n": 1}\n{"kind": "backup", "n": 2}\n{"kind": "bac')
    first = agent.audit_cut(logs, {}, out)
    (chunk,) = first["chunks"]
    assert (out / chunk).read_bytes().count(b"\n") == 2  # the half-written line waits
    with log.open("ab") as handle:
        handle.write(b'kup", "n": 3}\n')
    second = agent.audit_cut(logs, first["offsets"], out)
    (chunk2,) = second["chunks"]
    assert (out / chunk2).read_bytes() == b'{"kind": "backup", "n": 3}\n'
    assert agent.audit_cut(logs, second["offsets"], out)["chunks"] == []  # nothing twice
    rotated = logs / "audit.jsonl.new"  # logrotate: a new file, already longer than the offset
    rotated.write_bytes(b'{"kind": "prune", "n": %d}\n' % 4 * 10)
    log.rename(logs / "audit.jsonl.1")
    rotated.rename(log)
    third = agent.audit_cut(logs, second["offsets"], out)
    (chunk3,) = third["chunks"]
    assert (out / chunk3).read_bytes() == log.read_bytes()  # from the start: no line skipped
