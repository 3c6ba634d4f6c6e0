"""The report group (adm) reaches the checklist reports on the admin host, and nothing else there.

Runs borg_admin's real configuration tasks with ansible-playbook against this machine (its
directories placed under a directory of the test), puts beside the reports what the admin host
keeps in its state directory (verified listings, collected records), then reads as an account
that is only in the adm group, and as one that is not."""

from __future__ import annotations

import grp
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

NOBODY = 65534
PROBE = """
import json, os, sys
state = sys.argv[1]
def attempt(what, call):
    try:
        call()
        return "ok"
    except PermissionError:
        return "denied"
print(json.dumps({
    "read report": attempt("r", lambda: open(f"{state}/reports/checklist-id.html").read()),
    "list reports": attempt("l", lambda: os.listdir(f"{state}/reports")),
    "list state": attempt("s", lambda: os.listdir(state)),
    "read collected": attempt("c", lambda: open(f"{state}/collected/fs01/records/r.json").read()),
    "list collected": attempt("d", lambda: os.listdir(f"{state}/collected")),
    "read listing": attempt("v", lambda: open(f"{state}/clients/fs01.json").read()),
    "list announced": attempt("a", lambda: os.listdir(f"{state}/announced")),
}))
"""


@pytest.fixture
def base() -> Iterator[Path]:
    """A directory every account can pass through (pytest's own are root's only)."""
    path = Path(tempfile.mkdtemp(prefix="bangka-report-access-", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def configure(base: Path) -> str:
    playbook = base / "play.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "borg_admin's configuration",
                    "hosts": "all",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": "Run it",
                            "ansible.builtin.include_role": {
                                "name": "borg_admin",
                                "tasks_from": "configure.yml",
                            },
                        }
                    ],
                }
            ]
        )
    )
    variables = {
        "borg_admin_state_dir": str(base / "state"),
        "borg_admin_config_dir": str(base / "etc"),
        "borg_admin_clients": [],
    }
    (base / "vars.yml").write_text(yaml.safe_dump(variables))
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
            f"@{base / 'vars.yml'}",
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


def what_can(state: Path, groups: list[int]) -> dict[str, str]:
    proc = subprocess.run(
        ["/usr/bin/python3", "-I", "-c", PROBE, str(state)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        user=NOBODY,
        group=NOBODY,
        extra_groups=groups,
        cwd="/",
    )
    result: dict[str, str] = json.loads(proc.stdout)
    return result


def test_the_adm_group_reads_the_reports_and_nothing_else_of_the_admin_state(base: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: the test reads as another account")
    adm = grp.getgrnam("adm").gr_gid
    first = configure(base)
    state = base / "state"
    # What the admin host keeps there besides the reports (as collect_records.yml,
    # bangka-backup-maintenance and backup_report.yml leave it).
    (state / "collected" / "fs01" / "records").mkdir(parents=True, mode=0o750)
    for directory in (state / "collected", state / "collected" / "fs01"):
        directory.chmod(0o750)
    (state / "collected" / "fs01" / "records" / "r.json").write_text("{}")
    (state / "clients").mkdir(mode=0o750)
    (state / "clients" / "fs01.json").write_text("{}")
    reports = state / "reports"  # backup_report.yml makes it so too: root:adm 0750
    reports.mkdir(exist_ok=True)
    os.chown(reports, 0, adm)
    reports.chmod(0o750)
    report = reports / "checklist-id.html"
    report.write_text("<html></html>")
    os.chown(report, 0, adm)
    report.chmod(0o640)

    assert what_can(state, [adm]) == {
        "read report": "ok",
        "list reports": "ok",
        "list state": "denied",
        "read collected": "denied",
        "list collected": "denied",
        "read listing": "denied",
        "list announced": "denied",
    }
    assert set(what_can(state, []).values()) == {"denied"}
    info = state.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, adm, 0o710)
    assert "changed=0" not in first[first.rindex("PLAY RECAP") :]
    again = configure(base)
    assert "changed=0" in again[again.rindex("PLAY RECAP") :]
