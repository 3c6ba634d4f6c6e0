"""A deployed config.json the checklist cannot use is named, never a traceback (issue 13, 8)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BAD = {
    "hour is not a number": ({"cycles": {"daily": {"hour": "x"}}}, "cycles.daily.hour"),
    "cycle settings are a list": ({"cycles": {"daily": [1]}}, "cycles.daily"),
    "unknown cycle": ({"cycles": {"hourly": {}}}, "cycles.hourly"),
    "unknown time zone": ({"timezone": "Mars/Base", "cycles": {"daily": {}}}, "Mars/Base"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_config_the_checklist_cannot_use_is_named(tmp_path: Path, case: str) -> None:
    policy, named = BAD[case]
    config: dict[str, Any] = {"host": "fs01", "policies": {"dokumen": policy}}
    (tmp_path / "fs01").mkdir()
    (tmp_path / "fs01" / "config.json").write_text(json.dumps(config))
    proc = subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", "report", str(tmp_path), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "fs01/config.json" in proc.stderr and named in proc.stderr
