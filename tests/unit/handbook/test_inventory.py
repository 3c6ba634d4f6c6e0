"""The inventory reader agrees with Ansible, and never reads a vault."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bangka_ops.handbook import inventory
from tests.conftest import REPO_ROOT


def write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))


def policy(name: str, rpo: int = 24) -> dict[str, Any]:
    return {"name": name, "category": "critical", "sources": ["/srv"], "rpo_hours": rpo}


def test_deeper_groups_override_all_and_host_vars_override_groups(tmp_path: Path) -> None:
    servers = {"hosts": {"fs01": {"ansible_host": "10.0.0.1"}, "fs02": None}}
    agents = {"children": {"file_servers": servers}}
    write(tmp_path / "hosts.yml", {"all": {"children": {"borg_agents": agents}}})
    write(tmp_path / "group_vars/all/vars.yml", {"borg_agent_policies": [policy("semua")]})
    write(tmp_path / "group_vars/file_servers.yml", {"borg_agent_policies": [policy("berkas")]})
    write(tmp_path / "host_vars/fs02.yml", {"borg_agent_policies": [policy("khusus", 4)]})
    inv = inventory.load(tmp_path)
    by_name = {h.name: h for h in inv.hosts}
    assert [p.name for p in by_name["fs01"].policies] == ["berkas"]
    assert by_name["fs01"].policies[0].defined_in == "group_vars/file_servers"
    assert by_name["fs01"].address == "10.0.0.1"
    assert [(p.name, p.rpo_hours) for p in by_name["fs02"].policies] == [("khusus", 4)]
    assert by_name["fs02"].groups == ["borg_agents", "file_servers"]


def test_a_vault_file_is_named_and_never_read(tmp_path: Path) -> None:
    write(tmp_path / "hosts.yml", {"all": {"hosts": {"h1": None}}})
    write(tmp_path / "group_vars/all/vault.yml", "$ANSIBLE_VAULT;1.1;AES256\n6330623136\n")
    write(
        tmp_path / "group_vars/all/vars.yml",
        "password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6330\n",
    )
    inv = inventory.load(tmp_path)
    assert inv.skipped_vault_files == ["group_vars/all/vault.yml"]
    assert inv.hosts[0].variables == {"password": inventory.VAULTED}


def test_a_broken_file_is_named(tmp_path: Path) -> None:
    write(tmp_path / "hosts.yml", "all: [unclosed\n")
    with pytest.raises(inventory.InventoryError, match=r"hosts\.yml"):
        inventory.load(tmp_path)


def test_a_file_nested_too_deeply_is_named(tmp_path: Path) -> None:
    write(tmp_path / "group_vars/all.yml", "borg_agent_policies: " + "[" * 100_000 + "\n")
    write(tmp_path / "hosts.yml", {"all": {"hosts": {"fs01": None}}})
    with pytest.raises(inventory.InventoryError, match=r"all\.yml: not YAML: nested too deeply"):
        inventory.load(tmp_path)


def ansible_view(name: str, tmp_path: Path) -> dict[str, Any]:
    """``ansible-inventory --list`` of a committed inventory (Ansible's own precedence), on a
    copy without its vault files: no vault password is needed or used, as in the handbook."""
    program = shutil.which("ansible-inventory", path=str(Path(sys.executable).parent))
    if program is None:
        pytest.skip("ansible-inventory is not installed (the ops extra)")
    copy = tmp_path / name
    shutil.copytree(REPO_ROOT / "inventories" / name, copy)
    for path in copy.rglob("*"):
        if path.is_file() and path.read_bytes().startswith(b"$ANSIBLE_VAULT"):
            path.unlink()
    done = subprocess.run(
        [program, "-i", str(copy), "--list"],
        capture_output=True, text=True, check=True, cwd=REPO_ROOT,
        env={**os.environ, "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg")},
    )  # fmt: skip
    return dict(json.loads(done.stdout))


@pytest.mark.parametrize("name", ["production", "staging", "local"])
def test_every_host_its_groups_and_its_policies_are_what_ansible_reads(
    name: str, tmp_path: Path
) -> None:
    listed = ansible_view(name, tmp_path)
    hostvars = listed["_meta"]["hostvars"]
    members: dict[str, set[str]] = {}
    for group, body in listed.items():
        for host in body.get("hosts", []) if isinstance(body, dict) else []:
            members.setdefault(host, set()).add(group)
    inv = inventory.load(REPO_ROOT / "inventories" / name)
    assert any(h.policies for h in inv.hosts), "no policy read: the comparison would be empty"
    assert {h.name for h in inv.hosts} == set(hostvars)
    for host in inv.hosts:
        # ansible-inventory lists a host under its direct groups; ours adds their parents.
        assert members[host.name] <= set(host.groups), host.name
        expected = hostvars[host.name].get("borg_agent_policies", []) if host.is_agent else []
        assert [p.name for p in host.policies] == [p["name"] for p in expected], host.name
        for mine, theirs in zip(host.policies, expected, strict=True):
            assert mine.rpo_hours == theirs["rpo_hours"]
            assert mine.rto_hours == theirs["rto_hours"]
            assert mine.window == theirs["window"]
            assert mine.cycles == theirs["cycles"]
            assert mine.sources == theirs["sources"]
