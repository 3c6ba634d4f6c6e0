"""``cekat arsip …``: the digital archive. Argument parsing and printing; the work is in
:mod:`bangka_ops.arsip`."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sqlite3
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

from rich.console import Console

from bangka_ops.arsip import awan, intake, verification
from bangka_ops.arsip import catalogue as cat
from bangka_ops.arsip import config as configs
from bangka_ops.arsip import summary as summaries
from bangka_ops.backup.audit import audit, audit_actor

DEFAULT_ROOT = Path(os.environ.get("BANGKA_ARSIP_ROOT", "/var/lib/bangka-arsip"))
DEFAULT_CONFIG = Path(os.environ.get("BANGKA_ARSIP_CONFIG", "/etc/bangka-arsip/arsip.yml"))
EXIT_OK, EXIT_ACTION, EXIT_FAILED, EXIT_USAGE = 0, 1, 2, 64
EXIT_BUSY = 75  # EX_TEMPFAIL: another upload or verification holds the lock; nothing was done
# The page count is a fact of the stored file, not an editable field.
EDITABLE = tuple(key for key in cat.META if key != "halaman")


def err(command: str, message: object) -> None:
    print(f"cekat arsip {command}: {message}", file=sys.stderr)


def load_config(args: argparse.Namespace) -> configs.Config | None:
    try:
        return configs.read(args.konfigurasi)
    except configs.ConfigError as exc:
        for problem in exc.problems:
            err(args.arsip_command, problem)
        return None


def open_catalogue(args: argparse.Namespace) -> cat.Catalogue | None:
    if not (args.arsip / cat.FILE).is_file():
        err(args.arsip_command, f"{args.arsip}: belum ada arsip di sini / no archive here yet")
        return None
    return cat.Catalogue(args.arsip)


def dump(data: Any) -> None:
    print(json.dumps(data, indent=1, ensure_ascii=False, default=str))


def cmd_masuk(args: argparse.Namespace) -> int:
    """Ingest a batch: scans plus their metadata sheet."""
    config = load_config(args)
    if config is None:
        return EXIT_USAGE
    console = Console(stderr=True, highlight=False)
    from rich.progress import Progress  # noqa: PLC0415

    with Progress(console=console, transient=True, disable=args.json) as bar:
        task = bar.add_task("pindai, OCR, PDF/A / scan check, OCR, PDF/A", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            report = intake.Intake(
                config, args.arsip, progress=progress, quiet=args.tunggu_tenang
            ).run(args.kotak_masuk, args.lembar)
        except intake.IntakeError as exc:
            err("masuk", exc)
            return EXIT_USAGE
        except (OSError, sqlite3.Error) as exc:
            where = getattr(exc, "filename", None)
            err(
                "masuk",
                f"{where + ': ' if where else ''}{getattr(exc, 'strerror', None) or exc} — "
                "berhenti; jalankan lagi untuk menyelesaikan atau membatalkan yang terputus / "
                "stopped; run it again to finish or undo what was interrupted",
            )
            return EXIT_FAILED
    if args.json:
        dump(report.as_dict())
    else:
        print_report(report)
    if report.problems:
        return EXIT_FAILED
    return EXIT_OK if report.ok else EXIT_ACTION


LABELS = {
    "tersimpan": "TERSIMPAN / stored",
    "sudah_tersimpan": "sudah tersimpan / already stored",
    "ditolak": "DITOLAK / refused",
    "perlu_pindai_ulang": "PERLU PINDAI ULANG / re-scan",
    "gagal_ocr": "OCR GAGAL / OCR failed",
    intake.WAITING: "menunggu / waiting (still being written)",
}


def print_report(report: intake.Report) -> None:
    if report.empty:
        print("Kotak masuk kosong, tidak ada yang dimasukkan / the inbox is empty, nothing to do")
        return
    if report.sheet_waiting:
        print(
            f"Lembar data masih ditulis, diambil nanti / the sheet is still being written, "
            f"taken later: {report.sheet}"
        )
        return
    print(f"Batch {report.batch} — lembar / sheet {report.sheet}")
    for line in report.recovered:
        print(f"  dipulihkan / recovered: {line}")
    for problem in report.problems:
        print(f"  {problem['teks']}")
    for o in report.outcomes:
        ident = f"ID {o.item}" if o.item else "-"
        print(f"  baris/row {o.row} ({'; '.join(o.files)}): {LABELS[o.status]} {ident}")
        if o.path:
            print(f"      {o.path}")
        for reason in o.reasons:
            print(f"      - {reason['teks']}")
    summary = ", ".join(f"{k} {v}" for k, v in report.summary().items())
    print(f"Ringkasan / summary: {summary}")


def cmd_cari(args: argparse.Namespace) -> int:
    """Search the archive."""
    catalogue = open_catalogue(args)
    if catalogue is None:
        return EXIT_USAGE
    with catalogue:
        try:
            hits = catalogue.search(
                args.kata,
                kode=args.kode,
                tahun=args.tahun,
                jenis=args.jenis,
                unit=args.unit,
                limit=args.batas,
            )
        except cat.SearchError as exc:
            err("cari", exc)
            return EXIT_USAGE
    if args.json:
        dump([{**h.item, "cuplikan": h.snippet, "skor": h.score, "urut_terbaru": h.newest_first}
              for h in hits])  # fmt: skip
        return EXIT_OK
    if not hits:
        print(f"Tidak ditemukan / nothing found: {args.kata}")
        return EXIT_OK
    if hits[0].newest_first:
        print(
            "Kata ini ada di sangat banyak dokumen: yang terakhir disimpan lebih dulu; persempit "
            "dengan kata lain atau --kode/--tahun/--unit / these words are in very many "
            "documents: most recently stored first; narrow with more words or "
            "--kode/--tahun/--unit"
        )
    for hit in hits:
        item = hit.item
        print(
            f"ID {item['id']}  {item['kode']}  {item['tanggal']}  {item['jenis']}  "
            f"{item['nomor'] or '-'}"
        )
        print(f"    {item['perihal']}")
        print(f"    {args.arsip / intake.DOCUMENTS / item['path']}")
        if hit.snippet:
            print(f"    {hit.snippet}")
    return EXIT_OK


def cmd_lihat(args: argparse.Namespace) -> int:
    """One item's record and its history."""
    catalogue = open_catalogue(args)
    if catalogue is None:
        return EXIT_USAGE
    with catalogue:
        item = catalogue.get(args.id)
        if item is None:
            err("lihat", f"ID {args.id} tidak ada / no such item")
            return EXIT_ACTION
        history = catalogue.history(args.id)
    if args.json:
        dump({**item, "riwayat": history})
        return EXIT_OK
    for key in (
        "id",
        "status",
        *EDITABLE,
        "halaman",
        "path",
        "sha256",
        "asli",
        "asli_sha256",
        "sumber_sha256",
        "batch",
        "dibuat",
        "diubah",
        "versi",
    ):
        print(f"{key:14} {item.get(key) if item.get(key) not in (None, '') else '-'}")
    if item.get("path"):
        print(f"{'berkas/file':14} {args.arsip / intake.DOCUMENTS / item['path']}")
    for reason in item.get("masalah") or []:
        print(f"{'masalah':14} {reason.get('teks')}")
    print("riwayat / history:")
    for version in history:
        print(
            f"  v{version['versi']} {version['waktu']} {version['oleh']} {version['tindakan']}"
            f"{' — ' + version['alasan'] if version['alasan'] else ''}"
        )
        if version["versi"] > 1:
            for key, (old, new) in version["perubahan"].items():
                print(f"      {key}: {old!r} → {new!r}")
    return EXIT_OK


