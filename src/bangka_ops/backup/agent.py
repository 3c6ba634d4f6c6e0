#!/usr/bin/python3 -Es
"""bangka-backup: the on-host backup wrapper of SI CEKAT.

Deployed by the ``borg_agent`` role to every server as ``/usr/local/sbin/bangka-backup``. Servers
do not reach PyPI, so this module uses only the Python standard library and Debian's ``borg``.
It invokes Borg exactly once per step (create, check, off-site create) and never walks the
sources twice.

Every run, whatever its outcome, leaves one summary record (JSON, schema
``bangka_ops/schemas/backup-run-record.v1.schema.json``) and the raw ``--log-json`` output of
each Borg step beside it, under ``<records_dir>/<policy>/``.

Exit codes: 0 success (also "covered" and "skipped"), 1 finished with warnings (``archives``: a
record was skipped, named on stderr), 2 failed, 64 usage or configuration error.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, BinaryIO, TextIO

# The audit writer and the notifications are modules of their own, installed beside this file in
# /usr/local/lib/bangka-backup/ (/usr/local/sbin/bangka-backup links here, so the script's
# directory is on sys.path); the tools beside it keep calling agent.audit(...) and
# agent.send_notifications(...), hence the names below.
try:
    from bangka_ops.backup import audit as audit_log
    from bangka_ops.backup import notify as notices
except ModuleNotFoundError:  # deployed as /usr/local/lib/bangka-backup/agent.py
    import audit as audit_log  # type: ignore[import-not-found, no-redef]
    import notify as notices  # type: ignore[import-not-found, no-redef]

AUDIT_ENV, AUDIT_LOG = audit_log.AUDIT_ENV, audit_log.AUDIT_LOG
audit, audit_cut, audit_path = audit_log.audit, audit_log.audit_cut, audit_log.audit_path
notify, send_notifications = notices.notify, notices.send_notifications
notify_problems = notices.problems

# The member of an archive that holds the run's database dumps (a tar stream, see dumpstream).
DATABASES_MEMBER = "bangka-databases.tar"


def database_module() -> Any:
    """The database dumps' module, imported only for policies that have databases (deployed
    beside this file with dumpstream.py by the borg_agent role)."""
    try:
        from bangka_ops.backup import databases
    except ModuleNotFoundError:
        import databases  # type: ignore[import-not-found, no-redef]
    return databases


RECORD_SCHEMA_VERSION = 1
DEFAULT_CONFIG = "/etc/bangka-backup/config.json"
CYCLES = ("daily", "weekly", "monthly")
# When cycles coincide on one day the larger one runs and covers the smaller ones.
CYCLE_RANK = {"daily": 0, "weekly": 1, "monthly": 2}
BACKUP_TYPE = {
    "daily": "incremental",
    "weekly": "full",
    "monthly": "archive",
}
EXIT_OK, EXIT_WARNING, EXIT_FAILED, EXIT_USAGE = 0, 1, 2, 64
EXIT_DATA = 1  # `archives`: a record that is not a run record was named and skipped
STATUS_EXIT = {
    "success": EXIT_OK,
    "covered": EXIT_OK,
    "skipped": EXIT_OK,
    "warning": EXIT_WARNING,
    "failed": EXIT_FAILED,
    "interrupted": EXIT_FAILED,
}
# Written first (after the host lock), removed once the run's record is written: a marker left
# alone means the wrapper never finished (killed, out of memory, reboot, power loss).
STARTED_SUFFIX = ".started.json"
# Borg msgids that mean "the repository is busy", not "the backup is broken".
LOCK_MSGIDS = {"LockTimeout", "LockFailed", "LockError"}
NO_REPOSITORY_MSGIDS = {
    "Repository.DoesNotExist",
    "Repository.InvalidRepository",
    "InvalidRepository",
}


class ConfigError(Exception):
    """The configuration file is unusable; the message names the file and the field."""


# --------------------------------------------------------------------------- configuration


def read_json_object(path: Path, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A JSON object from a file, or a ConfigError naming the file, the line or the field.
    Shared by the wrapper, the maintenance tool and the restore test for every file they read."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
    except RecursionError as exc:
        raise ConfigError(f"{path}: invalid JSON: nested too deeply") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be an object")
    for key in required:
        if key not in data:
            raise ConfigError(f"{path}: missing required field '{key}'")
    return data


def load_config(path: Path) -> dict[str, Any]:
    return check_config(read_json_object(path), path)


def check_config(config: dict[str, Any], path: Path) -> dict[str, Any]:
    """Validate a wrapper configuration (read from ``path``, named in every error)."""
    for key in ("host", "records_dir", "repository", "policies"):
        if key not in config:
            raise ConfigError(f"{path}: missing required field '{key}'")
    if not isinstance(config["policies"], dict) or not config["policies"]:
        raise ConfigError(f"{path}: 'policies' must be a non-empty object")
    for name, policy in config["policies"].items():
        where = f"{path}: policies.{name}"
        if not isinstance(policy, dict):
            raise ConfigError(f"{where}: must be an object")
        if not policy.get("sources"):
            raise ConfigError(f"{where}.sources: a policy needs at least one source path")
        if policy.get("databases"):
            found = database_module().problems(policy["databases"], f"{where}.databases")
            if found:
                raise ConfigError("; ".join(found))
        for cycle in policy.get("cycles", {}):
            if cycle not in CYCLES:
                raise ConfigError(
                    f"{where}.cycles.{cycle}: unknown cycle (allowed: {', '.join(CYCLES)})"
                )
    found = notify_problems(config.get("notify") or {}, f"{path}: notify")
    if found:
        raise ConfigError("; ".join(found))
    try:
        ZoneInfo(config.get("timezone", "Asia/Jakarta"))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"{path}: timezone: unknown time zone {config.get('timezone')!r}"
        ) from exc
    return config


def policy_of(config: dict[str, Any], name: str, source: Path) -> dict[str, Any]:
    try:
        policy: dict[str, Any] = config["policies"][name]
    except KeyError:
        known = ", ".join(sorted(config["policies"]))
        raise ConfigError(f"{source}: no policy named {name!r} (known: {known})") from None
    return policy


# --------------------------------------------------------------------------- naming and schedule


def archive_name(host: str, policy: str, cycle: str, when: dt.datetime) -> str:
    """``{host}-{policy}-{cycle}-{timestamp}``; policy names carry no dash, so it parses back."""
    return f"{host}-{policy}-{cycle}-{when.strftime('%Y-%m-%dT%H-%M-%S')}"


def parse_archive_name(name: str) -> dict[str, str] | None:
    """Split an archive name made by :func:`archive_name`; ``None`` for foreign archives."""
    parts = name.rsplit("-", 7)
    if len(parts) != 8:
        return None
    host, policy, cycle, *stamp_parts = parts
    stamp = "-".join(stamp_parts)
    if not host or not policy or cycle not in CYCLES:
        return None
    try:
        dt.datetime.strptime(stamp, "%Y-%m-%dT%H-%M-%S")
    except ValueError:
        return None
    return {"host": host, "policy": policy, "cycle": cycle, "timestamp": stamp}


def archive_name_time(name: str, tz: dt.tzinfo) -> dt.datetime | None:
    """The time in an archive name made by :func:`archive_name` (local time of ``tz``), or None
    for a foreign name."""
    parsed = parse_archive_name(name)
    if parsed is None:
        return None
    return dt.datetime.strptime(parsed["timestamp"], "%Y-%m-%dT%H-%M-%S").replace(tzinfo=tz)


def covering_cycle(policy: dict[str, Any], cycle: str, today: dt.date) -> str | None:
    """The larger cycle of this policy that is also scheduled today, if any."""
    cycles = policy.get("cycles", {})
    weekly, monthly = cycles.get("weekly"), cycles.get("monthly")
    if cycle == "daily" and weekly and today.isoweekday() == int(weekly.get("weekday", 7)):
        if monthly and today.day == int(monthly.get("day", 1)):
            return "monthly"
        return "weekly"
    if cycle in ("daily", "weekly") and monthly and today.day == int(monthly.get("day", 1)):
        return "monthly"
    return None


# --------------------------------------------------------------------------- content checks

HASH_CHUNK = 1024 * 1024


def sha256_of(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def same_mtime(borg_mtime: str, mtime_ns: int) -> bool:
    """Borg prints mtimes in local time with microseconds (rounded); compare to 2 us."""
    recorded = dt.datetime.fromisoformat(borg_mtime).timestamp()
    return abs(recorded - mtime_ns / 1e9) < 2e-6


def live_hashes(items: list[dict[str, Any]], root: Path) -> dict[str, str]:
    """SHA-256 of the live files under ``root`` that are unchanged since the archive (same size
    and mtime as Borg recorded): ``{archive path: sha256}``. Changed, missing or unreadable files
    are left out; they cannot be compared. Used by the restore test on the source host."""
    hashes: dict[str, str] = {}
    for item in items:
        live = root / item["path"]
        try:
            stat = live.stat()
            if stat.st_size == item["size"] and same_mtime(item["mtime"], stat.st_mtime_ns):
                hashes[item["path"]] = sha256_of(live)
        except (OSError, ValueError):
            continue
    return hashes


# --------------------------------------------------------------------------- borg invocation


class Borg:
    """Runs Borg with the secrets passed the safe way: the passphrase is read by Borg itself
    through ``BORG_PASSCOMMAND`` from a root-only file, never put on a command line or in the
    environment; SSH uses the host's own key and a pinned known_hosts file."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.binary: str = config.get("borg_binary", "borg")
        self.lock_wait = int(config.get("lock_wait_seconds", 600))
        ssh = config.get("ssh", {})
        self.rsh: str | None = None
        if ssh.get("key_file"):
            opts = [
                "ssh",
                "-i",
                ssh["key_file"],
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                f"ConnectTimeout={int(ssh.get('connect_timeout', 30))}",
                "-o",
                "ServerAliveInterval=30",
            ]
            if ssh.get("known_hosts_file"):
                opts += ["-o", f"UserKnownHostsFile={ssh['known_hosts_file']}"]
            self.rsh = shlex.join(opts)

    def env(self, repo: dict[str, Any]) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("BORG_") and k not in ("SSH_AUTH_SOCK",)
        }
        env.update(
            {
                "LANG": "C.UTF-8",
                "LC_ALL": "C.UTF-8",
                "BORG_PASSCOMMAND": shlex.join(["cat", repo["passphrase_file"]]),
                "BORG_RELOCATED_REPO_ACCESS_IS_OK": "no",
                "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "no",
                "BORG_CHECK_I_KNOW_WHAT_I_AM_DOING": "NO",
                "BORG_DELETE_I_KNOW_WHAT_I_AM_DOING": "NO",
            }
        )
        if repo.get("base_dir"):
            env["BORG_BASE_DIR"] = repo["base_dir"]
        if self.rsh and "://" in repo["location"]:
            env["BORG_RSH"] = self.rsh
        return env

    def run(
        self,
        args: list[str],
        repo: dict[str, Any],
        log: TextIO,
        *,
        stdout_json: bool = False,
        stdout_lines: bool = False,
        cwd: Path | None = None,
        on_line: Callable[[str], None] | None = None,
        on_start: Callable[[subprocess.Popen[str]], None] | None = None,
        stdin_writer: Callable[[BinaryIO], None] | None = None,
    ) -> StepResult:
        """Run Borg; ``on_start`` receives the process (to stop it from another thread);
        ``stdin_writer`` writes Borg's standard input on a thread (a create with ``-``)."""
        argv = [self.binary, *args]
        started = time.monotonic()
        stdin: int = subprocess.DEVNULL
        write_end = None
        if stdin_writer is not None:
            # A pipe of its own: Borg's other streams are text, this one is bytes.
            stdin, write_end = os.pipe()
        try:
            proc = self.start(argv, repo, stdin, cwd)
        except BaseException:
            if write_end is not None:
                os.close(stdin)
                os.close(write_end)
            raise
        feeding: list[str] = []
        feeder = None
        if stdin_writer is not None and write_end is not None:
            os.close(stdin)
            feeder = threading.Thread(
                target=feed, args=(stdin_writer, write_end, feeding), daemon=True
            )
            feeder.start()
        if on_start is not None:
            on_start(proc)
        try:
            step = self.follow(
                proc,
                argv,
                log,
                started=started,
                stdout_json=stdout_json,
                stdout_lines=stdout_lines,
                on_line=on_line,
            )
        except BaseException:
            # Ctrl-C, or the log could not be written: Borg stops (its standard input breaks,
            # so the writer stops too) and the error goes on.
            proc.terminate()
            proc.wait()
            raise
        finally:
            if feeder is not None:
                feeder.join()
        if feeding:
            step.stream_error = feeding[0]
        return step

    def start(
        self, argv: list[str], repo: dict[str, Any], stdin: int, cwd: Path | None
    ) -> subprocess.Popen[str]:
        return subprocess.Popen(
            argv,
            env=self.env(repo),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            cwd=cwd,
            # Its own session: a Ctrl-C at the terminal must not reach Borg, which answers
            # SIGINT with a checkpoint archive it later deletes (a "deleted" finding for the
            # admin). An interrupted run stops Borg with SIGTERM instead (below).
            start_new_session=True,
        )

    @staticmethod
    def follow(
        proc: subprocess.Popen[str],
        argv: list[str],
        log: TextIO,
        *,
        started: float,
        stdout_json: bool,
        stdout_lines: bool,
        on_line: Callable[[str], None] | None,
    ) -> StepResult:
        step = StepResult(command=shorten_long_args(argv))
        assert proc.stderr is not None and proc.stdout is not None  # noqa: S101 (Popen contract)
        # stdout (the --json summary) is read on a thread so neither pipe can fill up and block
        # Borg; stderr (--log-json lines) is streamed to the log as it comes.
        stdout_chunks: list[str] = []
        reader = threading.Thread(target=lambda: stdout_chunks.append(proc.stdout.read()))  # type: ignore[union-attr]
        reader.start()
        for line in proc.stderr:
            log.write(line)
            step.observe(line)
            if on_line is not None:
                on_line(line)
        reader.join()
        stdout_data = "".join(stdout_chunks)
        step.returncode = proc.wait()
        step.duration = round(time.monotonic() - started, 3)
        if stdout_lines:
            step.lines = stdout_data.splitlines()
        if stdout_json and stdout_data.strip():
            try:
                step.output = json.loads(stdout_data)
            except (json.JSONDecodeError, RecursionError):  # RecursionError: too deep
                step.warnings.append("borg printed output that is not JSON")
        log.flush()
        return step


