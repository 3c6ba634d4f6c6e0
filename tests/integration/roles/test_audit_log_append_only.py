"""The host audit logs are root:adm 0640 and append-only (chattr +a) where the kernel allows it.

Runs the roles' real audit-log tasks with ansible-playbook against this machine, the log placed
in a directory of the test (on the machine's own file system), and then the kernel's answer:
the writer's O_APPEND line still lands, a write without O_APPEND, a truncation, a rename and an
unlink fail with EPERM. Skipped, with the reason, where this file system or this process cannot
set the flag (not root, no CAP_LINUX_IMMUTABLE, a file system without it)."""

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

# Each role that creates /var/log/bangka-ops: its tasks file and how a test moves the log.
ROLES = {
    "borg_agent": ("audit_log.yml", "__borg_agent_audit_log"),
    "borg_admin": ("audit_log.yml", "__borg_admin_audit_log"),
    "borg_restore_test": ("audit_log.yml", "__borg_restore_test_audit_log"),
    "agenda_sync": ("audit_log.yml", "agenda_sync_audit_log"),
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


def run_tasks(tmp_path: Path, role: str, variables: dict[str, Any]) -> str:
    tasks_from, _ = ROLES[role]
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": f"The audit log tasks of {role}",
                    "hosts": "all",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": "Run them",
                            "ansible.builtin.include_role": {
                                "name": role,
                                "tasks_from": tasks_from,
                            },
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
        },
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return proc.stdout


def changed(output: str) -> int:
    recap = output[output.rindex("PLAY RECAP") :]
    return int(recap.split("changed=")[1].split()[0])


def roles_logs(role: str, tmp_path: Path) -> list[Path]:
    log = tmp_path / "log" / ("protocloud.jsonl" if role == "agenda_sync" else "audit.jsonl")
    if role == "agenda_sync":  # the job's log and the file of refused spool lines beside it
        return [log, log.with_name(log.name + ".rejected")]
    return [log]


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_role_makes_its_audit_log_root_adm_0640_and_append_only(
    role: str, tmp_path: Path, kernel_allows_append_only: None
) -> None:
    logs = roles_logs(role, tmp_path)
    variables = {ROLES[role][1]: str(logs[0]), f"{role}_audit_append_only": True}
    try:
        first = run_tasks(tmp_path, role, variables)
        again = run_tasks(tmp_path, role, variables)

        assert changed(first) > 0
        assert changed(again) == 0, again  # idempotent: lsattr says it is set already
        for log in logs:
            info = log.stat()
            assert (info.st_uid, grp.getgrgid(info.st_gid).gr_name) == (0, "adm")
            assert oct(info.st_mode & 0o7777) == "0o640"
            assert "a" in attributes(log)
        assert oct(logs[0].parent.stat().st_mode & 0o7777) == "0o755"
    finally:
        for log in logs:
            lift(log)


def test_without_the_flag_the_role_leaves_the_attributes_alone(tmp_path: Path) -> None:
    log = tmp_path / "log" / "audit.jsonl"
    run_tasks(
        tmp_path,
        "borg_agent",
        {"__borg_agent_audit_log": str(log), "borg_agent_audit_append_only": False},
    )
    assert log.exists()
    assert "a" not in attributes(log)


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


def test_every_role_that_creates_the_log_directory_keeps_the_log_append_only() -> None:
    """admin_access makes the log in its install tasks (it installs packages, so it is not run
    here); every role's tasks that create /var/log/bangka-ops also make the log root:adm 0640 and
    set the flag when <role>_audit_append_only, after checking lsattr."""
    found = set()
    for role_dir in sorted((REPO_ROOT / "roles").iterdir()):
        role = role_dir.name
        for tasks_file in sorted(role_dir.glob("tasks/*.yml")):
            tasks = yaml.safe_load(tasks_file.read_text()) or []
            log_dirs = [
                t
                for t in tasks
                if t.get("ansible.builtin.file", {}).get("state") == "directory"
                and any(
                    key in str(t["ansible.builtin.file"]["path"])
                    for key in ("/var/log/bangka-ops", "audit_log | dirname")
                )
            ]
            if not log_dirs:
                continue
            found.add(role)
            made = [
                t["ansible.builtin.file"]
                for t in tasks
                if t.get("ansible.builtin.file", {}).get("state") == "touch"
            ]
            assert made, f"{tasks_file}: creates the log directory but not the log"
            assert all(
                (m["owner"], m["group"], m["mode"]) == ("root", "adm", "0640") for m in made
            ), tasks_file
            chattr = [t for t in tasks if "chattr" in str(t.get("ansible.builtin.command"))]
            lsattr = [t for t in tasks if "lsattr" in str(t.get("ansible.builtin.command"))]
            assert chattr and lsattr, f"{tasks_file}: no lsattr check and chattr +a"
            for task in chattr + lsattr:
                assert f"{role}_audit_append_only | bool" in str(task["when"]), tasks_file
    assert found == {*ROLES, "admin_access"}
