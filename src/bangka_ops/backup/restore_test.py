#!/usr/bin/python3 -Es
"""bangka-backup-restore-test: restore an archive into a scratch directory and prove it (SI CEKAT).

A backup nobody has restored is a hope. For one host and policy this tool picks an archive
(latest by default, one of a given date, or a random older one), extracts all of it or a sample
of at least N files and M bytes, and verifies what came back:

- every restored file's SHA-256 and size equal what ``borg list --format '{sha256}...'`` reports
  for the archive: a second, independent read path through Borg;
- for files unchanged since the archive (same size and mtime as recorded), the live source has
  the same SHA-256;
- counts and sizes match the selection.

It measures the restore's wall time and throughput; for a sample it also extrapolates the
full-restore time (measured time x archive size / sampled bytes, labelled as such). RTO is judged
on the full restore when there was one, else on the extrapolation; RPO on the age of the newest
archive of the policy. The scratch directory is always removed. One record per test (schema
``restore-test-record.v1``) is written beside the run records.

Standard library only; deployed beside ``agent.py`` (it reuses its Borg invocation, records and
notifications). Exit codes: 0 passed, 2 failed (integrity, RTO or RPO), 64 usage error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

try:
    from bangka_ops.backup import agent
except ModuleNotFoundError:  # deployed as /usr/local/lib/bangka-backup/restore_test.py
    import agent  # type: ignore[import-not-found, no-redef]

RECORD_SCHEMA_VERSION = 1
EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 2, 64
HASH_CHUNK = 1024 * 1024


@dataclass
class Item:
    path: str
    size: int
    sha256: str
    mtime: str


@dataclass
class Verification:
    files_checked: int = 0
    bytes_checked: int = 0
    missing: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    live_compared: int = 0
    live_mismatched: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not (self.missing or self.mismatched or self.live_mismatched)


class RestoreTest:
    def __init__(self, config: dict[str, Any], policy: str) -> None:
        self.config = config
        self.policy_name = policy
        self.policy = agent.policy_of(config, policy, Path("config"))
        self.repo = config["repository"]
        self.borg = agent.Borg(config)
        self.tz = ZoneInfo(config.get("timezone", "Asia/Jakarta"))
        self.log_dir = Path(config["records_dir"]) / "restore-tests" / policy
        self.log_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        # One object per test: its record and the raw --log-json of its Borg calls share a name.
        self.started = agent.now_in(self.tz)
        stamp = self.started.strftime("%Y-%m-%dT%H-%M-%S")
        self.name = f"{config['host']}-{policy}-{stamp}"
        self.log_path = self.log_dir / f"{self.name}.log.jsonl"
        self.log = self.log_path.open("w", encoding="utf-8")

    def borg_json(self, args: list[str], what: str) -> Any:
        step = self.borg.run([*args, "--log-json"], self.repo, self.log, stdout_json=True)
        if step.returncode not in (0, 1) or step.output is None:
            raise RuntimeError(agent.Run.explain(step, what))
        return step.output

    def archives(self) -> list[dict[str, Any]]:
        """This policy's complete archives, oldest first."""
        glob = f"{self.config['host']}-{self.policy_name}-*"
        listing = self.borg_json(
            ["list", "--json", "--glob-archives", glob, self.repo["location"]], "borg list"
        )
        return [a for a in listing["archives"] if not a["name"].endswith(".checkpoint")]

    @staticmethod
    def choose(archives: list[dict[str, Any]], date: str | None, random_older: bool) -> str:
        if not archives:
            raise RuntimeError("the repository holds no archive of this policy yet")
        if date:
            matching = [a for a in archives if a["start"].startswith(date)]
            if not matching:
                raise RuntimeError(f"no archive of this policy was made on {date}")
            return str(matching[-1]["name"])
        if random_older and len(archives) > 1:
            return str(random.SystemRandom().choice(archives[:-1])["name"])
        return str(archives[-1]["name"])

    def items(self, archive: str) -> list[Item]:
        """Regular files of the archive with Borg's own SHA-256 of their content."""
        location = f"{self.repo['location']}::{archive}"
        argv = [
            "list",
            "--json-lines",
            "--format",
            "{sha256}{size}{mtime}{path}",
            location,
        ]
        step = self.borg.run([*argv, "--log-json"], self.repo, self.log, stdout_lines=True)
        if step.returncode not in (0, 1):
            raise RuntimeError(agent.Run.explain(step, "borg list (archive contents)"))
        items = []
        for line in step.lines:
            entry = json.loads(line)
            if entry.get("type") == "-":
                items.append(
                    Item(entry["path"], int(entry["size"]), entry["sha256"], entry["mtime"])
                )
        return items

    @staticmethod
    def sample(items: list[Item], min_files: int, min_bytes: int, seed: str) -> list[Item]:
        """At least ``min_files`` files and ``min_bytes`` bytes, chosen at random (all if the
        archive is smaller)."""
        pool = list(items)
        random.Random(seed).shuffle(pool)  # noqa: S311 (sampling, not secrecy)
        chosen: list[Item] = []
        size = 0
        for item in pool:
            if len(chosen) >= min_files and size >= min_bytes:
                break
            chosen.append(item)
            size += item.size
        return chosen

    def extract(self, archive: str, selection: list[Item] | None, scratch: Path) -> float:
        """Extract the selection (None = everything); returns the wall time in seconds."""
        argv = ["extract", "--log-json", f"{self.repo['location']}::{archive}"]
        if selection is not None:
            patterns = scratch.parent / f"{scratch.name}.patterns"
            lines = ["P pp", *(f"+ {item.path}" for item in selection), "- sh:**"]
            patterns.write_text("\n".join(lines) + "\n", encoding="utf-8")
            argv[1:1] = ["--patterns-from", str(patterns)]
        started = time.monotonic()
        step = self.borg.run(argv, self.repo, self.log, cwd=scratch)
        elapsed = time.monotonic() - started
        if step.returncode not in (0, 1):
            raise RuntimeError(agent.Run.explain(step, "borg extract"))
        return elapsed

    @staticmethod
    def verify(selection: list[Item], scratch: Path, live_root: Path | None) -> Verification:
        result = Verification()
        for item in selection:
            restored = scratch / item.path
            if not restored.is_file():
                result.missing.append(item.path)
                continue
            digest = sha256_of(restored)
            result.files_checked += 1
            result.bytes_checked += restored.stat().st_size
            if digest != item.sha256 or restored.stat().st_size != item.size:
                result.mismatched.append(item.path)
                continue
            if live_root is None:
                continue
            live = live_root / item.path
            try:
                stat = live.stat()
            except OSError:
                continue
            unchanged = stat.st_size == item.size and same_mtime(item.mtime, stat.st_mtime_ns)
            if unchanged:
                result.live_compared += 1
                if sha256_of(live) != item.sha256:
                    result.live_mismatched.append(item.path)
        return result

    def run(
        self,
        *,
        archive_date: str | None = None,
        random_older: bool = False,
        full: bool = False,
        min_files: int = 50,
        min_bytes: int = 64 * 1024 * 1024,
        live_root: Path | None = Path("/"),
        scratch_root: Path | None = None,
    ) -> tuple[int, dict[str, Any]]:
        started = self.started
        clock = time.monotonic()
        record: dict[str, Any] = {
            "schema_version": RECORD_SCHEMA_VERSION,
            "kind": "restore_test",
            "host": self.config["host"],
            "policy": self.policy_name,
            "category": self.policy.get("category", "standard"),
            "repository": self.repo["location"],
            "start": started.isoformat(),
            "rto_hours": self.policy.get("rto_hours"),
            "rpo_hours": self.policy.get("rpo_hours"),
        }
        scratch = Path(tempfile.mkdtemp(prefix="restore-test-", dir=scratch_root))
        try:
            archives = self.archives()
            archive = self.choose(archives, archive_date, random_older)
            items = self.items(archive)
            selection = None if full else self.sample(items, min_files, min_bytes, archive)
            chosen = items if selection is None else selection
            seconds = self.extract(archive, selection, scratch)
            hashed = time.monotonic()
            check = self.verify(chosen, scratch, live_root)
            record["verify_seconds"] = round(time.monotonic() - hashed, 3)
            record.update(
                self.measure(
                    archive=archive,
                    archives=archives,
                    items=items,
                    chosen=chosen,
                    seconds=seconds,
                    full=full,
                    check=check,
                )
            )
            record["status"] = "passed" if record["result"]["passed"] else "failed"
        except RuntimeError as exc:
            record.update(status="error", reason=str(exc))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.parent.joinpath(f"{scratch.name}.patterns").unlink(missing_ok=True)
            self.log.close()
        record["scratch_removed"] = not scratch.exists()
        record["end"] = agent.now_in(self.tz).isoformat()
        record["duration_seconds"] = round(time.monotonic() - clock, 3)
        path = self.log_dir / f"{self.name}.json"
        record["record_path"] = str(path)
        record["log_path"] = str(self.log_path)
        if record["status"] != "passed":
            record["notifications"] = agent.send_notifications(
                self.config.get("notify") or {},
                f"[SI CEKAT] RESTORE TEST {record['status'].upper()}: {record['host']} "
                f"{record['policy']}",
                record.get("reason") or json.dumps(record.get("result"), indent=1),
                {k: record.get(k) for k in ("host", "policy", "status", "reason", "archive")},
            )
        agent.write_json_atomic(path, record)
        return (EXIT_PASSED if record["status"] == "passed" else EXIT_FAILED), record

    def measure(
        self,
        *,
        archive: str,
        archives: list[dict[str, Any]],
        items: list[Item],
        chosen: list[Item],
        seconds: float,
        full: bool,
        check: Verification,
    ) -> dict[str, Any]:
        archive_bytes = sum(i.size for i in items)
        restored_bytes = sum(i.size for i in chosen)
        rto_hours = self.policy.get("rto_hours")
        rto_seconds = None if rto_hours is None else rto_hours * 3600
        extrapolated = seconds * archive_bytes / restored_bytes if restored_bytes else seconds
        judged = seconds if full else extrapolated
        # Borg 1.2 prints archive times in the host's local time without an offset.
        newest = dt.datetime.fromisoformat(archives[-1]["start"]).astimezone()
        age_hours = (dt.datetime.now(dt.UTC) - newest).total_seconds() / 3600
        rpo_hours = self.policy.get("rpo_hours")
        result = {
            "integrity": check.passed,
            "rto_met": (judged <= rto_seconds) if rto_seconds is not None else None,
            "rpo_met": (age_hours <= rpo_hours) if rpo_hours is not None else None,
        }
        result["passed"] = (
            bool(result["integrity"])
            and result["rto_met"] is not False
            and (result["rpo_met"] is not False)
        )
        return {
            "archive": archive,
            "mode": "full" if full else "sample",
            "archive_files": len(items),
            "archive_bytes": archive_bytes,
            "files_restored": len(chosen),
            "bytes_restored": restored_bytes,
            "restore_seconds": round(seconds, 3),
            "throughput_mib_s": round(restored_bytes / 2**20 / seconds, 2) if seconds else None,
            "extrapolated_full_restore_seconds": None if full else round(extrapolated, 3),
            "rto_judged_on": "full restore" if full else "extrapolation from the sample",
            "newest_archive_age_hours": round(age_hours, 2),
            "verification": {
                "files_checked": check.files_checked,
                "bytes_checked": check.bytes_checked,
                "missing": check.missing[:50],
                "mismatched": check.mismatched[:50],
                "live_compared": check.live_compared,
                "live_mismatched": check.live_mismatched[:50],
            },
            "result": result,
        }


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def same_mtime(borg_mtime: str, mtime_ns: int) -> bool:
    """Borg prints mtimes in local time with microseconds (rounded); compare to 2 us."""
    recorded = dt.datetime.fromisoformat(borg_mtime).timestamp()
    return abs(recorded - mtime_ns / 1e9) < 2e-6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bangka-backup-restore-test",
        description="Restore an archive into a scratch directory and verify it.",
    )
    parser.add_argument("--config", type=Path, default=Path(agent.DEFAULT_CONFIG))
    parser.add_argument("--policy", required=True)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--date", help="an archive made on this day (YYYY-MM-DD)")
    which.add_argument("--random-older", action="store_true", help="a random older archive")
    parser.add_argument("--full", action="store_true", help="restore everything, not a sample")
    parser.add_argument("--sample-files", type=int, default=50)
    parser.add_argument("--sample-mib", type=int, default=64)
    parser.add_argument("--scratch-dir", type=Path, help="parent of the scratch directory")
    parser.add_argument(
        "--live-root",
        type=Path,
        default=Path("/"),
        help="where the live sources are (for comparing unchanged files); '-' for none",
    )
    args = parser.parse_args(argv)
    try:
        config = agent.load_config(args.config)
        test = RestoreTest(config, args.policy)
    except agent.ConfigError as exc:
        print(f"bangka-backup-restore-test: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    code, record = test.run(
        archive_date=args.date,
        random_older=args.random_older,
        full=args.full,
        min_files=args.sample_files,
        min_bytes=args.sample_mib * 2**20,
        live_root=None if str(args.live_root) == "-" else args.live_root,
        scratch_root=args.scratch_dir,
    )
    print(f"{record['status']}: {record.get('archive', '-')} {record.get('reason', '')}".rstrip())
    print(f"record: {record['record_path']}")
    return code


if __name__ == "__main__":
    sys.exit(main())
