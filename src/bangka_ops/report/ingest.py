"""Reading a tree of collected SI CEKAT files, streaming and fault-tolerant.

The admin host keeps what ``playbooks/collect_records.yml`` pulls from every host under one root:
backup run records (``kind: backup_run``), restore-test records (``restore-tests/`` directories),
emergency-restore records (``restores/``), the raw Borg logs beside them (``*.log.jsonl``, not
read here) and each agent's deployed configuration (``config.json``: its policies and cycles, the
schedule a missed run is judged against).

Nothing here holds the whole tree in memory: files are visited in sorted order one directory at a
time, each is parsed and reduced to the few fields the checklist needs, and a file that cannot be
used (unreadable, truncated, not JSON, wrong types) becomes a :class:`Problem` naming the file
and, for JSON errors, the line. A problem never counts as a run, successful or otherwise.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bangka_ops.report import capacity
from bangka_ops.report.dumps import (
    DatabaseCheck,
    Dumps,
    database_check,
    flag,
    to_checks,
    to_dumps,
)

try:
    import orjson

    def parse(data: bytes) -> Any:
        return orjson.loads(data)

    JSONError: type[Exception] = orjson.JSONDecodeError
except ModuleNotFoundError:  # pragma: no cover - orjson is a dependency; stdlib as a fallback
    import json

    def parse(data: bytes) -> Any:
        try:
            return json.loads(data)
        except RecursionError:  # nested too deeply: invalid like any other (as orjson says)
            raise json.JSONDecodeError("nested too deeply", "", 0) from None

    JSONError = json.JSONDecodeError

OTHER_DIRS = ("restore-tests", "restores")
CYCLES = ("daily", "weekly", "monthly")


@dataclass(frozen=True, slots=True)
class Problem:
    path: Path
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.message}"


@dataclass(slots=True)
class Run:
    """One backup run: the fields the checklist's logic uses, and ``columns``, the checklist
    row's columns that come straight from the record (built once, here: a year's report makes
    half a million of them)."""

    host: str
    policy: str
    category: str
    cycle: str
    trigger: str
    status: str
    start: dt.datetime
    rpo_hours: float | None
    path: str
    columns: dict[str, Any]
    databases: Dumps | None = None
    # The repository's deduplicated compressed size after the run (capacity.size_of), its
    # opaque id label, and why a size that was there could not be used.
    repository_bytes: int | None = None
    repository_label: str | None = None
    size_problem: str | None = None


@dataclass(slots=True)
class RestoreTest:
    host: str
    policy: str
    start: dt.datetime
    status: str
    mode: str | None
    seconds: float | None
    judged_seconds: float | None
    rto_hours: float | None
    rto_met: bool | None
    rpo_met: bool | None
    integrity: bool | None
    path: Path
    databases: tuple[DatabaseCheck, ...] = ()
    databases_passed: bool | None = None  # result.databases (None: the policy has none)
    database_check: dict[str, Any] | None = None
    problems: tuple[str, ...] = ()  # what could not be read of its databases


@dataclass(slots=True)
class Schedule:
    """A host's deployed cycles per policy: ``{policy: {cycle: {weekday/day/hour/minute}}}``."""

    host: str
    timezone: str
    policies: dict[str, dict[str, Any]]
    path: Path


def walk(root: Path) -> Iterator[tuple[Path, list[str]]]:
    """Directories under ``root`` in sorted order with their sorted ``*.json`` file names."""
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        files = [
            e.name
            for e in entries
            if e.name.endswith(".json") and not e.name.startswith(".") and e.is_file()
        ]
        yield folder, files
        stack.extend(Path(e.path) for e in reversed(entries) if e.is_dir(follow_symlinks=False))


