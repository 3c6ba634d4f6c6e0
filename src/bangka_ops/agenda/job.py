"""The scheduled agenda job of an operations host: bring the read-only checkout up to date with
the agenda repository's main branch, validate it, look for conflicts, then publish it (Google
Calendar sync, or iCalendar feeds when no Google account is configured). One JSON record per run;
a failed run notifies (webhook, e-mail) naming the step that failed.

It is what the ``agenda_sync`` role's systemd timer (cron without systemd) runs as the
unprivileged ``protocloud`` account, and what ``systemctl start protocloud-sync`` or
``playbooks/agenda_sync.yml -e agenda_sync_run_now=true`` run on demand. Each step is the
``protocloud`` command itself, in a child process, so the job behaves exactly as an operator
running the commands by hand would see them behave.

The configuration (JSON, written by the role) has:

* ``repository``: ``dir`` (the checkout), ``branch`` (default ``main``), ``ssh_command`` (how
  git reaches the repository: the deploy key and the pinned host key);
* ``sync``: ``credentials`` (a path; empty or missing: publish iCalendar feeds instead),
  ``act_as`` (``self``, ``owner`` or a user's e-mail), ``api_endpoint``, ``batch_uri``,
  ``policy``, ``prune_acl``, ``state``, ``retries``, ``allowed_writers`` (from the access
  model: when given, a calendar writer not in it stops the sync);
* ``ics``: ``out`` (the feeds directory) and ``all_stages``;
* ``block_on_conflicts`` (default true): a conflict on the main branch stops publication;
* ``records_dir``: where run records go; ``host``: the name in notifications;
* ``notify``: ``webhook_url``, ``email`` (as for the backup wrapper), ``on`` (default
  ``["failed"]``);
* ``audit_log``: the audit log the steps append to (validation, sync).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bangka_ops.backup.agent import ConfigError, read_json_object, write_json_atomic
from bangka_ops.backup.notify import problems as notify_problems
from bangka_ops.backup.notify import send_notifications

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_BUSY = 0, 1, 64, 75
TAIL_LINES = 25
ACT_AS_SELF, ACT_AS_OWNER = "self", "owner"


@dataclass
class Step:
    name: str
    argv: list[str]
    rc: int = -1
    seconds: float = 0.0
    output: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rc": self.rc,
            "seconds": round(self.seconds, 3),
            "output_tail": self.output[-TAIL_LINES:],
        }


def load_config(path: Path) -> dict[str, Any]:
    """The job configuration, checked field by field (errors name the file and the field)."""
    config = read_json_object(path, ("repository", "records_dir"))
    repository = config["repository"]
    if not isinstance(repository, dict) or not repository.get("dir"):
        raise ConfigError(f"{path}: repository.dir: the agenda checkout is required")
    sync = config.setdefault("sync", {})
    if not isinstance(sync, dict):
        raise ConfigError(f"{path}: sync: must be an object")
    act_as = sync.get("act_as", ACT_AS_SELF)
    if not isinstance(act_as, str) or not (act_as in (ACT_AS_SELF, ACT_AS_OWNER) or "@" in act_as):
        raise ConfigError(
            f"{path}: sync.act_as: 'self', 'owner' or a user's e-mail, not {act_as!r}"
        )
    if sync.get("policy", "overwrite") not in ("overwrite", "keep"):
        raise ConfigError(f"{path}: sync.policy: 'overwrite' or 'keep'")
    if not sync.get("credentials") and not (config.get("ics") or {}).get("out"):
        raise ConfigError(
            f"{path}: ics.out: without sync.credentials the agenda is published as iCalendar "
            "feeds, and their directory is required"
        )
    printed = config.get("cetak") or {}
    if not isinstance(printed, dict) or not (
        printed.get("out") is None
        or (isinstance(printed["out"], str) and printed["out"].startswith("/"))
    ):
        raise ConfigError(f"{path}: cetak.out: an absolute path (the printable agenda's folder)")
    if printed.get("pdf") not in (None, True, False):
        raise ConfigError(f"{path}: cetak.pdf: true or false")
    found = notify_problems(config.get("notify") or {}, f"{path}: notify")
    if found:
        raise ConfigError("; ".join(found))
    return config


def protocloud(*args: str) -> list[str]:
    return [sys.executable, "-m", "bangka_ops.cli.protocloud", *args]


def git(checkout: str, *args: str) -> list[str]:
    return ["git", "-C", checkout, *args]


def plan_steps(config: dict[str, Any]) -> list[Step]:
    repository, sync, ics = config["repository"], config["sync"], config.get("ics") or {}
    checkout, branch = str(repository["dir"]), str(repository.get("branch", "main"))
    steps = [
        Step(
            "fetch",
            git(
                checkout,
                "fetch",
                "--quiet",
                "origin",
                f"+refs/heads/{branch}:refs/remotes/origin/{branch}",
            ),
        ),
        Step("update", git(checkout, "merge", "--ff-only", "--quiet", f"origin/{branch}")),
        Step("validate", protocloud("validate", checkout)),
        Step("conflicts", protocloud("conflicts", checkout)),
    ]
    printed = config.get("cetak") or {}
    if printed.get("out"):
        # The manual fallback, before the sync: a cloud that is down never leaves the office
        # without today's pages; a page that could not be printed never stops the publication.
        argv = protocloud("cetak", checkout, "--out", str(printed["out"]))
        if printed.get("pdf") is False:
            argv.append("--tanpa-pdf")
        steps.append(Step("cetak", argv))
    if sync.get("credentials"):
        argv = protocloud("sync", checkout, "--credentials", str(sync["credentials"]), "--wait")
        act_as = sync.get("act_as", ACT_AS_SELF)
        if act_as == ACT_AS_OWNER:
            argv.append("--as-owner")
        elif act_as != ACT_AS_SELF:
            argv += ["--subject", str(act_as)]
        for option, key in (
            ("--api-endpoint", "api_endpoint"),
            ("--batch-uri", "batch_uri"),
            ("--state", "state"),
            ("--policy", "policy"),
            ("--retries", "retries"),
        ):
            if sync.get(key) not in (None, ""):
                argv += [option, str(sync[key])]
        if sync.get("prune_acl"):
            argv.append("--prune-acl")
        for email in sync.get("allowed_writers") or ():
            argv += ["--allowed-writer", str(email)]
        steps.append(Step("sync", argv))
    else:
        argv = protocloud("ics", checkout, "--out", str(ics["out"]))
        if ics.get("all_stages"):
            argv.append("--all-stages")
        steps.append(Step("ics", argv))
    return steps


def child_env(config: dict[str, Any]) -> dict[str, str]:
    """A small environment for the steps: no inherited secrets, git told how to reach the
    repository (deploy key, pinned host key) and never to prompt."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ")}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["GIT_TERMINAL_PROMPT"] = "0"
    if config.get("audit_log"):
        env["BANGKA_AUDIT_LOG"] = str(config["audit_log"])
    ssh_command = config["repository"].get("ssh_command")
    if ssh_command:
        env["GIT_SSH_COMMAND"] = str(ssh_command)
    return env


