"""Database dumps of a backup run, written into a :class:`~bangka_ops.backup.dumpstream.DumpStream`
(the tar stream that goes to Borg's standard input in the run's one ``borg create``).

PostgreSQL: each database with ``pg_dump --format=custom`` and the roles and tablespaces with
``pg_dumpall --globals-only``, run as the database's own OS user (``postgres``) over the local
socket with peer authentication: no password exists anywhere. Before each dump the server's
version and the row-count estimates of its tables (``pg_class.reltuples``) are read, so a
restore test can compare what it loads with what was there.

Each dump's outcome is a dict for the run record: database, type, member in the stream, server
version, exit code, bytes, SHA-256, duration, the end of its error output, and the row
estimates. A dump that exits non-zero (or whose stream broke) is ``failed``: the caller makes the
whole run failed and the archive is marked by its record and by ``status.json`` in the stream.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

try:
    from bangka_ops.backup.dumpstream import DumpStream
except ModuleNotFoundError:  # deployed beside agent.py in /usr/local/lib/bangka-backup/
    from dumpstream import DumpStream  # type: ignore[import-not-found, no-redef]

PG_BIN = "/usr/lib/postgresql/{major}/bin"
STDERR_TAIL = 4000
QUERY_TIMEOUT = 120
# Each query answers one JSON value: any database, schema or table name is safe in it.
ROWS_SQL = (
    "SELECT coalesce(json_agg(json_build_array(n.nspname, c.relname, c.reltuples::bigint) "
    "ORDER BY n.nspname, c.relname), '[]') FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg_toast%'"
)
DATABASES_SQL = (
    "SELECT coalesce(json_agg(datname ORDER BY datname), '[]') FROM pg_database "
    "WHERE datallowconn AND NOT datistemplate"
)
VERSION_SQL = "SELECT to_json(current_setting('server_version'))"


class DumpError(Exception):
    """A database could not be asked what to dump (the server is down, no such database)."""


@dataclass
class PostgreSQL:
    """How to reach one PostgreSQL server of the host."""

    socket_dir: str = "/var/run/postgresql"
    os_user: str = "postgres"
    bin_dir: str | None = None  # default: the newest /usr/lib/postgresql/<major>/bin
    port: int = 5432
    # pg_dump waits this long for a table's lock, then fails (never hangs on a locked table).
    lock_wait_seconds: int = 600
    # Each dump is killed past this (a server frozen mid-dump cannot hold the run).
    dump_timeout_seconds: int = 21600
    env: dict[str, str] = field(default_factory=dict)

    def binary(self, name: str) -> str:
        return os.path.join(self.bin_dir or newest_pg_bin(), name)

    def argv(self, tool: str, *args: str) -> list[str]:
        return [self.binary(tool), "-h", self.socket_dir, "-p", str(self.port), *args]

    def query(self, database: str, sql: str) -> Any:
        """The one JSON value ``sql`` answers in ``database``."""
        proc = subprocess.run(
            self.argv(
                "psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "--dbname", conninfo(database)
            ),
            input=sql.encode(),
            capture_output=True,
            check=False,
            timeout=QUERY_TIMEOUT,
            **self.as_user(),
        )
        if proc.returncode != 0:
            raise DumpError(tail(proc.stderr) or f"psql exited with {proc.returncode}")
        try:
            return json.loads(proc.stdout)
        except ValueError as exc:
            raise DumpError(f"psql answered no JSON value: {exc}") from exc

    def as_user(self) -> dict[str, Any]:
        """Popen keywords that run a tool as the server's OS user, in /, with a clean
        environment (no PG* variable of the agent's reaches it)."""
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", **self.env}
        return {
            "user": self.os_user,
            "group": self.os_user,
            "extra_groups": [],
            "cwd": "/",
            "env": env,
        }


def conninfo(database: str) -> str:
    """``database`` as a libpq connection string holding only its name: a name such as
    ``host=elsewhere dbname=x`` (any role that may create databases chooses names) is a name,
    never connection settings that would override the socket."""
    quoted = database.replace("\\", "\\\\").replace("'", "\\'")
    return f"dbname='{quoted}'"


def newest_pg_bin() -> str:
    root = "/usr/lib/postgresql"
    try:
        majors = sorted((int(v) for v in os.listdir(root) if v.isdigit()), reverse=True)
    except OSError:
        majors = []
    if not majors:
        raise DumpError("PostgreSQL's programs are not installed (/usr/lib/postgresql/*/bin)")
    return PG_BIN.format(major=majors[0])


def tail(data: bytes) -> str:
    return data[-STDERR_TAIL:].decode("utf-8", errors="replace").strip()


def postgresql_databases(server: PostgreSQL, names: list[str]) -> list[str]:
    """The databases to dump: those named, or every one that accepts connections (``all``)."""
    if "all" not in names:
        return names
    listed = server.query("postgres", DATABASES_SQL)
    return sorted({str(n) for n in listed} | {n for n in names if n != "all"})


class Dumper:
    """Runs one command into the stream as one member, its error output kept apart. A dump
    that runs past ``timeout`` seconds is killed (a server frozen mid-dump cannot hold the run);
    once the stream to Borg broke, nothing more is dumped."""

    def __init__(self, stream: DumpStream, timeout: float):
        self.stream = stream
        self.timeout = timeout
        self.broken: str | None = None

    def run(self, member: str, argv: list[str], popen: dict[str, Any]) -> dict[str, Any]:
        if self.broken:
            return not_run(member, f"not dumped: the stream to Borg broke before ({self.broken})")
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                **popen,
            )
        except (OSError, KeyError, ValueError) as exc:  # no such program, user or group
            return not_run(member, f"could not start {os.path.basename(argv[0])}: {exc}")
        timed_out = threading.Event()

        def stop() -> None:
            if proc.poll() is None:  # not when it ended just as the time ran out
                timed_out.set()
                proc.kill()

        timer = threading.Timer(self.timeout, stop)
        timer.start()
        with proc:
            if proc.stdout is None or proc.stderr is None:  # pragma: no cover - both are pipes
                raise DumpError(f"{argv[0]}: no pipes")
            errors: list[bytes] = []
            reader = threading.Thread(target=drain, args=(proc.stderr, errors), daemon=True)
            reader.start()
            broken = None
            try:
                copied = self.stream.add_stream(member, proc.stdout)
            except OSError as exc:  # Borg (the stream's reader) is gone
                broken = self.broken = str(exc)
                proc.kill()
                copied = None
            code = proc.wait()
            timer.cancel()
            reader.join(timeout=30)
        if timed_out.is_set():
            broken = f"killed after {self.timeout:.0f} s (dump_timeout_seconds)"
        outcome: dict[str, Any] = {
            "member": member,
            "exit_code": code,
            "duration_seconds": round(time.monotonic() - started, 3),
            "bytes": copied.bytes if copied else None,
            "sha256": copied.sha256 if copied else None,
            "parts": copied.parts if copied else None,
            "stderr": tail(b"".join(errors)),
            "status": "success" if code == 0 and broken is None else "failed",
        }
        if timed_out.is_set():
            outcome["reason"] = str(broken)
        elif broken:
            outcome["reason"] = f"the stream to Borg broke: {broken}"
        elif code != 0:
            outcome["reason"] = f"exited with {code}: {outcome['stderr'][-300:]}".strip()
        return outcome


