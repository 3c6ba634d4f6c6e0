#!/usr/bin/python3 -Es
"""bangka-backup-maintenance: the admin host's tamper check, prune and compact (SI CEKAT).

Deployed by the ``borg_admin`` role beside ``agent.py`` (standard library only). It reaches every
client repository with the admin key, which the repository server accepts only from the admin
host and without ``--append-only``: the only path that can free space.

Order matters. Clients write through ``borg serve --append-only``; in Borg 1.x a client's
``delete``/``prune`` still "succeeds" but only appends a transaction, so it can be rolled back —
until someone compacts in normal mode. Hence, per client:

1. **Tamper check.** Expected archives = the archives the admin saw at its last verification,
   plus the archives the client's run records announce, minus the archives the admin pruned.
   Any expected archive missing from ``borg list`` stops this client: nothing is pruned or
   compacted, a notification goes out, and ``playbooks/backup_rollback.yml`` can restore the
   repository to its state at the last verification.
2. **Prune** each policy and cycle by its own retention (``--glob-archives`` per
   ``{host}-{policy}-{cycle}-*``), then **compact**.
3. Save the verified listing and time (the rollback point).

The **freshness watchdog** (``watchdog``, its own timer) is stage one's second half: for every
client, policy and cycle it finds the newest complete archive in ``borg list`` (admin key) that
covers the cycle (a weekly archive covers that day's daily run, a monthly one both) and compares
its age with the cycle's interval plus a grace period, and the newest archive's age with the
policy's RPO. A missed run — also a host that is down or cannot reach the server — and an
unreachable repository are notified.

Exit codes: 0 all clients fine, 2 a Borg step failed (or, for ``watchdog``, a run was missed),
3 tampering detected (takes precedence), 64 configuration error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

try:
    from bangka_ops.backup import agent
except ModuleNotFoundError:  # deployed as /usr/local/lib/bangka-backup/maintenance.py
    import agent  # type: ignore[import-not-found, no-redef]

DEFAULT_CONFIG = "/etc/bangka-backup-admin/config.json"
EXIT_OK, EXIT_FAILED, EXIT_TAMPERED, EXIT_USAGE = 0, 2, 3, 64
KEEP_FLAG = {"daily": "--keep-daily", "weekly": "--keep-weekly", "monthly": "--keep-monthly"}
# Longest regular gap between two runs of a cycle (a month can have 31 days).
CYCLE_INTERVAL_HOURS = {"daily": 24, "weekly": 7 * 24, "monthly": 31 * 24}
DEFAULT_GRACE_HOURS = 6


def load_config(path: Path) -> dict[str, Any]:
    config = agent.read_json_object(path, ("state_dir", "clients"))
    if not isinstance(config["clients"], dict):
        raise agent.ConfigError(f"{path}: clients: must be an object of client name -> settings")
    for name, client in config["clients"].items():
        if not isinstance(client, dict):
            raise agent.ConfigError(f"{path}: clients.{name}: must be an object")
        for key in ("repository", "policies"):
            if key not in client:
                raise agent.ConfigError(f"{path}: clients.{name}: missing required field '{key}'")
    return config


class ClientState:
    """What the admin last verified for one client: listing, time, and what it pruned itself."""

    def __init__(self, state_dir: Path, client: str) -> None:
        self.path = state_dir / "clients" / f"{client}.json"
        self.announced_path = state_dir / "announced" / f"{client}.json"
        # A damaged state file is reported (ConfigError naming it), never silently reset: it is
        # the tamper baseline.
        data = agent.read_json_object(self.path) if self.path.exists() else {}
        self.verified_at: str | None = data.get("verified_at")
        self.archives: set[str] = set(data.get("archives", []))
        self.pruned: set[str] = set(data.get("pruned", []))

    def announced(self) -> set[str]:
        """Archives the client's run records claim (copied here by backup_maintenance.yml)."""
        if not self.announced_path.exists():
            return set()
        data = agent.read_json_object(self.announced_path, ("archives",))
        try:
            return {item["archive"] for item in data["archives"]}
        except (TypeError, KeyError) as exc:
            raise agent.ConfigError(
                f"{self.announced_path}: archives: expected a list of {{archive: name}} objects"
            ) from exc

    def save(self, archives: set[str], verified_at: str) -> None:
        agent.write_json_atomic(
            self.path,
            {
                "verified_at": verified_at,
                "archives": sorted(archives),
                "pruned": sorted(self.pruned),
            },
        )


