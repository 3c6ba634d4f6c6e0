"""Printing HTML to PDF with Debian's headless Chromium (never a downloaded browser): the
printable agenda, the recovery drill report. The page's own print CSS sets the paper (A4)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from bangka_ops.report import atomic

NAMES = ("chromium", "chromium-browser", "google-chrome")


def find() -> str | None:
    """The Chromium on this host's PATH, or None."""
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def print_pdf(browser: str, html: Path, pdf: Path, timeout: float = 120) -> str | None:
    """``html`` printed to ``pdf`` (written atomically); None, or what failed."""
    with tempfile.TemporaryDirectory(prefix="bangka-pdf-") as profile:
        out = Path(profile) / "out.pdf"
        argv = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}/profile", "--no-pdf-header-footer",
                f"--print-to-pdf={out}", html.resolve().as_uri()]  # fmt: skip
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{type(exc).__name__}: {exc}"[:300]
        if proc.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
            return f"chromium exited with {proc.returncode}"
        data = out.read_bytes()
    if not data.startswith(b"%PDF-"):
        return "chromium wrote no PDF"
    pdf.parent.mkdir(parents=True, exist_ok=True)
    with atomic.replacing(pdf, binary=True, mode=0o644) as handle:
        handle.write(data)
    return None
