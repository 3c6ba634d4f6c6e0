"""The backup checklist of a period and its KPIs, from a tree of collected files.

One row per host x policy x scheduled cycle run in the period (the SOP's checklist form): a run
the schedule expected but no record shows is a **missed** row, not an absent one. Runs started on
demand are listed too but do not count towards the schedule's success rate.

Streaming: restore tests and schedules (small) are read first; then the run records are read one
directory (one host's policy) at a time, its rows are handed to ``on_row`` and only running
totals are kept, so memory stays flat however many records the tree holds.

This module holds the report model (Period, Tally, Report), the Builder's judging of each
policy's runs and :func:`build`; reading the collected tree is in
:mod:`bangka_ops.report.collected`, the per-database facts in
:mod:`bangka_ops.report.database_facts`.
"""

from __future__ import annotations

import bisect
import datetime as dt
import gc
import math
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bangka_ops.report import admin, arsip, capacity, ingest
from bangka_ops.report.collected import CollectedReader, is_host_dir
from bangka_ops.report.database_facts import (
    DatabaseKey,
    DumpSeen,
    database_breaches,
    database_entries,
)

# The public names (is_host_dir is collected's, kept importable from here).
__all__ = [
    "GROWTH_WINDOWS",
    "Builder",
    "Period",
    "Report",
    "Tally",
    "build",
    "growth",
    "is_host_dir",
    "nearest_rank",
    "percentile",
    "scheduled_days",
]

BACKUP_TYPE = ingest.BACKUP_TYPE
SUCCESS = {"success", "covered"}
GOOD_ARCHIVE = {"success", "warning"}
# Rows of a host the admin found tampered with that would otherwise count as good: their
# archives are in question until the admin rolls back or accepts, so they count as failures.
SUSPECT = {"success", "covered", "warning"}
RESTORE_TEST_VALID_DAYS = 7
# A start marker with no record yet is a run still going at collection time; one this old
# (the next daily run would have replaced it) is a run that never finished.
MARKER_STALE_HOURS = 24
# Size growth per host and policy: the newest good archive's original size against the newest
# good one at least this many days older (a few hours' slack: a run starts a little later or
# earlier each day).
GROWTH_WINDOWS = (("week", 7), ("30_days", 30))
GROWTH_SLACK = dt.timedelta(hours=6)


def growth(runs: list[ingest.Run], until: dt.datetime) -> dict[str, Any]:
    """Original size of the newest good archive up to ``until`` and its growth over a week and
    over 30 days (bytes and percent; None where the history is shorter). ``runs`` are in time
    order and may reach back before the report's period."""
    times: list[dt.datetime] = []
    sizes: list[int] = []
    for run in runs:
        size = run.columns["original_bytes"]
        if run.status in GOOD_ARCHIVE and size is not None and run.start <= until:
            times.append(run.start)
            sizes.append(size)
    result: dict[str, Any] = {"size_bytes": sizes[-1] if sizes else None}
    for name, days in GROWTH_WINDOWS:
        result[f"growth_{name}_bytes"] = result[f"growth_{name}_percent"] = None
        if not sizes:
            continue
        cutoff = times[-1] - dt.timedelta(days=days) + GROWTH_SLACK
        index = bisect.bisect_right(times, cutoff) - 1
        if index < 0:
            continue
        old = sizes[index]
        result[f"growth_{name}_bytes"] = sizes[-1] - old
        result[f"growth_{name}_percent"] = round(100 * (sizes[-1] - old) / old, 2) if old else None
    return result


@dataclass(frozen=True)
class Period:
    first: dt.date
    last: dt.date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"period: {self.last} is before {self.first}")

    @property
    def label(self) -> str:
        return f"{self.first.isoformat()}..{self.last.isoformat()}"

    def days(self) -> Iterable[dt.date]:
        day = self.first
        while day <= self.last:
            yield day
            day += dt.timedelta(days=1)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.first <= day <= self.last


