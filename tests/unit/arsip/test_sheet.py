from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest

from bangka_ops.arsip import config, sheet

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "arsip" / "arsip.yml"
TODAY = dt.date(2026, 1, 15)
HEADER = "berkas,kode,jenis,nomor,tanggal,perihal,asal_tujuan,unit,halaman,keamanan,keterangan"
GOOD = "a.pdf,UM.01.01,surat-masuk,1/2025,2025-03-12,Undangan rapat,,sekretariat,2,,"


@pytest.fixture
def conf() -> config.Config:
    return config.read(EXAMPLE)


def read(tmp_path: Path, conf: config.Config, *rows: str, header: str = HEADER) -> sheet.Sheet:
    for name in ("a.pdf", "b.pdf", "c.png", "d.png"):
        (tmp_path / name).write_bytes(b"x")
    path = tmp_path / "lembar.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return sheet.read(path, tmp_path, conf, TODAY)


def messages(result: sheet.Sheet) -> list[str]:
    return [str(p) for row in result.rows for p in row.problems]


def test_a_good_row_gives_its_metadata(tmp_path: Path, conf: config.Config) -> None:
    result = read(tmp_path, conf, GOOD, "c.png;d.png,KP.03,SK,,12/03/2025,SK,,aptika,2,,")
    assert result.problems == [] and messages(result) == []
    first, second = result.rows
    assert first.meta["tanggal"] == dt.date(2025, 3, 12)
    assert first.meta["keamanan"] == "biasa"
    # Day-first dates, type keys in any case, and the code's own security class by default.
    assert second.files == ["c.png", "d.png"]
    assert (second.meta["tanggal"], second.meta["jenis"], second.meta["keamanan"]) == (
        dt.date(2025, 3, 12),
        "sk",
        "rahasia",
    )


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            GOOD.replace("a.pdf", "hilang.pdf"),
            "lembar.csv baris/row 2, kolom/column A (berkas): berkas hilang.pdf tidak ada di kotak "
            "masuk / the file hilang.pdf is not in the inbox",
        ),
        (
            GOOD.replace("UM.01.01", "ZZ.01"),
            "lembar.csv baris/row 2, kolom/column B (kode): kode klasifikasi ZZ.01 tidak ada di "
            "konfigurasi / the classification code ZZ.01 is not in the configuration",
        ),
        (
            GOOD.replace("2025-03-12", "2025-02-30"),
            "lembar.csv baris/row 2, kolom/column E (tanggal): tanggal 2025-02-30 tidak ada di "
            "kalender / the date 2025-02-30 does not exist",
        ),
        (
            GOOD.replace("2025-03-12", "31-04-2025"),
            "lembar.csv baris/row 2, kolom/column E (tanggal): tanggal 31-04-2025 tidak ada di "
            "kalender / the date 31-04-2025 does not exist",
        ),
        (
            GOOD.replace("2025-03-12", "2027-01-01"),
            "lembar.csv baris/row 2, kolom/column E (tanggal): tanggal 2027-01-01 di masa depan / "
            "the date 2027-01-01 is in the future",
        ),
        (
            GOOD.replace(",2,", ",dua,"),
            "lembar.csv baris/row 2, kolom/column I (halaman): 'dua' bukan jumlah halaman "
            "(bilangan bulat 1-5000) / not a page count (a whole number 1-5000)",
        ),
        (
            GOOD.replace("a.pdf", "../a.pdf"),
            "lembar.csv baris/row 2, kolom/column A (berkas): ../a.pdf: harus nama berkas di dalam "
            "kotak masuk / ../a.pdf: must be a file name inside the inbox",
        ),
        (
            GOOD.replace("a.pdf", "/etc/passwd.pdf"),
            "lembar.csv baris/row 2, kolom/column A (berkas): /etc/passwd.pdf: harus nama berkas "
            "di dalam kotak masuk / /etc/passwd.pdf: must be a file name inside the inbox",
        ),
        (
            GOOD.replace("a.pdf", "a.pdf;b.pdf"),
            "lembar.csv baris/row 2, kolom/column A (berkas): beberapa berkas hanya untuk gambar; "
            "PDF harus satu berkas / several files are for images only; a PDF must be one file",
        ),
        (
            GOOD.replace("Undangan rapat", ""),
            "lembar.csv baris/row 2, kolom/column F (perihal): wajib diisi / required",
        ),
        (
            GOOD.replace("sekretariat", "gudang"),
            "lembar.csv baris/row 2, kolom/column H (unit): unit 'gudang' tidak dikenal "
            "(sekretariat, aptika, ikp, persandian) / unknown unit 'gudang'",
        ),
        (
            GOOD[:-1] + "sangat rahasia,",
            "lembar.csv baris/row 2, kolom/column J (keamanan): 'sangat rahasia' bukan klasifikasi "
            "keamanan (biasa, terbatas, rahasia) / not a security class (biasa, terbatas, rahasia)",
        ),
    ],
)
def test_each_bad_cell_is_named_by_row_and_column(
    tmp_path: Path, conf: config.Config, row: str, message: str
) -> None:
    assert messages(read(tmp_path, conf, row)) == [message]


