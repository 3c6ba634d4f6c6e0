"""What the checklist keeps of a run's database dumps and of a restore test's database loads.

Run records and restore-test records come from the hosts: they are data, never trusted. Every
text kept is cut to a bound, every list too, and a field of the wrong type is dropped with a
problem naming it; nothing here raises on a host's record. ``ingest`` attaches the result to
its ``Run`` and ``RestoreTest``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

_NUM = (int, float)


# ---- databases: what the report keeps of a run's dumps and of a restore test's loads --------
# Records come from the hosts: every text kept is cut to a bound, every list too.
NAME_MAX = 128  # a database name (PostgreSQL allows 63 bytes, MariaDB 64 characters)
TYPE_MAX = 32
VERSION_MAX = 40
REASON_MAX = 300
DUMPS_MAX = 500  # dumps kept per run, rows per restore test
LISTED_MAX = 50  # names of database_dumps_failed read
SUMMARY_NAMES = 5  # failed names a row's summary spells out
DUMP_WHATS = ("database", "globals", "users", "server")


class Dump(NamedTuple):
    """One database dump of a run: a database (``what`` ``database``) or, failed only, a
    server-wide part (``globals``, ``users``), a server that could not be asked (``server``) or
    a name only ``database_dumps_failed`` lists (``listed``, e.g. ``(stream)``). ``name`` is the
    database, or ``(<what> of <server>)`` as the run's ``database_dumps_failed`` spells it."""

    type: str | None
    name: str
    what: str
    status: str  # success or failed
    bytes: int | None
    seconds: float | None
    server_version: str | None
    rows_estimate: int | None  # sum of the tables' estimates; None without any
    reason: str | None


@dataclass(frozen=True, slots=True)
class Dumps:
    """A run's dumps and what could not be read of them (problems, reported with the file).
    Only runs whose record has databases carry one: the others pay a ``None``."""

    entries: tuple[Dump, ...]
    problems: tuple[str, ...] = ()

    def summary(self) -> str | None:
        """The checklist row's ``databases`` cell: ``2/2 ok``, ``1/2 ok; failed: kepegawaian``
        (at most SUMMARY_NAMES names, then ``(+N more)``); None without dumps."""
        if not self.entries:
            return None
        failed = [d.name for d in self.entries if d.status != "success"]
        text = f"{len(self.entries) - len(failed)}/{len(self.entries)} ok"
        if failed:
            text += "; failed: " + ", ".join(failed[:SUMMARY_NAMES])
            if len(failed) > SUMMARY_NAMES:
                text += f" (+{len(failed) - SUMMARY_NAMES} more)"
        return text


class DatabaseCheck(NamedTuple):
    """One row of a restore test's ``databases``: a database loaded into a scratch database (or,
    failed only, a server-wide dump that was hashed), named like :class:`Dump`."""

    type: str | None
    name: str
    kind: str  # database or globals
    status: str  # passed or failed
    restore_seconds: float | None
    rows_restored: int | None
    tables_missing: int | None
    rows_outside_tolerance: int | None
    smoke_passed: bool | None
    scratch_dropped: bool | None
    reasons: str | None


def cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"


def short_text(value: Any, limit: int) -> str | None:
    """A text field of a host's record, cut to ``limit``; anything else is unknown."""
    return cut(value, limit) if type(value) is str else None


def whole(value: Any) -> int | None:
    return value if type(value) is int else None


def seconds_of(value: Any) -> float | None:
    return float(value) if type(value) in _NUM else None


def flag(value: Any) -> bool | None:
    return value if type(value) is bool else None


def count_of(entry: dict[str, Any], field: str) -> int | None:
    """``<field>_count``, or the length of the list ``<field>``."""
    counted = whole(entry.get(f"{field}_count"))
    listed = entry.get(field)
    return counted if counted is not None else len(listed) if type(listed) is list else None


def kept_name(value: Any, where: str, problems: list[str]) -> str | None:
    """A database name as kept: cut to NAME_MAX (and said so); None if not a name."""
    if type(value) is not str or not value:
        problems.append(f"{where}: expected a database name")
        return None
    if len(value) > NAME_MAX:
        problems.append(f"{where}: a name of {len(value)} characters, kept cut to {NAME_MAX}")
    return cut(value, NAME_MAX)


def rows_estimate(value: Any) -> int | None:
    """Sum of a dump's per-table row estimates (the tables without one left out)."""
    if type(value) is not dict:
        return None
    counts = [n for n in value.values() if type(n) is int]
    return sum(counts) if counts else None


def dump_name(entry: dict[str, Any], where: str, problems: list[str]) -> tuple[str, str] | None:
    """(what, name) of a run's dump entry; None (and a problem) when it cannot be named."""
    database = entry.get("database")
    what = entry.get("what", "database" if database is not None else "server")
    if what not in DUMP_WHATS:
        problems.append(f"{where}.what: expected one of {', '.join(DUMP_WHATS)}")
        return None
    if what == "database":
        name = kept_name(database, f"{where}.database", problems)
        return None if name is None else (what, name)
    server = short_text(entry.get("server"), NAME_MAX) or "?"
    return what, f"({what} of {server})"