class Maintenance:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.borg = agent.Borg(config)
        self.state_dir = Path(config["state_dir"])
        self.tz = ZoneInfo(config.get("timezone", "Asia/Jakarta"))

    def client_log(self, name: str) -> TextIO:
        """The client's raw Borg log (--log-json lines of every step), opened for appending."""
        path = self.state_dir / "logs" / f"{name}.log.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        return open(path, "a", encoding="utf-8")

    def list_archives(self, repo: dict[str, Any], log: Any) -> tuple[set[str], agent.StepResult]:
        step = self.borg.run(
            [
                "list",
                "--json",
                "--log-json",
                "--lock-wait",
                str(self.borg.lock_wait),
                repo["location"],
            ],
            repo,
            log,
            stdout_json=True,
        )
        names = {a["name"] for a in (step.output or {}).get("archives", [])}
        return names, step

    def client(self, name: str, prune: bool) -> dict[str, Any]:
        settings = self.config["clients"][name]
        repo = settings["repository"]
        result: dict[str, Any] = {"client": name, "repository": repo["location"]}
        try:
            return self.check_client(name, settings, repo, prune, result)
        except agent.ConfigError as exc:
            result.update(status="failed", reason=str(exc))
            return result

    def check_client(
        self,
        name: str,
        settings: dict[str, Any],
        repo: dict[str, Any],
        prune: bool,
        result: dict[str, Any],
    ) -> dict[str, Any]:
        state = ClientState(self.state_dir, name)
        with self.client_log(name) as log:
            expected = (state.archives | state.announced()) - state.pruned
            current, listing = self.list_archives(repo, log)
            if listing.returncode != 0:
                result.update(status="failed", reason=agent.Run.explain(listing, "borg list"))
                return result
            missing = sorted(expected - current)
            result["archives"] = len(current)
            if missing:
                result.update(
                    status="tampered",
                    missing=missing,
                    last_verified_at=state.verified_at,
                    reason=(
                        f"{len(missing)} archive(s) known to the admin are gone from the "
                        f"repository (first: {missing[0]}); nothing was pruned or compacted. "
                        f"Roll back with playbooks/backup_rollback.yml -e "
                        f"backup_rollback_client={name}"
                    ),
                )
                return result
            if prune:
                failure = self.prune_and_compact(name, settings, repo, log, result)
                if failure:
                    result.update(status="failed", reason=failure)
                    return result
                after, listing = self.list_archives(repo, log)
                if listing.returncode != 0:
                    result.update(status="failed", reason=agent.Run.explain(listing, "borg list"))
                    return result
                state.pruned |= current - after
                result["pruned"] = sorted(current - after)
                current = after
            # Full precision: the rollback keeps exactly the segments written up to this moment.
            verified_at = dt.datetime.now(self.tz).isoformat()
            state.save(current, verified_at)
            result.update(status="ok", verified_at=verified_at, archives=len(current))
        return result

    def prune_and_compact(
        self,
        name: str,
        settings: dict[str, Any],
        repo: dict[str, Any],
        log: Any,
        result: dict[str, Any],
    ) -> str | None:
        lock = ["--lock-wait", str(self.borg.lock_wait)]
        for policy, policy_settings in sorted(settings["policies"].items()):
            retention = policy_settings.get("retention") or {}
            for cycle in policy_settings.get("cycles", list(KEEP_FLAG)):
                keep = int(retention.get(cycle, {"daily": 7, "weekly": 4, "monthly": 12}[cycle]))
                step = self.borg.run(
                    [
                        "prune",
                        "--log-json",
                        *lock,
                        "--glob-archives",
                        f"{name}-{policy}-{cycle}-*",
                        KEEP_FLAG[cycle],
                        str(keep),
                        repo["location"],
                    ],
                    repo,
                    log,
                )
                if step.returncode not in (0, 1):
                    return agent.Run.explain(step, f"borg prune {policy} {cycle}")
        step = self.borg.run(["compact", "--log-json", *lock, repo["location"]], repo, log)
        result["compact_seconds"] = step.duration
        if step.returncode not in (0, 1):
            return agent.Run.explain(step, "borg compact")
        return None

    def run(self, clients: list[str], prune: bool) -> tuple[int, dict[str, Any]]:
        started = agent.now_in(self.tz)
        results = [self.client(name, prune) for name in clients]
        tampered = [r for r in results if r["status"] == "tampered"]
        failed = [r for r in results if r["status"] == "failed"]
        report: dict[str, Any] = {
            "schema_version": 1,
            "kind": "maintenance_run" if prune else "tamper_check",
            "start": started.isoformat(),
            "end": agent.now_in(self.tz).isoformat(),
            "status": "tampered" if tampered else "failed" if failed else "ok",
            "clients": results,
        }
        if tampered or failed:
            bad = tampered + failed
            body = "\n".join(f"{r['client']}: {r['status']} - {r.get('reason')}" for r in bad)
            report["notifications"] = agent.send_notifications(
                self.config.get("notify") or {},
                f"[SI CEKAT] {report['status'].upper()}: maintenance of "
                f"{', '.join(r['client'] for r in bad)}",
                body,
                {"status": report["status"], "clients": bad},
            )
        runs_dir = self.state_dir / "runs"
        stamp = started.strftime("%Y-%m-%dT%H-%M-%S")
        report_path = runs_dir / f"{stamp}-{report['kind']}.json"
        agent.write_json_atomic(report_path, report)
        report["report_path"] = str(report_path)
        for result in results:  # the tamper check, prune and compact of each client
            agent.audit(
                "prune",
                f"maintenance {result.get('client')}",
                str(result.get("status")),
                report=str(report_path),
            )
        code = EXIT_TAMPERED if tampered else EXIT_FAILED if failed else EXIT_OK
        return code, report


