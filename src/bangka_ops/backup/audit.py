"""The host's audit log: one JSON line per action (who, what, when, where, result).

Standard library only. Installed beside ``agent.py`` (``/usr/local/lib/bangka-backup/``), which
imports it as a sibling module, and part of the ``bangka_ops`` package.

* :func:`audit` appends one line to ``/var/log/bangka-ops/audit.jsonl`` (or ``$BANGKA_AUDIT_LOG``)
  with ``O_APPEND`` in one write, so the roles can make the file append-only (``chattr +a``).
* :func:`audit_cut` copies the lines written since the previous collection into new chunk files
  (``bangka-backup audit-cut``, run by ``playbooks/collect_records.yml``).
* :func:`forward_spool` is the root side of an audit trail written by an unprivileged account
  (the agenda job runs as ``protocloud``): the account appends to a spool it owns, and root moves
  the valid lines into the root-owned log with the host and actor root knows, never the ones the
  spool claims; a malformed line is kept in a rejects file and named. Run as
  ``python3 -m bangka_ops.backup.audit forward ...`` by the ``agenda_sync`` role's unit
  (``ExecStopPost=+``) and its root wrapper (hosts without systemd).
"""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import fcntl
import json
import os
import pwd
import re
import stat
import sys
import time
from pathlib import Path
from typing import Any

AUDIT_LOG = Path("/var/log/bangka-ops/audit.jsonl")
AUDIT_ENV = "BANGKA_AUDIT_LOG"
EXIT_OK, EXIT_DATA, EXIT_USAGE = 0, 1, 64
# A writer waits this long for a lock held by the forwarder (or a reader), then writes anyway:
# a line is whole either way (O_APPEND, one write), and the audit never blocks the work.
WRITE_LOCK_SECONDS = 5.0
FORWARD_LOCK_SECONDS = 10.0
# Bounds on what root reads from a file an unprivileged account controls.
MAX_LINE_BYTES = 64 * 1024
# The job writes a few KB a run and is forwarded after every run: a bigger spool is not the job's
# and is refused unread (recorded), never loaded into root's memory or copied into /var/log.
MAX_SPOOL_BYTES = 4 * 1024 * 1024
# At most this many rejected lines are kept and named per run (the rest are counted in one line),
# and of each only this many bytes (its SHA-256 and size cover the whole line).
MAX_REJECTED_LINES = 100
KEPT_LINE_BYTES = 4096
LINE_KEYS = {"time", "host", "actor", "kind", "action", "result", "details"}
KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# Lines of this kind are written by the forwarder only; a spool cannot claim to be it.
FORWARDER_KIND = "audit_spool"


def audit_path() -> Path:
    return Path(os.environ.get(AUDIT_ENV) or AUDIT_LOG)


def audit_actor(actor: str | None = None) -> str:
    if actor:
        return actor
    for name in ("SUDO_USER", "USER", "LOGNAME"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return f"uid:{os.getuid()}"


_AUDIT_HOST: list[str] = []


def audit_host() -> str:
    """This host's name for audit lines, looked up once per process (getfqdn may ask DNS)."""
    if not _AUDIT_HOST:
        import socket  # noqa: PLC0415 (start-up time: only when a line is written)

        _AUDIT_HOST.append(socket.getfqdn())
    return _AUDIT_HOST[0]


def _lock(fd: int, seconds: float) -> bool:
    """An exclusive ``flock`` within ``seconds``; False when someone else kept it."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def _append(path: Path, data: bytes, sync: bool = False) -> None:
    """``data`` at the end of ``path`` in one ``O_APPEND`` write (what an append-only file
    allows), under the file's lock while the lock can be had (a spool's forwarder empties it
    under that lock, so no line is written between its read and its truncation)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        _lock(fd, WRITE_LOCK_SECONDS)
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def audit(
    kind: str,
    action: str,
    result: str,
    actor: str | None = None,
    host: str | None = None,
    **details: Any,
) -> bool:
    """One line in the host's audit log (who, what, when, where, result), appended with O_APPEND
    in a single write so concurrent writers never interleave. Written where the log's directory
    exists (the roles create it, ``0755`` root:adm, and the log ``0640`` root:adm, append-only) or
    ``$BANGKA_AUDIT_LOG`` points; a log that cannot be written is said on stderr and never
    changes the result of what it records. ``host``: the name the inventory knows the host by,
    where the caller has it (the collection files lines under that name), else the host's own
    name."""
    path = audit_path()
    if not os.environ.get(AUDIT_ENV) and not path.parent.is_dir():
        return False
    line: dict[str, Any] = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": host or audit_host(),
        "actor": audit_actor(actor),
        "kind": kind,
        "action": action,
        "result": result,
    }
    if details:
        line["details"] = details
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        _append(path, (json.dumps(line, sort_keys=True) + "\n").encode())
    except OSError as exc:
        print(f"audit log {path}: {exc.strerror or exc}", file=sys.stderr)
        return False
    return True


