"""``cekat arsip tugas JOB``: one scheduled archive job (a systemd timer's unit runs it) that
notifies when it fails, through the same webhook and e-mail settings as the backups and the
agenda (:mod:`bangka_ops.backup.notify`).

Jobs: ``masuk`` (intake of the scan-to-folder inbox, leaving files still being written for a
later run), ``unggah``, ``verifikasi``, ``retensi`` (the monthly proposals) and ``ringkasan``.
Each runs ``cekat arsip …`` as a child process, so whatever happens in it (a crash included)
ends in a result here. Notified: exit 2 (failed) always; exit 1 (needs staff action: refused
rows, the re-scan list) for ``masuk``; nothing when all went well, nor when another upload or
verification still held the cloud lock (exit 75: skipped, the job ends 0; the verification
first waits up to four hours for it, ``tunggu_kunci``), nor when a job other than the intake
finds no archive yet (a new host before its first stored scan: exit 0, said on its output).

The settings file (``/etc/bangka-arsip/tugas.json``, written by role ``arsip``)::

    {"arsip": "/var/lib/bangka-arsip", "konfigurasi": "/etc/bangka-arsip/arsip.yml",
     "kotak_masuk": "/srv/pindai/masuk", "tunggu_tenang": 120, "host": "arsip01",
     "notify": {"webhook_url": "...", "email": {"to": [...], ...}}}
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bangka_ops.arsip.catalogue import FILE as CATALOGUE
from bangka_ops.backup.audit import audit
from bangka_ops.backup.notify import problems as notify_problems
from bangka_ops.backup.notify import send_notifications

JOBS = ("masuk", "unggah", "verifikasi", "retensi", "ringkasan")
TAIL_LINES = 30
EXIT_OK, EXIT_ACTION, EXIT_FAILED, EXIT_USAGE, EXIT_BUSY = 0, 1, 2, 64, 75
# The verification waits this long for an upload still running in its window (then skips).
VERIFY_WAIT = 4 * 3600
WHAT = {
    "masuk": "pemasukan pindaian / intake",
    "unggah": "unggah ke awan / upload",
    "verifikasi": "verifikasi awan / cloud verification",
    "retensi": "daftar retensi / retention list",
    "ringkasan": "ringkasan / summary",
}


class JobError(ValueError):
    """The settings file cannot be used."""


def read_settings(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise JobError(f"{path}: {exc.strerror}") from None
    except ValueError as exc:
        raise JobError(f"{path}: not JSON ({exc})") from None
    except RecursionError:
        raise JobError(f"{path}: not JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise JobError(f"{path}: not a JSON object")
    problems = [f"{path}: {p}" for p in settings_problems(data)]
    if problems:
        raise JobError("; ".join(problems))
    return data


def settings_problems(data: dict[str, Any]) -> list[str]:
    """Every field that cannot be used, named (nothing is found out only when a job fails)."""
    problems = []
    for key in ("arsip", "konfigurasi"):
        if not isinstance(data.get(key), str) or not data[key].startswith("/"):
            problems.append(f"{key}: an absolute path is required")
    if "kotak_masuk" in data and (
        not isinstance(data["kotak_masuk"], str) or not data["kotak_masuk"].startswith("/")
    ):
        problems.append("kotak_masuk: an absolute path")
    for key in ("tunggu_tenang", "tunggu_kunci"):
        value = data.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            problems.append(f"{key}: a number of seconds (0 or more)")
    if not isinstance(data.get("host", ""), str):
        problems.append("host: a name")
    notify = data.get("notify", {})
    if not isinstance(notify, dict):
        return [*problems, "notify: an object"]
    if not isinstance(notify.get("webhook_url", ""), str):
        problems.append("notify.webhook_url: a URL")
    problems += notify_problems(notify)
    timeout = notify.get("timeout_seconds", 10)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        problems.append("notify.timeout_seconds: a number of seconds")
    email = notify.get("email", {})
    if not isinstance(email, dict):
        problems.append("notify.email: an object (to, from, smtp_host ...)")
    elif not isinstance(email.get("to", []), list) or not all(
        isinstance(t, str) for t in email.get("to", [])
    ):
        problems.append("notify.email.to: a list of addresses")
    return problems


def command(job: str, settings: dict[str, Any]) -> list[str]:
    args = {
        "masuk": ["masuk", str(settings.get("kotak_masuk", "")), "--tunggu-tenang",
                  str(settings.get("tunggu_tenang", 120))],
        "unggah": ["unggah"],
        "verifikasi": ["verifikasi", "--tunggu-kunci",
                       str(settings.get("tunggu_kunci", VERIFY_WAIT))],
        "retensi": ["retensi"],
        "ringkasan": ["ringkasan"],
    }[job]  # fmt: skip
    if job == "masuk" and not settings.get("kotak_masuk"):
        raise JobError("kotak_masuk: the inbox is required for the intake job")
    return [
        sys.executable, "-m", "bangka_ops.cli", "arsip", *args,
        "--arsip", settings["arsip"], "--konfigurasi", settings["konfigurasi"],
    ]  # fmt: skip


def run(job: str, settings_path: Path) -> int:
    settings = read_settings(settings_path)
    if job != "masuk" and not (Path(settings["arsip"]) / CATALOGUE).is_file():
        # A new archive host before its first stored scan: nothing to upload, verify or list.
        print(
            f"cekat arsip tugas {job}: belum ada arsip, tidak ada yang dikerjakan / "
            f"no archive yet in {settings['arsip']}, nothing to do"
        )
        return EXIT_OK
    started = dt.datetime.now(dt.UTC).astimezone()
    done = subprocess.run(command(job, settings), capture_output=True, text=True, check=False)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    if done.returncode == EXIT_BUSY:  # another cloud job runs: skipped, the next run does it
        return EXIT_OK
    code = done.returncode if done.returncode in (EXIT_OK, EXIT_ACTION) else EXIT_FAILED
    if code == EXIT_FAILED or (code == EXIT_ACTION and job == "masuk"):
        status = "failed" if code == EXIT_FAILED else "action"
        host = str(settings.get("host") or "-")
        label = "GAGAL / FAILED" if status == "failed" else "PERLU TINDAKAN / ACTION NEEDED"
        subject = f"[SI CEKAT arsip] {label}: {WHAT[job]} on {host}"
        lines = (done.stdout + done.stderr).splitlines()[-TAIL_LINES:]
        body = "\n".join(
            [
                f"Host              : {host}",
                f"Tugas / Job       : {job} ({WHAT[job]})",
                f"Status            : {status} (exit {done.returncode})",
                f"Mulai / Start     : {started.isoformat(timespec='seconds')}",
                "",
                "Keluaran / Output:",
                *[f"  {line}" for line in lines],
            ]
        )
        summary = {"host": host, "job": job, "status": status, "exit_code": done.returncode}
        notify(settings, subject, body, summary)
    return code


def notify(settings: dict[str, Any], subject: str, body: str, summary: dict[str, Any]) -> None:
    try:
        results = send_notifications(settings.get("notify") or {}, subject, body, summary)
    except Exception as exc:  # a notice that cannot be sent never changes the job's result
        results = [{"delivered": False, "detail": f"{type(exc).__name__}: {exc}"}]
    for result in results:
        if not result.get("delivered"):
            print(f"cekat arsip tugas: notification not sent: {result}", file=sys.stderr)


# systemd's words for how a unit ended ($SERVICE_RESULT), for the notice.
ENDED = {
    "timeout": "melewati batas waktu / ran past its time limit (TimeoutStartSec)",
    "oom-kill": "dihentikan karena kehabisan memori / killed for lack of memory",
    "signal": "dihentikan oleh sinyal / killed by a signal",
    "core-dump": "mati dengan core dump / crashed (core dump)",
    "watchdog": "watchdog",
    "resources": "sumber daya tidak cukup / could not get its resources",
}


def stopped(job: str, settings_path: Path, environ: dict[str, str]) -> int:
    """After the job's unit ends (its ``ExecStopPost``, with systemd's ``SERVICE_RESULT``,
    ``EXIT_CODE`` and ``EXIT_STATUS``): when the job did not end by itself (a time limit, the
    memory killer, someone's ``systemctl stop``), :func:`run` never got to say so, so this
    notifies. A job that ended by itself, however it ended, was already notified by :func:`run`:
    nothing is sent twice."""
    result = environ.get("SERVICE_RESULT", "")
    how = environ.get("EXIT_CODE", "")
    if how in ("", "exited") and result in ("", "success", "exit-code"):
        return EXIT_OK
    settings = read_settings(settings_path)
    host = str(settings.get("host") or "-")
    reason = ENDED.get(result, result or "-")
    if how in ("killed", "dumped"):
        reason += f"; {how} (SIG{environ.get('EXIT_STATUS', '?')})"
    subject = f"[SI CEKAT arsip] TERHENTI / STOPPED ({result or how}): {WHAT[job]} on {host}"
    body = "\n".join(
        [
            f"Host              : {host}",
            f"Tugas / Job       : {job} ({WHAT[job]})",
            f"Status            : stopped ({reason})",
            "",
            "Tugas ini tidak selesai; jalankan lagi setelah sebabnya diperbaiki. / The job did not"
            " finish; run it again once the cause is fixed.",
            f"Log: journalctl -u bangka-arsip@{job}.service",
        ]
    )
    summary = {"host": host, "job": job, "status": "stopped", "service_result": result,
               "exit_code": how, "exit_status": environ.get("EXIT_STATUS", "")}  # fmt: skip
    print(f"cekat arsip tugas {job}: terhenti / stopped: {reason}", file=sys.stderr)
    audit("arsip", f"tugas {job}", "failed", reason=reason)
    notify(settings, subject, body, summary)
    return EXIT_OK
