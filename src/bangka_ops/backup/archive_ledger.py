"""The admin's own ledger of every archive it has seen in a client repository (SI CEKAT).

Deployed beside ``agent.py`` and ``maintenance.py`` on the admin host (standard library only).
Nothing a client says about its archives is trusted for a decision that destroys data: a client
with root on its host holds its repository key and passphrase, so it can name an archive as it
likes, date it with ``--timestamp`` as it likes, delete an archive and make another one with the
same name. The admin therefore records every archive by its **id** (Borg's archive fingerprint,
which changes with the content), with the time *the admin* first saw it, and judges:

* an id it recorded that is gone without the admin having pruned it: **disappeared**;
* a name it recorded under another id: **replaced** (deleted and made again);
* a new archive dated in the future (its name or its Borg start time): **future-dated**;
* a new archive dated more than a slack before the admin's previous listing, so that the
  admin should have seen it then: **backdated**;
* a new archive whose name is not one the backup wrapper makes for this client: **foreign**;
* more new archives of a policy's cycle than its schedule can have produced since the previous
  listing (plus an allowance for runs started by hand): **burst**.

Prune decisions use :func:`effective_time`: the earliest of the archive's claimed times and the
admin's first sighting, so a client can make its archives look older (and so pruned first), never
newer than the admin saw them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

try:
    from bangka_ops.backup import agent
except ModuleNotFoundError:  # deployed as /usr/local/lib/bangka-backup/archive_ledger.py
    import agent  # type: ignore[import-not-found, no-redef]

SCHEMA_VERSION = 2
CHECKPOINT = re.compile(r"\.checkpoint(\.\d+)?$")
# Shortest regular gap between two runs of a cycle (the burst rule counts what fits in a gap).
MIN_INTERVAL_HOURS = {"daily": 24.0, "weekly": 7 * 24.0, "monthly": 28 * 24.0}
DEFAULTS = {
    # Clocks disagree a little; a run's archive is dated when the run starts.
    "future_skew_minutes": 60,
    # How long before the admin's previous listing a new archive may be dated: the longest
    # backup run (Borg dates an archive when its run starts) plus clock skew.
    "backdate_slack_hours": 12,
    # Runs of a cycle beyond its schedule allowed between two listings (started by hand, or
    # retried after a failure).
    "burst_allowance": 3,
}


def is_checkpoint(name: str) -> bool:
    """Borg's own partial archives of a run still going (or one that crashed); Borg removes
    them itself when the run ends, so their coming and going is not judged."""
    return bool(CHECKPOINT.search(name))


def parse_time(value: str, tz: ZoneInfo) -> dt.datetime:
    when = dt.datetime.fromisoformat(value)
    # Borg 1.2 prints archive times in the listing process's local time without an offset.
    return (when if when.tzinfo else when.astimezone()).astimezone(tz)


@dataclass(frozen=True)
class Sighting:
    """One archive as ``borg list --json`` shows it now."""

    id: str
    name: str
    start: dt.datetime
    name_time: dt.datetime | None
    parsed: dict[str, str] | None

    @classmethod
    def from_listing(cls, item: dict[str, Any], tz: ZoneInfo) -> Sighting:
        name, archive_id, start = item.get("name"), item.get("id"), item.get("start")
        if not (isinstance(name, str) and isinstance(archive_id, str) and isinstance(start, str)):
            raise ValueError(f"borg list: an archive without name, id or start: {item!r:.200}")
        name_time = agent.archive_name_time(name, tz)
        return cls(
            archive_id, name, parse_time(start, tz), name_time, agent.parse_archive_name(name)
        )

    @property
    def claimed_earliest(self) -> dt.datetime:
        return min(t for t in (self.start, self.name_time) if t is not None)

    @property
    def claimed_latest(self) -> dt.datetime:
        return max(t for t in (self.start, self.name_time) if t is not None)


@dataclass
class Entry:
    """One archive in the ledger."""

    id: str
    name: str
    start: str
    first_seen: str
    state: str = "present"  # or "pruned" (by the admin)
    pruned_at: str | None = None
    accepted: str | None = None  # why an admin accepted it despite a finding

    def as_dict(self) -> dict[str, Any]:
        data = {
            "name": self.name,
            "start": self.start,
            "first_seen": self.first_seen,
            "state": self.state,
        }
        if self.pruned_at:
            data["pruned_at"] = self.pruned_at
        if self.accepted:
            data["accepted"] = self.accepted
        return data


def effective_time(entry: Entry, tz: ZoneInfo) -> dt.datetime:
    """When the admin counts the archive as made: the earliest of its Borg start, the time in
    its name and the admin's first sighting (a client can only make it look older)."""
    times = [parse_time(entry.start, tz), parse_time(entry.first_seen, tz)]
    name_time = agent.archive_name_time(entry.name, tz)
    return min(times) if name_time is None else min(*times, name_time)


