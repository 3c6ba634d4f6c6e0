"""Screenshots of pages this project really produces, taken in Debian's headless chromium.

* ``agenda-cek-{1-salah,2-bentrok,3-siap}.png``: the pull-request check's comment, i.e. the
  Markdown of ``protocloud check --format markdown`` on a copy of ``examples/agenda`` (a git
  repository made here) with a proposed item as first written (a mistyped venue), corrected but
  clashing with the Regent's day away, and moved to a free day, rendered to HTML. GitHub's own
  pages cannot be reached from here and are not imitated: the page shows the comment's content
  only, and says so.
* ``daftar-periksa.png``, ``daftar-periksa-en.png``: the checklist form of ``cekat report
  --format html`` (``--lang en``) over a week of example run records (two servers, one failed
  run, one missed run), written here.
* ``arsip-cari.png``: the archive's search page (the Flask app under gunicorn, TLS on loopback)
  after the real intake (scan check, OCR) of two generated letters, logged in as an example
  viewer, with the results of a search.

Only missing files are made (``cekat handbook`` removes them first, so a full build makes them
all again); one browser serves every screenshot.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import markdown

from bangka_ops.arsip import samples
from bangka_ops.arsip.web.users import hash_password
from bangka_ops.cli import cekat, protocloud

# The proposal as a protocol operator first writes it: a venue key mistyped, and the Regent is
# away at the Governor's coordination meeting that whole day (a confirmed item).
PROPOSAL = """\
---
id: {day}-audiensi-koni
title: Audiensi Pengurus KONI Kabupaten Bangka
start: {day}T10:00
end: {day}T11:00
venue: {venue}
room: Ruang Kerja Bupati
leaders: [bupati]
category: audiensi
person_in_charge: rina.marlina
contact: rina.marlina@bangka.go.id
status: diajukan
history:
  - {{status: diajukan, by: rina.marlina, at: "2026-12-01T09:00:00+07:00"}}
