"""The checklist's archive section: an archive host's real summary (a real archive uploaded to a
real SFTP server and verified, then ``cekat arsip ringkasan``), carried in the host's package
through ``cekat intake``, shown in the JSON, the printed form (rendered in chromium) and the
Prometheus metrics; a summary a hostile host made up is a named problem, never a section."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from bangka_ops.backup.records import validate
from bangka_ops.report import intake
from tests.browser import print_to_pdf
from tests.integration.arsip.storage import make_storage, stored_items, write_config
from tests.integration.report.helpers import cekat_report

pytestmark = pytest.mark.skipif(shutil.which("rclone") is None, reason="needs rclone")
TODAY = dt.date.today()


def arsip(root: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", "arsip", *args, "--arsip", str(root),
         "--konfigurasi", str(config)],
        capture_output=True, text=True, timeout=300, check=False,
        env={"BANGKA_AUDIT_LOG": str(root.parent / "audit.jsonl"), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def take_in(collected: Path, host: str, summary: bytes) -> intake.Result:
    package = collected.parent / f"{host}.tar.gz"
    with tarfile.open(package, "w:gz") as tar:
        info = tarfile.TarInfo("./arsip.json")
        info.size = len(summary)
        tar.addfile(info, io.BytesIO(summary))
    return intake.intake(collected, host, package)


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real archive's summary after an upload, a damaged remote copy and a verification
    that put it right."""
    base = tmp_path_factory.mktemp("ringkasan")
    server = make_storage(base)
    try:
        config = write_config(server, base / "etc")
        root = base / "arsip"
        items = stored_items(root, 3)
        assert arsip(root, config, "unggah").returncode == 0
        server.file(str(items[1]["path"])).unlink()
        assert arsip(root, config, "verifikasi", "--sampel", "2").returncode == 0
    finally:
        server.stop()
    done = arsip(root, config, "ringkasan", "--json")
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def report(collected: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return cekat_report(collected, TODAY, *args)


def test_the_summary_is_what_the_schema_says(summary: dict[str, Any]) -> None:
    assert validate(summary, "arsip-summary.v1.schema.json") == []
    assert summary["dokumen"] == 3
    assert summary["awan"]["tersimpan"] == 6 and summary["awan"]["belum_diunggah"] == 0
    assert summary["verifikasi"]["diunggah_ulang"] == 1 and summary["verifikasi"]["ok"]
    assert summary["per_kode_tahun"] == [{"kode": "UM.01", "tahun": 2025, "dokumen": 3}]


def test_the_checklist_shows_the_archive_of_the_host_that_sent_it(
    summary: dict[str, Any], tmp_path: Path
) -> None:
    collected = tmp_path / "collected"
    # The summary names nothing: it is the archive of the host whose package carried it.
    assert take_in(collected, "arsip01", json.dumps(summary).encode()).refused is None
    done = report(collected, "--format", "json")
    assert done.returncode == 0, done.stderr
    section = json.loads(done.stdout)["kpis"]["arsip"]
    assert [a["host"] for a in section] == ["arsip01"]
    assert section[0]["documents"] == 3 and section[0]["not_uploaded"] == 0
    assert section[0]["verification"]["diunggah_ulang"] == 1
    assert section[0]["breaches"] == []

    prom = report(collected, "--format", "prom").stdout
    assert 'bangka_arsip_documents{host="arsip01"} 3' in prom
    assert 'bangka_arsip_verification_ok{host="arsip01"} 1' in prom
    assert 'bangka_arsip_documents_by_code{host="arsip01",kode="UM.01",tahun="2025"} 3' in prom

    page = tmp_path / "daftar.html"
    assert report(collected, "--format", "html", "--out", str(page)).returncode == 0
    html = page.read_text()
    assert "Arsip digital" in html and "Antrean pindai ulang" in html and "UM.01" in html
    assert print_to_pdf(page, tmp_path / "daftar.pdf") == []


def test_a_newer_summary_replaces_the_older_and_a_stale_or_failed_check_is_a_breach(
    summary: dict[str, Any], tmp_path: Path
) -> None:
    collected = tmp_path / "collected"
    take_in(collected, "arsip01", json.dumps(summary).encode())
    failed = json.loads(json.dumps(summary))
    failed["verifikasi"].update(ok=False, gagal=2)
    failed["awan"]["gagal"] = 2
    failed["verifikasi"]["waktu"] = "2020-01-01T00:00:00+07:00"
    assert take_in(collected, "arsip01", json.dumps(failed).encode()).refused is None
    section = json.loads(report(collected, "--format", "json").stdout)["kpis"]["arsip"]
    assert set(section[0]["breaches"]) == {
        "cloud verification stale", "cloud verification failed", "files wrong in cloud storage",
    }  # fmt: skip
    prom = report(collected, "--format", "prom").stdout
    assert 'bangka_arsip_verification_ok{host="arsip01"} 0' in prom


def test_a_summary_that_stopped_coming_is_a_breach(summary: dict[str, Any], tmp_path: Path) -> None:
    collected = tmp_path / "collected"
    old = json.loads(json.dumps(summary))
    old["dibuat"] = "2025-06-01T06:30:00+07:00"
    assert take_in(collected, "arsip01", json.dumps(old).encode()).refused is None
    section = json.loads(report(collected, "--format", "json").stdout)["kpis"]["arsip"]
    assert "archive summary stale" in section[0]["breaches"]
    fresh = tmp_path / "fresh"
    take_in(fresh, "arsip01", json.dumps(summary).encode())
    section = json.loads(report(fresh, "--format", "json").stdout)["kpis"]["arsip"]
    assert "archive summary stale" not in section[0]["breaches"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda s: s.update(dokumen=-1), "dokumen"),
        (lambda s: s.update(dokumen="3"), "dokumen"),
        (lambda s: s.update(host="admin"), "host"),
        (lambda s: s["per_kode_tahun"].append(
            {"kode": "<script>alert(1)</script>", "tahun": 2025, "dokumen": 1}), "kode"),
        (lambda s: s["awan"].update(tersimpan=10**15), "tersimpan"),
        (lambda s: s.update(dibuat="kemarin"), "dibuat"),
        (lambda s: s["verifikasi"].update(waktu="2026-01-01T00:00:00"), "waktu"),
        (lambda s: s["verifikasi"].update(waktu="2999-01-01T00:00:00+07:00"), "waktu"),
        (lambda s: s.update(dibuat="0001-01-01T00:00:00+07:00"), "dibuat"),
        (lambda s: s["per_kode_tahun"].append(dict(s["per_kode_tahun"][0])), "appears twice"),
    ],
)  # fmt: skip
def test_a_made_up_summary_is_a_named_problem_not_a_section(
    summary: dict[str, Any], tmp_path: Path, change: Any, named: str
) -> None:
    hostile = json.loads(json.dumps(summary))
    change(hostile)
    collected = tmp_path / "collected"
    assert take_in(collected, "arsip01", json.dumps(hostile).encode()).refused is None
    done = report(collected, "--format", "json")
    data = json.loads(done.stdout)
    assert data["kpis"]["arsip"] == []
    problems = [p for p in data["kpis"]["problems"] if "arsip.json" in p]
    assert len(problems) == 1 and named in problems[0], data["kpis"]["problems"]
    assert "<script>" not in report(collected, "--format", "prom").stdout