class Watchdog:
    """Newest good archive per client, policy and cycle against the schedule and the RPO."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.maintenance = Maintenance(config)
        self.tz = ZoneInfo(config.get("timezone", "Asia/Jakarta"))
        self.grace = float(config.get("watchdog_grace_hours", DEFAULT_GRACE_HOURS))

    def client(self, name: str, now: dt.datetime) -> dict[str, Any]:
        settings = self.config["clients"][name]
        repo = settings["repository"]
        result: dict[str, Any] = {"client": name, "repository": repo["location"], "policies": []}
        with self.maintenance.client_log(name) as log:
            names, listing = self.maintenance.list_archives(repo, log)
        if listing.returncode != 0:
            result.update(
                status="failed",
                reason="cannot list the repository, freshness unknown: "
                + agent.Run.explain(listing, "borg list"),
            )
            return result
        stamps: dict[tuple[str, str], list[dt.datetime]] = {}
        for archive in names:
            parsed = agent.parse_archive_name(archive)
            if parsed is None or parsed["host"] != name:
                continue
            when = dt.datetime.strptime(parsed["timestamp"], "%Y-%m-%dT%H-%M-%S")
            stamps.setdefault((parsed["policy"], parsed["cycle"]), []).append(
                when.replace(tzinfo=self.tz)
            )
        problems = []
        for policy, policy_settings in sorted(settings["policies"].items()):
            entry = self.policy(policy, policy_settings, stamps, now)
            result["policies"].append(entry)
            problems += [f"{policy}: {p}" for p in entry["problems"]]
        result["status"] = "missed" if problems else "ok"
        if problems:
            result["reason"] = "; ".join(problems)
        return result

    def policy(
        self,
        policy: str,
        settings: dict[str, Any],
        stamps: dict[tuple[str, str], list[dt.datetime]],
        now: dt.datetime,
    ) -> dict[str, Any]:
        cycles = settings.get("cycles") or list(KEEP_FLAG)
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
        report_path = (
            self.maintenance.state_dir
            / "runs"
            / (f"{now.strftime('%Y-%m-%dT%H-%M-%S')}-freshness_watchdog.json")
        )
        agent.write_json_atomic(report_path, report)
        report["report_path"] = str(report_path)
        return (EXIT_FAILED if bad else EXIT_OK), report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bangka-backup-maintenance",
        description="Tamper check, then prune and compact, of every client repository.",
    )
    parser.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG))
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("run", "tamper check, then prune and compact the clients that pass"),
        ("check", "tamper check only; records the verified state of clients that pass"),
        ("watchdog", "freshness: a missed run (or a host that is down) per client and policy"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--client", action="append", help="only this client (repeatable)")
        cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        clients = args.client or sorted(config["clients"])
        unknown = sorted(set(clients) - set(config["clients"]))
        if unknown:
            raise agent.ConfigError(f"{args.config}: unknown client(s): {', '.join(unknown)}")
        if args.command == "watchdog":
            code, report = Watchdog(config).run(clients)
        else:
            code, report = Maintenance(config).run(clients, prune=args.command == "run")
    except agent.ConfigError as exc:
        print(f"bangka-backup-maintenance: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for result in report["clients"]:
            detail = result.get("reason") or (
                "fresh" if args.command == "watchdog" else f"{result.get('archives', 0)} archives"
            )
            print(f"{result['client']}: {result['status']} ({detail})")
        print(f"report: {report['report_path']}")
    return code


if __name__ == "__main__":
    sys.exit(main())
