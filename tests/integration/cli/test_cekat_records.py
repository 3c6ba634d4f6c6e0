from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BorgSetup


@pytest.mark.borg
def test_records_lists_real_runs_and_reports_a_broken_file_by_name(borg_setup: BorgSetup) -> None:
    _, record = borg_setup.run("docs", "daily")
    records_dir = Path(borg_setup.config["records_dir"])
    broken = records_dir / "docs" / "web-01-docs-daily-2025-01-01T00-00-00.json"
    broken.write_text('{"schema_version": 1, "host": "web-01"')  # truncated by a full disk

    proc = subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", "records", str(records_dir), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert proc.returncode == 1
    rows = json.loads(proc.stdout)
    assert [r["archive"] for r in rows] == [record["archive"]]
    assert str(broken) in proc.stderr
    assert "invalid JSON" in proc.stderr
