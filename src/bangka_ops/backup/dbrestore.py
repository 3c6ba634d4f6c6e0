"""Database dumps back out of an archive: stage-2 verification on a restore host, and the
emergency restore of one database.

The dumps of a run are one tar stream, the archive's member ``bangka-databases.tar``
(``databases.py`` writes it). ``borg extract --stdout`` gives it back without a temporary copy;
:func:`borg_stream` runs that and :func:`dumpstream.pieces` reads it part by part.

**Restore test** (:class:`StreamCheck`): each database dump is loaded, as it arrives, into a
scratch database of the restore host's own server of its type (``bangka_rt_<random>_<n>``),
then its tables and exact row counts are compared with the estimates the client recorded at
dump time, the configured smoke query runs, and the scratch database is dropped, always. A
client's dump is data from another host: it is loaded by an unprivileged account
(``restore_user``, default ``bangka-dbrestore``: an OS user and a database role of that name
with no right beyond the scratch database it owns), never by the server's superuser, and
every load is killed past its time limit. MariaDB dumps name a ``DEFINER`` for views,
routines, triggers and events; it becomes ``CURRENT_USER`` so the unprivileged account can
load them.

**Emergency restore** (:func:`restore_database`): one database of the stream is loaded into the
client's own server as the server's OS user, into a new database by default; an existing one
is replaced only when asked, and only after a fresh dump of it is written aside first.

Standard library only (deployed beside agent.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

try:
    from bangka_ops.backup import dbservers, dumpstream
except ModuleNotFoundError:  # deployed beside agent.py in /usr/local/lib/bangka-backup/
    import dbservers  # type: ignore[import-not-found, no-redef]
    import dumpstream  # type: ignore[import-not-found, no-redef]

DATABASES_MEMBER = "bangka-databases.tar"
ABOUT_SUFFIX = ".about.json"
SCRATCH_PREFIX = "bangka_rt_"
DEFAULT_RESTORE_USER = "bangka-dbrestore"
# Restored row counts against the estimates recorded at dump time: an estimate is within
# tolerance when |restored - estimate| <= max(TOLERANCE_ROWS, TOLERANCE_PERCENT % of it).
TOLERANCE_PERCENT = 50.0
TOLERANCE_ROWS = 1000
SMOKE_OUTPUT = 200
SHOWN = 20

# The DEFINER clause mariadb-dump writes at the start of a line (views, triggers, events,
# routines); only there, never inside data.
DEFINER = re.compile(
    rb"(?m)^((?:/\*!\d+ CREATE\*/ )?(?:/\*!\d+ )?(?:CREATE )?)"
    rb"DEFINER=`(?:[^`\n]|``)*`@`(?:[^`\n]|``)*`"
)


class StreamError(Exception):
    """The archive's database stream cannot be read or does not hold what was asked."""


# ---- reading the stream out of Borg --------------------------------------------------------


