"""The on-host tools as the roles install them: the files each role copies into
/usr/local/lib/bangka-backup/ (read from its tasks), run with the system Python, which has no
bangka_ops package: agent.py finds its audit writer and notifications as sibling modules, also
when started through the /usr/local/sbin link."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT

SYSTEM_PYTHON = "/usr/bin/python3"
ROLES = ["borg_agent", "borg_admin", "borg_restore_test", "admin_access"]
TOOLS = {
    "borg_agent": ["agent.py", "restore_test.py", "restore.py"],
    "borg_admin": ["agent.py", "maintenance.py"],
    "borg_restore_test": ["agent.py", "restore_test.py", "restore.py"],
    "admin_access": ["agent.py", "bangka_operator.py"],
}


def install_tasks(role: str) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = yaml.safe_load(
        (REPO_ROOT / "roles" / role / "tasks/install.yml").read_text()
    )
    return tasks


def installed_files(role: str) -> list[str]:
    """The files the role copies beside agent.py."""
    for task in install_tasks(role):
        loop = task.get("loop")
        if "ansible.builtin.copy" in task and isinstance(loop, list) and "agent.py" in loop:
            return [str(name) for name in loop]
    raise AssertionError(f"{role}: no task installs agent.py")


def install(role: str, lib: Path) -> None:
    lib.mkdir()
    for name in installed_files(role):
        shutil.copyfile(REPO_ROOT / "roles" / role / "files" / name, lib / name)
        (lib / name).chmod(0o755)


@pytest.fixture(autouse=True)
def system_python_without_the_package() -> None:
    if not Path(SYSTEM_PYTHON).exists():
        pytest.skip(f"{SYSTEM_PYTHON} is what the hosts run; not on this machine")
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-Es", "-c", "import bangka_ops"], capture_output=True, check=False
    )
    if probe.returncode == 0:
        pytest.skip("bangka_ops is importable by the system Python here: not a host's view")


@pytest.mark.parametrize("role", ROLES)
def test_every_role_installs_the_modules_agent_imports(role: str, tmp_path: Path) -> None:
    install(role, tmp_path / "lib")
    for tool in TOOLS[role]:
        proc = subprocess.run(
            [SYSTEM_PYTHON, "-Es", str(tmp_path / "lib" / tool), "--help"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert proc.returncode == 0, f"{role}: {tool}: {proc.stderr}"
        assert "usage:" in proc.stdout


def test_the_wrapper_link_runs_agent_py_from_the_library(tmp_path: Path) -> None:
    """borg_agent links /usr/local/sbin/bangka-backup to the library's agent.py (a copy alone
    could not import its siblings); started through the link, as cron and systemd do."""
    links = [
        item
        for task in install_tasks("borg_agent")
        if task.get("ansible.builtin.file", {}).get("state") == "link"
        for item in task["loop"]
    ]
    assert {"src": "agent.py", "dest": "{{ __borg_agent_wrapper }}"} in links
    lib, sbin, logs = tmp_path / "lib", tmp_path / "sbin", tmp_path / "logs"
    install("borg_agent", lib)
    sbin.mkdir()
    logs.mkdir()
    (sbin / "bangka-backup").symlink_to(lib / "agent.py")
    (logs / "audit.jsonl").write_text('{"kind": "backup"}\n')

    proc = subprocess.run(
        [str(sbin / "bangka-backup"), "audit-cut", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"PATH": os.environ["PATH"], "BANGKA_AUDIT_LOG": str(logs / "audit.jsonl")},
    )

    assert proc.returncode == 0, proc.stderr
    (chunk,) = json.loads(proc.stdout)["chunks"]
    assert (tmp_path / "out" / chunk).read_text() == '{"kind": "backup"}\n'


def test_the_repository_server_s_gate_runs_from_its_link_with_the_system_python(
    tmp_path: Path,
) -> None:
    """borg_server installs gate.py and segments.py into /usr/local/lib/bangka-borg and links
    /usr/local/sbin/bangka-borg-serve to gate.py: the link alone must find segments.py."""
    (task,) = [
        t
        for t in install_tasks("borg_server")
        if "ansible.builtin.copy" in t and "gate.py" in (t.get("loop") or [])
    ]
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in task["loop"]:
        shutil.copyfile(REPO_ROOT / "roles" / "borg_server" / "files" / name, lib / name)
        (lib / name).chmod(0o755)
    link = tmp_path / "bangka-borg-serve"
    link.symlink_to(lib / "gate.py")
    proc = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-Es",
            str(link),
            "--repos-dir",
            "/nonexistent",
            "--gates-dir",
            "/x",
            "admin",
        ],
        env={"PATH": "/usr/bin:/bin", "SSH_ORIGINAL_COMMAND": "bangka-gate missing"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 64, proc.stderr
    assert json.loads(proc.stdout) == {
        "gate": "error",
        "error": "no repository 'missing' under /nonexistent",
    }


@pytest.mark.parametrize("role", ["borg_agent", "borg_restore_test"])
def test_the_database_modules_imported_lazily_load_from_the_library(
    role: str, tmp_path: Path
) -> None:
    """Only a policy with databases imports them (agent.database_module for the dumps,
    restore_test.dbrestore_module for the loads): each must find its siblings when deployed."""
    install(role, tmp_path / "lib")
    calls = ["import restore_test; restore_test.dbrestore_module().dbservers.PostgreSQL()"]
    if role == "borg_agent":
        calls.append("import agent; agent.database_module().server_of({'type': 'mariadb'})")
    for call in calls:
        proc = subprocess.run(
            [SYSTEM_PYTHON, "-Es", "-c", call],
            cwd=tmp_path / "lib",
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert proc.returncode == 0, f"{role}: {call}: {proc.stderr}"


def test_the_admin_watchdog_forecasts_capacity_with_the_system_python(tmp_path: Path) -> None:
    """The watchdog's capacity forecast (capacity.py beside maintenance.py, standard library)
    from collected records, as the borg_admin role installs it; and a bad quota refused."""
    lib = tmp_path / "lib"
    install("borg_admin", lib)
    records = tmp_path / "collected" / "web-01" / "records" / "docs"
    records.mkdir(parents=True)
    now = dt.datetime.now(dt.UTC)
    for day in range(10):
        (records / f"run-{day}.json").write_text(
            json.dumps(
                {
                    "kind": "backup_run",
                    "host": "web-01",
                    "status": "success",
                    "start": (now - dt.timedelta(days=9 - day, hours=1)).isoformat(),
                    "borg": {"cache": {"stats": {"unique_csize": (100 + day) * 10**9}}},
                }
            )
        )
    config: dict[str, Any] = {
        "state_dir": str(tmp_path / "state"),
        "collected_dir": str(tmp_path / "collected"),
        "clients": {
            "web-01": {
                "repository": {
                    "location": str(tmp_path / "no-repository"),
                    "passphrase_file": str(tmp_path / "no-repository.pass"),
                },
                "policies": {"docs": {"cycles": ["daily"]}},
                "storage_quota": "120G",
            }
        },
        "capacity": {"warn_days": 30, "warn_percent": 90},
    }
    path = tmp_path / "admin.json"
    path.write_text(json.dumps(config))

    args = ("watchdog", "--json")

    def watchdog() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SYSTEM_PYTHON, "-Es", str(lib / "maintenance.py"), "--config", str(path), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            env={"PATH": os.environ["PATH"], "BANGKA_AUDIT_LOG": str(tmp_path / "audit.jsonl")},
        )

    proc = watchdog()

    assert proc.returncode == 2, proc.stderr  # no repository: freshness unknown
    (forecast,) = json.loads(proc.stdout)["capacity"]
    assert forecast["repository"] == "web-01" and forecast["status"] == "warning"
    assert forecast["growth_bytes_per_day"] == 10**9
    assert forecast["quota_bytes"] == 120 * 10**9
    config["clients"]["web-01"]["storage_quota"] = "120 GB"
    path.write_text(json.dumps(config))
    refused = watchdog()
    assert refused.returncode == 64
    assert "clients.web-01.storage_quota: expected a size like 200G" in refused.stderr
