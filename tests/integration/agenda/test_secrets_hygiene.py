"""Secrets hygiene across both paths: the backup (real Borg, the wrapper as the host runs it) and
the agenda sync (the real client with a service account acting as the calendar owners, then the
scheduled job). While they run, every process's command line and environment is sampled; after,
every log, record, report, state file, audit line and output is searched. Neither the Borg
passphrase nor the Google private key, access tokens or OAuth token may appear anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from bangka_ops.backup import agent
from tests.conftest import BorgSetup
from tests.gcal_server import Server
from tests.integration.agenda.test_job import deploy, job
from tests.integration.agenda.test_sync import run, service_account


@contextmanager
def sampled() -> Iterator[list[bytes]]:
    """Every process's argv and environment, read every few milliseconds while the block runs."""
    seen: list[bytes] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit() or proc.name == str(os.getpid()):
                    continue
                for name in ("cmdline", "environ"):
                    with suppress(OSError):
                        seen.append((proc / name).read_bytes())
            done.wait(0.005)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        done.set()
        thread.join()


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


def assert_absent(secret: str, where: dict[str, bytes]) -> None:
    for name, data in where.items():
        assert secret.encode() not in data, f"a secret appears in {name}"


@pytest.mark.borg
def test_no_passphrase_in_records_logs_audit_or_processes_of_the_backup_path(
    borg_setup: BorgSetup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit_log = tmp_path / "audit" / "audit.jsonl"
    monkeypatch.setenv(agent.AUDIT_ENV, str(audit_log))
    outputs = []
    with sampled() as seen:
        for cycle in ("daily", "weekly", "monthly"):
            proc = borg_setup.wrapper("run", "--policy", "docs", "--cycle", cycle)
            assert proc.returncode == agent.EXIT_OK, proc.stderr
            outputs.append((proc.stdout + proc.stderr).encode())
    assert any(b"borg" in s and b"create" in s for s in seen), "the sampler saw Borg run"
    where = {str(p): p.read_bytes() for p in files_under(tmp_path / "records", tmp_path / "state")}
    where[str(audit_log)] = audit_log.read_bytes()
    where["the wrapper's output"] = b"".join(outputs)
    where["the process list and environments"] = b"\0".join(seen)
    assert len(where) > 4
    assert_absent(borg_setup.passphrase, where)


def test_no_google_credentials_in_state_audit_records_or_processes_of_the_sync_path(
    repo: Path, server: Server
) -> None:
    private = service_account(repo, server)
    key_lines = [line for line in private.splitlines() if "PRIVATE KEY" not in line]
    config = deploy(repo, server)
    job_config = json.loads(config.read_text())
    job_config["sync"].update(credentials=str(repo.parent / "service-account.json"), act_as="owner")
    job_config["audit_log"] = str(repo.parent / "audit.jsonl")
    config.write_text(json.dumps(job_config))
    with sampled() as seen:
        direct = run(repo, server, "--as-owner", credentials="service-account.json")
        scheduled = job(config)
    assert direct.returncode == 0, direct.stderr
    assert scheduled.returncode == 0, scheduled.stdout + scheduled.stderr
    assert server.service.tokens, "access tokens were issued"
    secrets = [*key_lines[:3], *server.service.tokens]
    paths = [
        *files_under(repo.parent / "runs", repo.parent / "state"),
        repo.parent / "state.json",
        repo.parent / "sync-audit.jsonl",
        repo.parent / "audit.jsonl",
    ]
    where = {str(p): p.read_bytes() for p in paths}
    where["outputs"] = (
        direct.stdout + direct.stderr + scheduled.stdout + scheduled.stderr
    ).encode()
    where["the process list and environments"] = b"\0".join(seen)
    assert b'"kind": "agenda_sync"' in where[str(repo.parent / "audit.jsonl")]
    for secret in secrets:
        assert_absent(secret, where)


def test_the_sampler_would_see_a_secret_on_a_command_line(tmp_path: Path) -> None:
    """The process sampling is not blind: a secret passed on argv is caught."""
    with sampled() as seen:
        subprocess.run(
            [sys.executable, "-c", "import time; time.sleep(0.3)", "rahasia-di-argv"], check=False
        )
    with pytest.raises(AssertionError):
        assert_absent("rahasia-di-argv", {"processes": b"\0".join(seen)})