@dataclass
class Finding:
    # disappeared, replaced, future-dated, backdated, foreign, burst, key-changed; from the
    # repository's own history: deleted, overwritten
    kind: str
    archive: str
    detail: str
    id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data = {"kind": self.kind, "archive": self.archive, "detail": self.detail}
        if self.id:
            data["id"] = self.id
        return data


@dataclass
class Assessment:
    findings: list[Finding] = field(default_factory=list)
    new: list[Sighting] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)  # pruned ids back after a rollback
    unmanaged: list[str] = field(default_factory=list)  # of a policy the admin does not prune


class Ledger:
    """``<state_dir>/clients/<client>.json``: what the admin saw, when, and what it pruned.

    Version 1 files (names only) are read: their names must still be present, and the next
    passed check records every archive by id. A damaged file is reported (ConfigError naming
    it), never silently reset: it is the tamper baseline."""

    def __init__(self, path: Path) -> None:
        self.path = path
        data = agent.read_json_object(path) if path.exists() else {}
        self.verified_at: str | None = data.get("verified_at")
        self.listed_at: str | None = data.get("listed_at")
        self.compact_due: bool = bool(data.get("compact_due", False))
        # Where the admin last read the repository's segment history (gate.py, segments.py).
        self.segment_mark: Any = data.get("segment_mark")
        # SHA-256 of the repository's encrypted key as the admin last saw it (segments.py).
        self.key_sha256: Any = data.get("key_sha256")
        self.entries: dict[str, Entry] = {}
        self.legacy_names: set[str] = set()
        self.legacy_pruned: set[str] = set()
        archives = data.get("archives", {})
        if isinstance(archives, list):  # version 1
            self.legacy_names = {str(a) for a in archives}
            self.legacy_pruned = {str(a) for a in data.get("pruned", [])}
            return
        if not isinstance(archives, dict):
            raise agent.ConfigError(f"{path}: archives: expected an object of archive id -> entry")
        for archive_id, item in archives.items():
            try:
                self.entries[archive_id] = Entry(
                    id=archive_id,
                    name=str(item["name"]),
                    start=str(item["start"]),
                    first_seen=str(item["first_seen"]),
                    state=str(item.get("state", "present")),
                    pruned_at=item.get("pruned_at"),
                    accepted=item.get("accepted"),
                )
            except (TypeError, KeyError) as exc:
                raise agent.ConfigError(
                    f"{path}: archives.{archive_id}: missing or wrong field {exc}"
                ) from None

    @property
    def present(self) -> dict[str, Entry]:
        return {i: e for i, e in self.entries.items() if e.state == "present"}

    def expected_names(self) -> set[str]:
        """Names that must be in the repository (version 1 files and the entries)."""
        return (self.legacy_names - self.legacy_pruned) | {e.name for e in self.present.values()}

    def record(
        self, sightings: list[Sighting], now: dt.datetime, accepted: str | None = None
    ) -> None:
        for s in sightings:
            self.entries[s.id] = Entry(
                id=s.id,
                name=s.name,
                start=s.start.isoformat(),
                first_seen=now.isoformat(),
                accepted=accepted,
            )
        self.legacy_names = set()
        self.legacy_pruned = set()

    def mark_pruned(self, ids: list[str], now: dt.datetime) -> None:
        for archive_id in ids:
            self.entries[archive_id].state = "pruned"
            self.entries[archive_id].pruned_at = now.isoformat()

    def save(self) -> None:
        agent.write_json_atomic(
            self.path,
            {
                "schema_version": SCHEMA_VERSION,
                "verified_at": self.verified_at,
                "listed_at": self.listed_at,
                "compact_due": self.compact_due,
                "segment_mark": self.segment_mark,
                "key_sha256": self.key_sha256,
                "archives": {i: e.as_dict() for i, e in sorted(self.entries.items())},
            },
        )


