"""The printable checklist form (HTML, A4) with KPIs and small charts.

Bahasa Indonesia by default, English with ``lang="en"``. The template ships inside the package
(``report/templates/``) so an installed ``cekat`` finds it; the charts are SVG drawn with
matplotlib and embedded, so the file needs nothing from the network to render or print.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import defaultdict
from collections.abc import Iterable
from typing import IO, Any

import matplotlib as mpl

mpl.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt
from jinja2 import Environment, PackageLoader, select_autoescape

TEXT: dict[str, dict[str, Any]] = {
    "id": {
        "title": "Daftar Periksa Pencadangan",
        "subtitle": "SI CEKAT — Pemerintah Kabupaten Bangka",
        "period": "Periode",
        "generated": "Dibuat",
        "kpis": "Indikator kinerja",
        "scheduled": "Terjadwal",
        "success": "Berhasil",
        "warning": "Peringatan",
        "failed": "Gagal",
        "missed": "Terlewat",
        "on_demand": "Sesuai permintaan",
        "success_percent": "% berhasil",
        "mean": "Durasi rata-rata (s)",
        "unsuccessful": "Durasi dan P95 di atas hanya dari pencadangan yang berhasil. "
        "Pencadangan yang tidak berhasil (peringatan, gagal)",
        "unsuccessful_mean": "rata-rata",
        "chart_max": "maks.",
        "chart_mean": "rata-rata",
        "missed_reason": "tidak ada catatan pencadangan {cycle} yang dijadwalkan {due}",
        "interrupted_reason": "dimulai {start} dan tidak pernah selesai (terhenti: dimatikan, "
        "kehabisan memori, reboot atau listrik padam; atau host tidak terjangkau sejak itu)",
        "running_reason": "masih berjalan saat dikumpulkan (dimulai {start}); "
        "belum ada catatan akhir",
        "cycles": {"daily": "harian", "weekly": "mingguan", "monthly": "bulanan"},
        "triggers": {"on-demand": "sesuai permintaan", "retry": "pengulangan"},
        "modes": {"full": "penuh", "sample": "sampel"},
        "breach_names": {
            "no restore test": "belum ada uji pemulihan",
            "restore test": "uji pemulihan",
            "archive summary stale": "ringkasan arsip usang",
            "no cloud verification": "belum ada verifikasi awan",
            "cloud verification stale": "verifikasi awan usang",
            "cloud verification failed": "verifikasi awan gagal",
            "files wrong in cloud storage": "berkas salah di penyimpanan awan",
            "database dump failed": "dump basis data gagal",
            "database restore test failed": "uji pemulihan basis data gagal",
        },
        "p95": "Durasi P95 (s)",
        "by_category": "Per kategori data",
        "by_host": "Per server (yang melanggar target di atas)",
        "policies": "RPO dan RTO per kebijakan",
        "checklist": "Daftar periksa",
        "date": "Tanggal",
        "server": "Server",
        "policy": "Kebijakan",
        "category": "Kategori",
        "type": "Jenis cadangan",
        "status": "Hasil",
        "size": "Ukuran asli / terkompresi / dedup (MiB)",
        "files": "Berkas",
        "duration": "Durasi (s)",
        "verification": "Verifikasi (log / borg check / uji pemulihan / pemeriksaan admin)",
        "location": "Lokasi penyimpanan",
        "reason": "Keterangan",
        "newest": "Arsip baik terbaru",
        "age": "Umur (jam)",
        "rpo": "RPO (jam)",
        "restore": "Uji pemulihan",
        "rto": "RTO (jam)",
        "growth": "Ukuran (MiB); pertumbuhan 7 hari · 30 hari",
        "breaches": "Pelanggaran",
        "signoff": "Pengesahan operator",
        "arsip": "Arsip digital",
        "arsip_docs": "Dokumen tersimpan",
        "arsip_rescan": "Antrean pindai ulang",
        "arsip_not_uploaded": "Berkas belum diunggah",
        "arsip_cloud_failed": "Berkas salah di awan",
        "arsip_verification": "Verifikasi awan terakhir",
        "arsip_sample": "Sampel dibuka",
        "arsip_storage": "Penyimpanan lokal / awan (MiB)",
        "arsip_by_code": "Dokumen per kode klasifikasi dan tahun",
        "arsip_code": "Kode",
        "arsip_year": "Tahun",
        "arsip_good": "baik",
        "arsip_bad": "ada masalah",
        "arsip_not_configured": "awan belum diatur",
        "databases": "Basis data",
        "databases_note": (
            "Per basis data: dump terbaru dalam periode (dalam arsip Borg pencadangan) dan "
            "barisnya pada uji pemulihan terbaru dalam periode (dimuat ke basis data sementara, "
            "tabel dan jumlah baris dibandingkan, lalu dihapus). Dump atau uji yang gagal "
            "ditandai merah."
        ),
        "db_name": "Basis data (jenis)",
        "db_dump": "Dump terakhir",
        "db_size": "Ukuran (MiB) / durasi (s)",
        "db_version": "Versi server",
        "db_rows_estimate": "Perkiraan baris",
        "db_restore": "Uji pemulihan",
        "db_restore_seconds": "Waktu muat (s)",
        "db_rows_restored": "Baris dipulihkan",
        "db_missing": "Tabel hilang / baris di luar toleransi",
        "db_smoke": "Kueri uji / basis data sementara dihapus",
        "db_ok": "baik",
        "db_failed": "gagal",
        "db_more": "lainnya",
        "signed_by": "Ditandatangani secara elektronik oleh",
        "at": "pada",
        "unsigned": "Belum ditandatangani. Tanda tangan: cekat sign; periksa: cekat verify.",
        "sign_place_date": "Tempat, tanggal",
        "sign_name": "Nama dan tanda tangan",
        "sign_role": "Operator pencadangan",
        "sign_checked": "Diperiksa oleh (koordinator TI)",
        "chart_success": "Keberhasilan per minggu (%)",
        "chart_backup": "Durasi pencadangan per hari (s)",
        "chart_restore": "Waktu pulih (s) terhadap RTO",
        "capacity": "Kapasitas repositori",
        "capacity_note": (
            "Per repositori (satu per server yang dicadangkan): ukuran terdeduplikasi dan "
            "terkompresi setelah pencadangan terbaru, pertumbuhan per hari (kemiringan Theil-Sen "
            "atas ukuran harian 30 hari terakhir), kuota penyimpanan dari inventaris, dan "
            "perkiraan berapa hari lagi kuota penuh. Baris merah: kuota penuh dalam {days} hari "
            "atau {percent} % sudah terpakai."
        ),
        "cap_repository": "Repositori (server)",
        "cap_size": "Ukuran dedup (GiB)",
        "cap_growth": "Pertumbuhan per hari · 30 hari (GiB)",
        "cap_quota": "Kuota (GiB) / terpakai",
        "cap_days": "Penuh dalam (hari)",
        "cap_full_at": "Perkiraan tanggal penuh",
        "cap_disk": "Disk server: sisa / ukuran (terpakai); penuh dalam",
        "cap_days_unit": "hari",
        "cap_status": "Keadaan",
        "cap_statuses": {
            "ok": "baik",
            "warning": "PERINGATAN",
            "full": "KUOTA PENUH",
            "not-growing": "tidak tumbuh",
            "too-little-history": "riwayat belum cukup",
            "no-data": "belum ada data ukuran",
        },
        "axis_week": "Minggu (ISO)",
        "axis_percent": "% berhasil",
        "axis_day": "Tanggal",
        "axis_seconds": "detik",
        "axis_seconds_log": "detik (skala logaritmik); garis merah: RTO",
        "problems": "Berkas yang dilewati",
        "drill": "Simulasi pemulihan tahunan",
        "drill_last": "Simulasi terakhir",
        "drill_none": "Belum pernah ada simulasi pemulihan tercatat",
        "drill_overdue": "TERLAMBAT: lebih dari 12 bulan (simulasi wajib sekali setahun)",
        "drill_passed": "berhasil",
        "drill_failed": "GAGAL",
        "drill_signed": "ada tanda tangan",
        "drill_unsigned": "belum ditandatangani",
        "tampered": "Dimanipulasi",
        "admin": "Pemeriksaan manipulasi oleh host admin",
        "admin_note": (
            "Putusan terbaru host admin per server (bangka-backup-maintenance). DIMANIPULASI: "
            "arsip server itu diragukan dan setiap cadangannya dihitung gagal sampai admin "
            "mengembalikan (rollback) atau menerima repositori."
        ),
        "admin_check": "Pemeriksaan admin",
        "admin_when": "Laporan admin",
        "findings": "Temuan manipulasi",
        "finding": "Temuan",
        "archive": "Arsip",
        "detail": "Rincian",
        "finding_kinds": {
            "disappeared": "hilang",
            "replaced": "diganti",
            "future-dated": "bertanggal masa depan",
            "backdated": "bertanggal mundur",
            "foreign": "nama asing",
            "burst": "terlalu banyak sekaligus",
            "key-changed": "kunci berubah",
            "deleted": "dihapus di repositori",
            "overwritten": "ditimpa di repositori",
            "hidden": "disembunyikan",
        },
        "yes": "ya",
        "no": "tidak",
        "none": "—",
        "types": {
            "incremental": "harian inkremental",
            "full": "mingguan penuh",
            "archive": "bulanan arsip",
        },
        "statuses": {
            "success": "berhasil",
            "covered": "tercakup",
            "warning": "peringatan",
            "failed": "gagal",
            "skipped": "dilewati",
            "missed": "terlewat",
            "interrupted": "terputus",
            "running": "berjalan",
            "passed": "lulus",
            "error": "galat",
            "mismatch": "tidak cocok (catatan atas nama host lain)",
            "tampered": "DIMANIPULASI",
            "accepted": "diterima admin",
            "ok": "baik",
            "clean": "bersih",
            "warnings": "ada peringatan",
            "errors": "ada galat",
            "not-scheduled": "tidak dijadwalkan",
            "none": "tidak ada",
            "no record": "tidak ada catatan",
            "copied": "tersalin",
            "not-copied": "tidak tersalin",
        },
        "no_tests": "belum ada uji pemulihan",
        "no_data": "belum ada data",
    },
    "en": {
        "title": "Backup Checklist",
        "subtitle": "SI CEKAT — Bangka Regency Government",
        "period": "Period",
        "generated": "Generated",
        "kpis": "Key figures",
        "scheduled": "Scheduled",
        "success": "Successful",
        "warning": "Warnings",
        "failed": "Failed",
        "missed": "Missed",
        "on_demand": "On demand",
        "success_percent": "% successful",
        "mean": "Mean duration (s)",
        "unsuccessful": "Durations and P95 above are of successful runs only. Runs not "
        "successful (warnings, failed)",
        "unsuccessful_mean": "mean",
        "chart_max": "max",
        "chart_mean": "mean",
        "missed_reason": "no record of the {cycle} run due {due}",
        "interrupted_reason": "started {start} and never finished (stopped: killed, out of "
        "memory, reboot or power loss; or the host has not been reachable since)",
        "running_reason": "still running when collected (started {start}); no end record yet",
        "cycles": {"daily": "daily", "weekly": "weekly", "monthly": "monthly"},
        "triggers": {"on-demand": "on demand", "retry": "retry"},
        "modes": {"full": "full", "sample": "sample"},
        "breach_names": {},
        "p95": "P95 duration (s)",
        "by_category": "By data category",
        "by_host": "By server (those breaching a target first)",
        "policies": "RPO and RTO per policy",
        "checklist": "Checklist",
        "date": "Date",
        "server": "Server",
        "policy": "Policy",
        "category": "Category",
        "type": "Backup type",
        "status": "Result",
        "size": "Original / compressed / deduplicated (MiB)",
        "files": "Files",
        "duration": "Duration (s)",
        "verification": "Verification (log / borg check / restore test / admin check)",
        "location": "Storage location",
        "reason": "Remarks",
        "newest": "Newest good archive",
        "age": "Age (h)",
        "rpo": "RPO (h)",
        "restore": "Restore test",
        "rto": "RTO (h)",
        "growth": "Size (MiB); growth 7 days · 30 days",
        "breaches": "Breaches",
        "signoff": "Operator sign-off",
        "arsip": "Digital archive",
        "arsip_docs": "Stored documents",
        "arsip_rescan": "Re-scan backlog",
        "arsip_not_uploaded": "Files not yet uploaded",
        "arsip_cloud_failed": "Files wrong in cloud storage",
        "arsip_verification": "Last cloud verification",
        "arsip_sample": "Sample opened",
        "arsip_storage": "Storage local / cloud (MiB)",
        "arsip_by_code": "Documents per classification code and year",
        "arsip_code": "Code",
        "arsip_year": "Year",
        "arsip_good": "good",
        "arsip_bad": "problems",
        "arsip_not_configured": "cloud not configured",
        "databases": "Databases",
        "databases_note": (
            "Per database: its newest dump in the period (inside the run's Borg archive) and "
            "its row in the period's newest restore test (loaded into a scratch database, "
            "tables and row counts compared, then dropped). Failed dumps or tests are marked "
            "red."
        ),
        "db_name": "Database (type)",
        "db_dump": "Newest dump",
        "db_size": "Size (MiB) / duration (s)",
        "db_version": "Server version",
        "db_rows_estimate": "Estimated rows",
        "db_restore": "Restore test",
        "db_restore_seconds": "Load time (s)",
        "db_rows_restored": "Rows restored",
        "db_missing": "Tables missing / rows outside tolerance",
        "db_smoke": "Smoke query / scratch database dropped",
        "db_ok": "ok",
        "db_failed": "failed",
        "db_more": "more",
        "signed_by": "Electronically signed by",
        "at": "at",
        "unsigned": "Not signed yet. Sign: cekat sign; check: cekat verify.",
        "sign_place_date": "Place, date",
        "sign_name": "Name and signature",
        "sign_role": "Backup operator",
        "sign_checked": "Checked by (IT coordinator)",
        "chart_success": "Success per week (%)",
        "chart_backup": "Backup duration per day (s)",
        "chart_restore": "Restore time (s) against the RTO",
        "capacity": "Repository capacity",
        "capacity_note": (
            "Per repository (one per backed-up server): deduplicated, compressed size after the "
            "newest backup, growth per day (Theil-Sen slope over the daily sizes of the last 30 "
            "days), the storage quota from the inventory, and the days until the quota is full. "
            "Red rows: the quota is full within {days} days or {percent} % of it is used."
        ),
        "cap_repository": "Repository (server)",
        "cap_size": "Deduplicated size (GiB)",
        "cap_growth": "Growth per day · 30 days (GiB)",
        "cap_quota": "Quota (GiB) / used",
        "cap_days": "Full in (days)",
        "cap_full_at": "Expected full on",
        "cap_disk": "Server disk: free / size (used); full in",
        "cap_days_unit": "days",
        "cap_status": "State",
        "cap_statuses": {
            "ok": "good",
            "warning": "WARNING",
            "full": "QUOTA FULL",
            "not-growing": "not growing",
            "too-little-history": "too little history",
            "no-data": "no size data yet",
        },
        "axis_week": "Week (ISO)",
        "axis_percent": "% successful",
        "axis_day": "Date",
        "axis_seconds": "seconds",
        "axis_seconds_log": "seconds (log scale); red line: RTO",
        "problems": "Skipped files",
        "drill": "Annual recovery drill",
        "drill_last": "Last drill",
        "drill_none": "No recovery drill on record",
        "drill_overdue": "OVERDUE: more than 12 months ago (a drill is due once a year)",
        "drill_passed": "passed",
        "drill_failed": "FAILED",
        "drill_signed": "sign-off present",
        "drill_unsigned": "not signed yet",
        "tampered": "Tampered",
        "admin": "Tamper check by the admin host",
        "admin_note": (
            "The admin host's latest verdict per server (bangka-backup-maintenance). TAMPERED: "
            "that server's archives are in question and each of its backups counts as failed "
            "until the admin rolls back or accepts the repository."
        ),
        "admin_check": "Admin check",
        "admin_when": "Admin report",
        "findings": "Tamper findings",
        "finding": "Finding",
        "archive": "Archive",
        "detail": "Detail",
        "finding_kinds": {},
        "yes": "yes",
        "no": "no",
        "none": "—",
        "types": {
            "incremental": "daily incremental",
            "full": "weekly full",
            "archive": "monthly archive",
        },
        "statuses": {
            "tampered": "TAMPERED",
            "accepted": "accepted by the admin",
            "not-scheduled": "not scheduled",
        },
        "no_tests": "no restore test yet",
        "no_data": "no data yet",
    },
}


def svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


# At most this many bars in the restore chart (about 7 in tall: it still fits a printed page).
MAX_RESTORE_BARS = 28


class ChartData:
    """What the charts need from the rows, kept while the rows stream past: per ISO week the
    scheduled and successful runs, per day the longest, total and count of successful runs'
    durations (constant memory per week and day, whatever the number of hosts)."""

    def __init__(self) -> None:
        self.weeks: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        self.days: dict[str, list[float]] = {}

    def add(self, row: dict[str, Any]) -> None:
        if row["trigger"] != "schedule":
            return
        year, week, _ = dt.date.fromisoformat(row["date"]).isocalendar()
        counts = self.weeks[f"{year}-W{week:02d}"]
        counts[0] += 1
        counts[1] += row["status"] in ("success", "covered")
        seconds = row["duration_seconds"]
        if seconds is not None and row["status"] == "success":
            day = self.days.get(row["date"])
            if day is None:
                self.days[row["date"]] = [seconds, seconds, 1]
            else:
                day[0] = max(day[0], seconds)
                day[1] += seconds
                day[2] += 1

    @classmethod
    def of(cls, rows: Iterable[dict[str, Any]]) -> ChartData:
        data = cls()
        for row in rows:
            data.add(row)
        return data


def charts(data: ChartData, kpis: dict[str, Any], t: dict[str, Any]) -> dict[str, str]:
    # Host and policy names are data: drawn as written, never parsed as mathtext (a "$" in a
    # name would otherwise typeset, or fail to, the text between two of them). Sizes: each
    # chart prints about 90 mm wide (a third of A4 landscape) at 100 %, so 8 pt stays 8 pt.
    with mpl.rc_context(
        {
            "font.size": 8,
            "axes.titlesize": 8.5,
            "axes.labelsize": 8,
            "xtick.labelsize": 7.5,
            "ytick.labelsize": 7.5,
            "legend.fontsize": 7.5,
            "svg.fonttype": "none",
            "text.parse_math": False,
        }
    ):
        return draw(data, kpis, t)


def empty(axes: Any, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes)
    axes.set_axis_off()


def draw(data: ChartData, kpis: dict[str, Any], t: dict[str, Any]) -> dict[str, str]:
    return {
        "success": draw_success(data, t),
        "backup": draw_backup(data, t),
        "restore": draw_restore(kpis, t),
    }


def draw_success(data: ChartData, t: dict[str, Any]) -> str:
    weeks = data.weeks
    figure, axes = plt.subplots(figsize=(3.5, 2.3))
    labels = sorted(weeks)
    axes.bar(labels, [100 * weeks[w][1] / weeks[w][0] for w in labels], color="#2e7d32")
    axes.set_ylim(0, 100)
    axes.set_title(t["chart_success"])
    axes.set_xlabel(t["axis_week"])
    axes.set_ylabel(t["axis_percent"])
    if not labels:
        empty(axes, t["no_data"])
    axes.tick_params(axis="x", labelrotation=45)
    return svg(figure)


def draw_backup(data: ChartData, t: dict[str, Any]) -> str:
    days = data.days
    figure, axes = plt.subplots(figsize=(3.5, 2.3))
    ordered = sorted(days)
    # Markers: a period of one day (or one day with runs) is a point, not an invisible line.
    axes.plot(
        ordered,
        [days[d][0] for d in ordered],
        label=t["chart_max"],
        color="#c62828",
        marker="o",
        markersize=3.5,
    )
    axes.plot(
        ordered,
        [days[d][1] / days[d][2] for d in ordered],
        label=t["chart_mean"],
        color="#1565c0",
        marker="s",
        markersize=3,
    )
    axes.set_title(t["chart_backup"])
    axes.set_xlabel(t["axis_day"])
    axes.set_ylabel(t["axis_seconds"])
    if ordered:
        axes.legend()
        axes.set_ylim(bottom=0)
        if len(ordered) == 1:
            axes.set_xlim(-0.5, 0.5)
    else:
        empty(axes, t["no_data"])
    axes.tick_params(axis="x", labelrotation=45)
    if len(ordered) > 8:
        axes.set_xticks(ordered[:: max(1, len(ordered) // 8)])
    return svg(figure)


def urgency(policy: dict[str, Any]) -> float:
    """How near its RTO a policy's restore test came (over 1: past it)."""
    test = policy["restore_test"]
    rto = (test["rto_hours"] or 0) * 3600
    return float(test["judged_seconds"] / rto) if rto else 0.0


