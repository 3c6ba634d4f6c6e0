"""cekat totp-new with a vault id of the admin's own: the seed is then encrypted with that
password (labelled with the id), the inventory's vault password no longer opens it, and Ansible
reads it (what role admin_access does) only when given that vault id."""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleError

from bangka_ops.access import enrol, totp
from tests.integration.access.test_totp_enrol import PASSWORD, cekat, inventory

ADMIN_PASSWORD = secrets.token_urlsafe(18)
ROLE = Path(__file__).resolve().parents[3] / "roles" / "admin_access"


def read_as_the_role(
    tmp_path: Path, vaulted: Path, *vault_args: str
) -> subprocess.CompletedProcess[str]:
    """Ansible's file lookup, as role admin_access reads a seed, then its PAM file filter."""
    playbook = tmp_path / "read.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.debug:\n"
        f"        msg: \"{{{{ lookup('ansible.builtin.file', '{vaulted}')"
        ' | bangka_totp_pam_file }}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_VAULT")}
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            *vault_args,
            str(playbook),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={
            **env,
            "ANSIBLE_FILTER_PLUGINS": str(ROLE / "filter_plugins"),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
        },
    )


def test_a_seed_under_the_admin_s_vault_id_is_closed_to_the_inventory_password(
    tmp_path: Path,
) -> None:
    root = inventory(tmp_path)
    admin_pass = tmp_path / "andi.pass"
    admin_pass.write_text(ADMIN_PASSWORD + "\n")
    env = {
        "ANSIBLE_VAULT_PASSWORD_FILE": str(tmp_path / "vault.pass"),
        "ANSIBLE_VAULT_IDENTITY_LIST": f"budi@{tmp_path / 'lain.pass'},andi.pratama@{admin_pass}",
    }

    made = cekat("totp-new", "andi.pratama", "-i", str(root), env=env)

    assert made.returncode == 0, made.stderr
    assert "vault id andi.pratama only" in made.stdout
    data = (root / "totp" / "andi.pratama.vault").read_bytes()
    assert data.startswith(b"$ANSIBLE_VAULT;1.2;AES256;andi.pratama\n")
    secret = enrol.decrypt(data, ADMIN_PASSWORD.encode(), "andi.pratama")
    assert f"or enter this key: {secret}" in made.stdout
    with pytest.raises(AnsibleError):
        enrol.decrypt(data, PASSWORD.encode())

    vaulted = root / "totp" / "andi.pratama.vault"
    inventory_only = read_as_the_role(
        tmp_path, vaulted, "--vault-password-file", str(tmp_path / "vault.pass")
    )
    assert inventory_only.returncode != 0
    assert secret not in inventory_only.stdout + inventory_only.stderr
    both = read_as_the_role(
        tmp_path,
        vaulted,
        "--vault-password-file",
        str(tmp_path / "vault.pass"),
        "--vault-id",
        f"andi.pratama@{admin_pass}",
    )
    assert both.returncode == 0, both.stdout + both.stderr
    shown = json.loads(both.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]
    assert shown == totp.pam_file(secret)


def test_without_the_admin_s_entry_the_inventory_password_is_used(tmp_path: Path) -> None:
    root = inventory(tmp_path)
    env = {
        "ANSIBLE_VAULT_PASSWORD_FILE": str(tmp_path / "vault.pass"),
        "ANSIBLE_VAULT_IDENTITY_LIST": f"budi@{tmp_path / 'lain.pass'}",
    }
    made = cekat("totp-new", "andi.pratama", "-i", str(root), env=env)
    assert made.returncode == 0, made.stderr
    data = (root / "totp" / "andi.pratama.vault").read_bytes()
    assert data.startswith(b"$ANSIBLE_VAULT;1.1;AES256\n")
    enrol.decrypt(data, PASSWORD.encode())


def test_a_prompted_vault_id_is_asked_twice_and_must_match(tmp_path: Path) -> None:
    root = inventory(tmp_path)
    answers = iter([ADMIN_PASSWORD, ADMIN_PASSWORD + "x"])
    with pytest.raises(enrol.EnrolError, match="do not match"):
        enrol.new(root, "andi.pratama", vault_id="andi.pratama@prompt", ask=lambda _: next(answers))
    assert not (root / "totp").exists()

    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return ADMIN_PASSWORD

    target = enrol.new(
        root, "andi.pratama", vault_id="andi.pratama@prompt", ask=ask, out=io.StringIO()
    )
    assert asked == [
        "New vault password (andi.pratama): ",
        "Confirm new vault password (andi.pratama): ",
    ]
    enrol.decrypt(target.read_bytes(), ADMIN_PASSWORD.encode(), "andi.pratama")


@pytest.mark.parametrize("vault_id", ["@prompt", "andi@", "andi dua@prompt", "a;b@prompt"])
def test_a_malformed_vault_id_is_refused(vault_id: str) -> None:
    with pytest.raises(enrol.EnrolError, match="expected <label>@prompt"):
        enrol.parse_vault_id(vault_id)


def test_the_vault_id_option_of_cekat_totp_new(tmp_path: Path) -> None:
    root = inventory(tmp_path)
    admin_pass = tmp_path / "andi.pass"
    admin_pass.write_text(ADMIN_PASSWORD + "\n")
    env = {"ANSIBLE_VAULT_PASSWORD_FILE": str(tmp_path / "vault.pass")}
    made = cekat(
        "totp-new",
        "andi.pratama",
        "-i",
        str(root),
        "--vault-id",
        f"andi.pratama@{admin_pass}",
        env=env,
    )
    assert made.returncode == 0, made.stderr
    data = (root / "totp" / "andi.pratama.vault").read_bytes()
    assert data.startswith(b"$ANSIBLE_VAULT;1.2;AES256;andi.pratama\n")
    enrol.decrypt(data, ADMIN_PASSWORD.encode(), "andi.pratama")


def test_an_executable_password_file_is_run_as_ansible_vault_runs_it(tmp_path: Path) -> None:
    """A vault password script (e.g. one asking a password manager) gives its output, not its
    own text: the seed opens with the password it prints, as access.yml will open it."""
    root = inventory(tmp_path)
    script = tmp_path / "andi-pass.sh"
    script.write_text(f"#!/bin/sh\necho {ADMIN_PASSWORD}\n")
    script.chmod(0o700)
    env = {"ANSIBLE_VAULT_PASSWORD_FILE": str(tmp_path / "vault.pass")}
    made = cekat(
        "totp-new", "andi.pratama", "-i", str(root), "--vault-id", f"andi.pratama@{script}", env=env
    )
    assert made.returncode == 0, made.stderr
    data = (root / "totp" / "andi.pratama.vault").read_bytes()
    enrol.decrypt(data, ADMIN_PASSWORD.encode(), "andi.pratama")
