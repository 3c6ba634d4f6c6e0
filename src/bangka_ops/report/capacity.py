"""Capacity forecast per repository: how fast each client's Borg repository grows and how many
days are left until its storage quota is full (SI CEKAT, issue 21).

Standard library only: ``cekat report`` uses it for the checklist, the admin host's freshness
watchdog (``freshness.py``, deployed beside this file by the borg_admin role) for its daily
notice, and the handbook's inventory pages through :func:`forecast`.

**Which repository.** Every agent writes to its own repository (``<repos_dir>/<host>`` on the
repository server, or its own local path), shared by all of its policies. A repository is
therefore named by the host whose collected directory holds the records (the inventory's
name), never by the location a record gives; the record's ``borg.repository.id`` is used only
as an opaque label (points of an earlier repository with another id are left out).

**The series.** Each backup run record keeps ``borg create --json``'s ``cache.stats``;
``unique_csize`` is the repository's deduplicated, compressed size after that run. The fit
takes, within the window (30 days up to the report's moment), the newest size of each day (UTC),
so many runs a day weigh no more than one.

**Prunes and compaction.** The admin prunes and compacts daily, so each day's size already
includes what the retention frees: ordinary declines are part of the net growth and stay in
the fit. A fall of more than ``LEVEL_DROP`` (10 %) from one day to the next that the following
day confirms is a change of level (archives deleted by hand, a retention cut, a rollback): only
the days from that point on are fitted. The slope is Theil-Sen's (the median of the slopes
between every two days), which a single odd day (a size an agent got wrong) cannot pull far.

**Too little history.** At least ``MIN_POINTS`` (4) days spanning ``MIN_SPAN_DAYS`` (7) days;
otherwise no growth and no days-left are given. A slope of zero or less is "not growing": no
date of a full quota.

**What the quota counts.** Borg's ``--storage-quota`` counts the repository's segment files,
including space a prune freed and the next compaction has not yet given back; the deduplicated
size is at most that. The forecast is from the deduplicated size, so it can be a day of prunes
optimistic; the percent-used threshold is there to catch a repository close to its quota.

**The disk.** The admin's maintenance measures, on the repository server through its gate (the
same look that checks the repository's history), the repository's segment files and its file
system's size and space left (``statvfs``; ``segments.storage``). Those are the admin's own
measurements, kept per client in its maintenance reports (``clients[].storage``). Repositories on
one file system (same server, same ``filesystem_id``) fill it together: the days until the disk
is full are its space left at the newest measurement over the sum of their growths
(:func:`with_disk`); a disk used past the percent threshold, or full within the days threshold,
flags every repository on it.

Sizes come from the agents' records: data, not proof. A value that is not a whole number of
bytes between 0 and 2**63-1 is refused with the file and the field named, never used.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

WINDOW_DAYS = 30
MIN_POINTS = 4
MIN_SPAN_DAYS = 7.0
LEVEL_DROP = 0.10
WARN_DAYS = 30.0
WARN_PERCENT = 90.0
MAX_BYTES = 2**63 - 1
SIZE_FIELD = "borg.cache.stats.unique_csize"
# Borg's --storage-quota sizes (parse_file_size): decimal units.
UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}
QUOTA = re.compile(r"([0-9]+)([KMGTP]?)\Z")
REPOSITORY_ID = re.compile(r"[0-9a-f]{64}\Z")
INVENTORY_FILE = ".inventory.json"
# The admin's reports that carry its disk measurements (clients[].storage).
STORAGE_REPORTS = ("-maintenance_run.json", "-tamper_check.json")
DAY = dt.timedelta(days=1)
# Days until full are capped here (a hundred years; a date that far off is left out): very
# slow growth against a large quota would otherwise run past the last date there is.
MAX_DAYS = 36525.0


class CapacityError(ValueError):
    """A setting of the forecast (a quota, a threshold) that cannot be used; names the field."""


@dataclass(frozen=True, slots=True)
class Point:
    """The repository's deduplicated compressed size after one run."""

    when: dt.datetime
    size: int
    label: str | None = None  # the record's repository id: an opaque label, never a location