def draw_restore(kpis: dict[str, Any], t: dict[str, Any]) -> str:
    tested = [
        p for p in kpis["policies"] if p["restore_test"] and p["restore_test"]["judged_seconds"]
    ]
    count = len(tested)
    if count > MAX_RESTORE_BARS:  # the nearest their RTO (or past it); the rest: the table
        tested = sorted(tested, key=urgency, reverse=True)[:MAX_RESTORE_BARS]
    # One bar per tested policy; the figure grows with them so names and bars keep their size.
    figure, axes = plt.subplots(figsize=(3.5, max(2.3, 0.9 + 0.22 * len(tested))))
    title = t["chart_restore"]
    if count > len(tested):
        title += f" ({len(tested)}/{count})"
    axes.set_title(title)
    if not tested:
        empty(axes, t["no_tests"])
        return svg(figure)
    names = [f"{p['host']}/{p['policy']}" for p in tested]
    axes.barh(names, [p["restore_test"]["judged_seconds"] for p in tested], color="#6a1b9a")
    for index, policy in enumerate(tested):
        if policy["restore_test"]["rto_hours"]:
            rto = policy["restore_test"]["rto_hours"] * 3600
            axes.plot([rto, rto], [index - 0.4, index + 0.4], color="#c62828", linewidth=2)
    axes.set_xscale("log")
    axes.set_xlabel(t["axis_seconds_log"])
    return svg(figure)


