"""The checklist's per-database facts of a host's policy: each database's newest dump in the
period and its row in the period's newest restore test, as the KPIs (``kpis.databases``) give
them, and the breaches they make of the policy."""

from __future__ import annotations

from typing import Any

from bangka_ops.report import dumps, ingest

# A database's newest dump in the period: its run's start (as written), local day and status.
DumpSeen = tuple[str, str, str, dumps.Dump]
DatabaseKey = tuple[str | None, str]  # (type, name)


def dump_facts(start: str, day: str, run_status: str, dump: dumps.Dump) -> dict[str, Any]:
    return {
        "date": day,
        "start": start,
        "run_status": run_status,
        "status": dump.status,
        "bytes": dump.bytes,
        "duration_seconds": dump.seconds,
        "server_version": dump.server_version,
        "rows_estimate_total": dump.rows_estimate,
        "reason": dump.reason,
    }


def check_facts(check: dumps.DatabaseCheck, test: ingest.RestoreTest) -> dict[str, Any]:
    return {
        "start": test.start.isoformat(),
        "status": check.status,
        "restore_seconds": check.restore_seconds,
        "rows_restored": check.rows_restored,
        "tables_missing_count": check.tables_missing,
        "rows_outside_tolerance_count": check.rows_outside_tolerance,
        "smoke_passed": check.smoke_passed,
        "scratch_dropped": check.scratch_dropped,
        "reasons": check.reasons,
    }


def database_entries(host: str, policy: str, facts: dict[str, Any]) -> list[dict[str, Any]]:
    """Per database of a policy (by type and name): its newest dump in the period and its row
    in the period's newest restore test (each None where there is none); ``breaching`` when
    either failed."""
    dumps: dict[DatabaseKey, DumpSeen] = facts.get("databases") or {}
    test: ingest.RestoreTest | None = facts.get("restore_test")
    checks = {(c.type, c.name): c for c in test.databases} if test else {}
    entries = []
    for key in sorted(dumps.keys() | checks.keys(), key=lambda k: (k[0] or "", k[1])):
        seen, check = dumps.get(key), checks.get(key)
        dump = None if seen is None else dump_facts(*seen)
        restored = None if check is None or test is None else check_facts(check, test)
        entries.append(
            {
                "host": host,
                "policy": policy,
                "type": key[0],
                "database": key[1],
                "breaching": (dump is not None and dump["status"] != "success")
                or (restored is not None and restored["status"] != "passed"),
                "dump": dump,
                "restore_test": restored,
            }
        )
    return entries


def database_breaches(entries: list[dict[str, Any]]) -> list[str]:
    breaches = []
    if any(e["dump"] and e["dump"]["status"] != "success" for e in entries):
        breaches.append("database dump failed")
    if any(e["restore_test"] and e["restore_test"]["status"] != "passed" for e in entries):
        breaches.append("database restore test failed")
    return breaches
