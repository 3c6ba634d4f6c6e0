"""The host's audit log: one JSON line per action (who, what, when, where, result).

Appended with ``O_APPEND`` in a single write, so concurrent writers never interleave a line;
the file is ``0640`` (root and the ``adm`` group read it). Forwarded to the admin host by
``playbooks/collect_records.yml`` and kept there write-once. A log that cannot be written is
reported on standard error and never changes the result of the action it records.

Standard library only (deployed beside the backup wrapper as
``/usr/local/lib/bangka-backup/audit.py``).
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

DEFAULT_LOG = Path("/var/log/bangka-ops/audit.jsonl")
ENV_LOG = "BANGKA_AUDIT_LOG"


def log_path() -> Path:
    return Path(os.environ.get(ENV_LOG) or DEFAULT_LOG)


def who(actor: str | None = None) -> str:
    if actor:
        return actor
    for name in ("SUDO_USER", "USER", "LOGNAME"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def entry(
    kind: str, action: str, result: str, actor: str | None = None, **details: Any
) -> dict[str, Any]:
    return {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": socket.getfqdn(),
        "actor": who(actor),
        "kind": kind,
        "action": action,
        "result": result,
        **({"details": details} if details else {}),
    }


def append(kind: str, action: str, result: str, actor: str | None = None, **details: Any) -> bool:
    """Append one line; False (and a warning on stderr) when the log cannot be written."""
    path = log_path()
    line = json.dumps(entry(kind, action, result, actor, **details), sort_keys=True) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        return True
    except OSError as exc:
        print(f"audit log {path}: {exc.strerror or exc}", file=sys.stderr)
        return False
