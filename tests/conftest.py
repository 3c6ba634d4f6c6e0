from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bangka_ops.backup import agent

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class BorgSetup:
    """A real local Borg repository, a source tree and a wrapper configuration around them."""

    root: Path
    config_path: Path
    config: dict[str, Any]
    passphrase: str
    source: Path
    repo: Path
    binary: str = "borg"

    def write_config(self) -> None:
        self.config_path.write_text(json.dumps(self.config, indent=2))

    def wrapper(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run the wrapper as the host runs it: a separate process, its own argv."""
        self.write_config()
        return subprocess.run(
            [sys.executable, agent.__file__, "--config", str(self.config_path), *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=300,
        )

    def run(
        self, policy: str = "docs", cycle: str = "daily", *extra: str
    ) -> tuple[int, dict[str, Any]]:
        proc = self.wrapper("run", "--policy", policy, "--cycle", cycle, *extra)
        assert proc.returncode != agent.EXIT_USAGE, proc.stderr
        path = next(
            line.split(": ", 1)[1]
            for line in proc.stdout.splitlines()
            if line.startswith("record: ")
        )
        return proc.returncode, json.loads(Path(path).read_text())

    def run_killed(self, policy: str = "docs", cycle: str = "daily", *extra: str) -> dict[str, Any]:
        """A run whose `borg create` is killed with SIGKILL while it works; returns its record.
        The source should hold enough new data for Borg to be caught working."""
        self.write_config()
        wrapper = subprocess.Popen(
            [
                sys.executable,
                agent.__file__,
                "--config",
                str(self.config_path),
                "run",
                "--policy",
                policy,
                "--cycle",
                cycle,
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        borg_pid = ""
        while not borg_pid and time.monotonic() < deadline:
            found = subprocess.run(
                ["pgrep", "-P", str(wrapper.pid), "-f", "borg create"],
                capture_output=True,
                text=True,
                check=False,
            )
            borg_pid = found.stdout.split()[0] if found.stdout.split() else ""
            time.sleep(0.02)
        assert borg_pid, "borg create never started"
        time.sleep(0.3)
        os.kill(int(borg_pid), signal.SIGKILL)
        out, _ = wrapper.communicate(timeout=120)
        assert wrapper.returncode == agent.EXIT_FAILED, out
        record: dict[str, Any] = json.loads(Path(out.split("record: ")[1].strip()).read_text())
        return record

    def borg(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            "BORG_PASSPHRASE": self.passphrase,
            "BORG_BASE_DIR": str(self.root / "borg-base"),
            "PATH": "/usr/bin:/bin",
        }
        return subprocess.run(
            [self.binary, *args], env=env, capture_output=True, text=True, check=False
        )

    def archives(self) -> list[str]:
        proc = self.borg("list", "--short", str(self.repo))
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split()


BORG_14 = REPO_ROOT / ".venv-borg14" / "bin" / "borg"


@pytest.fixture
def borg_binary() -> str:
    """The Borg the wrapper runs: Debian's (1.2). Override to run a test with another."""
    return "borg"


@pytest.fixture
def borg_setup(tmp_path: Path, borg_binary: str) -> BorgSetup:
    if shutil.which(borg_binary) is None:
        pytest.fail(f"{borg_binary} is not installed: run scripts/setup.sh --test")
    passphrase = secrets.token_urlsafe(24)
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir(mode=0o700)
    pass_file = secrets_dir / "repository.pass"
    pass_file.write_text(passphrase + "\n")
    pass_file.chmod(0o400)
    source = tmp_path / "source"
    (source / "surat").mkdir(parents=True)
    (source / "surat" / "undangan.txt").write_text("Undangan rapat paripurna DPRD\n" * 50)
    (source / "anggaran.csv").write_text(
        "kode,uraian,anggaran\n5.1.01,Belanja Pegawai,1250000000\n"
    )
    repo = tmp_path / "repo"
    config: dict[str, Any] = {
        "schema_version": 1,
        "host": "web-01",
        "borg_binary": borg_binary,
        "timezone": "Asia/Jakarta",
        "records_dir": str(tmp_path / "records"),
        "state_dir": str(tmp_path / "state"),
        "lock_wait_seconds": 2,
        "repository": {
            "location": str(repo),
            "passphrase_file": str(pass_file),
            "make_parent_dirs": True,
            "base_dir": str(tmp_path / "borg-base"),
        },
        "policies": {
            "docs": {
                "category": "critical",
                "sources": [str(source)],
                "exclude_patterns": ["*.tmp"],
                "rpo_hours": 24,
                "rto_hours": 4,
                # Weekday 0 / day 0 never come, so nothing is "covered" unless a test says so.
                "cycles": {"daily": {}, "weekly": {"weekday": 0}, "monthly": {"day": 0}},
            }
        },
    }
    setup = BorgSetup(
        tmp_path, tmp_path / "config.json", config, passphrase, source, repo, borg_binary
    )
    init = setup.wrapper("init")
    assert init.returncode == 0, init.stderr
    return setup


@pytest.fixture(autouse=True)
def audit_log(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Tests append to an audit log of their own, never to this machine's
    /var/log/bangka-ops (a module that tests the real one overrides this fixture)."""
    path = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    monkeypatch.setenv(agent.AUDIT_ENV, str(path))
    return path
