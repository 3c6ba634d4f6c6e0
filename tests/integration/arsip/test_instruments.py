"""The Daftar Arsip and the retention list: contents, the files staff open (CSV, XLSX), the HTML
printed by a real browser, and that a retention run deletes nothing."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from bangka_ops.arsip import catalogue as cat
from tests.browser import print_to_pdf
from tests.integration.arsip.helpers import cekat, pdf_text


def add(c: cat.Catalogue, root: Path, kode: str, unit: str, when: dt.date, *, perihal: str) -> int:
    meta = {"kode": kode, "jenis": "surat-masuk", "nomor": f"{perihal}/1", "tanggal": when,
            "perihal": perihal, "unit": unit, "halaman": 1, "keamanan": "biasa"}  # fmt: skip
    path = f"{kode}/{when.year}/{perihal}.pdf"
    (root / "dokumen" / path).parent.mkdir(parents=True, exist_ok=True)
    (root / "dokumen" / path).write_bytes(b"%PDF-1.7 contoh")
    return c.add(meta, cat.STORED, text=perihal, path=path, asli=path + ".asli",
                 sumber_sha256=perihal, sumber="{}", batch="b")  # fmt: skip


@pytest.fixture
def archive(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    root = tmp_path / "arsip"
    (root / "dokumen").mkdir(parents=True)
    with cat.Catalogue(root) as c:
        ids = {
            # UM.01.01: 1 active, 2 inactive, musnah. 2023 → inactive 2024, due 2026-01-01.
            "surat-lama": add(
                c, root, "UM.01.01", "sekretariat", dt.date(2023, 5, 2), perihal="surat-lama"
            ),
            # PR.01.01: 5/5 permanen. 2015 → due 2025-01-01.
            "rpjm": add(c, root, "PR.01.01", "sekretariat", dt.date(2015, 1, 9), perihal="rpjm"),
            # PR.02.01: 2/8 dinilai_kembali. 2014 → due 2024-01-01.
            "rka": add(c, root, "PR.02.01", "aptika", dt.date(2014, 7, 1), perihal="rka"),
            # KP.03: 5/10, vital. 2024 → active until 2028.
            "berkas-pegawai": add(
                c, root, "KP.03", "aptika", dt.date(2024, 2, 2), perihal="berkas-pegawai"
            ),
        }
    return root, ids


def test_the_daftar_arsip_lists_records_per_unit_and_year_in_three_formats(
    archive: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    root, ids = archive
    done = cekat(root, "daftar")
    assert done.returncode == 0, done.stderr
    html, csv_path, xlsx = (Path(line.split(": ", 1)[1]) for line in done.stdout.splitlines())
    assert html == root / "laporan" / "daftar-arsip.html"
    with csv_path.open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["Unit / Unit"], r["Tahun / Year"], r["ID / ID"]) for r in rows] == [
        ("aptika", "2014", str(ids["rka"])),
        ("aptika", "2024", str(ids["berkas-pegawai"])),
        ("sekretariat", "2015", str(ids["rpjm"])),
        ("sekretariat", "2023", str(ids["surat-lama"])),
    ]
    assert rows[1]["Vital / Vital"] == "ya / yes"
    assert rows[1]["Retensi (aktif/inaktif/akhir) / Retention (active/inactive/final)"] == (
        "5/10/permanen"
    )
    sheet = openpyxl.load_workbook(xlsx).active
    assert sheet is not None
    assert [c.value for c in sheet[1]][:3] == ["Unit / Unit", "Tahun / Year", "No. / No."]
    assert sheet.max_row == 5
    # Printed by a real browser: no script errors, and the text is there.
    assert print_to_pdf(html, tmp_path / "daftar.pdf") == []
    text = pdf_text(tmp_path / "daftar.pdf")  # fmt: skip
    for words in ("Daftar Arsip", "Bidang Aplikasi Informatika", "Sekretariat", "rpjm"):
        assert words in text
    one = cekat(root, "daftar", "--unit", "aptika", "--tahun", "2024")
    assert "daftar-arsip-aptika-2024.csv" in one.stdout


def retention(root: Path, per: str) -> dict[str, Any]:
    done = cekat(root, "retensi", "--per", per, "--json")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_retention_counts_whole_years_and_proposes_never_deletes(
    archive: tuple[Path, dict[str, int]],
) -> None:
    root, ids = archive
    before = sorted(p for p in (root / "dokumen").rglob("*"))

    def ids_of(rows: list[dict[str, Any]]) -> list[int]:
        return sorted(r["id"] for r in rows)

    early = retention(root, "2023-12-31")
    assert ids_of(early["inaktif"]) == [ids["rpjm"], ids["rka"]]
    assert all(not rows for rows in early["usul"].values())
    turn = retention(root, "2024-01-01")
    assert ids_of(turn["usul"]["dinilai_kembali"]) == [ids["rka"]]
    assert ids_of(turn["inaktif"]) == [ids["surat-lama"], ids["rpjm"]]
    late = retention(root, "2026-01-01")
    assert ids_of(late["usul"]["musnah"]) == [ids["surat-lama"]]
    assert ids_of(late["usul"]["permanen"]) == [ids["rpjm"]]
    assert late["inaktif"] == []
    assert late["usul"]["musnah"][0]["jatuh_tempo"] == "2026-01-01"
    assert late["usul"]["musnah"][0]["aktif_sampai"] == "2023-12-31"
    # A proposal only: every document and every catalogue entry is still there.
    assert sorted(p for p in (root / "dokumen").rglob("*")) == before
    with cat.Catalogue(root) as c:
        assert {i["id"] for i in c.items()} == set(ids.values())
    lines = [json.loads(x) for x in (root.parent / "audit.jsonl").read_text().splitlines()]
    proposals = [x for x in lines if x["action"] == "usul_retensi"]
    # Once due, a record stays proposed until someone acts on it (here: still re-appraise).
    assert proposals[-1]["details"]["usul"] == {"musnah": 1, "permanen": 1, "dinilai_kembali": 1}
    assert sorted(proposals[-1]["details"]["item"]) == sorted(
        [ids["surat-lama"], ids["rpjm"], ids["rka"]]
    )
    html = root / "laporan" / "retensi-per-2026-01-01.html"
    assert "bukan penghapusan" in html.read_text()


def test_a_wrong_date_is_refused(archive: tuple[Path, dict[str, int]]) -> None:
    root, _ = archive
    done = cekat(root, "retensi", "--per", "2026-02-30")
    assert done.returncode == 64
    assert "--per '2026-02-30': bukan tanggal TTTT-BB-HH / not a YYYY-MM-DD date" in done.stderr


def test_text_that_looks_like_a_formula_stays_text_in_the_exports(tmp_path: Path) -> None:
    root = tmp_path / "arsip"
    (root / "dokumen").mkdir(parents=True)
    with cat.Catalogue(root) as c:
        add(c, root, "UM.01.01", "aptika", dt.date(2025, 1, 2), perihal="x")
        c.change(1, {"perihal": '=HYPERLINK("http://contoh","klik")'}, "sari", "uji")
    done = cekat(root, "daftar")
    assert done.returncode == 0, done.stderr
    sheet = openpyxl.load_workbook(root / "laporan" / "daftar-arsip.xlsx").active
    assert sheet is not None
    assert sheet["E2"].value == '\'=HYPERLINK("http://contoh","klik")'
    assert sheet["E2"].data_type == "s"
    bad = cekat(root, "ubah", "1", "--set", "perihal=a\x01b", "--alasan", "x")
    assert bad.returncode == 64
    assert "perihal: berisi karakter kendali / contains control characters" in bad.stderr
