"""Shared by the report tests on the collected tree of real runs (conftest.py's ``tree``)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path


def cekat_report(
    root: Path, today: dt.date, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``cekat report`` on ``root`` for the three days ending ``today`` (the tree's runs and the
    two days before, when the arsip policy was due too), with ``args`` after the period."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "bangka_ops.cli",
            "report",
            str(root),
            "--since",
            (today - dt.timedelta(days=2)).isoformat(),
            "--to",
            today.isoformat(),
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