def to_dump(entry: Any, where: str, problems: list[str]) -> Dump | None:
    """A run's dump entry as kept: None for a server-wide part that succeeded, or (with a
    problem) an entry that cannot be named. A status other than success or failed is a
    failure: nothing shows the dump is usable."""
    if type(entry) is not dict:
        problems.append(f"{where}: expected an object")
        return None
    named = dump_name(entry, where, problems)
    status, reason = entry.get("status"), short_text(entry.get("reason"), REASON_MAX)
    if status not in ("success", "failed"):
        problems.append(f"{where}.status: expected success or failed")
        status, reason = "failed", reason or "no readable status"
    if named is None or (named[0] != "database" and status == "success"):
        return None
    kind = entry.get("type")
    if type(kind) is not str:
        problems.append(f"{where}.type: expected a database type")
    return Dump(
        short_text(kind, TYPE_MAX),
        named[1],
        named[0],
        status,
        whole(entry.get("bytes")),
        seconds_of(entry.get("duration_seconds")),
        short_text(entry.get("server_version"), VERSION_MAX),
        rows_estimate(entry.get("rows_estimate")),
        reason,
    )


def listed_failures(value: Any, known: set[str], problems: list[str]) -> list[Dump]:
    """Names ``database_dumps_failed`` lists that no dump entry has (``(stream)``: the stream
    to Borg broke), as failed dumps of no type."""
    if value is None:
        return []
    if type(value) is not list:
        problems.append("database_dumps_failed: expected a list of names")
        return []
    found = []
    for name in value[:LISTED_MAX]:
        kept = short_text(name, NAME_MAX)
        if kept is not None and kept not in known:
            known.add(kept)
            reason = "listed as failed by the run (database_dumps_failed)"
            found.append(Dump(None, kept, "listed", "failed", None, None, None, None, reason))
    return found


def to_dumps(value: Any, listed: Any) -> Dumps | None:
    """What a run record's ``databases`` and ``database_dumps_failed`` come to (None: the run
    has no dumps). Never raises: a run is a run whatever its dumps' fields hold."""
    problems: list[str] = []
    entries: list[Dump] = []
    if type(value) is list:
        if len(value) > DUMPS_MAX:
            problems.append(f"databases: {len(value)} entries, the first {DUMPS_MAX} kept")
        for index, entry in enumerate(value[:DUMPS_MAX]):
            dump = to_dump(entry, f"databases[{index}]", problems)
            if dump is not None:
                entries.append(dump)
    elif value is not None:
        problems.append("databases: expected a list")
    entries += listed_failures(listed, {d.name for d in entries}, problems)
    if not entries and not problems:
        return None
    return Dumps(tuple(entries), tuple(problems))


def check_name(row: dict[str, Any], kind: str, where: str, problems: list[str]) -> str | None:
    """The name of a restore test's row: the database, ``(member <member>)`` for a database
    the test could not name, ``(globals of <server>)``/``(users of <server>)`` for the rest."""
    member = short_text(row.get("member"), NAME_MAX) or "?"
    if kind == "globals":
        server, _, base = member.rpartition("/")
        what = "users" if base.startswith("users") else "globals"
        return f"({what} of {server or '?'})"
    if row.get("database") is None:
        return f"(member {member})"
    return kept_name(row.get("database"), f"{where}.database", problems)


def to_check(row: Any, where: str, problems: list[str]) -> DatabaseCheck | None:
    """A restore test's row as kept: None for a server-wide dump that passed, or (with a
    problem) a row that cannot be read. A status other than passed or failed is a failure."""
    if type(row) is not dict:
        problems.append(f"{where}: expected an object")
        return None
    kind, status = row.get("kind", "database"), row.get("status")
    if kind not in ("database", "globals"):
        problems.append(f"{where}.kind: expected database or globals")
        return None
    if status not in ("passed", "failed"):
        problems.append(f"{where}.status: expected passed or failed")
        status = "failed"
    name = check_name(row, kind, where, problems)
    if name is None or (kind == "globals" and status == "passed"):
        return None
    reasons = row.get("reasons")
    smoke = row.get("smoke")
    return DatabaseCheck(
        short_text(row.get("type"), TYPE_MAX),
        name,
        kind,
        status,
        seconds_of(row.get("restore_seconds")),
        whole(row.get("rows_restored")),
        count_of(row, "tables_missing"),
        count_of(row, "rows_outside_tolerance"),
        flag(smoke.get("passed")) if type(smoke) is dict else None,
        flag(row.get("scratch_dropped")),
        short_text("; ".join(str(r) for r in reasons[:10]), REASON_MAX)
        if type(reasons) is list and reasons
        else None,
    )


def to_checks(value: Any, problems: list[str]) -> tuple[DatabaseCheck, ...]:
    """A restore test record's ``databases`` rows as kept."""
    if value is None:
        return ()
    if type(value) is not list:
        problems.append("databases: expected a list")
        return ()
    if len(value) > DUMPS_MAX:
        problems.append(f"databases: {len(value)} rows, the first {DUMPS_MAX} kept")
    rows = (to_check(row, f"databases[{i}]", problems) for i, row in enumerate(value[:DUMPS_MAX]))
    return tuple(row for row in rows if row is not None)


def database_check(value: Any, problems: list[str]) -> dict[str, Any] | None:
    """A restore test record's ``database_check`` summary, its fields checked and cut."""
    if value is None:
        return None
    if type(value) is not dict:
        problems.append("database_check: expected an object")
        return None
    status = value.get("status")
    return {
        "status": status if status in ("passed", "failed") else None,
        "reason": short_text(value.get("reason"), REASON_MAX),
        "databases_restored": whole(value.get("databases_restored")),
        "database_restore_seconds": seconds_of(value.get("database_restore_seconds")),
        "database_check_seconds": seconds_of(value.get("database_check_seconds")),
    }
