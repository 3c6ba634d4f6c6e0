"""The printable agenda (manual fallback): per leader, today/tomorrow and this/next week, with
the pre-event checklist; PDF through real headless Chromium."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

import pikepdf
import pypdfium2
import pytest

from bangka_ops import chromium
from bangka_ops.agenda import cetak
from bangka_ops.agenda.repository import load
from tests.unit.agenda.conftest import EXAMPLE


def test_each_leader_gets_the_items_they_attend_with_the_checklist(tmp_path: Path) -> None:
    agenda = load(EXAMPLE, keep_data=True)
    assert agenda.config is not None and not agenda.errors
    results = cetak.write_all(agenda.events, agenda.config, tmp_path, dt.date(2026, 12, 1),
                              pdf=False)  # fmt: skip
    assert {(r["leader"], Path(r["html"]).name) for r in results} >= {
        ("bupati", "harian-2026-12-01.html"), ("bupati", "mingguan-2026-W49.html"),
        ("sekda", "harian-2026-12-02.html"), ("sekda", "mingguan-2026-W50.html"),
    }  # fmt: skip
    week = (tmp_path / "bupati" / "mingguan-2026-W49.html").read_text()
    assert "Rapat Paripurna Pengesahan APBD" in week
    assert "Senin, 30 November 2026" in week and "Minggu, 6 Desember 2026" in week
    assert '<li class="open">Tamu/undangan' in week  # the reception's guests are not ready
    again = cetak.write_all(agenda.events, agenda.config, tmp_path, dt.date(2026, 12, 1),
                            pdf=False)  # fmt: skip
    assert not any(r["changed"] for r in again)


@pytest.mark.skipif(chromium.find() is None, reason="needs Debian's chromium")
def test_the_pages_print_to_a4_pdf(tmp_path: Path) -> None:
    agenda = load(EXAMPLE, keep_data=True)
    assert agenda.config is not None
    html = tmp_path / "page.html"
    html.write_text(cetak.page(agenda.config, "bupati", "harian", dt.date(2026, 12, 1),
                               dt.date(2026, 12, 1), found=[],
                               made=dt.datetime(2026, 12, 1, tzinfo=dt.UTC)))  # fmt: skip
    pdf = tmp_path / "page.pdf"
    assert chromium.print_pdf(str(chromium.find()), html, pdf) is None
    with pikepdf.open(pdf) as document:
        width, height = (float(v) for v in document.pages[0].mediabox[2:])
    assert (round(width / 72 * 25.4), round(height / 72 * 25.4)) == (210, 297)  # A4, in mm


@pytest.mark.skipif(chromium.find() is None, reason="needs Debian's chromium")
def test_every_page_gets_its_pdf_and_an_unchanged_page_is_not_printed_again(
    tmp_path: Path,
) -> None:
    agenda = load(EXAMPLE, keep_data=True)
    assert agenda.config is not None
    day = dt.date(2026, 12, 1)
    results = cetak.write_all(agenda.events, agenda.config, tmp_path, day, pdf=True)
    assert len(results) == 4 * len(agenda.config.leaders)
    for entry in results:
        assert "pdf_error" not in entry, entry
        assert entry["pdf"] == str(Path(entry["html"]).with_suffix(".pdf"))
    week = pypdfium2.PdfDocument(tmp_path / "bupati" / "mingguan-2026-W49.pdf")
    text = "".join(week[i].get_textpage().get_text_range() for i in range(len(week)))
    assert "Rapat Paripurna Pengesahan APBD" in text.replace("\r\n", " ").replace("\n", " ")
    printed = {Path(r["pdf"]): Path(r["pdf"]).stat().st_mtime_ns for r in results}
    again = cetak.write_all(agenda.events, agenda.config, tmp_path, day, pdf=True)
    assert not any(r["changed"] for r in again)
    assert {Path(r["pdf"]): Path(r["pdf"]).stat().st_mtime_ns for r in again} == printed
    (tmp_path / "sekda" / "harian-2026-12-02.pdf").unlink()  # a lost PDF is printed again
    third = cetak.write_all(agenda.events, agenda.config, tmp_path, day, pdf=True)
    assert (tmp_path / "sekda" / "harian-2026-12-02.pdf").read_bytes().startswith(b"%PDF-")
    assert all("pdf" in r for r in third)


def test_an_item_over_several_days_shows_on_each_of_them(tmp_path: Path) -> None:
    agenda = load(EXAMPLE, keep_data=True)
    assert agenda.config is not None
    zone = ZoneInfo(agenda.config.timezone)
    base = next(e for e in agenda.events if "bupati" in e.leaders and not e.cancelled
                and e.rrule is None)  # fmt: skip
    trip = replace(base, id="kunjungan-kerja", title="Kunjungan Kerja ke Jakarta", all_day=False,
                   start=dt.datetime(2026, 11, 30, 13, 0, tzinfo=zone),
                   end=dt.datetime(2026, 12, 2, 11, 30, tzinfo=zone))  # fmt: skip
    fair = replace(base, id="pameran", title="Pameran UMKM", all_day=True,
                   start=dt.datetime(2026, 12, 3, tzinfo=zone),
                   end=dt.datetime(2026, 12, 5, tzinfo=zone))  # fmt: skip
    cetak.write_all([trip, fair], agenda.config, tmp_path, dt.date(2026, 12, 1), pdf=False)

    today = (tmp_path / "bupati" / "harian-2026-12-01.html").read_text()
    assert "Kunjungan Kerja ke Jakarta" in today
    assert "lanjutan, sepanjang hari" in today and "continued, all day" in today
    tomorrow = (tmp_path / "bupati" / "harian-2026-12-02.html").read_text()
    assert "lanjutan, s.d. 11.30" in tomorrow
    week = (tmp_path / "bupati" / "mingguan-2026-W49.html").read_text()
    assert week.count("Kunjungan Kerja ke Jakarta") == 3  # Monday, Tuesday, Wednesday
    assert "13.00 \u2013 s.d. Rabu, 2 Desember 2026 11.30" in week
    assert week.count("Pameran UMKM") == 2  # Thursday and Friday (the end is exclusive)
    assert "hari ke-2 dari 2" in week and "day 1 of 2" in week


def test_a_changed_page_whose_print_fails_keeps_no_outdated_pdf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agenda = load(EXAMPLE, keep_data=True)
    assert agenda.config is not None
    day = dt.date(2026, 12, 1)
    cetak.write_all(agenda.events, agenda.config, tmp_path, day, pdf=False)
    week = tmp_path / "bupati" / "mingguan-2026-W49.pdf"
    week.write_bytes(b"%PDF-1.4 the week before the change\n")
    monkeypatch.setattr(cetak, "chromium", lambda: "/bin/false")  # a browser that fails
    unchanged = cetak.write_all(agenda.events, agenda.config, tmp_path, day, pdf=True)
    assert week.read_bytes().startswith(b"%PDF-1.4 the week")  # nothing changed: kept
    assert any(r.get("pdf") == str(week) for r in unchanged)

    moved = [replace(e, title=e.title + " (diundur)") for e in agenda.events]
    results = cetak.write_all(moved, agenda.config, tmp_path, day, pdf=True)

    entry = next(r for r in results if r["html"] == str(week.with_suffix(".html")))
    assert entry["changed"] and entry["pdf_error"] == "chromium exited with 1"
    assert not week.exists()  # the outdated PDF is gone, not passed off as current
    monkeypatch.setattr(cetak, "chromium", chromium.find)
    if chromium.find() is not None:  # the next run prints what the failed one could not
        cetak.write_all(moved, agenda.config, tmp_path, day, pdf=True)
        assert week.read_bytes().startswith(b"%PDF-")
