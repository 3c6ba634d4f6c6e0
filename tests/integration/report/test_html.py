"""The printable form renders in a real browser (chromium), prints to PDF, logs no console
errors, and speaks Bahasa Indonesia by default and English on request."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pypdfium2 as pdfium

from bangka_ops.report import html as html_form
from tests.browser import layout_width, print_to_pdf
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


# A4 landscape less the form's 12 mm margins: 273 mm at 96 CSS px per inch.
PRINTABLE_PX = int(273 / 25.4 * 96)
BLUE = (0x15, 0x65, 0xC0)  # the mean line of the backup-duration chart, nowhere else


def count_near(rgb: bytes, colour: tuple[int, int, int]) -> int:
    red, green, blue = colour
    return sum(
        abs(rgb[i] - red) <= 40 and abs(rgb[i + 1] - green) <= 40 and abs(rgb[i + 2] - blue) <= 40
        for i in range(0, len(rgb), 3)
    )


def test_a_one_day_form_fits_a4_landscape_with_readable_charts_and_a_signature_block(
    tree: tuple[Path, dt.date], tmp_path: Path
) -> None:
    """One day's form (the day's runs: one point per chart line), printed: the page is A4
    landscape, nothing is wider than the printable width (so the browser never shrinks it),
    the duration chart's data shows on the printed page, axes are labelled, and the sign-off
    has place, date, name and signature lines."""
    root, today = tree
    page = tmp_path / "hari-ini.html"
    proc = subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", "report", str(root),
         "--since", today.isoformat(), "--to", today.isoformat(),
         "--format", "html", "--out", str(page)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    html = page.read_text()
    for label in ("Tanggal", "detik", "Minggu (ISO)", "% berhasil", "skala logaritmik"):
        assert f">{label}" in html or label in html, label
    assert html.count("Tempat, tanggal") == 2
    assert html.count("Nama dan tanda tangan") == 2
    assert "Operator pencadangan" in html and "koordinator TI" in html

    assert layout_width(page, PRINTABLE_PX) <= PRINTABLE_PX

    pdf = tmp_path / "hari-ini.pdf"
    assert print_to_pdf(page, pdf) == []
    document = pdfium.PdfDocument(pdf)
    blue = 0
    for index in range(len(document)):
        printed = document[index]
        width, height = printed.get_size()
        assert (round(width), round(height)) == (842, 595)  # A4 landscape, in points
        picture = printed.render(scale=150 / 72).to_pil().convert("RGB")
        blue += count_near(picture.tobytes(), BLUE)
    document.close()
    # Two markers at least (mean of the day); a line with one point and no marker draws none.
    # Measured: 70 such pixels with the legend alone (a one-point line without markers draws
    # nothing), 183 with the day's markers drawn.
    assert blue > 120, blue


def test_long_names_and_reasons_wrap_inside_the_printable_width(tmp_path: Path) -> None:
    """Real names are long (fully qualified hosts, ssh:// repositories, Borg's paths in a
    reason) and have no spaces: they wrap in their cells instead of widening the table."""
    host = "simpeg-kepegawaian-db01.bangka.go.id"
    row = {
        "date": "2026-12-02", "host": host, "policy": "database-kepegawaian-produksi",
        "category": "critical", "cycle": "daily", "backup_type": "incremental",
        "trigger": "schedule", "status": "failed", "start": "2026-12-02T02:00:00+07:00",
        "duration_seconds": 12.5, "original_bytes": 123456789012, "compressed_bytes": 23456789012,
        "deduplicated_bytes": 3456789012, "files": 1234567, "log_check": "errors",
        "borg_check": "not-scheduled", "restore_test": "none", "admin_check": None,
        "repository": f"ssh://borg@backup01.bangka.go.id:22/srv/borg/repos/{host}-produksi",
        "offsite_repository": f"ssh://borg@cadangan-luar-kota.bangka.go.id:2222/srv/{host}",
        "offsite_status": "failed", "archive": f"{host}-database-kepegawaian-daily-2026-12-02",
        "reason": "/var/lib/postgresql/15/main/base/16384/" + "2619_fsm.tmp-" * 12
        + ": [Errno 13] Permission denied", "record": "/var/lib/bangka-backup/records/x.json",
    }  # fmt: skip
    kpis = {
        "period": "2026-12-02..2026-12-02", "generated": "2026-12-02T12:00:00+07:00",
        "total": {}, "categories": {}, "hosts": [], "policies": [], "problems": [],
        "admin": {"hosts": []}, "arsip": [],
    }  # fmt: skip
    page = tmp_path / "panjang.html"
    page.write_text(html_form.render([row] * 3, kpis, None, "id"))
    assert layout_width(page, PRINTABLE_PX) <= PRINTABLE_PX
