"""What the archive tests share: running ``cekat arsip`` as a separate process, reading a PDF's
text layer independently of the intake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