def feed(writer: Callable[[BinaryIO], None], fd: int, errors: list[str]) -> None:
    """Run ``writer`` on the write end of Borg's standard input, then close it (Borg sees the
    end); a broken pipe (Borg gone) or the writer's own failure is kept in ``errors``."""
    try:
        with os.fdopen(fd, "wb") as out:
            writer(out)
    except OSError as exc:
        errors.append(f"the stream to Borg broke: {exc}")
    except Exception as exc:
        errors.append(f"the stream to Borg failed: {type(exc).__name__}: {exc}")


def shorten_long_args(argv: list[str]) -> list[str]:
    """Keep very long arguments short in the record. (Nothing to redact: secrets never reach
    an argument list; the passphrase goes through BORG_PASSCOMMAND.)"""
    return [a if len(a) < 500 else a[:497] + "..." for a in argv]


CONNECTION_MSGIDS = {"ConnectionClosed", "ConnectionClosedWithHint"}


class StepResult:
    """What one Borg invocation did: exit code, msgids, warnings and errors from --log-json."""

    def __init__(self, command: list[str]) -> None:
        self.command = command
        self.returncode: int | None = None
        self.duration = 0.0
        self.msgids: list[str] = []
        self.warnings: list[str] = []
        self.errors: list[str] = []
        self.output: dict[str, Any] | None = None
        self.lines: list[str] = []
        # A create with databases: each dump's outcome, and why the stream to Borg broke.
        self.databases: list[dict[str, Any]] | None = None
        self.stream_error: str | None = None

    def observe(self, line: str) -> None:
        try:
            event = json.loads(line)
        except (json.JSONDecodeError, RecursionError):  # RecursionError: nested too deeply
            text = line.strip()
            if text:
                self.warnings.append(text[:500])
            return
        if not isinstance(event, dict) or event.get("type") != "log_message":
            return
        msgid = event.get("msgid")
        if msgid and msgid not in self.msgids:
            self.msgids.append(str(msgid))
        level = event.get("levelname")
        message = str(event.get("message", ""))[:500]
        if level == "WARNING":
            self.warnings.append(message)
        elif level in ("ERROR", "CRITICAL"):
            self.errors.append(message)

    @property
    def status(self) -> str:
        if self.returncode == 0:
            return "success"
        if self.returncode == 1:
            return "warning"
        if LOCK_MSGIDS & set(self.msgids):
            return "skipped"
        return "failed"

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "exit_code": self.returncode,
            "status": self.status,
            "duration_seconds": self.duration,
            "msgids": self.msgids,
            "warnings": self.warnings[:50],
            "errors": self.errors[:50],
        }