def read(path: Path | str) -> dict[str, Any] | Problem:
    """One JSON object from a file. Takes a plain string too: at hundreds of thousands of
    records, pathlib's per-call overhead is a noticeable share of the report's time."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        path = Path(path)
        return Problem(path, f"cannot read: {exc.strerror or exc}")
    try:
        value = parse(data)
    except JSONError as exc:
        line = getattr(exc, "lineno", None)
        if line is None:  # orjson reports a position; count the lines up to it
            position = getattr(exc, "pos", None)
            line = data[: position or len(data)].count(b"\n") + 1
        return Problem(Path(path), "invalid or truncated JSON", line)
    if not isinstance(value, dict):
        return Problem(Path(path), "not a JSON object")
    return value


def timestamp(value: Any, field: str) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected an ISO 8601 time")
    when = dt.datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise ValueError(f"{field}: time without a UTC offset")
    return when


def number(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{field}: expected a number")
    return float(value)


def integer(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{field}: expected an integer")
    return value


def text(record: dict[str, Any], field: str, default: str | None = None) -> str:
    value = record.get(field, default)
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected a string")
    return value


_STR = str
_NUM = (int, float)
BACKUP_TYPE = {
    "daily": "incremental",
    "weekly": "full",
    "monthly": "archive",
}
LOG_CHECK = {"success": "clean", "covered": "clean", "warning": "warnings"}


def to_run(record: dict[str, Any], path: Path | str) -> Run:
    """The run of a record. The common case (every field of the expected type) is checked in
    one expression; anything else takes :func:`to_run_checked`, which names the bad field."""
    get = record.get
    stats = get("archive_stats") or {}
    offsite = get("offsite") or {}
    check = get("borg_check") or {}
    host, policy, category = get("host"), get("policy"), get("category", "standard")
    cycle, trigger, status = get("cycle"), get("trigger", "schedule"), get("status")
    start, archive, repository = get("start"), get("archive"), get("repository")
    duration, rpo, rto, reason = (
        get("duration_seconds"),
        get("rpo_hours"),
        get("rto_hours"),
        get("reason"),
    )
    if not (
        type(stats) is dict
        and type(offsite) is dict
        and type(check) is dict
        and type(host) is _STR
        and type(policy) is _STR
        and type(category) is _STR
        and cycle in CYCLES
        and type(trigger) is _STR
        and type(status) is _STR
        and type(start) is _STR
        and type(archive) is _STR
        and type(repository) is _STR
        and (duration is None or type(duration) in _NUM)
        and (rpo is None or type(rpo) in _NUM)
        and (rto is None or type(rto) in _NUM)
    ):
        return to_run_checked(record, path)
    original, compressed, deduplicated, files = (
        stats.get("original_size"),
        stats.get("compressed_size"),
        stats.get("deduplicated_size"),
        stats.get("nfiles"),
    )
    if not (
        (original is None or type(original) is int)
        and (compressed is None or type(compressed) is int)
        and (deduplicated is None or type(deduplicated) is int)
        and (files is None or type(files) is int)
    ):
        return to_run_checked(record, path)
    when = timestamp(start, "start")
    path = str(path)
    dumps, listed = get("databases"), get("database_dumps_failed")
    databases = None if dumps is None and listed is None else to_dumps(dumps, listed)
    size, label, size_problem = capacity.size_of(record)
    return Run(
        host,
        policy,
        category,
        cycle,
        trigger,
        status,
        when,
        None if rpo is None else float(rpo),
        path,
        {
            "host": host,
            "policy": policy,
            "category": category,
            "cycle": cycle,
            "backup_type": BACKUP_TYPE[cycle],
            "trigger": trigger,
            "status": status,
            "start": start,
            "duration_seconds": None if duration is None else float(duration),
            "original_bytes": original,
            "compressed_bytes": compressed,
            "deduplicated_bytes": deduplicated,
            "files": files,
            "log_check": LOG_CHECK.get(status, "errors"),
            "borg_check": str(check.get("status", "not-scheduled")),
            "repository": repository,
            "offsite_repository": offsite.get("repository"),
            "offsite_status": offsite.get("status"),
            "archive": archive,
            "reason": reason if type(reason) is _STR else None,
            "record": path,
            "databases": databases.summary() if databases else None,
            # Filled in by the checklist; present from the start so the dict is sized once.
            "date": None,
            "restore_test": None,
            "admin_check": None,
        },
        databases,
        size,
        label,
        size_problem,
    )


def mismatch(run: Run, carrier: str) -> Run:
    """Re-attributes a run whose record names another host than the one whose package carried
    it: the carrier's row, marked ``mismatch`` (a failure), never the named host's success."""
    claimed = run.host
    run.host = run.columns["host"] = carrier
    run.status = run.columns["status"] = "mismatch"
    run.columns["log_check"] = "errors"
    run.databases = run.columns["databases"] = None  # its dumps are not the carrier's
    run.columns["reason"] = (
        f"the record names host {claimed!r} but was collected from {carrier}: "
        f"not counted for {claimed!r}"
    )
    return run


def to_run_checked(record: dict[str, Any], path: Path | str) -> Run:
    """:func:`to_run` for a record with an unexpected field: names the field, or returns the
    run with lenient readings (a non-object ``offsite`` or ``borg_check`` is unknown)."""
    stats = record.get("archive_stats") or {}
    if not isinstance(stats, dict):
        raise ValueError("archive_stats: expected an object")
    offsite = record.get("offsite") or {}
    check = record.get("borg_check") or {}
    cycle = text(record, "cycle")
    if cycle not in CYCLES:
        raise ValueError(f"cycle: unknown cycle {cycle!r}")
    clean = {
        "host": text(record, "host"),
        "policy": text(record, "policy"),
        "category": text(record, "category", "standard"),
        "cycle": cycle,
        "trigger": text(record, "trigger", "schedule"),
        "status": text(record, "status"),
        "start": timestamp(record.get("start"), "start").isoformat(),
        "duration_seconds": number(record.get("duration_seconds"), "duration_seconds"),
        "archive": text(record, "archive"),
        "repository": text(record, "repository"),
        "archive_stats": {
            "original_size": integer(stats.get("original_size"), "archive_stats.original_size"),
            "compressed_size": integer(
                stats.get("compressed_size"), "archive_stats.compressed_size"
            ),
            "deduplicated_size": integer(
                stats.get("deduplicated_size"), "archive_stats.deduplicated_size"
            ),
            "nfiles": integer(stats.get("nfiles"), "archive_stats.nfiles"),
        },
        "borg_check": {
            "status": str(check.get("status", "not-scheduled"))
            if isinstance(check, dict)
            else "unknown"
        },
        "offsite": {
            "repository": offsite.get("repository") if isinstance(offsite, dict) else None,
            "status": offsite.get("status") if isinstance(offsite, dict) else None,
        },
        "rpo_hours": number(record.get("rpo_hours"), "rpo_hours"),
        "rto_hours": number(record.get("rto_hours"), "rto_hours"),
        "reason": record.get("reason") if isinstance(record.get("reason"), str) else None,
        # Read leniently by to_dumps, whatever they hold.
        "databases": record.get("databases"),
        "database_dumps_failed": record.get("database_dumps_failed"),
        "borg": record.get("borg"),  # read leniently by capacity.size_of
    }
    return to_run(clean, path)


def to_restore_test(record: dict[str, Any], path: Path | str) -> RestoreTest:
    result = record.get("result") or {}
    mode = record.get("mode")
    judged = record.get(
        "restore_seconds" if mode == "full" else "extrapolated_full_restore_seconds"
    )
    problems: list[str] = []
    checks = to_checks(record.get("databases"), problems)
    summary = database_check(record.get("database_check"), problems)
    return RestoreTest(
        host=text(record, "host"),
        policy=text(record, "policy"),
        start=timestamp(record.get("start"), "start"),
        status=text(record, "status"),
        mode=mode if isinstance(mode, str) else None,
        seconds=number(record.get("restore_seconds"), "restore_seconds"),
        judged_seconds=number(judged, "restore_seconds"),
        rto_hours=number(record.get("rto_hours"), "rto_hours"),
        rto_met=result.get("rto_met") if isinstance(result, dict) else None,
        rpo_met=result.get("rpo_met") if isinstance(result, dict) else None,
        integrity=result.get("integrity") if isinstance(result, dict) else None,
        path=Path(path),
        databases=checks,
        databases_passed=flag(result.get("databases")) if isinstance(result, dict) else None,
        database_check=summary,
        problems=tuple(problems),
    )


def to_schedule(record: dict[str, Any], path: Path) -> Schedule:
    policies = record.get("policies")
    if not isinstance(policies, dict):
        raise ValueError("policies: expected an object")
    cycles = {}
    for name, policy in policies.items():
        if not isinstance(policy, dict) or not isinstance(policy.get("cycles"), dict):
            raise ValueError(f"policies.{name}.cycles: expected an object")
        for cycle, settings in policy["cycles"].items():
            where = f"policies.{name}.cycles.{cycle}"
            if cycle not in CYCLES or not isinstance(settings, dict):
                raise ValueError(f"{where}: expected one of {', '.join(CYCLES)} with settings")
            for key in ("weekday", "day", "hour", "minute"):
                value = settings.get(key)
                if value is not None and not (
                    (type(value) is int) or (isinstance(value, str) and value.isdigit())
                ):
                    raise ValueError(f"{where}.{key}: expected a whole number")
        zone = policy.get("timezone", record.get("timezone", "Asia/Jakarta"))
        try:
            ZoneInfo(str(zone))
        except (ValueError, ZoneInfoNotFoundError):
            raise ValueError(f"policies.{name}.timezone: unknown time zone {zone!r}") from None
        cycles[name] = {
            "cycles": policy["cycles"],
            "timezone": policy.get("timezone", record.get("timezone", "Asia/Jakarta")),
            "category": policy.get("category", "standard"),
            "rpo_hours": policy.get("rpo_hours"),
            "rto_hours": policy.get("rto_hours"),
        }
    return Schedule(
        host=text(record, "host"),
        timezone=text(record, "timezone", "Asia/Jakarta"),
        policies=cycles,
        path=path,
    )


CONVERTERS: dict[str, Callable[[dict[str, Any], Path | str], Run | RestoreTest]] = {
    "backup_run": to_run,
    # A run's start marker (status "running"): the checklist drops it once the run's record is
    # there, and shows it as interrupted when it is old and alone.
    "backup_started": to_run,
    "restore_test": to_restore_test,
}
# Records of other SI CEKAT tools the checklist does not use.
IGNORED_KINDS = {
    "restore",
    "restore_test_plan",
    "maintenance_run",
    "tamper_check",
    "freshness_watchdog",
}


def convert(
    record: dict[str, Any], path: Path | str
) -> Run | RestoreTest | Schedule | Problem | None:
    """The record as a typed value; ``None`` for files this report does not use."""
    kind = record.get("kind")
    try:
        if kind is None and str(path).endswith("config.json") and "policies" in record:
            return to_schedule(record, Path(path))
        if kind in IGNORED_KINDS:
            return None
        converter = CONVERTERS.get(kind) if isinstance(kind, str) else None
        if converter is None:
            return Problem(Path(path), f"unknown record kind {kind!r}")
        return converter(record, path)
    except (ValueError, TypeError) as exc:
        return Problem(Path(path), str(exc))
