"""Notifications of SI CEKAT and PROTOCLOUD: a webhook (JSON POST with a ``text`` field), e-mail,
and, where the host has it configured, Apprise (chat groups: Telegram, Matrix, Slack-like
services, e-mail… whatever its URLs name). Delivery problems are returned, never raised: a notice
that cannot be sent must not change the result it reports.

Apprise runs as Debian's ``apprise`` command with ``--config FILE``: its URLs carry the services'
tokens, so they stay in that file (readable by its owner alone), never in a command line, the
environment, a record or a log; the notice's text goes on its standard input.

Standard library only. Installed beside ``agent.py`` (``/usr/local/lib/bangka-backup/``), which
imports it as a sibling module, and part of the ``bangka_ops`` package. Start-up time is part of
every backup's cost (bench/backup_wrapper.py), so the modules needed only to deliver (smtplib,
urllib.request, email, ssl: ~40 ms together) are imported where they are used.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

RECORD_SUMMARY_KEYS = (
    "host",
    "policy",
    "category",
    "cycle",
    "status",
    "reason",
    "archive",
    "start",
    "end",
    "exit_code",
    "repository",
)


def notify(config: dict[str, Any], record: dict[str, Any]) -> list[dict[str, Any]]:
    """Notify about a backup run whose status is in ``notify.on``."""
    settings = config.get("notify") or {}
    wanted = settings.get("on", ["failed", "warning", "skipped"])
    # An interrupted run is a failure that nobody saw happen: notified wherever failures are.
    if record["status"] not in wanted and not (
        record["status"] == "interrupted" and "failed" in wanted
    ):
        return []
    subject = (
        f"[SI CEKAT] {record['status'].upper()}: {record['host']} {record['policy']} "
        f"{record['cycle']} ({record['archive']})"
    )
    body = "\n".join(
        [
            f"Host / Server     : {record['host']}",
            f"Kebijakan / Policy: {record['policy']} ({record['category']})",
            f"Siklus / Cycle    : {record['cycle']} ({record['backup_type']})",
            f"Status            : {record['status']}",
            f"Alasan / Reason   : {record.get('reason') or '-'}",
            f"Mulai / Start     : {record['start']}",
            f"Selesai / End     : {record['end']}",
            f"Repositori        : {record['repository']}",
            f"Catatan / Record  : {record.get('record_path', '-')}",
        ]
    )
    summary = {k: record.get(k) for k in RECORD_SUMMARY_KEYS}
    return send_notifications(settings, subject, body, summary)


def send_notifications(
    settings: dict[str, Any], subject: str, body: str, summary: dict[str, Any]
) -> list[dict[str, Any]]:
    """Deliver one notice to every configured channel. Delivery problems are returned, never
    raised: a notification that cannot be sent must not change the result it reports."""
    results: list[dict[str, Any]] = []
    timeout = float(settings.get("timeout_seconds", 10))
    ca_file = settings.get("ca_file") or None
    if settings.get("webhook_url"):
        payload = {"text": subject, "summary": summary}
        results.append(_deliver_webhook(settings["webhook_url"], payload, timeout, ca_file))
    email = settings.get("email")
    if email and email.get("to"):
        results.append(_deliver_email(email, subject, body, timeout, ca_file))
    apprise = settings.get("apprise")
    if isinstance(apprise, dict) and apprise.get("config_file"):
        kind = APPRISE_TYPES.get(str(summary.get("status")), "failure")
        results.append(_deliver_apprise(apprise, subject, body, kind))
    return results


def problems(settings: Any, where: str = "notify") -> list[str]:
    """What is wrong with the ``apprise`` part of a ``notify`` section (each problem names its
    field); the other channels are checked where they are used."""
    if not isinstance(settings, dict):
        return [f"{where}: an object"]
    apprise = settings.get("apprise")
    if apprise in (None, {}):
        return []
    if not isinstance(apprise, dict):
        return [f"{where}.apprise: an object with config_file"]
    found = []
    unknown = sorted(str(k) for k in set(apprise) - {"config_file", "command", "tags",
                                                       "timeout_seconds", "ca_file"})  # fmt: skip
    if unknown:
        found.append(f"{where}.apprise: unknown field(s) {', '.join(unknown)}")
    for name in ("config_file", "command", "ca_file"):
        value = apprise.get(name, None if name == "config_file" else "/")
        if not isinstance(value, str) or not value.startswith("/"):
            found.append(f"{where}.apprise.{name}: an absolute path")
    tags = apprise.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        found.append(f"{where}.apprise.tags: a list of tag names")
    timeout = apprise.get("timeout_seconds", 1)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        found.append(f"{where}.apprise.timeout_seconds: a number of seconds")
    return found


# A status -> Apprise's notification type (its icon and colour in a chat). Anything not named
# here is a failure: a notice goes out for what went wrong (tampered, missed, error, stopped...).
APPRISE_TYPES = {"warning": "warning", "skipped": "warning", "success": "success",
                 "passed": "success", "ok": "success"}  # fmt: skip
APPRISE_TIMEOUT = 60.0


def _deliver_apprise(apprise: dict[str, Any], subject: str, body: str, kind: str) -> dict[str, Any]:
    """One notice to every service of the Apprise configuration file, through the ``apprise``
    command. The file must be a regular file (not a link) of this account, readable by it alone:
    its URLs hold the services' tokens. Apprise's own output is never kept: it may quote a line
    of the file, token and all."""
    import shutil  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    config = str(apprise["config_file"])
    result: dict[str, Any] = {"channel": "apprise", "target": f"config {config}"}
    problem = _apprise_file_problem(config)
    if problem:
        return {**result, "delivered": False, "detail": problem}
    command = apprise.get("command") or shutil.which("apprise")
    if not command:
        missing = "the apprise command is not installed (Debian package apprise)"
        return {**result, "delivered": False, "detail": missing}
    argv = [str(command), "--config", config, "--title", subject, "--notification-type", kind]
    for tag in apprise.get("tags") or []:
        argv += ["--tag", str(tag)]
    env = dict(os.environ)
    if apprise.get("ca_file"):  # a CA of the office's own chat server (Apprise uses requests)
        env["REQUESTS_CA_BUNDLE"] = str(apprise["ca_file"])
    timeout = float(apprise.get("timeout_seconds", APPRISE_TIMEOUT))
    try:
        proc = subprocess.run(
            argv, input=body.encode(), capture_output=True, timeout=timeout, env=env, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {**result, "delivered": False, "detail": f"{type(exc).__name__}: {exc}"[:300]}
    if proc.returncode == 0:
        return {**result, "delivered": True, "detail": "sent to every service of the file"}
    return {**result, "delivered": False, "detail": (
        f"apprise exited with {proc.returncode}: a service refused the notice, could not be "
        f"reached, or a line of the file is not a URL it knows (see: apprise -vv --config "
        f"{config} -b test)")}  # fmt: skip


def _apprise_file_problem(config: str) -> str | None:
    """Why the Apprise file may not be used (None: it may): a link, another account's file, or
    one others may read."""
    try:
        info = os.lstat(config)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    if info.st_uid != os.geteuid():
        return f"{config} must belong to the account sending the notice"
    if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077:
        return (
            f"{config} must be a regular file readable by its owner alone (0600 or 0400), not "
            f"{stat.filemode(info.st_mode)}: it holds the services' tokens"
        )
    return None


def _tls_context(ca_file: str | None) -> Any:
    """Certificates are always verified: against ``ca_file`` (the office's CA bundle) when
    given, else against the system's CAs."""
    import ssl  # noqa: PLC0415

    return ssl.create_default_context(cafile=ca_file)


def _deliver_webhook(
    url: str, payload: dict[str, Any], timeout: float, ca_file: str | None = None
) -> dict[str, Any]:
    import urllib.error  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    request = urllib.request.Request(  # noqa: S310 (admin-configured https/http endpoint)
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "bangka-backup"},
        method="POST",
    )
    result: dict[str, Any] = {"channel": "webhook", "target": _redact_url(url)}
    try:
        context = _tls_context(ca_file) if url.startswith("https:") else None
        with urllib.request.urlopen(  # noqa: S310
            request, timeout=timeout, context=context
        ) as response:
            result.update(delivered=200 <= response.status < 300, detail=f"HTTP {response.status}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        result.update(delivered=False, detail=f"{type(exc).__name__}: {exc}"[:300])
    return result


def _redact_url(url: str) -> str:
    """Webhook URLs often carry a token in the path or query: keep only scheme and host."""
    import urllib.parse  # noqa: PLC0415

    parsed = urllib.parse.urlsplit(url)
    return f"{parsed.scheme}://{parsed.hostname}{':' + str(parsed.port) if parsed.port else ''}/..."


def _deliver_email(
    email: dict[str, Any], subject: str, body: str, timeout: float, ca_file: str | None = None
) -> dict[str, Any]:
    import smtplib  # noqa: PLC0415
    import socket  # noqa: PLC0415
    from email.message import EmailMessage  # noqa: PLC0415

    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = email.get("from", f"bangka-backup@{socket.getfqdn()}")
    message["To"] = ", ".join(email["to"])
    message.set_content(body)
    host, port = email.get("smtp_host", "localhost"), int(email.get("smtp_port", 25))
    result: dict[str, Any] = {"channel": "email", "target": f"{host}:{port}"}
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as smtp:
            if email.get("starttls"):
                smtp.starttls(context=_tls_context(ca_file))
            if email.get("username") and email.get("password_file"):
                password = Path(email["password_file"]).read_text(encoding="utf-8").strip()
                smtp.login(email["username"], password)
            smtp.send_message(message)
        result.update(delivered=True, detail="accepted")
    except (smtplib.SMTPException, OSError) as exc:
        result.update(delivered=False, detail=f"{type(exc).__name__}: {exc}"[:300])
    return result
