"""Role admin_access, tasks/totp.yml, run for real against a directory of this machine: the secret
file carries the replay and rate limits, and a later run rewrites it only when the seed or the
options changed, never because pam_google_authenticator wrote its state into it."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

from bangka_ops.access import totp
from tests.integration.roles.test_admin_access_keys import run_tasks
from tests.unit.access.test_model import KEY

SEED, ROTATED = totp.new_secret(), totp.new_secret()


def variables(totp_dir: Path, seed: str) -> dict[str, Any]:
    return {
        "access_people": [
            {
                "id": "andi.pratama",
                "name": "Andi Pratama",
                "email": "andi.pratama@bangka.go.id",
                "roles": ["admin"],
                "ssh_keys": [KEY],
            }
        ],
        "admin_access_totp_secrets": {"andi.pratama": seed},
        "admin_access_totp_dir": str(totp_dir),
    }


def changed(output: str) -> int:
    match = re.search(r"changed=(\d+)", output)
    assert match, output
    return int(match[1])


def pam_writes_its_state(path: Path) -> str:
    """What pam_google_authenticator does at a login: a 0400 file renamed over the old one."""
    text = (
        path.read_text()
        .replace('" RATE_LIMIT 3 30', '" RATE_LIMIT 3 30 1764650000 1764650011')
        .replace('" DISALLOW_REUSE', '" DISALLOW_REUSE 58821666')
    )
    tmp = path.with_name(path.name + "~ABCDEF")
    tmp.write_text(text)
    tmp.chmod(0o400)
    os.replace(tmp, path)
    return text


def test_the_file_is_written_once_and_pam_s_state_survives_later_runs(tmp_path: Path) -> None:
    totp_dir = tmp_path / "totp"
    secret_file = totp_dir / "andi.pratama"

    first = run_tasks(tmp_path, "admin_access", "totp.yml", variables(totp_dir, SEED))
    assert first.returncode == 0, first.stdout + first.stderr
    assert secret_file.read_text() == totp.pam_file(SEED)
    assert '" RATE_LIMIT 3 30' in secret_file.read_text()
    assert '" DISALLOW_REUSE' in secret_file.read_text()
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o400
    assert stat.S_IMODE(totp_dir.stat().st_mode) == 0o700

    with_state = pam_writes_its_state(secret_file)
    again = run_tasks(tmp_path, "admin_access", "totp.yml", variables(totp_dir, SEED))
    assert again.returncode == 0, again.stdout + again.stderr
    assert changed(again.stdout) == 0, again.stdout
    assert secret_file.read_text() == with_state

    rotated = run_tasks(tmp_path, "admin_access", "totp.yml", variables(totp_dir, ROTATED))
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    assert changed(rotated.stdout) == 1
    assert secret_file.read_text() == totp.pam_file(ROTATED)


def test_a_file_of_the_earlier_layout_gets_the_limits(tmp_path: Path) -> None:
    totp_dir = tmp_path / "totp"
    totp_dir.mkdir(mode=0o700)
    old = totp_dir / "andi.pratama"
    old.write_text(f'{SEED}\n" TOTP_AUTH\n" WINDOW_SIZE 3\n')
    old.chmod(0o400)

    proc = run_tasks(tmp_path, "admin_access", "totp.yml", variables(totp_dir, SEED))

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert old.read_text() == totp.pam_file(SEED)


def test_a_state_file_left_by_a_crashed_login_is_removed_once_it_is_old(tmp_path: Path) -> None:
    """pam_google_authenticator refuses every login while "<secret>~" exists (its O_EXCL state
    file): one left by a crash is removed; one a login may be writing right now is not."""
    totp_dir = tmp_path / "totp"
    assert (
        run_tasks(tmp_path, "admin_access", "totp.yml", variables(totp_dir, SEED)).returncode == 0
    )
    stale, fresh = totp_dir / "andi.pratama~", totp_dir / "budi~"
    stale.write_text("half a state")
    fresh.write_text("a login writing now")
    os.utime(stale, (0, 0))

    proc = run_tasks(tmp_path, "admin_access", "totp.yml", variables(totp_dir, SEED))

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not stale.exists()
    assert fresh.exists()
