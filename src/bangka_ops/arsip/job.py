"""``cekat arsip tugas JOB``: one scheduled archive job (a systemd timer's unit runs it) that
notifies when it fails, through the same webhook and e-mail settings as the backups and the
agenda (:mod:`bangka_ops.backup.notify`).

Jobs: ``masuk`` (intake of the scan-to-folder inbox, leaving files still being written for a
later run), ``unggah``, ``verifikasi``, ``retensi`` (the monthly proposals) and ``ringkasan``.
Each runs ``cekat arsip …`` as a child process, so whatever happens in it (a crash included)
ends in a result here. Notified: exit 2 (failed) always; exit 1 (needs staff action: refused
rows, the re-scan list) for ``masuk``; nothing when all went well.

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

from bangka_ops.backup.notify import send_notifications

JOBS = ("masuk", "unggah", "verifikasi", "retensi", "ringkasan")
TAIL_LINES = 30
EXIT_OK, EXIT_ACTION, EXIT_FAILED, EXIT_USAGE = 0, 1, 2, 64
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
    if not isinstance(data, dict):
        raise JobError(f"{path}: not a JSON object")
    for key in ("arsip", "konfigurasi"):
        if not isinstance(data.get(key), str):
            raise JobError(f"{path}: {key}: a path is required")
    if not isinstance(data.get("notify", {}), dict):
        raise JobError(f"{path}: notify: an object")
    return data


def command(job: str, settings: dict[str, Any]) -> list[str]:
    args = {
        "masuk": ["masuk", str(settings.get("kotak_masuk", "")), "--tunggu-tenang",
                  str(settings.get("tunggu_tenang", 120))],
        "unggah": ["unggah"],
        "verifikasi": ["verifikasi"],
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
    started = dt.datetime.now(dt.UTC).astimezone()
    done = subprocess.run(command(job, settings), capture_output=True, text=True, check=False)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
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
        for result in send_notifications(settings.get("notify") or {}, subject, body, summary):
            if not result.get("delivered"):
                print(f"cekat arsip tugas: notification not sent: {result}", file=sys.stderr)
    return code
