"""A collected tree made of real runs, shared by the report tests."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bangka_ops.backup import restore_test
from tests.conftest import BORG_14, BorgSetup

JAKARTA = ZoneInfo("Asia/Jakarta")


def jakarta_today() -> dt.date:
    """Today in Jakarta, away from midnight so all runs of the test share the day."""
    now = dt.datetime.now(JAKARTA)
    if now.hour == 23 and now.minute >= 58:
        time.sleep((60 - now.minute) * 60 - now.second + 5)
    return dt.datetime.now(JAKARTA).date()


@pytest.fixture(params=["1.2", "1.4"])
def borg_binary(request: pytest.FixtureRequest) -> str:
    """Every report test runs on records of Debian's Borg 1.2 and of Borg 1.4 (from PyPI,
    built by scripts/setup.sh --test): hosts of both kinds report to one admin host."""
    if request.param == "1.2":
        return "borg"
    if not BORG_14.exists():
        pytest.fail(f"{BORG_14} missing: run scripts/setup.sh --test")
    version = subprocess.run(
        [str(BORG_14), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert version.startswith("borg 1.4"), version
    return str(BORG_14)


@pytest.fixture
def tree(borg_setup: BorgSetup, tmp_path: Path) -> tuple[Path, dt.date]:
    """Real runs of one day, copied into a collected tree with the schedule the role deployed:
    policy docs (daily every day; weekly and monthly both due today; its first record is today,
    so earlier days were before it was deployed) and policy arsip, deployed but never run."""
    today = jakarta_today()
    _, clean = borg_setup.run("docs", "daily")
    assert clean["status"] == "success"
    borg_setup.config["policies"]["docs"]["sources"].append(str(borg_setup.root / "hilang"))
    _, warning = borg_setup.run("docs", "weekly")
    assert warning["status"] == "warning"
    borg_setup.config["policies"]["docs"]["sources"].pop()
    (borg_setup.source / "besar.bin").write_bytes(os.urandom(64 * 2**20))
    killed = borg_setup.run_killed("docs", "monthly")
    assert killed["reason"] == "borg create was killed by signal 9"
    pass_file = Path(borg_setup.config["repository"]["passphrase_file"])
    real = pass_file.read_text()
    pass_file.chmod(0o600)
    pass_file.write_text("salah\n")
    _, failed = borg_setup.run("docs", "daily", "--on-demand")
    assert failed["status"] == "failed"
    pass_file.write_text(real)
    code, test = restore_test.RestoreTest(borg_setup.config, "docs").run(min_files=2, min_bytes=1)
    assert code == 0, test.get("reason")

    root = tmp_path / "collected" / "web-01"
    shutil.copytree(borg_setup.config["records_dir"], root / "records")
    deployed = dict(borg_setup.config)
    deployed["policies"] = {
        "docs": {
            **borg_setup.config["policies"]["docs"],
            "timezone": "Asia/Jakarta",
            "cycles": {
                "daily": {"hour": 0, "minute": 0},
                "weekly": {"weekday": today.isoweekday(), "hour": 0, "minute": 0},
                "monthly": {"day": today.day, "hour": 0, "minute": 0},
            },
        },
        # Deployed but it never ran: every run due is missed.
        "arsip": {
            "sources": ["/srv/arsip"],
            "category": "archive",
            "rpo_hours": 168,
            "timezone": "Asia/Jakarta",
            "cycles": {"daily": {"hour": 0, "minute": 0}},
        },
    }
    (root / "config.json").write_text(json.dumps(deployed))
    broken = root / "records" / "docs" / "web-01-docs-daily-2020-01-01T00-00-00.json"
    broken.write_text('{\n "schema_version": 1,\n "host": "web-01",\n "status": "succ')
    return tmp_path / "collected", today
