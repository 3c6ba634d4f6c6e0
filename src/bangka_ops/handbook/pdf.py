"""One A4 PDF per guide and language, printed from the built site by Debian's headless chromium.

The site's print stylesheet (``docs/assets/handbook.css``) hides the navigation, so a PDF holds the
guide alone; chromium adds the guide's name and ``halaman X / Y`` at the foot of every page. One
browser prints every PDF (a start costs about 1.5 s).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from bangka_ops.handbook import screenshots

# The guides a named reader prints (the page name under docs/<lang>/), in the nav's order.
GUIDES = (
    "tim",
    "sk",
    "operator-harian",
    "pemulihan-darurat",
    "simulasi-pemulihan",
    "protokol",
    "arsip",
    "tinjauan-sop",
    "laporan-insiden",
)
PREFIX = {"id": "", "en": "en/"}  # where each language's pages are in the built site
FOOTER = (
    '<div style="font: 8px sans-serif; width: 100%; margin: 0 15mm; display: flex;'
    ' justify-content: space-between; color: #555;"><span>{title}</span>'
    '<span>{page} <span class="pageNumber"></span> / <span class="totalPages"></span></span></div>'
)


class PdfError(RuntimeError):
    """A guide that could not be printed; the message names it."""


@dataclass(frozen=True)
class Printed:
    guide: str
    lang: str
    path: Path
    title: str


def pdf_name(guide: str, lang: str) -> str:
    return f"panduan-{guide}-{lang}.pdf"


def print_guides(site: Path, out: Path, guides: tuple[str, ...] = GUIDES) -> list[Printed]:
    """Print every guide of the built ``site`` into ``out``; returns what was written."""
    out.mkdir(parents=True, exist_ok=True)
    printed: list[Printed] = []
    with screenshots.browser() as chrome:
        page = chrome.new_page()
        for lang, prefix in PREFIX.items():
            for guide in guides:
                source = site / f"{prefix}{guide}.html"
                if not source.is_file():
                    raise PdfError(f"{source}: not in the built site")
                page.goto(source.resolve().as_uri(), wait_until="load")
                title = page.inner_text("article h1").strip().replace("¶", "").strip()
                target = out / pdf_name(guide, lang)
                page.pdf(
                    path=str(target),
                    format="A4",
                    print_background=True,
                    margin={"top": "16mm", "bottom": "18mm", "left": "15mm", "right": "15mm"},
                    display_header_footer=True,
                    header_template="<span></span>",
                    footer_template=FOOTER.format(
                        title=html.escape(title), page="halaman" if lang == "id" else "page"
                    ),
                )
                printed.append(Printed(guide, lang, target, title))
        page.close()
    return printed
