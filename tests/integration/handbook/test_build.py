"""The whole handbook, built for real: ``cekat handbook`` (generated pages, screenshots in
headless chromium, ``mkdocs build --strict``) and every guide's PDF, whose pages are rendered to
pictures (pypdfium2) and looked at."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageStat

from bangka_ops.handbook import inventory, pages, pdf, screenshots
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None or shutil.which("ocrmypdf") is None,
    reason="needs chromium and ocrmypdf (scripts/setup.sh --test)",
)
A4_POINTS = (595.3, 841.9)
STORED = 7 * 2**30 + 2**29  # 7.5 GiB, the size the records below say


@dataclass
class Built:
    site: Path
    pdfs: Path
    output: str


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    base = tmp_path_factory.mktemp("handbook")
    records = base / "collected" / "db01.bangka.go.id" / "records" / "basisdata"
    records.mkdir(parents=True)
    record = {
        "kind": "backup_run", "host": "db01.bangka.go.id", "policy": "basisdata",
        "status": "success",
        # Recent: the capacity forecast reads the last 30 days of records.
        "start": (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat(timespec="seconds"),
        "repository": "ssh://borg@backup01.bangka.go.id:22/srv/borg/repos/db01.bangka.go.id",
        "borg": {"cache": {"stats": {"unique_csize": STORED}}},
    }  # fmt: skip
    (records / "db01-basisdata-daily.json").write_text(json.dumps(record))
    site = base / "site"
    pdfs = site / "pdf"  # the default: the site links them
    done = subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", "handbook", "--project", str(REPO_ROOT),
         "--site", str(site), "--records", str(base / "collected")],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return Built(site, pdfs, done.stdout)


def text_of(page: Path) -> str:
    """The visible text of a built page (tags dropped), for plain assertions."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8")))


def test_the_site_has_every_guide_in_both_languages_with_a_language_switch(built: Built) -> None:
    for guide in pdf.GUIDES:
        indonesian, english = built.site / f"{guide}.html", built.site / "en" / f"{guide}.html"
        assert indonesian.is_file() and english.is_file(), guide
        assert 'hreflang="en"' in indonesian.read_text() or "/en/" in indonesian.read_text()
    assert "Pembaca" in text_of(built.site / "operator-harian.html")
    assert "Reader" in text_of(built.site / "en" / "operator-harian.html")


@pytest.mark.parametrize("prefix", ["", "en/"])
def test_the_inventory_pages_are_the_inventory_with_sizes_from_the_records(
    built: Built, prefix: str
) -> None:
    for name in ("production", "staging", "local"):
        inv = inventory.load(REPO_ROOT / "inventories" / name)
        text = text_of(built.site / f"{prefix}inventaris/{name}.html")
        for host in inv.hosts:
            assert host.name in text, (name, host.name)
        for policy in inv.policies():
            assert policy.name in text and f"{policy.rpo_hours} h" in text, (name, policy.name)
    production = text_of(built.site / f"{prefix}inventaris/production.html")
    assert "7.5 GiB" in production  # db01's repository, from the run record given
    no_data = "belum ada data" if not prefix else "no data yet"
    assert no_data in production  # the other agents have no record
    assert "vault.yml" in production  # skipped, named


def test_every_role_has_its_variables_page(built: Built) -> None:
    for role in sorted((REPO_ROOT / "roles").glob("*/meta/argument_specs.yml")):
        name = role.parent.parent.name
        for prefix in ("", "en/"):
            text = text_of(built.site / f"{prefix}peran/{name}.html")
            assert f"{name}_" in text, (prefix, name)


def test_the_screenshots_are_real_pictures_of_the_pages(built: Built) -> None:
    for name in screenshots.NAMES:
        picture = built.site / "tangkapan" / name
        with Image.open(picture) as image:
            assert image.width >= 900 and image.height >= 150, name
            grey = image.convert("L")
            assert ImageStat.Stat(grey).stddev[0] > 10, f"{name} is blank"
        assert (built.site / "en" / "tangkapan" / name).read_bytes() == picture.read_bytes()
    for page in ("protokol.html", "arsip.html", "operator-harian.html"):
        assert "tangkapan/" in (built.site / page).read_text()


def ink(image: Image.Image) -> float:
    """The share of pixels that are not near-white."""
    grey = image.convert("L")
    histogram = grey.histogram()
    return 1 - sum(histogram[235:]) / (grey.width * grey.height)


@pytest.mark.parametrize("lang", ["id", "en"])
@pytest.mark.parametrize("guide", pdf.GUIDES)
def test_each_guide_prints_to_a4_pages_that_are_not_blank_and_carry_its_title(
    built: Built, guide: str, lang: str
) -> None:
    path = built.pdfs / pdf.pdf_name(guide, lang)
    assert f"PDF: {path}" in built.output
    document = pdfium.PdfDocument(path)
    try:
        assert len(document) >= 1
        words = []
        for index in range(len(document)):
            page = document[index]
            width, height = page.get_size()
            assert abs(width - A4_POINTS[0]) < 2 and abs(height - A4_POINTS[1]) < 2
            assert ink(page.render(scale=0.5).to_pil()) > 0.005, f"page {index + 1} is blank"
            words.append(page.get_textpage().get_text_range())
        text = " ".join(" ".join(words).split())
    finally:
        document.close()
    source = (REPO_ROOT / "docs" / lang / f"{guide}.md").read_text(encoding="utf-8")
    title = source.splitlines()[0].removeprefix("# ").strip()
    assert title in text
    assert ("Pembaca" if lang == "id" else "Reader") in text
    assert ("halaman 1 /" if lang == "id" else "page 1 /") in text


@pytest.mark.parametrize("home", ["index.html", "en/index.html"])
def test_the_home_page_links_every_pdf_of_its_language(built: Built, home: str) -> None:
    page = built.site / home
    links = re.findall(r'href="([^"]+\.pdf)"', page.read_text(encoding="utf-8"))
    lang = "en" if home.startswith("en/") else "id"
    assert sorted(Path(link).name for link in links) == sorted(
        pdf.pdf_name(guide, lang) for guide in pdf.GUIDES
    )
    for link in links:
        assert (page.parent / link).resolve().is_file(), link


def test_the_generated_pages_are_not_committed() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "docs"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    generated = (*pages.GENERATED_DIRS, "tangkapan")
    assert not [p for p in tracked if any(f"/{d}/" in p for d in generated)]
