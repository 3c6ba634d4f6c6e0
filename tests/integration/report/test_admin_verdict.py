"""The checklist shows the admin host's tamper verdicts (``<collected>/_admin/runs/``): a server
the admin's newest check found tampered with is marked in every format and its backups count as
failures; a later clean check or an accept clears it; a failed maintenance is shown too; a
malformed admin report is named and not used; a server without an admin report shows nothing
new. The collected tree holds real runs (two hosts, copied from one real set of records)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bangka_ops.report import admin, checklist, intake, ledger
from tests.integration.report.helpers import cekat_report

pytestmark = pytest.mark.borg
JAKARTA = ZoneInfo("Asia/Jakarta")
DISAPPEARED = "web-01-docs-daily-2024-05-01T02-00-00"
PLANTED = "web-01-docs-daily-2099-01-01T02-00-00"


def admin_report(
    root: Path, hours_ago: float, kind: str, clients: list[dict[str, Any]], **extra: Any
) -> Path:
    """An admin report as bangka-backup-maintenance writes it, ``hours_ago`` before now."""
    start = dt.datetime.now(JAKARTA).replace(microsecond=0) - dt.timedelta(hours=hours_ago)
    folder = root / admin.ADMIN_DIR / admin.RUNS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{start.strftime('%Y-%m-%dT%H-%M-%S')}-{kind}.json"
    document = {"schema_version": 2, "kind": kind, "start": start.isoformat(), "clients": clients}
    if kind != "tamper_accept":
        status = {c["status"] for c in clients}
        document["end"] = start.isoformat()
        document["status"] = next((s for s in ("tampered", "failed") if s in status), "ok")
    document.update(extra)
    path.write_text(json.dumps(document, indent=2))
    return path


def ok(client: str) -> dict[str, Any]:
    return {
        "client": client,
        "repository": f"/srv/borg/repos/{client}",
        "status": "ok",
        "archives": 4,
        "pruned": [],
    }


TAMPERED = {
    "client": "web-01",
    "repository": "/srv/borg/repos/web-01",
    "status": "tampered",
    "reason": "2 finding(s). Nothing was pruned or compacted. Investigate, then roll back",
    "findings": [
        {
            "kind": "disappeared",
            "archive": DISAPPEARED,
            "detail": "first seen 2024-05-01T02:05:00+07:00; gone without an admin prune",
            "id": "a1" * 32,
        },
        {
            "kind": "future-dated",
            "archive": PLANTED,
            "detail": "dated 2099-01-01T02:00:00+07:00, after the admin's clock",
        },
    ],
    "missing": [DISAPPEARED],
    "last_verified_at": "2024-05-01T12:30:00+07:00",
}


@pytest.fixture
def verdicts(tree: tuple[Path, dt.date]) -> tuple[Path, dt.date, Path]:
    """Two hosts of real runs (web-01, and db-01 made from the same records) and the admin's
    reports: both clean three hours ago, web-01 tampered two hours ago (db-01 still clean), and
    a malformed report an hour ago that would have called db-01 tampered."""
    root, today = tree
    db = root / "db-01"
    shutil.copytree(root / "web-01", db)
    for path in db.rglob("*.json"):
        path.write_text(path.read_text().replace("web-01", "db-01"))
    admin_report(root, 3, "maintenance_run", [ok("web-01"), ok("db-01")])
    admin_report(root, 2, "tamper_check", [TAMPERED, ok("db-01")])
    malformed = admin_report(
        root, 1, "maintenance_run", [{"client": "db-01", "status": "tampered", "findings": "x"}]
    )
    return root, today, malformed


def report(root: Path, today: dt.date, fmt: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return cekat_report(root, today, "--format", fmt, *extra)


def checklist_json(root: Path, today: dt.date, *extra: str) -> dict[str, Any]:
    proc = report(root, today, "json", *extra)
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    document: dict[str, Any] = json.loads(proc.stdout)
    return document


def test_json_marks_the_tampered_host_and_counts_its_backups_as_failures(
    verdicts: tuple[Path, dt.date, Path],
) -> None:
    root, today, malformed = verdicts
    proc = report(root, today, "json")
    assert proc.returncode == 1, proc.stderr
    assert f"{malformed}: admin report: clients[0].findings: expected a list" in proc.stderr
    document = json.loads(proc.stdout)
    rows, kpis = document["rows"], document["kpis"]

    web = [r for r in rows if r["host"] == "web-01"]
    assert {r["admin_check"] for r in web} == {"tampered"}
    by_cycle = {r["cycle"]: r for r in web if r["policy"] == "docs" and r["trigger"] == "schedule"}
    # The clean and the warning run made archives of a tampered repository: failures now.
    assert by_cycle["daily"]["status"] == "tampered"
    assert by_cycle["weekly"]["status"] == "tampered"
    assert "TAMPERED" in by_cycle["daily"]["reason"]
    assert DISAPPEARED in by_cycle["daily"]["reason"]
    assert "the run itself: success" in by_cycle["daily"]["reason"]
    assert by_cycle["monthly"]["status"] == "failed"  # already a failure: unchanged
    assert {r["status"] for r in web if r["policy"] == "arsip"} == {"missed"}

    db = [r for r in rows if r["host"] == "db-01"]
    assert {r["admin_check"] for r in db} == {"ok"}  # the malformed report was not used
    db_cycles = {
        r["cycle"]: r["status"] for r in db if r["policy"] == "docs" and r["trigger"] == "schedule"
    }
    assert db_cycles["daily"] == "success" and db_cycles["weekly"] == "warning"

    hosts = {h["host"]: h for h in kpis["hosts"]}
    assert hosts["web-01"]["admin_check"] == "tampered" and hosts["web-01"]["breaching"]
    assert (hosts["web-01"]["success"], hosts["web-01"]["warning"]) == (0, 0)
    assert (hosts["web-01"]["failed"], hosts["web-01"]["tampered"]) == (3, 2)
    assert hosts["db-01"]["admin_check"] == "ok"
    assert (hosts["db-01"]["success"], hosts["db-01"]["tampered"]) == (1, 0)
    assert kpis["total"]["tampered"] == 2
    assert kpis["total"]["success"] == 1  # db-01's only
    policies = {(p["host"], p["policy"]): p for p in kpis["policies"]}
    assert "tampered" in policies[("web-01", "docs")]["breaches"]
    assert "tampered" not in policies[("db-01", "docs")]["breaches"]

    assert kpis["admin"]["tampered_hosts"] == 1 and kpis["admin"]["failed_hosts"] == 0
    first, second = kpis["admin"]["hosts"]
    assert (first["host"], first["status"], first["kind"]) == ("web-01", "tampered", "tamper_check")
    assert [(f["kind"], f["archive"]) for f in first["findings"]] == [
        ("disappeared", DISAPPEARED),
        ("future-dated", PLANTED),
    ]
    assert first["findings"][0]["detail"].startswith("first seen 2024-05-01")
    assert first["report"].endswith("-tamper_check.json")
    assert (second["host"], second["status"], second["findings"]) == ("db-01", "ok", [])
    assert any(str(malformed) in p for p in kpis["problems"])


def test_csv_shows_the_admin_check_of_every_row(verdicts: tuple[Path, dt.date, Path]) -> None:
    root, today, malformed = verdicts
    proc = report(root, today, "csv")
    assert proc.returncode == 1 and str(malformed) in proc.stderr
    table = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert "admin_check" in table[0]
    web = [r for r in table if r["host"] == "web-01"]
    assert {r["admin_check"] for r in web} == {"tampered"}
    assert [r["status"] for r in web].count("tampered") == 2
    assert all(DISAPPEARED in r["reason"] for r in web if r["status"] == "tampered")
    assert {r["admin_check"] for r in table if r["host"] == "db-01"} == {"ok"}


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("id", ["Pemeriksaan manipulasi oleh host admin", "DIMANIPULASI", "hilang", "baik"]),
        ("en", ["Tamper check by the admin host", "TAMPERED", "future-dated", "Tamper findings"]),
    ],
)
def test_html_names_the_verdict_and_every_finding(
    verdicts: tuple[Path, dt.date, Path], tmp_path: Path, lang: str, words: list[str]
) -> None:
    root, today, malformed = verdicts
    page = tmp_path / "checklist.html"
    proc = report(root, today, "html", "--lang", lang, "--out", str(page))
    assert proc.returncode == 1, proc.stderr
    html = page.read_text()
    for word in words:
        assert word in html, word
    section = html[html.index('<section class="admin">') : html.index("</section>")]
    assert DISAPPEARED in section and PLANTED in section
    assert "gone without an admin prune" in section and "after the admin&#39;s clock" in section
    assert section.index("web-01") < section.index("db-01")  # tampered first
    assert html.count('class="status-tampered"') >= 2 + 2  # two findings, the rows
    assert str(malformed) in html  # among the skipped files


def test_prometheus_has_a_tampered_gauge_per_host(verdicts: tuple[Path, dt.date, Path]) -> None:
    root, today, _ = verdicts
    proc = report(root, today, "prom")
    assert proc.returncode == 1, proc.stderr
    prom = proc.stdout
    assert "# TYPE bangka_backup_tampered gauge" in prom
    assert 'bangka_backup_tampered{host="web-01"} 1' in prom
    assert 'bangka_backup_tampered{host="db-01"} 0' in prom
    assert 'bangka_backup_tamper_findings{host="web-01"} 2' in prom
    assert 'bangka_backup_maintenance_failed{host="web-01"} 0' in prom
    # web-01's archives are in question: no success counted
    assert 'bangka_backup_success_ratio{host="web-01",policy="docs"} 0.0' in prom
    assert 'bangka_backup_success_ratio{host="db-01",policy="docs"} 0.3333' in prom


@pytest.mark.parametrize("clearing", ["tamper_check", "maintenance_run", "tamper_accept"])
def test_a_later_clean_check_or_accept_clears_the_verdict(
    verdicts: tuple[Path, dt.date, Path], clearing: str
) -> None:
    root, today, malformed = verdicts
    malformed.unlink()
    if clearing == "tamper_accept":
        accepted = {
            "client": "web-01",
            "repository": "/srv/borg/repos/web-01",
            "status": "accepted",
            "reason": "INC-42: rolled back by hand",
            "findings": TAMPERED["findings"],
            "archives": 4,
        }
        admin_report(root, 0.5, clearing, [accepted])
    else:
        admin_report(root, 0.5, clearing, [ok("web-01"), ok("db-01")])
    document = checklist_json(root, today)
    web = [r for r in document["rows"] if r["host"] == "web-01"]
    expected = "accepted" if clearing == "tamper_accept" else "ok"
    assert {r["admin_check"] for r in web} == {expected}
    assert "tampered" not in {r["status"] for r in web}
    kpis = document["kpis"]
    assert kpis["admin"]["tampered_hosts"] == 0
    assert kpis["total"]["tampered"] == 0 and kpis["total"]["success"] == 2
    (web_verdict,) = [v for v in kpis["admin"]["hosts"] if v["host"] == "web-01"]
    assert web_verdict["findings"] == []  # accepted findings are not shown as open
    assert not any(str(malformed) in p for p in kpis["problems"])
    prom = report(root, today, "prom").stdout
    assert 'bangka_backup_tampered{host="web-01"} 0' in prom


def test_the_verdict_is_the_one_at_the_moment_judged(verdicts: tuple[Path, dt.date, Path]) -> None:
    root, today, _ = verdicts
    admin_report(root, 0.5, "tamper_check", [ok("web-01"), ok("db-01")])
    # --as-of before the tampered check: both clean then; between it and the clean one: tampered.
    for hours, expected in ((2.5, "ok"), (1.5, "tampered"), (0, "ok")):
        moment = dt.datetime.now(JAKARTA) - dt.timedelta(hours=hours)
        document = checklist_json(root, today, "--as-of", moment.isoformat())
        hosts = {h["host"]: h["admin_check"] for h in document["kpis"]["hosts"]}
        assert hosts["web-01"] == expected, hours


def test_a_failed_maintenance_is_shown_and_keeps_an_earlier_tampered(
    verdicts: tuple[Path, dt.date, Path],
) -> None:
    root, today, malformed = verdicts
    malformed.unlink()
    failed = {
        "client": "db-01",
        "repository": "/srv/borg/repos/db-01",
        "status": "failed",
        "reason": "borg list failed: Connection closed by remote host",
    }
    admin_report(root, 0.5, "maintenance_run", [{**failed, "client": "web-01"}, failed])
    document = checklist_json(root, today)
    kpis = document["kpis"]
    hosts = {h["host"]: h for h in kpis["hosts"]}
    # web-01: the run that failed did not check it clean; still tampered.
    assert hosts["web-01"]["admin_check"] == "tampered"
    (web_verdict,) = [v for v in kpis["admin"]["hosts"] if v["host"] == "web-01"]
    assert web_verdict["failed_since"]["reason"].startswith("borg list failed")
    # db-01: a maintenance problem, less severe: the host breaches, its runs keep their result.
    assert hosts["db-01"]["admin_check"] == "failed" and hosts["db-01"]["breaching"]
    db = [r for r in document["rows"] if r["host"] == "db-01"]
    assert {r["admin_check"] for r in db} == {"failed"}
    assert "success" in {r["status"] for r in db} and "tampered" not in {r["status"] for r in db}
    policies = {(p["host"], p["policy"]): p for p in kpis["policies"]}
    assert "admin maintenance failed" in policies[("db-01", "docs")]["breaches"]
    assert (kpis["admin"]["tampered_hosts"], kpis["admin"]["failed_hosts"]) == (1, 1)
    prom = report(root, today, "prom").stdout
    assert 'bangka_backup_maintenance_failed{host="db-01"} 1' in prom
    assert 'bangka_backup_tampered{host="db-01"} 0' in prom


def test_a_malformed_or_foreign_admin_file_is_named_and_not_used(
    verdicts: tuple[Path, dt.date, Path],
) -> None:
    root, today, malformed = verdicts
    runs = malformed.parent
    truncated = runs / "2024-05-02T12-30-00-tamper_check.json"
    truncated.write_text('{"schema_version": 2, "kind": "tamper_check", "clients": [')
    misnamed = runs / "2024-05-02T12-30-00-tamper_check.json.bak"
    misnamed.write_text("{}")
    wrong_kind = runs / "2024-05-03T12-30-00-maintenance_run.json"
    wrong_kind.write_text(
        json.dumps({"schema_version": 2, "kind": "tamper_check", "start": "x", "clients": []})
    )
    (runs / ".tmp-report-1234").write_text("half")  # a writer's temporary file: ignored
    proc = report(root, today, "json")
    assert proc.returncode == 1
    for path, message in (
        (malformed, "clients[0].findings: expected a list"),
        (truncated, "invalid or truncated JSON"),
        (misnamed, "not an admin report"),
        (wrong_kind, "the file name says 'maintenance_run'"),
    ):
        assert any(str(path) in line and message in line for line in proc.stderr.splitlines()), (
            path,
            proc.stderr,
        )
    assert ".tmp-report" not in proc.stderr
    document = json.loads(proc.stdout)
    assert {h["host"]: h["admin_check"] for h in document["kpis"]["hosts"]} == {
        "web-01": "tampered",
        "db-01": "ok",
    }


def test_without_admin_reports_nothing_new_is_shown(tree: tuple[Path, dt.date]) -> None:
    root, today = tree
    document = checklist_json(root, today)
    assert {r["admin_check"] for r in document["rows"]} == {None}
    assert document["kpis"]["admin"] == {"tampered_hosts": 0, "failed_hosts": 0, "hosts": []}
    assert [h["admin_check"] for h in document["kpis"]["hosts"]] == [None]
    prom = report(root, today, "prom").stdout
    assert "bangka_backup_tampered" not in prom


def test_the_admin_directory_is_nobody_s_host_directory(
    verdicts: tuple[Path, dt.date, Path], tmp_path: Path
) -> None:
    root, today, _ = verdicts
    # No package can be stored there: no inventory host name starts with "_".
    with pytest.raises(ValueError, match="not an inventory host name"):
        intake.intake(root, admin.ADMIN_DIR, tmp_path / "package.tar.gz")
    assert not checklist.is_host_dir(root / admin.ADMIN_DIR)
    (root / admin.ADMIN_DIR / "config.json").write_text("{}")  # even looking like one
    assert not checklist.is_host_dir(root / admin.ADMIN_DIR)
    (root / admin.ADMIN_DIR / "config.json").unlink()

    before = sorted(p.relative_to(root) for p in (root / admin.ADMIN_DIR).rglob("*"))
    summary = ledger.consolidate(root)  # the admin's reports are neither folded nor named
    assert not [p for p in summary.left if admin.ADMIN_DIR in p.path.parts]
    assert sorted(p.relative_to(root) for p in (root / admin.ADMIN_DIR).rglob("*")) == before
    document = checklist_json(root, today)
    assert {r["host"] for r in document["rows"]} == {"web-01", "db-01"}

    # One host's directory: that host's verdict only.
    single = checklist_json(root / "web-01", today)
    assert [v["host"] for v in single["kpis"]["admin"]["hosts"]] == ["web-01"]
    assert {r["admin_check"] for r in single["rows"]} == {"tampered"}