# --------------------------------------------------------------------------- records


def now_in(tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.now(tz).replace(microsecond=0)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o640)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def host_lock(path: Path, wait_seconds: int) -> Iterator[bool]:
    """One backup run at a time per host. Yields False when the lock was not had in time."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    with open(path, "a", encoding="utf-8") as handle:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(1)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- transport

NETWORK_FILESYSTEMS = {
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "fuse.sshfs",
    "9p",
    "glusterfs",
    "ceph",
    "fuse.rclone",
    "fuse.s3fs",
    "davfs",
    "fuse.davfs2",
    "afs",
    "lustre",
}


def network_mount(location: str, mounts: str | None = None) -> str | None:
    """For a repository that is a local path: the network file system it is on ("nfs4 at
    /mnt/backup"), or None. ``ssh://`` repositories travel over SSH and are never reported."""
    if "://" in location or ":" in location.split("/", maxsplit=1)[0]:  # ssh:// or host:path
        return None
    path = os.path.abspath(location)
    if mounts is None:
        try:
            mounts = Path("/proc/self/mounts").read_text(encoding="utf-8")
        except OSError:
            return None
    best: tuple[int, str, str] | None = None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) > best[0]):
            best = (len(point), point, fields[2])
    if best and best[2] in NETWORK_FILESYSTEMS:
        return f"{best[2]} at {best[1]}"
    return None