def cmd_pindai_ulang(args: argparse.Namespace) -> int:
    """The re-scan list (daftar pindai ulang)."""
    catalogue = open_catalogue(args)
    if catalogue is None:
        return EXIT_USAGE
    with catalogue:
        items = catalogue.with_status(cat.RESCAN, cat.OCR_FAILED)
    if args.json:
        dump(items)
        return EXIT_OK
    print("Daftar pindai ulang / re-scan list")
    if not items:
        print("  (kosong / empty)")
    for item in items:
        source = item.get("sumber") or {}
        print(
            f"ID {item['id']}  {item['status']}  {item['kode']}  {item['nomor'] or '-'}  "
            f"{item['perihal']}"
        )
        print(
            f"    berkas/file: {'; '.join(source.get('berkas', []))} "
            f"({source.get('lembar')} baris/row {source.get('baris')})"
        )
        for reason in item.get("masalah") or []:
            print(f"    - {reason.get('teks')}")
    return EXIT_ACTION if items else EXIT_OK


def cmd_ubah(args: argparse.Namespace) -> int:
    """Change an item's metadata (a new version; the file keeps its name and place)."""
    config = load_config(args)
    if config is None:
        return EXIT_USAGE
    changes: dict[str, Any] = {}
    for pair in args.set:
        key, sep, value = pair.partition("=")
        if not sep or key not in EDITABLE:
            err("ubah", f"--set {pair!r}: use FIELD=VALUE with FIELD one of {', '.join(EDITABLE)}")
            return EXIT_USAGE
        changes[key] = value.strip()
    problem = check_changes(changes, config)
    if problem:
        err("ubah", problem)
        return EXIT_USAGE
    catalogue = open_catalogue(args)
    if catalogue is None:
        return EXIT_USAGE
    who = audit_actor(args.oleh)
    with catalogue:
        if catalogue.get(args.id) is None:
            err("ubah", f"ID {args.id} tidak ada / no such item")
            return EXIT_ACTION
        diff = catalogue.change(args.id, changes, who, args.alasan)
    audit(
        "arsip",
        "ubah",
        "ok",
        actor=who,
        item=args.id,
        alasan=args.alasan,
        perubahan={k: list(v) for k, v in diff.items()},
    )
    print(
        f"ID {args.id}: {len(diff)} perubahan / changes"
        + "".join(f"\n  {k}: {o!r} → {n!r}" for k, (o, n) in diff.items())
    )
    return EXIT_OK


