"""playbooks/backup_rollback.yml: without `backup_rollback_confirm=true` nothing is rolled back,
whatever `backup_rollback_to` says. The point is one ISO 8601 time with its offset, checked
before anything runs, and reaches the server's tool as one argument. Real ansible-playbook runs
on this machine (the rollback tool itself is not installed here: the plan step's command is
read from its result)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT

TOOL = "/usr/local/sbin/bangka-borg-rollback"


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    """The admin host and the repository server are this machine; web01 is a client."""
    path = tmp_path / "hosts.yml"
    path.write_text(
        "all:\n  children:\n"
        "    borg_admin:\n      hosts:\n        localhost:\n"
        "    borg_servers:\n      hosts:\n        localhost:\n"
        "    borg_agents:\n      hosts:\n        web01:\n          borg_agent_server: localhost\n"
        "  vars:\n    ansible_connection: local\n"
        f"    ansible_python_interpreter: {sys.executable}\n"
    )
    return path


def rollback(inventory: Path, *extra: str) -> dict[str, dict[str, Any]]:
    """Run the playbook; the result of every task that ran, by task name."""
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(inventory),
            "playbooks/backup_rollback.yml",
            "-e",
            "backup_rollback_client=web01",
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=REPO_ROOT,
        env={**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"},
    )
    assert proc.returncode != 0 or proc.stdout, proc.stderr
    report = json.loads(proc.stdout)
    return {
        task["task"]["name"]: task["hosts"]["localhost"]
        for play in report["plays"]
        for task in play["tasks"]
        if "localhost" in task["hosts"]
    }


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-01T00:00:00+07:00 --apply",
        "--apply",
        "2026-11-01T00:00:00+07:00\n--apply",
        "2026-11-01T00:00:00",
        "2026-11-01",
    ],
    ids=["time-then-apply", "apply", "newline-apply", "no-offset", "a-date"],
)
def test_a_rollback_point_that_is_not_one_time_stops_before_anything_runs(
    inventory: Path, value: str
) -> None:
    tasks = rollback(inventory, "-e", json.dumps({"backup_rollback_to": value}))
    check = tasks["Assert the rollback point is one time with its UTC offset"]
    assert check.get("failed"), check
    assert "backup_rollback_to must be one ISO 8601 time" in check["msg"]
    assert "Show the plan" not in tasks
    assert "Quarantine a copy and roll back" not in tasks


@pytest.mark.parametrize(
    "value",
    ["2026-11-01T00:00:00+07:00", "2025-05-12T12:30:00.123456+07:00", "2025-05-12T05:30:00-03:00"],
    ids=["time", "admin-verification-time", "negative-offset"],
)
def test_a_valid_point_reaches_the_plan_as_one_argument_without_apply(
    inventory: Path, value: str
) -> None:
    tasks = rollback(inventory, "-e", f"backup_rollback_to={value}")
    assert not tasks["Assert the rollback point is one time with its UTC offset"].get("failed")
    plan = tasks["Show the plan"]["invocation"]["module_args"]
    assert plan["argv"] == [TOOL, "/srv/borg/repos/web01", f"--to={value}"]
    assert plan["_uses_shell"] is False
    assert "Quarantine a copy and roll back" not in tasks