def test_a_summary_that_is_not_json_is_named(tmp_path: Path) -> None:
    collected = tmp_path / "collected"
    take_in(collected, "arsip01", b'{"versi": 1, "dokumen": ')
    data = json.loads(report(collected, "--format", "json").stdout)
    assert data["kpis"]["arsip"] == []
    assert any("arsip01/arsip.json" in p and "JSON" in p for p in data["kpis"]["problems"])


@pytest.mark.parametrize("depth", [1_000, 100_000], ids=["checker-deep", "parser-deep"])
def test_a_summary_nested_too_deeply_is_named_not_a_traceback(tmp_path: Path, depth: int) -> None:
    """1 000 levels parse (orjson reads 1 024) but are deeper than the schema check can go;
    100 000 do not parse. Either way the host's file is a named problem and the report exits 1
    for a skipped file."""
    collected = tmp_path / "collected"
    deep = b'{"versi": 1, "awan": ' + b"[" * depth + b"]" * depth + b"}"
    assert take_in(collected, "arsip01", deep).refused is None
    done = report(collected, "--format", "json")
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 1
    data = json.loads(done.stdout)
    assert data["kpis"]["arsip"] == []
    named = [p for p in data["kpis"]["problems"] if "arsip01/arsip.json" in p]
    assert len(named) == 1, data["kpis"]["problems"]
    assert ("nested too deeply" if depth == 1_000 else "invalid or truncated JSON") in named[0]
    assert f"skipped: {named[0]}" in done.stderr