def check_changes(changes: dict[str, Any], config: configs.Config) -> str | None:
    from bangka_ops.arsip import sheet  # noqa: PLC0415

    if "kode" in changes:
        changes["kode"] = changes["kode"].upper()
    allowed: dict[str, tuple[Collection[str], str]] = {
        "kode": (config.codes, "tidak ada di konfigurasi / unknown code"),
        "jenis": (config.types, "tidak dikenal / unknown type"),
        "unit": (config.units, "tidak dikenal / unknown unit"),
        "keamanan": (sheet.SECURITY, f"bukan {', '.join(sheet.SECURITY)} / unknown class"),
    }
    for key, (known, wrong) in allowed.items():
        if key in changes and changes[key] not in known:
            return f"{key} {changes[key]} {wrong}"
    if "tanggal" in changes:
        when = sheet.parse_date(changes["tanggal"])
        if not isinstance(when, dt.date):
            return str(when or "tanggal kosong / empty date")
        changes["tanggal"] = when.isoformat()
    for key, value in changes.items():
        if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", str(value)):
            return f"{key}: berisi karakter kendali / contains control characters"
        if len(str(value)) > sheet.MAX_TEXT.get(key, 200):
            return f"{key}: lebih dari {sheet.MAX_TEXT.get(key, 200)} karakter / too long"
    if "perihal" in changes and not changes["perihal"]:
        return "perihal wajib diisi / required"
    return None


