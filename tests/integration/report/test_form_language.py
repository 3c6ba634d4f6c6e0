"""The printed checklist speaks one language: the Indonesian form has no English words outside
data (host and policy names, paths, Borg's messages: marked ``translate="no"``), and numbers and
dates follow each language's conventions (Babel's CLDR data)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from bangka_ops.report import html
from tests.integration.report.test_report_outputs_safe import PERIOD, host_tree, record

# Words both languages use, acronyms and command names.
ALLOWED = {
    "rpo", "rto", "p95", "mib", "dedup", "log", "borg", "check", "si", "cekat", "sign", "verify",
    "server", "admin", "s",
}  # fmt: skip


class Text(HTMLParser):
    """The text a reader sees, outside data (``translate="no"``), style, script and charts."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.words: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("br", "meta", "link", "img"):
            self.stack.append((tag, dict(attrs).get("translate") == "no"))

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        if any(tag in ("style", "script", "svg", "title") or data_ for tag, data_ in self.stack):
            return
        self.words += [w for w in re.findall(r"[^\W\d_]+", data.lower()) if "@" not in w]


def words_of(value: Any, *, keys: bool = True) -> set[str]:
    """The words of texts (and, with ``keys``, of a mapping's keys: the values the data
    carries, such as the statuses)."""
    if isinstance(value, dict):
        found: set[str] = set()
        for key, item in value.items():
            found |= words_of(item, keys=keys) | (words_of(key) if keys else set())
        return found
    if isinstance(value, (list, tuple)):
        return set().union(*(words_of(v, keys=keys) for v in value))
    return set(re.findall(r"[^\W\d_]+", str(value).lower()))


def english_words() -> set[str]:
    """Every word of the English form's texts and of the values the data carries in English,
    except those the Indonesian texts use too."""
    english = words_of(html.TEXT["en"]) | words_of(
        [
            "clean warnings errors not-scheduled none no record passed failed success warning",
            "missed covered skipped on-demand retry full sample daily weekly monthly due run of",
            "the no restore test archive summary stale cloud verification files wrong in storage",
        ]
    )
    return english - words_of(html.TEXT["id"], keys=False) - ALLOWED


def tree(root: Path) -> None:
    runs = [record("fs01", "dokumen", day) for day in (12, 13, 15)]
    big = runs[0]
    big["archive_stats"]["original_size"] = int(2057.2 * 2**20)
    failed = record("fs01", "dokumen", 14, "Connection closed by remote host")
    failed["status"] = "failed"
    warning = record("fs01", "dokumen", 16)
    warning["status"] = "warning"
    host_tree(root, "fs01", "dokumen", [*runs, failed, warning])
    on_demand = record("fs01", "dokumen", 16)
    on_demand.update(trigger="on-demand", start="2025-05-16T10:00:00+07:00")
    folder = root / "fs01" / "records" / "dokumen"
    (folder / "on-demand.json").write_text(json.dumps(on_demand))


def form(root: Path, out: Path, lang: str) -> str:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bangka_ops.cli",
            "report",
            str(root),
            *PERIOD,
            "--format",
            "html",
            "--lang",
            lang,
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return out.read_text(encoding="utf-8")


def test_the_indonesian_form_has_no_english_words(tmp_path: Path) -> None:
    tree(tmp_path / "collected")
    page = form(tmp_path / "collected", tmp_path / "id.html", "id")
    reader = Text()
    reader.feed(page)
    leaked = sorted(set(reader.words) & english_words())
    assert leaked == [], leaked
    for expected in (
        "2.057,2",  # a size in MiB, Indonesian separators
        "12 Mei 2025 \N{EN DASH} 17 Mei 2025",  # the period
        "18 Mei 2025 00.00 +07:00",  # when it was made
        "tidak ada catatan pencadangan harian yang dijadwalkan 17 Mei 2025 02.30 +07:00",
        "(sesuai permintaan)",
        "lulus (penuh)",
        "bersih / tidak dijadwalkan",
    ):
        assert expected in page, expected
    assert "Connection closed by remote host" in page  # Borg's own words, as data


def test_the_english_form_uses_english_conventions(tmp_path: Path) -> None:
    tree(tmp_path / "collected")
    page = form(tmp_path / "collected", tmp_path / "en.html", "en")
    for expected in (
        "2,057.2",
        "May 12, 2025 \N{EN DASH} May 17, 2025",
        "no record of the daily run due May 17, 2025 02:30 +07:00",
        "(on demand)",
        "passed (full)",
        "clean / not scheduled",
    ):
        assert expected in page, expected


def test_the_vocabulary_check_can_fail() -> None:
    reader = Text()
    reader.feed('<p>Hasil: clean</p><p translate="no">Connection closed</p>')
    assert set(reader.words) & english_words() == {"clean"}
