"""A real headless browser (Debian's chromium) for HTML output."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

CONSOLE = re.compile(r":(?:INFO|WARNING|ERROR):CONSOLE[:(]\d+\)?\]? (.*)")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]


def print_to_pdf(page: Path, pdf: Path) -> list[str]:
    """Render ``page`` and print it to ``pdf``; returns the page's console messages."""
    browser = shutil.which("chromium")
    if browser is None:
        raise AssertionError("chromium is not installed: run scripts/setup.sh --test")
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        proc = subprocess.run(
            [
                browser,
                *FLAGS,
                f"--user-data-dir={profile}",
                "--no-pdf-header-footer",
                f"--print-to-pdf={pdf}",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [m.group(1) for m in CONSOLE.finditer(proc.stderr)]
