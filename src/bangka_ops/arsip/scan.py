"""SOP step 5: is each page of a scan clear and complete? Else it goes on the re-scan list.

Every page is decoded (qpdf opens a truncated PDF in recovery mode and may still count its pages:
"it opens" is not "its pages decode") and measured on a grey copy reduced to about 100 DPI, where
a scanner's speckle averages out and text strokes stay dark:

* **resolution**: the page image's pixels over the page's size in inches (a PDF's page box, an
  image's DPI tag; an image without one is measured against A4 and said so);
* **blank**: ink (pixels darker than :data:`INK_LEVEL`) covers less than the configured share of
  the page;
* **skew**: the angle whose rotation makes the rows of ink line up best (the projection-profile
  method: the sharpest histogram of ink per row), searched to ±:data:`SKEW_SEARCH` degrees;
* **cut**: ink in the outer band of an edge, where a page put in straight has only margin.

Thresholds come from the archive's configuration (``pemeriksaan``); why they are what they are is
in the README (Arsip digital → Pemeriksaan pindaian).
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pikepdf
from PIL import Image, UnidentifiedImageError

ANALYSIS_DPI = 100
INK_LEVEL = 128
SKEW_SEARCH = 10.0
SKEW_STEP = 0.1
A4_SHORT_INCHES = 8.27
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff"}
PDF_SUFFIXES = {".pdf"}
# Pillow refuses images over this many pixels (a decompression bomb): an A4 page at 600 DPI is
# 35 Mpx; this allows A3 at 600 DPI.
Image.MAX_IMAGE_PIXELS = 80_000_000


@dataclass(frozen=True)
class Rules:
    """The scan check's thresholds (``pemeriksaan`` in the archive configuration)."""

    dpi_min: int = 200
    ink_min_percent: float = 0.02
    skew_max_degrees: float = 2.0
    edge_mm: float = 3.0
    edge_ink_percent: float = 0.5


@dataclass(frozen=True)
class Problem:
    """Why a document must be scanned again: which page (None: the whole file) and why, in
    Bahasa Indonesia and English."""

    page: int | None
    code: str
    id: str
    en: str

    def __str__(self) -> str:
        where = f"halaman/page {self.page}: " if self.page else ""
        return f"{where}{self.id} / {self.en}"

    def as_dict(self) -> dict[str, Any]:
        return {"halaman": self.page, "kode": self.code, "alasan": self.id, "reason": self.en}


@dataclass
class Measure:
    """What was measured on one page."""

    page: int
    dpi: float
    ink_percent: float
    skew_degrees: float
    edges: dict[str, float] = field(default_factory=dict)
    dpi_estimated: bool = False


@dataclass
class Result:
    pages: list[Measure] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def number(value: float, digits: int = 1) -> str:
    """A number as Indonesians write it (decimal comma)."""
    return f"{value:.{digits}f}".replace(".", ",")


def page_images(path: Path) -> Iterator[tuple[int, Image.Image | None, float | None, bool]]:
    """(page number, decoded grey image or None when it does not decode, DPI, estimated?) for
    each page of a PDF or an image file (a TIFF may hold several). Raises :class:`Refusal` when the
    file itself cannot be read."""
    if path.suffix.lower() in PDF_SUFFIXES:
        yield from _pdf_pages(path)
    else:
        yield from _image_pages(path)