def run_step(step: Step, env: dict[str, str]) -> None:
    began = time.monotonic()
    try:
        proc = subprocess.run(
            step.argv, capture_output=True, text=True, env=env, check=False, timeout=3600
        )
        step.rc = proc.returncode
        step.output = (proc.stdout + proc.stderr).splitlines()
    except (OSError, subprocess.TimeoutExpired) as exc:
        step.rc = 127 if isinstance(exc, OSError) else 124
        step.output = [f"{type(exc).__name__}: {exc}"]
    step.seconds = time.monotonic() - began


# Steps whose failure is reported (the job is failed and notifies) but does not stop the rest.
NON_BLOCKING = ("cetak",)


def passed(step: Step, config: dict[str, Any]) -> bool:
    if step.name == "conflicts" and not config.get("block_on_conflicts", True):
        return step.rc in (0, 1)
    return step.rc == 0


def head(checkout: str, env: dict[str, str]) -> str | None:
    proc = subprocess.run(
        git(checkout, "rev-parse", "HEAD"), capture_output=True, text=True, env=env, check=False
    )
    return proc.stdout.strip() or None


EXPLAIN = {
    "fetch": "the agenda repository could not be fetched (network, deploy key, host key)",
    "update": "main cannot be fast-forwarded (its history was rewritten upstream?): "
    "check the repository, then re-run playbooks/agenda_sync.yml",
    "validate": "the agenda on main is not valid: nothing was published",
    "conflicts": "the agenda on main has schedule conflicts: nothing was published",
    "sync": "the Google Calendar sync failed or was incomplete (see its output)",
    "ics": "the iCalendar feeds could not be written",
    "cetak": "the printable agenda (manual fallback) could not be written whole (see its output)",
}


