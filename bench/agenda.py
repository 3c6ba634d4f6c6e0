"""Benchmark: `protocloud validate` and `protocloud conflicts` on a generated agenda.

Generates an agenda repository (a git repository, as in production) with --events event files
(default 100,000: a busy protocol office makes a few thousand a year, so this is decades of
headroom) of about 20 lines each, spread over --leaders leaders and --venues venues within the
conflict window, a few recurring. Then, each in a fresh process pinned to one core with the
files in the page cache (peak memory is that process's maximum resident set):

  floor      parse every event file with PyYAML's C loader, nothing else
  cold       protocloud validate with an empty cache
  warm       protocloud validate again after one file changed (results cached by git blob)
  conflicts  protocloud conflicts (from the warm cache) and, inside it, the sweep alone

and prints events/s and peak memory. Targets, one core: cold within 2x the floor, warm under
2 s, the conflict sweep under 1 s. Figures, not assertions.

    .venv/bin/python bench/agenda.py [--events 100000] [--keep DIR]
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

import yaml

TODAY = dt.date(2026, 11, 24)
KINDS = ["Rapat", "Kunjungan Kerja", "Audiensi", "Resepsi", "Upacara", "Peresmian"]
TOPICS = [
    "Koordinasi Penanganan Banjir",
    "Evaluasi Realisasi Anggaran",
    "Pembangunan Jalan Desa",
    "Festival Budaya Bangka",
    "Program Imunisasi Anak",
    "Pengembangan UMKM Perikanan",
    "Penataan Pasar Tradisional",
    "Persiapan Hari Jadi Kabupaten",
]
STAGES = ["diajukan", "diverifikasi", "diinput", "dikonfirmasi", "dipublikasikan"]
BY = {
    "diajukan": "pengaju01",
    "diverifikasi": "verifikator01",
    "diinput": "operator01",
    "dikonfirmasi": "ajudan01",
    "dipublikasikan": "koordinator01",
}


def config(root: Path, leaders: int, venues: int) -> None:
    """The five configuration files, from the example agenda's rules."""
    example = Path(__file__).resolve().parent.parent / "examples" / "agenda"
    shutil.copy(example / "categories.yaml", root)
    rules = yaml.safe_load((example / "rules.yaml").read_text())
    rules["recurrence_window"] = {"past_days": 30, "future_days": 730}
    (root / "rules.yaml").write_text(yaml.safe_dump(rules, allow_unicode=True))
    people: dict[str, Any] = {
        "leaders": {
            f"pimpinan{n:03d}": {"name": f"Pimpinan {n}", "position": f"Kepala OPD {n}"}
            for n in range(leaders)
        },
        "people": {
            name: {"name": name, "email": f"{name}@bangka.go.id", "roles": [name[:-2]]}
            for name in BY.values()
        },
    }
    (root / "people.yaml").write_text(yaml.safe_dump(people))
    places = {
        f"tempat{n:03d}": {
            "name": f"Gedung {n}",
            "address": f"Jl. Contoh No. {n}, Sungailiat, Kabupaten Bangka",
        }
        for n in range(venues)
    }
    (root / "venues.yaml").write_text(
        yaml.safe_dump({"venues": places, "travel": {"default_minutes": 20, "buffer_minutes": 10}})
    )
    calendars = {
        f"pimpinan{n:03d}": {"name": f"Agenda Pimpinan {n}", "leader": f"pimpinan{n:03d}"}
        for n in range(leaders)
    }
    (root / "calendars.yaml").write_text(yaml.safe_dump({"calendars": calendars}))


def generate(root: Path, count: int, leaders: int, venues: int) -> None:
    rng = random.Random(2026)  # noqa: S311 (test data)
    root.mkdir(parents=True)
    config(root, leaders, venues)
    for n in range(count):
        day = TODAY + dt.timedelta(days=rng.randrange(700))
        start = dt.datetime.combine(day, dt.time(rng.randrange(7, 20), rng.choice((0, 30))))
        end = start + dt.timedelta(minutes=rng.choice((30, 60, 90, 120)))
        stage = rng.randrange(len(STAGES))
        history = "\n".join(
            f"  - {{status: {s}, by: {BY[s]}, "
            f"at: '{day - dt.timedelta(days=9 - i)}T0{i + 1}:00:00+07:00'}}"
            for i, s in enumerate(STAGES[: stage + 1])
        )
        slug = f"acara-{n:06d}"
        event_id = f"{day}-{slug}"
        recurrence = "recurrence: {rrule: 'FREQ=WEEKLY;COUNT=8'}\n" if rng.random() < 0.01 else ""
        text = (
            f"id: {event_id}\n"
            f"title: {rng.choice(KINDS)} {rng.choice(TOPICS)} {n}\n"
            f"start: {start:%Y-%m-%dT%H:%M}\n"
            f"end: {end:%Y-%m-%dT%H:%M}\n"
            f"venue: tempat{rng.randrange(venues):03d}\n"
            f"room: Ruang {rng.randrange(1, 4)}\n"
            f"leaders: [pimpinan{rng.randrange(leaders):03d}]\n"
            f"category: {rng.choice(['rapat', 'kunjungan', 'audiensi', 'seremonial'])}\n"
            f"person_in_charge: pengaju01\n"
            f"contact: '+62 812-7000-{n % 10000:04d}'\n"
            f"description: Acara nomor {n} untuk uji beban.\n"
            f"documents:\n  - {{title: Undangan, url: 'https://bangka.go.id/u/{n}.pdf'}}\n"
            f"{recurrence}"
            f"status: {STAGES[stage]}\n"
            f"checklist: {{venue_confirmed: true, transport: false, guests: true}}\n"
            f"history:\n{history}\n"
        )
        folder = root / "events" / f"{day:%Y}" / f"{day:%m}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{event_id}.yaml").write_text(text)
    git = ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=bench@bangka.go.id"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "agenda"], check=True)


