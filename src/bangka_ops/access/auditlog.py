"""Reading audit logs: a host's ``/var/log/bangka-ops/*.jsonl``, or what the admin host
collected (``<collected>/<host>/audit/<from>-<to>.jsonl`` chunks, each written once; a line is
the host's whose package carried it, see :func:`read`). ``cekat
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
            if when.tzinfo is None:  # as the command line reads a time without offset
                when = when.replace(tzinfo=dt.UTC)
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
        # A collected chunk (<collection>/<host>/audit/<chunk>) belongs to the host whose
        # package carried it, whatever its lines say: a line naming another host is shown as
        # the carrier's, with the name it claimed (``host_claimed``).
        carrier = path.parent.parent.name if path.parent.name == "audit" else None
        try:
            handle = path.open("rb")
        except OSError as exc:
            found.problems.append(f"{path}: {exc.strerror}")
            continue
        with handle:
            for number, raw in enumerate(handle, 1):
                if not raw.strip():
                    continue
                try:
                    line = raw.decode("utf-8")
                    entry = json.loads(line)
                    if not isinstance(entry, dict) or "kind" not in entry:
                        raise ValueError("not an audit entry")
                except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, too deep
                    found.problems.append(f"{path}:{number}: damaged line ({exc})")
                    continue
                key = f"{carrier}\0{line.strip()}"
                if key in seen:  # the same line collected twice (a chunk sent again)
                    continue
                seen.add(key)
                if carrier is not None and entry.get("host") != carrier:
                    entry["host_claimed"] = entry.get("host")
                    entry["host"] = carrier
                if query.matches(entry):
                    found.entries.append(entry)
    found.entries.sort(key=lambda e: str(e.get("time")))
    return found


def text(entries: list[dict[str, Any]]) -> str:
    """One line per entry for a terminal: every field printable (see :func:`printable`)."""

    def cell(entry: dict[str, Any], name: str, missing: str = "-") -> str:
        value = entry.get(name)
        return missing if value is None else printable(str(value))

    rows = [
        f"{cell(e, 'time'):25} {cell(e, 'host'):24} {cell(e, 'actor'):16} "
        f"{cell(e, 'kind'):15} {cell(e, 'result'):9} {cell(e, 'action', '')}"
        + (
            f" [host mismatch: the line claims {cell(e, 'host_claimed')}]"
            if "host_claimed" in e
            else ""
        )
        for e in entries
    ]
    return "\n".join(rows) + ("\n" if rows else "")


def printable(value: str) -> str:
    """``value`` safe to show on a terminal: a character that is not printable (an ESC that
    starts a control sequence, a carriage return that overwrites the line, a bidi override
    that reorders it, a lone surrogate) is written as its Python escape (``\\x1b``)."""
    if value.isprintable():
        return value
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in value)
