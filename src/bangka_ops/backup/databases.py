"""Database dumps of a backup run, written into a :class:`~bangka_ops.backup.dumpstream.DumpStream`
(the tar stream that goes to Borg's standard input in the run's one ``borg create``).

PostgreSQL: each database with ``pg_dump --format=custom`` and the roles and tablespaces with
``pg_dumpall --globals-only``. MariaDB: each database with ``mariadb-dump --single-transaction
--routines --events --triggers --hex-blob`` (no ``--databases``, so it loads under any name) and
the users and grants with ``mariadb-dump --system=users``. Each tool runs as the server's own OS
user (``postgres``, ``mysql``) over the local socket with peer or ``unix_socket``
authentication: no password exists anywhere (see ``dbservers.py``). Before each dump the
row-count estimates of its tables and the database's size are read in one query (the server's
version once per server), so a restore test can compare what it loads with what was there,
and the stream's part size fits the dump (``dumpstream.part_size``).

Each dump's outcome is a dict for the run record: database, type, member in the stream, server
version, exit code, bytes, SHA-256, duration, the end of its error output, and the row
estimates. A dump that exits non-zero (or whose stream broke) is ``failed``: the caller makes the
whole run failed and the archive is marked by its record and by ``status.json`` in the stream.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any

try:
    from bangka_ops.backup import dbservers
except ModuleNotFoundError:  # deployed beside agent.py in /usr/local/lib/bangka-backup/
    import dbservers  # type: ignore[import-not-found, no-redef]

if TYPE_CHECKING:  # imported when a run dumps (write_stream), not when a config is checked
    from bangka_ops.backup.dumpstream import DumpStream

STDERR_TAIL = dbservers.STDERR_TAIL
DumpError = dbservers.DumpError
Server = dbservers.Server
PostgreSQL = dbservers.PostgreSQL
MariaDB = dbservers.MariaDB
SERVER_TYPES = dbservers.TYPES
conninfo = dbservers.conninfo
newest_pg_bin = dbservers.newest_pg_bin
tail = dbservers.tail
drain = dbservers.drain


class Dumper:
    """Runs one command into the stream as one member, its error output kept apart. A dump
    that runs past ``timeout`` seconds is killed (a server frozen mid-dump cannot hold the run);
    once the stream to Borg broke, nothing more is dumped."""

    def __init__(self, stream: DumpStream, timeout: float):
        self.stream = stream
        self.timeout = timeout
        self.broken: str | None = None

    def run(
        self, member: str, argv: list[str], popen: dict[str, Any], part_bytes: int | None = None
    ) -> dict[str, Any]:
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
                copied = self.stream.add_stream(member, proc.stdout, part_bytes)
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
        elif code < 0:  # killed from outside (an operator, the OOM killer, a shutdown)
            outcome["reason"] = f"killed by signal {-code} ({signal_name(-code)}) mid-dump"
        elif code != 0:
            outcome["reason"] = f"exited with {code}: {outcome['stderr'][-300:]}".strip()
        return outcome


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown signal"


def not_run(member: str, reason: str) -> dict[str, Any]:
    """The outcome of a dump that never ran."""
    return {"member": member, "exit_code": None, "status": "failed", "reason": reason}


ABOUT_SUFFIX = ".about.json"


def dump_server(
    stream: DumpStream,
    server: Server,
    names: list[str],
    *,
    member_prefix: str | None = None,
    log: Callable[[str], None] | None = None,
    outcomes: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Dump the server-wide part (PostgreSQL's roles and tablespaces, MariaDB's users and
    grants) and each database named (``all``: every one) into ``stream``; one outcome per
    dump, appended to ``outcomes`` as each ends (so a caller keeps them whatever happens
    later). A server that cannot be asked is one failed outcome, not an exception."""
    outcomes = [] if outcomes is None else outcomes
    prefix = member_prefix or server.folder(1)
    dumper = Dumper(stream, server.dump_timeout_seconds)
    try:
        server.check_password_file()
        version = server.version()
        databases = server.databases(names)
    except (DumpError, OSError, KeyError, ValueError, TypeError, subprocess.TimeoutExpired) as exc:
        outcomes.append(
            {
                "type": server.type,
                "database": None,
                "what": "server",
                "server": prefix,
                "asked_for": names,
                "status": "failed",
                "exit_code": None,
                "reason": f"the {server.type} server could not be asked: {exc}",
            }
        )
        return outcomes
    globals_outcome = dumper.run(
        f"{prefix}/{server.globals_member}", server.globals_argv(), server.as_user()
    )
    outcomes.append(
        {
            "type": server.type,
            "database": None,
            "what": server.globals_what,
            "server": prefix,
            "server_version": version,
            **globals_outcome,
        }
    )
    part_size = dumpstream_module().part_size
    for number, database in enumerate(databases, start=1):
        if log:
            log(f"dumping {server.type} database {database!r}")
        rows: dict[str, int | None] | None = None
        size: int | None = None
        estimate_error: str | None = None
        try:
            rows, size = server.estimate(database)
        except (
            DumpError,
            OSError,
            KeyError,
            ValueError,
            TypeError,
            subprocess.TimeoutExpired,
        ) as exc:
            estimate_error = str(exc)
        if not dumper.broken:
            # What the dump is, before it: a restore knows the database and the estimates
            # as the dump arrives (status.json, with every outcome, comes only at the end).
            about = {"type": server.type, "database": database, "server_version": version,
                     "format": server.dump_format, "rows_estimate": rows}  # fmt: skip
            try:
                stream.add_bytes(f"{prefix}/{number:03d}{ABOUT_SUFFIX}", json.dumps(about).encode())
            except OSError as exc:  # Borg (the stream's reader) is gone
                dumper.broken = str(exc)
        outcome = dumper.run(
            f"{prefix}/{number:03d}.{server.dump_suffix}",
            server.dump_argv(database),
            server.as_user(),
            part_size(size),
        )
        entry: dict[str, Any] = {
            "type": server.type,
            "database": database,
            "what": "database",
            "server": prefix,
            "format": server.dump_format,
            "server_version": version,
            "rows_estimate": rows,
            "database_bytes": size,
            **outcome,
        }
        if estimate_error:
            entry["rows_estimate_error"] = estimate_error
        outcomes.append(entry)
    return outcomes


