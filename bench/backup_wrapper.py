"""Benchmark: one scheduled daily run through bangka-backup versus a plain `borg create`.

Generates a file-server-like dataset (many small text files, office-size binaries, a few large
incompressible files, ~10 % duplicates), backs it up once, then alternates A/B several times on
the unchanged data:

  A  bangka-backup run --cycle daily   (the wrapper: one borg create --json --log-json + record)
  B  borg create                       (plain, same repository, same options)

and prints each time, the median of the per-round ratios A/B (target <= 1.05), plus the initial,
weekly-full and monthly times. Figures, not assertions: run it on a quiet machine.

    .venv/bin/python bench/backup_wrapper.py [--size-mb 1024] [--rounds 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bangka_ops.backup import agent

WORDS = (
    *("surat", "undangan", "rapat", "paripurna", "dprd", "kabupaten", "bangka", "sungailiat"),
    *("bupati", "sekretaris", "daerah", "anggaran", "belanja", "pegawai", "laporan"),
    *("realisasi", "nota", "dinas", "agenda", "kunjungan", "kerja"),
)


def generate(root: Path, size_mb: int, seed: int = 2025) -> tuple[int, int]:
    """Write the dataset; returns (files, bytes)."""
    rng = random.Random(seed)  # noqa: S311 (test data, not secrets)
    budget = size_mb * 1024 * 1024
    written = files = 0
    made: list[Path] = []

    def write(path: Path, data: bytes) -> None:
        nonlocal written, files
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written += len(data)
        files += 1
        made.append(path)

    # A few large incompressible files (~35 %), e.g. scanned archives and videos.
    for i in range(max(1, size_mb // 300)):
        write(
            root / "arsip-video" / f"rekaman-{i:02d}.mp4",
            os.urandom(int(budget * 0.35 / max(1, size_mb // 300))),
        )
    # Office-size binaries (~35 %): partly compressible, 100 KiB - 4 MiB.
    target = written + budget * 0.35
    i = 0
    while written < target:
        size = rng.randint(100 * 1024, 4 * 1024 * 1024)
        data = os.urandom(size // 2) + bytes(size - size // 2)
        write(root / "dokumen" / f"bidang-{i % 12:02d}" / f"dokumen-{i:05d}.docx", data)
        i += 1
    # Many small text files (~20 %), 1 - 24 KiB.
    target = written + budget * 0.20
    i = 0
    while written < target:
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(150, 4000)))
        write(
            root / "surat" / f"{2020 + i % 6}" / f"{i % 12 + 1:02d}" / f"surat-{i:06d}.txt",
            text.encode(),
        )
        i += 1
    # ~10 % duplicates: copies of existing files elsewhere.
    target = written + budget * 0.10
    originals = [p for p in made if p.stat().st_size < 8 * 1024 * 1024]
    i = 0
    while written < target and originals:
        source = rng.choice(originals)
        write(root / "salinan" / f"{i:05d}-{source.name}", source.read_bytes())
        i += 1
    return files, written


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        sys.exit(
            f"benchmark step failed ({proc.returncode}): {' '.join(argv)}\n"
            f"{proc.stdout}{proc.stderr}"
        )
    return elapsed


class Bench:
    """A local repository, a wrapper configuration around it, and timed runs of both sides."""

    def __init__(self, work: Path, source: Path) -> None:
        self.source, self.repo, base = source, work / "repo", work / "borg-base"
        shutil.rmtree(self.repo, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
        pass_file = work / "passphrase"
        pass_file.unlink(missing_ok=True)
        pass_file.write_text("bench-passphrase-not-secret-0123456789\n")
        pass_file.chmod(0o400)
        config: dict[str, Any] = {
            "host": "bench",
            "records_dir": str(work / "records"),
            "state_dir": str(work / "state"),
            "repository": {
                "location": str(self.repo),
                "passphrase_file": str(pass_file),
                "base_dir": str(base),
            },
            "policies": {
                "data": {
                    "sources": [str(source)],
                    "cycles": {"daily": {}, "weekly": {"weekday": 0}, "monthly": {"day": 0}},
                }
            },
        }
        config_path = work / "config.json"
        config_path.write_text(json.dumps(config))
        # Run the wrapper the way hosts do: through its shebang (Debian's python3, isolated).
        shebang = Path(agent.__file__).read_text().splitlines()[0].removeprefix("#!").split()
        if not Path(shebang[0]).exists():
            shebang = [sys.executable]
        self.wrapper = [*shebang, agent.__file__, "--config", str(config_path)]
        self.borg_env = agent.Borg(config).env(config["repository"])
        self.overheads: list[float] = []
        self.plain_runs = 0
        subprocess.run([*self.wrapper, "init"], check=True, capture_output=True)

    def wrapper_run(self, cycle: str) -> float:
        argv = [*self.wrapper, "run", "--policy", "data", "--cycle", cycle, "--on-demand"]
        started = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        if proc.returncode not in (0, 1):
            sys.exit(f"wrapper run failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        record = json.loads(Path(proc.stdout.split("record: ")[1].strip()).read_text())
        if cycle == "daily":
            self.overheads.append(elapsed - record["steps"]["create"]["duration_seconds"])
        return elapsed

    def plain_run(self) -> float:
        self.plain_runs += 1
        argv = ["borg", "create", "--compression", "zstd,3", "--exclude-caches"]
        argv += ["--one-file-system", f"{self.repo}::plain-{self.plain_runs}", str(self.source)]
        return timed(argv, self.borg_env)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="bangka-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        source = work / "data"
        if not source.exists():
            started = time.perf_counter()
            files, size = generate(source, args.size_mb)
            print(
                f"dataset: {files} files, {size / 2**20:.0f} MiB "
                f"in {time.perf_counter() - started:.1f} s"
            )
        bench = Bench(work, source)
        print(f"initial backup (wrapper, daily): {bench.wrapper_run('daily'):.2f} s")
        ratios, a_times, b_times = [], [], []
        for i in range(args.rounds):
            a, b = bench.wrapper_run("daily"), bench.plain_run()
            a_times.append(a)
            b_times.append(b)
            ratios.append(a / b)
            print(
                f"round {i + 1}: wrapper {a:.3f} s  plain borg create {b:.3f} s  ratio {a / b:.3f}"
            )
        weekly, monthly = bench.wrapper_run("weekly"), bench.wrapper_run("monthly")
        a_median, b_median = statistics.median(a_times), statistics.median(b_times)
        print()
        print(f"unchanged daily, median: wrapper {a_median:.3f} s, plain {b_median:.3f} s")
        print(f"median ratio wrapper/plain: {statistics.median(ratios):.3f}  (target <= 1.05)")
        print(f"ratio of the medians: {a_median / b_median:.3f}")
        overhead_ms = statistics.median(bench.overheads) * 1000
        print(f"wrapper's own cost per run (wall time minus its borg create): {overhead_ms:.0f} ms")
        print(f"weekly full (files cache disabled + check --repository-only): {weekly:.2f} s")
        print(f"monthly archive (create + check --verify-data of the archive): {monthly:.2f} s")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
