"""OCR with OCRmyPDF (Debian's ``ocrmypdf``, Tesseract ``ind+eng``): a PDF/A-2b with a text
layer, and the text itself for the index.

One ``ocrmypdf`` per document with ``--jobs 1`` and documents run side by side, one per core:
its start-up is a noticeable part of a short document, and two documents keep both cores busier
than one document's page workers do (``../shared/ARSIP.md``). Several images of one document are
first combined into one PDF by ``img2pdf``, losslessly (JPEG data copied as is); that PDF is also
the evidence copy kept beside the PDF/A.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import img2pdf
import pikepdf
from PIL import Image

from bangka_ops.arsip import scan

OCRMYPDF = os.environ.get("BANGKA_OCRMYPDF", "ocrmypdf")
EXIT_MESSAGES = {
    1: "bad arguments",
    2: "the input is not a PDF or image it can read",
    3: "a program it needs is missing",
    5: "the output could not be written",
    6: "the PDF already has text",
    7: "a child process failed",
    8: "the PDF is encrypted",
    9: "Ghostscript or Tesseract is misconfigured",
    10: "the PDF/A conversion failed",
    15: "an unexpected error",
}


class OcrError(Exception):
    """OCR of one document failed (that document only); the message says why."""


@dataclass(frozen=True)
class Output:
    pdfa: Path
    evidence: Path
    text: str
    pages: int


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def combine(images: list[Path], out: Path) -> None:
    """Images (in page order; a TIFF may hold several pages) as one PDF, losslessly. When an
    image has no DPI tag every page is laid out on A4 (the size the scan check measured it
    against), else each page is as large as its resolution says."""
    tagged = True
    for path in images:
        with Image.open(path) as image:
            dpi: Any = image.info.get("dpi")
        tagged = tagged and bool(dpi) and float(dpi[0]) > 1
    a4 = (img2pdf.mm_to_pt(210), img2pdf.mm_to_pt(297))
    options = {} if tagged else {"layout_fun": img2pdf.get_layout_fun(a4, auto_orient=True)}
    data = img2pdf.convert([str(p) for p in images], **options)
    reproducible(data, out)


def reproducible(data: bytes, out: Path) -> None:
    """img2pdf's PDF without its random /ID and its time: the same images make the same bytes
    whenever they are combined again."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        for key in ("/CreationDate", "/ModDate"):
            if key in pdf.docinfo:
                del pdf.docinfo[key]
        if "/ID" in pdf.trailer:
            del pdf.trailer["/ID"]
        pdf.save(out, deterministic_id=True)


def ocrmypdf_command(source: Path, pdfa: Path, sidecar: Path, languages: str) -> list[str]:
    """One document to PDF/A-2b with its text beside it; one page worker (documents run side by
    side instead); pages that already have text are kept as they are."""
    return [
        OCRMYPDF, "--quiet", "-l", languages, "--output-type", "pdfa-2", "--jobs", "1",
        "--skip-text", "--sidecar", str(sidecar), str(source), str(pdfa),
    ]  # fmt: skip


def run(
    sources: list[Path], workdir: Path, languages: str, timeout: int, dpi_hint: float | None = None
) -> Output:
    """OCR one document made of ``sources`` in ``workdir`` (private, the caller's): returns the
    PDF/A, the evidence copy and the text; :class:`OcrError` when it cannot be done."""
    evidence = workdir / "asli.pdf"
    if sources[0].suffix.lower() in scan.PDF_SUFFIXES:
        with sources[0].open("rb") as src, evidence.open("wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
    else:
        try:
            combine(sources, evidence)
        except (OSError, ValueError, img2pdf.ImageOpenError, pikepdf.PdfError) as exc:
            raise OcrError(f"the images cannot be combined into a PDF: {exc}") from None
    pdfa = workdir / "pdfa.pdf"
    sidecar = workdir / "teks.txt"
    command = ocrmypdf_command(evidence, pdfa, sidecar, languages)
    env = {**os.environ, "OMP_THREAD_LIMIT": "1", "TMPDIR": str(workdir)}
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise OcrError(f"OCR took longer than {timeout} s and was stopped") from None
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    if process.returncode != 0:
        last = err.decode("utf-8", "replace").strip().splitlines()[-3:]
        why = EXIT_MESSAGES.get(process.returncode, f"exit {process.returncode}")
        raise OcrError(f"ocrmypdf: {why}" + (f": {' '.join(last)}"[:400] if last else ""))
    try:
        with pikepdf.open(pdfa) as pdf:
            pages = len(pdf.pages)
            with pdf.open_metadata() as meta:
                part = meta.get("pdfaid:part")
    except (pikepdf.PdfError, OSError) as exc:
        raise OcrError(f"the PDF/A it wrote cannot be opened: {exc}") from None
    if part != "2":
        raise OcrError(f"the output is not PDF/A-2 (pdfaid:part {part!r})")
    text = sidecar.read_text("utf-8", "replace") if sidecar.exists() else ""
    return Output(pdfa, evidence, text.replace("\f", "\n"), pages)