def phase_floor(root: Path) -> None:
    count = 0
    for path in sorted((root / "events").rglob("*.yaml")):
        yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)
        count += 1
    print(json.dumps({"files": count, "peak_mib": peak_mib()}))


def phase_sweep(root: Path) -> None:
    """Load (from the warm cache), then time the conflict sweep alone."""
    from bangka_ops.agenda import conflicts, repository  # noqa: PLC0415

    agenda = repository.load(root)
    assert agenda.config is not None
    started = time.perf_counter()
    found = conflicts.find(agenda.events, agenda.config, TODAY)
    seconds = time.perf_counter() - started
    print(json.dumps({"sweep_s": seconds, "conflicts": len(found), "peak_mib": peak_mib()}))


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# Runs a module as `python -m` would, then reports that process's own peak memory.
PEAK = (
    "import resource, runpy, sys\n"
    "sys.argv = sys.argv[1:]\n"
    "try:\n"
    "    runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "else:\n"
    "    code = 0\n"
    "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
    "print('PEAK_MIB', peak, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def measure(args: list[str], module: bool = False) -> tuple[float, float, dict[str, Any]]:
    """Wall seconds and peak memory of a fresh process pinned to one core."""
    started = time.perf_counter()
    command = [sys.executable, *(["-c", PEAK] if module else [__file__]), *args]
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # inherited by the child
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    if module:
        peak = float(proc.stderr.rsplit("PEAK_MIB ", 1)[1].split()[0])
        return elapsed, peak, {}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return elapsed, float(result["peak_mib"]), result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--leaders", type=int, default=150)
    parser.add_argument("--venues", type=int, default=200)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    parser.add_argument("--phase", choices=("floor", "sweep"), help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "floor":
        phase_floor(args.root)
        return 0
    if args.phase == "sweep":
        phase_sweep(args.root)
        return 0

    work = args.keep or Path(tempfile.mkdtemp(prefix="bangka-agenda-bench-"))
    root = work / f"agenda-{args.events}"
    try:
        if not root.exists():
            started = time.perf_counter()
            generate(root, args.events, args.leaders, args.venues)
            print(f"generated {args.events:,} event files in {time.perf_counter() - started:.0f} s")
        for path in (root / "events").rglob("*.yaml"):
            path.read_bytes()  # into the page cache
        cache = work / "cache"
        shutil.rmtree(cache, ignore_errors=True)
        env_cache = ["--cache", str(cache)]
        floor_s, floor_mb, floor = measure(["--phase", "floor", "--root", str(root)])
        cold_s, cold_mb, _ = measure(
            ["bangka_ops.cli.protocloud", "validate", str(root), "--format", "json", *env_cache],
            module=True,
        )
        changed = next((root / "events").rglob("*.yaml"))
        changed.write_text(changed.read_text().replace("title: ", "title: Rapat Ubah ", 1))
        warm_s, warm_mb, _ = measure(
            ["bangka_ops.cli.protocloud", "validate", str(root), "--format", "json", *env_cache],
            module=True,
        )
        conflicts_s, conflicts_mb, _ = measure(
            [
                "bangka_ops.cli.protocloud",
                "conflicts",
                str(root),
                "--today",
                str(TODAY),
                "--format",
                "json",
                *env_cache,
            ],
            module=True,
        )
        _, _, sweep = measure(["--phase", "sweep", "--root", str(root)])
        n = floor["files"]
        rows = [
            ("floor (PyYAML C loader)", floor_s, floor_mb),
            ("validate, cold cache", cold_s, cold_mb),
            ("validate, warm (1 file changed)", warm_s, warm_mb),
            ("conflicts (warm cache)", conflicts_s, conflicts_mb),
        ]
        load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"{n:,} event files; one core; load average {load} (1/5/15 min, {os.cpu_count()} cores)"
        )
        for label, seconds, peak in rows:
            print(
                f"{label:34s} {seconds:7.2f} s  {n / seconds:9,.0f} events/s  peak {peak:6.0f} MiB"
            )
        print(f"conflict sweep alone: {sweep['sweep_s']:.2f} s ({sweep['conflicts']:,} conflicts)")
        print(
            f"cold / floor = {cold_s / floor_s:.2f} (target <= 2); warm {warm_s:.2f} s "
            f"(target < 2 s); sweep {sweep['sweep_s']:.2f} s (target < 1 s)"
        )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