def settings_of(config: dict[str, Any]) -> dict[str, float]:
    """The thresholds of the judgement, from the maintenance configuration's ``tamper`` object."""
    given = config.get("tamper") or {}
    if not isinstance(given, dict):
        raise agent.ConfigError("tamper: must be an object")
    settings: dict[str, float] = {}
    for key, default in DEFAULTS.items():
        value = given.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise agent.ConfigError(f"tamper.{key}: expected a number >= 0, got {value!r}")
        settings[key] = float(value)
    return settings


def listing(items: list[dict[str, Any]], tz: ZoneInfo) -> dict[str, Sighting]:
    """The complete archives of a ``borg list --json`` by id (checkpoints left out)."""
    found: dict[str, Sighting] = {}
    for item in items:
        sighting = Sighting.from_listing(item, tz)
        if not is_checkpoint(sighting.name):
            found[sighting.id] = sighting
    return found


def assess(
    ledger: Ledger,
    current: dict[str, Sighting],
    *,
    client: str,
    policies: dict[str, Any],
    now: dt.datetime,
    settings: dict[str, float],
) -> Assessment:
    """Judge the repository's archives against the ledger (nothing is written)."""
    result = Assessment(findings=gone(ledger, current))
    previous = dt.datetime.fromisoformat(ledger.listed_at) if ledger.listed_at else None
    by_name = {e.name: e for e in ledger.entries.values()}
    counts: dict[tuple[str, str], list[str]] = {}
    for sighting in sorted(current.values(), key=lambda s: s.name):
        known = ledger.entries.get(sighting.id)
        if known is not None:
            if known.state == "pruned":  # back after a rollback to before the admin's prune
                result.restored.append(sighting.id)
            continue
        result.new.append(sighting)
        old = by_name.get(sighting.name)
        if old is not None and old.state != "present":
            result.findings.append(
                Finding(
                    "replaced",
                    sighting.name,
                    f"an archive of this name left the ledger on {old.pruned_at or 'acceptance'}"
                    f" ({old.state}); a new one (id {sighting.id[:16]}) bears it now",
                    sighting.id,
                )
            )
        parsed = sighting.parsed
        if parsed is None or parsed["host"] != client:
            result.findings.append(
                Finding(
                    "foreign",
                    sighting.name,
                    f"not a name the backup wrapper makes for {client} "
                    "(<host>-<policy>-<cycle>-<time>)",
                    sighting.id,
                )
            )
        elif parsed["policy"] not in policies:
            result.unmanaged.append(sighting.name)
        else:
            counts.setdefault((parsed["policy"], parsed["cycle"]), []).append(sighting.name)
        result.findings += dating(sighting, now, previous, settings)
    if previous is not None:
        result.findings += bursts(counts, now, previous, settings)
    return result


def gone(ledger: Ledger, current: dict[str, Sighting]) -> list[Finding]:
    """Archives the ledger expects that the repository no longer has."""
    findings = []
    names_now = {s.name: s for s in current.values()}
    for archive_id, entry in sorted(ledger.present.items(), key=lambda x: x[1].name):
        if archive_id in current:
            continue
        replacement = names_now.get(entry.name)
        if replacement is not None:
            findings.append(
                Finding(
                    "replaced",
                    entry.name,
                    f"first seen {entry.first_seen} as id {entry.id[:16]}; the repository now "
                    f"has another archive of that name (id {replacement.id[:16]}): the original "
                    "was deleted and the name made again",
                    entry.id,
                )
            )
        else:
            findings.append(
                Finding(
                    "disappeared",
                    entry.name,
                    f"first seen {entry.first_seen}; gone from the repository and not pruned "
                    "by the admin",
                    entry.id,
                )
            )
    for name in sorted(ledger.legacy_names - ledger.legacy_pruned - set(names_now)):
        findings.append(
            Finding("disappeared", name, "in the admin's last verified listing; gone now")
        )
    return findings


