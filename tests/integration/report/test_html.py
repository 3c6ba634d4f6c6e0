"""The printable form renders in a real browser (chromium), prints to PDF, logs no console
errors, and speaks Bahasa Indonesia by default and English on request."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

from tests.browser import print_to_pdf
from tests.integration.report.helpers import cekat_report


def report(root: Path, today: dt.date, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return cekat_report(root, today, "--format", "html", "--out", str(out), *extra)


def test_the_form_renders_and_prints_in_chromium(
    tree: tuple[Path, dt.date], tmp_path: Path
) -> None:
    root, today = tree
    page = tmp_path / "daftar-periksa.html"
    proc = report(root, today, page)
    assert proc.returncode == 1, proc.stderr  # the truncated record in the tree ...
    assert "Traceback" not in proc.stderr and "skipped:" in proc.stderr  # ... and nothing else
    html = page.read_text()
    assert "Daftar Periksa Pencadangan" in html
    assert "terlewat" in html and "harian inkremental" in html
    assert html.count("<svg") == 3
    assert "Belum ditandatangani" in html

    pdf = tmp_path / "daftar-periksa.pdf"
    console = print_to_pdf(page, pdf)

    assert console == []
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert pdf.stat().st_size > 10_000


def test_english_on_request_and_a_valid_signoff_is_shown(
    tree: tuple[Path, dt.date], tmp_path: Path
) -> None:
    root, today = tree
    data = tmp_path / "checklist.json"
    made = cekat_report(root, today, "--out", str(data))
    assert data.is_file(), made.stderr
    key = tmp_path / "operator"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    signers = tmp_path / "allowed_signers"
    signers.write_text(
        f'siti@bangka.go.id namespaces="bangka-ops-backup-checklist@bangka.go.id" '
        f"{(tmp_path / 'operator.pub').read_text()}"
    )
    signed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bangka_ops.cli",
            "sign",
            str(data),
            "--key",
            str(key),
            "--signer",
            "siti@bangka.go.id",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert signed.returncode == 0, signed.stderr

    page = tmp_path / "checklist.html"
    report(
        root,
        today,
        page,
        "--lang",
        "en",
        "--signoff",
        f"{data}.signoff.json",
        "--allowed-signers",
        str(signers),
    )
    assert "Traceback" not in made.stderr, made.stderr
    html = page.read_text()
    assert "Backup Checklist" in html and "daily incremental" in html
    assert "Electronically signed by <strong>siti@bangka.go.id</strong>" in html
    assert print_to_pdf(page, tmp_path / "checklist.pdf") == []


def test_the_console_check_can_fail(tmp_path: Path) -> None:
    page = tmp_path / "rusak.html"
    page.write_text("<html><body><script>fungsiTidakAda();</script></body></html>")
    console = print_to_pdf(page, tmp_path / "rusak.pdf")
    assert any("fungsiTidakAda is not defined" in line for line in console)
