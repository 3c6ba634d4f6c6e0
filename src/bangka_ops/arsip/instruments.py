"""Records instruments: the *Daftar Arsip* (the list of records per unit and year) and the
retention list (*usul musnah* / *usul serah* / re-appraisal proposals for sign-off).

Retention is counted in whole calendar years from the document's year, as JRA tables are: a
record of 2023 with 2 years active and 3 inactive is active in 2023-2024, inactive from
1 January 2025, and due for its final disposition on 1 January 2028. Nothing here deletes or
moves a document: the retention list is a proposal that the head of section signs; destruction
follows the formal procedure (*berita acara*) outside this tool.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from bangka_ops.arsip import catalogue as cat
from bangka_ops.arsip.config import Config
from bangka_ops.report.atomic import replacing

COLUMNS = [
    ("no", "No.", "No."),
    ("kode", "Kode klasifikasi", "Classification code"),
    ("uraian", "Uraian (perihal)", "Description (subject)"),
    ("nomor", "Nomor", "Number"),
    ("tanggal", "Tanggal", "Date"),
    ("jenis", "Jenis", "Type"),
    ("halaman", "Jumlah halaman", "Pages"),
    ("keamanan", "Keamanan", "Security"),
    ("vital", "Vital", "Vital"),
    ("retensi", "Retensi (aktif/inaktif/akhir)", "Retention (active/inactive/final)"),
    ("lokasi", "Lokasi berkas", "File location"),
    ("keterangan", "Keterangan", "Notes"),
    ("id", "ID", "ID"),
]
FINAL = {
    "musnah": ("Usul musnah", "Proposed for destruction"),
    "permanen": ("Usul serah ke lembaga kearsipan daerah", "Proposed for transfer"),
    "dinilai_kembali": ("Dinilai kembali", "To be re-appraised"),
}


def environment() -> Environment:
    return Environment(
        loader=PackageLoader("bangka_ops.arsip", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass(frozen=True)
class Phase:
    inactive_from: dt.date
    due: dt.date


def phase(item: dict[str, Any], config: Config) -> Phase | None:
    code = config.codes.get(item["kode"])
    if code is None:
        return None
    year = int(item["tahun"])
    return Phase(
        dt.date(year + code.retention.active, 1, 1),
        dt.date(year + code.retention.active + code.retention.inactive, 1, 1),
    )


def row_of(number: int, item: dict[str, Any], config: Config) -> dict[str, Any]:
    code = config.codes.get(item["kode"])
    retention = (
        f"{code.retention.active}/{code.retention.inactive}/{code.retention.final}" if code else "?"
    )
    return {
        "no": number,
        "kode": item["kode"],
        "uraian": item["perihal"],
        "nomor": item["nomor"],
        "tanggal": item["tanggal"],
        "jenis": config.types.get(item["jenis"], (item["jenis"], ""))[0],
        "halaman": item["halaman"],
        "keamanan": item["keamanan"],
        "vital": "ya / yes" if code and code.vital else "",
        "retensi": retention,
        "lokasi": f"dokumen/{item['path']}",
        "keterangan": item["keterangan"],
        "id": item["id"],
    }


def groups(items: Iterable[dict[str, Any]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
    out: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for item in items:
        out.setdefault((item["unit"], int(item["tahun"])), []).append(item)
    return out


def write_tables(
    out_dir: Path, stem: str, columns: list[tuple[str, str, str]], rows: list[dict[str, Any]]
) -> list[Path]:
    """The rows as CSV (UTF-8 with BOM: Excel opens it right) and XLSX, each written whole."""
    import openpyxl  # noqa: PLC0415

    header = [f"{i} / {e}" for _, i, e in columns]
    rows = [{k: inert(v) for k, v in r.items()} for r in rows]
    csv_path = out_dir / f"{stem}.csv"
    with replacing(csv_path) as handle:
        handle.write("\ufeff")
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([[r.get(k, "") for k, _, _ in columns] for r in rows])
    xlsx_path = out_dir / f"{stem}.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None  # noqa: S101 (a new workbook has one sheet)
    sheet.title = stem[:31]
    sheet.append(header)
    for r in rows:
        sheet.append([r.get(k, "") for k, _, _ in columns])
    with replacing(xlsx_path, binary=True) as handle:
        book.save(handle)
    return [csv_path, xlsx_path]


def inert(value: Any) -> Any:
    """A cell a spreadsheet shows as text: text starting like a formula (``=``, ``+``, ``-``,
    ``@``, a tab or a carriage return: from a sheet row or an OCR'd subject) gets a leading
    ``'``, so Excel or LibreOffice never runs it."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def daftar(
    catalogue: cat.Catalogue,
    config: Config,
    out_dir: Path,
    unit: str | None = None,
    year: int | None = None,
) -> list[Path]:
    """The Daftar Arsip of the stored records (per unit and year), as HTML, CSV and XLSX."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "daftar-arsip" + (f"-{unit}" if unit else "") + (f"-{year}" if year else "")
    sections = []
    flat: list[dict[str, Any]] = []
    for (unit_key, tahun), items in sorted(groups(catalogue.items(unit=unit, tahun=year)).items()):
        rows = [row_of(n, item, config) for n, item in enumerate(items, 1)]
        names = config.units.get(unit_key, (unit_key, unit_key))
        sections.append({"unit": names, "tahun": tahun, "rows": rows})
        flat += [{**r, "unit": unit_key, "tahun": tahun} for r in rows]
    html = out_dir / f"{stem}.html"
    text = (
        environment()
        .get_template("daftar.html.j2")
        .render(
            office=config.office,
            sections=sections,
            columns=COLUMNS,
            generated=dt.datetime.now().astimezone().isoformat(timespec="minutes"),
            unit=unit,
            year=year,
        )
    )
    with replacing(html) as handle:
        handle.write(text)
    table_columns = [("unit", "Unit", "Unit"), ("tahun", "Tahun", "Year"), *COLUMNS]
    return [html, *write_tables(out_dir, stem, table_columns, flat)]


@dataclass
class Retention:
    per: dt.date
    inactive: list[dict[str, Any]]  # moved from active to inactive (not yet due)
    due: dict[str, list[dict[str, Any]]]  # final disposition → items due


def retention(catalogue: cat.Catalogue, config: Config, per: dt.date) -> Retention:
    result = Retention(per, [], {k: [] for k in FINAL})
    for item in catalogue.items():
        when = phase(item, config)
        if when is None:
            continue
        code = config.codes[item["kode"]]
        row = {
            **row_of(0, item, config),
            "aktif_sampai": (when.inactive_from - dt.timedelta(days=1)).isoformat(),
            "jatuh_tempo": when.due.isoformat(),
            "akhir": code.retention.final,
        }
        if per >= when.due:
            result.due[code.retention.final].append(row)
        elif per >= when.inactive_from:
            result.inactive.append(row)
    for rows in [result.inactive, *result.due.values()]:
        for n, row in enumerate(rows, 1):
            row["no"] = n
    return result


RETENTION_COLUMNS = [
    ("no", "No.", "No."),
    ("usulan", "Usulan", "Proposal"),
    ("kode", "Kode klasifikasi", "Classification code"),
    ("uraian", "Uraian (perihal)", "Description (subject)"),
    ("nomor", "Nomor", "Number"),
    ("tanggal", "Tanggal", "Date"),
    ("aktif_sampai", "Aktif sampai", "Active until"),
    ("jatuh_tempo", "Jatuh tempo retensi", "Retention due"),
    ("vital", "Vital", "Vital"),
    ("lokasi", "Lokasi berkas", "File location"),
    ("id", "ID", "ID"),
]


def write_retention(result: Retention, config: Config, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"retensi-per-{result.per.isoformat()}"
    proposals = [
        {"key": key, "title": FINAL[key], "rows": rows} for key, rows in result.due.items()
    ]
    text = (
        environment()
        .get_template("retensi.html.j2")
        .render(
            office=config.office,
            per=result.per.isoformat(),
            inactive=result.inactive,
            proposals=proposals,
            columns=RETENTION_COLUMNS,
            generated=dt.datetime.now().astimezone().isoformat(timespec="minutes"),
        )
    )
    html = out_dir / f"{stem}.html"
    with replacing(html) as handle:
        handle.write(text)
    flat = [{**r, "usulan": "inaktif / inactive"} for r in result.inactive]
    for key, rows in result.due.items():
        flat += [{**r, "usulan": f"{FINAL[key][0]} / {FINAL[key][1]}"} for r in rows]
    return [html, *write_tables(out_dir, stem, RETENTION_COLUMNS, flat)]
