#!/usr/bin/python3 -Es
"""The repository gate: every write to a client repository is either the admin's or examined.

Standard library only. Two halves in one file, so the repository server and the admin host run
the same protocol:

**On the repository server** (``bangka-borg-serve``, the forced command of every key in the
``borg`` account's ``authorized_keys``, deployed by the ``borg_server`` role):

* ``client NAME -- <borg serve args>`` and ``restore NAME... -- <args>``: take a *shared* lock
  on each repository's gate file, then ``exec`` borg serve, which keeps the lock until the SSH
  session ends. While the admin holds the gate the session waits (at most ``--wait`` seconds,
  then it is refused with a message Borg shows as ``Remote: ...``).
* ``admin -- <args>``: borg serve for the admin key, unless the admin asks for
  ``bangka-gate NAME [SEGMENT MTIME_NS]``: then it takes the repository's gate *exclusively*
  (waiting for running client sessions to end), prints one JSON line with the repository's
  transactions since the mark (:mod:`segments`; the mark is kept here, in
  ``<gates_dir>/NAME.mark``; the admin's is used only when there is none yet), and holds the
  gate. The admin answers ``clean`` when its check passed (acknowledged before it writes
  anything), then ``release``; from ``clean`` on, the mark moves to the last committed segment
  (the admin's own prune and compaction included) when the gate opens, however it opens.

So everything committed after a mark was written by a client or restore host, never by the
admin, and a client cannot slip a delete in between the admin's check and its prune.

**On the admin host**: :class:`Gate`, a context manager used by ``bangka-backup-maintenance``.
For a local repository (the ``local`` inventory: agent, admin and repository are one machine)
it scans the files directly; there is no gate to close there.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import json
import os
import re
import select
import shlex
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

try:
    from bangka_ops.backup import segments
except ModuleNotFoundError:  # deployed beside segments.py
    import segments  # type: ignore[import-not-found, no-redef]

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
GATE_COMMAND = "bangka-gate"
EXIT_BUSY, EXIT_USAGE = 75, 64
DEFAULT_WAIT = 3 * 3600
DEFAULT_GATE_WAIT = 3600
DEFAULT_HOLD = 6 * 3600


class GateError(RuntimeError):
    """The gate could not be closed or released (the message says why)."""


# ---------------------------------------------------------------------------------------------
# Server side
# ---------------------------------------------------------------------------------------------


def lock(gates_dir: Path, name: str, mode: int, wait: float) -> int | None:
    """Opens ``<gates_dir>/<name>.lock`` (no symlinks) and flocks it; None after ``wait`` s."""
    fd = os.open(
        gates_dir / f"{name}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
    )
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return fd
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        if time.monotonic() >= deadline:
            os.close(fd)
            return None
        time.sleep(0.5)


def checked_names(names: list[str], repos_dir: Path | None = None) -> list[str]:
    """Plain repository names; with ``repos_dir``, also existing repository directories."""
    for name in names:
        if not NAME.match(name):
            raise ValueError(f"not a repository name: {name!r}")
        path = repos_dir / name if repos_dir else None
        if path is not None and (not path.is_dir() or path.is_symlink()):
            raise ValueError(f"no repository {name!r} under {repos_dir}")
    return names


def serve(args: argparse.Namespace, names: list[str]) -> int:
    """Client and restore sessions: shared gate locks, then borg serve (inherits them)."""
    for name in sorted(set(names)):
        fd = lock(args.gates_dir, name, fcntl.LOCK_SH, args.wait)
        if fd is None:
            print(
                f"bangka-borg-serve: the repository {name} has been under the admin's maintenance "
                f"for more than {int(args.wait)} s; try again later",
                file=sys.stderr,
            )
            return EXIT_BUSY
        os.set_inheritable(fd, True)
    # The point of a forced command: borg serve with the arguments authorized_keys fixed.
    os.execvp(args.borg, [args.borg, "serve", *args.serve_args])  # noqa: S606
    return 127  # not reached


def emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class HeldGate:
    """The admin's side of one repository's gate on the server, while it holds the lock.

    The mark lives here, in ``<gates_dir>/<name>.mark`` (the repository account's, out of any
    client's reach), and moves only after the admin said ``clean``: its check of everything
    since the mark passed, so whatever is committed from then on while the gate is closed is
    the admin's own prune and compaction. It then moves at ``release``, when the admin's
    connection ends, or when the hold expires, always while the lock is still held."""

    def __init__(self, repository: Path, mark_file: Path) -> None:
        self.repository, self.mark_file = repository, mark_file
        self.clean = False

    def settle(self) -> segments.Mark | None:
        """The mark to leave behind: moved to the newest commit if the admin said clean."""
        mark = segments.read_mark(self.mark_file)
        if self.clean:
            newest = segments.current_mark(self.repository)
            if newest is not None:
                segments.save_mark(self.mark_file, newest)
                mark = newest
        return mark

    def expire(self, *_: object) -> None:
        with contextlib.suppress(segments.SegmentError, OSError):
            self.settle()
        os._exit(EXIT_BUSY)


def hold_gate(args: argparse.Namespace, request: list[str]) -> int:
    """The admin's gate: exclusive lock, scan since the saved mark, ``clean``, ``release``."""
    if len(request) not in (1, 3) or not all(part.isdigit() for part in request[1:]):
        emit({"gate": "error", "error": "usage: bangka-gate NAME [SEGMENT MTIME_NS]"})
        return EXIT_USAGE
    try:
        (name,) = checked_names(request[:1], args.repos_dir)
    except ValueError as exc:
        emit({"gate": "error", "error": str(exc)})
        return EXIT_USAGE
    fd = lock(args.gates_dir, name, fcntl.LOCK_EX, args.gate_wait)
    if fd is None:
        emit({"gate": "busy", "error": f"client sessions kept {name} busy for {args.gate_wait} s"})
        return EXIT_BUSY
    held = HeldGate(args.repos_dir / name, args.gates_dir / f"{name}.mark")
    # The admin may vanish without a word: the gate opens again after --hold seconds anyway.
    signal.signal(signal.SIGALRM, held.expire)
    signal.alarm(int(args.hold))
    try:
        saved = segments.read_mark(held.mark_file)
        # The server's own mark wins; the admin's is used once, when the server has none yet.
        asked = segments.Mark(int(request[1]), int(request[2])) if len(request) == 3 else None
        since = saved or asked
        scan = segments.scan(held.repository, since).as_dict()
        emit({"gate": "closed", "mark_from": "server" if saved else "admin", "scan": scan})
        for line in sys.stdin:
            command = line.strip()
            if command == "clean":
                held.clean = True
                emit({"gate": "clean"})
            elif command == "release":
                mark = held.settle()
                emit({"gate": "released", "mark": mark.as_dict() if mark else None})
                return 0
        held.settle()  # the admin's connection ended without release
    except (segments.SegmentError, OSError) as exc:
        emit({"gate": "error", "error": str(exc)})
        return 2
    return 0


def server_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bangka-borg-serve",
        description="Forced command of the borg account: gate locks around borg serve, and the "
        "admin's gate with the repository's transaction history.",
    )
    parser.add_argument("--repos-dir", type=Path, required=True)
    parser.add_argument("--gates-dir", type=Path, required=True)
    parser.add_argument("--wait", type=float, default=DEFAULT_WAIT)
    parser.add_argument("--gate-wait", type=float, default=DEFAULT_GATE_WAIT)
    parser.add_argument("--hold", type=float, default=DEFAULT_HOLD)
    parser.add_argument("--borg", default="borg")
    parser.add_argument("role", choices=("client", "restore", "admin"))
    parser.add_argument("names", nargs="*")
    return parser


