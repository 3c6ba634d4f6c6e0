"""Helpers for the admin-side tests (maintenance, watchdog, hostile clients): the admin's
configuration around a BorgSetup, the tool run as its own process, real backups."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bangka_ops.backup import maintenance, rollback
from tests.conftest import BorgSetup


def admin_config(setup: BorgSetup, retention: dict[str, int] | None = None) -> Path:
    config: dict[str, Any] = {
        "state_dir": str(setup.root / "admin-state"),
        "lock_wait_seconds": 5,
        "clients": {
            "web-01": {
                "repository": setup.config["repository"],
                "policies": {
                    "docs": {
                        "cycles": ["daily", "weekly", "monthly"],
                        "retention": retention or {"daily": 7, "weekly": 4, "monthly": 12},
                    }
                },
            }
        },
    }
    if "notify" in setup.config:
        config["notify"] = setup.config["notify"]
    path = setup.root / "admin.json"
    path.write_text(json.dumps(config))
    return path


def run_maintenance(
    config: Path, command: str = "run", env: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, maintenance.__file__, "--config", str(config), command, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode != maintenance.EXIT_USAGE, proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    return proc.returncode, report


def backups(setup: BorgSetup, count: int) -> list[str]:
    names = []
    for _ in range(count):
        code, record = setup.run("docs", "daily", "--on-demand")
        assert code == 0, record.get("reason")
        names.append(record["archive"])
        time.sleep(1.05)  # archive names carry seconds
    return names


def segment_files(repo: Path) -> list[Path]:
    return sorted(p for p in (repo / "data").glob("*/*") if p.name.isdigit())


def watchdog_config(setup: BorgSetup, rpo_hours: int = 24) -> Path:
    path = admin_config(setup)
    config = json.loads(path.read_text())
    config["clients"]["web-01"]["policies"]["docs"]["rpo_hours"] = rpo_hours
    path.write_text(json.dumps(config))
    return path


def roll_back(setup: BorgSetup, to: str) -> None:
    """bangka-borg-rollback to ``to``, then what playbooks/backup_rollback.yml does on the
    hosts: forget the Borg caches and replay guard that remember the removed transactions."""
    assert rollback.main([str(setup.repo), "--to", to, "--apply"]) == 0
    for cache in (setup.root / "borg-base" / ".cache" / "borg").glob("*"):
        if cache.is_dir():
            shutil.rmtree(cache)
    for stamp_file in (setup.root / "borg-base" / ".config" / "borg" / "security").glob(
        "*/manifest-timestamp"
    ):
        stamp_file.unlink()
