"""The metadata sheet the staff fill in (CSV or XLSX): one row per document.

Columns (header names in any case; English names accepted): ``berkas`` (file; several images of
one document separated by ``;``, in page order), ``kode``, ``jenis``, ``nomor``, ``tanggal``,
``perihal``, ``asal_tujuan`` (``asal/tujuan``), ``unit``, ``halaman`` (pages), ``keamanan``
(security class) and ``keterangan`` (notes). Every problem names the sheet, the row as the
spreadsheet numbers it and the column (letter and name), in Bahasa Indonesia and English.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from bangka_ops.arsip import scan
from bangka_ops.arsip.config import Config
from bangka_ops.arsip.naming import fold

COLUMNS = {
    "berkas": ("berkas", "file", "nama_berkas"),
    "kode": ("kode", "kode_klasifikasi", "code"),
    "jenis": ("jenis", "jenis_arsip", "type"),
    "nomor": ("nomor", "nomor_surat", "number"),
    "tanggal": ("tanggal", "date"),
    "perihal": ("perihal", "subject", "hal"),
    "asal_tujuan": ("asal_tujuan", "asal", "tujuan", "from_to"),
    "unit": ("unit", "unit_pengolah"),
    "halaman": ("halaman", "jumlah_halaman", "pages"),
    "keamanan": ("keamanan", "klasifikasi_keamanan", "security", "security_class"),
    "keterangan": ("keterangan", "catatan", "notes"),
}
REQUIRED = ("berkas", "kode", "jenis", "tanggal", "perihal", "unit", "halaman")
SECURITY = ("biasa", "terbatas", "rahasia")
MAX_TEXT = {"nomor": 100, "perihal": 300, "asal_tujuan": 200, "keterangan": 1000, "berkas": 1000}
MAX_ROWS = 10_000
MAX_SHEET_BYTES = 20 * 1024 * 1024
DATE_FORMS = (
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"), (1, 2, 3)),
    (re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$"), (3, 2, 1)),
)


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


@dataclass(frozen=True)
class SheetProblem:
    sheet: str
    row: int | None
    column: str | None  # "E (tanggal)"
    id: str
    en: str

    def __str__(self) -> str:
        where = self.sheet
        if self.row is not None:
            where += f" baris/row {self.row}"
        if self.column:
            where += f", kolom/column {self.column}"
        return f"{where}: {self.id} / {self.en}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "lembar": self.sheet,
            "baris": self.row,
            "kolom": self.column,
            "pesan": self.id,
            "message": self.en,
        }


@dataclass
class Row:
    number: int
    files: list[str]
    meta: dict[str, Any]
    problems: list[SheetProblem] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"baris/row {self.number} ({'; '.join(self.files) or '-'})"


@dataclass
class Sheet:
    path: Path
    rows: list[Row]
    problems: list[SheetProblem]  # the sheet as a whole (no row can be trusted)


def normal_header(text: str) -> str:
    return re.sub(r"[\s/.-]+", "_", fold(text).strip().lower()).strip("_")


def read_cells(path: Path) -> list[tuple[int, list[Any]]]:
    """(row number, cells) of the first worksheet or of the CSV, header first."""
    if path.stat().st_size > MAX_SHEET_BYTES:
        raise ValueError(
            f"lembar data lebih dari {MAX_SHEET_BYTES // 2**20} MiB / "
            f"the sheet is larger than {MAX_SHEET_BYTES // 2**20} MiB"
        )
    if path.suffix.lower() == ".xlsx":
        import openpyxl  # noqa: PLC0415 (only for XLSX sheets)

        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:
            raise ValueError(
                f"XLSX tidak dapat dibaca ({exc}) / the XLSX file cannot be read"
            ) from None
        rows: list[tuple[int, list[Any]]] = []
        try:
            for i, values in enumerate(book.worksheets[0].iter_rows(values_only=True), 1):
                if i > MAX_ROWS + 1:
                    raise TooLong
                rows.append((i, list(values)))
        except TooLong:
            raise ValueError(too_long()) from None
        except Exception as exc:
            raise ValueError(
                f"XLSX tidak dapat dibaca ({exc}) / the XLSX file cannot be read"
            ) from None
        finally:
            book.close()
        return rows
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ValueError(
            f"baris {line}: bukan teks UTF-8 (simpan sebagai 'CSV UTF-8') / "
            f"line {line}: not UTF-8 text (save as 'CSV UTF-8')"
        ) from None
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = []
    start = 1  # a record's first line (a cell may hold line breaks)
    try:
        for values in reader:
            if len(rows) > MAX_ROWS:
                raise ValueError(too_long())
            rows.append((start, list(values)))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ValueError(
            f"baris {start}: CSV rusak ({exc}) / line {start}: broken CSV ({exc})"
        ) from None
    return rows


class TooLong(Exception):
    pass


def too_long() -> str:
    return (
        f"lebih dari {MAX_ROWS} baris: bagi lembar data menjadi beberapa batch / "
        f"more than {MAX_ROWS} rows: split the sheet into several batches"
    )


def parse_date(value: Any) -> dt.date | str | None:
    """A date, None when empty, or why it is not one (id / en)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if not text:
        return None
    for pattern, (y, m, d) in DATE_FORMS:
        found = pattern.match(text)
        if found:
            try:
                return dt.date(int(found[y]), int(found[m]), int(found[d]))
            except ValueError:
                return f"tanggal {text} tidak ada di kalender / the date {text} does not exist"
    return (
        f"tanggal {text!r} tidak dikenali (tulis TTTT-BB-HH atau HH-BB-TTTT) / "
        f"not a date (write YYYY-MM-DD or DD-MM-YYYY)"
    )


