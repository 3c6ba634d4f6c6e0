"""The checklist's archive section: each archive host's summary (``cekat arsip ringkasan``,
collected as ``<host>/arsip.json``), checked against ``arsip-summary.v1.schema.json`` and judged.

The file is data from the host that sent it: it is attributed to the host whose collected
directory holds it (never to a name inside it), every field is checked (counts are bounded
integers, codes and years have their form, no free text but the office's name), and a file that
breaks a rule is a problem of the report, not a section.

Judgement (``breaches``): the summary itself older than :data:`STALE_HOURS` (the host writes
it every day; an old one shows old numbers); no verification yet while cloud storage is
configured; the newest verification older than :data:`STALE_HOURS` (it runs nightly); the
newest one not good (files still wrong after a re-upload, or the storage unreachable); files
marked ``gagal``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bangka_ops.backup.records import validate
from bangka_ops.report import ingest

FILE = "arsip.json"
SCHEMA = "arsip-summary.v1.schema.json"
STALE_HOURS = 48
EARLIEST = 2020  # no summary is older than this software
FUTURE = dt.timedelta(hours=1)  # clocks differ a little; a summary from the future is made up


@dataclass
class Archive:
    host: str
    data: dict[str, Any]

    def judged(self, now: dt.datetime) -> dict[str, Any]:
        data = self.data
        cloud, check = data["awan"], data["verifikasi"]
        breaches = []
        age = None
        if check is not None:
            age = (now - dt.datetime.fromisoformat(check["waktu"])).total_seconds() / 3600
        made = (now - dt.datetime.fromisoformat(data["dibuat"])).total_seconds() / 3600
        if made > STALE_HOURS:  # written daily: the host's numbers stopped coming
            breaches.append("archive summary stale")
        if cloud["diatur"]:
            if check is None:
                breaches.append("no cloud verification")
            else:
                if age is not None and age > STALE_HOURS:
                    breaches.append("cloud verification stale")
                if not check["ok"] or check["galat"]:
                    breaches.append("cloud verification failed")
            if cloud["gagal"]:
                breaches.append("files wrong in cloud storage")
        return {
            "host": self.host,
            "summary_time": data["dibuat"],
            "documents": data["dokumen"],
            "rescan_backlog": data["pindai_ulang"],
            "cloud_configured": cloud["diatur"],
            "cloud_files": cloud["berkas"],
            "cloud_stored": cloud["tersimpan"],
            "not_uploaded": cloud["belum_diunggah"],
            "cloud_failed": cloud["gagal"],
            "verification": None if check is None else {**check, "age_hours": round(age or 0, 2)},
            "local_bytes": data["bytes_lokal"],
            "remote_bytes": check["bytes_awan"] if check else None,
            "by_code_year": data["per_kode_tahun"],
            "breaches": breaches,
        }


def read(path: Path, host: str, now: dt.datetime) -> Archive | ingest.Problem:
    loaded = ingest.read(path)
    if isinstance(loaded, ingest.Problem):
        return loaded
    problems = validate(loaded, SCHEMA)
    if problems:
        shown = "; ".join(problems[:5]) + (
            f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        )
        return ingest.Problem(path, f"not an archive summary ({SCHEMA}): {shown}")
    problem = semantic_problem(loaded, now)
    return Archive(host, loaded) if problem is None else ingest.Problem(path, problem)


def semantic_problem(data: dict[str, Any], now: dt.datetime) -> str | None:
    """What the schema cannot say: times with their offset, not from the future or before
    this software; each code and year once."""
    times = [("dibuat", data["dibuat"])]
    if data["verifikasi"]:
        times.append(("verifikasi.waktu", data["verifikasi"]["waktu"]))
    for field, value in times:
        try:
            when = dt.datetime.fromisoformat(value)
        except ValueError:
            return f"{field}: not a time: {value!r}"
        if when.tzinfo is None:
            return f"{field}: a time without its UTC offset: {value!r}"
        if when.year < EARLIEST or when > now + FUTURE:
            return f"{field}: {value!r} is not a time this summary can have"
    seen: set[tuple[str, int]] = set()
    for entry in data["per_kode_tahun"]:
        key = (entry["kode"], entry["tahun"])
        if key in seen:
            return f"per_kode_tahun: {key[0]} {key[1]} appears twice"
        seen.add(key)
    return None