# --------------------------------------------------------------------------- the run


class Run:
    """One scheduled or on-demand run of one policy and cycle."""

    def __init__(self, config: dict[str, Any], policy_name: str, cycle: str, config_path: Path):
        self.config = config
        self.policy_name = policy_name
        self.policy = policy_of(config, policy_name, config_path)
        if cycle not in CYCLES:
            raise ConfigError(f"unknown cycle {cycle!r} (allowed: {', '.join(CYCLES)})")
        if cycle not in self.policy.get("cycles", {}):
            raise ConfigError(
                f"{config_path}: policies.{policy_name}.cycles: cycle {cycle!r} is not enabled"
            )
        self.cycle = cycle
        self.tz = ZoneInfo(config.get("timezone", "Asia/Jakarta"))
        self.borg = Borg(config)
        self.records_dir = Path(config["records_dir"]) / policy_name
        self.state_dir = state_dir_of(config)
        self.clock_start = time.monotonic()
        self.name_run(now_in(self.tz))
        self.steps: dict[str, dict[str, Any]] = {}
        self.reasons: list[str] = []

    def name_run(self, started: dt.datetime) -> None:
        self.started = started
        self.archive = archive_name(self.config["host"], self.policy_name, self.cycle, started)
        self.record_path = self.records_dir / f"{self.archive}.json"
        self.log_path = self.records_dir / f"{self.archive}.log.jsonl"
        self.marker_path = self.records_dir / f"{self.archive}{STARTED_SUFFIX}"

    def claim_unique_name(self) -> None:
        """Archive names carry seconds; two runs of one policy and cycle in the same second
        (on demand) would collide. Under the host lock, move to the next second if needed."""
        last_file = self.state_dir / "last-archive-name"
        last = last_file.read_text(encoding="utf-8").strip() if last_file.exists() else ""
        while self.archive == last:
            time.sleep(1.0 - dt.datetime.now(self.tz).microsecond / 1e6)
            self.name_run(now_in(self.tz))
        last_file.write_text(self.archive + "\n", encoding="utf-8")

    def is_schedule_day(self) -> bool:
        settings = self.policy["cycles"].get(self.cycle) or {}
        today = self.started.date()
        if self.cycle == "weekly":
            return today.isoweekday() == int(settings.get("weekday", 7))
        if self.cycle == "monthly":
            return today.day == int(settings.get("day", 1))
        return True

    def base_record(self) -> dict[str, Any]:
        repo = self.config["repository"]
        return {
            "schema_version": RECORD_SCHEMA_VERSION,
            "kind": "backup_run",
            "host": self.config["host"],
            "policy": self.policy_name,
            "category": self.policy.get("category", "standard"),
            "cycle": self.cycle,
            "backup_type": BACKUP_TYPE[self.cycle],
            "archive": self.archive,
            "repository": repo["location"],
            "offsite_repository": (self.config.get("offsite_repository") or {}).get("location"),
            "rpo_hours": self.policy.get("rpo_hours"),
            "rto_hours": self.policy.get("rto_hours"),
            "start": self.started.isoformat(),
            "trigger": "on-demand" if self.on_demand else "schedule",
            "record_path": str(self.record_path),
            "log_path": str(self.log_path),
        }

    def execute(self, on_demand: bool) -> tuple[int, dict[str, Any]]:
        self.on_demand = on_demand
        record = self.base_record()
        covering = (
            None if on_demand else covering_cycle(self.policy, self.cycle, self.started.date())
        )
        if covering:
            record.update(status="covered", covered_by=covering, exit_code=0)
            record["reason"] = f"covered by the {covering} cycle scheduled the same day"
            return self.finish(record)
        with host_lock(self.state_dir / "run.lock", self.borg.lock_wait) as locked:
            if not locked:
                record.update(status="skipped", skipped="locked", exit_code=None)
                record["reason"] = (
                    f"another backup run held the host lock for {self.borg.lock_wait} s"
                )
                return self.finish(record)
            self.claim_unique_name()
            record.update(self.base_record())
            mounted = network_mount(str(self.config["repository"]["location"]))
            if mounted and not self.config["repository"].get("allow_network_mount"):
                record.update(status="failed", exit_code=None)
                record["reason"] = (
                    f"the repository is on a network file system ({mounted}): Borg's data would "
                    "travel unencrypted by SSH; use an ssh:// repository on the repository server "
                    "(or set allow_network_mount if this mount is encrypted in transit)"
                )
                return self.finish(record)
            self.records_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
            reap_interrupted(self.config)
            write_json_atomic(
                self.marker_path,
                {**self.base_record(), "kind": "backup_started", "status": "running"},
            )
            with open(self.log_path, "w", encoding="utf-8") as log:
                os.chmod(self.log_path, 0o640)
                status = self.backup(record, log)
            record["status"] = status
            # Still under the host lock: a run waiting for it (or `reap`) must not take this
            # run's marker for a dead run's while its record is being written.
            return self.finish(record)

    def backup(self, record: dict[str, Any], log: TextIO) -> str:
        if not self.hooks("pre_hooks", record):
            return "failed"
        create = self.create(self.config["repository"], log)
        self.steps["create"] = create.as_dict()
        record["exit_code"] = create.returncode
        record["msgids"] = list(create.msgids)
        record["warnings"] = list(create.warnings)
        if create.output:
            record["borg"] = {
                k: create.output.get(k) for k in ("archive", "repository", "encryption", "cache")
            }
            record["archive_stats"] = (create.output.get("archive") or {}).get("stats")
        databases = self.database_results(create, record)
        # The marker learns what borg create did: a run cut off later (checks, off-site copy,
        # hooks) still announces the archive it made, with its sizes.
        write_json_atomic(
            self.marker_path,
            {**record, "steps": self.steps, "kind": "backup_started", "status": "running"},
        )
        status = create.status
        if status == "skipped":
            record["skipped"] = "locked"
            self.reasons.append("the repository was locked by another client or admin job")
        elif status == "failed":
            self.reasons.append(self.explain(create, "borg create"))
        if status in ("success", "warning"):
            status = self.worst(status, databases)
            status = self.worst(status, self.verify(log, record))
            status = self.worst(status, self.offsite(log, record))
        if not self.hooks("post_hooks", record):
            status = self.worst(status, "warning")
        return status

    def create(self, repo: dict[str, Any], log: TextIO) -> StepResult:
        policy = self.policy
        args = [
            "create",
            "--json",
            "--log-json",
            "--lock-wait",
            str(self.borg.lock_wait),
            "--compression",
            policy.get("compression", "zstd,3"),
            "--exclude-caches",
            # No checkpoint archives: each would be deleted again by this same run, and the
            # admin treats any delete in a client's repository as tampering (segments.py).
            "--checkpoint-interval",
            "0",
        ]
        if policy.get("one_file_system", True):
            args.append("--one-file-system")
        for pattern in policy.get("exclude_patterns", []):
            args += ["--exclude", pattern]
        if self.cycle == "weekly":
            # A full backup: re-read and re-chunk every file so a stale files cache cannot hide a
            # change (mtime/size/inode unchanged but content changed).
            args.append("--files-cache=disabled")
        entries = policy.get("databases") or []
        if not entries:
            args += [f"{repo['location']}::{self.archive}", *policy["sources"]]
            return self.borg.run(args, repo, log, stdout_json=True)
        # The databases' dumps go to Borg's standard input as one tar stream, read first (so
        # they are taken at the start of the run), in this same archive: one run, one archive,
        # and no dump ever written to disk whole.
        dumps = database_module()
        outcomes: list[dict[str, Any]] = []

        def write(out: BinaryIO) -> None:
            dumps.write_stream(out, entries, outcomes)  # outcomes kept as each dump ends

        args += ["--stdin-name", DATABASES_MEMBER, "--stdin-mode", "0600"]
        args += [f"{repo['location']}::{self.archive}", "-", *policy["sources"]]
        step = self.borg.run(args, repo, log, stdout_json=True, stdin_writer=write)
        step.databases = outcomes
        return step

    def database_results(self, step: StepResult, where: dict[str, Any]) -> str:
        """What the databases' dumps of ``step`` (a create) make of the run: ``failed`` if any
        dump failed or the stream broke (the archive holds a cut or failed dump; its record
        and the stream's own status.json say which), else ``success``. When Borg itself
        failed, its reason comes first and the dumps it cut off are only listed."""
        if step.databases is None:
            return "success"
        dumps = database_module()
        where["databases"] = step.databases
        names = dumps.failed_names(step.databases)
        borg_failed = step.status in ("failed", "skipped")
        if not borg_failed:
            for dump, name in zip(
                (d for d in step.databases if d.get("status") != "success"), names, strict=True
            ):
                self.reasons.append(
                    f"database dump failed: {dump.get('type')} {name}: "
                    f"{dump.get('reason', 'failed')}"
                )
            if step.stream_error:
                self.reasons.append(f"database dumps: {step.stream_error}")
        if step.stream_error:
            names.append("(stream)")
        where["database_dumps_failed"] = names  # [] when every dump succeeded
        return "failed" if names else "success"

    def verify(self, log: TextIO, record: dict[str, Any]) -> str:
        repo = self.config["repository"]
        args: list[str] | None = None
        if self.cycle == "weekly":
            args = [
                "check",
                "--repository-only",
                "--log-json",
                "--lock-wait",
                str(self.borg.lock_wait),
            ]
            max_duration = int(self.policy.get("check_max_duration_seconds", 0))
            if max_duration:
                args += ["--max-duration", str(max_duration)]
        elif self.cycle == "monthly":
            args = ["check", "--verify-data", "--log-json", "--lock-wait", str(self.borg.lock_wait)]
            if self.policy.get("monthly_verify_scope", "archive") == "archive":
                # Large repositories: --verify-data cannot be time-boxed in Borg 1.x, so read back
                # only this month's archive (plus the repository check); the weekly time-boxed
                # --repository-only checks cover the rest.
                args += ["--glob-archives", self.archive]
        if args is None:
            record["borg_check"] = {"status": "not-scheduled"}
            return "success"
        step = self.borg.run([*args, repo["location"]], repo, log)
        self.steps["check"] = step.as_dict()
        record["borg_check"] = {
            "status": "passed" if step.returncode == 0 else "failed",
            "mode": "repository-only" if self.cycle == "weekly" else "verify-data",
            "duration_seconds": step.duration,
        }
        if step.returncode != 0:
            self.reasons.append(self.explain(step, "borg check"))
            return "failed"
        return "success"

    def offsite(self, log: TextIO, record: dict[str, Any]) -> str:
        repo = self.config.get("offsite_repository")
        if self.cycle != "monthly" or not repo or not self.policy.get("offsite", True):
            return "success"
        # An independent second repository with its own key, written by its own borg create
        # (never a copy of the primary repository's directory).
        step = self.create(repo, log)  # the databases are dumped again for it
        self.steps["offsite_create"] = step.as_dict()
        record["offsite"] = {
            "repository": repo["location"],
            "status": step.status,
            "exit_code": step.returncode,
            "stats": ((step.output or {}).get("archive") or {}).get("stats"),
        }
        if step.status in ("failed", "skipped"):
            self.reasons.append(self.explain(step, "off-site borg create"))
            return "failed"
        status = self.worst(step.status, self.database_results(step, record["offsite"]))
        record["offsite"]["status"] = status
        return status

    def hooks(self, which: str, record: dict[str, Any]) -> bool:
        results = []
        ok = True
        for command in self.policy.get(which, []):
            started = time.monotonic()
            try:
                proc = subprocess.run(
                    ["/bin/sh", "-c", command],
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=int(self.policy.get("hook_timeout_seconds", 3600)),
                    check=False,
                    env={
                        **os.environ,
                        "BANGKA_BACKUP_POLICY": self.policy_name,
                        "BANGKA_BACKUP_CYCLE": self.cycle,
                        "BANGKA_BACKUP_ARCHIVE": self.archive,
                    },
                )
                rc: int | None = proc.returncode
                tail = (proc.stderr or proc.stdout)[-500:]
            except subprocess.TimeoutExpired:
                rc, tail = None, "timed out"
            results.append(
                {
                    "command": command,
                    "exit_code": rc,
                    "duration_seconds": round(time.monotonic() - started, 3),
                    "output_tail": tail,
                }
            )
            if rc != 0:
                ok = False
                self.reasons.append(
                    f"{which[:-1].replace('_', '-')} {command!r} failed: {tail.strip()}"
                )
                break
        if results:
            record[which] = results
        return ok

    @staticmethod
    def explain(step: StepResult, what: str) -> str:
        if step.returncode is not None and step.returncode < 0:  # Popen: killed by a signal
            return f"{what} was killed by signal {-step.returncode}"
        if step.returncode is not None and step.returncode >= 128:  # through a shell
            return f"{what} was killed by signal {step.returncode - 128}"
        errors = step.errors[-3:]
        if CONNECTION_MSGIDS & set(step.msgids):
            # Borg's own line ("Connection closed by remote host. Is borg working on the
            # server?") is a hint; the cause is what ssh said, relayed as "Remote: ..."
            # warnings (connection refused, unknown host, a refused key): first.
            remote = [w.removeprefix("Remote: ") for w in step.warnings if w.startswith("Remote: ")]
            errors = [*remote[:3], *errors]
        detail = "; ".join(errors) or "no message"
        ids = f" [{', '.join(step.msgids)}]" if step.msgids else ""
        return f"{what} exited with {step.returncode}{ids}: {detail}"

    @staticmethod
    def worst(a: str, b: str) -> str:
        order = ["success", "warning", "skipped", "failed"]
        return max(a, b, key=order.index)

    def finish(self, record: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        end = now_in(self.tz)
        record["end"] = end.isoformat()
        # Measured, not derived from the second-resolution start/end stamps (KPI: backup time).
        record["duration_seconds"] = round(time.monotonic() - self.clock_start, 3)
        record["steps"] = self.steps
        if self.reasons and not record.get("reason"):
            record["reason"] = " | ".join(self.reasons)
        if record["status"] == "warning" and not record.get("reason"):
            record["reason"] = "; ".join(record.get("warnings", [])[:3]) or "borg reported warnings"
        record.setdefault("exit_code", None)
        record.setdefault("msgids", [])
        record.setdefault("warnings", [])
        if not self.log_path.exists():
            record["log_path"] = None
        record["notifications"] = notify(self.config, record)
        write_json_atomic(self.record_path, record)
        self.marker_path.unlink(missing_ok=True)
        host = str(self.config["host"])
        where = {"archive": record.get("archive"), "record": str(self.record_path)}
        audit("backup", f"{self.cycle} {self.policy_name}", record["status"], host=host, **where)
        check = (record.get("borg_check") or {}).get("status")
        if check in ("passed", "failed"):
            mode = record["borg_check"].get("mode")
            audit("check", f"{mode} {self.policy_name}", check, host=host, **where)
        return STATUS_EXIT[record["status"]], record


def state_dir_of(config: dict[str, Any]) -> Path:
    """Where the wrapper keeps its lock and last archive name."""
    return Path(config.get("state_dir", "/var/lib/bangka-backup"))


def reap_interrupted(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Turn every start marker left without its run record into the record of an
    ``interrupted`` run: started at the marker's time, last seen alive when its log (or the
    marker) was last written, notified like a failure. Call with the host lock held, so no
    marker of a run still going is touched."""
    root = Path(config["records_dir"])
    written = []
    for marker in sorted(root.glob(f"*/*{STARTED_SUFFIX}")):
        stem = marker.name[: -len(STARTED_SUFFIX)]
        record_path = marker.with_name(f"{stem}.json")
        if record_path.exists():  # the record was written; the marker's removal was not
            marker.unlink(missing_ok=True)
            continue
        try:
            started = read_json_object(marker, ("archive", "start", "policy", "cycle", "host"))
            start = dt.datetime.fromisoformat(str(started["start"]))
        except (ConfigError, ValueError) as exc:
            print(f"bangka-backup: start marker skipped: {exc}", file=sys.stderr)
            continue
        log_path = marker.with_name(f"{stem}.log.jsonl")
        alive = max(
            (p.stat().st_mtime for p in (marker, log_path) if p.exists()), default=time.time()
        )
        end = dt.datetime.fromtimestamp(max(alive, start.timestamp()), start.tzinfo)
        record = {key: value for key, value in started.items() if key not in ("kind", "status")}
        for key, empty in (("exit_code", None), ("msgids", []), ("warnings", []), ("steps", {})):
            record.setdefault(key, empty)
        created = ((record["steps"] or {}).get("create") or {}).get("exit_code") in (0, 1)
        record.update(
            kind="backup_run",
            status="interrupted",
            end=end.isoformat(),
            duration_seconds=round((end - start).total_seconds(), 3),
            record_path=str(record_path),
            log_path=str(log_path) if log_path.exists() else None,
            reason=(
                f"started {start.isoformat()} and never finished: the wrapper was stopped "
                "(killed, out of memory, reboot or power loss) before it wrote its record"
                + (
                    " (borg create had finished: the archive exists, its checks, off-site "
                    "copy or hooks did not run to the end)"
                    if created
                    else ""
                )
                + f"; last sign of life {end.isoformat()}"
            ),
        )
        record["notifications"] = notify(config, record)
        write_json_atomic(record_path, record)
        marker.unlink(missing_ok=True)
        audit(
            "backup",
            f"{record['cycle']} {record['policy']}",
            "interrupted",
            host=str(config["host"]),
            archive=record["archive"],
            record=str(record_path),
        )
        written.append(record)
    return written


def cmd_reap(config: dict[str, Any], args: argparse.Namespace) -> int:
    """Write the records of interrupted runs now (collect_records.yml calls this before it
    packs), unless a run holds the host lock: then that run does it when it starts."""
    with host_lock(state_dir_of(config) / "run.lock", 0) as locked:
        reaped = reap_interrupted(config) if locked else []
    print(
        json.dumps({"locked_by_a_run": not locked, "interrupted": [r["archive"] for r in reaped]})
    )
    return EXIT_OK


# --------------------------------------------------------------------------- repository set-up


def ensure_repository(config: dict[str, Any], which: str) -> dict[str, Any]:
    """Initialise the repository with repokey-blake2 unless it exists. Idempotent."""
    repo = config.get(which)
    if not repo:
        return {"repository": which, "changed": False, "configured": False}
    import tempfile

    borg = Borg(config)
    with tempfile.TemporaryFile("w+", encoding="utf-8") as log:
        info = borg.run(["info", "--json", "--log-json", repo["location"]], repo, log)
        if info.returncode == 0:
            return {"repository": repo["location"], "changed": False, "configured": True}
        # An empty directory made by the server role reads as "not a valid repository"; init
        # refuses a directory that has content, so this never overwrites anything.
        if not NO_REPOSITORY_MSGIDS & set(info.msgids):
            raise RuntimeError(Run.explain(info, f"borg info {repo['location']}"))
        args = ["init", "--log-json", "--encryption", repo.get("encryption", "repokey-blake2")]
        if repo.get("make_parent_dirs"):
            args.append("--make-parent-dirs")
        init = borg.run([*args, repo["location"]], repo, log)
        if init.returncode != 0:
            raise RuntimeError(Run.explain(init, f"borg init {repo['location']}"))
    return {"repository": repo["location"], "changed": True, "configured": True}


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bangka-backup",
        description="SI CEKAT backup wrapper: one Borg run per step, one record per run.",
    )
    parser.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG))
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one cycle of one policy and write its record")
    run.add_argument("--policy", required=True)
    run.add_argument("--cycle", required=True, choices=CYCLES)
    run.add_argument(
        "--only-on-schedule-day",
        action="store_true",
        help="exit quietly unless today (in the policy's time zone) is this cycle's day; cron, "
        "which knows no time zones, fires every cycle daily with this flag",
    )
    run.add_argument(
        "--on-demand",
        action="store_true",
        help="run even when a larger cycle is scheduled today (backup_now.yml uses this)",
    )
    sub.add_parser("init", help="initialise the repositories (idempotent); prints JSON")
    export = sub.add_parser("key-export", help="print the repository key (for key escrow)")
    export.add_argument("--offsite", action="store_true")
    sub.add_parser("validate", help="check the configuration file and exit")
    sub.add_parser(
        "reap",
        help="write an 'interrupted' record for every run that started and never finished "
        "(a start marker without its record); skipped while a run holds the host lock",
    )
    sub.add_parser(
        "archives",
        help="print, as JSON, the archives this host's run records say were created "
        "(the admin's tamper check compares them with the repository)",
    )
    passthrough = sub.add_parser(
        "borg",
        help="run any borg command against this host's repository with its key and SSH settings "
        "(BORG_REPO is set, so '::ARCHIVE' works); e.g. bangka-backup borg list --short",
    )
    passthrough.add_argument("--offsite", action="store_true")
    passthrough.add_argument("borg_args", nargs=argparse.REMAINDER)
    cut = sub.add_parser(
        "audit-cut",
        help="copy the audit log lines written since the given offsets into new chunk files "
        "(what collect_records.yml forwards to the admin host); prints the new offsets as JSON",
    )
    cut.add_argument(
        "--offsets",
        default="{}",
        help='JSON {"audit.jsonl": {"inode": N, "offset": bytes already sent}}',
    )
    cut.add_argument("--out", type=Path, required=True, help="directory for the chunk files")
    args = parser.parse_args(argv)

    os.umask(0o027)
    if args.command == "audit-cut":  # needs no backup configuration (any host keeps a log)
        return audit_log.cmd_audit_cut(args)
    handlers = {
        "validate": cmd_validate,
        "init": cmd_init,
        "key-export": cmd_key_export,
        "run": cmd_run,
        "borg": cmd_borg,
        "archives": cmd_archives,
        "reap": cmd_reap,
    }
    try:
        config = load_config(args.config)
        return handlers[args.command](config, args)
    except ConfigError as exc:
        print(f"bangka-backup: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RuntimeError as exc:
        print(f"bangka-backup: {exc}", file=sys.stderr)
        return EXIT_FAILED


def cmd_validate(config: dict[str, Any], args: argparse.Namespace) -> int:
    print(f"{args.config}: ok ({len(config['policies'])} policies)")
    return EXIT_OK


def cmd_init(config: dict[str, Any], args: argparse.Namespace) -> int:
    results = [ensure_repository(config, "repository")]
    results.append(ensure_repository(config, "offsite_repository"))
    print(json.dumps({"changed": any(r["changed"] for r in results), "results": results}))
    return EXIT_OK


def created_archives(records_dir: Path, problems: list[str]) -> Iterator[dict[str, Any]]:
    """Archives that run records say exist: borg create finished (exit 0 or 1) in that run.
    A record that cannot be read as a run record (not JSON, not an object, no archive name) is
    named in ``problems`` and skipped."""
    for path in sorted(records_dir.glob("*/*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append(f"{path}: unreadable ({type(exc).__name__}: {exc})")
            continue
        except RecursionError:
            problems.append(f"{path}: unreadable (invalid JSON: nested too deeply)")
            continue
        if not isinstance(record, dict):
            problems.append(f"{path}: not a run record (a JSON {type(record).__name__})")
            continue
        if not isinstance(record.get("archive"), str) or not record["archive"]:
            problems.append(f"{path}: archive: missing or not a name")
            continue
        steps = record.get("steps") or {}
        if not isinstance(steps, dict) or not isinstance(steps.get("create") or {}, dict):
            problems.append(f"{path}: steps.create: not an object")
            continue
        create = steps.get("create") or {}
        if create.get("exit_code") in (0, 1):
            found = {"archive": record["archive"], "end": record.get("end"), "record": str(path)}
            failed = record.get("database_dumps_failed")
            if isinstance(failed, list) and failed:
                # Marked: restore tests and emergency restores skip it unless told.
                found["database_dumps_failed"] = [str(name) for name in failed][:50]
            yield found


def cmd_archives(config: dict[str, Any], args: argparse.Namespace) -> int:
    problems: list[str] = []
    archives = list(created_archives(Path(config["records_dir"]), problems))
    report = {
        "host": config["host"],
        "repository": config["repository"]["location"],
        "archives": archives,
    }
    print(json.dumps(report, indent=1))
    for problem in problems:
        print(f"bangka-backup archives: skipped {problem}", file=sys.stderr)
    return EXIT_DATA if problems else EXIT_OK


def selected_repository(config: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    repo: dict[str, Any] | None = config.get("offsite_repository" if args.offsite else "repository")
    if not repo:
        raise ConfigError(f"{args.config}: no off-site repository configured")
    return repo


def cmd_borg(config: dict[str, Any], args: argparse.Namespace) -> int:
    repo = selected_repository(config, args)
    borg = Borg(config)
    borg_args = args.borg_args[1:] if args.borg_args[:1] == ["--"] else args.borg_args
    if not borg_args:
        raise ConfigError("borg: give the borg command to run, e.g. 'list --short'")
    if borg_args[0] == "create" and not any(
        a == "-c" or a.startswith("--checkpoint-interval") for a in borg_args
    ):
        # As the wrapper's own backups: no checkpoint archives (see the create step of a run).
        borg_args = ["create", "--checkpoint-interval", "0", *borg_args[1:]]
    env = {**borg.env(repo), "BORG_REPO": repo["location"]}
    return subprocess.run([borg.binary, *borg_args], env=env, check=False).returncode


def cmd_key_export(config: dict[str, Any], args: argparse.Namespace) -> int:
    repo = selected_repository(config, args)
    borg = Borg(config)
    proc = subprocess.run(
        [borg.binary, "key", "export", repo["location"]],
        env=borg.env(repo),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        print(proc.stderr.strip(), file=sys.stderr)
        audit("key_export", repo["location"], "failed", host=str(config["host"]))
        return EXIT_FAILED
    sys.stdout.write(proc.stdout)
    audit("key_export", repo["location"], "ok", host=str(config["host"]))
    return EXIT_OK


def cmd_run(config: dict[str, Any], args: argparse.Namespace) -> int:
    run = Run(config, args.policy, args.cycle, args.config)
    if args.only_on_schedule_day and not run.is_schedule_day():
        return EXIT_OK
    code, record = run.execute(args.on_demand)
    reason = f" ({record['reason']})" if record.get("reason") else ""
    print(f"{record['status']}: {record['archive']}{reason}")
    print(f"record: {record['record_path']}")
    return code


if __name__ == "__main__":
    sys.exit(main())