def cmd_daftar(args: argparse.Namespace) -> int:
    """The Daftar Arsip (HTML, CSV, XLSX)."""
    from bangka_ops.arsip import instruments  # noqa: PLC0415

    config = load_config(args)
    if config is None:
        return EXIT_USAGE
    catalogue = open_catalogue(args)
    if catalogue is None:
        return EXIT_USAGE
    out = args.keluar or args.arsip / "laporan"
    with catalogue:
        paths = instruments.daftar(catalogue, config, out, args.unit, args.tahun)
    for path in paths:
        print(f"daftar arsip / records list: {path}")
    return EXIT_OK


def cmd_retensi(args: argparse.Namespace) -> int:
    """The retention list as of a date: a proposal for sign-off, never a deletion."""
    from bangka_ops.arsip import instruments  # noqa: PLC0415

    try:
        per = dt.date.fromisoformat(args.per) if args.per else dt.date.today()
    except ValueError:
        err("retensi", f"--per {args.per!r}: bukan tanggal TTTT-BB-HH / not a YYYY-MM-DD date")
        return EXIT_USAGE
    config = load_config(args)
    if config is None:
        return EXIT_USAGE
    catalogue = open_catalogue(args)
    if catalogue is None:
        return EXIT_USAGE
    with catalogue:
        result = instruments.retention(catalogue, config, per)
    paths = instruments.write_retention(result, config, args.keluar or args.arsip / "laporan")
    counts = {key: len(rows) for key, rows in result.due.items()}
    audit(
        "arsip",
        "usul_retensi",
        "ok",
        per=per.isoformat(),
        inaktif=len(result.inactive),
        usul=counts,
        item=[r["id"] for rows in result.due.values() for r in rows][:1000],
    )
    if args.json:
        dump(
            {
                "per": per.isoformat(),
                "inaktif": result.inactive,
                "usul": result.due,
                "berkas": [str(p) for p in paths],
            }
        )
        return EXIT_OK
    print(f"Retensi per {per.isoformat()} / retention as of {per.isoformat()}:")
    print(f"  beralih ke inaktif / moved to inactive: {len(result.inactive)}")
    for key, (id_, en) in instruments.FINAL.items():
        print(f"  {id_} / {en}: {counts[key]}")
    for path in paths:
        print(f"daftar retensi / retention list: {path}")
    return EXIT_OK


def cloud_config(args: argparse.Namespace) -> configs.Config | None:
    config = load_config(args)
    if config is not None and config.cloud is None:
        err(
            args.arsip_command,
            f"{args.konfigurasi}: tidak ada bagian 'awan' (penyimpanan awan belum diatur) / "
            "no 'awan' section: cloud storage is not configured",
        )
        return None
    if config is not None and not (args.arsip / cat.FILE).is_file():
        err(args.arsip_command, f"{args.arsip}: belum ada arsip di sini / no archive here yet")
        return None
    return config


def cmd_unggah(args: argparse.Namespace) -> int:
    """Upload what is not yet in cloud storage (SOP step 7)."""
    config = cloud_config(args)
    if config is None:
        return EXIT_USAGE
    try:
        report = awan.upload(config, args.arsip, wait=args.tunggu_kunci)
    except awan.CloudBusy as exc:
        err("unggah", exc)
        return EXIT_BUSY
    except (awan.CloudError, OSError, sqlite3.Error) as exc:
        err("unggah", exc)
        audit("arsip", "unggah", "gagal", galat=str(exc)[:500])
        return EXIT_FAILED
    summaries.write(config, args.arsip)
    failed = bool(report.error or report.damaged)
    audit(
        "arsip",
        "unggah",
        "gagal" if failed else "ok",
        terunggah=report.uploaded,
        tersisa=report.left,
        rusak=len(report.damaged),
    )
    if args.json:
        dump(report.as_dict())
    else:
        print_upload(report)
    return EXIT_FAILED if failed else EXIT_OK


