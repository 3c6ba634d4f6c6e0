"""The admin's maintenance through the repository server's gate, end to end: the real
``bangka-backup-maintenance`` reaches a real Borg repository over an ``ssh://`` location whose
"ssh" runs the admin key's forced command the way sshd does (``sh -c`` with
SSH_ORIGINAL_COMMAND), i.e. the real ``bangka-borg-serve`` (gate.py) in front of ``borg serve``.
Only sshd's transport is replaced; the gate, Borg and the maintenance are the real ones."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bangka_ops.backup import maintenance
from tests.conftest import REPO_ROOT, BorgSetup
from tests.integration.backup.admin_helpers import backups, run_maintenance

pytestmark = pytest.mark.borg
GATE = REPO_ROOT / "src" / "bangka_ops" / "backup" / "gate.py"
FAKE_SSH = """#!/bin/sh
# ssh [-i K] [-o O]... [-p PORT] HOST COMMAND...: run the key's forced command as sshd does.
while [ $# -gt 0 ]; do
  case "$1" in -i|-o|-p) shift 2 ;; -*) shift ;; *) break ;; esac
done
shift
SSH_ORIGINAL_COMMAND="$*" exec sh -c "$FORCED_COMMAND"
"""


class Server:
    """The repository server's side: the repository's directory, its gates and the forced
    command of the admin key, with short waits."""

    def __init__(self, setup: BorgSetup, gate_wait: int = 2) -> None:
        self.setup = setup
        self.gates = setup.root / "gates"
        self.gates.mkdir(exist_ok=True)
        self.bin = setup.root / "fake-bin"
        self.bin.mkdir(exist_ok=True)
        (self.bin / "ssh").write_text(FAKE_SSH)
        (self.bin / "ssh").chmod(0o755)
        repos = setup.repo.parent
        self.forced = shlex.join(
            [
                sys.executable,
                "-Es",
                str(GATE),
                "--repos-dir",
                str(repos),
                "--gates-dir",
                str(self.gates),
                "--gate-wait",
                str(gate_wait),
                "admin",
                "--",
                "--restrict-to-path",
                str(repos),
            ]
        )
        self.mark_file = self.gates / f"{setup.repo.name}.mark"

    def config(self) -> Path:
        repository = {
            **self.setup.config["repository"],
            "location": f"ssh://borg@backup01.uji{self.setup.repo}",
            "base_dir": str(self.setup.root / "admin-base"),  # the admin host's own Borg state
        }
        config: dict[str, Any] = {
            "state_dir": str(self.setup.root / "admin-state"),
            "lock_wait_seconds": 5,
            "ssh": {"key_file": str(self.setup.root / "admin-key")},
            "gate_wait_seconds": 5,
            "clients": {
                "web-01": {
                    "repository": repository,
                    "policies": {"docs": {"cycles": ["daily"], "retention": {"daily": 1}}},
                }
            },
        }
        path = self.setup.root / "admin-remote.json"
        path.write_text(json.dumps(config))
        return path

    def maintenance(self, command: str = "run") -> tuple[int, dict[str, Any]]:
        env = {**os.environ, "PATH": f"{self.bin}:/usr/bin:/bin", "FORCED_COMMAND": self.forced}
        return run_maintenance(self.config(), command, env)


def test_the_maintenance_judges_the_history_through_the_gate_and_the_server_keeps_the_mark(
    borg_setup: BorgSetup,
) -> None:
    server = Server(borg_setup)
    names = backups(borg_setup, 2)

    code, report = server.maintenance()
    client = report["clients"][0]
    assert code == 0, client
    assert client["history"] == "baseline" and client["pruned"] == [names[0]]
    mark = json.loads(server.mark_file.read_text())
    assert client["segment_mark"] == mark  # past the admin's own prune

    # The admin's prune is not a finding; the compaction it left due runs now.
    code, report = server.maintenance()
    assert code == 0, report["clients"]
    assert report["clients"][0]["compacted"] is True and "history" not in report["clients"][0]

    # A backup, then its deletion by the client, both between two runs.
    made = backups(borg_setup, 1)[0]
    assert borg_setup.borg("delete", f"{borg_setup.repo}::{made}").returncode == 0
    before = json.loads(server.mark_file.read_text())
    code, report = server.maintenance()
    client = report["clients"][0]
    assert code == maintenance.EXIT_TAMPERED, client
    assert {(f["kind"], f["archive"]) for f in client["findings"]} == {
        ("deleted", "(archives made after the admin's last check)"),
        ("deleted", made),
    }
    assert json.loads(server.mark_file.read_text()) == before  # not clean: the mark stays
    assert "compacted" not in client and "pruned" not in client
    # Even with the admin's own copy of the mark wiped, the server's still holds.
    ledger = borg_setup.root / "admin-state" / "clients" / "web-01.json"
    data = json.loads(ledger.read_text())
    data["segment_mark"] = None
    ledger.write_text(json.dumps(data))
    assert server.maintenance()[0] == maintenance.EXIT_TAMPERED


def test_a_client_session_that_never_ends_keeps_the_admin_out_and_the_run_says_so(
    borg_setup: BorgSetup,
) -> None:
    server = Server(borg_setup, gate_wait=2)
    backups(borg_setup, 1)
    assert server.maintenance()[0] == 0
    client_forced = shlex.join(
        [
            sys.executable,
            "-Es",
            str(GATE),
            "--repos-dir",
            str(borg_setup.repo.parent),
            "--gates-dir",
            str(server.gates),
            "client",
            borg_setup.repo.name,
            "--",
            "--append-only",
            "--restrict-to-repository",
            str(borg_setup.repo),
        ]
    )
    # A client session that stays open (borg serve waits for requests on its stdin).
    session = subprocess.Popen(
        ["sh", "-c", f"exec {client_forced}"],  # one process: killing it ends the session
        env={"PATH": "/usr/bin:/bin", "SSH_ORIGINAL_COMMAND": "borg serve"},
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1)
        code, report = server.maintenance()
        client = report["clients"][0]
        assert code == maintenance.EXIT_FAILED
        assert client["status"] == "failed" and "busy" in client["reason"], client
    finally:
        session.kill()
        session.wait()
    code, report = server.maintenance()
    assert code == 0, report["clients"]


@pytest.mark.parametrize("clean", [True, False])
def test_a_gate_never_released_opens_after_its_hold_and_moves_the_mark_only_if_clean(
    borg_setup: BorgSetup, clean: bool
) -> None:
    backups(borg_setup, 1)
    gates = borg_setup.root / "gates"
    gates.mkdir()
    gate = subprocess.Popen(
        [
            sys.executable,
            "-Es",
            str(GATE),
            "--repos-dir",
            str(borg_setup.repo.parent),
            "--gates-dir",
            str(gates),
            "--hold",
            "2",
            "admin",
        ],
        env={
            "PATH": "/usr/bin:/bin",
            "SSH_ORIGINAL_COMMAND": f"bangka-gate {borg_setup.repo.name}",
        },
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert gate.stdin is not None and gate.stdout is not None
    assert json.loads(gate.stdout.readline())["gate"] == "closed"
    if clean:
        gate.stdin.write("clean\n")
        gate.stdin.flush()
        assert json.loads(gate.stdout.readline()) == {"gate": "clean"}
    assert gate.wait(timeout=60) == 75  # the hold ran out; stdin is still open
    mark_file = gates / f"{borg_setup.repo.name}.mark"
    assert mark_file.exists() is clean