def dumpstream_module() -> Any:
    """The stream writer, imported when a run dumps (a configuration check never needs it)."""
    try:
        from bangka_ops.backup import dumpstream
    except ModuleNotFoundError:  # deployed beside agent.py
        import dumpstream  # type: ignore[import-not-found, no-redef]
    return dumpstream


# ---- a policy's databases ---------------------------------------------------------------

# smoke_query: run by the restore test in the restored database (rows as text; no row fails).
# service: the host's service the database belongs to (e.g. simpeg), carried into the record.
COMMON_KEYS = ("type", "name", "os_user", "bin_dir", "lock_wait_seconds", "dump_timeout_seconds",
               "smoke_query", "service", "login", "password_file")  # fmt: skip
# The fields each type of server knows besides the common ones.
TYPE_KEYS = {"postgresql": ("socket_dir", "port"), "mariadb": ("socket",)}
SERVER_KEYS = ("socket_dir", "socket", "port", "os_user", "bin_dir", "lock_wait_seconds",
               "dump_timeout_seconds", "login", "password_file")  # fmt: skip
TYPES = tuple(SERVER_TYPES)


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
        kind = entry.get("type")
        if kind not in TYPES:
            found.append(
                f"{at}.type: {str(kind)[:40]!r} is not supported (supported: {', '.join(TYPES)})"
            )
        known = set(COMMON_KEYS) | set(TYPE_KEYS.get(str(kind), SERVER_KEYS))
        unknown = sorted(str(k) for k in set(entry) - known)
        if unknown:
            found.append(f"{at}: unknown field(s) for {kind}: {', '.join(unknown)}")
        found += [f"{at}.{name}: {wanted}" for name, wanted in field_problems(entry)]
    return found


def field_problems(entry: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, what it must be) for each field of one entry that is wrong."""

    def text(value: Any, limit: int = 4096) -> bool:
        return isinstance(value, str) and len(value.strip()) > 0 and len(value) <= limit

    if not text(entry.get("name"), 200):
        yield "name", "a database name, or all"
    for number in ("port", "lock_wait_seconds", "dump_timeout_seconds"):
        value = entry.get(number, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            yield number, "a positive whole number"
    for path in ("socket_dir", "socket", "bin_dir", "password_file"):
        if path in entry and not (text(entry[path]) and entry[path].startswith("/")):
            yield path, "an absolute path"
    wanted = {
        "smoke_query": ("an SQL query", 4096),
        "os_user": ("a user name", 64),
        "login": ("the database login's name", 64),
        "service": ("the name of a service of the host (up to 100 characters)", 100),
    }
    for name, (what, limit) in wanted.items():
        if name in entry and not text(entry[name], limit):
            yield name, what


def server_of(entry: dict[str, Any]) -> Server:
    """The server an entry of ``databases`` names (its fields, without type and name)."""
    settings = {k: entry[k] for k in SERVER_KEYS if entry.get(k) is not None}
    return SERVER_TYPES[entry["type"]](**settings)


def failed_names(outcomes: list[dict[str, Any]]) -> list[str]:
    """The failed dumps as the record lists them: a database's name, or what else failed in
    brackets (``(globals of postgresql/01-5432)``, ``(server of mariadb/02)``)."""
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
    folder in the stream: ``postgresql/NN-PORT``, ``mariadb/NN``."""
    stream: DumpStream = dumpstream_module().DumpStream(out)
    stream.add_bytes("plan.json", json.dumps({"databases": entries}, indent=1).encode())
    servers: dict[tuple[Any, ...], list[str]] = {}
    services: dict[tuple[tuple[Any, ...], str], str] = {}
    for entry in entries:
        key = tuple(entry.get(k) for k in ("type", *SERVER_KEYS))
        servers.setdefault(key, []).append(entry["name"])
        if entry.get("service"):
            services[(key, entry["name"])] = entry["service"]
    for number, (key, names) in enumerate(servers.items(), start=1):
        server = server_of(dict(zip(("type", *SERVER_KEYS), key, strict=True)))
        first = len(outcomes)
        dump_server(stream, server, names, member_prefix=server.folder(number), outcomes=outcomes)
        for outcome in outcomes[first:]:
            database = str(outcome.get("database"))
            service = services.get((key, database)) or services.get((key, "all"))
            if service and outcome.get("what") == "database":
                outcome["service"] = service
    status = {"complete": True, "failed": failed_names(outcomes), "dumps": outcomes}
    stream.add_bytes("status.json", json.dumps(status, indent=1).encode())
    stream.close()
