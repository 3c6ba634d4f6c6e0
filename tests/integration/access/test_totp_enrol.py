"""cekat totp-new: a vault-encrypted secret in the inventory that Ansible's file lookup (what
role admin_access uses) decrypts, shown once as a QR code; signers from the roles model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from bangka_ops.access import enrol, totp
from bangka_ops.report import signoff
from tests.unit.access.test_model import KEY, person

PASSWORD = "uji-vault-lokal"  # noqa: S105 (a test vault)


def inventory(tmp_path: Path) -> Path:
    root = tmp_path / "inventory"
    (root / "group_vars" / "all").mkdir(parents=True)
    people = [
        person(),
        person(id="sari", email="sari@bangka.go.id", roles=["protocol_operator"], ssh_keys=[]),
    ]
    (root / "group_vars" / "all" / "access.yml").write_text(
        yaml.safe_dump({"access_people": people})
    )
    (tmp_path / "vault.pass").write_text(PASSWORD + "\n")
    return root


def cekat(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_a_secret_is_kept_in_the_vault_and_shown_once(tmp_path: Path) -> None:
    root = inventory(tmp_path)
    env = {"ANSIBLE_VAULT_PASSWORD_FILE": str(tmp_path / "vault.pass")}
    first = cekat("totp-new", "andi.pratama", "-i", str(root), env=env)
    assert first.returncode == 0, first.stderr
    vaulted = root / "totp" / "andi.pratama.vault"
    data = vaulted.read_bytes()
    assert (
        data.startswith(b"$ANSIBLE_VAULT;1.1;AES256") and oct(vaulted.stat().st_mode)[-3:] == "600"
    )
    secret = enrol.decrypt(data, PASSWORD.encode())
    assert len(secret) == 32 and secret not in data.decode()
    assert f"or enter this key: {secret}" in first.stdout and "█" in first.stdout  # the QR code
    again = cekat("totp-new", "andi.pratama", "-i", str(root), env=env)
    assert again.returncode == 64 and "shown only once" in again.stderr
    assert enrol.decrypt(vaulted.read_bytes(), PASSWORD.encode()) == secret
    rotated = cekat("totp-new", "andi.pratama", "-i", str(root), "--rotate", env=env)
    assert rotated.returncode == 0
    assert enrol.decrypt(vaulted.read_bytes(), PASSWORD.encode()) != secret
    # What the role does: Ansible's file lookup decrypts the vault file.
    playbook = tmp_path / "read.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.debug:\n"
        f"        msg: \"{{{{ lookup('ansible.builtin.file', '{vaulted}')"
        ' | bangka_totp_pam_file }}"\n'
    )
    roles = Path(__file__).resolve().parents[3] / "roles" / "admin_access"
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            str(playbook),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={
            **os.environ,
            **env,
            "ANSIBLE_FILTER_PLUGINS": str(roles / "filter_plugins"),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
        },
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shown = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]
    new_secret = enrol.decrypt(vaulted.read_bytes(), PASSWORD.encode())
    assert shown == totp.pam_file(new_secret)


def test_only_totp_admins_and_only_with_the_vault_password(tmp_path: Path) -> None:
    root = inventory(tmp_path)
    no_admin = cekat(
        "totp-new", "sari", "-i", str(root), "--vault-password-file", str(tmp_path / "vault.pass")
    )
    assert no_admin.returncode == 64 and "not an admin" in no_admin.stderr
    env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_VAULT_PASSWORD_FILE"}
    no_password = subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", "totp-new", "andi.pratama", "-i", str(root)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert no_password.returncode == 64 and "vault password is needed" in no_password.stderr
    assert not (root / "totp").exists()


def test_checklist_signers_come_from_the_roles_model(tmp_path: Path) -> None:
    root = inventory(tmp_path)
    text = signoff.allowed_signers_from_inventory(root)
    assert (
        text
        == f'andi.pratama@bangka.go.id namespaces="{",".join(signoff.NAMESPACES.values())}" {KEY}\n'
    )
