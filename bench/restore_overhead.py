"""Benchmark: a verified restore test versus a plain `borg extract` of the same archive.

For each scale (1x, 4x, 16x a base size) it generates the file-server-like dataset of
bench/backup_wrapper.py, backs it up through the wrapper, then times on the same archive:

  plain    borg extract of the whole archive into an empty directory
  full     bangka-backup-restore-test, full mode: borg extract, with borg list of Borg's SHA-256
           of every file (the second read path) beside it on the second core, and the SHA-256
           of every restored file
  +live    the same, also hashing the live source files unchanged since the archive
  sample   a sample of 10 % of the files: its cost against the plain extract, and its
           extrapolated full-restore time against the measured plain extract

and prints the verification overhead (full / plain), the sample's estimate error and cost, and
how each time grows with the archive. Targets (issue 18): full / plain <= 1.3; estimate within
+-30 % of the plain extract; sample cost < 30 % of the plain extract. Figures, not assertions.

    .venv/bin/python bench/restore_overhead.py [--base-mb 64] [--scales 1,4,16] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from backup_wrapper import Bench, generate

from bangka_ops.backup import restore_test


def plain_extract(bench: Bench, archive: str, work: Path) -> float:
    target = work / "plain-extract"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    started = time.perf_counter()
    proc = subprocess.run(
        ["borg", "extract", f"{bench.repo}::{archive}"],
        cwd=target,
        env=bench.borg_env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    shutil.rmtree(target, ignore_errors=True)
    if proc.returncode not in (0, 1):
        sys.exit(f"borg extract failed ({proc.returncode}): {proc.stderr}")
    return elapsed


def restore_run(config: dict[str, Any], work: Path, **options: Any) -> dict[str, Any]:
    started = time.perf_counter()
    code, record = restore_test.RestoreTest(config, "data").run(scratch_root=work, **options)
    record["wall_seconds"] = time.perf_counter() - started
    if code != restore_test.EXIT_PASSED:
        sys.exit(f"restore test did not pass: {record.get('reason')}")
    return record


def measure(work: Path, size_mb: int) -> dict[str, Any]:
    source = work / "data"
    if not source.exists():
        generate(source, size_mb)
    bench = Bench(work, source)
    bench.wrapper_run("daily")
    config = json.loads((work / "config.json").read_text())
    config["policies"]["data"].update(rpo_hours=24, rto_hours=4)
    listing = subprocess.run(
        ["borg", "list", "--short", str(bench.repo)],
        env=bench.borg_env,
        capture_output=True,
        text=True,
        check=True,
    )
    archive = listing.stdout.split()[-1]
    plain = plain_extract(bench, archive, work)
    full = restore_run(config, work, full=True, live_root=None)
    live = restore_run(config, work, full=True, live_root=Path("/"))
    files = int(full["archive_files"])
    sample = restore_run(
        config, work, full=False, live_root=None, min_files=max(1, files // 10), min_bytes=1
    )
    return {
        "mib": full["archive_bytes"] / 2**20,
        "files": full["archive_files"],
        "plain": plain,
        "full": full,
        "live": live,
        "sample": sample,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-mb", type=int, default=64)
    parser.add_argument("--scales", default="1,4,16")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args()
    scales = [int(s) for s in args.scales.split(",")]
    root = args.keep or Path(tempfile.mkdtemp(prefix="bangka-restore-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for scale in scales:
            work = root / f"x{scale}"
            work.mkdir(exist_ok=True)
            row = measure(work, args.base_mb * scale)
            row["scale"] = scale
            rows.append(row)
            full, live, sample = row["full"], row["live"], row["sample"]
            listed = full["wall_seconds"] - full["restore_seconds"] - full["verify_seconds"]
            print(
                f"{scale:>3}x  {row['mib']:8.1f} MiB {row['files']:6d} files | "
                f"plain extract {row['plain']:7.2f} s | full test {full['wall_seconds']:7.2f} s "
                f"(list+SHA-256 {listed:.2f}, extract {full['restore_seconds']:.2f}, "
                f"hash {full['verify_seconds']:.2f}) "
                f"ratio {full['wall_seconds'] / row['plain']:.2f} | +live "
                f"{live['wall_seconds']:7.2f} s ratio {live['wall_seconds'] / row['plain']:.2f} | "
                f"sample {sample['files_restored']} files {sample['wall_seconds']:.2f} s, est. "
                f"full {sample['extrapolated_full_restore_seconds']:.2f} s",
                flush=True,
            )
        print()
        print("verification overhead (full restore test / plain borg extract; target <= 1.30):")
        for row in rows:
            print(
                f"  {row['scale']:>3}x: {row['full']['wall_seconds'] / row['plain']:.2f} "
                f"(with live source: {row['live']['wall_seconds'] / row['plain']:.2f})"
            )
        print("10 % sample (estimate / plain extract; sample test's cost / plain extract):")
        for row in rows:
            sample = row["sample"]
            print(
                f"  {row['scale']:>3}x: estimate "
                f"{sample['extrapolated_full_restore_seconds'] / row['plain']:.2f} "
                f"(target 0.70-1.30), cost {sample['wall_seconds'] / row['plain']:.2f} "
                "(target < 0.30)"
            )
        base = rows[0]
        print("growth against the smallest archive (time ratio / size ratio):")
        for row in rows[1:]:
            size = row["mib"] / base["mib"]
            print(
                f"  {row['scale']:>3}x: size x{size:.1f}, plain x"
                f"{row['plain'] / base['plain']:.1f}, full test x"
                f"{row['full']['wall_seconds'] / base['full']['wall_seconds']:.1f}"
            )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
