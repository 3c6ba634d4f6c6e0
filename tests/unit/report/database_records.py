"""Records of a database host for the report's tests: backup runs that dump PostgreSQL and
MariaDB databases and a restore test that loads them, shaped as the agent and the restore test
write them (valid against their schemas), in a collected tree as ``collect_records.yml``
leaves it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from bangka_ops.report import checklist

HOST = "db01"
POLICY = "simpeg"
PG = "postgresql/01-5432"
MARIA = "mariadb/02"


def dump(
    database: str | None,
    *,
    kind: str = "postgresql",
    what: str = "database",
    status: str = "success",
    number: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    """One entry of a run's ``databases`` (databases.dump_server's outcome)."""
    server = PG if kind == "postgresql" else MARIA
    member = (
        f"{server}/{number:03d}.{'pgdump' if kind == 'postgresql' else 'sql'}"
        if what == "database"
        else f"{server}/{'globals' if kind == 'postgresql' else 'users'}.sql"
    )
    entry: dict[str, Any] = {
        "type": kind,
        "database": database,
        "what": what,
        "server": server,
        "member": member,
        "server_version": "15.10" if kind == "postgresql" else "10.11.6-MariaDB",
        "exit_code": 0 if status == "success" else 1,
        "bytes": 1_048_576,
        "sha256": "ab" * 32,
        "parts": 1,
        "duration_seconds": 3.5,
        "stderr": "",
        "rows_estimate": None,
        "status": status,
    }
    if what == "database":
        entry["format"] = "custom" if kind == "postgresql" else "sql"
    return {**entry, **extra}


def run_record(
    start: str,
    dumps: list[dict[str, Any]] | None,
    *,
    status: str = "success",
    **extra: Any,
) -> dict[str, Any]:
    """A daily scheduled run of the policy; ``dumps`` its databases (None: a run without)."""
    stamp = start[:19].replace(":", "-")
    archive = f"{HOST}-{POLICY}-daily-{stamp}"
    record: dict[str, Any] = {
        "schema_version": 1,
        "kind": "backup_run",
        "host": HOST,
        "policy": POLICY,
        "category": "critical",
        "cycle": "daily",
        "backup_type": "incremental",
        "archive": archive,
        "repository": f"ssh://borg@backup01:22/srv/borg/repos/{HOST}",
        "start": start,
        "end": start,
        "duration_seconds": 40.0,
        "status": status,
        "exit_code": 0,
        "msgids": [],
        "warnings": [],
        "trigger": "schedule",
        "record_path": f"/var/lib/bangka-backup/records/{POLICY}/{archive}.json",
        "notifications": [],
        "steps": {},
        "archive_stats": {
            "original_size": 50 * 2**20,
            "compressed_size": 20 * 2**20,
            "deduplicated_size": 2 * 2**20,
            "nfiles": 12,
        },
        "rpo_hours": 24,
        "rto_hours": 4,
    }
    if dumps is not None:
        record["databases"] = dumps
        failed = [
            str(d["database"]) if d["what"] == "database" else f"({d['what']} of {d['server']})"
            for d in dumps
            if d["status"] != "success"
        ]
        if failed:
            record["database_dumps_failed"] = failed
            record["status"] = "failed"
            record["reason"] = "; ".join(
                f"database dump failed: {d['type']} {name}: {d.get('reason', 'failed')}"
                for d, name in zip(
                    (d for d in dumps if d["status"] != "success"), failed, strict=True
                )
            )
    return {**record, **extra}


def loaded(database: str, *, kind: str = "postgresql", **extra: Any) -> dict[str, Any]:
    """One database row of a restore test's ``databases`` that passed (``extra`` changes it)."""
    server = PG if kind == "postgresql" else MARIA
    row: dict[str, Any] = {
        "kind": "database",
        "type": kind,
        "member": f"{server}/001.{'pgdump' if kind == 'postgresql' else 'sql'}",
        "database": database,
        "dump_server_version": "15.10",
        "restore_server_version": "15.10",
        "scratch_database": "bangka_rt_0a1b2c_1",
        "bytes": 1_048_576,
        "sha256": "ab" * 32,
        "sha256_matches": True,
        "restore_exit_code": 0,
        "restore_seconds": 41.2,
        "tables_recorded": 2,
        "tables_restored": 2,
        "tables_missing": [],
        "tables_missing_count": 0,
        "tables_extra": [],
        "rows_restored": 20_150,
        "rows_compared_tables": 2,
        "rows_outside_tolerance": [],
        "rows_outside_tolerance_count": 0,
        "tolerance": {"percent": 10, "rows": 1000},
        "smoke": {"query": "SELECT count(*) FROM pegawai", "passed": True, "output": "20000"},
        "scratch_dropped": True,
        "status": "passed",
    }
    return {**row, **extra}


def restore_test_record(start: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A full restore test of the policy with its databases' rows."""
    failed = [r for r in rows if r["status"] != "passed"]
    reason = "; ".join(f"{r['type']} {r['database']}: failed" for r in failed) or None
    return {
        "schema_version": 1,
        "kind": "restore_test",
        "host": HOST,
        "policy": POLICY,
        "category": "critical",
        "repository": f"ssh://borg@backup01:22/srv/borg/repos/{HOST}",
        "start": start,
        "end": start,
        "duration_seconds": 120.0,
        "status": "failed" if failed else "passed",
        "reason": reason,
        "mode": "full",
        "restore_seconds": 30.0,
        "rto_hours": 4,
        "rpo_hours": 24,
        "scratch_removed": True,
        "record_path": "/var/lib/bangka-backup/records/restore-tests/simpeg/rt.json",
        "result": {
            "integrity": True,
            "rto_met": True,
            "rpo_met": True,
            "dates_plausible": True,
            "databases": not failed,
            "passed": not failed,
        },
        "databases": rows,
        "database_check": {
            "databases_restored": len(rows),
            "database_restore_seconds": 52.7,
            "database_check_seconds": 60.1,
            "status": "failed" if failed else "passed",
            "reason": reason,
        },
    }


def collected(
    root: Path, runs: list[dict[str, Any]], tests: list[dict[str, Any]] | None = None
) -> Path:
    """``root/<host>/``: the deployed schedule (daily 02:30), the run records as collected
    and the restore tests (the host tests its own archives)."""
    folder = root / HOST / "records" / POLICY
    folder.mkdir(parents=True)
    for item in runs:
        (folder / f"{item['archive']}.json").write_text(json.dumps(item))
    for index, test in enumerate(tests or []):
        place = root / HOST / "records" / "restore-tests" / POLICY
        place.mkdir(parents=True, exist_ok=True)
        (place / f"rt-{index}.json").write_text(json.dumps(test))
    config = {
        "host": HOST,
        "timezone": "Asia/Jakarta",
        "policies": {
            POLICY: {
                "timezone": "Asia/Jakarta",
                "category": "critical",
                "rpo_hours": 24,
                "rto_hours": 4,
                "cycles": {"daily": {"hour": 2, "minute": 30}},
            }
        },
    }
    (root / HOST / "config.json").write_text(json.dumps(config))
    return root


def build(
    root: Path,
    first: str = "2025-05-12",
    last: str = "2025-05-13",
    now: str = "2025-05-13T23:00:00+07:00",
) -> tuple[list[dict[str, Any]], checklist.Report]:
    rows: list[dict[str, Any]] = []
    period = checklist.Period(dt.date.fromisoformat(first), dt.date.fromisoformat(last))
    report = checklist.build(root, period, dt.datetime.fromisoformat(now), rows.append)
    return rows, report