def test_a_file_used_by_two_rows_is_refused_on_the_second(
    tmp_path: Path, conf: config.Config
) -> None:
    result = read(tmp_path, conf, GOOD, GOOD.replace("1/2025", "2/2025"))
    assert messages(result) == [
        "lembar.csv baris/row 3, kolom/column A (berkas): berkas a.pdf sudah dipakai di baris 2 / "
        "the file a.pdf is already used on row 2"
    ]


def test_a_symlink_out_of_the_inbox_is_not_a_file_of_it(
    tmp_path: Path, conf: config.Config
) -> None:
    (tmp_path / "luar.pdf").symlink_to("/etc/hostname")
    result = read(tmp_path, conf, GOOD.replace("a.pdf", "luar.pdf"))
    assert "berkas luar.pdf tidak ada di kotak masuk" in messages(result)[0]


def test_unknown_and_missing_columns_refuse_the_whole_sheet(
    tmp_path: Path, conf: config.Config
) -> None:
    result = read(tmp_path, conf, GOOD, header=HEADER.replace("halaman", "lembaran"))
    assert [str(p) for p in result.problems] == [
        "lembar.csv baris/row 1, kolom/column I (lembaran): kolom tidak dikenal (kolom: berkas, "
        "kode, jenis, nomor, tanggal, perihal, asal_tujuan, unit, halaman, keamanan, keterangan) "
        "/ unknown column (columns: berkas, kode, jenis, nomor, tanggal, perihal, asal_tujuan, "
        "unit, halaman, keamanan, keterangan)",
        "lembar.csv baris/row 1: kolom wajib 'halaman' tidak ada / the required column "
        "'halaman' is missing",
    ]
    assert result.rows == []


def test_a_semicolon_csv_from_an_indonesian_excel_is_read(
    tmp_path: Path, conf: config.Config
) -> None:
    result = read(tmp_path, conf, GOOD.replace(",", ";"), header=HEADER.replace(",", ";"))
    assert messages(result) == [] and result.rows[0].meta["perihal"] == "Undangan rapat"


def test_a_sheet_that_is_not_utf8_is_named_with_its_line(
    tmp_path: Path, conf: config.Config
) -> None:
    path = tmp_path / "lembar.csv"
    path.write_bytes(
        (HEADER + "\n" + GOOD.replace("Undangan", "Und\xe9ngan") + "\n").encode("latin-1")
    )
    result = sheet.read(path, tmp_path, conf, TODAY)
    assert str(result.problems[0]).startswith("lembar.csv: baris 2: bukan teks UTF-8")