def audit_cut(log_dir: Path, offsets: dict[str, Any], out: Path) -> dict[str, Any]:
    """The whole lines each ``*.jsonl`` of ``log_dir`` gained since ``offsets`` (per log
    ``{"inode": ..., "offset": bytes already forwarded}``), each into a new
    ``<stem>.<inode>.<from>-<to>.jsonl`` in ``out``. A log whose inode changed (rotated) or
    that shrank is sent again from its start, so no line of the new file is skipped."""
    sent: dict[str, dict[str, int]] = {}
    chunks = []
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    for path in sorted(log_dir.glob("*.jsonl")) if log_dir.is_dir() else []:
        info = path.stat()
        before = offsets.get(path.name)
        start = 0
        if isinstance(before, dict) and before.get("inode") == info.st_ino:
            start = int(before.get("offset", 0))
        if start > info.st_size:
            start = 0
        with path.open("rb") as handle:
            handle.seek(start)
            data = handle.read(info.st_size - start)
        end = start + data.rfind(b"\n") + 1  # whole lines only: a line being written waits
        sent[path.name] = {"inode": info.st_ino, "offset": end}
        if end > start:
            chunk = out / f"{path.stem}.{info.st_ino}.{start:012d}-{end:012d}.jsonl"
            chunk.write_bytes(data[: end - start])
            chunks.append(chunk.name)
    return {"offsets": sent, "chunks": chunks}