@contextlib.contextmanager
def borg_stream(borg: Any, repo: dict[str, Any], archive: str, log: IO[str]) -> Iterator[BinaryIO]:
    """The archive's database stream as Borg extracts it to its standard output. Borg's
    messages go to ``log``; Borg failing (or the member missing) raises StreamError after
    the caller has read what came."""
    argv = [borg.binary, "extract", "--stdout", "--log-json",
            f"{repo['location']}::{archive}", DATABASES_MEMBER]  # fmt: skip
    proc = subprocess.Popen(
        argv,
        env=borg.env(repo),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    errors: list[bytes] = []
    reader = threading.Thread(target=keep_lines, args=(proc.stderr, errors), daemon=True)
    reader.start()
    assert proc.stdout is not None  # noqa: S101 (Popen contract)
    ok = False
    try:
        yield proc.stdout  # type: ignore[misc]
        ok = True
    finally:
        if not ok and proc.poll() is None:
            proc.terminate()
        with contextlib.suppress(OSError):  # to its end in bounded reads: Borg never blocks
            while proc.stdout.read(1 << 20):
                pass
        code = proc.wait()
        reader.join(timeout=30)
        text = b"".join(errors).decode("utf-8", errors="replace")
        log.write(text)
    if ok and code != 0:
        messages = [borg_message(line) for line in text.splitlines()]
        said = "; ".join(m for m in messages if m)[-500:]
        if "never matched" in said or code == 1:
            raise StreamError(
                f"the archive holds no database dumps ({DATABASES_MEMBER}): {said or code}"
            )
        raise StreamError(f"borg extract --stdout exited with {code}: {said}")


def keep_lines(handle: IO[bytes], into: list[bytes]) -> None:
    for line in handle:
        if len(into) < 2000:
            into.append(line)


def borg_message(line: str) -> str:
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        return line.strip()
    return str(entry.get("message", "")) if isinstance(entry, dict) else ""


# ---- a restore test's settings ------------------------------------------------------------


@dataclass
class Settings:
    """How a restore host loads a client's dumps."""

    servers: dict[str, dbservers.Server]
    restore_user: str = DEFAULT_RESTORE_USER
    tolerance_percent: float = TOLERANCE_PERCENT
    tolerance_rows: int = TOLERANCE_ROWS
    timeout_seconds: float = 6 * 3600
    # (type, database or "all") -> the smoke query the policy configures.
    smoke: dict[tuple[str, str], str] = field(default_factory=dict)
    # The types of server the policy dumps: their first scratch database is made while Borg
    # starts, before the stream's first dump arrives.
    expected: tuple[str, ...] = ()

    def smoke_query(self, kind: str, database: str) -> str | None:
        return self.smoke.get((kind, database)) or self.smoke.get((kind, "all"))


SETTING_KEYS = ("restore_user", "rows_tolerance_percent", "rows_tolerance_rows",
                "postgresql", "mariadb")  # fmt: skip


def settings_of(config: dict[str, Any], policy: dict[str, Any]) -> Settings:
    """The restore host's ``database_restore`` settings (all optional: the local servers'
    default sockets and ``bangka-dbrestore``) and the policy's smoke queries. ValueError
    names a field that is wrong."""
    raw = config.get("database_restore") or {}
    if not isinstance(raw, dict):
        raise ValueError("database_restore: an object")
    unknown = sorted(set(raw) - set(SETTING_KEYS))
    if unknown:
        raise ValueError(f"database_restore: unknown field(s) {', '.join(unknown)}")
    servers: dict[str, dbservers.Server] = {}
    for kind, cls in dbservers.TYPES.items():
        fields = raw.get(kind) or {}
        if not isinstance(fields, dict):
            raise ValueError(f"database_restore.{kind}: an object of server settings")
        try:
            servers[kind] = cls(**fields)
        except TypeError as exc:
            raise ValueError(f"database_restore.{kind}: {exc}") from exc
    smoke: dict[tuple[str, str], str] = {}
    expected: list[str] = []
    for entry in policy.get("databases") or []:
        if isinstance(entry, dict) and isinstance(entry.get("smoke_query"), str):
            smoke[(str(entry.get("type")), str(entry.get("name")))] = entry["smoke_query"]
        if isinstance(entry, dict) and entry.get("type") in servers:
            expected += [] if entry["type"] in expected else [str(entry["type"])]
    rto = policy.get("rto_hours")
    for number in ("rows_tolerance_percent", "rows_tolerance_rows"):
        value = raw.get(number, 0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"database_restore.{number}: a number, not {value!r}")
    user = raw.get("restore_user", DEFAULT_RESTORE_USER)
    if not isinstance(user, str) or not user or user in dbservers.PRIVILEGED:
        raise ValueError(
            f"database_restore.restore_user: an unprivileged account, not {user!r} (a client's "
            "dump is never loaded with a server's own superuser)"
        )
    settings = Settings(
        servers=servers,
        restore_user=str(raw.get("restore_user") or DEFAULT_RESTORE_USER),
        tolerance_percent=float(raw.get("rows_tolerance_percent", TOLERANCE_PERCENT)),
        tolerance_rows=int(raw.get("rows_tolerance_rows", TOLERANCE_ROWS)),
        timeout_seconds=float(rto * 3600) if isinstance(rto, int | float) and rto > 0 else 6 * 3600,
        smoke=smoke,
        expected=tuple(expected),
    )
    if settings.tolerance_percent < 0 or settings.tolerance_rows < 0:
        raise ValueError("database_restore: the row tolerances cannot be negative")
    return settings


# ---- loading one dump ---------------------------------------------------------------------


# A line longer than this is data (an INSERT), never a DEFINER clause: passed on as it is.
LINE_MAX = 16 * 1024 * 1024


class DefinerFilter:
    """MariaDB dump text with each DEFINER at a line's start made ``CURRENT_USER``; cut at
    line ends so a clause is never split between two pieces. What it holds back is bounded
    (LINE_MAX): a longer line goes on unchanged, its start already looked at."""

    def __init__(self) -> None:
        self.carry = b""
        self.mid_line = False  # the next bytes continue a line already passed on

    def feed(self, data: bytes) -> bytes:
        if self.mid_line:
            end = data.find(b"\n")
            if end < 0:
                return data
            self.mid_line = False
            return data[: end + 1] + self.feed(data[end + 1 :])
        data = self.carry + data
        cut = data.rfind(b"\n") + 1
        self.carry = data[cut:]
        out = DEFINER.sub(rb"\1DEFINER=CURRENT_USER", data[:cut])
        if len(self.carry) > LINE_MAX:
            out += DEFINER.sub(rb"\1DEFINER=CURRENT_USER", self.carry)
            self.carry, self.mid_line = b"", True
        return out

    def flush(self) -> bytes:
        rest, self.carry = self.carry, b""
        return DEFINER.sub(rb"\1DEFINER=CURRENT_USER", rest)


class Load:
    """One dump streamed into a loading process (``pg_restore`` or ``mariadb``), hashed on
    the way; killed past ``timeout``. A process that stops reading early is noted and the
    rest of the dump is still hashed (the stream goes on to the next dump)."""

    def __init__(self, argv: list[str], popen: dict[str, Any], timeout: float, definers: bool):
        self.digest = hashlib.sha256()
        self.bytes = 0
        self.started = time.monotonic()
        self.filter = DefinerFilter() if definers else None
        self.timed_out = threading.Event()
        self.errors: list[bytes] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_error: str | None = None
        self.broken = False
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                **popen,
            )
        except (OSError, KeyError, ValueError) as exc:
            self.start_error = f"could not start {os.path.basename(argv[0])}: {exc}"
            return
        self.reader = threading.Thread(
            target=dbservers.drain, args=(self.proc.stderr, self.errors), daemon=True
        )
        self.reader.start()
        self.timer = threading.Timer(timeout, self.stop)
        self.timer.daemon = True  # a process that must end is never held by its timer
        self.timer.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.timed_out.set()
            self.proc.kill()

    def feed(self, data: bytes) -> None:
        self.digest.update(data)
        self.bytes += len(data)
        if self.filter is not None:
            data = self.filter.feed(data)
        self.write(data)

    def write(self, data: bytes) -> None:
        if self.proc is None or self.broken or not data:
            return
        assert self.proc.stdin is not None  # noqa: S101 (Popen contract)
        try:
            self.proc.stdin.write(data)
        except (BrokenPipeError, OSError):
            self.broken = True

    def finish(self) -> tuple[int | None, float, str]:
        """The loader's exit code (None: never started), its seconds, and why it failed."""
        if self.proc is None:
            return None, 0.0, str(self.start_error)
        if self.filter is not None:
            self.write(self.filter.flush())
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None  # noqa: S101
            self.proc.stdin.close()
        code = self.proc.wait()
        self.timer.cancel()
        self.reader.join(timeout=30)
        seconds = time.monotonic() - self.started
        said = dbservers.tail(b"".join(self.errors))
        if self.timed_out.is_set():
            return code, seconds, "the load was killed: it ran past its time limit"
        if code != 0:
            return code, seconds, f"exited with {code}: {said[-300:]}".strip()
        return code, seconds, ""


