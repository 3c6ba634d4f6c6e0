"""``cekat handbook``: build the handbook (site, generated pages, screenshots, PDFs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bangka_ops.cli import driver

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 64


def cmd_handbook(args: argparse.Namespace) -> int:
    # Imported here: the build needs the docs extra (MkDocs, Playwright) and the archive's
    # libraries, which no other cekat command should pay for at start-up.
    from bangka_ops.handbook import build, inventory, pdf, screenshots  # noqa: PLC0415

    try:
        project = driver.find_project(args.project)
    except driver.DriverError as exc:
        print(f"cekat handbook: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.records is not None and not args.records.is_dir():
        print(f"cekat handbook: --records {args.records}: no such directory", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = build.build(project, args.site, args.pdf, args.records, with_pdf=not args.no_pdf)
    except (
        build.BuildError,
        pdf.PdfError,
        screenshots.ScreenshotError,
        inventory.InventoryError,
    ) as exc:
        print(f"cekat handbook: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"situs / site: {result.site}/index.html ({result.seconds_site:.1f} s)")
    for printed in result.pdfs:
        print(f"PDF: {printed.path}")
    if result.pdfs:
        print(f"{len(result.pdfs)} PDF ({result.seconds_pdf:.1f} s)")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    book = sub.add_parser(
        "handbook",
        help="buku panduan / build the handbook: site (mkdocs build --strict) and PDF guides",
    )
    book.add_argument("--project", type=Path, help="the checkout (default: found as for playbooks)")
    book.add_argument("--site", type=Path, help="the site's directory (default: PROJECT/site)")
    book.add_argument("--pdf", type=Path, help="the PDFs' directory (default: SITE/pdf)")
    book.add_argument(
        "--records",
        type=Path,
        help="the admin's collection (collect_records.yml): the inventory pages' repository "
        "sizes and capacity",
    )
    book.add_argument("--no-pdf", action="store_true", help="the site only")
    book.set_defaults(func=cmd_handbook)
