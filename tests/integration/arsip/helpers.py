"""What the archive tests share: running ``cekat arsip`` as a separate process, reading a PDF's
text layer independently of the intake."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from bangka_ops.arsip import catalogue as cat
from bangka_ops.arsip.naming import evidence_path
from bangka_ops.arsip.ocr import sha256

REPO = Path(__file__).resolve().parents[3]
CONFIG = REPO / "examples" / "arsip" / "arsip.yml"


def cekat(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``cekat arsip ARGS --arsip ROOT`` with the example configuration; the audit log beside
    the archive root."""
    return subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", "arsip", *args, "--arsip", str(root),
         "--konfigurasi", str(CONFIG)],
        capture_output=True, text=True, timeout=900, check=False,
        env={**os.environ, "BANGKA_AUDIT_LOG": str(root.parent / "audit.jsonl"), **(env or {})},
    )  # fmt: skip


def pdf_text(path: Path) -> str:
    """The text layer as Ghostscript reads it (not the sidecar the intake indexed)."""
    out = subprocess.run(
        ["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=txtwrite", "-sOutputFile=-",
         str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout


# In the example configuration KU.02 and KP.03 are vital (KU.02.01 inherits it); UM.01.01 is not.
CODES = {"KU.02": True, "KP.03": True, "UM.01.01": False}


def archive(root: Path) -> dict[str, int]:
    """A catalogue of three stored documents (real PDFs), one per code of :data:`CODES`;
    returns each code's item id."""
    from .storage import pdf  # noqa: PLC0415 (storage imports this module)

    root.mkdir(parents=True)
    ids = {}
    with cat.Catalogue(root) as catalogue:
        for n, kode in enumerate(CODES, 1):
            path = f"{kode}/2025/surat-masuk/2025-04-0{n}_{n}_dokumen {n}.pdf"
            main, evidence = root / "dokumen" / path, root / "dokumen" / evidence_path(path)
            pdf(main, 1, f"dokumen {n}")
            pdf(evidence, 1, f"pindaian {n}")
            meta = {
                "kode": kode, "jenis": "surat-masuk", "nomor": f"{n}/X", "perihal": f"dokumen {n}",
                "tanggal": dt.date(2025, 4, n), "unit": "sekretariat", "halaman": 1,
                "keamanan": "rahasia" if kode == "KP.03" else "biasa",
            }  # fmt: skip
            ids[kode] = catalogue.add(
                meta, cat.STORED, text=f"dokumen {n}", path=path, asli=evidence_path(path),
                sha256=sha256(main), asli_sha256=sha256(evidence), bytes=main.stat().st_size,
                sumber_sha256=f"s{n}", sumber="{}", batch="b",
            )  # fmt: skip
    return ids