def dating(
    sighting: Sighting,
    now: dt.datetime,
    previous: dt.datetime | None,
    settings: dict[str, float],
) -> list[Finding]:
    """A new archive dated in the future, or so far back that the previous listing should have
    shown it."""
    if sighting.claimed_latest > now + dt.timedelta(minutes=settings["future_skew_minutes"]):
        return [
            Finding(
                "future-dated",
                sighting.name,
                f"dated {sighting.claimed_latest.isoformat()}, after the admin's clock "
                f"({now.isoformat()})",
                sighting.id,
            )
        ]
    slack = dt.timedelta(hours=settings["backdate_slack_hours"])
    if previous is not None and sighting.claimed_earliest < previous - slack:
        return [
            Finding(
                "backdated",
                sighting.name,
                f"dated {sighting.claimed_earliest.isoformat()}, but not in the admin's "
                f"listing of {previous.isoformat()}: made later and dated back",
                sighting.id,
            )
        ]
    return []


def bursts(
    counts: dict[tuple[str, str], list[str]],
    now: dt.datetime,
    previous: dt.datetime,
    settings: dict[str, float],
) -> list[Finding]:
    """More new archives of a cycle than its schedule (plus the allowance) can have made."""
    findings = []
    hours = max((now - previous).total_seconds() / 3600, 0.0)
    for (policy, cycle), names in sorted(counts.items()):
        allowed = math.floor(hours / MIN_INTERVAL_HOURS[cycle]) + 1
        allowed += int(settings["burst_allowance"])
        if len(names) > allowed:
            findings.append(
                Finding(
                    "burst",
                    names[0],
                    f"{len(names)} new {policy} {cycle} archives in {hours:.1f} h since the "
                    f"admin's previous listing; its schedule allows {allowed}",
                )
            )
    return findings


def period_key(cycle: str, when: dt.datetime) -> tuple[int, ...]:
    if cycle == "daily":
        return (when.year, when.month, when.day)
    if cycle == "weekly":
        iso = when.isocalendar()
        return (iso.year, iso.week)
    return (when.year, when.month)


def prune_plan(
    ledger: Ledger,
    client: str,
    policies: dict[str, Any],
    tz: ZoneInfo,
    default_keep: dict[str, int],
) -> dict[str, list[Entry]]:
    """The archives to delete per ``<policy> <cycle>``, chosen as ``borg prune --keep-<cycle>``
    chooses (the newest archive of each of the last N periods; the oldest too while fewer than N
    periods exist) but on :func:`effective_time`, from the ledger's present archives."""
    groups: dict[tuple[str, str], list[Entry]] = {}
    for entry in ledger.present.values():
        parsed = agent.parse_archive_name(entry.name)
        if parsed is None or parsed["host"] != client or parsed["policy"] not in policies:
            continue
        groups.setdefault((parsed["policy"], parsed["cycle"]), []).append(entry)
    plan: dict[str, list[Entry]] = {}
    for (policy, cycle), entries in sorted(groups.items()):
        settings = policies[policy]
        if cycle not in settings.get("cycles", list(default_keep)):
            continue  # a cycle no longer scheduled: kept until an admin decides
        retention = settings.get("retention") or {}
        keep_count = int(retention.get(cycle, default_keep[cycle]))
        if keep_count < 1:
            raise agent.ConfigError(
                f"clients.{client}.policies.{policy}.retention.{cycle}: keep at least 1 "
                f"(got {keep_count})"
            )
        when = {e.id: effective_time(e, tz) for e in entries}
        ordered = sorted(entries, key=lambda e: (when[e.id], e.name), reverse=True)
        keep: list[Entry] = []
        last: tuple[int, ...] | None = None
        for entry in ordered:
            if len(keep) >= keep_count:
                break
            key = period_key(cycle, when[entry.id])
            if key != last:
                last = key
                keep.append(entry)
        if ordered and 0 < len(keep) < keep_count and ordered[-1] not in keep:
            keep.append(ordered[-1])  # as Borg 1.2: the oldest while the target is not reached
        doomed = [e for e in ordered if e not in keep]
        if doomed:
            plan[f"{policy} {cycle}"] = sorted(doomed, key=lambda e: e.name)
    return plan