def server_main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--" in argv:
        split = argv.index("--")
        own, serve_args = argv[:split], argv[split + 1 :]
    else:
        own, serve_args = argv, []
    args = server_parser().parse_args(own)
    args.serve_args = serve_args
    try:
        if args.role == "admin":
            if args.names:
                raise ValueError("the admin role takes no repository names")
            request = shlex.split(os.environ.get("SSH_ORIGINAL_COMMAND", ""))
            if request[:1] == [GATE_COMMAND]:
                return hold_gate(args, request[1:])
            os.execvp(args.borg, [args.borg, "serve", *serve_args])  # noqa: S606
        if args.role == "client" and len(args.names) != 1:
            raise ValueError("a client key serves exactly one repository")
        if not args.names:
            raise ValueError("give the repository names this key may use")
        return serve(args, checked_names(args.names))
    except ValueError as exc:
        print(f"bangka-borg-serve: {exc}", file=sys.stderr)
        return EXIT_USAGE


# ---------------------------------------------------------------------------------------------
# Admin side
# ---------------------------------------------------------------------------------------------


class Gate:
    """Closes a repository's gate for the admin (``with Gate(...) as scan:``), then
    :meth:`release` returns the new mark. Without ``release`` the gate opens again unmarked."""

    def __init__(
        self, location: str, rsh: str | None, since: segments.Mark | None, wait: float
    ) -> None:
        self.location, self.rsh, self.since, self.wait = location, rsh, since, wait
        self.process: subprocess.Popen[str] | None = None
        self.local: Path | None = None if "://" in location else Path(location)

    def command(self) -> list[str]:
        url = urllib.parse.urlsplit(self.location)
        if url.scheme != "ssh" or not url.hostname or not url.path:
            raise GateError(f"{self.location}: only ssh:// and local repositories have a gate")
        name = Path(url.path).name
        if not NAME.match(name):
            raise GateError(f"{self.location}: not a repository name: {name!r}")
        target = f"{url.username}@{url.hostname}" if url.username else url.hostname
        request = [GATE_COMMAND, name]
        if self.since is not None:
            request += [str(self.since.segment), str(self.since.mtime_ns)]
        return [
            *shlex.split(self.rsh or "ssh"),
            *(["-p", str(url.port)] if url.port else []),
            target,
            shlex.join(request),
        ]

    def __enter__(self) -> dict[str, Any]:
        if self.local is not None:
            try:
                return segments.scan(self.local, self.since).as_dict()
            except (segments.SegmentError, OSError) as exc:
                raise GateError(str(exc)) from None
        self.process = subprocess.Popen(
            self.command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        answer = self.answer(self.wait + 120)
        if answer.get("gate") != "closed":
            self.close()
            raise GateError(self.explain(answer, "the gate did not close"))
        return dict(answer.get("scan") or {})

    def answer(self, timeout: float) -> dict[str, Any]:
        if self.process is None or self.process.stdout is None:
            raise GateError("the gate is not open")
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        try:
            answer = json.loads(line) if line else {}
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            answer = {"gate": "error", "error": f"unreadable answer: {line[:200]!r}"}
        return answer if isinstance(answer, dict) else {"gate": "error", "error": "not an object"}

    def explain(self, answer: dict[str, Any], what: str) -> str:
        if answer.get("error"):
            return f"{what}: {answer['error']}"
        stderr = ""
        if self.process is not None and self.process.poll() is not None and self.process.stderr:
            stderr = self.process.stderr.read().strip()[-500:]
        return (
            f"{what}: no answer from bangka-borg-serve on the repository server"
            + (f" ({stderr})" if stderr else "")
            + "; is the borg_server role applied there?"
        )

    def say(self, command: str) -> dict[str, Any]:
        """One line to the gate, and its answer (a dead connection gives an empty answer)."""
        if self.process is None or self.process.stdin is None:
            raise GateError("the gate is not closed")
        with contextlib.suppress(OSError):
            self.process.stdin.write(f"{command}\n")
            self.process.stdin.flush()
        return self.answer(120)

    def clean(self) -> None:
        """Tells the gate the check passed: the mark may move past what the admin writes next.
        Waits for the acknowledgement, so nothing is written before the gate knows."""
        if self.local is not None:
            return
        answer = self.say("clean")
        if answer.get("gate") != "clean":
            raise GateError(self.explain(answer, "the gate did not acknowledge the passed check"))

    def release(self) -> segments.Mark | None:
        """Lets clients in again; returns the repository's mark after the admin's writes."""
        if self.local is not None:
            try:
                return segments.current_mark(self.local)
            except (segments.SegmentError, OSError) as exc:
                raise GateError(str(exc)) from None
        answer = self.say("release")
        self.close()
        if answer.get("gate") != "released":
            raise GateError(self.explain(answer, "the gate did not report its new mark"))
        try:
            return segments.Mark.from_dict(answer.get("mark"))
        except ValueError as exc:
            raise GateError(f"the gate's mark: {exc}") from None

    def close(self) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    sys.exit(server_main())
