"""Benchmark: `cekat report` over a generated year of run records.

Generates the admin host's collected tree as it is after `cekat consolidate`: --hosts hosts with
--policies policies each, one scheduled daily run per policy and day for --days days (500 x 3 x
365, about 546,000 run records by default, each the size and shape of a real wrapper record:
Borg's summary, the step's command line, stats), a few failures, a few missed days, each host's
deployed config.json, and the records in one ledger file per host, policy and month. Then, each
in a fresh process pinned to one core, with the files already in the page cache (peak memory is
that process's maximum resident set):

  floor        read every ledger file and parse every line with orjson, nothing else
  report       the whole year's checklist and KPIs (cekat report --format json to /dev/null)
  loose        for comparison: the floor of --loose-hosts hosts' records as collected, one
               indented file per record, extrapolated to the year
  consolidate  folding those loose records into the ledger (done once, at collection)
  html         the printed form (cekat report --format html) of the year's last 30 days,
               beside the JSON of the same month as the baseline

and prints records/s, MB/s and peak memory. Targets: the year in under 10 s on one core, memory
under 300 MB; the month's HTML under 150 MB. Figures, not assertions.

    .venv/bin/python bench/report.py [--hosts 500] [--policies 3] [--days 365] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

START = dt.date(2025, 1, 1)
POLICIES = ["dokumen", "database", "web", "surel", "arsip"]
TZ = "+07:00"


def record(host: str, policy: str, day: dt.date, rng: random.Random) -> dict[str, Any]:
    minute = rng.randint(0, 59)
    stamp = f"{day.isoformat()}T02-{minute:02d}-00"
    archive = f"{host}-{policy}-daily-{stamp}"
    repo = f"ssh://borg@backup01.bangka.go.id:22/srv/borg/repos/{host}"
    failed = rng.random() < 0.01
    original = rng.randint(2**30, 50 * 2**30)
    stats = {
        "original_size": original,
        "compressed_size": original // 2,
        "deduplicated_size": rng.randint(2**20, 2**28),
        "nfiles": rng.randint(1_000, 400_000),
    }
    command = [
        "borg",
        "create",
        "--json",
        "--log-json",
        "--lock-wait",
        "600",
        "--compression",
        "zstd,3",
        "--exclude-caches",
        "--one-file-system",
        "--exclude",
        "*.tmp",
        f"{repo}::{archive}",
        f"/srv/{policy}",
    ]
    duration = round(rng.uniform(60, 3600), 3)
    start = f"{day.isoformat()}T02:{minute:02d}:00{TZ}"
    return {
        "schema_version": 1,
        "kind": "backup_run",
        "host": host,
        "policy": policy,
        "category": "critical" if policy == "dokumen" else "standard",
        "cycle": "daily",
        "backup_type": "incremental",
        "trigger": "schedule",
        "status": "failed" if failed else "success",
        "reason": "borg create exited with 2: Connection closed by remote host" if failed else None,
        "start": start,
        "end": start,
        "duration_seconds": duration,
        "archive": archive,
        "repository": repo,
        "offsite_repository": None,
        "exit_code": 2 if failed else 0,
        "msgids": [],
        "warnings": [],
        "rpo_hours": 24,
        "rto_hours": 4,
        "archive_stats": None if failed else stats,
        "borg": None
        if failed
        else {
            "archive": {
                "command_line": ["/usr/bin/borg", *command[1:]],
                "duration": duration,
                "name": archive,
                "stats": stats,
            },
            "encryption": {"mode": "repokey-blake2"},
            "repository": {"id": f"{rng.getrandbits(256):064x}", "location": repo},
        },
        "borg_check": {"status": "not-scheduled"},
        "steps": {
            "create": {
                "command": command,
                "exit_code": 2 if failed else 0,
                "status": "failed" if failed else "success",
                "duration_seconds": duration,
                "msgids": [],
                "warnings": [],
                "errors": [],
            }
        },
        "notifications": [],
        "log_path": f"/var/lib/bangka-backup/records/{policy}/{archive}.log.jsonl",
        "record_path": f"/var/lib/bangka-backup/records/{policy}/{archive}.json",
    }


def config_of(host: str, names: list[str]) -> dict[str, Any]:
    return {
        "host": host,
        "timezone": "Asia/Jakarta",
        "policies": {
            p: {
                "timezone": "Asia/Jakarta",
                "rpo_hours": 24,
                "rto_hours": 4,
                "category": "critical" if p == "dokumen" else "standard",
                "cycles": {"daily": {"hour": 2, "minute": 0}},
            }
            for p in names
        },
    }


def generate(root: Path, hosts: int, policies: int, days: int) -> tuple[int, int]:
    """The tree as the admin host keeps it after `cekat consolidate`: each host's config.json
    and one ledger file per host, policy and month (written with the ledger's own code)."""
    from bangka_ops.report import ledger  # noqa: PLC0415

    rng = random.Random(2025)  # noqa: S311 (test data)
    names = POLICIES[:policies]
    count = size = 0
    for h in range(hosts):
        host = f"srv{h:03d}.bangka.go.id"
        (root / host).mkdir(parents=True)
        (root / host / "config.json").write_text(json.dumps(config_of(host, names)))
        for policy in names:
            months: dict[str, list[bytes]] = {}
            for d in range(days):
                if rng.random() < 0.002:
                    continue  # a missed run
                item = record(host, policy, START + dt.timedelta(days=d), rng)
                source = f"records/{policy}/{item['archive']}.json"
                line = ledger.dumps(ledger.Line(source, item))
                months.setdefault(ledger.month_of(item), []).append(line)
                count += 1
                size += len(line) + 1
            for month, lines in months.items():
                target = root / host / ledger.LEDGER_DIR / policy / f"{month}.jsonl"
                ledger.write_atomic(target, lines)
    return count, size


def generate_loose(root: Path, hosts: int, policies: int, days: int) -> int:
    """Loose records as collect_records.yml unpacks them (indented, one file each)."""
    rng = random.Random(7)  # noqa: S311 (test data)
    names = POLICIES[:policies]
    count = 0
    for h in range(hosts):
        host = f"srv{h:03d}.bangka.go.id"
        (root / host).mkdir(parents=True)
        (root / host / "config.json").write_text(json.dumps(config_of(host, names)))
        for policy in names:
            folder = root / host / "records" / policy
            folder.mkdir(parents=True)
            for d in range(days):
                item = record(host, policy, START + dt.timedelta(days=d), rng)
                data = orjson.dumps(item, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
                (folder / f"{item['archive']}.json").write_bytes(data)
                count += 1
    return count


def phase_floor(root: Path) -> None:
    """Read every ledger file and parse every line with orjson: the least any report does."""
    count = 0
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".jsonl"):
                with open(os.path.join(folder, name), "rb") as handle:
                    for line in handle.read().split(b"\n"):
                        if line:
                            orjson.loads(line)
                            count += 1
    print(json.dumps({"records": count, "peak_mib": peak_mib()}))


def phase_loose(root: Path) -> None:
    """The floor of the tree as collected, one file per record."""
    count = 0
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".json"):
                with open(os.path.join(folder, name), "rb") as handle:
                    orjson.loads(handle.read())
                count += 1
    print(json.dumps({"files": count, "peak_mib": peak_mib()}))