# A row's ``databases`` cell as dumps.Dumps.summary writes it.
DUMPS_SUMMARY = re.compile(r"(\d+)/(\d+) ok(?:; failed: (.*?))?(?: \(\+(\d+) more\))?", re.S)


def dumps_summary(value: Any, t: dict[str, Any]) -> dict[str, Any]:
    """A row's ``databases`` cell in the form's language: ``text``, and ``failed`` when a dump
    failed."""
    text = str(value)
    match = DUMPS_SUMMARY.fullmatch(text)
    if match is None:
        return {"text": text, "failed": True}
    ok, total, names, more = match.groups()
    text = f"{ok}/{total} {t['db_ok']}"
    if names:
        text += f"; {t['db_failed']}: {names}"
    if more:
        text += f" (+{more} {t['db_more']})"
    return {"text": text, "failed": ok != total}


def formats(lang: str, t: dict[str, Any]) -> dict[str, Any]:
    """The template's filters: numbers, dates and times in the language's conventions (Babel's
    CLDR data: ``2.057,2`` and ``2 Des 2026`` in Bahasa Indonesia, ``2,057.2`` and
    ``Dec 2, 2026`` in English), and the words for the values the checklist data carries in
    English (statuses, triggers, breaches, the reason of a missed run)."""
    from babel.dates import format_date, format_datetime  # noqa: PLC0415
    from babel.numbers import format_decimal  # noqa: PLC0415

    def num(value: Any, pattern: str = "#,##0.0##") -> str:
        if value is None:
            return str(t["none"])
        if isinstance(value, int) and not isinstance(value, bool):
            return str(format_decimal(value, locale=lang))
        if isinstance(value, float):
            return str(format_decimal(value, format=pattern, locale=lang))
        return str(value)

    def day(value: Any) -> str:
        try:
            return str(format_date(dt.date.fromisoformat(str(value)[:10]), "medium", locale=lang))
        except ValueError:
            return str(value)

    def moment(value: Any) -> str:
        try:
            when = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
        pattern = "d MMM y HH.mm xxx" if lang == "id" else "MMM d, y HH:mm xxx"
        return str(format_datetime(when, pattern, tzinfo=when.tzinfo, locale=lang))

    def period(value: Any) -> str:
        first, _, last = str(value).partition("..")
        return f"{day(first)} \N{EN DASH} {day(last)}" if last else day(first)

    def breach(value: Any) -> str:
        names = t["breach_names"]
        text = str(value)
        if text in names:
            return str(names[text])
        if text.startswith("restore test ") and "restore test" in names:
            return f"{names['restore test']} {t['statuses'].get(text[13:], text[13:])}"
        return text

    def missed(row: dict[str, Any]) -> str:
        due = str(row.get("reason") or "").rpartition(" due ")[2]
        cycle = t["cycles"].get(row.get("cycle"), row.get("cycle"))
        return str(t["missed_reason"]).format(cycle=cycle, due=moment(due))

    def growth(policy: dict[str, Any], window: str) -> str:
        """``+12.3 MiB (+4.5 %)`` in the language's conventions; none without the history."""
        grown, percent = (
            policy.get(f"growth_{window}_bytes"),
            policy.get(f"growth_{window}_percent"),
        )
        if grown is None:
            return str(t["none"])
        text = format_decimal(grown / 2**20, format="+#,##0.0;-#,##0.0", locale=lang) + " MiB"
        if percent is not None:
            text += " (" + format_decimal(percent, format="+#,##0.0;-#,##0.0", locale=lang) + " %)"
        return str(text)

    def cut_short(row: dict[str, Any]) -> str:
        """The reason of a run that started and has no end record (interrupted or running)."""
        key = "running_reason" if row.get("status") == "running" else "interrupted_reason"
        return str(t[key]).format(start=moment(str(row.get("start") or "")))

    return {
        "num": num,
        "mib": lambda v: str(t["none"]) if v is None else num(v / 2**20, "#,##0.0"),
        "gib": lambda v: str(t["none"]) if v is None else num(v / 2**30, "#,##0.00"),
        "day": day,
        "moment": moment,
        "period": period,
        "status": lambda v: t["statuses"].get(v, v),
        "breach": breach,
        "missed": missed,
        "cut_short": cut_short,
        "growth": growth,
        "dumps": lambda v: dumps_summary(v, t),
        "yesno": lambda v: str(t["none"]) if v is None else str(t["yes"] if v else t["no"]),
    }


