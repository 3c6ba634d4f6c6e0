"""The freshness watchdog of ``bangka-backup-maintenance watchdog`` (SI CEKAT), stage one's
second half: for every client, policy and cycle it finds the newest complete archive in
``borg list`` (admin key) that covers the cycle (a weekly archive covers that day's daily run, a
monthly one both) and compares its age with the cycle's interval plus a grace period, and the
newest archive's age with the policy's RPO. An archive counts as made no later than the admin
first saw it (its ledger), and one dated in the future counts for nothing and is reported. A
missed run (also a host that is down or cannot reach the server) and an unreachable repository
are notified. So is a run that started and never finished: a start marker
(``<archive>.started.json``) collected into ``<state_dir>/collected/<client>/records/`` more
than a day ago whose run record never followed (neither loose nor in the ledger). And so is a
repository whose storage quota (``clients.<name>.storage_quota``, from the inventory) is full
within ``capacity.warn_days`` days or used past ``capacity.warn_percent`` (capacity.py, from the
sizes in the collected run records): a notice of its own every day while it lasts; it does not
change the exit code, which is about freshness. Standard library only; deployed beside
maintenance.py by the borg_admin role.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

try:
    from bangka_ops.backup import agent, archive_ledger, maintenance
except ModuleNotFoundError:  # deployed as /usr/local/lib/bangka-backup/freshness.py
    import agent  # type: ignore[import-not-found, no-redef]
    import archive_ledger  # type: ignore[import-not-found, no-redef]
    import maintenance  # type: ignore[import-not-found, no-redef]

# Longest regular gap between two runs of a cycle (a month can have 31 days).
CYCLE_INTERVAL_HOURS = {"daily": 24, "weekly": 7 * 24, "monthly": 31 * 24}
DEFAULT_GRACE_HOURS = 6
# A start marker this old with no record: the run never finished (the checklist's rule too).
MARKER_STALE_HOURS = 24


class Watchdog:
    """Newest good archive per client, policy and cycle against the schedule and the RPO."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.maintenance = maintenance.Maintenance(config)
        self.tz = ZoneInfo(config.get("timezone", "Asia/Jakarta"))
        self.grace = float(config.get("watchdog_grace_hours", DEFAULT_GRACE_HOURS))

    def client(self, name: str, now: dt.datetime) -> dict[str, Any]:
        settings = self.config["clients"][name]
        repo = settings["repository"]
        result: dict[str, Any] = {"client": name, "repository": repo["location"], "policies": []}
        try:
            return self.judge(name, settings, repo, now, result)
        except agent.ConfigError as exc:  # a damaged ledger or listing: this client only
            result.update(status="failed", reason=str(exc))
            return result

    def judge(
        self,
        name: str,
        settings: dict[str, Any],
        repo: dict[str, Any],
        now: dt.datetime,
        result: dict[str, Any],
    ) -> dict[str, Any]:
        with self.maintenance.client_log(name) as log:
            current = self.maintenance.listed_or_failed(
                repo, log, result, "cannot list the repository, freshness unknown: "
            )
        if current is None:
            return result
        # The admin's first sighting caps what an archive claims: never newer than that; an
        # archive dated in the future counts for nothing and is a problem of its own.
        ledger = self.maintenance.ledger(name).entries
        skew = dt.timedelta(minutes=self.maintenance.tamper["future_skew_minutes"])
        stamps: dict[tuple[str, str], list[dt.datetime]] = {}
        future = []
        for sighting in current.values():
            parsed = sighting.parsed
            if parsed is None or parsed["host"] != name:
                continue
            if sighting.claimed_latest > now + skew:
                future.append(sighting.name)
                continue
            when = sighting.claimed_earliest
            if sighting.id in ledger:
                when = min(when, archive_ledger.parse_time(ledger[sighting.id].first_seen, self.tz))
            stamps.setdefault((parsed["policy"], parsed["cycle"]), []).append(when)
        problems = []
        for policy, policy_settings in sorted(settings["policies"].items()):
            entry = self.policy(policy, policy_settings, stamps, now)
            result["policies"].append(entry)
            problems += [f"{policy}: {p}" for p in entry["problems"]]
        cut_short = self.interrupted(name, now)
        if cut_short:
            result["interrupted"] = cut_short
            problems.append(
                f"{len(cut_short)} run(s) started and never finished (no record): "
                + ", ".join(f"{c['archive']} (started {c['start']})" for c in cut_short[:5])
            )
        if future:
            result["future_dated"] = sorted(future)
            problems.append(
                f"{len(future)} archive(s) dated in the future, not counted (tampering?): "
                + ", ".join(sorted(future)[:5])
            )
        result["status"] = "missed" if problems else "ok"
        if problems:
            result["reason"] = "; ".join(problems)
        return result

    def interrupted(self, name: str, now: dt.datetime) -> list[dict[str, str]]:
        """The client's collected start markers older than MARKER_STALE_HOURS whose run record
        never arrived (loose beside it, or consolidated into the month's ledger file). What the
        client sent is data: only names and a time are read from it, never a path."""
        collected = self.collected()
        records = collected / name / "records"
        found: list[dict[str, str]] = []
        if not records.is_dir() or records.is_symlink():
            return found
        for marker in sorted(records.glob(f"*/*{agent.STARTED_SUFFIX}")):
            archive = marker.name[: -len(agent.STARTED_SUFFIX)]
            if marker.is_symlink() or marker.with_name(f"{archive}.json").exists():
                continue
            try:
                start_text = str(agent.read_json_object(marker, ("start",))["start"])
                start = dt.datetime.fromisoformat(start_text)
            except (agent.ConfigError, ValueError):
                continue
            if start.tzinfo is None or now - start < dt.timedelta(hours=MARKER_STALE_HOURS):
                continue
            # The ledger's month file: the start's year and month as written (ledger.month_of).
            month = f"{start_text[0:4]}-{start_text[5:7]}"
            ledger = collected / name / "ledger" / marker.parent.name / f"{month}.jsonl"
            try:
                if f'"{archive}"'.encode() in ledger.read_bytes():
                    continue
            except OSError:
                pass
            found.append({"archive": archive, "start": start.isoformat()})
        return found

    def policy(
        self,
        policy: str,
        settings: dict[str, Any],
        stamps: dict[tuple[str, str], list[dt.datetime]],
        now: dt.datetime,
    ) -> dict[str, Any]:
        cycles = settings.get("cycles") or list(maintenance.DEFAULT_KEEP)
        entry: dict[str, Any] = {"policy": policy, "cycles": {}, "problems": []}
        newest_any: dt.datetime | None = None
        history = [t for (p, _), times in stamps.items() if p == policy for t in times]
        oldest = min(history, default=None)
        for cycle in cycles:
            covering = [c for c in agent.CYCLES if agent.CYCLE_RANK[c] >= agent.CYCLE_RANK[cycle]]
            newest = max((t for c in covering for t in stamps.get((policy, c), [])), default=None)
            limit = CYCLE_INTERVAL_HOURS[cycle] + self.grace
            age = None if newest is None else round((now - newest).total_seconds() / 3600, 2)
            fresh = age is not None and age <= limit
            entry["cycles"][cycle] = {
                "newest": newest.isoformat() if newest else None,
                "age_hours": age,
                "limit_hours": limit,
                "fresh": fresh,
            }
            if (
                newest is None
                and oldest is not None
                and (now - oldest).total_seconds() < (limit * 3600)
            ):
                # A new client: its first weekly or monthly run is not due yet.
                entry["cycles"][cycle]["fresh"] = None
            elif newest is None:
                entry["problems"].append(f"no {cycle} archive at all")
            elif not fresh:
                entry["problems"].append(
                    f"{cycle} run missed: newest covering archive is {age} h old (limit {limit} h)"
                )
            if newest is not None and (newest_any is None or newest > newest_any):
                newest_any = newest
        rpo = settings.get("rpo_hours")
        if rpo is not None and newest_any is not None:
            age = (now - newest_any).total_seconds() / 3600
            entry["rpo_hours"] = rpo
            entry["rpo_met"] = age <= rpo
            if age > rpo:
                entry["problems"].append(f"RPO breached: newest archive {age:.1f} h old > {rpo} h")
        return entry

    def collected(self) -> Path:
        return Path(self.config.get("collected_dir") or self.maintenance.state_dir / "collected")

    def capacity(self, clients: list[str], now: dt.datetime) -> list[Any]:
        """The clients' repository forecasts (quotas from this configuration, sizes from the
        collected run records)."""
        capacity = maintenance.capacity_module()
        limits = {
            name: capacity.Limit(
                urllib.parse.urlsplit(str(self.config["clients"][name]["repository"])).hostname,
                capacity.quota_bytes(
                    self.config["clients"][name].get("storage_quota"),
                    f"clients.{name}.storage_quota",
                ),
            )
            for name in clients
        }
        thresholds = capacity.Thresholds.of(self.config.get("capacity"), "capacity")
        if not self.collected().is_dir():
            return []
        found: list[Any] = capacity.forecast(
            self.collected(), now, hosts=clients, limits=limits, thresholds=thresholds
        )
        # The disk each repository is on: this host's own maintenance measurements.
        storage, _ = capacity.newest_storage(self.maintenance.state_dir / "runs", now)
        found = capacity.with_disk(found, storage, now, thresholds)
        return found

    def notify_capacity(self, forecasts: list[Any], report: dict[str, Any]) -> None:
        flagged = [f for f in forecasts if f.warning]
        if not flagged:
            return
        capacity = maintenance.capacity_module()
        report["capacity_notifications"] = agent.send_notifications(
            self.config.get("notify") or {},
            "[SI CEKAT] KAPASITAS REPOSITORI / REPOSITORY CAPACITY: "
            + ", ".join(f.repository for f in flagged),
            capacity.notice(flagged),
            {"status": "warning", "repositories": [f.as_dict() for f in flagged]},
        )

    def run(self, clients: list[str]) -> tuple[int, dict[str, Any]]:
        now = dt.datetime.now(self.tz)
        results = [self.client(name, now) for name in clients]
        bad = [r for r in results if r["status"] != "ok"]
        report: dict[str, Any] = {
            "schema_version": 1,
            "kind": "freshness_watchdog",
            "start": now.replace(microsecond=0).isoformat(),
            "grace_hours": self.grace,
            "status": "missed" if bad else "ok",
            "clients": results,
            "capacity": [],
        }
        if bad:
            body = "\n".join(f"{r['client']}: {r['status']} - {r.get('reason')}" for r in bad)
            report["notifications"] = agent.send_notifications(
                self.config.get("notify") or {},
                "[SI CEKAT] CADANGAN TERLEWAT / MISSED BACKUP: "
                + ", ".join(r["client"] for r in bad),
                body,
                {"status": report["status"], "clients": bad},
            )
        # The forecast comes after the missed-backup notice: whatever goes wrong in it (a
        # collected record it cannot use), that notice has gone and the report is written.
        try:
            forecasts = self.capacity(clients, now)
            report["capacity"] = [f.as_dict() for f in forecasts]
            self.notify_capacity(forecasts, report)
        except Exception as exc:
            report["capacity_error"] = f"{type(exc).__name__}: {exc}"
        report_path = (
            self.maintenance.state_dir
            / "runs"
            / (f"{now.strftime('%Y-%m-%dT%H-%M-%S')}-freshness_watchdog.json")
        )
        agent.write_json_atomic(report_path, report)
        report["report_path"] = str(report_path)
        return (maintenance.EXIT_FAILED if bad else maintenance.EXIT_OK), report
