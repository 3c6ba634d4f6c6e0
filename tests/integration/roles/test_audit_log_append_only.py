"""The host audit logs are root:adm 0640 and append-only (chattr +a) where the kernel allows it.

Runs the real role `audit_log` (which every role that keeps an audit log includes) with
ansible-playbook against this machine, the logs placed in a directory of the test (on the
machine's own file system), and then the kernel's answer: the writer's O_APPEND line still
lands, a write without O_APPEND, a truncation, a rename and an unlink fail with EPERM. Skipped,
with the reason, where this file system or this process cannot set the flag."""

from __future__ import annotations

import errno
import grp
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bangka_ops.backup import audit as audit_log
from tests.conftest import REPO_ROOT

# Each role that keeps an audit log, and the files it hands to the role audit_log.
ROLES = {
    "borg_agent": ["__borg_agent_audit_log"],
    "borg_admin": ["__borg_admin_audit_log"],
    "borg_restore_test": ["__borg_restore_test_audit_log"],
    "agenda_sync": ["agenda_sync_audit_log", "__agenda_sync_audit_rejects"],
    "admin_access": ["admin_access_audit_log"],
    "arsip": ["arsip_audit_log", "__arsip_audit_rejects"],
}


def attributes(path: Path) -> str:
    proc = subprocess.run(["lsattr", "-d", str(path)], capture_output=True, text=True, check=True)
    return proc.stdout.split()[0]


def lift(path: Path) -> None:
    """Undo the flag so the test's directory can be removed."""
    if path.exists():
        subprocess.run(["chattr", "-a", str(path)], capture_output=True, check=False)


@pytest.fixture
def kernel_allows_append_only(tmp_path: Path) -> Iterator[None]:
    probe = tmp_path / "probe"
    probe.touch()
    proc = subprocess.run(["chattr", "+a", str(probe)], capture_output=True, text=True, check=False)
    lift(probe)
    if proc.returncode != 0:
        pytest.skip(f"chattr +a refused on {tmp_path}: {proc.stderr.strip()}")
    yield


def run_role(tmp_path: Path, variables: dict[str, Any], path: str | None = None) -> str:
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "The audit log role",
                    "hosts": "all",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": "Run them",
                            "ansible.builtin.include_role": {"name": "audit_log"},
                        }
                    ],
                }
            ]
        )
    )
    (tmp_path / "vars.yml").write_text(yaml.safe_dump(variables))
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            "ansible_python_interpreter=/usr/bin/python3",
            "-e",
            f"@{tmp_path / 'vars.yml'}",
            str(playbook),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
            "ANSIBLE_ROLES_PATH": str(REPO_ROOT / "roles"),
            "PATH": path or os.environ["PATH"],
        },
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return proc.stdout


def changed(output: str) -> int:
    recap = output[output.rindex("PLAY RECAP") :]
    return int(recap.split("changed=")[1].split()[0])


def test_the_role_makes_the_logs_root_adm_0640_and_append_only(
    tmp_path: Path, kernel_allows_append_only: None
) -> None:
    logs = [tmp_path / "log" / "protocloud.jsonl", tmp_path / "log" / "protocloud.jsonl.rejected"]
    variables = {"audit_log_files": [str(p) for p in logs], "audit_log_append_only": True}
    try:
        first = run_role(tmp_path, variables)
        again = run_role(tmp_path, variables)
        assert changed(first) > 0
        assert changed(again) == 0, again  # idempotent: the flag is seen as set
        for log in logs:
            info = log.stat()
            assert (info.st_uid, grp.getgrgid(info.st_gid).gr_name) == (0, "adm")
            assert oct(info.st_mode & 0o7777) == "0o640"
            assert "a" in attributes(log)
        assert oct(logs[0].parent.stat().st_mode & 0o7777) == "0o755"

        # A mode changed by hand (flag lifted, chmod, flag back): the kernel refuses chmod on
        # an append-only file, so the role lifts the flag, repairs the mode and sets it again.
        lift(logs[0])
        logs[0].chmod(0o666)
        subprocess.run(["chattr", "+a", str(logs[0])], check=True)
        run_role(tmp_path, variables)
        assert oct(logs[0].stat().st_mode & 0o7777) == "0o640"
        assert "a" in attributes(logs[0])
    finally:
        for log in logs:
            lift(log)