def compare_rows(
    estimate: dict[str, int | None] | None,
    restored: dict[str, int],
    settings: Settings,
) -> dict[str, Any]:
    """Tables and row counts restored against the estimates at dump time. A table recorded but
    not restored fails; one restored but not recorded (made between the estimate and the dump)
    is listed only; a count outside the tolerance fails."""
    # The estimates are the client's data: only table name -> whole number (or null) counts.
    expected: dict[str, int | None] = {}
    if isinstance(estimate, dict):
        for table, guess in list(estimate.items())[:100_000]:
            whole = isinstance(guess, int) and not isinstance(guess, bool)
            expected[str(table)[:300]] = guess if whole else None
    missing = sorted(set(expected) - set(restored))
    extra = sorted(set(restored) - set(expected))
    outside = []
    compared = 0
    for table, guess in sorted(expected.items()):
        if table not in restored or guess is None:
            continue
        compared += 1
        allowed = max(settings.tolerance_rows, guess * settings.tolerance_percent / 100)
        if abs(restored[table] - guess) > allowed:
            outside.append({"table": table, "estimate": guess, "restored": restored[table]})
    return {
        "tables_recorded": len(expected),
        "tables_restored": len(restored),
        "tables_missing": missing[:SHOWN],
        "tables_missing_count": len(missing),
        "tables_extra": extra[:SHOWN],
        "rows_restored": sum(restored.values()),
        "rows_compared_tables": compared,
        "rows_outside_tolerance": outside[:SHOWN],
        "rows_outside_tolerance_count": len(outside),
        "tolerance": {"percent": settings.tolerance_percent, "rows": settings.tolerance_rows},
    }


