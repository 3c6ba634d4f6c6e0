"""The archive's configuration (``arsip.yml``): classification codes with their retention (JRA),
document types, units, the naming rule, the scan check's thresholds and OCR settings.

Read like an agenda file (:mod:`bangka_ops.agenda.yamlload`: file:line for every problem),
checked against ``arsip/schemas/arsip.schema.json`` and then for what a schema cannot say: codes
unique, every parent present and the code's prefix, every code with a retention of its own or of
a parent, the naming rule's fields known.
"""

from __future__ import annotations

import datetime as dt
import os
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bangka_ops.agenda import schema as schemas
from bangka_ops.agenda.yamlload import Diagnostic, Document, load
from bangka_ops.arsip import scan
from bangka_ops.arsip.naming import Rule, RuleError

SCHEMA = "arsip/schemas/arsip.schema.json"
MAX_BYTES = 4 * 1024 * 1024  # a full national classification table is a few hundred KiB


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` say where and why."""

    def __init__(self, problems: list[Diagnostic]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Retention:
    active: int
    inactive: int
    final: str  # musnah | permanen | dinilai_kembali


@dataclass(frozen=True)
class Code:
    kode: str
    name_id: str
    name_en: str
    parent: str | None
    retention: Retention
    vital: bool
    security: str


@dataclass(frozen=True)
class Cloud:
    """Where and how the archive is uploaded (``awan``): an rclone remote and its settings."""

    remote: str
    rclone_config: Path
    bwlimit: str | None = None
    window: tuple[dt.time, dt.time] | None = None
    timezone: str = "Asia/Jakarta"
    sample: int = 10
    transfers: int = 4


@dataclass
class Config:
    path: Path
    codes: dict[str, Code]
    types: dict[str, tuple[str, str]]
    units: dict[str, tuple[str, str]]
    rule: Rule
    rules: scan.Rules
    office: str = ""
    default_security: str = "biasa"
    ocr_languages: str = "ind+eng"
    ocr_workers: int = 0
    ocr_timeout: int = 900
    cloud: Cloud | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def workers(self) -> int:
        return self.ocr_workers or max(1, len(os.sched_getaffinity(0)))


def parent_of(kode: str) -> str | None:
    return kode.rsplit(".", 1)[0] if "." in kode else None


def read(path: Path) -> Config:
    """The configuration at ``path``, or :class:`ConfigError` naming every problem."""
    doc = load(path, max_bytes=MAX_BYTES)
    if doc.problems:
        raise ConfigError(doc.problems)
    problems = schemas.check(doc, SCHEMA)
    if problems:
        raise ConfigError(problems)
    return build(doc, path)


def build(doc: Document, path: Path) -> Config:
    data: dict[str, Any] = doc.data
    problems: list[Diagnostic] = []
    raw_codes: dict[str, tuple[int, dict[str, Any]]] = {}
    for i, entry in enumerate(data["klasifikasi"]):
        kode = entry["kode"]
        if kode in raw_codes:
            first = doc.line(f"klasifikasi[{raw_codes[kode][0]}]")
            problems.append(
                doc.error(
                    f"klasifikasi[{i}].kode", f"kode {kode} appears twice (first at line {first})"
                )
            )
            continue
        raw_codes[kode] = (i, entry)
    for kode, (i, entry) in raw_codes.items():
        parent = parent_of(kode)
        if "induk" in entry and entry["induk"] != parent:
            problems.append(
                doc.error(
                    f"klasifikasi[{i}].induk",
                    f"induk {entry['induk']!r} is not the code without its last level "
                    f"({parent or 'none: ' + kode + ' is a main code'})",
                )
            )
        if parent is not None and parent not in raw_codes:
            problems.append(
                doc.error(
                    f"klasifikasi[{i}].kode", f"the parent code {parent} of {kode} is missing"
                )
            )

    def inherited(kode: str, key: str) -> Any:
        at: str | None = kode
        while at is not None and at in raw_codes:
            entry = raw_codes[at][1]
            if key in entry:
                return entry[key]
            at = parent_of(at)
        return None

    default_security = data.get("keamanan_bawaan", "biasa")
    codes: dict[str, Code] = {}
    for kode, (i, entry) in raw_codes.items():
        retention = inherited(kode, "retensi")
        if retention is None:
            problems.append(
                doc.error(
                    f"klasifikasi[{i}]",
                    f"kode {kode} has no retensi (JRA), neither its own nor a parent's",
                )
            )
            continue
        codes[kode] = Code(
            kode=kode,
            name_id=entry["nama"]["id"],
            name_en=entry["nama"]["en"],
            parent=parent_of(kode),
            retention=Retention(retention["aktif"], retention["inaktif"], retention["akhir"]),
            vital=bool(inherited(kode, "vital")),
            security=inherited(kode, "keamanan") or default_security,
        )

    def keyed(section: str) -> dict[str, tuple[str, str]]:
        out: dict[str, tuple[str, str]] = {}
        for i, entry in enumerate(data[section]):
            if entry["kode"] in out:
                problems.append(doc.error(f"{section}[{i}].kode", f"{entry['kode']} appears twice"))
            out[entry["kode"]] = (entry["nama"]["id"], entry["nama"]["en"])
        return out

    types, units = keyed("jenis"), keyed("unit")
    naming = data["penamaan"]
    try:
        rule = Rule.parse(
            naming["pola"], naming.get("panjang_isian", 60), naming.get("panjang_nama", 120)
        )
    except RuleError as exc:
        problems.append(doc.error("penamaan.pola", str(exc)))
        rule = Rule("{kode}.pdf")
    checks = data.get("pemeriksaan", {})
    rules = scan.Rules(
        dpi_min=checks.get("dpi_minimal", 200),
        ink_min_percent=checks.get("tinta_minimal_persen", 0.02),
        skew_max_degrees=checks.get("miring_maksimal_derajat", 2.0),
        edge_mm=checks.get("tepi_mm", 3.0),
        edge_ink_percent=checks.get("tinta_tepi_maksimal_persen", 0.5),
    )
    cloud = read_cloud(doc, path, problems)
    if problems:
        raise ConfigError(problems)
    ocr = data.get("ocr", {})
    return Config(
        path=path,
        codes=codes,
        types=types,
        units=units,
        rule=rule,
        rules=rules,
        office=data.get("instansi", ""),
        default_security=default_security,
        ocr_languages=ocr.get("bahasa", "ind+eng"),
        ocr_workers=ocr.get("pekerja", 0),
        ocr_timeout=ocr.get("batas_waktu_detik", 900),
        cloud=cloud,
        raw=data,
    )


def read_cloud(doc: Document, path: Path, problems: list[Diagnostic]) -> Cloud | None:
    data = doc.data.get("awan")
    if data is None:
        return None
    conf = Path(data.get("konfigurasi_rclone", "/etc/bangka-arsip/rclone.conf"))
    window = None
    if "jendela" in data:
        start, end = (dt.time.fromisoformat(t) for t in data["jendela"].split("-"))
        if start == end:
            problems.append(doc.error("awan.jendela", "the window starts when it ends"))
        window = (start, end)
    zone = data.get("zona_waktu", "Asia/Jakarta")
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append(doc.error("awan.zona_waktu", f"unknown time zone {zone!r}"))
    return Cloud(
        remote=data["remote"],
        rclone_config=conf if conf.is_absolute() else path.parent / conf,
        bwlimit=data.get("batas_bandwidth"),
        window=window,
        timezone=zone,
        sample=data.get("sampel_harian", 10),
        transfers=data.get("transfer_paralel", 4),
    )
