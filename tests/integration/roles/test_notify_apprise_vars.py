"""Every role that sends failure notices wires Apprise the same way: with URLs, its job's
configuration names the 0600 file that holds them (never the URLs themselves); without, no
Apprise at all. The role's own expressions, rendered by ansible-playbook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

# role -> (its job configuration variable, the file the URLs go to by default)
ROLES = {
    "agenda_sync": ("__agenda_sync_job", "/etc/protocloud/apprise.txt"),
    "arsip": ("__arsip_job", "/etc/bangka-arsip/apprise.txt"),
    "borg_admin": ("__borg_admin_settings", "/etc/bangka-backup-admin/secrets/apprise.txt"),
    "borg_agent": ("__borg_agent_settings", "/etc/bangka-backup/secrets/apprise.txt"),
    "borg_restore_test": (
        "__borg_restore_test_settings",
        "/etc/bangka-backup-restore/secrets/apprise.txt",
    ),
}
TOKEN_URL = "tgram://123456:rahasia-bot-token/-100987"  # noqa: S105 - made up, looked for


def rendered(tmp_path: Path, role: str, urls: list[str]) -> object:
    """The role's ``notify.apprise`` expression as ansible-playbook renders it."""
    variable, _ = ROLES[role]
    role_vars = yaml.safe_load((REPO_ROOT / "roles" / role / "vars" / "main.yml").read_text())
    expression = role_vars[variable]["notify"]["apprise"]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False,
        "vars_files": [str(REPO_ROOT / "roles" / role / "defaults" / "main.yml"),
                       str(REPO_ROOT / "roles" / role / "vars" / "main.yml")],
        "tasks": [{"name": "Render", "ansible.builtin.debug": {"msg": expression}}],
    }]))  # fmt: skip
    (tmp_path / "extra.yml").write_text(yaml.safe_dump({f"{role}_notify_apprise_urls": urls}))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
           "ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"}  # fmt: skip
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", f"@{tmp_path / 'extra.yml'}", str(playbook)],
        capture_output=True, text=True, env=env, check=False, timeout=120, cwd=REPO_ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return result["msg"]


@pytest.mark.parametrize("role", sorted(ROLES))
def test_with_urls_the_job_names_the_file_never_the_urls(tmp_path: Path, role: str) -> None:
    msg = rendered(tmp_path, role, [TOKEN_URL])
    assert msg == {"config_file": ROLES[role][1]}
    assert "rahasia" not in json.dumps(msg)


@pytest.mark.parametrize("role", sorted(ROLES))
def test_without_urls_there_is_no_apprise(tmp_path: Path, role: str) -> None:
    assert rendered(tmp_path, role, []) == {}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_the_urls_file_is_written_0600_without_logging_them(role: str) -> None:
    tasks = yaml.safe_load(
        (REPO_ROOT / "roles" / role / "tasks" / "configure.yml").read_text()
    )  # fmt: skip
    (write,) = [t for t in tasks if "Apprise services' URLs (" in t["name"]]
    copy = write["ansible.builtin.copy"]
    assert copy["mode"] == "0600" and write["no_log"] is True
    # A file Apprise cannot read whole is refused before it replaces a working one.
    assert copy["validate"] == "apprise --dry-run --config %s --body check"
    assert write["when"] == f"{role}_notify_apprise_urls | length > 0"
    assert copy["dest"] == f"{{{{ __{role}_apprise_file }}}}"
    assert f"{role}_notify_apprise_urls | join" in copy["content"]