def phase_consolidate(root: Path) -> None:
    from bangka_ops.report import ledger  # noqa: PLC0415

    summary = ledger.consolidate(root)
    print(json.dumps({"moved": summary.moved, "peak_mib": peak_mib()}))


def phase_report(root: Path, days: int, form: str = "json", month: bool = False) -> None:
    """The checklist of the generated period (or of its last 30 days, ``month``) written as
    ``form`` (json or html) to /dev/null."""
    from bangka_ops.report import checklist, outputs  # noqa: PLC0415

    last = START + dt.timedelta(days=days - 1)
    first = max(START, last - dt.timedelta(days=29)) if month else START
    with open(os.devnull, "w", encoding="utf-8") as sink:
        writer = outputs.HtmlWriter(sink) if form == "html" else outputs.JsonWriter(sink)
        report = checklist.build(
            root,
            checklist.Period(first, last),
            dt.datetime.fromisoformat(f"{last.isoformat()}T23:59:59{TZ}"),
            writer.row,
        )
        writer.finish(report)
    total = report.kpis()["total"]
    rows = total["scheduled"] + total["on_demand"]
    print(json.dumps({"rows": rows, "missed": total["missed"], "peak_mib": peak_mib()}))


def peak_mib() -> float:
    """This process's peak resident memory."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(args: list[str]) -> tuple[float, float, dict[str, Any]]:
    """Wall seconds, peak RSS (MiB, the phase's own) and the JSON it printed, in a fresh
    process."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"phase failed: {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return elapsed, float(result["peak_mib"]), result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", type=int, default=500)
    parser.add_argument("--policies", type=int, default=3)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument(
        "--loose-hosts",
        type=int,
        default=20,
        help="hosts of loose records for the consolidation figure (default 20)",
    )
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    parser.add_argument(
        "--phase",
        choices=("floor", "report", "consolidate", "loose", "html", "json-month"),
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
        {
            "floor": lambda: phase_floor(args.root),
            "report": lambda: phase_report(args.root, args.days),
            "consolidate": lambda: phase_consolidate(args.root),
            "loose": lambda: phase_loose(args.root),
            "html": lambda: phase_report(args.root, args.days, "html", month=True),
            "json-month": lambda: phase_report(args.root, args.days, "json", month=True),
        }[args.phase]()
        return 0

    work = args.keep or Path(tempfile.mkdtemp(prefix="bangka-report-bench-"))
    root = work / "ledger-tree"
    try:
        if not root.exists():
            started = time.perf_counter()
            count, _ = generate(root, args.hosts, args.policies, args.days)
            print(f"generated {count:,} run records in {time.perf_counter() - started:.0f} s")
        # Read everything once untimed, so both phases find the files in the page cache and the
        # comparison is of work, not of the disk (the order would otherwise favour the second).
        size = files = 0
        for path in root.rglob("*.jsonl"):
            size += len(path.read_bytes())
            files += 1
        floor_s, floor_mb, floor = measure(["--phase", "floor", "--root", str(root)])
        report_s, report_mb, result = measure(
            ["--phase", "report", "--root", str(root), "--days", str(args.days)]
        )
        records = floor["records"]
        print(f"{records:,} records in {files:,} ledger files, {size / 2**20:,.0f} MiB; one core")
        print(
            f"floor  (read + orjson.loads per line): {floor_s:6.2f} s  "
            f"{records / floor_s:9,.0f} records/s  {size / 2**20 / floor_s:7.1f} MiB/s  "
            f"peak {floor_mb:6.0f} MiB"
        )
        print(
            f"report (checklist + KPIs, JSON out):   {report_s:6.2f} s  "
            f"{records / report_s:9,.0f} records/s  {size / 2**20 / report_s:7.1f} MiB/s  "
            f"peak {report_mb:6.0f} MiB"
        )
        print(
            f"rows {result['rows']:,}, missed {result['missed']:,}; "
            f"report / floor = {report_s / floor_s:.2f}; targets: < 10 s, < 300 MiB"
        )
        month = ["--root", str(root), "--days", str(args.days)]
        json_s, json_mb, _ = measure(["--phase", "json-month", *month])
        html_s, html_mb, form = measure(["--phase", "html", *month])
        print(
            f"month as HTML (the printed form): {form['rows']:,} rows, {html_s:.2f} s, peak "
            f"{html_mb:.0f} MiB (target < 150 MiB); the same month as JSON: {json_s:.2f} s, "
            f"peak {json_mb:.0f} MiB; HTML / JSON: time {html_s / json_s:.2f}, "
            f"memory {html_mb / json_mb:.2f}"
        )
        if args.loose_hosts:
            loose = work / "loose"
            shutil.rmtree(loose, ignore_errors=True)
            count = generate_loose(loose, args.loose_hosts, args.policies, args.days)
            for path in loose.rglob("*.json"):
                path.read_bytes()  # into the page cache, as above
            loose_s, _, _ = measure(["--phase", "loose", "--root", str(loose)])
            cons_s, cons_mb, moved = measure(["--phase", "consolidate", "--root", str(loose)])
            print(
                f"one file per record (as collected), floor: {count:,} files in {loose_s:.2f} s "
                f"= {count / loose_s:,.0f} files/s (the year: ~{records / count * loose_s:.0f} s)"
            )
            print(
                f"consolidate {moved['moved']:,} loose records into the ledger: {cons_s:.2f} s "
                f"= {moved['moved'] / cons_s:,.0f} records/s, peak {cons_mb:.0f} MiB "
                f"(once, at collection)"
            )
            shutil.rmtree(loose, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
