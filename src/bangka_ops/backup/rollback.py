#!/usr/bin/python3 -I
"""bangka-borg-rollback: return a client repository to its state at a given time (SI CEKAT).

Runs on the repository server (deployed by the ``borg_server`` role, standard library only),
as root, when the admin's tamper check found archives deleted by a client. It needs no key or
passphrase: it works on the repository's files.

Why this is safe: clients write only through ``borg serve --append-only``, so a client's delete
or prune only *appends* segments; Borg never rewrites a committed segment, and segments are
numbered in the order they were written. The repository as it was at time T is therefore the
segments written up to T. Rolling back = keeping those, removing the later ones and the
expendable ``index.N``/``hints.N``/``integrity.N`` files (Borg rebuilds them), as Borg's
documentation on append-only mode describes. The admin's compaction runs only after a passed
tamper check, so T = the admin's last verification is always after any compaction.

Without ``--apply`` it only prints the plan. With it, the repository is first copied with hard
links into ``<repository>.quarantine-<timestamp>`` (kept for analysis; costs no space).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 2, 64
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Segment:
    number: int
    path: Path
    mtime_ns: int


def segments(repository: Path) -> list[Segment]:
    found = []
    for path in (repository / "data").glob("*/*"):
        if path.name.isdigit():
            found.append(Segment(int(path.name), path, path.stat().st_mtime_ns))
    return sorted(found, key=lambda s: s.number)


def plan(repository: Path, to: dt.datetime) -> tuple[list[Segment], list[Segment]]:
    """Split the segments into those written up to ``to`` (kept) and after it (removed)."""
    if not (repository / "config").is_file() or not (repository / "data").is_dir():
        raise ValueError(f"{repository}: not a Borg repository (no config file or data directory)")
    # In nanoseconds, as the file system keeps them: a time the tamper check printed (rounded up
    # to the microsecond) keeps exactly the segment it names.
    cutoff = (to - EPOCH) // dt.timedelta(microseconds=1) * 1000
    all_segments = segments(repository)
    later = [s for s in all_segments if s.mtime_ns > cutoff]
    if later:
        first_later = later[0].number
        # Segments are written in number order: everything from the first later one is later.
        kept = [s for s in all_segments if s.number < first_later]
        later = [s for s in all_segments if s.number >= first_later]
    else:
        kept = all_segments
    return kept, later


def in_use(repository: Path) -> bool:
    return (repository / "lock.exclusive").exists() or (repository / "lock.roster").exists()


def apply(repository: Path, removed: list[Segment], stamp: str) -> Path:
    quarantine = repository.with_name(f"{repository.name}.quarantine-{stamp}")
    subprocess.run(["cp", "-al", str(repository), str(quarantine)], check=True)
    for pattern in ("index.*", "hints.*", "integrity.*"):
        for path in repository.glob(pattern):
            path.unlink()
    for segment in removed:
        segment.path.unlink()
    return quarantine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bangka-borg-rollback",
        description="Roll a client repository back to its state at a given time "
        "(prints the plan; --apply does it).",
    )
    parser.add_argument("repository", type=Path, help="repository directory on this server")
    parser.add_argument(
        "--to", required=True, help="ISO 8601 time with offset, e.g. the admin's last verification"
    )
    parser.add_argument("--apply", action="store_true", help="quarantine a copy, then roll back")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        to = dt.datetime.fromisoformat(args.to)
        if to.tzinfo is None:
            raise ValueError("--to needs a UTC offset, e.g. 2025-05-12T12:00:00+07:00")
        kept, removed = plan(args.repository, to)
    except (ValueError, OSError) as exc:
        print(f"bangka-borg-rollback: {exc}", file=sys.stderr)
        return EXIT_USAGE
    result: dict[str, object] = {
        "repository": str(args.repository),
        "to": to.isoformat(),
        "segments_kept": len(kept),
        "segments_removed": [s.number for s in removed],
        "applied": False,
    }
    if args.apply and removed:
        if in_use(args.repository):
            print(
                f"bangka-borg-rollback: {args.repository} is locked by a running Borg process; "
                "stop the client's backups and try again",
                file=sys.stderr,
            )
            return EXIT_FAILED
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        result["quarantine"] = str(apply(args.repository, removed, stamp))
        result["applied"] = True
        owner = args.repository.stat()
        for path in [args.repository, *args.repository.rglob("*")]:
            os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{args.repository}: keep {len(kept)} segment(s), remove {len(removed)} written after "
            f"{to.isoformat()}"
            + (f"; quarantined copy: {result['quarantine']}" if result["applied"] else "")
        )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