# ---- the restore test: the whole stream ---------------------------------------------------


class StreamCheck:
    """Stage-2 verification of one archive's database stream on a restore host."""

    def __init__(self, settings: Settings, log: IO[str] | None = None) -> None:
        self.settings = settings
        self.log = log
        self.token = secrets.token_hex(4)
        self.number = 0
        self.prepared: set[str] = set()
        self.versions: dict[str, str] = {}
        # type -> a scratch database made ahead (while Borg starts) and not yet loaded into;
        # every name asked for ahead, made or not (a CREATE that failed may have made it).
        self.ready: dict[str, str] = {}
        self.ahead: list[tuple[str, str]] = []
        self.early: threading.Thread | None = None
        self.leftovers: list[str] = []

    def note(self, text: str) -> None:
        if self.log is not None:
            self.log.write(json.dumps({"type": "database_check", "message": text}) + "\n")

    def run(self, source: BinaryIO) -> dict[str, Any]:
        """Reads the whole stream; returns ``{"databases": [row per dump], "status": ...,
        "reason": ...}``. Every scratch database is dropped before it returns."""
        started = time.monotonic()
        rows: list[dict[str, Any]] = []
        about: dict[str, dict[str, Any]] = {}
        status: dict[str, Any] | None = None
        plan_seen = False
        current: tuple[str, Any] | None = None
        problem = None
        self.early = threading.Thread(target=self.get_ready, daemon=True)
        self.early.start()
        try:
            for name, data in dumpstream.pieces(source):
                if current is not None and current[0] != name:
                    done, current = current, None
                    rows.append(done[1].finish())
                if name == "plan.json":
                    plan_seen = True
                elif name == "status.json":
                    status = parse_document(name, data)
                elif name.endswith(ABOUT_SUFFIX):
                    about[name[: -len(ABOUT_SUFFIX)]] = parse_document(name, data)
                else:
                    if current is None:
                        current = (name, self.start(name, about.get(name.rsplit(".", 1)[0])))
                    current[1].feed(data)
        except (ValueError, OSError, EOFError, tarfile.TarError) as exc:
            problem = f"the database stream cannot be read: {type(exc).__name__}: {exc}"
        except Exception as exc:
            problem = f"the database stream could not be checked: {type(exc).__name__}: {exc}"
        finally:
            if current is not None:
                rows.append(current[1].finish())
            self.drop_unused()
        return self.judge(rows, status, plan_seen, problem, time.monotonic() - started)

    def scratch_name(self) -> str:
        self.number += 1
        return f"{SCRATCH_PREFIX}{self.token}_{self.number}"

    def get_ready(self) -> None:
        """The account and the first scratch database of each type of server the policy
        dumps, made while Borg starts. Best effort: what fails here is done (and reported)
        again when the dump arrives."""
        for kind in self.settings.expected:
            server = self.settings.servers[kind]
            try:
                self.prepare(server)
                scratch = self.scratch_name()
                self.ahead.append((kind, scratch))
                server.create_database(scratch, self.settings.restore_user)
                self.ready[kind] = scratch
            except Exception:  # retried, and reported, when the dump arrives
                self.prepared.discard(kind)

    def wait_ready(self) -> None:
        if self.early is not None:
            self.early.join()
            self.early = None

    def drop_unused(self) -> None:
        """Every scratch database asked for ahead and not loaded into is dropped."""
        self.wait_ready()
        for kind, scratch in self.ahead:
            with contextlib.suppress(Exception):
                if self.settings.servers[kind].dropped(scratch, grants=True):
                    continue
            self.leftovers.append(scratch)
        self.ready.clear()
        self.ahead.clear()

    def start(self, member: str, about: dict[str, Any] | None) -> Any:
        kind = member.split("/", 1)[0]
        base = os.path.basename(member)
        if base in ("globals.sql", "users.sql") or kind not in self.settings.servers:
            return Hashed(member, kind)
        self.wait_ready()
        made = self.ready.pop(kind, None)
        if made is not None:
            self.ahead.remove((kind, made))  # its Loaded drops it now
            return Loaded(self, member, kind, about or {}, made, made_ahead=True)
        return Loaded(self, member, kind, about or {}, self.scratch_name())

    def prepare(self, server: dbservers.Server) -> None:
        """The unprivileged account the loads run as, once per server."""
        if server.type not in self.prepared:
            server.ensure_role(self.settings.restore_user)
            self.prepared.add(server.type)
            with contextlib.suppress(dbservers.DumpError, subprocess.TimeoutExpired):
                self.versions[server.type] = server.version()

    def judge(
        self,
        rows: list[dict[str, Any]],
        status: dict[str, Any] | None,
        plan_seen: bool,
        problem: str | None,
        seconds: float,
    ) -> dict[str, Any]:
        reasons: list[str] = []
        if problem:
            reasons.append(problem)
        for scratch in self.leftovers:
            reasons.append(f"the scratch database {scratch} could not be dropped")
        if not plan_seen and not problem:
            reasons.append("the database stream holds no plan.json: not a stream of this tool")
        dumps = {}
        if status is None:
            reasons.append("the database stream was cut off (no status.json at its end)")
        else:
            for outcome in status.get("dumps") or []:
                if isinstance(outcome, dict) and isinstance(outcome.get("member"), str):
                    dumps[outcome["member"]] = outcome
            failed = status.get("failed") or []
            if failed:
                shown = ", ".join(str(f) for f in failed[:SHOWN])
                reasons.append(f"the backup run marked these dumps failed: {shown}")
        for row in rows:
            self.match(row, dumps.get(row["member"]), status is not None)
        for row in rows:
            if row["status"] != "passed":
                who = row.get("database") or row["member"]
                reasons.append(f"{row['type']} {who}: {'; '.join(row.get('reasons') or [])}")
        databases = [r for r in rows if r["kind"] == "database"]
        return {
            "databases": rows,
            "databases_restored": sum(1 for r in databases if r.get("restore_exit_code") == 0),
            "database_restore_seconds": round(sum(r.get("restore_seconds", 0) for r in rows), 3),
            "database_check_seconds": round(seconds, 3),
            "status": "passed" if not reasons else "failed",
            "reason": "; ".join(reasons)[:2000] if reasons else None,
        }

    def match(self, row: dict[str, Any], outcome: dict[str, Any] | None, listed: bool) -> None:
        """A restored dump against the run's own outcome of it (status.json)."""
        if outcome is not None:
            if row.get("database") is None and outcome.get("database") is not None:
                row["database"] = outcome["database"]
            if row.get("rows_estimate") is None and row["kind"] == "database":
                self.recheck(row, outcome)
            if outcome.get("sha256") and outcome["sha256"] != row["sha256"]:
                row["sha256_matches"] = False
                row["status"] = "failed"
                row.setdefault("reasons", []).append("its SHA-256 differs from the run's")
            else:
                row["sha256_matches"] = bool(outcome.get("sha256"))
        elif listed:
            row["status"] = "failed"
            row.setdefault("reasons", []).append("the run's status.json does not list it")
        row.pop("rows_estimate", None)
        row.pop("_restored", None)

    def recheck(self, row: dict[str, Any], outcome: dict[str, Any]) -> None:
        """A dump without its about.json: compared with the estimate status.json carries."""
        restored = row.pop("_restored", None)
        if restored is None:
            return
        row.update(compare_rows(outcome.get("rows_estimate"), restored, self.settings))
        if row["tables_missing_count"] or row["rows_outside_tolerance_count"]:
            row["status"] = "failed"
            row.setdefault("reasons", []).append("its tables or rows differ from the record")


