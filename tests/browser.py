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


WIDTH_PROBE = (
    "<script>document.body.setAttribute('data-scroll-width',"
    " String(document.documentElement.scrollWidth));</script>"
)


def layout_width(page: Path, width_px: int) -> int:
    """The page's laid-out width (``scrollWidth``, CSS px) in a window ``width_px`` wide: more
    than ``width_px`` means something sticks out and a print at that width would be shrunk."""
    browser = shutil.which("chromium")
    if browser is None:
        raise AssertionError("chromium is not installed: run scripts/setup.sh --test")
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        probe = Path(profile) / "probe.html"
        probe.write_text(page.read_text().replace("</body>", WIDTH_PROBE + "</body>"))
        proc = subprocess.run(
            [
                browser,
                *FLAGS,
                f"--user-data-dir={profile}/data",
                f"--window-size={width_px},900",
                "--dump-dom",
                probe.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'data-scroll-width="(\d+)"', proc.stdout)
    assert found, proc.stdout[-2000:]
    return int(found.group(1))
