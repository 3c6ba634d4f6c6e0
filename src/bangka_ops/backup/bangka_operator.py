#!/usr/bin/python3 -Es
"""bangka-operator: what a backup operator may do on a host, and nothing else.

Installed by role ``admin_access`` as ``/usr/local/sbin/bangka-operator``; the sudoers rule lets
members of the operators group run exactly this program as root, with any arguments, and the
program accepts only these:

* ``start backup POLICY CYCLE``: start ``bangka-backup-CYCLE@POLICY.service`` (a policy and a
  cycle the host's backup configuration has);
* ``start restore-test``: start ``bangka-backup-restore-test.service`` (on a restore host);
* ``records [--policy P] [--limit N]``: a summary of this host's run records (time, policy,
  cycle, status, size, reason), never anything else of the record directories.

Arguments are checked against the host's own configuration before anything runs (a name that is
not configured is refused), so no systemd unit but those can be started through it, and nothing
but summaries is read. The Borg passphrase, the other hosts' collected records and any file are
out of reach. Every use is one line in the host's audit log (who, what, when, result).

Standard library only: it runs with the system Python, like the backup wrapper.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

try:
    from bangka_ops.backup import agent
# Deployed as /usr/local/lib/bangka-backup/bangka_operator.py, beside agent.py (never as
# operator.py: in the script's directory that would shadow the standard library's module).
except ModuleNotFoundError:
    import agent  # type: ignore[import-not-found, no-redef]

CONFIG = Path("/etc/bangka-backup/config.json")
RESTORE_UNIT = "bangka-backup-restore-test.service"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
CYCLES = ("daily", "weekly", "monthly")
EXIT_OK, EXIT_REFUSED, EXIT_FAILED = 0, 77, 1


class Refused(Exception):
    """The request is not something an operator may do here."""


def load_config(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise Refused(f"no backup configuration on this host ({path}: {exc})") from None
    except RecursionError:
        raise Refused(f"{path}: not a backup configuration (nested too deeply)") from None
    if not isinstance(data, dict) or not isinstance(data.get("policies"), dict):
        raise Refused(f"{path}: not a backup configuration")
    return data


def backup_unit(config: dict[str, Any], policy: str, cycle: str) -> str:
    if not NAME.match(policy) or policy not in config["policies"]:
        known = ", ".join(sorted(config["policies"])) or "none"
        raise Refused(f"policy {policy!r} is not configured on this host (configured: {known})")
    cycles = config["policies"][policy].get("cycles") or {}
    if cycle not in CYCLES or cycle not in cycles:
        raise Refused(
            f"cycle {cycle!r} is not enabled for policy {policy!r} "
            f"(enabled: {', '.join(sorted(cycles)) or 'none'})"
        )
    return f"bangka-backup-{cycle}@{policy}.service"


def start(unit: str) -> int:
    proc = subprocess.run(["systemctl", "start", unit], check=False)
    print(f"{unit}: {'selesai / finished' if proc.returncode == 0 else 'GAGAL / FAILED'}")
    return EXIT_OK if proc.returncode == 0 else EXIT_FAILED


def records(config: dict[str, Any], policy: str | None, limit: int) -> list[dict[str, Any]]:
    """Summaries of this host's run records, newest last."""
    root = Path(str(config.get("records_dir", "/var/lib/bangka-backup/records")))
    policies = sorted(config["policies"]) if policy is None else [policy]
    if policy is not None and (not NAME.match(policy) or policy not in config["policies"]):
        raise Refused(f"policy {policy!r} is not configured on this host")
    rows: list[dict[str, Any]] = []
    for name in policies:
        paths = sorted((root / name).glob("*.json"), key=lambda p: p.stat().st_mtime)
        for path in paths[-limit:]:  # the newest only: a year holds a thousand records
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, RecursionError):  # RecursionError: nested too deeply
                rows.append({"record": path.name, "status": "unreadable"})
                continue
            if isinstance(record, dict):
                rows.append(
                    {
                        key: record.get(key)
                        for key in ("start", "policy", "cycle", "status", "reason", "archive")
                    }
                    | {"size_bytes": (record.get("stats") or {}).get("original_size")}
                )
    rows.sort(key=lambda r: str(r.get("start") or ""))
    return rows[-limit:]


def audit(what: str, result: str) -> None:
    """One line in the host's audit log; a log that cannot be written never blocks the work."""
    agent.audit("operator", what, result, actor=os.environ.get("SUDO_USER"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bangka-operator", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=CONFIG, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)
    st = sub.add_parser("start", help="start a backup or a restore test now")
    st.add_argument("what", choices=("backup", "restore-test"))
    st.add_argument("policy", nargs="?")
    st.add_argument("cycle", nargs="?")
    rec = sub.add_parser("records", help="this host's run records, summarised")
    rec.add_argument("--policy")
    rec.add_argument("--limit", type=int, default=20)
    rec.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    what = " ".join(a for a in (args.command, getattr(args, "what", None)) if a)
    if os.environ.get("SUDO_USER") and args.config != CONFIG:
        print("bangka-operator: ditolak / refused: --config is not for operators", file=sys.stderr)
        audit(f"{what} --config", "refused")
        return EXIT_REFUSED
    try:
        if args.command == "start" and args.what == "restore-test":
            code = start(RESTORE_UNIT)
        elif args.command == "start":
            if not args.policy or not args.cycle:
                raise Refused("usage: bangka-operator start backup POLICY CYCLE")
            code = start(backup_unit(load_config(args.config), args.policy, args.cycle))
            what += f" {args.policy} {args.cycle}"
        else:
            rows = records(load_config(args.config), args.policy, max(1, args.limit))
            if args.format == "json":
                print(json.dumps(rows, indent=1))
            for row in rows if args.format == "text" else ():
                size = row.get("size_bytes")
                print(
                    f"{row.get('start') or '-':25} {row.get('policy') or '-':12} "
                    f"{row.get('cycle') or '-':8} {row.get('status') or '-':10} "
                    f"{'-' if size is None else f'{size / 2**20:.1f} MiB':>12} "
                    f"{row.get('reason') or ''}"
                )
            code = EXIT_OK
    except Refused as exc:
        print(f"bangka-operator: ditolak / refused: {exc}", file=sys.stderr)
        audit(what, "refused")
        return EXIT_REFUSED
    audit(what, "ok" if code == EXIT_OK else "failed")
    return code


if __name__ == "__main__":
    sys.exit(main())
