"""Repository sizes for the inventory pages, read from backup run records.

A run record keeps Borg's own ``borg create --json`` output, whose ``cache.stats.unique_csize`` is
the whole repository's stored size (deduplicated and compressed) right after that run. The newest
successful run of a host therefore gives that host's repository size. Records are read from a
directory of loose records (``<policy>/<archive>.json``, as a host keeps them) or a collected tree
(``<host>/records/…`` and ``<host>/ledger/<policy>/<YYYY-MM>.jsonl``, as the admin host keeps
them). Without records there is nothing to say, and the pages say so.

:func:`repository_sizes` is the one entry point the pages use; the capacity forecast (growth and
days until full per repository) is meant to plug in here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GOOD = ("success", "warning")


@dataclass(frozen=True)
class RepositorySize:
    host: str
    repository: str
    stored_bytes: int  # Borg's unique_csize: deduplicated, compressed
    as_of: dt.datetime  # the start of the run that measured it


def _records(root: Path) -> Iterator[Any]:
    """Every JSON document under ``root`` that may be a run record; what cannot be read is
    skipped (``cekat records`` and ``cekat report`` name such files, this page only counts)."""
    for path in sorted(root.rglob("*.json")):
        if path.name.endswith(".started.json") or "restore-tests" in path.parts:
            continue
        try:
            yield json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError):
            continue
    for path in sorted(root.rglob("ledger/*/*.jsonl")):
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for line in lines:
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(entry, dict):
                yield entry.get("record")


def _measure(record: dict[str, Any]) -> tuple[str, str, int, dt.datetime] | None:
    if record.get("kind") != "backup_run" or record.get("status") not in GOOD:
        return None
    stats = ((record.get("borg") or {}).get("cache") or {}).get("stats") or {}
    size = stats.get("unique_csize")
    try:
        start = dt.datetime.fromisoformat(str(record.get("start")))
    except ValueError:
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0 or start.tzinfo is None:
        return None
    return str(record.get("host")), str(record.get("repository", "")), size, start


def repository_sizes(records_dir: Path | None) -> dict[str, RepositorySize]:
    """Per host, its repository's newest measured size; empty without a directory."""
    if records_dir is None:
        return {}
    newest: dict[str, RepositorySize] = {}
    for record in _records(records_dir):
        measured = _measure(record) if isinstance(record, dict) else None
        if measured is None:
            continue
        host, repository, size, start = measured
        if host not in newest or start > newest[host].as_of:
            newest[host] = RepositorySize(host, repository, size, start)
    return newest


def human(size: int) -> str:
    """Bytes in binary units, one decimal (``1.5 GiB``)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
