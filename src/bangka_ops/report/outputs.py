"""Writers of the checklist: JSON for machines, CSV for spreadsheets, Prometheus textfile.

JSON and CSV are written row by row as the checklist is built (memory stays flat); the KPIs
follow at the end. The Prometheus textfile (node_exporter textfile-collector format) needs only
the per-host-and-policy facts, kept while the rows stream past.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import orjson

from bangka_ops.report import atomic
from bangka_ops.report.checklist import GROWTH_WINDOWS, Report

CSV_COLUMNS = (
    "date",
    "host",
    "policy",
    "category",
    "cycle",
    "backup_type",
    "trigger",
    "status",
    "start",
    "duration_seconds",
    "original_bytes",
    "compressed_bytes",
    "deduplicated_bytes",
    "files",
    "log_check",
    "borg_check",
    "restore_test",
    "admin_check",
    "repository",
    "offsite_repository",
    "offsite_status",
    "archive",
    "reason",
    "record",
    # Appended columns (the order above stays: spreadsheets refer to columns by position).
    "databases",
)


class JsonWriter:
    """``{"rows": [...], "kpis": {...}}`` written incrementally, a chunk of rows at a time (one
    ``orjson.dumps`` per chunk rather than per row: a year's report has half a million rows).
    Rows go to the binary buffer under a text stream when there is one (no decode/encode)."""

    CHUNK = 512

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.first = True
        self.pending: list[dict[str, Any]] = []
        out.write('{"schema_version": 1, "kind": "backup_checklist", "rows": [\n')
        buffer = getattr(out, "buffer", None)
        self.binary: IO[bytes] | None = (
            buffer if getattr(out, "encoding", "").lower().replace("-", "") == "utf8" else None
        )

    def row(self, row: dict[str, Any]) -> None:
        self.pending.append(row)
        if len(self.pending) >= self.CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        # A list serialises as "[{...},{...}]": drop the brackets. Rows share one key order
        # (checklist's), so they are not sorted one by one.
        data = orjson.dumps(self.pending)[1:-1]
        self.pending.clear()
        if self.first:
            self.first = False
        else:
            data = b",\n" + data
        if self.binary is not None:
            self.out.flush()
            self.binary.write(data)
        else:
            self.out.write(data.decode())

    def finish(self, report: Report) -> None:
        self.flush()
        if self.binary is not None:
            self.binary.flush()
        self.out.write('\n], "kpis": ')
        json.dump(report.kpis(), self.out, ensure_ascii=False, sort_keys=True, indent=1)
        self.out.write("}\n")


class CsvWriter:
    def __init__(self, out: IO[str]) -> None:
        self.writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        self.writer.writeheader()

    def row(self, row: dict[str, Any]) -> None:
        self.writer.writerow({k: cell(row.get(k)) for k in CSV_COLUMNS})

    def finish(self, report: Report) -> None:
        """The KPIs are not part of the CSV (one table per file)."""


# A spreadsheet takes a cell starting with one of these for a formula (CSV injection): such a
# cell gets a leading single quote, OWASP's rule, so it opens as the text it is.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class PrometheusWriter:
    """Per host and policy: last success time, last duration, sizes, success ratio, missed;
    per host: the admin's tamper verdict and failed maintenance; per host, policy and
    database: its newest dump and restore-test row succeeded."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.last: dict[tuple[str, str], dict[str, Any]] = {}
        self.counts: dict[tuple[str, str], list[int]] = {}

    def row(self, row: dict[str, Any]) -> None:
        key = (row["host"], row["policy"])
        counts = self.counts.setdefault(key, [0, 0, 0])
        if row["trigger"] == "schedule":
            counts[0] += 1
            counts[1] += row["status"] in ("success", "covered")
            counts[2] += row["status"] == "missed"
        if row["status"] in ("success", "warning") and row["start"]:
            self.last[key] = row

    def finish(self, report: Report) -> None:
        metrics: dict[str, tuple[str, str, list[str]]] = {}

        def add(name: str, kind: str, help_text: str, labels: str, value: float) -> None:
            sample = f"{name}{{{labels}}} {value}" if labels else f"{name} {value}"
            metrics.setdefault(name, (kind, help_text, []))[2].append(sample)

        for (host, policy), (scheduled, success, missed) in sorted(self.counts.items()):
            labels = f'host="{escape(host)}",policy="{escape(policy)}"'
            if scheduled:
                add(
                    "bangka_backup_success_ratio",
                    "gauge",
                    "Successful scheduled runs / scheduled runs in the report period.",
                    labels,
                    round(success / scheduled, 4),
                )
            add(
                "bangka_backup_missed_runs",
                "gauge",
                "Scheduled runs without any record in the report period.",
                labels,
                missed,
            )
            last = self.last.get((host, policy))
            if last is None:
                continue
            started = dt.datetime.fromisoformat(last["start"]).timestamp()
            add(
                "bangka_backup_last_success_timestamp_seconds",
                "gauge",
                "Start of the newest run that made an archive.",
                labels,
                started,
            )
            for field, name, text in (
                ("duration_seconds", "last_duration_seconds", "Duration of that run."),
                ("original_bytes", "last_original_bytes", "Original size of its archive."),
                ("compressed_bytes", "last_compressed_bytes", "Compressed size of its archive."),
                ("deduplicated_bytes", "last_deduplicated_bytes", "New data it stored."),
                ("files", "last_files", "Files in its archive."),
            ):
                if last.get(field) is not None:
                    add(f"bangka_backup_{name}", "gauge", text, labels, last[field])
        drill = report.drill
        if drill is not None:
            last = drill["last"]
            add(
                "bangka_backup_recovery_drill_overdue",
                "gauge",
                "1 when the last recovery drill is older than a year, or there is none.",
                "",
                int(drill["overdue"]),
            )
            if last is not None:
                add(
                    "bangka_backup_recovery_drill_last_timestamp_seconds",
                    "gauge",
                    "Start of the newest recovery drill.",
                    f'client="{escape(last["client"])}"',
                    dt.datetime.fromisoformat(last["started"]).timestamp(),
                )
                add(
                    "bangka_backup_recovery_drill_last_passed",
                    "gauge",
                    "1 when the newest recovery drill passed (every step, within the RTO).",
                    f'client="{escape(last["client"])}"',
                    int(last["status"] == "passed"),
                )
        for facts in report.kpis_policies():
            labels = f'host="{escape(facts["host"])}",policy="{escape(facts["policy"])}"'
            for window, days in GROWTH_WINDOWS:
                grown = facts[f"growth_{window}_bytes"]
                if grown is not None:
                    add(
                        "bangka_backup_size_growth_bytes",
                        "gauge",
                        "Original size of the newest good archive minus that of the newest good "
                        "one at least 7 or 30 days older.",
                        f'{labels},window="{days}d"',
                        grown,
                    )
        # The admin's tamper verdict per host; hosts without an admin report have none.
        for host, verdict in sorted(report.admin.items()):
            labels = f'host="{escape(host)}"'
            status = verdict.status
            add(
                "bangka_backup_tampered",
                "gauge",
                "1 when the admin's newest check found the host's repository tampered with "
                "(until a clean check or an accept), else 0.",
                labels,
                int(status == "tampered"),
            )
            add(
                "bangka_backup_tamper_findings",
                "gauge",
                "Findings of the admin's tamper verdict (0 when not tampered).",
                labels,
                len(verdict.tampered.findings) if verdict.tampered else 0,
            )
            add(
                "bangka_backup_maintenance_failed",
                "gauge",
                "1 when the admin's newest maintenance of the host failed, else 0.",
                labels,
                int(verdict.failed is not None),
            )
        self.archive_metrics(report, add)
        self.database_metrics(report, add)
        self.capacity_metrics(report, add)
        for name, (kind, help_text, lines) in metrics.items():
            self.out.write(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n")
            self.out.write("\n".join(lines) + "\n")

    @staticmethod
    def database_metrics(report: Report, add: Callable[[str, str, str, str, float], None]) -> None:
        """Per host, policy and database: its newest dump in the period succeeded, and (where
        the period's newest restore test has a row of it) that row passed."""
        for entry in report.kpis_databases():
            labels = (
                f'host="{escape(entry["host"])}",policy="{escape(entry["policy"])}",'
                f'type="{escape(entry["type"] or "")}",database="{escape(entry["database"])}"'
            )
            dump, restored = entry["dump"], entry["restore_test"]
            if dump is not None:
                add(
                    "bangka_backup_database_dump_ok",
                    "gauge",
                    "1 when the newest dump of the database in the report period succeeded, "
                    "else 0.",
                    labels,
                    int(dump["status"] == "success"),
                )
            if restored is not None:
                add(
                    "bangka_backup_database_restore_test_ok",
                    "gauge",
                    "1 when the database's row in the newest restore test of the report period "
                    "passed, else 0.",
                    labels,
                    int(restored["status"] == "passed"),
                )

    @staticmethod
    def capacity_metrics(report: Report, add: Callable[[str, str, str, str, float], None]) -> None:
        """Per repository (one per agent host): its deduplicated size, growth, quota and the
        days until the quota is full (none when it is not growing or the history is short)."""
        for item in sorted(report.repositories, key=lambda f: f.repository):
            labels = f'repository="{escape(item.repository)}"'
            for name, value, text in (
                (
                    "unique_bytes",
                    item.size_bytes,
                    "Deduplicated compressed size of the repository after the newest run.",
                ),
                (
                    "growth_bytes_per_day",
                    None
                    if item.growth_bytes_per_day is None
                    else round(item.growth_bytes_per_day, 1),
                    "Growth of the deduplicated size per day (Theil-Sen slope, last 30 days).",
                ),
                ("quota_bytes", item.quota_bytes, "Storage quota of the repository."),
                (
                    "days_until_full",
                    None
                    if item.days_until_quota_full is None
                    else round(item.days_until_quota_full, 1),
                    "Days until the limit is full at the current growth.",
                ),
            ):
                if value is not None:
                    extra = ',limit="quota"' if name == "days_until_full" else ""
                    add(f"bangka_backup_repository_{name}", "gauge", text, labels + extra, value)
            if item.days_until_disk_full is not None:
                add(
                    "bangka_backup_repository_days_until_full",
                    "gauge",
                    "Days until the limit is full at the current growth.",
                    labels + ',limit="disk"',
                    round(item.days_until_disk_full, 1),
                )
            if item.disk is not None:
                add(
                    "bangka_backup_repository_disk_available_bytes",
                    "gauge",
                    "Space left on the repository server's file system holding the repository "
                    "(the admin's newest measurement).",
                    labels,
                    item.disk.available_bytes,
                )
                add(
                    "bangka_backup_repository_disk_size_bytes",
                    "gauge",
                    "Size of that file system.",
                    labels,
                    item.disk.filesystem_bytes,
                )
                add(
                    "bangka_backup_repository_segments_bytes",
                    "gauge",
                    "The repository's segment files on disk (what Borg's quota counts).",
                    labels,
                    item.disk.segments_bytes,
                )
            add(
                "bangka_backup_repository_capacity_warning",
                "gauge",
                "1 when the repository's quota or its disk is full within the threshold's days or "
                "used past its percentage, else 0.",
                labels,
                int(item.warning),
            )

    @staticmethod
    def archive_metrics(report: Report, add: Callable[[str, str, str, str, float], None]) -> None:
        """Per archive host: documents (also per code and year), re-scan backlog, files not yet
        in cloud storage or wrong there, the newest cloud verification and storage used."""
        for archive in report.kpis()["arsip"]:
            labels = f'host="{escape(archive["host"])}"'
            for name, value, text in (
                ("documents", archive["documents"], "Documents stored in the archive."),
                ("rescan_backlog", archive["rescan_backlog"], "Items on the re-scan list."),
                ("not_uploaded_files", archive["not_uploaded"], "Files not yet in cloud storage."),
                (
                    "cloud_failed_files",
                    archive["cloud_failed"],
                    "Files still wrong in cloud storage.",
                ),
                ("local_bytes", archive["local_bytes"], "Bytes of the archive's documents."),
            ):
                add(f"bangka_arsip_{name}", "gauge", text, labels, value)
            check = archive["verification"]
            if check is not None:
                when = dt.datetime.fromisoformat(check["waktu"]).timestamp()
                add(
                    "bangka_arsip_verification_timestamp_seconds",
                    "gauge",
                    "End of the newest cloud verification.",
                    labels,
                    when,
                )
                add(
                    "bangka_arsip_verification_ok",
                    "gauge",
                    "1 when the newest cloud verification found everything stored and opening.",
                    labels,
                    int(check["ok"] and not check["galat"]),
                )
                add(
                    "bangka_arsip_remote_bytes",
                    "gauge",
                    "Bytes in cloud storage at the newest verification.",
                    labels,
                    check["bytes_awan"],
                )
            for entry in archive["by_code_year"]:
                add(
                    "bangka_arsip_documents_by_code",
                    "gauge",
                    "Documents stored per classification code and year.",
                    f'{labels},kode="{escape(entry["kode"])}",tahun="{entry["tahun"]}"',
                    entry["dokumen"],
                )


class HtmlWriter:
    """The printable form. Rows are spooled to a private temporary file (unlinked, on disk)
    as the checklist is built, with the charts' totals kept as they pass; at the end the KPIs
    go first and the rows are streamed back from the spool into the page, so memory stays flat
    however many hosts a period holds (bench/report.py: a month of 500 hosts)."""

    def __init__(self, out: IO[str], lang: str = "id", signoff: Signoff | None = None) -> None:
        # matplotlib: only for this format
        from bangka_ops.report import html  # noqa: PLC0415

        self.out = out
        self.lang = lang
        self.signoff = signoff
        self.charts = html.ChartData()
        self.spool: IO[bytes] = tempfile.TemporaryFile(prefix="cekat-html-")  # noqa: SIM115

    def row(self, row: dict[str, Any]) -> None:
        self.spool.write(spooled(row))
        self.charts.add(row)

    def rows(self) -> Iterator[dict[str, Any]]:
        self.spool.flush()
        self.spool.seek(0)
        for line in self.spool:
            yield json.loads(line[1:]) if line.startswith(b"J") else orjson.loads(line)

    def finish(self, report: Report) -> None:
        from bangka_ops.report import html  # noqa: PLC0415

        try:
            kpis = report.kpis()
            signature = None
            if self.signoff is not None:
                # The document the JSON writer would have written: the signature verifies or
                # not against exactly the data this form shows.
                signature = self.signoff(self.rows(), kpis)
            html.write(
                self.out, self.rows(), self.charts, kpis, signature=signature, lang=self.lang
            )
        finally:
            self.spool.close()


def spooled(row: dict[str, Any]) -> bytes:
    """One row as a JSON line. orjson refuses a lone surrogate (never in what cekat reads with
    orjson, possible through the standard library's reader) and integers beyond 64 bits: such
    a row is written and read back by the standard library, marked with a leading ``J``."""
    try:
        return orjson.dumps(row) + b"\n"
    except TypeError:
        return b"J" + json.dumps(row).encode("ascii") + b"\n"


Signoff = Callable[[Iterable[dict[str, Any]], dict[str, Any]], dict[str, Any] | None]


replacing = atomic.replacing  # reports: whole or the previous one (see atomic)


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


WRITERS: dict[str, Callable[..., JsonWriter | CsvWriter | PrometheusWriter | HtmlWriter]] = {
    "json": JsonWriter,
    "csv": CsvWriter,
    "prom": PrometheusWriter,
    "html": HtmlWriter,
}