def render(
    rows: list[dict[str, Any]],
    kpis: dict[str, Any],
    signature: dict[str, Any] | None,
    lang: str = "id",
) -> str:
    """The form as one string (rows held by the caller; :func:`write` streams them)."""
    out = io.StringIO()
    write(out, rows, ChartData.of(rows), kpis, signature=signature, lang=lang)
    return out.getvalue()


def write(
    out: IO[str],
    rows: Iterable[dict[str, Any]],
    data: ChartData,
    kpis: dict[str, Any],
    *,
    signature: dict[str, Any] | None,
    lang: str = "id",
) -> None:
    """Write the form to ``out`` as it is rendered; ``rows`` are read once, in order, so they
    can come one at a time from a spool on disk."""
    if lang not in TEXT:
        raise ValueError(f"lang: {lang!r} is not one of {', '.join(TEXT)}")
    environment = Environment(
        loader=PackageLoader("bangka_ops.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    t = TEXT[lang]
    for name, function in formats(lang, t).items():
        environment.filters[name] = function
    stream = environment.get_template("checklist.html.j2").generate(
        lang=lang,
        t=t,
        rows=rows,
        kpis=kpis,
        charts=charts(data, kpis, t),
        signature=signature,
    )
    for chunk in stream:
        out.write(chunk)