def print_upload(report: awan.UploadReport) -> None:
    if report.outside_window:
        print(
            "Di luar jendela waktu unggah; tidak ada yang diunggah / outside the upload window; "
            f"nothing uploaded ({report.left} berkas menunggu / files waiting)"
        )
        return
    print(
        f"Diunggah dan dicocokkan / uploaded and matched: {report.uploaded} dari/of "
        f"{report.queued}; belum tersimpan di awan / not yet in cloud storage: {report.left}"
    )
    if report.stopped_by_window:
        print(
            "  Jendela waktu berakhir: sisanya dilanjutkan pada jendela berikutnya / the window "
            "closed: the rest continues in the next window"
        )
    for damaged in report.damaged:
        print(f"  RUSAK / DAMAGED: {damaged.teks}")
    if report.error:
        print(f"  GAGAL / FAILED: {report.error}")
        print(
            "  Yang belum tersimpan diunggah lagi pada jalankan berikutnya / what is not stored "
            "is uploaded by the next run"
        )


def cmd_verifikasi(args: argparse.Namespace) -> int:
    """Check the cloud copy: listing, a random sample opened, re-upload once (SOP step 8)."""
    config = cloud_config(args)
    if config is None:
        return EXIT_USAGE
    try:
        report = verification.verify(
            config, args.arsip, sample=args.sampel, who=audit_actor(), wait=args.tunggu_kunci
        )
    except awan.CloudBusy as exc:
        err("verifikasi", exc)
        return EXIT_BUSY
    except (awan.CloudError, OSError, sqlite3.Error) as exc:
        err("verifikasi", exc)
        audit("arsip", "verifikasi", "gagal", galat=str(exc)[:500])
        return EXIT_FAILED
    summaries.write(config, args.arsip)
    audit(
        "arsip",
        "verifikasi",
        "ok" if report.ok else "gagal",
        berkas=report.files,
        cocok=report.matched,
        diunggah_ulang=len(report.repaired),
        gagal=len(report.failed),
        sampel=len(report.sampled),
    )
    if args.json:
        dump(report.as_dict())
    else:
        print_verify(report)
    return EXIT_OK if report.ok else EXIT_FAILED


def print_verify(report: verification.VerifyReport) -> None:
    print(f"Verifikasi penyimpanan awan / cloud storage verification — {report.finished}")
    print(
        f"  berkas tersimpan / stored files: {report.files}; cocok di awan / matched remotely: "
        f"{report.matched}; belum diunggah / not uploaded yet: {report.not_uploaded}"
    )
    print(
        f"  sampel diunduh dan dibuka / sample downloaded and opened: {report.sample_ok} dari/of "
        f"{len(report.sampled)} baik / good "
        f"(hash: {report.hash_type or 'ukuran+unduhan / size+download'})"
    )
    for finding in report.found:
        repaired = finding.path in report.repaired
        mark = "DIUNGGAH ULANG / UPLOADED AGAIN" if repaired else "MASALAH / PROBLEM"
        print(f"  {mark}: {finding.teks}")
    for finding in report.failed:
        print(f"  GAGAL / FAILED: {finding.teks}")
    if report.error:
        print(f"  GAGAL / FAILED: {report.error}")
    print(
        "  HASIL / RESULT: "
        + ("baik / good" if report.ok else "ADA MASALAH, lihat di atas / PROBLEMS, see above")
    )