def major(version: Any) -> int | None:
    """The major version of a server version text (``15.10``, ``10.11.6-MariaDB``)."""
    match = re.match(r"(\d+)(?:\.(\d+))?", str(version or ""))
    if not match:
        return None
    first = int(match.group(1))
    # MariaDB's majors are two numbers (10.11); PostgreSQL's one since 10.
    return first * 100 + int(match.group(2) or 0) if first < 12 and match.group(2) else first * 100


def newer_hint(row: dict[str, Any]) -> str:
    """Why a dump may not load here: it comes from a newer server than this host's."""
    dumped, here = major(row.get("dump_server_version")), major(row.get("restore_server_version"))
    if dumped is None or here is None or dumped <= here:
        return ""
    return (
        f" (the dump comes from {row['type']} {row['dump_server_version']}, newer than this "
        f"host's {row['restore_server_version']}: give the restore host the client's major "
        + (
            "version, borg_restore_test_postgresql_version)"
            if row["type"] == "postgresql"
            else "version)"
        )
    )


def parse_document(name: str, data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise ValueError(f"{name} is not JSON: {exc}") from exc
    except RecursionError as exc:
        raise ValueError(f"{name} is not JSON: nested too deeply") from exc
    if not isinstance(value, dict):
        raise ValueError(f"{name} is not a JSON object")
    return value


class Hashed:
    """A server-wide dump (roles, users): kept in the archive, hashed, never loaded here."""

    def __init__(self, member: str, kind: str) -> None:
        self.member, self.kind = member, kind
        self.digest = hashlib.sha256()
        self.bytes = 0

    def feed(self, data: bytes) -> None:
        self.digest.update(data)
        self.bytes += len(data)

    def finish(self) -> dict[str, Any]:
        return {
            "kind": "globals",
            "type": self.kind,
            "member": self.member,
            "database": None,
            "bytes": self.bytes,
            "sha256": self.digest.hexdigest(),
            "status": "passed",
        }


class Loaded:
    """One database dump loaded into its scratch database, checked, and dropped."""

    def __init__(
        self,
        check: StreamCheck,
        member: str,
        kind: str,
        about: dict[str, Any],
        scratch: str,
        *,
        made_ahead: bool = False,
    ) -> None:
        self.check, self.member, self.kind, self.about, self.scratch = (
            check, member, kind, about, scratch,
        )  # fmt: skip
        settings = check.settings
        self.server = settings.servers[kind]
        self.load: Load | None = None
        self.failure: str | None = None
        self.digest = hashlib.sha256()
        self.bytes = 0
        # Counted as made before asking: a CREATE that timed out may still have made it, and
        # the drop (IF EXISTS) is harmless when it did not.
        self.created = True
        try:
            if not made_ahead:
                check.prepare(self.server)  # the account, and the server's version, once
                self.server.create_database(scratch, settings.restore_user)
        except (dbservers.DumpError, OSError, KeyError, subprocess.TimeoutExpired) as exc:
            self.failure = f"no scratch database on the restore host's {kind} server: {exc}"
            return
        self.load = Load(
            self.server.restore_argv(scratch, os_user=settings.restore_user),
            self.server.as_user(settings.restore_user),
            settings.timeout_seconds,
            definers=kind == "mariadb",
        )

    def feed(self, data: bytes) -> None:
        if self.load is not None:
            self.load.feed(data)
        else:
            self.digest.update(data)
            self.bytes += len(data)

    def finish(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "kind": "database",
            "type": self.kind,
            "member": self.member,
            "database": self.about.get("database"),
            "dump_server_version": self.about.get("server_version"),
            "scratch_database": self.scratch,
            "rows_estimate": self.about.get("rows_estimate"),
        }
        reasons: list[str] = []
        try:
            if self.load is None:
                reasons.append(str(self.failure))
                row.update(bytes=self.bytes, sha256=self.digest.hexdigest())
                return row
            code, seconds, why = self.load.finish()
            row.update(
                bytes=self.load.bytes,
                sha256=self.load.digest.hexdigest(),
                restore_exit_code=code,
                restore_seconds=round(seconds, 3),
            )
            row["restore_server_version"] = self.check.versions.get(self.kind)
            if why:
                reasons.append(f"the dump did not load: {why}{newer_hint(row)}")
                return row
            self.verify(row, reasons)
        except (dbservers.DumpError, subprocess.TimeoutExpired, OSError, ValueError) as exc:
            reasons.append(f"checking the restored database failed: {exc}")
        except Exception as exc:
            reasons.append(f"checking the restored database failed: {type(exc).__name__}: {exc}")
        finally:
            row["scratch_dropped"] = self.drop()
            if not row["scratch_dropped"]:
                reasons.append(f"the scratch database {self.scratch} could not be dropped")
            row["status"] = "failed" if reasons else "passed"
            if reasons:
                row["reasons"] = reasons
        return row

    def verify(self, row: dict[str, Any], reasons: list[str]) -> None:
        """The loaded database against the record: tables, exact rows, the smoke query."""
        settings = self.check.settings
        restored = self.server.exact_rows(self.scratch, os_user=settings.restore_user)
        if self.about:
            row.update(compare_rows(self.about.get("rows_estimate"), restored, settings))
            if row["tables_missing_count"]:
                reasons.append(f"tables missing after the restore: {row['tables_missing']}")
            if row["rows_outside_tolerance_count"]:
                reasons.append(
                    f"row counts outside the tolerance: {row['rows_outside_tolerance'][:3]}"
                )
        else:
            row["_restored"] = restored
        query = settings.smoke_query(self.kind, str(self.about.get("database")))
        if query:
            row["smoke"] = self.smoke(query)
            if not row["smoke"]["passed"]:
                reasons.append(f"the smoke query failed: {row['smoke']['output']}")

    def smoke(self, query: str) -> dict[str, Any]:
        try:
            output = self.server.smoke(
                self.scratch, query, os_user=self.check.settings.restore_user
            )
        except (dbservers.DumpError, subprocess.TimeoutExpired) as exc:
            return {"query": query[:SMOKE_OUTPUT], "passed": False, "output": str(exc)[:300]}
        return {
            "query": query[:SMOKE_OUTPUT],
            "passed": bool(output.strip()),
            "output": output[:SMOKE_OUTPUT] if output.strip() else "(no row)",
        }

    def drop(self) -> bool:
        if not self.created:
            return True
        try:
            return self.server.dropped(self.scratch, grants=True)
        except (dbservers.DumpError, subprocess.TimeoutExpired, OSError):
            return False


# ---- emergency restore of one database ----------------------------------------------------


def find_dump(about: dict[str, dict[str, Any]], kind: str | None, database: str) -> list[str]:
    return [
        member
        for member, doc in about.items()
        if doc.get("database") == database and (kind is None or doc.get("type") == kind)
    ]


class TargetExists(StreamError):
    """The database to restore into exists and replacing it was not asked for."""


def restore_database(
    source: BinaryIO,
    servers: dict[str, dbservers.Server],
    database: str,
    target: str,
    *,
    kind: str | None = None,
    replace: bool = False,
    before_dir: Path | None = None,
    timeout: float = 6 * 3600,
    untrusted_user: str | None = None,
) -> dict[str, Any]:
    """Load ``database``'s dump from the stream into ``target`` on this host's server, as the
    server's OS user with owners and grants as they were (the client's own server), or, with
    ``untrusted_user`` (another host's dump, on a restore host), as that unprivileged account
    owning the new database, without owners or grants. ``target`` must not exist unless
    ``replace`` (else TargetExists); then a fresh dump of it is written to ``before_dir`` first
    (0600), and only when that dump succeeded is it dropped and loaded. Whatever goes wrong
    after that (the load, the stream, the run's own verdict on the dump), nothing is left
    half-applied: the target is dropped and a replaced database is loaded back from its fresh
    dump. Raises StreamError."""
    state = Restoring(
        servers, database, target, kind=kind, untrusted_user=untrusted_user, timeout=timeout
    )
    try:
        for name, data in dumpstream.pieces(source):
            state.take(name, data, replace, before_dir)
        why = state.finish()
    except Exception as exc:
        state.abandon(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, StreamError) or state.load is None:
            raise
        why = f"the restore stopped: {type(exc).__name__}: {exc}"
    result = state.result
    result["status"] = "failed" if why else "restored"
    if why:
        result["reason"] = why + state.aftermath()
    return result


class Restoring:
    """One emergency restore of a database, piece by piece."""

    def __init__(
        self,
        servers: dict[str, dbservers.Server],
        database: str,
        target: str,
        *,
        kind: str | None,
        untrusted_user: str | None,
        timeout: float,
    ) -> None:
        self.servers, self.database, self.target, self.kind = servers, database, target, kind
        self.untrusted_user, self.timeout = untrusted_user, timeout
        self.about: dict[str, dict[str, Any]] = {}
        self.status: dict[str, Any] | None = None
        self.load: Load | None = None
        self.chosen: str | None = None
        self.server: dbservers.Server | None = None
        self.result: dict[str, Any] = {"database": database, "target": target, "replaced": False}

    def take(self, name: str, data: bytes, replace: bool, before_dir: Path | None) -> None:
        if name.endswith(ABOUT_SUFFIX):
            self.about[name[: -len(ABOUT_SUFFIX)]] = parse_document(name, data)
            return
        if name == "status.json":
            self.status = parse_document(name, data)
            return
        base = name.rsplit(".", 1)[0]
        if self.chosen is None and base in find_dump(self.about, self.kind, self.database):
            doc = self.about[base]
            server = self.servers.get(str(doc.get("type")))
            if server is None:
                raise StreamError(f"no {doc.get('type')} server is configured on this host")
            self.chosen, self.server = name, server
            self.result.update(type=server.type, member=name)
            prepare_target(server, self.target, replace, before_dir, self.result)
            self.load = start_load(server, self.target, self.untrusted_user, self.timeout)
            self.result["loaded_as"] = self.untrusted_user or server.os_user
        if self.load is not None and name == self.chosen:
            self.load.feed(data)

    def finish(self) -> str:
        """Why the restored database cannot be trusted ("" when it can)."""
        if self.load is None:
            found = sorted({str(d.get("database")) for d in self.about.values()})
            raise StreamError(
                f"the archive holds no dump of {self.kind or 'any'} database "
                f"{self.database!r} (it holds: {', '.join(found) or 'none'})"
            )
        code, seconds, why = self.load.finish()
        self.result.update(
            bytes=self.load.bytes, restore_seconds=round(seconds, 3), restore_exit_code=code
        )
        dumps = (self.status or {}).get("dumps")
        outcome = next(
            (d for d in (dumps if isinstance(dumps, list) else [])
             if isinstance(d, dict) and d.get("member") == self.chosen),
            None,
        )  # fmt: skip
        if why:
            return why
        if self.status is None:
            return "the database stream was cut off (no status.json): the dump may be incomplete"
        if outcome is None or outcome.get("status") != "success":
            return "the backup run marked this dump failed: it may be incomplete"
        if outcome.get("sha256") != self.load.digest.hexdigest():
            return "the dump's SHA-256 differs from the run's"
        return ""

    def abandon(self, why: str) -> None:
        """Stop a load that is still running (its stream broke)."""
        if self.load is not None and self.load.proc is not None and self.load.proc.poll() is None:
            self.load.proc.kill()
            with contextlib.suppress(Exception):
                self.load.finish()

    def aftermath(self) -> str:
        """Nothing half-applied: the target goes, and a replaced database comes back from its
        fresh dump. Says what was done."""
        if self.server is None or self.load is None:
            return ""
        server, grants = self.server, bool(self.untrusted_user)
        try:
            server.drop_database(self.target, grants=grants)
        except (dbservers.DumpError, subprocess.TimeoutExpired, OSError) as exc:
            return f" (the half-restored database {self.target!r} could not be dropped: {exc})"
        self.result["target_dropped_after_failure"] = True
        before = self.result.get("dump_before_restore")
        if not before:
            return f" (the half-restored database {self.target!r} was dropped)"
        try:
            server.create_database(self.target, None)
            with open(before, "rb") as dump:
                proc = subprocess.run(
                    server.restore_argv(self.target, keep_owners=True),
                    stdin=dump,
                    capture_output=True,
                    check=False,
                    timeout=self.timeout,
                    **server.as_user(),
                )
        except (dbservers.DumpError, subprocess.TimeoutExpired, OSError) as exc:
            return f" (putting {self.target!r} back from {before} failed: {exc}; do it by hand)"
        if proc.returncode != 0:
            return (
                f" (putting {self.target!r} back from {before} failed: "
                f"{dbservers.tail(proc.stderr)[-200:]}; do it by hand)"
            )
        self.result["rolled_back"] = True
        return f" ({self.target!r} was put back as it was, from its fresh dump {before})"


def start_load(
    server: dbservers.Server, target: str, untrusted_user: str | None, timeout: float
) -> Load:
    """The new database, and the process loading the dump into it."""
    if untrusted_user:  # another host's dump: loaded as the unprivileged account
        server.ensure_role(untrusted_user)
    server.create_database(target, untrusted_user)
    return Load(
        server.restore_argv(target, untrusted_user, keep_owners=not untrusted_user),
        server.as_user(untrusted_user),
        timeout,
        definers=bool(untrusted_user) and server.type == "mariadb",
    )


def prepare_target(
    server: dbservers.Server,
    target: str,
    replace: bool,
    before_dir: Path | None,
    result: dict[str, Any],
) -> None:
    if not server.exists(target):
        return
    if not replace:
        raise TargetExists(
            f"database {target!r} exists; restore under a new name (--as) or replace it "
            "explicitly (--replace: a fresh dump of it is taken first)"
        )
    if before_dir is None:
        raise StreamError("replacing a database needs a directory for its fresh dump first")
    before_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, path = tempfile.mkstemp(
        prefix=f"{safe_name(target)}-before-restore-",
        suffix=f".{server.dump_suffix}",
        dir=before_dir,
    )
    with os.fdopen(fd, "wb") as out:
        proc = subprocess.run(
            server.dump_argv(target),
            stdout=out,
            stderr=subprocess.PIPE,
            check=False,
            **server.as_user(),
        )
    if proc.returncode != 0:
        raise StreamError(
            f"the fresh dump of {target!r} failed ({dbservers.tail(proc.stderr)[-300:]}); "
            f"nothing was replaced (the partial dump is {path})"
        )
    result.update(replaced=True, dump_before_restore=path)
    server.drop_database(target)


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:60] or "database"
