"""Generated scans for the examples, the tests and the bench: never real documents.

A page is an Indonesian letter (*Nomor*, *Lampiran*, *Perihal*, a body of a few paragraphs) drawn
with DejaVu Sans (shipped with matplotlib) at the scanner's resolution, then given what a real
scanner adds: grey noise and a slight rotation. Bad pages for the scan check are made the same
way: blank, low resolution, badly skewed, cut off at an edge.
"""

from __future__ import annotations

import io
import random
import textwrap
from dataclasses import dataclass
from pathlib import Path

import img2pdf
import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from bangka_ops.arsip import ocr

A4_INCHES = (8.27, 11.69)
FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
BOLD = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans-Bold.ttf"

WORDS = [
    "penganggaran",
    "kegiatan",
    "pelaksanaan",
    "koordinasi",
    "pemerintah",
    "daerah",
    "kabupaten",
    "bangka",
    "rapat",
    "laporan",
    "pertanggungjawaban",
    "keuangan",
    "anggaran",
    "belanja",
    "pegawai",
    "perencanaan",
    "pembangunan",
    "pengawasan",
    "pelayanan",
    "masyarakat",
    "dokumen",
    "arsip",
    "penyimpanan",
    "digital",
    "cadangan",
    "server",
    "jaringan",
    "informasi",
    "komunikasi",
    "persetujuan",
    "pimpinan",
    "kepala",
    "dinas",
    "sekretaris",
    "bupati",
    "wakil",
    "undangan",
    "musyawarah",
    "perencanaan",
    "desa",
    "kecamatan",
    "sungailiat",
    "pemutakhiran",
    "data",
    "kepegawaian",
]


@dataclass(frozen=True)
class Letter:
    """What is printed on a generated letter."""

    nomor: str
    perihal: str
    tanggal: str
    body_words: int = 160
    seed: int = 0
    keyword: str | None = None  # a word printed in the body, for OCR tests


def letter_lines(letter: Letter) -> list[tuple[str, bool]]:
    rng = random.Random(letter.seed)  # noqa: S311 (sample text, not a secret)
    words = [rng.choice(WORDS) for _ in range(letter.body_words)]
    if letter.keyword:
        words.insert(len(words) // 3, letter.keyword)
    body = " ".join(words).capitalize() + "."
    lines: list[tuple[str, bool]] = [
        ("PEMERINTAH KABUPATEN BANGKA", True),
        ("DINAS KOMUNIKASI DAN INFORMATIKA", True),
        ("Jl. Ahmad Yani, Sungailiat", False),
        ("", False),
        (f"Sungailiat, {letter.tanggal}", False),
        (f"Nomor    : {letter.nomor}", False),
        ("Lampiran : 1 (satu) berkas", False),
        (f"Perihal  : {letter.perihal}", False),
        ("", False),
        ("Yth. Kepala Perangkat Daerah", False),
        ("di Sungailiat", False),
        ("", False),
    ]
    lines += [(line, False) for line in textwrap.wrap(body, 62)]
    lines += [("", False), ("Kepala Dinas,", False), ("", False), ("", False), ("NIP. -", False)]
    return lines


def page(
    letter: Letter | None,
    dpi: int = 300,
    angle: float = 0.0,
    noise: float = 6.0,
    shift_mm: tuple[float, float] = (0.0, 0.0),
) -> Image.Image:
    """One A4 page in 8-bit grey at ``dpi``: ``letter`` printed (None: a blank sheet), rotated by
    ``angle`` degrees, moved by ``shift_mm`` (a page put in the scanner off-centre: text pushed
    past an edge), with Gaussian grey noise of ``noise`` levels."""
    size = (round(A4_INCHES[0] * dpi), round(A4_INCHES[1] * dpi))
    image = Image.new("L", size, 255)
    if letter is not None:
        draw = ImageDraw.Draw(image)
        regular = ImageFont.truetype(str(FONT), round(11 / 72 * dpi))
        bold = ImageFont.truetype(str(BOLD), round(12 / 72 * dpi))
        margin = round(25 / 25.4 * dpi)
        x = margin + round(shift_mm[0] / 25.4 * dpi)
        y = margin + round(shift_mm[1] / 25.4 * dpi)
        step = round(17 / 72 * dpi)
        for text, strong in letter_lines(letter):
            draw.text((x, y), text, fill=30, font=bold if strong else regular)
            y += step
    if angle:
        image = image.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255, expand=False)
    if noise:
        rng = np.random.default_rng(letter.seed if letter else 7)
        pixels = np.asarray(image, dtype=np.float32)
        pixels += rng.normal(0, noise, pixels.shape).astype(np.float32)
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "L")
    image.info["dpi"] = (dpi, dpi)
    return image


def jpeg(image: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, dpi=image.info.get("dpi", (300, 300)))
    return out.getvalue()


def pdf(pages: list[Image.Image], path: Path) -> Path:
    """The pages as a scanner's PDF: one JPEG image per page, sized by its resolution."""
    data = img2pdf.convert([jpeg(p) for p in pages])
    ocr.reproducible(data, path)
    return path


def image_file(image: Image.Image, path: Path) -> Path:
    """One page as an image file; the format follows the suffix (.png, .jpg, .tif)."""
    dpi = image.info.get("dpi", (300, 300))
    kind = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}
    image.save(path, kind[path.suffix.lower()], dpi=dpi)
    return path