class Refusal(Exception):
    """The file as a whole cannot be checked: the problem says why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _pdf_pages(path: Path) -> Iterator[tuple[int, Image.Image | None, float | None, bool]]:
    try:
        # No recovery: a PDF whose structure qpdf must rebuild (a truncated or damaged file) is
        # damaged, even when its pages still decode: the evidence copy must be a whole file.
        pdf = pikepdf.open(path, attempt_recovery=False)
    except pikepdf.PasswordError:
        raise Refusal(encrypted()) from None
    except (pikepdf.PdfError, OSError, ValueError) as exc:
        raise Refusal(damaged(exc)) from None
    with pdf:
        if pdf.is_encrypted:
            raise Refusal(encrypted())
        try:
            pages = list(pdf.pages)
        except (pikepdf.PdfError, RuntimeError) as exc:
            raise Refusal(damaged(exc)) from None
        if not pages:
            raise Refusal(damaged("no pages"))
        for number_, pdf_page in enumerate(pages, 1):
            yield (number_, *_pdf_page_image(path, pdf_page, number_))


def encrypted() -> Problem:
    return Problem(
        None,
        "terenkripsi",
        "PDF terenkripsi (dilindungi kata sandi); simpan/pindai ulang tanpa enkripsi",
        "the PDF is encrypted (password-protected); save or scan it again without encryption",
    )


def damaged(exc: object) -> Problem:
    return Problem(
        None,
        "rusak",
        f"berkas rusak, tidak dapat dibuka ({str(exc)[:120]})",
        f"the file is damaged and cannot be opened ({str(exc)[:120]})",
    )


def _pdf_page_image(
    path: Path, pdf_page: pikepdf.Page, number_: int
) -> tuple[Image.Image | None, float | None, bool]:
    try:
        box = [float(v) for v in pdf_page.mediabox]
        width_in = abs(box[2] - box[0]) / 72
        height_in = abs(box[3] - box[1]) / 72
        images = list(pdf_page.get_images().values())
    except (pikepdf.PdfError, RuntimeError, ValueError, TypeError, KeyError):
        return None, None, False
    if not images:
        # A page of text without a scanned image (a PDF from a word processor): no resolution
        # to judge; rendered by Ghostscript for the other checks.
        return _render(path, number_), None, False
    try:
        biggest = max(images, key=lambda s: int(s.get("/Width", 0)) * int(s.get("/Height", 0)))
        picture = pikepdf.PdfImage(biggest)  # type: ignore[arg-type]
        image = picture.as_pil_image()
        image.load()
    except Exception:
        return None, None, False
    pixels_w, pixels_h = image.size
    if width_in <= 0 or height_in <= 0:
        return image, None, False
    # A page may be rotated in the PDF: compare the image's sides with the page's, in order.
    sides = sorted((width_in, height_in))
    pixels = sorted((pixels_w, pixels_h))
    return image, min(pixels[0] / sides[0], pixels[1] / sides[1]), False


def _render(path: Path, number_: int) -> Image.Image | None:
    out = subprocess.run(
        [
            "gs",
            "-q",
            "-dSAFER",
            "-dBATCH",
            "-dNOPAUSE",
            "-sDEVICE=pnggray",
            f"-r{ANALYSIS_DPI}",
            f"-dFirstPage={number_}",
            f"-dLastPage={number_}",
            "-sOutputFile=-",
            str(path),
        ],
        capture_output=True,
        check=False,
        timeout=120,
    )
    if out.returncode != 0 or not out.stdout:
        return None
    import io  # noqa: PLC0415

    try:
        image = Image.open(io.BytesIO(out.stdout))
        image.load()
    except (OSError, UnidentifiedImageError):
        return None
    image.info["dpi"] = (ANALYSIS_DPI, ANALYSIS_DPI)
    return image


def _image_pages(path: Path) -> Iterator[tuple[int, Image.Image | None, float | None, bool]]:
    try:
        image = Image.open(path)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise Refusal(damaged(exc)) from None
    with image:
        frames = getattr(image, "n_frames", 1)
        for index in range(frames):
            try:
                image.seek(index)
                frame = image.copy()
                frame.load()
            except (OSError, ValueError, EOFError):
                yield index + 1, None, None, False
                continue
            dpi_tag = image.info.get("dpi")
            if dpi_tag and float(dpi_tag[0]) > 1:
                yield index + 1, frame, float(min(dpi_tag[0], dpi_tag[1] or dpi_tag[0])), False
            else:
                yield index + 1, frame, min(frame.size) / A4_SHORT_INCHES, True


def eight_bit(image: Image.Image) -> Image.Image:
    """The page in 8-bit grey. 16-bit and 32-bit scans are scaled down first: Pillow's own
    conversion clips them (a dark 16-bit page would look white, that is blank)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        pixels = np.asarray(image, dtype=np.float64)
        top = 1.0 if image.mode == "F" and pixels.max(initial=0) <= 1.0 else 65535.0
        if image.mode == "I" and pixels.max(initial=0) <= 255:
            top = 255.0
        scaled = np.clip(pixels / top * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(scaled, "L")
    return image.convert("L")


def analysis_copy(image: Image.Image, dpi: float | None) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """The page in grey at about :data:`ANALYSIS_DPI` (a box filter: speckle averages out)."""
    grey = eight_bit(image)
    factor = max(1, round((dpi or ANALYSIS_DPI) / ANALYSIS_DPI))
    if factor > 1:
        grey = grey.reduce(factor)
    return np.asarray(grey, dtype=np.uint8)


def skew(ink: np.ndarray[Any, np.dtype[np.bool_]]) -> float:
    """The skew of the text lines in degrees (positive: counter-clockwise), 0 without ink."""
    ys, xs = np.nonzero(ink)
    if len(ys) < 50:
        return 0.0
    if len(ys) > 200_000:  # enough to see the lines; keeps a dark page fast
        pick = np.random.default_rng(0).choice(len(ys), 200_000, replace=False)
        ys, xs = ys[pick], xs[pick]
    ys = ys.astype(np.float64)
    xs = xs.astype(np.float64) - ink.shape[1] / 2

    def sharpness(degrees: float) -> float:
        rows = np.round(ys + xs * math.tan(math.radians(degrees))).astype(np.int64)
        counts = np.bincount(rows - rows.min())
        return float(np.dot(counts, counts))

    coarse = np.arange(-SKEW_SEARCH, SKEW_SEARCH + 1e-9, 0.5)
    best = max(coarse, key=sharpness)
    fine = np.arange(best - 0.5, best + 0.5 + 1e-9, SKEW_STEP)
    return round(float(max(fine, key=sharpness)), 1)


def measure(
    image: Image.Image, dpi: float | None, page: int, rules: Rules, estimated: bool = False
) -> Measure:
    grey = analysis_copy(image, dpi)
    ink = grey < INK_LEVEL
    height, width = ink.shape
    scale = (dpi or ANALYSIS_DPI) / max(1, round((dpi or ANALYSIS_DPI) / ANALYSIS_DPI))
    band = max(1, round(rules.edge_mm / 25.4 * scale))
    edges = {
        "atas/top": float(ink[:band].mean()) * 100,
        "bawah/bottom": float(ink[height - band :].mean()) * 100,
        "kiri/left": float(ink[:, :band].mean()) * 100,
        "kanan/right": float(ink[:, width - band :].mean()) * 100,
    }
    return Measure(
        page=page,
        dpi=round(dpi, 1) if dpi else 0.0,
        ink_percent=float(ink.mean()) * 100,
        skew_degrees=skew(ink),
        edges=edges,
        dpi_estimated=estimated,
    )


def judge(m: Measure, rules: Rules) -> list[Problem]:
    problems = []
    if m.dpi and m.dpi + 0.5 < rules.dpi_min:
        guess = " (diperkirakan dari ukuran A4)" if m.dpi_estimated else ""
        guess_en = " (estimated from A4 size: the image has no DPI tag)" if m.dpi_estimated else ""
        problems.append(
            Problem(
                m.page,
                "resolusi",
                f"resolusi {m.dpi:.0f} DPI{guess}, minimal {rules.dpi_min} DPI",
                f"resolution {m.dpi:.0f} DPI{guess_en}, at least {rules.dpi_min} DPI",
            )
        )
    if m.ink_percent < rules.ink_min_percent:
        return [
            *problems,
            Problem(
                m.page,
                "kosong",
                f"halaman kosong (tinta {number(m.ink_percent, 3)} %, minimal "
                f"{number(rules.ink_min_percent, 3)} %)",
                f"blank page (ink {m.ink_percent:.3f} %, at least {rules.ink_min_percent:.3f} %)",
            ),
        ]
    if abs(m.skew_degrees) > rules.skew_max_degrees:
        problems.append(
            Problem(
                m.page,
                "miring",
                f"miring {number(abs(m.skew_degrees))}° (maksimal "
                f"{number(rules.skew_max_degrees)}°)",
                f"skewed {abs(m.skew_degrees):.1f}° (at most {rules.skew_max_degrees:.1f}°)",
            )
        )
    cut = [side for side, share in m.edges.items() if share > rules.edge_ink_percent]
    if cut:
        sides_id = ", ".join(s.split("/")[0] for s in cut)
        sides_en = ", ".join(s.split("/")[1] for s in cut)
        problems.append(
            Problem(
                m.page,
                "terpotong",
                f"terpotong: ada tulisan di tepi {sides_id} ({rules.edge_mm:g} mm terluar)",
                f"cut off: ink at the {sides_en} edge (outer {rules.edge_mm:g} mm)",
            )
        )
    return problems


def check(paths: list[Path], rules: Rules, expected_pages: int | None) -> Result:
    """Check every page of a document made of ``paths`` (one PDF, or images in page order)."""
    result = Result()
    number_ = 0
    for path in paths:
        try:
            for _, image, dpi, estimated in page_images(path):
                number_ += 1
                if image is None:
                    result.problems.append(
                        Problem(
                            number_,
                            "rusak",
                            f"gambar halaman tidak dapat dibaca ({path.name})",
                            f"the page image cannot be decoded ({path.name})",
                        )
                    )
                    continue
                m = measure(image, dpi, number_, rules, estimated)
                result.pages.append(m)
                result.problems += judge(m, rules)
        except Refusal as refusal:
            result.problems.append(refusal.problem)
            return result
    if expected_pages is not None and number_ != expected_pages:
        result.problems.append(
            Problem(
                None,
                "jumlah_halaman",
                f"jumlah halaman {number_}, lembar data menyebut {expected_pages}",
                f"{number_} pages, the sheet says {expected_pages}",
            )
        )
    return result
