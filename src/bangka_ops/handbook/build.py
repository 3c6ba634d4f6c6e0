"""The whole handbook build: generated pages and fresh screenshots, ``mkdocs build --strict``,
then one PDF per guide and language."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bangka_ops.handbook import pages, pdf


class BuildError(RuntimeError):
    """The site or a PDF could not be built; the message says what MkDocs or chromium said."""


@dataclass
class Result:
    site: Path
    pdfs: list[pdf.Printed] = field(default_factory=list)
    seconds_site: float = 0.0
    seconds_pdf: float = 0.0


def build(
    project: Path,
    site: Path | None = None,
    pdf_dir: Path | None = None,
    records: Path | None = None,
    *,
    with_pdf: bool = True,
) -> Result:
    """Build the site into ``site`` (default ``<project>/site``) and the PDFs into ``pdf_dir``
    (default ``<site>/pdf``, so the site links them)."""
    site = (site or project / "site").resolve()
    docs = project / "docs"
    for lang in pages.LANGS:  # taken again at every full build: never stale
        shutil.rmtree(docs / lang / "tangkapan", ignore_errors=True)
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    env.pop("BANGKA_HANDBOOK_RECORDS", None)
    if records is not None:
        env["BANGKA_HANDBOOK_RECORDS"] = str(records.resolve())
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(project / "mkdocs.yml"), "--site-dir", str(site)],
        cwd=project, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise BuildError(f"mkdocs build --strict exited {done.returncode}:\n{done.stderr[-4000:]}")
    result = Result(site, seconds_site=time.monotonic() - started)
    if with_pdf:
        started = time.monotonic()
        result.pdfs = pdf.print_guides(site, (pdf_dir or site / "pdf").resolve())
        result.seconds_pdf = time.monotonic() - started
    return result