def test_without_the_flag_the_role_leaves_the_attributes_alone(tmp_path: Path) -> None:
    log = tmp_path / "log" / "audit.jsonl"
    run_role(tmp_path, {"audit_log_files": [str(log)], "audit_log_append_only": False})
    assert log.exists()
    assert "a" not in attributes(log)


def test_a_file_system_that_refuses_the_flag_stops_the_role_saying_what_to_set(
    tmp_path: Path,
) -> None:
    """No file system here refuses the flag (tmpfs takes it too), so chattr is the one part
    replaced: a chattr first on PATH that answers as it does on NFS or overlayfs."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "chattr").write_text(
        '#!/bin/sh\necho "chattr: Operation not supported while setting flags on $2" >&2\nexit 1\n'
    )
    (fake / "chattr").chmod(0o755)
    log = tmp_path / "log" / "audit.jsonl"
    with pytest.raises(AssertionError) as failed:
        run_role(
            tmp_path,
            {"audit_log_files": [str(log)], "audit_log_append_only": True},
            path=f"{fake}:{os.environ['PATH']}",
        )
    assert "chattr +a was refused (chattr: Operation not supported" in str(failed.value)
    assert "borg_agent_audit_append_only" in str(failed.value)


def test_an_append_only_log_takes_the_writers_lines_and_refuses_everything_else(
    tmp_path: Path, kernel_allows_append_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_text('{"kind": "backup", "n": 1}\n')
    subprocess.run(["chattr", "+a", str(log)], check=True)
    try:
        monkeypatch.setenv(audit_log.AUDIT_ENV, str(log))
        assert audit_log.audit("backup", "daily dokumen", "success") is True
        lines = log.read_text().splitlines()
        assert len(lines) == 2 and json.loads(lines[1])["action"] == "daily dokumen"

        for attempt in (
            lambda: os.open(log, os.O_WRONLY),  # a write that could overwrite
            lambda: os.open(log, os.O_RDWR),
            lambda: os.open(log, os.O_WRONLY | os.O_APPEND | os.O_TRUNC),
            lambda: os.truncate(log, 0),
            lambda: os.rename(log, tmp_path / "rotated.jsonl"),
            lambda: os.unlink(log),
            lambda: os.chmod(log, 0o600),
        ):
            with pytest.raises(PermissionError) as refused:
                attempt()
            assert refused.value.errno == errno.EPERM
        assert log.read_text().splitlines() == lines
    finally:
        lift(log)


def test_every_role_that_keeps_an_audit_log_uses_the_role_with_its_switch() -> None:
    """No role makes /var/log/bangka-ops by itself: each includes audit_log with its files and
    its <role>_audit_append_only."""
    found = {}
    for tasks_file in sorted((REPO_ROOT / "roles").glob("*/tasks/*.yml")):
        role = tasks_file.parent.parent.name
        text = tasks_file.read_text()
        assert role == "audit_log" or "chattr" not in text, (
            f"{tasks_file}: chattr outside audit_log"
        )
        for task in yaml.safe_load(text) or []:
            include = task.get("ansible.builtin.include_role", {})
            if include.get("name") == "audit_log":
                found[role] = task["vars"]
    assert set(found) == set(ROLES)
    for role, variables in found.items():
        assert variables["audit_log_append_only"] == f"{{{{ {role}_audit_append_only }}}}"
        assert variables["audit_log_files"] == [f"{{{{ {name} }}}}" for name in ROLES[role]]