def cmd_audit_cut(args: argparse.Namespace) -> int:
    """``bangka-backup audit-cut --offsets JSON --out DIR``: prints the new offsets as JSON."""
    try:
        offsets = json.loads(args.offsets)
        if not isinstance(offsets, dict):
            raise ValueError("not an object")
    except ValueError as exc:
        print(f"bangka-backup audit-cut: --offsets: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RecursionError:
        print("bangka-backup audit-cut: --offsets: nested too deeply", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(audit_cut(audit_path().parent, offsets, args.out)))
    return EXIT_OK


# --------------------------------------------------------------------------- spool forwarding


class SpoolRefused(Exception):
    """The spool is not a plain file of the account it is said to belong to."""


def check_line(raw: bytes) -> dict[str, Any]:
    """A spool line as the writer makes it, or ValueError saying what is wrong with it."""
    if len(raw) > MAX_LINE_BYTES:
        raise ValueError(f"longer than {MAX_LINE_BYTES} bytes")
    try:
        line = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: too deep
        raise ValueError(f"not JSON ({str(exc)[:200]})") from None
    if not isinstance(line, dict):
        raise ValueError("not a JSON object")
    _check_fields(line)
    return line


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_fields(line: dict[str, Any]) -> None:
    unknown = set(line) - LINE_KEYS
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    for key in ("time", "kind", "action", "result"):
        if not isinstance(line.get(key), str) or not line[key]:
            raise ValueError(f"{key}: missing or not a string")
    for key in ("host", "actor"):
        if key in line and not isinstance(line[key], str):
            raise ValueError(f"{key}: not a string")
    if not KIND.match(line["kind"]) or line["kind"] == FORWARDER_KIND:
        raise ValueError(f"kind: {line['kind'][:64]!r} is not a kind a writer may use")
    try:
        when = dt.datetime.fromisoformat(line["time"])
    except ValueError:
        raise ValueError("time: not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise ValueError("time: no time zone")
    if not isinstance(line.get("details", {}), dict):
        raise ValueError("details: not an object")
    if "claimed" in line.get("details", {}):
        raise ValueError("details.claimed: written by the forwarder only")


def _open_spool(spool: Path, uid: int) -> int | None:
    """The spool, opened without following a symbolic link and accepted only as a plain file
    with one link owned by ``uid``: whatever root reads from it is the account's own data."""
    try:
        fd = os.open(spool, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        reason = "a symbolic link" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
        raise SpoolRefused(reason) from None
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = "not a regular file"
    elif info.st_uid != uid:
        problem = f"owned by uid {info.st_uid}, not {uid}"
    elif info.st_nlink != 1:
        problem = f"{info.st_nlink} hard links"
    elif info.st_size > MAX_SPOOL_BYTES:
        problem = f"{info.st_size} bytes, more than the {MAX_SPOOL_BYTES} a job's spool ever holds"
    if problem:
        os.close(fd)
        raise SpoolRefused(problem)
    return fd


def _sha256(data: bytes) -> str:
    import hashlib  # noqa: PLC0415 (start-up time: only the forwarder needs it)

    return hashlib.sha256(data).hexdigest()


def _forwarder_line(host: str, actor: str, action: str, result: str, **details: Any) -> bytes:
    line = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": host,
        "actor": actor,
        "kind": FORWARDER_KIND,
        "action": action,
        "result": result,
        "details": details,
    }
    return (json.dumps(line, sort_keys=True) + "\n").encode()


def forward_spool(spool: Path, log: Path, rejects: Path, host: str, actor: str) -> dict[str, Any]:
    """Move the lines of ``spool`` (written by ``actor``) into ``log``: ``host`` and ``actor``
    are set here, whatever a line says (a differing claim is kept as ``details.claimed``); a
    malformed line goes to ``rejects`` (its first 4 KiB; at most 100 a run) and a
    ``kind: audit_spool`` line in ``log`` names it. The spool is emptied of what was moved,
    under its lock, after the log is synced.
    A spool that is not the account's plain file is refused (and that is recorded too)."""
    uid = pwd.getpwnam(actor).pw_uid  # KeyError: no such account
    result: dict[str, Any] = {"spool": str(spool), "log": str(log), "forwarded": 0, "rejected": []}
    try:
        fd = _open_spool(spool, uid)
    except SpoolRefused as exc:
        _append(log, _forwarder_line(host, actor, str(spool), "refused", reason=str(exc)))
        result["refused"] = str(exc)
        return result
    if fd is None:
        return result
    try:
        if not _lock(fd, FORWARD_LOCK_SECONDS):
            # Someone keeps the spool locked: its lines would wait where the account can still
            # change them. Said in the log and as a failure, every time.
            _append(log, _forwarder_line(host, actor, str(spool), "busy"))
            result["busy"] = True
            return result
        size = os.fstat(fd).st_size
        data = os.pread(fd, min(size, MAX_SPOOL_BYTES), 0)
        if size > len(data):  # grew past the bound since it was opened: whole lines now
            data = data[: data.rfind(b"\n") + 1] or data
        out, kept = _sort_lines(data, result, spool=spool, rejects=rejects, host=host, actor=actor)
        if kept:
            _append(rejects, b"".join(kept))
        if out:
            _append(log, b"".join(out), sync=True)
        # What was appended since the read (a writer that gave up waiting for the lock) stays.
        rest = os.pread(fd, os.fstat(fd).st_size - len(data), len(data))
        os.ftruncate(fd, 0)
        if rest:
            os.pwrite(fd, rest, 0)
    finally:
        os.close(fd)
    return result


def _sort_lines(
    data: bytes, result: dict[str, Any], *, spool: Path, rejects: Path, host: str, actor: str
) -> tuple[list[bytes], list[bytes]]:
    """The log's new lines (valid lines with the true host and actor, and one line naming each
    rejected line) and the rejected lines to keep; counts go into ``result``."""
    pieces = data.split(b"\n")
    tail = pieces.pop()  # empty when the spool ends with a whole line
    out, kept = [], []
    truth = {"host": host, "actor": actor}
    for number, raw in enumerate([*pieces, tail] if tail else pieces, 1):
        try:
            if number > len(pieces):
                raise ValueError("no end of line (an unfinished write)")
            line = check_line(raw)
        except ValueError as exc:
            where = f"{spool}:{number}"
            result["rejected"].append(f"{where}: {exc}")
            if len(result["rejected"]) <= MAX_REJECTED_LINES:  # the rest: counted, in one line
                kept.append(raw[:KEPT_LINE_BYTES] + b"\n")
                out.append(
                    _forwarder_line(
                        host,
                        actor,
                        where,
                        "rejected",
                        reason=str(exc),
                        kept_in=str(rejects),
                        sha256=_sha256(raw),
                        bytes=len(raw),
                    )
                )
            continue
        claimed = {k: line[k] for k in truth if line.get(k, truth[k]) != truth[k]}
        line.update(truth)
        if claimed:
            line["details"] = {**line.get("details", {}), "claimed": claimed}
        out.append((json.dumps(line, sort_keys=True) + "\n").encode())
        result["forwarded"] += 1
    extra = len(result["rejected"]) - MAX_REJECTED_LINES
    if extra > 0:
        out.append(_forwarder_line(host, actor, str(spool), "rejected", more_lines_rejected=extra))
    return out, kept


def cmd_forward(args: argparse.Namespace) -> int:
    try:
        pwd.getpwnam(args.actor)
    except KeyError:
        print(f"audit forward: --actor: no account {args.actor!r} on this host", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = forward_spool(args.spool, args.log, args.rejects, args.host, args.actor)
    except OSError as exc:
        print(f"audit forward: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_DATA
    print(json.dumps(result, sort_keys=True))
    for problem in result["rejected"]:
        print(f"audit forward: {problem} (kept in {args.rejects})", file=sys.stderr)
    if result.get("refused"):
        print(f"audit forward: {args.spool}: refused: {result['refused']}", file=sys.stderr)
    if result.get("busy"):
        print(
            f"audit forward: {args.spool}: locked by another process; left for the next run",
            file=sys.stderr,
        )
    failed = result["rejected"] or result.get("refused") or result.get("busy")
    return EXIT_DATA if failed else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m bangka_ops.backup.audit",
        description="The root side of an audit trail that an unprivileged account writes.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    forward = sub.add_parser(
        "forward",
        help="move the valid lines of an account's spool into the root-owned audit log, with the "
        "host and actor given here; keep and name malformed lines (exit 1 when there were any)",
    )
    forward.add_argument("--spool", type=Path, required=True, help="the account's spool file")
    forward.add_argument("--log", type=Path, required=True, help="the root-owned audit log")
    forward.add_argument("--rejects", type=Path, required=True, help="where malformed lines go")
    forward.add_argument("--host", required=True, help="this host's name (the inventory's)")
    forward.add_argument("--actor", required=True, help="the account that writes the spool")
    args = parser.parse_args(argv)
    os.umask(0o027)
    return cmd_forward(args)


if __name__ == "__main__":
    sys.exit(main())