def plain_file(inbox: Path, relative: PurePosixPath) -> bool:
    """Whether ``inbox/relative`` is a regular file reached through real directories only: a
    symlink anywhere on the way (to ``/etc``, to another unit's folder) is not the inbox's."""
    at = inbox
    for i, part in enumerate(relative.parts):
        at = at / part
        try:
            mode = os.lstat(at).st_mode
        except (OSError, ValueError):  # ValueError: a NUL byte in the name
            return False
        last = i == len(relative.parts) - 1
        if not (stat.S_ISREG(mode) if last else stat.S_ISDIR(mode)):
            return False
    return True


def header_columns(
    name: str, header_row: int, header: list[Any]
) -> tuple[dict[str, int], list[SheetProblem]]:
    """The column of each known field, or what is wrong with the header row."""
    columns: dict[str, int] = {}
    problems: list[SheetProblem] = []
    aliases = {alias: key for key, names in COLUMNS.items() for alias in names}
    known = ", ".join(COLUMNS)
    for index, title in enumerate(header):
        text = str(title or "").strip()
        if not text:
            continue
        key = aliases.get(normal_header(text))
        where = f"{column_letter(index)} ({text})"
        if key is None:
            problems.append(
                SheetProblem(
                    name,
                    header_row,
                    where,
                    f"kolom tidak dikenal (kolom: {known})",
                    f"unknown column (columns: {known})",
                )
            )
        elif key in columns:
            problems.append(
                SheetProblem(
                    name, header_row, where, "kolom ini ada dua kali", "column given twice"
                )
            )
        else:
            columns[key] = index
    problems += [
        SheetProblem(
            name,
            header_row,
            None,
            f"kolom wajib {key!r} tidak ada",
            f"the required column {key!r} is missing",
        )
        for key in REQUIRED
        if key not in columns
    ]
    return columns, problems


def read(path: Path, inbox: Path, config: Config, today: dt.date) -> Sheet:
    """Every row of the sheet at ``path`` checked against the configuration and the inbox."""
    name = path.name
    try:
        cells = read_cells(path)
    except (OSError, ValueError) as exc:
        message = getattr(exc, "strerror", None) or str(exc)
        id_, _, en = message.partition(" / ")
        return Sheet(path, [], [SheetProblem(name, None, None, id_, en or id_)])
    cells = [(n, v) for n, v in cells if any(str(c or "").strip() for c in v)]
    if not cells:
        empty = SheetProblem(name, None, None, "lembar data kosong", "the sheet is empty")
        return Sheet(path, [], [empty])
    columns, problems = header_columns(name, *cells[0])
    if problems:
        return Sheet(path, [], problems)
    rows: list[Row] = []
    seen_files: dict[str, int] = {}
    for number, values in cells[1:]:
        check = RowCheck(name, number, values, columns)
        row = check.run(inbox, config, today)
        for file in row.files:
            if file in seen_files:
                check.wrong(
                    "berkas",
                    f"berkas {file} sudah dipakai di baris {seen_files[file]}",
                    f"the file {file} is already used on row {seen_files[file]}",
                )
            seen_files.setdefault(file, number)
        rows.append(row)
    return Sheet(path, rows, [])