"""
# The example viewer's password on a throwaway loopback site that lives for one screenshot.
EXAMPLE_PASSWORD = "contoh-sandi-buku-panduan"  # noqa: S105  # pragma: allowlist secret
AGENDA = ("agenda-cek-1-salah.png", "agenda-cek-2-bentrok.png", "agenda-cek-3-siap.png")
CHECKLIST = {"id": "daftar-periksa.png", "en": "daftar-periksa-en.png"}
NAMES = (*AGENDA, *CHECKLIST.values(), "arsip-cari.png")

COMMENT_PAGE = """<!doctype html><html lang="id"><head><meta charset="utf-8"><style>
body {{ font: 15px/1.5 "DejaVu Sans", sans-serif; margin: 0; background: #f6f8fa; }}
.note {{ font-size: 12px; color: #555; padding: 8px 16px; }}
.comment {{ background: #fff; border: 1px solid #d0d7de; border-radius: 6px; margin: 0 16px 16px;
  padding: 4px 16px; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }}
code {{ background: #eff1f3; padding: 1px 4px; border-radius: 4px; font-size: 12px; }}
</style></head><body>
<p class="note">Isi komentar pemeriksaan <em>pull request</em> (keluaran
<code>protocloud check --format markdown</code>), ditampilkan oleh buku panduan, bukan halaman
GitHub / the pull-request check's comment, shown by the handbook, not a GitHub page.</p>
<div class="comment">{body}</div></body></html>"""


class ScreenshotError(RuntimeError):
    """A screenshot could not be made; the message says which and why."""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Buku Panduan", "-c", "user.email=panduan@bangka.go.id",
         "-c", "commit.gpgsign=false", *args],
        cwd=repo, check=True, capture_output=True,
    )  # fmt: skip


def agenda_comments(repo: Path, work: Path) -> list[str]:
    """The check's Markdown for the proposal as first written (a venue mistyped), with the venue
    corrected (the Regent is away that day: a clash), and moved to a free day."""
    agenda = work / "agenda"
    shutil.copytree(repo / "examples" / "agenda", agenda)
    _git(agenda, "init", "-q", "-b", "main")
    _git(agenda, "add", "-A")
    _git(agenda, "commit", "-q", "-m", "agenda")
    _git(agenda, "checkout", "-q", "-b", "usulan-audiensi-koni")
    comments = []
    versions = (("2026-12-08", "kantor-bupatii"), ("2026-12-08", "kantor-bupati"),
                ("2026-12-10", "kantor-bupati"))  # fmt: skip
    for day, venue in versions:
        for old in agenda.glob("events/2026/12/*-audiensi-koni.yaml"):
            old.unlink()  # moved to another day: the file name carries the start date
        event = agenda / "events" / "2026" / "12" / f"{day}-audiensi-koni.yaml"
        event.write_text(PROPOSAL.format(day=day, venue=venue), encoding="utf-8")
        _git(agenda, "add", "-A")
        _git(agenda, "commit", "-q", "-m", "usul audiensi KONI")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            protocloud.main(["check", str(agenda), "--base", "main", "--format", "markdown",
                             "--no-cache", "--today", "2026-12-01"])  # fmt: skip
        comments.append(out.getvalue())
    return comments


def _tz() -> dt.timezone:
    return dt.timezone(dt.timedelta(hours=7))


def _record(
    host: str, policy: str, start: dt.datetime, status: str, **extra: Any
) -> dict[str, Any]:
    stamp = start.strftime("%Y-%m-%dT%H-%M-%S")
    archive = f"{host}-{policy}-daily-{stamp}"
    duration = 300.0 if status == "success" else 12.0
    exit_code = 0 if status == "success" else 2
    repository = f"ssh://borg@backup01.bangka.go.id:22/srv/borg/repos/{host}"
    return {
        "schema_version": 1, "kind": "backup_run", "host": host, "policy": policy,
        "category": "critical", "cycle": "daily", "backup_type": "incremental",
        "archive": archive, "repository": repository,
        "start": start.isoformat(), "end": (start + dt.timedelta(seconds=duration)).isoformat(),
        "duration_seconds": duration, "status": status, "exit_code": exit_code,
        "msgids": [], "warnings": [], "trigger": "schedule",
        "record_path": f"/var/lib/bangka-backup/records/{policy}/{archive}.json",
        "notifications": [], "steps": {},
        "archive_stats": {"original_size": 48 * 2**30, "compressed_size": 31 * 2**30,
                          "deduplicated_size": 420 * 2**20, "nfiles": 183_000},
        "rpo_hours": 24, "rto_hours": 8, **extra,
    }  # fmt: skip


def checklist_html(work: Path) -> dict[str, Path]:
    """``cekat report --format html`` over a week of example records of two servers, in each
    language of the form."""
    root = work / "collected"
    first = dt.date(2026, 11, 23)
    plan = {"fs01.bangka.go.id": ("dokumen", 22), "db01.bangka.go.id": ("basisdata", 1)}
    for host, (policy, hour) in plan.items():
        folder = root / host / "records" / policy
        folder.mkdir(parents=True)
        for n in range(7):
            day = first + dt.timedelta(days=n)
            if host == "db01.bangka.go.id" and n == 4:
                continue  # a missed run: the host was off
            start = dt.datetime.combine(day, dt.time(hour, 5), _tz())
            failed = host == "fs01.bangka.go.id" and n == 2
            record = _record(host, policy, start, "failed" if failed else "success",
                             **({"reason": "repository server not reachable: ssh: connect to "
                                 "host backup01.bangka.go.id port 22: Connection timed out",
                                 "archive_stats": None} if failed else {}))  # fmt: skip
            (folder / f"{record['archive']}.json").write_text(json.dumps(record))
        config = {"host": host, "timezone": "Asia/Jakarta", "policies": {policy: {
            "timezone": "Asia/Jakarta", "category": "critical", "rpo_hours": 24, "rto_hours": 8,
            "cycles": {"daily": {"hour": hour, "minute": 5}}}}}  # fmt: skip
        (root / host / "config.json").write_text(json.dumps(config))
    forms = {}
    for lang in ("id", "en"):
        out = work / f"checklist-{lang}.html"
        with contextlib.redirect_stderr(io.StringIO()) as errors:
            code = cekat.main(["report", str(root), "--since", first.isoformat(),
                               "--to", "2026-11-29", "--as-of", "2026-11-30T08:00:00+07:00",
                               "--format", "html", "--lang", lang, "--out", str(out)])  # fmt: skip
        if code != 0:
            raise ScreenshotError(f"cekat report exited {code}: {errors.getvalue()[-500:]}")
        forms[lang] = out
    return forms


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def archive_site(repo: Path, work: Path) -> Iterator[str]:
    """The search page over an archive made by the real intake; yields its URL."""
    inbox, root = work / "masuk", work / "arsip"
    inbox.mkdir()
    lines = ["berkas,kode,jenis,nomor,tanggal,perihal,unit,halaman,keamanan"]
    letters = [
        ("UM.01.01", "surat-masuk", "005/123/BAPPEDA", "2025-03-10",
         "Undangan rapat penyusunan anggaran 2026", "anggaran"),
        ("KU.02", "surat-keluar", "900/45/BPKAD", "2025-04-02",
         "Laporan realisasi anggaran triwulan I", "realisasi"),
    ]  # fmt: skip
    for n, (kode, jenis, nomor, tanggal, perihal, word) in enumerate(letters, 1):
        letter = samples.Letter(nomor, perihal, "2 Mei 2025", body_words=40, seed=10 + n,
                                keyword=word)  # fmt: skip
        samples.pdf([samples.page(letter)], inbox / f"surat-{n}.pdf")
        lines.append(
            f"surat-{n}.pdf,{kode},{jenis},{nomor},{tanggal},{perihal},sekretariat,1,biasa"
        )
    (inbox / "lembar.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = repo / "examples" / "arsip" / "arsip.yml"
    env = {**os.environ, "BANGKA_AUDIT_LOG": str(work / "audit.jsonl")}
    intake = subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", "arsip", "masuk", str(inbox), "--arsip",
         str(root), "--konfigurasi", str(config)],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    if intake.returncode != 0:
        raise ScreenshotError(
            f"cekat arsip masuk exited {intake.returncode}: {intake.stderr[-500:]}"
        )
    users, secret, state = work / "pengguna.json", work / "web-secret", work / "state"
    people = [{"id": "budi", "nama": "Budi Santoso (contoh)", "peran": ["archive_viewer"],
               "izin": "biasa", "sandi": hash_password(EXAMPLE_PASSWORD)}]  # fmt: skip
    users.write_text(json.dumps({"versi": 1, "pengguna": people}), encoding="utf-8")
    secret.write_text(os.urandom(32).hex(), encoding="utf-8")
    state.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=127.0.0.1", "-keyout", str(work / "tls.key"), "-out", str(work / "tls.crt")],
        check=True, capture_output=True,
    )  # fmt: skip
    port = _free_port()
    env.update({
        "BANGKA_ARSIP_ROOT": str(root), "BANGKA_ARSIP_CONFIG": str(config),
        "BANGKA_ARSIP_WEB_USERS": str(users), "BANGKA_ARSIP_WEB_SECRET": str(secret),
        "BANGKA_ARSIP_WEB_STATE": str(state), "BANGKA_ARSIP_WEB_PROXIES": "0",
    })  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--threads", "2", "--graceful-timeout", "2", "--certfile", str(work / "tls.crt"),
         "--keyfile", str(work / "tls.key"), "bangka_ops.arsip.web.app:create_app()"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                err = server.stderr.read().decode(errors="replace") if server.stderr else ""
                raise ScreenshotError(f"the search page did not start: {err[-500:]}")
            time.sleep(0.1)
        yield f"https://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextlib.contextmanager
def browser() -> Iterator[Any]:
    """Debian's chromium through Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 (only when a build needs it)

    executable = shutil.which("chromium")
    if executable is None:
        raise ScreenshotError("chromium is not installed: run scripts/setup.sh --test")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def _shoot_html(chrome: Any, page_file: Path, out: Path, width: int) -> None:
    # A short window: the full-page picture is as tall as the content, no taller.
    page = chrome.new_page(viewport={"width": width, "height": 100}, device_scale_factor=1)
    page.goto(page_file.as_uri())
    page.screenshot(path=str(out), full_page=True)
    page.close()


def _agenda(chrome: Any, repo: Path, work: Path, out_dir: Path) -> None:
    for name, text in zip(AGENDA, agenda_comments(repo, work), strict=True):
        body = markdown.markdown(text, extensions=["tables"])
        page_file = work / f"{name}.html"
        page_file.write_text(COMMENT_PAGE.format(body=body), encoding="utf-8")
        _shoot_html(chrome, page_file, out_dir / name, 1000)


def _checklist(chrome: Any, repo: Path, work: Path, out_dir: Path) -> None:
    for lang, form in checklist_html(work).items():
        page = chrome.new_page(viewport={"width": 1200, "height": 1500}, device_scale_factor=1)
        page.goto(form.as_uri())
        page.screenshot(path=str(out_dir / CHECKLIST[lang]))
        page.close()


def _archive(chrome: Any, repo: Path, work: Path, out_dir: Path) -> None:
    with archive_site(repo, work) as url:
        context = chrome.new_context(ignore_https_errors=True, locale="id-ID",
                                     viewport={"width": 1100, "height": 800})  # fmt: skip
        page = context.new_page()
        page.goto(url + "/")
        page.fill("#akun", "budi")
        page.fill("#sandi", EXAMPLE_PASSWORD)
        page.click("form.login button[type=submit]")
        page.fill("#q", "anggaran")
        page.click("form.search button[type=submit]")
        if page.locator("ol.results > li").count() != 2:
            raise ScreenshotError("the search page did not list the two stored letters")
        page.screenshot(path=str(out_dir / "arsip-cari.png"), full_page=True)
        context.close()


STEPS: dict[str, Callable[[Any, Path, Path, Path], None]] = {
    **dict.fromkeys(AGENDA, _agenda),
    **dict.fromkeys(CHECKLIST.values(), _checklist),
    "arsip-cari.png": _archive,
}


def ensure(out_dir: Path, repo: Path) -> list[Path]:
    """Make every missing screenshot in ``out_dir``; returns the ones made."""
    missing = [name for name in NAMES if not (out_dir / name).is_file()]
    if not missing:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    steps = list(dict.fromkeys(STEPS[name] for name in missing))
    with tempfile.TemporaryDirectory(prefix="handbook-") as tmp, browser() as chrome:
        for n, step in enumerate(steps):
            work = Path(tmp) / str(n)
            work.mkdir()
            try:
                step(chrome, repo, work, out_dir)
            except (OSError, subprocess.CalledProcessError) as exc:
                raise ScreenshotError(f"{step.__name__.strip('_')}: {exc}") from exc
    return [out_dir / name for name in missing]
