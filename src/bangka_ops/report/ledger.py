"""The admin host's ledger: collected run records folded into one JSON Lines file per host,
policy and month.

A year of 500 hosts is over half a million run records. One file each costs the report more in
opening files than in everything else together, so after every collection
``cekat consolidate <collected>`` moves each valid backup-run record from the collected tree into
``<host>/ledger/<policy>/<YYYY-MM>.jsonl`` (month of the run's start as written). Each line is
``{"source": "<path under the host directory>", "record": {...}}``: the record, unchanged, and
the file it came from.

Rules that keep it safe:

* nothing is lost: a month file is rewritten as a whole to a temporary file, flushed to disk and
  renamed over the old one, and only then are its loose files removed. A crash at any point
  leaves either the loose file or its line (or both: the next run and the report both treat a
  loose file whose source is already in the ledger as the copy it is);
* a line is never changed or dropped; a loose file that differs from its consolidated copy is
  left in place and reported, never merged;
* files that are not valid backup-run records (truncated, not JSON, other kinds, restore tests)
  stay where they are, so the report keeps naming them; so do records that name another host
  than the one whose directory (whose collected package) holds them;
* one consolidation at a time (a lock file in the collected directory).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bangka_ops.report import admin, atomic, ingest

LEDGER_DIR = "ledger"
LOCK_FILE = ".consolidate.lock"


@dataclass(slots=True)
class Line:
    source: str
    record: dict[str, Any]
    number: int = 0


@dataclass
class Summary:
    moved: int = 0
    duplicates: int = 0
    left: list[ingest.Problem] = field(default_factory=list)
    months: int = 0

    def __str__(self) -> str:
        return (
            f"{self.moved} record(s) consolidated into {self.months} month file(s), "
            f"{self.duplicates} duplicate(s) of consolidated records removed, "
            f"{len(self.left)} file(s) left in place"
        )


def read_lines(path: Path) -> Iterator[Line | ingest.Problem]:
    """The lines of one ledger file; a bad line is a problem naming the file and line."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        yield ingest.Problem(path, f"cannot read: {exc.strerror or exc}")
        return
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            value = ingest.parse(raw)
        except ingest.JSONError:
            yield ingest.Problem(path, "invalid or truncated JSON line", number)
            continue
        if (
            not isinstance(value, dict)
            or not isinstance(value.get("source"), str)
            or not isinstance(value.get("record"), dict)
        ):
            yield ingest.Problem(path, "not a ledger line (source and record)", number)
            continue
        yield Line(value["source"], value["record"], number)


def ledger_files(host_dir: Path) -> list[Path]:
    """A host's ledger files in order (policy, then month)."""
    base = host_dir / LEDGER_DIR
    if not base.is_dir():
        return []
    return sorted(p for p in base.glob("*/*.jsonl") if p.is_file() and not p.name.startswith("."))


def dumps(line: Line) -> bytes:
    try:
        import orjson  # noqa: PLC0415

        return orjson.dumps({"source": line.source, "record": line.record})
    except ModuleNotFoundError:  # pragma: no cover - orjson is a dependency
        import json  # noqa: PLC0415

        return json.dumps(
            {"source": line.source, "record": line.record}, separators=(",", ":")
        ).encode()


TOO_DEEP = "nested too deeply to be written to the ledger"


def encoded(line: Line) -> bytes | None:
    """:func:`dumps`, or None for a record nested deeper than the encoder goes (orjson stops
    at 255 levels where its parser allows 1024: a host can send such a record)."""
    try:
        return dumps(line)
    except (TypeError, RecursionError):  # orjson.JSONEncodeError is a TypeError
        return None


def write_atomic(path: Path, lines: list[bytes]) -> None:
    """``lines`` (each ends with a newline) as the whole of ``path``, or ``path`` as it was."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    with atomic.replacing(path, binary=True) as handle:
        for item in lines:
            handle.write(item)
            handle.write(b"\n")


def month_of(record: dict[str, Any]) -> str:
    """The ledger month of a record: its start's year and month, as written."""
    start = record["start"]
    return f"{start[0:4]}-{start[5:7]}"