def test_an_xlsx_sheet_names_rows_as_the_spreadsheet_does(
    tmp_path: Path, conf: config.Config
) -> None:
    (tmp_path / "a.pdf").write_bytes(b"x")
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.append(HEADER.split(","))
    ws.append([])  # an empty row keeps its number
    ws.append(
        [
            "a.pdf",
            "UM.01.01",
            "Surat masuk",
            "1/2025",
            dt.datetime(2025, 3, 12),
            "Rapat",
            None,
            "sekretariat",
            2,
            None,
            None,
        ]
    )
    ws.append(
        [
            "a.pdf",
            "UM.01.01",
            "surat-masuk",
            "2/2025",
            "2025-13-01",
            "Rapat",
            None,
            "sekretariat",
            1.5,
            None,
            None,
        ]
    )
    path = tmp_path / "lembar.xlsx"
    book.save(path)
    result = sheet.read(path, tmp_path, conf, TODAY)
    assert result.rows[0].number == 3 and result.rows[0].problems == []
    assert result.rows[0].meta["tanggal"] == dt.date(2025, 3, 12)
    assert result.rows[0].meta["jenis"] == "surat-masuk"
    assert [str(p) for p in result.rows[1].problems] == [
        "lembar.xlsx baris/row 4, kolom/column E (tanggal): tanggal 2025-13-01 tidak ada di "
        "kalender / the date 2025-13-01 does not exist",
        "lembar.xlsx baris/row 4, kolom/column I (halaman): 1.5 bukan jumlah halaman (bilangan "
        "bulat 1-5000) / not a page count (a whole number 1-5000)",
        "lembar.xlsx baris/row 4, kolom/column A (berkas): berkas a.pdf sudah dipakai di baris 3 "
        "/ the file a.pdf is already used on row 3",
    ]


def test_rows_after_a_cell_with_line_breaks_keep_their_spreadsheet_numbers(
    tmp_path: Path, conf: config.Config
) -> None:
    multi = GOOD.replace("Undangan rapat", '"Undangan\nrapat"')
    result = read(tmp_path, conf, multi, GOOD.replace("a.pdf", "b.pdf").replace("2025-03-12", "x"))
    assert [r.number for r in result.rows] == [2, 4]
    assert messages(result)[0].startswith("lembar.csv baris/row 4, kolom/column E (tanggal):")


@pytest.mark.parametrize("pages", ["²", "①", "1e3", "True"])
def test_a_page_count_of_odd_digits_is_a_named_error(
    tmp_path: Path, conf: config.Config, pages: str
) -> None:
    found = messages(read(tmp_path, conf, GOOD.replace(",2,", f",{pages},")))
    assert found == [
        f"lembar.csv baris/row 2, kolom/column I (halaman): {pages!r} bukan jumlah halaman "
        "(bilangan bulat 1-5000) / not a page count (a whole number 1-5000)"
    ]


def test_a_nul_byte_in_a_file_name_is_a_named_error(tmp_path: Path, conf: config.Config) -> None:
    found = messages(read(tmp_path, conf, GOOD.replace("a.pdf", "a\x00.pdf")))
    assert "lembar.csv baris/row 2, kolom/column A (berkas): berisi karakter kendali" in found[0]
    assert any("tidak ada di kotak masuk" in f for f in found)


def test_a_sheet_over_the_row_limit_is_refused_whole(tmp_path: Path, conf: config.Config) -> None:
    result = read(tmp_path, conf, *[GOOD] * (sheet.MAX_ROWS + 1))
    assert result.rows == []
    assert str(result.problems[0]) == (
        "lembar.csv: lebih dari 10000 baris: bagi lembar data menjadi beberapa batch / "
        "more than 10000 rows: split the sheet into several batches"
    )


def test_a_broken_csv_is_named_with_its_line(tmp_path: Path, conf: config.Config) -> None:
    huge = GOOD.replace("Undangan rapat", '"' + "x" * 200_000 + '"')
    result = read(tmp_path, conf, GOOD, huge)
    assert str(result.problems[0]).startswith("lembar.csv: baris 3: CSV rusak (field larger")
