"""Reading audit logs: a host's ``/var/log/bangka-ops/*.jsonl``, or what the admin host
collected (``<collected>/<host>/audit/<from>-<to>.jsonl`` chunks, each written once). ``cekat
audit`` filters them by host, actor, kind, result and time; a damaged line is reported with its
file and line number and never stops the rest."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Query:
    host: str | None = None
    actor: str | None = None
    kind: str | None = None
    result: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def matches(self, entry: dict[str, Any]) -> bool:
        for name in ("host", "actor", "kind", "result"):
            wanted = getattr(self, name)
            if wanted is not None and entry.get(name) != wanted:
                return False
        if self.since or self.until:
            try:
                when = dt.datetime.fromisoformat(str(entry.get("time")))
            except ValueError:
                return False
            if (self.since and when < self.since) or (self.until and when >= self.until):
                return False
        return True


@dataclass
class Found:
    entries: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def files(paths: Iterable[Path]) -> Iterator[Path]:
    """The audit logs of each path: a file itself; in a directory its ``*.jsonl`` (a host's
    log directory) and ``<host>/audit/*.jsonl`` (the admin host's collection), nothing else
    (the collection's ledgers and Borg logs are JSON lines too)."""
    for path in paths:
        if path.is_dir():
            found = [
                *path.glob("*.jsonl"),
                *path.glob("audit/*.jsonl"),
                *path.glob("*/audit/*.jsonl"),
            ]
            yield from sorted(p for p in found if p.is_file())
        else:
            yield path


def read(paths: Iterable[Path], query: Query) -> Found:
    found = Found()
    seen: set[str] = set()
    for path in files(paths):
        try:
            handle = path.open(encoding="utf-8")
        except OSError as exc:
            found.problems.append(f"{path}: {exc.strerror}")
            continue
        with handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                    if not isinstance(entry, dict) or "kind" not in entry:
                        raise ValueError("not an audit entry")
                except ValueError as exc:
                    found.problems.append(f"{path}:{number}: damaged line ({exc})")
                    continue
                key = line.strip()
                if key in seen:  # the same line collected twice (a chunk sent again)
                    continue
                seen.add(key)
                if query.matches(entry):
                    found.entries.append(entry)
    found.entries.sort(key=lambda e: str(e.get("time")))
    return found


def text(entries: list[dict[str, Any]]) -> str:
    rows = [
        f"{e.get('time', '-'):25} {e.get('host', '-'):24} {e.get('actor', '-'):16} "
        f"{e.get('kind', '-'):15} {e.get('result', '-'):9} {e.get('action', '')}"
        for e in entries
    ]
    return "\n".join(rows) + ("\n" if rows else "")