def size_of(record: dict[str, Any]) -> tuple[int | None, str | None, str | None]:
    """``(bytes, label, problem)`` of a run record's ``borg.cache.stats.unique_csize``. No
    ``borg`` section (the run failed before ``borg create`` answered): nothing, no problem. A
    value that is there but not a whole number of bytes in 0..2**63-1: the problem, naming the
    field."""
    borg = record.get("borg")
    if borg is None:
        return None, None, None
    cache = borg.get("cache") if type(borg) is dict else None
    stats = cache.get("stats") if type(cache) is dict else None
    if type(stats) is not dict or "unique_csize" not in stats:
        return None, None, f"{SIZE_FIELD}: missing (borg, cache and stats are objects)"
    size = stats["unique_csize"]
    if type(size) is not int or not 0 <= size <= MAX_BYTES:
        shown = repr(size) if type(size) in (int, float) else type(size).__name__
        return None, None, f"{SIZE_FIELD}: expected a whole number of bytes, not {shown[:40]}"
    repository = borg.get("repository")
    label = repository.get("id") if type(repository) is dict else None
    return size, label if type(label) is str and REPOSITORY_ID.match(label) else None, None


def quota_bytes(value: Any, where: str) -> int | None:
    """A ``storage_quota`` as the borg_server role writes it (``200G``; empty: none) in bytes,
    Borg's decimal units."""
    if value in (None, ""):
        return None
    found = QUOTA.match(value) if isinstance(value, str) and len(value) <= 24 else None
    number = int(found.group(1)) * UNITS[found.group(2)] if found else 0
    if not 0 < number <= MAX_BYTES:
        raise CapacityError(
            f"{where}: expected a size like 200G (K, M, G, T, P; at most 2^63-1 bytes), "
            f"not {str(value)[:40]!r}"
        )
    return number


@dataclass(frozen=True)
class Thresholds:
    """When a repository is flagged (and the watchdog notifies): the quota full within
    ``days`` days, or ``percent`` of it used already."""

    days: float = WARN_DAYS
    percent: float = WARN_PERCENT

    @classmethod
    def of(cls, settings: Any, where: str) -> Thresholds:
        if settings is None:
            return cls()
        if not isinstance(settings, dict):
            raise CapacityError(f"{where}: expected an object with warn_days and warn_percent")
        unknown = sorted(str(k) for k in set(settings) - {"warn_days", "warn_percent"})
        if unknown:
            raise CapacityError(f"{where}: unknown field(s) {', '.join(unknown)}")
        days, percent = settings.get("warn_days", WARN_DAYS), settings.get("warn_percent", 90)
        if isinstance(days, bool) or not isinstance(days, int | float) or not 0 <= days <= 3650:
            raise CapacityError(f"{where}.warn_days: expected a number of days 0..3650")
        if isinstance(percent, bool) or not isinstance(percent, int | float):
            raise CapacityError(f"{where}.warn_percent: expected a percentage 1..100")
        if not 1 <= percent <= 100:
            raise CapacityError(f"{where}.warn_percent: expected a percentage 1..100")
        return cls(float(days), float(percent))


