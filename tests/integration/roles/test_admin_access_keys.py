"""Role admin_access: the people's keys and the automation key are each one plain public key line,
checked before anything is written; a bad one fails the play naming the host and the source.

Runs the role's real asserts (include_role tasks_from assert.yml; tasks/main.yml runs them first)
with ansible-playbook against this machine. Keys are made with ssh-keygen at test time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bangka_ops.access import totp
from tests.conftest import REPO_ROOT
from tests.integration.roles.test_borg_server_keys import EXPECTED, bad_keys
from tests.unit.access.test_sshkeys import keygen

HOST = "fs01.uji"
WRITTEN = "written-after-the-asserts"


def run_tasks(
    tmp_path: Path, role: str, tasks_from: str, variables: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    """One role task file against this machine, then a marker task that only runs if it passed."""
    playbook = tmp_path / "play.yml"
    marker = tmp_path / WRITTEN
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": f"Run {role} {tasks_from}",
                    "hosts": "all",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": f"The role's {tasks_from}",
                            "ansible.builtin.include_role": {
                                "name": role,
                                "tasks_from": tasks_from,
                            },
                        },
                        {
                            "name": "What would come next",
                            "ansible.builtin.copy": {
                                "content": "x",
                                "dest": str(marker),
                                "mode": "0600",
                            },
                        },
                    ],
                }
            ]
        )
    )
    (tmp_path / "vars.yml").write_text(yaml.safe_dump(variables))
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(REPO_ROOT / "roles"),
    }
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            f"{HOST},",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-e",
            f"@{tmp_path / 'vars.yml'}",
            str(playbook),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
        cwd=REPO_ROOT,
    )


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    where = tmp_path_factory.mktemp("keys")
    return {name: keygen(where, "ed25519", comment=name) for name in ("andi", "dodi", "auto")}


def good_vars(keys: dict[str, str]) -> dict[str, Any]:
    return {
        "access_people": [
            {
                "id": "andi.pratama",
                "name": "Andi Pratama",
                "email": "andi.pratama@bangka.go.id",
                "roles": ["admin"],
                "ssh_keys": [keys["andi"]],
            },
            {
                "id": "dodi",
                "name": "Dodi Operator",
                "email": "dodi@bangka.go.id",
                "roles": ["backup_operator"],
                "ssh_keys": [keys["dodi"], keys["andi"]],
            },
        ],
        "admin_access_totp_secrets": {"andi.pratama": totp.new_secret()},
        "admin_access_automation_keys": [keys["auto"]],
        "admin_access_automation_from": ["10.10.1.5"],
    }


def test_the_role_checks_before_it_writes() -> None:
    main = yaml.safe_load((REPO_ROOT / "roles/admin_access/tasks/main.yml").read_text())
    assert main[0]["ansible.builtin.include_tasks"] == "assert.yml"


def test_good_keys_pass(tmp_path: Path, keys: dict[str, str]) -> None:
    proc = run_tasks(tmp_path, "admin_access", "assert.yml", good_vars(keys))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / WRITTEN).exists()


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_a_bad_key_of_a_person_fails_naming_host_and_person(
    tmp_path: Path, keys: dict[str, str], case: str
) -> None:
    variables = good_vars(keys)
    variables["access_people"][1]["ssh_keys"][1] = bad_keys(keys["andi"])[case]

    proc = run_tasks(tmp_path, "admin_access", "assert.yml", variables)

    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    message = next(line for line in output.splitlines() if EXPECTED[case] in line)
    assert f"{HOST}: access_people: access_people[1] (dodi).ssh_keys[1]: " in message, output
    assert not (tmp_path / WRITTEN).exists()


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_a_bad_automation_key_fails_naming_host_and_source(
    tmp_path: Path, keys: dict[str, str], case: str
) -> None:
    variables = good_vars(keys)
    variables["admin_access_automation_keys"] = [keys["dodi"], bad_keys(keys["auto"])[case]]

    proc = run_tasks(tmp_path, "admin_access", "assert.yml", variables)

    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    message = next(line for line in output.splitlines() if EXPECTED[case] in line)
    assert f"{HOST}: admin_access_automation_keys[1] (the automation account's" in message, output
    assert not (tmp_path / WRITTEN).exists()