@dataclass
class Tally:
    """Running totals for one host, one category or everything."""

    scheduled: int = 0
    success: int = 0
    warning: int = 0
    failed: int = 0
    missed: int = 0
    running: int = 0  # started, no record yet (collected while the run was going)
    on_demand: int = 0
    tampered: int = 0  # of the failed: runs of a host the admin found tampered with
    durations: array[float] = field(default_factory=lambda: array("d"))  # successful runs
    # runs that were not successful (warning, failed): their durations, kept apart so a
    # failure in 0.3 s does not pull the backup time down
    other_durations: array[float] = field(default_factory=lambda: array("d"))

    def add(self, row: dict[str, Any]) -> None:
        if row["trigger"] != "schedule":
            self.on_demand += 1
            return
        self.scheduled += 1
        status = row["status"]
        if status in SUCCESS:
            self.success += 1
        elif status == "warning":
            self.warning += 1
        elif status == "missed":
            self.missed += 1
        elif status == "running":
            self.running += 1
        else:
            self.failed += 1
            self.tampered += status == "tampered"
        if row["duration_seconds"] is not None and status != "covered":
            kept = self.durations if status == "success" else self.other_durations
            kept.append(row["duration_seconds"])

    def merge(self, other: Tally) -> None:
        self.scheduled += other.scheduled
        self.success += other.success
        self.warning += other.warning
        self.failed += other.failed
        self.missed += other.missed
        self.running += other.running
        self.on_demand += other.on_demand
        self.tampered += other.tampered
        self.durations.extend(other.durations)
        self.other_durations.extend(other.other_durations)

    def summary(self) -> dict[str, Any]:
        durations = self.durations
        return {
            "scheduled": self.scheduled,
            "success": self.success,
            "warning": self.warning,
            "failed": self.failed,
            "missed": self.missed,
            "running": self.running,
            "on_demand": self.on_demand,
            "tampered": self.tampered,
            "success_percent": round(100 * self.success / self.scheduled, 2)
            if self.scheduled
            else None,
            "duration_mean_seconds": round(math.fsum(durations) / len(durations), 3)
            if durations
            else None,
            "duration_p95_seconds": round(nearest_rank(durations, 95), 3) if durations else None,
            "duration_unsuccessful_runs": len(self.other_durations),
            "duration_unsuccessful_mean_seconds": round(
                math.fsum(self.other_durations) / len(self.other_durations), 3
            )
            if self.other_durations
            else None,
        }


def percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile of sorted values."""
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def nearest_rank(values: array[float], pct: float) -> float:
    """Nearest-rank percentile of unsorted values: the same value as :func:`percentile` of the
    sorted values. Large sets (a year's total) use selection (numpy's partition, linear) instead
    of a full sort; numpy comes with matplotlib but takes a moment to import, so small ones
    are simply sorted."""
    if len(values) < 100_000:
        return percentile(sorted(values), pct)
    import numpy  # noqa: PLC0415

    rank = max(1, math.ceil(pct / 100 * len(values)))
    data = numpy.frombuffer(values, dtype=numpy.float64)
    return float(numpy.partition(data, rank - 1)[rank - 1])


@dataclass
class Report:
    period: Period
    generated: dt.datetime
    problems: list[ingest.Problem] = field(default_factory=list)
    total: Tally = field(default_factory=Tally)
    hosts: dict[str, Tally] = field(default_factory=dict)
    categories: dict[str, Tally] = field(default_factory=dict)
    # (host, policy) -> newest good archive, newest restore test, targets
    policies: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # host -> the admin's latest tamper verdict (hosts without an admin report: absent, unknown)
    admin: dict[str, admin.Verdict] = field(default_factory=dict)
    # host -> its digital archive's summary (archive hosts only)
    archives: dict[str, arsip.Archive] = field(default_factory=dict)
    # The newest recovery drill (report.drill.latest), when the report is given its directory.
    drill: dict[str, Any] | None = None
    # per repository (one per agent host): size, growth and days until its quota is full
    repositories: list[capacity.RepositoryForecast] = field(default_factory=list)
    capacity_thresholds: capacity.Thresholds = field(default_factory=capacity.Thresholds)

    def admin_check(self, host: str) -> str | None:
        verdict = self.admin.get(host)
        return verdict.status if verdict else None

    def kpis_policies(self) -> list[dict[str, Any]]:
        """Per host and policy: the newest good archive against the RPO, the restore test
        against the RTO, the size growth, and the breaches."""
        policies = []
        for (host, policy), facts in sorted(self.policies.items()):
            judged = self.judge(facts)
            judged["breaches"] += database_breaches(database_entries(host, policy, facts))
            check = self.admin_check(host)
            if check == "tampered":
                judged["breaches"].append("tampered")
            elif check == "failed":
                judged["breaches"].append("admin maintenance failed")
            policies.append({"host": host, "policy": policy, **judged})
        return policies

    def kpis_databases(self) -> list[dict[str, Any]]:
        """Per host, policy and database: its newest dump and restore test in the period,
        those failing first."""
        entries = [
            entry
            for (host, policy), facts in sorted(self.policies.items())
            for entry in database_entries(host, policy, facts)
        ]
        entries.sort(key=lambda e: not e["breaching"])  # stable: by host, policy, name within
        return entries

    def kpis(self) -> dict[str, Any]:
        policies = self.kpis_policies()
        breaching = {p["host"] for p in policies if p["breaches"]}
        hosts = []
        for host in sorted(set(self.hosts) | set(self.admin)):
            summary = self.hosts.get(host, Tally()).summary()
            check = self.admin_check(host)
            if summary["missed"] or summary["failed"] or check in ("tampered", "failed"):
                breaching.add(host)
            hosts.append(
                {"host": host, "breaching": host in breaching, **summary, "admin_check": check}
            )
        hosts.sort(key=lambda h: (not h["breaching"], h["host"]))
        verdicts = sorted(
            (v.as_dict() for v in self.admin.values()),
            key=lambda v: (v["status"] != "tampered", v["status"] != "failed", v["host"]),
        )
        return {
            "period": self.period.label,
            "generated": self.generated.isoformat(),
            "total": self.total.summary(),
            "categories": {name: t.summary() for name, t in sorted(self.categories.items())},
            "hosts": hosts,
            "policies": sorted(policies, key=lambda p: (not p["breaches"], p["host"], p["policy"])),
            "admin": {
                "tampered_hosts": sum(v["status"] == "tampered" for v in verdicts),
                "failed_hosts": sum(v["status"] == "failed" for v in verdicts),
                "hosts": verdicts,
            },
            "arsip": [a.judged(self.generated) for _, a in sorted(self.archives.items())],
            "databases": self.kpis_databases(),
            "recovery_drill": self.drill,
            "capacity": [
                f.as_dict()
                for f in sorted(self.repositories, key=lambda f: (not f.warning, f.repository))
            ],
            "capacity_thresholds": {
                "warn_days": self.capacity_thresholds.days,
                "warn_percent": self.capacity_thresholds.percent,
            },
            "problems": [str(p) for p in self.problems],
        }

    def judge(self, facts: dict[str, Any]) -> dict[str, Any]:
        breaches = []
        newest = facts.get("newest_good")
        rpo = facts.get("rpo_hours")
        age = (self.generated - newest).total_seconds() / 3600 if newest else None
        rpo_met = None if rpo is None else (age is not None and age <= rpo)
        if rpo_met is False:
            breaches.append("RPO")
        test: ingest.RestoreTest | None = facts.get("restore_test")
        rto_met = test.rto_met if test else None
        if test is None:
            breaches.append("no restore test")
        elif test.status != "passed":
            breaches.append("restore test " + test.status)
        return {
            "category": facts.get("category"),
            "newest_good_archive": newest.isoformat() if newest else None,
            "newest_good_archive_age_hours": round(age, 2) if age is not None else None,
            "rpo_hours": rpo,
            "rpo_met": rpo_met,
            "restore_test": None
            if test is None
            else {
                "start": test.start.isoformat(),
                "status": test.status,
                "mode": test.mode,
                "seconds": test.seconds,
                "judged_seconds": test.judged_seconds,
                "rto_hours": test.rto_hours,
                "rto_met": rto_met,
                "integrity": test.integrity,
                "databases": test.databases_passed,
                "database_check": test.database_check,
            },
            **(facts.get("growth") or growth([], self.generated)),
            "breaches": breaches,
        }


def scheduled_days(
    cycles: dict[str, Any], period: Period
) -> Iterable[tuple[dt.date, str, dict[str, Any]]]:
    """(day, cycle, its settings) for every cycle run the schedule expects in the period."""
    for day in period.days():
        for cycle in ingest.CYCLES:
            settings = cycles.get(cycle)
            if settings is None:
                continue
            if cycle == "weekly" and day.isoweekday() != int(settings.get("weekday", 7)):
                continue
            if cycle == "monthly" and day.day != int(settings.get("day", 1)):
                continue
            yield day, cycle, settings


CYCLE_ORDER = {cycle: index for index, cycle in enumerate(ingest.CYCLES)}


class Builder(CollectedReader):
    """Reads the tree (:class:`CollectedReader`, whose attributes it sets up) and judges
    each policy's runs into rows and totals."""

    def __init__(self, period: Period, now: dt.datetime, on_row: Callable[[dict[str, Any]], None]):
        self.report = Report(period, now)
        self.on_row = on_row
        self.restore_tests = {}
        self.schedules = {}
        self.done = set()
        self.slot_cache: dict[str, list[tuple[dt.date, str, dt.time]]] = {}
        self.single_host = False
        self.inventory = None
        # host -> its repository's sizes in the forecast's window (capacity.fit)
        self.sizes: dict[str, list[capacity.Point]] = {}
        self.sizes_since = now - dt.timedelta(days=capacity.WINDOW_DAYS)

    # ---- pass 2: each policy's runs (CollectedReader.policy_runs), judged one by one ---
    def read_runs(self, root: Path) -> None:
        for key, runs in self.policy_runs(root):
            self.policy(key, runs)

    def policy(self, key: tuple[str, str], runs: list[ingest.Run]) -> None:
        host, policy = key
        schedule = self.schedules.get(host)
        planned = schedule.policies.get(policy) if schedule else None
        tz = ZoneInfo(
            (planned or {}).get("timezone") or (schedule.timezone if schedule else "Asia/Jakarta")
        )
        runs = self.settle_markers(runs)
        self.repository_sizes(host, runs)
        facts = self.facts(key, planned, runs)
        if planned is None and runs:
            message = (
                f"no deployed schedule (config.json) of {host}: missed runs not detected"
                if schedule is None
                else f"{host}: policy {policy} is not in the deployed schedule"
            )
            self.report.problems.append(ingest.Problem(Path(runs[0].path).parent, message))
        rows = self.rows(key, facts["category"], planned, runs, tz)
        tests = self.restore_tests.get(key, [])
        in_period = [t for t in tests if t.start.astimezone(tz).date() in self.report.period]
        facts["restore_test"] = in_period[-1] if in_period else None
        facts["databases"] = self.database_dumps(runs, tz)
        test_days = [t.start.astimezone(tz).date() for t in tests]
        tally = Tally()
        on_row = self.on_row
        verdict = self.report.admin.get(host)
        check = verdict.status if verdict else None
        summary = verdict.summary() if verdict and check == "tampered" else ""
        for row in rows:
            row["restore_test"] = (
                self.restore_test_for(test_days, tests, dt.date.fromisoformat(row["date"]))
                if tests
                else "none"
            )
            row["admin_check"] = check
            if summary and row["status"] in SUSPECT:
                # The run made (or covered) an archive of a repository the admin found
                # tampered with: a failure until the admin rolls back or accepts.
                row["reason"] = "; ".join(
                    filter(None, (summary, f"the run itself: {row['status']}", row["reason"]))
                )
                row["status"] = "tampered"
            tally.add(row)
            on_row(row)
        for total in (
            self.report.total,
            self.report.hosts.setdefault(host, Tally()),
            self.report.categories.setdefault(facts["category"], Tally()),
        ):
            total.merge(tally)

    def facts(
        self, key: tuple[str, str], planned: dict[str, Any] | None, runs: list[ingest.Run]
    ) -> dict[str, Any]:
        facts = self.report.policies.setdefault(key, {})
        facts["category"] = (planned or {}).get("category") or (
            runs[0].category if runs else "standard"
        )
        facts["rpo_hours"] = (planned or {}).get("rpo_hours") or (
            runs[-1].rpo_hours if runs else None
        )
        # ``runs`` are in time order: the newest good one is the last.
        facts["newest_good"] = next(
            (run.start for run in reversed(runs) if run.status in GOOD_ARCHIVE), None
        )
        facts["growth"] = growth(runs, self.report.generated)
        return facts

    def repository_sizes(self, host: str, runs: list[ingest.Run]) -> None:
        """The sizes of the host's repository its runs report (a run re-attributed from
        another host's record says nothing of this one); a size that could not be used is a
        problem of its record."""
        sizes = self.sizes.setdefault(host, [])
        since, until = self.sizes_since, self.report.generated
        for run in runs:
            if run.size_problem is not None:
                self.report.problems.append(ingest.Problem(Path(run.path), run.size_problem))
            elif (
                run.repository_bytes is not None
                and run.status != "mismatch"
                and since <= run.start <= until
            ):
                sizes.append(capacity.Point(run.start, run.repository_bytes, run.repository_label))

    def forecast(self, root: Path) -> None:
        """Every repository's forecast: the hosts with runs or a schedule, and (for a whole
        collection) every agent the inventory gives a repository."""
        collection = root.parent if self.single_host else root
        limits, thresholds, problems = capacity.read_limits(collection)
        inventory = collection / capacity.INVENTORY_FILE
        self.report.problems += (ingest.Problem(inventory, message) for message in problems)
        self.report.capacity_thresholds = thresholds
        hosts = set(self.sizes) | {host for host, _ in self.done}
        if not self.single_host:
            hosts |= set(limits)
        forecasts = []
        for host in sorted(hosts):
            limit = limits.get(host, capacity.Limit())
            forecasts.append(
                capacity.fit(
                    host,
                    self.sizes.get(host, ()),
                    self.report.generated,
                    quota=limit.quota,
                    server=limit.server,
                    thresholds=thresholds,
                )
            )
        # The disk each repository is on: the admin's own measurements (maintenance reports).
        storage, problems = capacity.newest_storage(
            admin.admin_dir(root, self.single_host), self.report.generated
        )
        self.report.problems += (ingest.Problem(Path(p.split(": ", 1)[0]), p.split(": ", 1)[1])
                                 for p in problems)  # fmt: skip
        self.report.repositories = capacity.with_disk(
            forecasts, storage, self.report.generated, thresholds
        )

    def database_dumps(self, runs: list[ingest.Run], tz: ZoneInfo) -> dict[DatabaseKey, DumpSeen]:
        """Per (type, name): the newest dump of the period's runs. A server-wide failure
        (globals, users, a server, the stream) stays only while the period's newest run with
        dumps still has it (runs keep no server-wide part that succeeded). What could not be
        read of any run's dumps is reported with the run's record."""
        period, problems = self.report.period, self.report.problems
        found: dict[DatabaseKey, tuple[int, DumpSeen]] = {}
        newest = -1
        for index, run in enumerate(runs):  # in time order
            dumps = run.databases
            if dumps is None:
                continue
            problems += (ingest.Problem(Path(run.path), message) for message in dumps.problems)
            day = run.start.astimezone(tz).date()
            if day in period:
                newest = index
                for dump in dumps.entries:
                    seen = (run.columns["start"], day.isoformat(), run.status, dump)
                    found[(dump.type, dump.name)] = (index, seen)
        return {
            key: seen
            for key, (index, seen) in found.items()
            if seen[3].what == "database" or index == newest
        }

    def settle_markers(self, runs: list[ingest.Run]) -> list[ingest.Run]:
        """Start markers (status ``running``): dropped once their run's record is there;
        alone and older than MARKER_STALE_HOURS, an ``interrupted`` run (the host never wrote
        the record nor let its next run or collection do it: down, or cut off)."""
        if not any(run.status == "running" for run in runs):
            return runs
        finished = {run.columns["archive"] for run in runs if run.status != "running"}
        stale = self.report.generated - dt.timedelta(hours=MARKER_STALE_HOURS)
        kept = []
        for run in runs:
            if run.status == "running":
                if run.columns["archive"] in finished:
                    continue
                run.columns["log_check"] = run.columns["borg_check"] = "no record"
                if run.start < stale:
                    run.status = run.columns["status"] = "interrupted"
                    run.columns["reason"] = (
                        f"started {run.columns['start']} and never finished; no record since "
                        "(the host is down or cannot be collected, or the run was cut off)"
                    )
            kept.append(run)
        return kept

    def rows(
        self,
        key: tuple[str, str],
        category: str,
        planned: dict[str, Any] | None,
        runs: list[ingest.Run],
        tz: ZoneInfo,
    ) -> list[dict[str, Any]]:
        """The period's rows: each scheduled slot (its run, or missed), then unplanned runs."""
        period = self.report.period
        first, last = period.first, period.last
        row = self.row
        by_slot: dict[tuple[dt.date, str], ingest.Run] = {}
        rows: list[dict[str, Any]] = []
        for run in runs:
            day = run.start.astimezone(tz).date()
            if day < first or day > last:
                continue
            if run.trigger == "schedule" and planned is not None:
                if (day, run.cycle) in by_slot:  # run again the same day: the last one counts
                    earlier = row(by_slot[(day, run.cycle)], day)
                    earlier["trigger"] = "retry"
                    rows.append(earlier)
                by_slot[(day, run.cycle)] = run
            else:
                rows.append(row(run, day))
        if planned is not None:
            # Rows so far (retries, unplanned runs) are out of slot order; slots are in order.
            ordered = not rows
            # Runs due before a policy's first record of any kind were due before it was
            # deployed (a policy that never left a record at all misses every run due).
            history = runs[0].start if runs else None  # runs are in time order
            generated = self.report.generated
            for day, cycle, clock in self.slots(planned["cycles"]):
                slot_run = by_slot.pop((day, cycle), None)
                if slot_run is not None:
                    rows.append(row(slot_run, day))
                    continue
                due = dt.datetime.combine(day, clock, tzinfo=tz)
                if history is not None and due < history:
                    continue
                if due <= generated:
                    rows.append(
                        self.missed(
                            host=key[0], policy=key[1], category=category, cycle=cycle, due=due
                        )
                    )
            if by_slot:  # scheduled runs on a day their cycle is not due
                ordered = False
                rows += [row(run, day) for (day, _), run in by_slot.items()]
            if ordered:
                return rows
        rows.sort(key=lambda r: (r["date"], CYCLE_ORDER[r["cycle"]], r["start"] or ""))
        return rows

    def slots(self, cycles: dict[str, Any]) -> list[tuple[dt.date, str, dt.time]]:
        """The period's (day, cycle, time due) of a schedule; hosts share a few schedules, so
        each distinct one is worked out once."""
        key = repr(sorted((name, sorted(value.items())) for name, value in cycles.items()))
        found = self.slot_cache.get(key)
        if found is None:
            found = [
                (day, cycle, dt.time(int(settings.get("hour", 0)), int(settings.get("minute", 0))))
                for day, cycle, settings in scheduled_days(cycles, self.report.period)
            ]
            self.slot_cache[key] = found
        return found

    @staticmethod
    def restore_test_for(days: list[dt.date], tests: list[ingest.RestoreTest], day: dt.date) -> str:
        """The newest restore test within a week up to the row's day: passed / failed / none.
        ``days`` are the tests' local days, sorted like ``tests``."""
        index = bisect.bisect_right(days, day)
        if index and (day - days[index - 1]).days < RESTORE_TEST_VALID_DAYS:
            return tests[index - 1].status
        return "none"

    @staticmethod
    def row(run: ingest.Run, day: dt.date) -> dict[str, Any]:
        """The run's row: its columns, dated with the local day (every run makes one row)."""
        columns = run.columns
        columns["date"] = day.isoformat()
        return columns

    @staticmethod
    def missed(
        *, host: str, policy: str, category: str, cycle: str, due: dt.datetime
    ) -> dict[str, Any]:
        # Keys in the order of a run's row (ingest.to_run's columns, then the date).
        return {
            "host": host,
            "policy": policy,
            "category": category,
            "cycle": cycle,
            "backup_type": BACKUP_TYPE[cycle],
            "trigger": "schedule",
            "status": "missed",
            "start": None,
            "duration_seconds": None,
            "original_bytes": None,
            "compressed_bytes": None,
            "deduplicated_bytes": None,
            "files": None,
            "log_check": "no record",
            "borg_check": "no record",
            "repository": None,
            "offsite_repository": None,
            "offsite_status": None,
            "archive": None,
            "reason": f"no record of the {cycle} run due {due.isoformat()}",
            "record": None,
            "databases": None,
            "date": due.date().isoformat(),
        }


def build(
    root: Path,
    period: Period,
    now: dt.datetime,
    on_row: Callable[[dict[str, Any]], None],
) -> Report:
    """Read the tree under ``root``, hand every checklist row of the period to ``on_row`` and
    return the totals (KPIs with :meth:`Report.kpis`)."""
    builder = Builder(period, now, on_row)
    # Every record is a burst of short-lived dicts, freed by reference counting as soon as the
    # record is converted (nothing here makes reference cycles). The cyclic collector would only
    # re-scan the live runs of the current host again and again, about a tenth of a year's
    # report: it is paused while reading and resumed after.
    enabled = gc.isenabled()
    gc.disable()
    try:
        builder.read_context(root)
        builder.read_runs(root)
        builder.forecast(root)
    finally:
        if enabled:
            gc.enable()
    return builder.report