def safe_name(value: str) -> str:
    """A policy name as a directory name (policies are identifiers; be strict anyway)."""
    if not value or value.startswith(".") or "/" in value or "\0" in value:
        raise ValueError(f"policy: {value!r} cannot name a ledger directory")
    return value


class Consolidator:
    def __init__(self, root: Path):
        self.root = root
        self.summary = Summary()

    def run(self) -> Summary:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK_FILE, "a", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            for entry in sorted(os.scandir(self.root), key=lambda e: e.name):
                if (
                    entry.is_dir(follow_symlinks=False)
                    and not entry.name.startswith(".")
                    and not admin.is_reserved(entry.name)  # the admin's reports
                ):
                    self.host(Path(entry.path))
        return self.summary

    def host(self, host_dir: Path) -> None:
        # Loose run records, grouped by their ledger file.
        pending: dict[Path, list[tuple[Path, Line]]] = {}
        for folder, names in ingest.walk(host_dir):
            parts = folder.relative_to(host_dir).parts
            if (parts and parts[0] == LEDGER_DIR) or set(parts) & set(ingest.OTHER_DIRS):
                continue
            for name in names:
                if not parts and name == "config.json":
                    continue
                path = folder / name
                loaded = ingest.read(path)
                value = (
                    loaded if isinstance(loaded, ingest.Problem) else ingest.convert(loaded, path)
                )
                if isinstance(value, ingest.Problem):
                    self.summary.left.append(value)
                    continue
                if not isinstance(value, ingest.Run):
                    continue  # another kind of record: stays as it is
                if not isinstance(loaded, dict) or loaded.get("kind") != "backup_run":
                    continue  # a start marker stays loose: the watchdog looks for it there
                if value.host != host_dir.name:
                    # Never folded under a host it does not name (nor the host it names): it
                    # stays loose, and the report shows it as a mismatch of this host.
                    self.summary.left.append(
                        ingest.Problem(
                            path,
                            f"names host {value.host!r} but was collected from "
                            f"{host_dir.name}: left in place",
                        )
                    )
                    continue
                try:
                    month = f"{value.start:%Y-%m}"  # the month of the start as written
                    target = host_dir / LEDGER_DIR / safe_name(value.policy) / f"{month}.jsonl"
                except ValueError as exc:
                    self.summary.left.append(ingest.Problem(path, str(exc)))
                    continue
                source = path.relative_to(host_dir).as_posix()
                pending.setdefault(target, []).append((path, Line(source, loaded)))
        for target, items in sorted(pending.items()):
            self.month(target, items)

    def month(self, target: Path, items: list[tuple[Path, Line]]) -> None:
        existing: dict[str, dict[str, Any]] = {}
        kept: list[bytes] = []
        if target.exists():
            for line in read_lines(target):
                if isinstance(line, ingest.Problem):
                    # Never rewrite a ledger file we cannot fully read: it would drop the line.
                    self.summary.left.extend(
                        ingest.Problem(path, f"not consolidated: {line}") for path, _ in items
                    )
                    return
                data = encoded(line)
                if data is None:  # cannot be written back: rewriting would drop the line
                    self.summary.left.extend(
                        ingest.Problem(
                            path, f"not consolidated: {target}:{line.number}: {TOO_DEEP}"
                        )
                        for path, _ in items
                    )
                    return
                existing[line.source] = line.record
                kept.append(data)
        added: list[Path] = []
        duplicates: list[Path] = []
        for path, line in sorted(items, key=lambda i: i[1].source):
            if line.source in existing:
                if existing[line.source] == line.record:
                    duplicates.append(path)
                else:
                    self.summary.left.append(
                        ingest.Problem(
                            path,
                            f"differs from its consolidated copy in {target}; left in place, "
                            "the consolidated copy is the one reported",
                        )
                    )
                continue
            data = encoded(line)
            if data is None:
                self.summary.left.append(ingest.Problem(path, TOO_DEEP))
                continue
            existing[line.source] = line.record
            kept.append(data)
            added.append(path)
        if added:
            write_atomic(target, kept)
            self.summary.months += 1
        for path in added + duplicates:
            path.unlink(missing_ok=True)
        self.summary.moved += len(added)
        self.summary.duplicates += len(duplicates)


def consolidate(root: Path) -> Summary:
    return Consolidator(root).run()