def cmd_ringkasan(args: argparse.Namespace) -> int:
    """The archive's state for the checklist (also written after every upload/verification)."""
    config = load_config(args)
    if config is None:
        return EXIT_USAGE
    if not (args.arsip / cat.FILE).is_file():
        err("ringkasan", f"{args.arsip}: belum ada arsip di sini / no archive here yet")
        return EXIT_USAGE
    path = summaries.write(config, args.arsip)
    data = json.loads(path.read_text(encoding="utf-8"))
    if args.json:
        dump(data)
        return EXIT_OK
    cloud, check = data["awan"], data["verifikasi"]
    print(f"Ringkasan arsip / archive summary ({path})")
    print(f"  dokumen tersimpan / stored documents: {data['dokumen']}")
    print(f"  antrean pindai ulang / re-scan backlog: {data['pindai_ulang']}")
    if cloud["diatur"]:
        print(
            f"  awan / cloud: {cloud['tersimpan']} dari/of {cloud['berkas']} berkas tersimpan / "
            f"files stored, belum diunggah / not uploaded: {cloud['belum_diunggah']}"
        )
    else:
        print("  awan / cloud: belum diatur / not configured")
    if check:
        verdict = "baik / good" if check["ok"] and not check["galat"] else "ADA MASALAH / PROBLEMS"
        print(f"  verifikasi terakhir / last verification: {check['waktu']} {verdict}")
    for row in data["per_kode_tahun"]:
        print(f"  {row['kode']:12} {row['tahun']}  {row['dokumen']}")
    return EXIT_OK


def cmd_sandi(args: argparse.Namespace) -> int:
    """A password hash for the search page (kept in the vault, never the password itself)."""
    import getpass  # noqa: PLC0415

    from bangka_ops.arsip.web import users  # noqa: PLC0415

    if sys.stdin.isatty():
        first = getpass.getpass("Sandi baru / new password: ")
        if getpass.getpass("Ulangi / again: ") != first:
            err("sandi", "kedua sandi berbeda / the two passwords differ")
            return EXIT_USAGE
    else:
        first = sys.stdin.readline().rstrip("\n")
    try:
        print(users.hash_password(first))
    except users.UsersError as exc:
        err("sandi", exc)
        return EXIT_USAGE
    return EXIT_OK


def cmd_tugas(args: argparse.Namespace) -> int:
    """One scheduled job, notified when it fails (the archive role's timers run these)."""
    from bangka_ops.arsip import job  # noqa: PLC0415

    try:
        if args.terhenti:
            return job.stopped(args.tugas, args.pengaturan, dict(os.environ))
        return job.run(args.tugas, args.pengaturan)
    except job.JobError as exc:
        err("tugas", exc)
        return EXIT_USAGE


def cmd_periksa(args: argparse.Namespace) -> int:
    """Check arsip.yml (and a jobs' settings file) without touching the archive: every problem
    named with its field; role ``arsip`` checks the file it writes with this before it is put in
    place."""
    from bangka_ops.arsip import job  # noqa: PLC0415

    config = load_config(args)
    ok = config is not None
    if args.pengaturan is not None:
        try:
            job.read_settings(args.pengaturan)
        except job.JobError as exc:
            err("periksa", exc)
            ok = False
    if ok:
        print(f"{args.konfigurasi}: baik / valid")
    return EXIT_OK if ok else EXIT_USAGE


def cmd_cadangan(args: argparse.Namespace) -> int:
    """The Borg policies' pre-hook: the catalogue's consistent copy, the vital records' links."""
    from bangka_ops.arsip import cadangan  # noqa: PLC0415

    config = load_config(args)
    if config is None:
        return EXIT_USAGE
    if not (args.arsip / cat.FILE).is_file():
        # A new archive host: nothing to prepare; Borg backs up the (empty) folders as they are.
        print(f"{args.arsip}: belum ada arsip, tidak ada yang disiapkan / no archive yet")
        return EXIT_OK
    try:
        result = cadangan.prepare(args.arsip, config)
    except (OSError, sqlite3.Error) as exc:
        err("cadangan", f"GAGAL / FAILED: {exc}")
        return EXIT_FAILED
    report = {
        "salinan_katalog": str(result.snapshot), "dokumen": result.items,
        "vital": result.vital_items, "ditautkan": result.linked, "dihapus": result.removed,
        "masalah": result.problems,
    }  # fmt: skip
    if args.json:
        dump(report)
    else:
        print(f"Salinan katalog / catalogue copy: {result.snapshot} ({result.items} dokumen)")
        print(
            f"Arsip vital / vital records: {result.vital_items} dokumen "
            f"(tautan baru / new links {result.linked}, dihapus / removed {result.removed})"
        )
    for problem in result.problems:
        err(
            "cadangan",
            f"MASALAH / PROBLEM (cadangan tetap berjalan / the backup goes on): {problem}",
        )
    audit(
        "arsip", "cadangan", "ok" if not result.problems else "partial",
        dokumen=result.items, vital=result.vital_items, masalah=result.problems[:20],
    )  # fmt: skip
    return EXIT_OK


