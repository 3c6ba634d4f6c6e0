#!/usr/bin/python3 -Es
"""bangka-backup-maintenance: the admin host's tamper check, prune and compact (SI CEKAT).

Deployed by the ``borg_admin`` role beside ``agent.py`` (standard library only). It reaches every
client repository with the admin key, which the repository server accepts only from the admin
host and without ``--append-only``: the only path that can free space.

Order matters. Clients write through ``borg serve --append-only``; in Borg 1.x a client's
``delete``/``prune`` still "succeeds" but only appends a transaction, so it can be rolled back —
until someone compacts in normal mode. Hence, per client:

0. **Gate and history** (gate.py, segments.py, history.py): the repository's gate closes (no
   client session until it opens again) and every transaction committed since the admin's mark
   is read from the segment files; one that deleted or overwrote an object is tampering
   (``deleted``, ``overwritten``), whatever the client announced; so is an archive a manifest
   since then listed that is gone now (``hidden``).
1. **Tamper check** against the archive ledger (archive_ledger.py): archives by id with the
   admin's first sighting; disappeared, replaced, future-dated, backdated, foreign, burst and a
   key the passphrase no longer opens are tampering. Tampering stops this client: nothing is
   pruned or compacted, the ledger and mark stay, a notification goes out (exit 3 every run
   until ``playbooks/backup_rollback.yml``, ``backup_key_restore.yml`` or ``accept``).
2. **Compact** what the previous run pruned (this check confirmed the period since), then
   **prune** on the admin's clock, deleting by id-checked names.
3. Save the ledger (the rollback point ``verified_at``), move the mark past the admin's own
   writes, open the gate.

The **freshness watchdog** (``watchdog``, its own timer) lives in ``freshness.py``.

Exit codes: 0 all clients fine, 2 a Borg step failed (or, for ``watchdog``, a run was missed),
3 tampering detected (takes precedence), 64 configuration error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

try:
    from bangka_ops.backup import agent, archive_ledger, gate, history, segments
except ModuleNotFoundError:  # deployed as /usr/local/lib/bangka-backup/maintenance.py
    import agent  # type: ignore[import-not-found, no-redef]
    import archive_ledger  # type: ignore[import-not-found, no-redef]
    import gate  # type: ignore[import-not-found, no-redef]
    import history  # type: ignore[import-not-found, no-redef]
    import segments  # type: ignore[import-not-found, no-redef]

DEFAULT_CONFIG = "/etc/bangka-backup-admin/config.json"
EXIT_OK, EXIT_FAILED, EXIT_TAMPERED, EXIT_USAGE = 0, 2, 3, 64
# Borg's answers when the repository's key no longer opens with the passphrase the admin holds.
KEY_REWRITTEN = {
    "PassphraseWrong",
    "KeyfileInvalidError",
    "KeyfileMismatchError",
    "UnsupportedPayloadError",
}
DEFAULT_KEEP = {"daily": 7, "weekly": 4, "monthly": 12}
DELETE_BATCH = 50


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
    found = agent.notify_problems(config.get("notify") or {}, f"{path}: notify")
    capacity = capacity_module()
    try:  # the watchdog's capacity forecast: quotas and thresholds checked before any run
        capacity.Thresholds.of(config.get("capacity"), f"{path}: capacity")
        for name, client in config["clients"].items():
            capacity.quota_bytes(
                client.get("storage_quota"), f"{path}: clients.{name}.storage_quota"
            )
    except capacity.CapacityError as exc:
        found.append(str(exc))
    if found:
        raise agent.ConfigError("; ".join(found))
    return config


def capacity_module() -> Any:
    try:
        from bangka_ops.report import capacity  # noqa: PLC0415
    except ModuleNotFoundError:  # deployed beside capacity.py
        import capacity  # type: ignore[import-not-found, no-redef]  # noqa: PLC0415
    return capacity


def announced_names(state_dir: Path, client: str) -> set[str]:
    """Archives the client's run records claim (copied here by backup_maintenance.yml): a
    cross-check only; the ledger comes from the repository itself."""
    path = state_dir / "announced" / f"{client}.json"
    if not path.exists():
        return set()
    data = agent.read_json_object(path, ("archives",))
    try:
        return {str(item["archive"]) for item in data["archives"]}
    except (TypeError, KeyError) as exc:
        raise agent.ConfigError(
            f"{path}: archives: expected a list of {{archive: name}} objects"
        ) from exc


def summary(findings: list[archive_ledger.Finding]) -> str:
    kinds = sorted({f.kind for f in findings})
    first = findings[0]
    return (
        f"{len(findings)} finding(s) ({', '.join(kinds)}); first: {first.kind} {first.archive}: "
        f"{first.detail}"
    )


class Maintenance:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.borg = agent.Borg(config)
        self.state_dir = Path(config["state_dir"])
        self.tz = ZoneInfo(config.get("timezone", "Asia/Jakarta"))
        self.tamper = archive_ledger.settings_of(config)

    def client_log(self, name: str) -> TextIO:
        """The client's raw Borg log (--log-json lines of every step), opened for appending."""
        path = self.state_dir / "logs" / f"{name}.log.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        return open(path, "a", encoding="utf-8")

    def ledger(self, name: str) -> archive_ledger.Ledger:
        return archive_ledger.Ledger(self.state_dir / "clients" / f"{name}.json")

    def list_archives(
        self, repo: dict[str, Any], log: Any
    ) -> tuple[dict[str, archive_ledger.Sighting], agent.StepResult]:
        """The repository's complete archives by id (admin key)."""
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
        items = (step.output or {}).get("archives", []) if step.returncode in (0, 1) else []
        try:
            return archive_ledger.listing(items, self.tz), step
        except ValueError as exc:
            raise agent.ConfigError(str(exc)) from None

    def listed_or_failed(
        self, repo: dict[str, Any], log: Any, result: dict[str, Any], prefix: str = ""
    ) -> dict[str, archive_ledger.Sighting] | None:
        """The listing, or None with the client's result marked failed saying why."""
        current, listing = self.list_archives(repo, log)
        if listing.returncode in (0, 1):
            return current
        result.update(status="failed", reason=prefix + agent.Run.explain(listing, "borg list"))
        return None

    def client(self, name: str, prune: bool) -> dict[str, Any]:
        settings = self.config["clients"][name]
        repo = settings["repository"]
        result: dict[str, Any] = {"client": name, "repository": repo["location"]}
        try:
            return self.check_client(name, settings, repo, prune, result)
        except agent.ConfigError as exc:
            result.update(status="failed", reason=str(exc))
            return result

    def judge(
        self,
        name: str,
        settings: dict[str, Any],
        ledger: archive_ledger.Ledger,
        current: dict[str, archive_ledger.Sighting],
        now: dt.datetime,
    ) -> archive_ledger.Assessment:
        judged = archive_ledger.assess(
            ledger,
            current,
            client=name,
            policies=settings["policies"],
            now=now,
            settings=self.tamper,
        )
        names_now = {s.name for s in current.values()}
        pruned = {e.name for e in ledger.entries.values() if e.state != "present"}
        judged_names = {f.archive for f in judged.findings}
        for archive in sorted(announced_names(self.state_dir, name) - names_now - pruned):
            if archive not in judged_names and archive not in ledger.legacy_pruned:
                judged.findings.append(
                    archive_ledger.Finding(
                        "disappeared",
                        archive,
                        "announced by the client's run records; not in the repository",
                    )
                )
        return judged

    def tampered(
        self,
        name: str,
        ledger: archive_ledger.Ledger,
        findings: list[archive_ledger.Finding],
        result: dict[str, Any],
        *,
        what: str = "nothing was pruned or compacted",
        scan: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        # Just before the first transaction that deleted anything, if the history shows one;
        # else the last verification.
        points = [(scan or {}).get("rollback_to")]
        points += history.rollback_points(findings)
        point = min((p for p in points if p), default=None) or ledger.verified_at
        result.update(
            status="tampered",
            findings=[f.as_dict() for f in findings],
            missing=sorted({f.archive for f in findings if f.kind in ("disappeared", "replaced")}),
            last_verified_at=ledger.verified_at,
            rollback_to=point,
            reason=(
                f"{summary(findings)}. {what.capitalize()}. Investigate, then roll back with "
                f"playbooks/backup_rollback.yml -e backup_rollback_client={name}"
                + (f" -e backup_rollback_to={point}" if point else "")
                + ", or accept the repository as "
                f"it is with bangka-backup-maintenance accept --client {name} --reason '...'"
            ),
        )
        return result

    def check_client(
        self,
        name: str,
        settings: dict[str, Any],
        repo: dict[str, Any],
        prune: bool,
        result: dict[str, Any],
    ) -> dict[str, Any]:
        """Closes the repository's gate (no client writes until it opens again), reads the
        repository's history since the admin's mark, then checks and maintains the client."""
        ledger = self.ledger(name)
        try:
            since = segments.Mark.from_dict(ledger.segment_mark)
        except ValueError as exc:
            raise agent.ConfigError(f"{ledger.path}: segment_mark: {exc}") from None
        wait = float(self.config.get("gate_wait_seconds", gate.DEFAULT_GATE_WAIT))
        the_gate = gate.Gate(repo["location"], self.borg.rsh, since, wait)
        try:
            with the_gate as scan:
                job = ClientJob(name, settings, repo, None, ledger, {}, result, the_gate)
                return self.check_gated(job, prune, scan)
        except gate.GateError as exc:
            result.update(status="failed", reason=f"repository gate: {exc}")
            return result

    def check_gated(self, job: ClientJob, prune: bool, scan: dict[str, Any]) -> dict[str, Any]:
        name, settings, repo, ledger, result = (
            job.name,
            job.settings,
            job.repo,
            job.ledger,
            job.result,
        )
        found = history.history_findings(scan, ledger)
        if isinstance(scan.get("storage"), dict):  # the disk it is on (capacity forecast)
            result["storage"] = scan["storage"]
        if scan.get("since") is None:
            result["history"] = "baseline"  # first run with a gate: nothing to compare yet
        key_now = scan.get("key_sha256")
        key_changed = bool(ledger.key_sha256 and key_now != ledger.key_sha256)
        with self.client_log(name) as log:
            now = dt.datetime.now(self.tz)
            current, listing = self.list_archives(repo, log)
            key_refused = listing.returncode not in (0, 1) and KEY_REWRITTEN & set(listing.msgids)
            if key_changed or key_refused:
                found.append(
                    archive_ledger.Finding(
                        "key-changed",
                        "(repository key)",
                        (
                            "the repository key in the repository's config changed since the "
                            "admin's last check"
                            if key_changed
                            else "the repository key no longer opens with the client's passphrase"
                        )
                        + ": it was re-encrypted (borg key change-passphrase) or replaced "
                        "through the client's key. Restore it with "
                        f"playbooks/backup_key_restore.yml -e backup_key_restore_client={name}",
                    )
                )
            listed = listing.returncode in (0, 1)
            judged = self.judge(name, settings, ledger, current, now) if listed else None
            found += judged.findings if judged else []
            if listed and not key_changed:
                hidden = self.hidden(scan, ledger, current, repo)
                if isinstance(hidden, Failure):
                    result.update(status="failed", reason=hidden.reason)
                    return result
                found += hidden
            if found:
                return self.tampered(name, ledger, found, result, scan=scan)
            if judged is None:
                result.update(status="failed", reason=agent.Run.explain(listing, "borg list"))
                return result
            result["archives"] = len(current)
            for archive_id in judged.restored:  # back after a rollback: expected again
                ledger.entries[archive_id].state = "present"
                ledger.entries[archive_id].pruned_at = None
            ledger.record(judged.new, now)
            ledger.listed_at = now.isoformat()
            result["new"] = len(judged.new)
            if judged.unmanaged:
                result["unmanaged"] = judged.unmanaged
            job.log, job.current = log, current
            job.baseline = scan.get("since") is None
            ledger.key_sha256 = key_now or ledger.key_sha256
            failure = self.announce_clean(job) or self.maintain(job, prune)
            failure = self.move_mark(job, failure)
            ledger.save()  # the sightings stand: the check passed
        if failure is None:
            result.update(status="ok", archives=len(current) - len(result.get("pruned", [])))
        elif failure.findings:
            return self.tampered(name, ledger, failure.findings, result, what=failure.reason)
        else:
            result.update(status="failed", reason=failure.reason)
        return result

    def hidden(
        self,
        scan: dict[str, Any],
        ledger: archive_ledger.Ledger,
        current: dict[str, archive_ledger.Sighting],
        repo: dict[str, Any],
    ) -> list[archive_ledger.Finding] | Failure:
        """Archives a manifest committed since the mark listed and gone now (history.py)."""
        python = str(self.config.get("borg_python", "/usr/bin/python3"))
        try:
            return history.hidden_findings(scan, ledger, current, python, self.borg.env(repo))
        except history.HistoryError as exc:
            return Failure(str(exc))

    @staticmethod
    def announce_clean(job: ClientJob) -> Failure | None:
        """The check passed: the gate may move the mark past what the admin writes next."""
        try:
            if job.gate is not None:
                job.gate.clean()
        except gate.GateError as exc:
            return Failure(f"repository gate: {exc}; nothing was pruned or compacted")
        return None

    @staticmethod
    def move_mark(job: ClientJob, failure: Failure | None) -> Failure | None:
        """Everything written while the gate was closed was the admin's: the mark moves past it
        (also after a failed prune or compaction, whose writes are the admin's too). The
        repository server keeps the mark itself; the ledger's copy is for a local repository
        and for the report. Without an answer the copy stays as it was (never reset)."""
        ledger, result = job.ledger, job.result
        try:
            mark = job.gate.release() if job.gate is not None else None
        except gate.GateError as exc:
            reason = (
                f"repository gate: {exc}; the server settles the mark itself when the "
                "connection ends"
            )
            return failure or Failure(reason)
        ledger.segment_mark = mark.as_dict() if mark else None
        if mark is not None:
            result["segment_mark"] = ledger.segment_mark
        return failure

    def maintain(self, job: ClientJob, prune: bool) -> Failure | None:
        """After a passed check: compact what the previous run pruned, mark the rollback point,
        prune (compaction of that waits for the next run's check)."""
        if prune and job.ledger.compact_due and job.baseline:
            # No history judged yet on this repository: nothing is freed before a run has.
            job.result["compaction_deferred"] = "first look at the repository's history"
        elif prune and job.ledger.compact_due:
            failure = self.compact(job.repo, job.log, job.current, job.result)
            if failure is not None:
                return failure
            job.ledger.compact_due = False
        # Full precision: a rollback keeps exactly the segments written up to this moment.
        # Set again after a prune that went as planned (a rollback then keeps its deletes).
        job.ledger.verified_at = dt.datetime.now(self.tz).isoformat()
        job.result["verified_at"] = job.ledger.verified_at
        if not prune:
            return None
        failure = self.prune(job)
        if failure is None:
            job.ledger.verified_at = dt.datetime.now(self.tz).isoformat()
            job.result["verified_at"] = job.ledger.verified_at
        return failure

    def compact(
        self,
        repo: dict[str, Any],
        log: Any,
        current: dict[str, archive_ledger.Sighting],
        result: dict[str, Any],
    ) -> Failure | None:
        """Frees what the previous run pruned, now that this run's check confirmed the period
        since; a listing after it proves nothing else went (the client may write meanwhile)."""
        lock = ["--lock-wait", str(self.borg.lock_wait)]
        step = self.borg.run(["compact", "--log-json", *lock, repo["location"]], repo, log)
        result["compact_seconds"] = step.duration
        if step.returncode not in (0, 1):
            return Failure(agent.Run.explain(step, "borg compact"))
        result["compacted"] = True
        after, listing = self.list_archives(repo, log)
        if listing.returncode not in (0, 1):
            return Failure(agent.Run.explain(listing, "borg list after compact"))
        return self.vanished(current, after, set(), "during the compaction", "the compaction ran")

    @staticmethod
    def vanished(
        before: dict[str, archive_ledger.Sighting],
        after: dict[str, archive_ledger.Sighting],
        deleted: set[str],
        when: str,
        what: str,
    ) -> Failure | None:
        gone = [s for i, s in sorted(before.items()) if i not in after and i not in deleted]
        if not gone:
            return None
        return Failure(
            what,
            [
                archive_ledger.Finding(
                    "disappeared", s.name, f"deleted {when}, not by the admin", s.id
                )
                for s in gone
            ],
        )

    def prune(self, job: ClientJob) -> Failure | None:
        """Deletes, by name, the archives the ledger's times say retention no longer keeps; the
        names were checked against their ids in this run's listing. Compaction waits for the
        next run's check."""
        name, repo, log, ledger, result = job.name, job.repo, job.log, job.ledger, job.result
        plan = archive_ledger.prune_plan(
            ledger, name, job.settings["policies"], self.tz, DEFAULT_KEEP
        )
        doomed = [entry for entries in plan.values() for entry in entries]
        result["pruned"] = []
        if not doomed:
            return None
        lock = ["--lock-wait", str(self.borg.lock_wait)]
        for start in range(0, len(doomed), DELETE_BATCH):
            batch = [e.name for e in doomed[start : start + DELETE_BATCH]]
            step = self.borg.run(
                ["delete", "--log-json", *lock, repo["location"], *batch], repo, log
            )
            if step.returncode not in (0, 1):
                return Failure(agent.Run.explain(step, "borg delete (prune)"))
        after, listing = self.list_archives(repo, log)
        if listing.returncode not in (0, 1):
            return Failure(agent.Run.explain(listing, "borg list after prune"))
        deleted = {e.id for e in doomed if e.id not in after}
        ledger.mark_pruned(sorted(deleted), dt.datetime.now(self.tz))
        ledger.compact_due = ledger.compact_due or bool(deleted)
        result["pruned"] = sorted(ledger.entries[i].name for i in deleted)
        left = sorted(e.name for e in doomed if e.id in after)
        if left:
            return Failure(f"borg delete left {len(left)} archive(s) in place (first: {left[0]})")
        return self.vanished(
            job.current, after, deleted, "while the admin pruned", "the prune ran; no compaction"
        )

    def key_import(self, name: str, key_file: Path) -> dict[str, Any]:
        """Puts the escrowed repository key back (admin key, not append-only) after a client
        re-encrypted or replaced it, then proves the client's passphrase opens it again."""
        repo = self.config["clients"][name]["repository"]
        result: dict[str, Any] = {"client": name, "repository": repo["location"]}
        if not key_file.is_file():
            raise agent.ConfigError(f"{key_file}: no escrowed key file")
        with self.client_log(name) as log:
            lock = ["--lock-wait", str(self.borg.lock_wait)]
            step = self.borg.run(
                ["key", "import", "--log-json", *lock, repo["location"], str(key_file)], repo, log
            )
            if step.returncode not in (0, 1):
                result.update(status="failed", reason=agent.Run.explain(step, "borg key import"))
            else:
                current, listing = self.list_archives(repo, log)
                if listing.returncode not in (0, 1):
                    result.update(
                        status="failed",
                        reason="the key was imported but the repository still does not open: "
                        + agent.Run.explain(listing, "borg list"),
                    )
                else:
                    result.update(status="restored", archives=len(current))
        agent.audit("key-import", f"maintenance {name}", result["status"], key_file=str(key_file))
        return result

    def accept(self, name: str, reason: str) -> dict[str, Any]:
        """The repository as it is now becomes the baseline, after an admin investigated a
        finding (a backup run longer than the slack, a clock that jumped, archives given up)."""
        settings = self.config["clients"][name]
        repo = settings["repository"]
        ledger = self.ledger(name)
        result: dict[str, Any] = {"client": name, "repository": repo["location"]}
        try:  # accept is also the way out of a damaged mark: then the history starts anew
            since = segments.Mark.from_dict(ledger.segment_mark)
        except ValueError:
            since = None
        wait = float(self.config.get("gate_wait_seconds", gate.DEFAULT_GATE_WAIT))
        the_gate = gate.Gate(repo["location"], self.borg.rsh, since, wait)
        try:
            with the_gate as scan, self.client_log(name) as log:
                now = dt.datetime.now(self.tz)
                current = self.listed_or_failed(repo, log, result)
                if current is None:
                    return result
                judged = self.judge(name, settings, ledger, current, now)
                for archive_id, entry in ledger.present.items():
                    if archive_id not in current:
                        entry.state, entry.accepted = "given-up", reason
                for archive_id in judged.restored:
                    ledger.entries[archive_id].state = "present"
                ledger.record(judged.new, now, accepted=reason)
                ledger.listed_at = ledger.verified_at = now.isoformat()
                ledger.key_sha256 = scan.get("key_sha256") or ledger.key_sha256
                the_gate.clean()  # accepted: the mark moves to now
                mark = the_gate.release()
                ledger.segment_mark = mark.as_dict() if mark else None
                ledger.save()
        except gate.GateError as exc:
            result.update(status="failed", reason=f"repository gate: {exc}")
            return result
        findings = history.history_findings(scan, ledger) + judged.findings
        result.update(
            status="accepted",
            reason=reason,
            findings=[f.as_dict() for f in findings],
            archives=len(current),
            verified_at=ledger.verified_at,
        )
        agent.audit("tamper-accept", f"maintenance {name}", "accepted", reason=reason)
        return result

    def run(self, clients: list[str], prune: bool) -> tuple[int, dict[str, Any]]:
        started = agent.now_in(self.tz)
        results = [self.client(name, prune) for name in clients]
        tampered = [r for r in results if r["status"] == "tampered"]
        failed = [r for r in results if r["status"] == "failed"]
        report: dict[str, Any] = {
            "schema_version": 2,
            "kind": "maintenance_run" if prune else "tamper_check",
            "start": started.isoformat(),
            "end": agent.now_in(self.tz).isoformat(),
            "status": "tampered" if tampered else "failed" if failed else "ok",
            "clients": results,
        }
        if tampered or failed:
            bad = tampered + failed
            body = "\n\n".join(notice_text(r) for r in bad)
            report["notifications"] = agent.send_notifications(
                self.config.get("notify") or {},
                f"[SI CEKAT] {report['status'].upper()}: maintenance of "
                f"{', '.join(r['client'] for r in bad)}",
                body,
                {"status": report["status"], "clients": bad},
            )
        report_path = self.write_report(started, report)
        for result in results:  # the tamper check, prune and compact of each client
            agent.audit(
                "prune",
                f"maintenance {result.get('client')}",
                str(result.get("status")),
                report=str(report_path),
            )
        code = EXIT_TAMPERED if tampered else EXIT_FAILED if failed else EXIT_OK
        return code, report

    def write_report(self, started: dt.datetime, report: dict[str, Any]) -> Path:
        stamp = started.strftime("%Y-%m-%dT%H-%M-%S")
        report_path = self.state_dir / "runs" / f"{stamp}-{report['kind']}.json"
        agent.write_json_atomic(report_path, report)
        report["report_path"] = str(report_path)
        return report_path


@dataclass
class ClientJob:
    """One client's maintenance after its check passed."""

    name: str
    settings: dict[str, Any]
    repo: dict[str, Any]
    log: Any
    ledger: archive_ledger.Ledger
    current: dict[str, archive_ledger.Sighting]
    result: dict[str, Any]
    gate: gate.Gate | None = None
    baseline: bool = False  # the gate had no mark yet: the history was not judged


@dataclass
class Failure:
    reason: str
    findings: list[archive_ledger.Finding] = field(default_factory=list)


def notice_text(result: dict[str, Any]) -> str:
    lines = [f"{result['client']}: {result['status']} - {result.get('reason')}"]
    for finding in (result.get("findings") or [])[:20]:
        lines.append(f"  {finding['kind']}: {finding['archive']} - {finding['detail']}")
    more = len(result.get("findings") or []) - 20
    if more > 0:
        lines.append(f"  ... and {more} more (see the report)")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
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
    accept = sub.add_parser(
        "accept",
        help="after investigating a finding: the repository as it is now becomes the baseline",
    )
    accept.add_argument("--client", action="append", required=True)
    accept.add_argument("--reason", required=True, help="why (kept in the ledger and audit log)")
    accept.add_argument("--json", action="store_true", help="print the report as JSON")
    key_import = sub.add_parser(
        "key-import",
        help="after a key-changed finding: put the escrowed repository key back (admin key)",
    )
    key_import.add_argument("--client", action="append", required=True)
    key_import.add_argument("--key-file", type=Path, required=True, help="the escrowed key")
    key_import.add_argument("--json", action="store_true", help="print the report as JSON")
    # Incidents and the SOP's review, recorded on this host (its own timer runs the reminder):
    # the journal in <state_dir>/sop, the notify settings and time zone of --config.
    sop_commands().add_commands(sub, default_dir=None, default_config=None, default_zone=None)
    return parser


def sop_commands() -> Any:
    try:
        from bangka_ops.backup import sop  # noqa: PLC0415
    except ModuleNotFoundError:  # deployed beside sop.py
        import sop  # type: ignore[import-not-found, no-redef]  # noqa: PLC0415
    return sop


def dispatch(
    args: argparse.Namespace, config: dict[str, Any], clients: list[str]
) -> tuple[int, dict[str, Any]]:
    if args.command == "watchdog":
        # Imported here: freshness builds on this module (a top-level import would be circular).
        try:
            from bangka_ops.backup import freshness  # noqa: PLC0415
        except ModuleNotFoundError:  # deployed beside freshness.py
            import freshness  # type: ignore[import-not-found, no-redef]  # noqa: PLC0415
        return freshness.Watchdog(config).run(clients)
    if args.command in ("run", "check"):
        return Maintenance(config).run(clients, prune=args.command == "run")
    maintenance = Maintenance(config)
    started = agent.now_in(maintenance.tz)
    if args.command == "key-import":
        if len(clients) != 1:
            raise agent.ConfigError("key-import: one --client per escrowed key")
        results = [maintenance.key_import(clients[0], args.key_file)]
        code = EXIT_OK if results[0]["status"] == "restored" else EXIT_FAILED
    else:
        if not args.reason.strip():
            raise agent.ConfigError("--reason: say why the findings are accepted")
        results = [maintenance.accept(name, args.reason.strip()) for name in clients]
        code = EXIT_FAILED if any(r["status"] == "failed" for r in results) else EXIT_OK
    report: dict[str, Any] = {
        "schema_version": 2,
        "kind": args.command.replace("-", "_") if args.command != "accept" else "tamper_accept",
        "start": started.isoformat(),
        "clients": results,
    }
    maintenance.write_report(started, report)
    return code, report


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(args, "func"):  # insiden / sop: the journal under this host's state directory
        try:
            own = agent.read_json_object(args.config, ("state_dir",))
        except agent.ConfigError as exc:
            print(f"bangka-backup-maintenance: configuration error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        sop_commands().PROG = "bangka-backup-maintenance "  # in its messages
        args.dir = args.dir or Path(str(own["state_dir"])) / "sop"
        args.zona_waktu = args.zona_waktu or str(own.get("timezone") or "Asia/Jakarta")
        if hasattr(args, "konfigurasi"):
            args.konfigurasi = args.konfigurasi or args.config
        code: int = args.func(args)
        return code
    try:
        config = load_config(args.config)
        clients = args.client or sorted(config["clients"])
        unknown = sorted(set(clients) - set(config["clients"]))
        if unknown:
            raise agent.ConfigError(f"{args.config}: unknown client(s): {', '.join(unknown)}")
        code, report = dispatch(args, config, clients)
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
            if args.command == "accept":
                detail = f"{len(result.get('findings') or [])} finding(s) accepted"
            print(f"{result['client']}: {result['status']} ({detail})")
        print(f"report: {report['report_path']}")
    return code


if __name__ == "__main__":
    sys.exit(main())
