"""Agenda repositories as git repositories, and the `protocloud` command run as a process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.gcal_server import Server
from tests.unit.agenda.conftest import EXAMPLE

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Protokol",
    "GIT_AUTHOR_EMAIL": "protokol@bangka.go.id",
    "GIT_COMMITTER_NAME": "Protokol",
    "GIT_COMMITTER_EMAIL": "protokol@bangka.go.id",
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, env=ENV
    ).stdout


def sync_run(
    repo: Path,
    server: Server | str,
    *extra: str,
    state: str = "state.json",
    credentials: str = "token.json",
) -> subprocess.CompletedProcess[str]:
    """``protocloud sync`` of ``repo`` against the local v3 server (or any URL), with the state
    file and credentials beside the repository, JSON output."""
    url = server if isinstance(server, str) else server.url
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "bangka_ops.cli.protocloud",
            "sync",
            str(repo),
            "--credentials",
            str(repo.parent / credentials),
            "--api-endpoint",
            url,
            "--state",
            str(repo.parent / state),
            "--format",
            "json",
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def protocloud(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli.protocloud", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=cwd,
    )


def write(repo: Path, name: str, data: dict[str, object]) -> None:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def commit_example(root: Path, *extra: tuple[str, dict[str, object]]) -> Path:
    """The example agenda (plus ``extra`` event files) committed as branch main of a new
    repository at ``root``."""
    shutil.copytree(EXAMPLE, root)
    for name, data in extra:
        write(root, name, data)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "agenda")
    return root


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    return commit_example(tmp_path / "agenda")


# ---- Google Calendar: the local v3 server and an example repository wired to it

CALENDARS = {
    "bupati": "bupati@group.calendar.bangka.go.id",
    "wakil-bupati": "wabup@group.calendar.bangka.go.id",
    "sekda": "sekda@group.calendar.bangka.go.id",
    "protokol-bersama": "protokol@group.calendar.bangka.go.id",
}


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as running:
        for calendar_id in CALENDARS.values():
            running.service.add_calendar(calendar_id)
        yield running


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = commit_example(tmp_path / "agenda")
    calendars = yaml.safe_load((root / "calendars.yaml").read_text())
    for key, calendar_id in CALENDARS.items():
        calendars["calendars"][key]["google_calendar_id"] = calendar_id
    (root / "calendars.yaml").write_text(yaml.safe_dump(calendars, allow_unicode=True))
    git(root, "commit", "-qam", "Google calendars")
    token = {
        "type": "authorized_user",
        "token": "token-lokal",
        "refresh_token": "tidak-dipakai",
        "client_id": "protocloud.apps.bangka.go.id",
        "client_secret": "rahasia-uji",
        "expiry": "2099-01-01T00:00:00Z",  # never refreshed: no token endpoint here
    }
    (tmp_path / "token.json").write_text(json.dumps(token))
    return root