@dataclass(frozen=True)
class Storage:
    """The admin's measurement of a repository on the server's disk (``segments.storage``)."""

    measured_at: dt.datetime
    segments_bytes: int
    filesystem_bytes: int
    available_bytes: int
    filesystem_id: str

    @property
    def used_percent(self) -> float:
        if not self.filesystem_bytes:
            return 100.0
        return round(100 * (1 - self.available_bytes / self.filesystem_bytes), 2)

    @classmethod
    def of(cls, value: Any, where: str) -> Storage:
        """A report's ``storage`` object, checked field by field (CapacityError names it)."""
        if not isinstance(value, dict):
            raise CapacityError(f"{where}: expected an object")
        sizes = {}
        for name in ("segments_bytes", "filesystem_bytes", "available_bytes"):
            number = value.get(name)
            if type(number) is not int or not 0 <= number <= MAX_BYTES:
                raise CapacityError(f"{where}.{name}: expected a whole number of bytes")
            sizes[name] = number
        if sizes["available_bytes"] > sizes["filesystem_bytes"]:
            raise CapacityError(f"{where}.available_bytes: more than filesystem_bytes")
        fsid = value.get("filesystem_id")
        if not isinstance(fsid, str) or not re.fullmatch(r"[0-9a-f]{1,32}", fsid):
            raise CapacityError(f"{where}.filesystem_id: expected a hexadecimal id")
        try:
            measured = dt.datetime.fromisoformat(value.get("measured_at"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise CapacityError(f"{where}.measured_at: expected a time with its offset") from None
        if measured.tzinfo is None:
            raise CapacityError(f"{where}.measured_at: expected a time with its offset")
        return cls(measured, filesystem_id=fsid, **sizes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "measured_at": self.measured_at.isoformat(),
            "segments_bytes": self.segments_bytes,
            "filesystem_bytes": self.filesystem_bytes,
            "available_bytes": self.available_bytes,
            "filesystem_id": self.filesystem_id,
            "used_percent": self.used_percent,
        }


@dataclass(frozen=True)
class RepositoryForecast:
    """One repository's size, growth and days until its quota is full."""

    repository: str  # the client (inventory host) whose repository it is
    server: str | None  # the repository server (inventory name); None: unknown or local
    measured_at: dt.datetime | None  # the newest size used
    size_bytes: int | None
    points: int  # days in the fit
    span_days: float
    growth_bytes_per_day: float | None
    quota_bytes: int | None
    quota_full_at: dt.datetime | None
    days_until_quota_full: float | None
    status: str  # ok | warning | full | not-growing | too-little-history | no-data
    reasons: tuple[str, ...] = ()
    problems: tuple[str, ...] = field(default=(), compare=False)
    # The disk it is on (with_disk): the newest measurement and the shared forecast.
    disk: Storage | None = None
    disk_growth_bytes_per_day: float | None = None
    days_until_disk_full: float | None = None

    @property
    def growth_30_days_bytes(self) -> float | None:
        return None if self.growth_bytes_per_day is None else self.growth_bytes_per_day * 30

    @property
    def quota_used_percent(self) -> float | None:
        if self.quota_bytes is None or self.size_bytes is None:
            return None
        return round(100 * self.size_bytes / self.quota_bytes, 2)

    @property
    def warning(self) -> bool:
        return self.status in ("warning", "full")

    def as_dict(self) -> dict[str, Any]:
        def rounded(value: float | None, digits: int = 1) -> float | None:
            return None if value is None else round(value, digits)

        return {
            "repository": self.repository,
            "server": self.server,
            "measured_at": self.measured_at.isoformat() if self.measured_at else None,
            "size_bytes": self.size_bytes,
            "points": self.points,
            "span_days": round(self.span_days, 2),
            "growth_bytes_per_day": rounded(self.growth_bytes_per_day),
            "growth_30_days_bytes": rounded(self.growth_30_days_bytes),
            "quota_bytes": self.quota_bytes,
            "quota_used_percent": self.quota_used_percent,
            "quota_full_at": self.quota_full_at.isoformat() if self.quota_full_at else None,
            "days_until_quota_full": rounded(self.days_until_quota_full),
            "status": self.status,
            "warning": self.warning,
            "reasons": list(self.reasons),
            "disk": self.disk.as_dict() if self.disk else None,
            "disk_growth_bytes_per_day": rounded(self.disk_growth_bytes_per_day),
            "days_until_disk_full": rounded(self.days_until_disk_full),
        }


def daily(points: Iterable[Point]) -> list[Point]:
    """The newest point of each UTC day, in time order."""
    newest: dict[dt.date, Point] = {}
    for point in points:
        day = point.when.astimezone(dt.UTC).date()
        kept = newest.get(day)
        if kept is None or point.when >= kept.when:
            newest[day] = point
    return [newest[day] for day in sorted(newest)]


def since_level_change(points: list[Point]) -> list[Point]:
    """The points from the last change of level on: a fall of more than LEVEL_DROP from the day
    before and below the median of the (up to) three days before, which the next day confirms
    (a single odd day, high or low, is no change of level; the newest day needs no
    confirmation)."""
    start = 0
    sizes = [p.size for p in points]
    for index in range(1, len(sizes)):
        before = sorted(sizes[max(0, index - 3) : index])
        floor = (1 - LEVEL_DROP) * before[len(before) // 2]
        fell = sizes[index] < (1 - LEVEL_DROP) * sizes[index - 1] and sizes[index] < floor
        if fell and (index + 1 == len(sizes) or sizes[index + 1] < floor):
            start = index
    return points[start:]


def theil_sen(points: list[Point]) -> float:
    """The median of the slopes (bytes per day) between every two points."""
    slopes = sorted(
        (b.size - a.size) / ((b.when - a.when) / DAY)
        for i, a in enumerate(points)
        for b in points[i + 1 :]
        if b.when > a.when
    )
    middle = len(slopes) // 2
    return slopes[middle] if len(slopes) % 2 else (slopes[middle - 1] + slopes[middle]) / 2


def ahead(
    measured_at: dt.datetime, space: float, growth: float, now: dt.datetime
) -> tuple[dt.datetime | None, float]:
    """When ``space`` bytes left at ``measured_at`` are used up at ``growth`` bytes a day
    (> 0), and the days from ``now`` until then. Beyond MAX_DAYS there is no date and the
    days are MAX_DAYS."""
    try:
        days = max(0.0, float(space) / float(growth) - (now - measured_at) / DAY)
    except (OverflowError, ZeroDivisionError):
        return None, MAX_DAYS
    if not math.isfinite(days) or round(days, 1) >= MAX_DAYS:  # as_dict shows one decimal
        return None, MAX_DAYS
    return now + days * DAY, days


def fit(
    repository: str,
    points: Iterable[Point],
    now: dt.datetime,
    *,
    quota: int | None = None,
    server: str | None = None,
    thresholds: Thresholds | None = None,
    window_days: int = WINDOW_DAYS,
    problems: tuple[str, ...] = (),
) -> RepositoryForecast:
    """The forecast of one repository from its points (any order; those outside the window
    ``now - window_days .. now`` are not used)."""
    limits = thresholds or Thresholds()
    start = now - dt.timedelta(days=window_days)
    days = daily(p for p in points if start <= p.when <= now)
    if days and days[-1].label is not None:  # another repository id: an earlier repository
        days = [p for p in days if p.label in (None, days[-1].label)]
    days = since_level_change(days)
    base: dict[str, Any] = {
        "repository": repository,
        "server": server,
        "quota_bytes": quota,
        "problems": problems,
        "measured_at": days[-1].when if days else None,
        "size_bytes": days[-1].size if days else None,
        "points": len(days),
        "span_days": (days[-1].when - days[0].when) / DAY if days else 0.0,
    }
    if not days:
        reason = f"no repository size in the last {window_days} days of run records"
        return RepositoryForecast(
            **base,
            growth_bytes_per_day=None,
            quota_full_at=None,
            days_until_quota_full=None,
            status="no-data",
            reasons=(reason,),
        )
    size = days[-1].size
    slope = theil_sen(days) if len(days) >= MIN_POINTS else None
    if base["span_days"] < MIN_SPAN_DAYS:
        slope = None
    reasons: list[str] = []
    full_at: dt.datetime | None = None
    left: float | None = None
    if quota is not None and size >= quota:
        status, left, full_at = "full", 0.0, days[-1].when
        reasons.append(f"the quota is used up ({100 * size / quota:.1f} %)")
    elif slope is None:
        status = "too-little-history"
        reasons.append(
            f"{len(days)} day(s) of sizes over {base['span_days']:.1f} days; a forecast needs "
            f"{MIN_POINTS} days spanning {MIN_SPAN_DAYS:g}"
        )
    elif slope <= 0:
        status = "not-growing"
    else:
        status = "ok"
        if quota is not None:
            full_at, left = ahead(days[-1].when, quota - size, slope, now)
    if status in ("ok", "not-growing", "too-little-history") and quota is not None:
        used = 100 * size / quota
        if left is not None and left <= limits.days:
            status = "warning"
            reasons.append(f"quota full in {left:.0f} day(s) (threshold {limits.days:g})")
        if used >= limits.percent:
            status = "warning"
            reasons.append(f"{used:.1f} % of the quota used (threshold {limits.percent:g} %)")
    return RepositoryForecast(
        **base,
        growth_bytes_per_day=slope,
        quota_full_at=full_at,
        days_until_quota_full=left,
        status=status,
        reasons=tuple(reasons),
    )


# ---- Reading a collection (the watchdog and the handbook; the checklist has its own reader) --


def read_json(path: Path) -> Any:
    with open(path, "rb") as handle:
        return json.loads(handle.read())


def record_points(host_dir: Path, host: str, since: dt.datetime) -> tuple[list[Point], list[str]]:
    """The sizes in one host's collected directory: loose run records under ``records/`` and
    the ledger's month files under ``ledger/`` (from ``since``'s month on). A record naming
    another host is not this repository's; links are never followed. Problems name the file
    (and line) and the field."""
    points: list[Point] = []
    problems: list[str] = []

    def take(record: Any, where: str) -> None:
        if type(record) is not dict or record.get("kind") != "backup_run":
            return
        if record.get("host") != host or record.get("status") == "mismatch":
            return
        size, label, problem = size_of(record)
        if problem:
            problems.append(f"{where}: {problem}")
            return
        if size is None:
            return
        try:
            when = dt.datetime.fromisoformat(str(record.get("start")))
        except ValueError:
            problems.append(f"{where}: start: expected an ISO 8601 time")
            return
        if when.tzinfo is None:
            problems.append(f"{where}: start: time without a UTC offset")
        elif when >= since:
            points.append(Point(when, size, label))

    # Month files are named by the start as written (local time): a day's margin.
    month = (since - DAY).strftime("%Y-%m")
    for path in files(host_dir / "ledger", ".jsonl"):
        if re.fullmatch(r"\d{4}-\d{2}", path.stem) and path.stem < month:
            continue
        try:
            lines = path.read_bytes().split(b"\n")
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc.strerror or exc}")
            continue
        for number, raw in enumerate(lines, start=1):
            if raw.strip():
                try:
                    line = json.loads(raw)
                except (ValueError, RecursionError):  # RecursionError: nested too deep
                    problems.append(f"{path}:{number}: invalid or truncated JSON line")
                    continue
                take(line.get("record") if type(line) is dict else None, f"{path}:{number}")
    for path in files(host_dir / "records", ".json"):
        try:
            take(read_json(path), str(path))
        except (OSError, ValueError, RecursionError):
            continue  # the checklist names files it cannot read; no size here either way
    return points, problems


def files(folder: Path, suffix: str) -> Iterator[Path]:
    """Regular files ending in ``suffix`` under ``folder``, sorted, no links followed."""
    for top, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(names):
            path = Path(top) / name
            if name.endswith(suffix) and not name.startswith(".") and not path.is_symlink():
                yield path


@dataclass(frozen=True)
class Limit:
    """What the inventory says of a repository: its server and storage quota."""

    server: str | None = None
    quota: int | None = None


def read_limits(root: Path) -> tuple[dict[str, Limit], Thresholds, list[str]]:
    """Each agent's repository server and quota, and the thresholds, from the
    ``.inventory.json`` that ``playbooks/collect_records.yml`` writes from the inventory (never
    from what a host sent). Without the file: no quotas, default thresholds. Problems name the
    field (``repositories.<host>.storage_quota: ...``); the file is ``root / INVENTORY_FILE``."""
    path = root / INVENTORY_FILE
    if not path.is_file():
        return {}, Thresholds(), []
    try:
        loaded = read_json(path)
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        return {}, Thresholds(), [f"unreadable: {exc}"]
    if not isinstance(loaded, dict):
        return {}, Thresholds(), ["not a JSON object"]
    problems: list[str] = []
    try:
        thresholds = Thresholds.of(loaded.get("capacity"), "capacity")
    except CapacityError as exc:
        thresholds = Thresholds()
        problems.append(str(exc))
    repositories = loaded.get("repositories") or {}
    if not isinstance(repositories, dict):
        return {}, thresholds, [*problems, "repositories: expected an object"]
    limits: dict[str, Limit] = {}
    for host, entry in sorted(repositories.items()):
        where = f"repositories.{host}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected an object with server and storage_quota")
            continue
        server = entry.get("server")
        try:
            quota = quota_bytes(entry.get("storage_quota"), f"{where}.storage_quota")
        except CapacityError as exc:
            problems.append(str(exc))
            quota = None
        limits[str(host)] = Limit(server if isinstance(server, str) and server else None, quota)
    return limits, thresholds, problems


def forecast(
    root: Path,
    now: dt.datetime | None = None,
    *,
    hosts: Iterable[str] | None = None,
    limits: dict[str, Limit] | None = None,
    thresholds: Thresholds | None = None,
    window_days: int = WINDOW_DAYS,
) -> list[RepositoryForecast]:
    """The forecast of every repository in a collection (``collect_records.yml``'s directory:
    one sub-directory per host), by repository name. ``hosts``: only these (default: every
    host directory); ``limits`` and ``thresholds``: default from the collection's
    ``.inventory.json``. For the handbook's inventory pages and the watchdog."""
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise CapacityError("now: a time with a UTC offset")
    inventory, known, found = read_limits(root)
    problems = [f"{root / INVENTORY_FILE}: {message}" for message in found]
    limits = inventory if limits is None else limits
    thresholds = thresholds or known
    if hosts is None:
        hosts = sorted(
            e.name
            for e in os.scandir(root)
            if e.is_dir(follow_symlinks=False) and not e.name.startswith((".", "_"))
        )
    since = now - dt.timedelta(days=window_days)
    results = []
    for host in sorted(hosts):
        points, found = record_points(root / host, host, since)
        found += [p for p in problems if f" repositories.{host}." in p or "repositories." not in p]
        limit = limits.get(host, Limit())
        results.append(
            fit(
                host,
                points,
                now,
                quota=limit.quota,
                server=limit.server,
                thresholds=thresholds,
                window_days=window_days,
                problems=tuple(found),
            )
        )
    return results


def with_disk(
    forecasts: list[RepositoryForecast],
    storage: dict[str, Storage],
    now: dt.datetime,
    thresholds: Thresholds | None = None,
) -> list[RepositoryForecast]:
    """``forecasts`` with the disk each repository is on (``storage``: the admin's newest
    measurement per client). Repositories on one file system of one server fill it together:
    its days until full are the space left at its newest measurement over the sum of their
    growths (those not growing add nothing), counted from that measurement."""
    limits = thresholds or Thresholds()
    groups: dict[tuple[str | None, str], list[RepositoryForecast]] = {}
    for item in forecasts:
        measured = storage.get(item.repository)
        if measured is not None:
            groups.setdefault((item.server, measured.filesystem_id), []).append(item)
    result: dict[str, RepositoryForecast] = {}
    for members in groups.values():
        newest = max((storage[m.repository] for m in members), key=lambda d: d.measured_at)
        growth = sum(max(0.0, m.growth_bytes_per_day or 0.0) for m in members)
        left: float | None = None
        if growth > 0:
            left = ahead(newest.measured_at, newest.available_bytes, growth, now)[1]
        elif newest.available_bytes == 0:
            left = 0.0
        for member in members:
            reasons = list(member.reasons)
            status = member.status
            if left is not None and left <= limits.days:
                reasons.append(f"disk full in {left:.0f} day(s) (threshold {limits.days:g})")
            if newest.used_percent >= limits.percent:
                reasons.append(
                    f"{newest.used_percent:.1f} % of the disk used (threshold {limits.percent:g} %)"
                )
            if len(reasons) > len(member.reasons) and status != "full":
                status = "warning"
            result[member.repository] = replace(
                member,
                disk=newest,
                disk_growth_bytes_per_day=growth,
                days_until_disk_full=left,
                status=status,
                reasons=tuple(reasons),
            )
    return [result.get(item.repository, item) for item in forecasts]


def newest_storage(runs_dir: Path, now: dt.datetime) -> tuple[dict[str, Storage], list[str]]:
    """Each client's newest disk measurement in the admin's maintenance reports under
    ``runs_dir`` (its maintenance and tamper-check reports, up to ``now``); problems name the
    file and the field."""
    found: dict[str, Storage] = {}
    problems: list[str] = []
    if not runs_dir.is_dir():
        return found, problems
    for path in sorted(runs_dir.glob("*.json")):
        if not path.name.endswith(STORAGE_REPORTS) or path.is_symlink() or not path.is_file():
            continue
        try:
            report = read_json(path)
        except (OSError, ValueError, RecursionError) as exc:  # RecursionError: nested too deep
            problems.append(f"{path}: unreadable: {type(exc).__name__}: {exc}")
            continue
        clients = report.get("clients") if isinstance(report, dict) else None
        for index, client in enumerate(clients if isinstance(clients, list) else []):
            if not isinstance(client, dict) or client.get("storage") is None:
                continue
            name = client.get("client")
            try:
                measured = Storage.of(client["storage"], f"clients[{index}].storage")
            except CapacityError as exc:
                problems.append(f"{path}: {exc}")
                continue
            if not isinstance(name, str) or measured.measured_at > now:
                continue
            kept = found.get(name)
            if kept is None or measured.measured_at >= kept.measured_at:
                found[name] = measured
    return found, problems


def notice(forecasts: Iterable[RepositoryForecast]) -> str:
    """The lines of a notice about the repositories flagged (Indonesian, then English)."""

    def gib(value: float | None) -> str:
        return "-" if value is None else f"{value / 2**30:.1f} GiB"

    lines = []
    for item in forecasts:
        if not item.warning:
            continue
        days = item.days_until_quota_full
        lines.append(
            f"{item.repository}: {gib(item.size_bytes)} dari/of kuota {gib(item.quota_bytes)}"
            f" ({item.quota_used_percent} %), tumbuh/growth {gib(item.growth_bytes_per_day)}/hari"
            f", penuh dalam/full in {'-' if days is None else f'{math.floor(days)}'} hari/days"
            + (
                f"; disk {item.disk.used_percent} % terpakai/used, sisa/free "
                f"{gib(item.disk.available_bytes)}"
                if item.disk
                else ""
            )
            + f" - {'; '.join(item.reasons)}"
        )
    return "\n".join(lines)