def cmd_contoh(args: argparse.Namespace) -> int:
    """Generated example scans and their sheet (never real documents)."""
    from bangka_ops.arsip import examples  # noqa: PLC0415

    made = examples.inbox(args.direktori, bad=args.dengan_rusak)
    print(f"kotak masuk contoh / example inbox: {args.direktori} ({made} dokumen)")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    arsip = sub.add_parser(
        "arsip",
        help="arsip digital / the digital archive: ingest scans, search, records lists",
        description="Arsip digital SI CEKAT / the digital archive (see README: Arsip digital).",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--arsip",
        type=Path,
        default=DEFAULT_ROOT,
        help=f"the archive's root directory (default $BANGKA_ARSIP_ROOT or {DEFAULT_ROOT})",
    )
    common.add_argument(
        "--konfigurasi",
        type=Path,
        default=DEFAULT_CONFIG,
        help=f"arsip.yml (default $BANGKA_ARSIP_CONFIG or {DEFAULT_CONFIG})",
    )
    common.add_argument("--json", action="store_true", help="machine-readable output")
    cmds = arsip.add_subparsers(dest="arsip_command", required=True)

    masuk = cmds.add_parser(
        "masuk", parents=[common], help="masukkan pindaian / ingest a batch of scans and its sheet"
    )
    masuk.add_argument("kotak_masuk", type=Path, help="the inbox directory (scans + one sheet)")
    masuk.add_argument("--lembar", type=Path, help="the metadata sheet (.csv/.xlsx)")
    masuk.add_argument(
        "--tunggu-tenang",
        type=float,
        default=0,
        metavar="DETIK",
        help="leave files changed in the last DETIK seconds for a later run (a scan still "
        "being written through the share); the intake timer uses 120",
    )
    masuk.set_defaults(func=cmd_masuk)

    cari = cmds.add_parser("cari", parents=[common], help="cari / search the archive")
    cari.add_argument("kata", help="search words (at least three letters each)")
    cari.add_argument("--kode", help="classification code (and its sub-codes)")
    cari.add_argument("--tahun", type=int, help="year")
    cari.add_argument("--jenis", help="document type key")
    cari.add_argument("--unit", help="unit key")
    cari.add_argument("--batas", type=int, default=20, help="at most this many results")
    cari.set_defaults(func=cmd_cari)

    lihat = cmds.add_parser("lihat", parents=[common], help="lihat / one item's record")
    lihat.add_argument("id", type=int)
    lihat.set_defaults(func=cmd_lihat)

    ulang = cmds.add_parser(
        "pindai-ulang", parents=[common], help="daftar pindai ulang / the re-scan list"
    )
    ulang.set_defaults(func=cmd_pindai_ulang)

    ubah = cmds.add_parser(
        "ubah", parents=[common], help="ubah metadata / change an item's metadata (versioned)"
    )
    ubah.add_argument("id", type=int)
    ubah.add_argument("--set", action="append", required=True, metavar="FIELD=VALUE")
    ubah.add_argument("--alasan", required=True, help="why (kept in the history)")
    ubah.add_argument("--oleh", help="who (default: the account)")
    ubah.set_defaults(func=cmd_ubah)

    daftar = cmds.add_parser(
        "daftar", parents=[common], help="Daftar Arsip / the records list per unit and year"
    )
    daftar.add_argument("--unit", help="one unit only")
    daftar.add_argument("--tahun", type=int, help="one year only")
    daftar.add_argument("--keluar", type=Path, help="output directory (default <arsip>/laporan)")
    daftar.set_defaults(func=cmd_daftar)

    retensi = cmds.add_parser(
        "retensi",
        parents=[common],
        help="daftar retensi / inactive records and disposition proposals (never deletes)",
    )
    retensi.add_argument("--per", help="as of this date (YYYY-MM-DD, default today)")
    retensi.add_argument("--keluar", type=Path, help="output directory (default <arsip>/laporan)")
    retensi.set_defaults(func=cmd_retensi)

    add_cloud_parsers(cmds, common)

    periksa = cmds.add_parser(
        "periksa",
        parents=[common],
        help="periksa konfigurasi / check arsip.yml (and --pengaturan tugas.json), nothing else",
    )
    periksa.add_argument("--pengaturan", type=Path, help="also check this jobs' settings file")
    periksa.set_defaults(func=cmd_periksa)

    cadangan = cmds.add_parser(
        "cadangan",
        parents=[common],
        help="siapkan cadangan / before Borg: a consistent copy of the catalogue and links of "
        "the vital records (the archive policies' pre-hook)",
    )
    cadangan.set_defaults(func=cmd_cadangan)

    contoh = cmds.add_parser(
        "contoh", help="contoh / generate an example inbox (no real documents)"
    )
    contoh.add_argument("direktori", type=Path)
    contoh.add_argument(
        "--dengan-rusak",
        action="store_true",
        help="also the bad cases (blank, 100 DPI, wrong page count …)",
    )
    contoh.set_defaults(func=cmd_contoh)