def not_run(member: str, reason: str) -> dict[str, Any]:
    """The outcome of a dump that never ran."""
    return {"member": member, "exit_code": None, "status": "failed", "reason": reason}


def drain(handle: IO[bytes], into: list[bytes]) -> None:
    """Read a process's error output to its end, keeping the last STDERR_TAIL bytes."""
    kept = b""
    for chunk in iter(lambda: handle.read(65536), b""):
        kept = (kept + chunk)[-STDERR_TAIL:]
    into.append(kept)


def dump_postgresql(
    stream: DumpStream,
    server: PostgreSQL,
    names: list[str],
    *,
    member_prefix: str = "postgresql",
    log: Callable[[str], None] | None = None,
    outcomes: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Dump the globals and each database named (``all``: every one) into ``stream``; one
    outcome per dump, appended to ``outcomes`` as each ends (so a caller keeps them whatever
    happens later). A server that cannot be asked is one failed outcome, not an exception."""
    outcomes = [] if outcomes is None else outcomes
    dumper = Dumper(stream, server.dump_timeout_seconds)
    try:
        version = str(server.query("postgres", VERSION_SQL))
        databases = postgresql_databases(server, names)
    except (DumpError, OSError, KeyError, ValueError, subprocess.TimeoutExpired) as exc:
        outcomes.append(
            {
                "type": "postgresql",
                "database": None,
                "what": "server",
                "server": member_prefix,
                "asked_for": names,
                "status": "failed",
                "exit_code": None,
                "reason": f"the PostgreSQL server could not be asked: {exc}",
            }
        )
        return outcomes
    globals_outcome = dumper.run(
        f"{member_prefix}/globals.sql",
        server.argv("pg_dumpall", "--globals-only", "--no-password"),
        server.as_user(),
    )
    outcomes.append(
        {
            "type": "postgresql",
            "database": None,
            "what": "globals",
            "server": member_prefix,
            "server_version": version,
            **globals_outcome,
        }
    )
    for number, database in enumerate(databases, start=1):
        if log:
            log(f"dumping PostgreSQL database {database!r}")
        rows: dict[str, int] | None = None
        estimate_error: str | None = None
        try:
            rows = {
                f"{schema}.{table}": int(count)
                for schema, table, count in server.query(database, ROWS_SQL)
            }
        except (
            DumpError,
            OSError,
            KeyError,
            ValueError,
            TypeError,
            subprocess.TimeoutExpired,
        ) as exc:
            estimate_error = str(exc)
        outcome = dumper.run(
            f"{member_prefix}/{number:03d}.pgdump",
            server.argv(
                "pg_dump",
                "--format=custom",
                "--no-password",
                f"--lock-wait-timeout={server.lock_wait_seconds}s",
                "--dbname",
                conninfo(database),
            ),
            server.as_user(),
        )
        entry: dict[str, Any] = {
            "type": "postgresql",
            "database": database,
            "what": "database",
            "server": member_prefix,
            "format": "custom",
            "server_version": version,
            "rows_estimate": rows,
            **outcome,
        }
        if estimate_error:
            entry["rows_estimate_error"] = estimate_error
        outcomes.append(entry)
    return outcomes


# ---- a policy's databases ---------------------------------------------------------------

TYPES = ("postgresql",)
SERVER_KEYS = (
    "socket_dir",
    "port",
    "os_user",
    "bin_dir",
    "lock_wait_seconds",
    "dump_timeout_seconds",
)
ENTRY_KEYS = ("type", "name", *SERVER_KEYS)


def problems(entries: Any, where: str) -> list[str]:
    """What is wrong with a policy's ``databases`` list (each problem names its field)."""
    if not isinstance(entries, list):
        return [f"{where}: a list of databases"]
    found = []
    for index, entry in enumerate(entries):
        at = f"{where}[{index}]"
        if not isinstance(entry, dict):
            found.append(f"{at}: an object with type and name")
            continue
        unknown = sorted(set(entry) - set(ENTRY_KEYS))
        if unknown:
            found.append(f"{at}: unknown field(s) {', '.join(unknown)}")
        if entry.get("type") not in TYPES:
            found.append(
                f"{at}.type: {entry.get('type')!r} is not supported (supported: "
                f"{', '.join(TYPES)}; MariaDB follows)"
            )
        if not isinstance(entry.get("name"), str) or not entry["name"]:
            found.append(f"{at}.name: a database name, or all")
        for number in ("port", "lock_wait_seconds", "dump_timeout_seconds"):
            if number in entry and (not isinstance(entry[number], int) or entry[number] < 1):
                found.append(f"{at}.{number}: a positive whole number")
    return found


def failed_names(outcomes: list[dict[str, Any]]) -> list[str]:
    """The failed dumps as the record lists them: a database's name, or what else failed in
    brackets (``(globals of postgresql/01-5432)``, ``(server postgresql/01-5432)``)."""
    names = []
    for outcome in outcomes:
        if outcome.get("status") == "success":
            continue
        if outcome.get("what") == "database":
            names.append(str(outcome.get("database")))
        else:
            names.append(f"({outcome.get('what')} of {outcome.get('server')})")
    return names


def write_stream(
    out: IO[bytes], entries: list[dict[str, Any]], outcomes: list[dict[str, Any]]
) -> None:
    """The whole stream of a run's databases: ``plan.json`` (what was asked), every dump,
    ``status.json`` last (what each gave; a stream without it was cut off). Each dump's
    outcome is appended to ``outcomes`` as it ends. Each server (by its settings) gets its own
    folder in the stream, ``postgresql/NN-PORT``."""
    stream = DumpStream(out)
    stream.add_bytes("plan.json", json.dumps({"databases": entries}, indent=1).encode())
    servers: dict[tuple[Any, ...], list[str]] = {}
    for entry in entries:
        key = tuple(entry.get(k) for k in ("type", *SERVER_KEYS))
        servers.setdefault(key, []).append(entry["name"])
    for number, (key, names) in enumerate(servers.items(), start=1):
        settings = {k: v for k, v in zip(SERVER_KEYS, key[1:], strict=True) if v is not None}
        server = PostgreSQL(**settings)
        prefix = f"postgresql/{number:02d}-{server.port}"
        dump_postgresql(stream, server, names, member_prefix=prefix, outcomes=outcomes)
    status = {"complete": True, "failed": failed_names(outcomes), "dumps": outcomes}
    stream.add_bytes("status.json", json.dumps(status, indent=1).encode())
    stream.close()
