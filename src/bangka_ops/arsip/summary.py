"""The archive's state in one small JSON document (``laporan/ringkasan-arsip.json``), written
after every upload and verification: what the backup checklist's archive section and its
Prometheus metrics are made from. Counts and sizes only: no document's title or text.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bangka_ops.arsip import awan
from bangka_ops.arsip import catalogue as cat
from bangka_ops.arsip.config import Config
from bangka_ops.report.atomic import replacing

FILE = "ringkasan-arsip.json"
VERSION = 1


def tree_bytes(top: Path) -> int:
    """Bytes of the regular files under ``top`` (links not followed)."""
    total = 0
    stack = [top]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
    return total


def build(config: Config, root: Path) -> dict[str, Any]:
    with cat.Catalogue(root) as catalogue:
        db = catalogue.db
        per_code = [
            {"kode": r[0], "tahun": r[1], "dokumen": r[2]}
            for r in db.execute(
                "SELECT kode, tahun, count(*) FROM item WHERE status = ? "
                "GROUP BY kode, tahun ORDER BY kode, tahun",
                (cat.STORED,),
            )
        ]
        statuses = dict(db.execute("SELECT status, count(*) FROM item GROUP BY status").fetchall())
        files = sum(1 for _ in awan.stored_files(catalogue))
        cloud_rows = dict(
            db.execute(
                "SELECT awan.status, count(*) FROM awan JOIN item ON item.id = awan.item "
                "WHERE item.status = ? GROUP BY awan.status",
                (cat.STORED,),
            ).fetchall()
        )
        last = db.execute(
            "SELECT selesai, oleh, hasil FROM verifikasi ORDER BY id DESC LIMIT 1"
        ).fetchone()
    verification = None
    if last is not None:
        result = json.loads(last[2])
        verification = {
            "waktu": last[0],
            "ok": bool(result.get("ok")),
            "berkas": result.get("berkas", 0),
            "cocok": result.get("cocok", 0),
            "belum_diunggah": result.get("belum_diunggah", 0),
            "ditemukan": len(result.get("ditemukan", [])),
            "diunggah_ulang": len(result.get("diunggah_ulang", [])),
            "gagal": len(result.get("gagal", [])),
            "sampel": len(result.get("sampel", [])),
            "sampel_ok": result.get("sampel_ok", 0),
            "bytes_awan": result.get("bytes_awan", 0),
            "galat": bool(result.get("galat")),
        }
    stored_remotely = int(cloud_rows.get(awan.STORED, 0))
    return {
        "versi": VERSION,
        "dibuat": cat.now(),
        "instansi": config.office,
        "dokumen": int(statuses.get(cat.STORED, 0)),
        "per_kode_tahun": per_code,
        "pindai_ulang": int(statuses.get(cat.RESCAN, 0)) + int(statuses.get(cat.OCR_FAILED, 0)),
        "awan": {
            "diatur": config.cloud is not None,
            "berkas": files,
            "tersimpan": stored_remotely,
            "belum_diunggah": files - stored_remotely,
            "gagal": int(cloud_rows.get(awan.FAILED, 0)),
        },
        "verifikasi": verification,
        "bytes_lokal": tree_bytes(root / awan.DOCUMENTS),
    }


def write(config: Config, root: Path) -> Path:
    out = root / "laporan" / FILE
    out.parent.mkdir(mode=0o750, exist_ok=True)
    data = build(config, root)
    with replacing(out) as handle:
        json.dump(data, handle, ensure_ascii=False, indent=1)
        handle.write("\n")
    return out