class RowCheck:
    """One row of the sheet, checked cell by cell."""

    def __init__(self, sheet: str, number: int, values: list[Any], columns: dict[str, int]) -> None:
        self.sheet = sheet
        self.values = values
        self.columns = columns
        self.row = Row(number, [], {})

    def cell(self, key: str) -> Any:
        index = self.columns.get(key)
        if index is None or index >= len(self.values) or self.values[index] is None:
            return ""
        value = self.values[index]
        return value.strip() if isinstance(value, str) else value

    def wrong(self, key: str, id_: str, en: str) -> None:
        where = f"{column_letter(self.columns[key])} ({key})"
        self.row.problems.append(SheetProblem(self.sheet, self.row.number, where, id_, en))

    def run(self, inbox: Path, config: Config, today: dt.date) -> Row:
        self.texts()
        self.files(inbox)
        self.keys(config)
        self.date(today)
        self.pages()
        self.security(config)
        return self.row

    def texts(self) -> None:
        for key in COLUMNS:
            value = self.cell(key)
            limit = MAX_TEXT.get(key, 200)
            if key in REQUIRED and (value == "" or value is None):
                self.wrong(key, "wajib diisi", "required")
            elif isinstance(value, str) and len(value) > limit:
                self.wrong(key, f"lebih dari {limit} karakter", f"longer than {limit} characters")
            elif isinstance(value, str) and re.search(r"[\x00-\x08\x0b-\x1f\x7f]", value):
                self.wrong(key, "berisi karakter kendali", "contains control characters")
        for key in ("nomor", "perihal", "asal_tujuan", "keterangan"):
            self.row.meta[key] = str(self.cell(key))

    def files(self, inbox: Path) -> None:
        """``berkas``: names inside the inbox, never a path out of it."""
        cell = str(self.cell("berkas")).replace("\\", "/")
        files = [f.strip() for f in cell.split(";") if f.strip()]
        self.row.files = files
        for file in files:
            pure = PurePosixPath(file)
            if pure.is_absolute() or ".." in pure.parts or file.startswith("~"):
                self.wrong(
                    "berkas",
                    f"{file}: harus nama berkas di dalam kotak masuk",
                    f"{file}: must be a file name inside the inbox",
                )
                continue
            if pure.suffix.lower() not in scan.IMAGE_SUFFIXES | scan.PDF_SUFFIXES:
                self.wrong(
                    "berkas",
                    f"{file}: jenis berkas tidak diterima (PDF, JPEG, PNG, TIFF)",
                    f"{file}: not an accepted file type (PDF, JPEG, PNG, TIFF)",
                )
            elif not plain_file(inbox, pure):
                self.wrong(
                    "berkas",
                    f"berkas {file} tidak ada di kotak masuk",
                    f"the file {file} is not in the inbox",
                )
        if len(files) > 1 and any(Path(f).suffix.lower() == ".pdf" for f in files):
            self.wrong(
                "berkas",
                "beberapa berkas hanya untuk gambar; PDF harus satu berkas",
                "several files are for images only; a PDF must be one file",
            )

    def keys(self, config: Config) -> None:
        """``kode``, ``jenis`` (its key or its Indonesian name) and ``unit``: in the config."""
        kode = str(self.cell("kode")).strip().upper()
        if kode and kode not in config.codes:
            self.wrong(
                "kode",
                f"kode klasifikasi {kode} tidak ada di konfigurasi",
                f"the classification code {kode} is not in the configuration",
            )
        self.row.meta["kode"] = kode
        jenis = str(self.cell("jenis")).strip()
        by_name = {fold(v[0]).lower(): k for k, v in config.types.items()}
        key = jenis.lower() if jenis.lower() in config.types else by_name.get(fold(jenis).lower())
        if jenis and key is None:
            self.wrong(
                "jenis",
                f"jenis {jenis!r} tidak dikenal ({', '.join(config.types)})",
                f"unknown document type {jenis!r}",
            )
        self.row.meta["jenis"] = key or jenis
        unit = str(self.cell("unit")).strip().lower()
        if unit and unit not in config.units:
            self.wrong(
                "unit",
                f"unit {unit!r} tidak dikenal ({', '.join(config.units)})",
                f"unknown unit {unit!r}",
            )
        self.row.meta["unit"] = unit

    def date(self, today: dt.date) -> None:
        when = parse_date(self.cell("tanggal"))
        if isinstance(when, str):
            id_, en = when.split(" / ", 1)
            self.wrong("tanggal", id_, en)
        elif when is not None and when > today:
            self.wrong(
                "tanggal",
                f"tanggal {when.isoformat()} di masa depan",
                f"the date {when.isoformat()} is in the future",
            )
        self.row.meta["tanggal"] = when if isinstance(when, dt.date) else None

    def pages(self) -> None:
        pages = self.cell("halaman")
        count: int | None = None
        whole_float = isinstance(pages, float) and pages.is_integer()
        digits = isinstance(pages, str) and re.fullmatch(r"[0-9]{1,6}", pages) is not None
        if (isinstance(pages, int) and not isinstance(pages, bool)) or whole_float or digits:
            count = int(pages)
        if count is None or not 1 <= count <= 5000:
            if pages != "":
                self.wrong(
                    "halaman",
                    f"{pages!r} bukan jumlah halaman (bilangan bulat 1-5000)",
                    "not a page count (a whole number 1-5000)",
                )
            count = None
        self.row.meta["halaman"] = count

    def security(self, config: Config) -> None:
        security = str(self.cell("keamanan")).strip().lower()
        if security and security not in SECURITY:
            self.wrong(
                "keamanan",
                f"{security!r} bukan klasifikasi keamanan ({', '.join(SECURITY)})",
                f"not a security class ({', '.join(SECURITY)})",
            )
        code = config.codes.get(self.row.meta["kode"])
        self.row.meta["keamanan"] = security or (code.security if code else config.default_security)
