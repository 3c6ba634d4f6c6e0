"""Identity comes from where a file was collected, not from what it says (issue 13, item 2).

Trees are built the way the collection builds them: each host's package goes through
``cekat intake`` into ``<collected>/<host>/``, then ``cekat consolidate``, then the report."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

from bangka_ops.report import checklist, intake, ledger, provenance

TZ = dt.timezone(dt.timedelta(hours=7))


def record(host: str, start: str, status: str = "success") -> dict[str, Any]:
    return {
        "schema_version": 1,
        "kind": "backup_run",
        "host": host,
        "policy": "dokumen",
        "category": "critical",
        "cycle": "daily",
        "trigger": "schedule",
        "status": status,
        "start": start,
        "duration_seconds": 10.0,
        "archive": f"{host}-dokumen-daily-{start[:19].replace(':', '-')}",
        "repository": f"ssh://borg@backup01:22/srv/borg/repos/{host}",
        "archive_stats": {"original_size": 1, "compressed_size": 1, "deduplicated_size": 1},
        "steps": {"create": {"exit_code": 0 if status == "success" else 2}},
        "rpo_hours": 24,
    }


def config(host: str) -> dict[str, Any]:
    return {
        "host": host,
        "timezone": "Asia/Jakarta",
        "policies": {
            "dokumen": {
                "category": "critical",
                "rpo_hours": 24,
                "rto_hours": 4,
                "cycles": {"daily": {"hour": 2, "minute": 30}},
            }
        },
    }


def restore_test(client: str, start: str) -> dict[str, Any]:
    return {
        "kind": "restore_test",
        "host": client,
        "policy": "dokumen",
        "start": start,
        "status": "passed",
        "mode": "full",
        "restore_seconds": 5.0,
        "rto_hours": 4,
        "result": {"rto_met": True, "rpo_met": True, "integrity": True},
    }


def collect(root: Path, host: str, files: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / f"{host}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, value in files.items():
            data = json.dumps(value).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    result = intake.intake(root, host, path)
    assert result.refused is None, result.refused


def report(root: Path) -> tuple[list[dict[str, Any]], checklist.Report]:
    rows: list[dict[str, Any]] = []
    period = checklist.Period(dt.date(2026, 11, 10), dt.date(2026, 11, 11))
    built = checklist.build(root, period, dt.datetime(2026, 11, 12, 12, tzinfo=TZ), rows.append)
    return rows, built


def test_a_forged_record_is_a_mismatch_of_its_carrier_never_the_named_hosts_success(
    tmp_path: Path,
) -> None:
    root = tmp_path / "collected"
    # fs01 failed on the 10th and never ran on the 11th; web01 is compromised and sends
    # records that say "fs01 ... success" for both days.
    failed = record("fs01", "2026-11-10T02:30:05+07:00", "failed")
    collect(
        root,
        "fs01",
        {"config.json": config("fs01"), f"records/dokumen/{failed['archive']}.json": failed},
        tmp_path,
    )
    forged = [record("fs01", f"2026-11-{d}T02:30:09+07:00") for d in (10, 11)]
    own = record("web01", "2026-11-10T02:30:01+07:00")
    collect(
        root,
        "web01",
        {
            "config.json": config("web01"),
            f"records/dokumen/{own['archive']}.json": own,
            **{f"records/dokumen/{f['archive']}.json": f for f in forged},
        },
        tmp_path,
    )
    summary = ledger.consolidate(root)
    assert sum("names host 'fs01'" in p.message for p in summary.left) == 2
    folded = (root / "web01" / "ledger" / "dokumen" / "2026-11.jsonl").read_text()
    assert "fs01-dokumen" not in folded  # never folded under web01's (or fs01's) ledger

    rows, built = report(root)
    fs01 = {r["date"]: r["status"] for r in rows if r["host"] == "fs01"}
    assert fs01 == {"2026-11-10": "failed", "2026-11-11": "missed"}
    mismatched = [r for r in rows if r["status"] == "mismatch"]
    assert mismatched and all(r["host"] == "web01" for r in mismatched)
    assert all("names host 'fs01'" in r["reason"] for r in mismatched)
    kpis = built.kpis()
    hosts = {h["host"]: h for h in kpis["hosts"]}
    assert hosts["fs01"]["success"] == 0
    assert hosts["web01"]["failed"] >= 1  # the forgery counts against its carrier

    # Nor does it make fs01's archives "known" for restore tests.
    known, _ = provenance.known_archives(root, "fs01")
    assert known["policies"] == {}


def test_a_ledger_line_naming_another_host_is_a_mismatch_too(tmp_path: Path) -> None:
    """Ledgers folded before this check (or edited) are read with the same rule."""
    root = tmp_path / "collected"
    collect(root, "web01", {"config.json": config("web01")}, tmp_path)
    line = {
        "source": "records/dokumen/x.json",
        "record": record("fs01", "2026-11-10T02:30:00+07:00"),
    }
    month = root / "web01" / "ledger" / "dokumen" / "2026-11.jsonl"
    month.parent.mkdir(parents=True)
    month.write_text(json.dumps(line) + "\n")
    rows, _ = report(root)
    assert not [r for r in rows if r["host"] == "fs01"]
    assert [r["status"] for r in rows if r["date"] == "2026-11-10"] == ["mismatch"]


def test_a_config_naming_another_host_is_its_carriers_schedule(tmp_path: Path) -> None:
    root = tmp_path / "collected"
    collect(root, "web01", {"config.json": config("fs01")}, tmp_path)
    rows, built = report(root)
    assert {r["host"] for r in rows} == {"web01"}
    assert any("names host 'fs01'" in p.message for p in built.problems)


def test_restore_tests_count_only_from_a_host_that_tests_that_client(tmp_path: Path) -> None:
    root = tmp_path / "collected"
    good = record("fs01", "2026-11-10T02:30:05+07:00")
    collect(
        root,
        "fs01",
        {"config.json": config("fs01"), f"records/dokumen/{good['archive']}.json": good},
        tmp_path,
    )
    # web01 (an agent, not a restore host) sends a passed restore test of fs01.
    collect(
        root,
        "web01",
        {
            "config.json": config("web01"),
            "restore/fs01/restore-tests/dokumen/t.json": restore_test(
                "fs01", "2026-11-10T10:00:00+07:00"
            ),
        },
        tmp_path,
    )
    (root / ".inventory.json").write_text(
        json.dumps({"agents": ["fs01", "web01"], "restore_hosts": {"admin01": ["fs01"]}})
    )
    rows, built = report(root)
    assert {r["restore_test"] for r in rows if r["host"] == "fs01"} == {"none"}
    assert any("which does not test 'fs01'" in p.message for p in built.problems)

    # The same record from admin01, the restore host of fs01, counts.
    collect(
        root,
        "admin01",
        {
            "restore/fs01/restore-tests/dokumen/t.json": restore_test(
                "fs01", "2026-11-10T10:00:00+07:00"
            )
        },
        tmp_path,
    )
    rows, _ = report(root)
    assert "passed" in {r["restore_test"] for r in rows if r["host"] == "fs01"}


def test_without_an_inventory_file_only_the_client_itself_or_its_restore_folder_counts(
    tmp_path: Path,
) -> None:
    root = tmp_path / "collected"
    good = record("fs01", "2026-11-10T02:30:05+07:00")
    collect(
        root,
        "fs01",
        {"config.json": config("fs01"), f"records/dokumen/{good['archive']}.json": good},
        tmp_path,
    )
    collect(
        root,
        "web01",
        {"records/restore-tests/dokumen/t.json": restore_test("fs01", "2026-11-10T10:00:00+07:00")},
        tmp_path,
    )
    rows, built = report(root)
    assert {r["restore_test"] for r in rows if r["host"] == "fs01"} == {"none"}
    assert any("which does not test 'fs01'" in p.message for p in built.problems)


def test_cekat_audit_attributes_a_collected_line_to_its_carrier(tmp_path: Path) -> None:
    """web01 forwards an audit line claiming to come from fs01: it is shown as web01's, with
    the name it claimed; filtering by fs01 does not find it."""
    root = tmp_path / "collected"
    chunk = "audit.7.000000000000-000000000100.jsonl"
    path = tmp_path / "web01.tar.gz"
    line = {
        "time": "2026-11-10T02:00:00+00:00",
        "host": "fs01",
        "actor": "root",
        "kind": "backup",
        "action": "daily dokumen",
        "result": "success",
    }
    with tarfile.open(path, "w:gz") as tar:
        data = (json.dumps(line) + "\n").encode()
        info = tarfile.TarInfo(f"audit/{chunk}")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert intake.intake(root, "web01", path).refused is None

    def audit(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bangka_ops.cli", "audit", str(root), *argv],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        )

    shown = json.loads(audit("--format", "json").stdout)
    assert [(e["host"], e["host_claimed"]) for e in shown] == [("web01", "fs01")]
    assert json.loads(audit("--host", "fs01", "--format", "json").stdout) == []
    assert "host mismatch: the line claims fs01" in audit().stdout
