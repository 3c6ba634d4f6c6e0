"""Agenda repositories as git repositories, and the `protocloud` command run as a process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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