def add_cloud_parsers(cmds: Any, common: argparse.ArgumentParser) -> None:
    """Cloud storage, the summary and the search page's passwords."""
    unggah = cmds.add_parser(
        "unggah",
        parents=[common],
        help="unggah ke penyimpanan awan / upload to cloud storage (SOP step 7)",
    )
    unggah.set_defaults(func=cmd_unggah)

    verifikasi = cmds.add_parser(
        "verifikasi",
        parents=[common],
        help="verifikasi penyimpanan awan / prove the cloud copy is stored and opens (SOP step 8)",
    )
    verifikasi.add_argument(
        "--sampel",
        type=int,
        help="documents downloaded whole and opened (default: awan.sampel_harian)",
    )
    verifikasi.set_defaults(func=cmd_verifikasi)
    for command in (unggah, verifikasi):
        command.add_argument(
            "--tunggu-kunci",
            type=float,
            default=0,
            metavar="DETIK",
            help="wait up to DETIK seconds for another upload or verification to end (default: "
            f"none); still busy: exit {EXIT_BUSY}, nothing done",
        )

    ringkasan = cmds.add_parser(
        "ringkasan", parents=[common], help="ringkasan / the archive's state for the checklist"
    )
    ringkasan.set_defaults(func=cmd_ringkasan)

    sandi = cmds.add_parser(
        "sandi",
        help="hash sandi halaman pencarian / a search-page password hash for the vault "
        "(reads the password from the terminal, or one line of standard input)",
    )
    sandi.set_defaults(func=cmd_sandi)

    tugas = cmds.add_parser(
        "tugas",
        help="tugas terjadwal / one scheduled job (masuk, unggah, verifikasi, retensi, "
        "ringkasan), notified by webhook/e-mail when it fails",
    )
    tugas.add_argument("tugas", choices=("masuk", "unggah", "verifikasi", "retensi", "ringkasan"))
    tugas.add_argument(
        "--pengaturan",
        type=Path,
        default=Path("/etc/bangka-arsip/tugas.json"),
        help="the job settings (archive, configuration, inbox, notifications)",
    )
    tugas.add_argument(
        "--terhenti",
        action="store_true",
        help="after the job's unit ended (ExecStopPost): notify if systemd stopped it "
        "(time limit, out of memory, a signal), reading SERVICE_RESULT/EXIT_CODE/EXIT_STATUS",
    )
    tugas.set_defaults(func=cmd_tugas)