def run(config_path: Path) -> int:
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"protocloud job: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    records = Path(config["records_dir"])
    records.mkdir(parents=True, exist_ok=True, mode=0o750)
    with open(records / ".job.lock", "a", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("protocloud job: another agenda job is running", file=sys.stderr)
            return EXIT_BUSY
        return run_locked(config, records)


def run_locked(config: dict[str, Any], records: Path) -> int:
    env = child_env(config)
    checkout = str(config["repository"]["dir"])
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    before = head(checkout, env)
    steps, failures = plan_steps(config), []
    for step in steps:
        run_step(step, env)
        print(f"==> {step.name}: rc {step.rc} ({step.seconds:.1f} s)")
        for line in step.output[-TAIL_LINES:]:
            print(f"    {line}")
        if not passed(step, config):
            failures.append(step)
            if step.name not in NON_BLOCKING:
                break
    failed = failures[-1] if failures else None
    end = dt.datetime.now(dt.UTC).replace(microsecond=0)
    record: dict[str, Any] = {
        "kind": "agenda_job",
        "host": config.get("host") or socket.getfqdn(),
        "repository": checkout,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "status": "failed" if failed else "ok",
        "failed_step": failed.name if failed else None,
        "failed_steps": [f.name for f in failures],
        "reason": "; ".join(EXPLAIN.get(f.name, f.name) for f in failures),
        "commit_before": before,
        "commit_after": head(checkout, env),
        "steps": [s.summary() for s in steps if s.rc != -1],
    }
    settings = config.get("notify") or {}
    if record["status"] in settings.get("on", ["failed"]):
        record["notifications"] = notify(settings, record, failed)
    path = records / f"{start:%Y%m%dT%H%M%SZ}-{os.getpid()}.json"
    write_json_atomic(path, record)
    print(f"record: {path}")
    if failed:
        print(
            f"protocloud job: GAGAL / FAILED at {failed.name}: {record['reason']}", file=sys.stderr
        )
        return EXIT_FAILED
    return EXIT_OK


def notify(
    settings: dict[str, Any], record: dict[str, Any], failed: Step | None
) -> list[dict[str, Any]]:
    what = failed.name if failed else "-"
    subject = f"[PROTOCLOUD] {record['status'].upper()}: agenda {what} on {record['host']}"
    body = [
        f"Host              : {record['host']}",
        f"Repositori agenda : {record['repository']}",
        f"Status            : {record['status']}",
        f"Langkah / Step    : {what}",
        f"Alasan / Reason   : {record['reason'] or '-'}",
        f"Mulai / Start     : {record['start']}",
        f"Commit            : {record['commit_after'] or '-'}",
    ]
    if failed is not None:
        body += ["", "Keluaran / Output:", *[f"  {line}" for line in failed.output[-TAIL_LINES:]]]
    summary = {k: record.get(k) for k in ("host", "status", "failed_step", "reason", "start")}
    return send_notifications(settings, subject, "\n".join(body), summary)
