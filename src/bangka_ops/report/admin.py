"""The admin host's tamper verdicts, as the checklist shows them.

``bangka-backup-maintenance run|check|accept`` writes one report per run on the admin host
(``<state_dir>/runs/<YYYY-MM-DDTHH-MM-SS>-<kind>.json``); ``playbooks/collect_records.yml``
copies the newest few of kinds ``maintenance_run``, ``tamper_check`` and ``tamper_accept`` into
``<collected>/_admin/runs/``. That directory is the admin's: its name starts with ``_``, which no
inventory host name does (:data:`bangka_ops.report.intake.HOST_NAME`), so no agent's package can
be stored there, and the checklist never reads it as a host's directory.

Per client, the reports are read in time order (up to the moment the checklist judges at):

* ``ok`` (a check that passed) or ``accepted`` (an admin accepted the repository as it is)
  clears everything before it;
* ``tampered`` makes the client tampered, with that report's findings;
* ``failed`` (the run could not finish: a repository that cannot be listed, a failed prune) is a
  maintenance problem; it does **not** clear an earlier ``tampered`` (the check that would have
  found the repository clean may not have run).

The admin host is trusted, but its files are still read defensively: a report that is not JSON,
not of a known schema or with a field of the wrong type is a :class:`~ingest.Problem` naming the
file, and nothing of it is used.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bangka_ops.report import ingest

ADMIN_DIR = "_admin"
RUNS_DIR = "runs"
# A collected directory whose name starts with this is not a host's (host names cannot).
RESERVED_PREFIX = "_"
KINDS = ("maintenance_run", "tamper_check", "tamper_accept")
NAME = re.compile(
    r"^(?P<stamp>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}-[0-9]{2}-[0-9]{2})-(?P<kind>[a-z_]+)\.json$"
)
STATUSES = {
    "maintenance_run": ("ok", "tampered", "failed"),
    "tamper_check": ("ok", "tampered", "failed"),
    "tamper_accept": ("accepted", "failed"),
}


def is_reserved(name: str) -> bool:
    """True for a collected directory that is not a host's (the admin's own)."""
    return name.startswith(RESERVED_PREFIX)


@dataclass(frozen=True)
class Finding:
    kind: str
    archive: str
    detail: str
    id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data = {"kind": self.kind, "archive": self.archive, "detail": self.detail}
        if self.id is not None:
            data["id"] = self.id
        return data


@dataclass(frozen=True)
class Entry:
    """One client's result in one admin report."""

    client: str
    status: str
    kind: str
    start: dt.datetime
    report: str
    reason: str | None
    findings: tuple[Finding, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "kind": self.kind,
            "start": self.start.isoformat(),
            "report": self.report,
            "reason": self.reason,
            "findings": [f.as_dict() for f in self.findings],
        }


@dataclass
class Verdict:
    """A client's latest admin verdict: ``tampered``, ``failed``, ``ok`` or ``accepted``."""

    host: str
    last: Entry
    tampered: Entry | None = None
    failed: Entry | None = None

    @property
    def status(self) -> str:
        if self.tampered is not None:
            return "tampered"
        if self.failed is not None:
            return "failed"
        return self.last.status

    def add(self, entry: Entry) -> None:
        self.last = entry
        if entry.status == "tampered":
            self.tampered, self.failed = entry, None
        elif entry.status == "failed":
            self.failed = entry
        else:  # ok, accepted: the repository is verified (or taken as it is) from now on
            self.tampered = self.failed = None

    def summary(self) -> str:
        """One line for a row's remarks: the verdict and what was found."""
        if self.tampered is not None:
            found = self.tampered.findings
            shown = "; ".join(f"{f.kind} {f.archive}" for f in found[:5])
            more = f"; +{len(found) - 5} more" if len(found) > 5 else ""
            return (
                f"admin tamper check: TAMPERED ({self.tampered.kind} "
                f"{self.tampered.start.isoformat()}, {len(found)} finding(s): {shown}{more})"
            )
        if self.failed is not None:
            return (
                f"admin maintenance failed ({self.failed.kind} {self.failed.start.isoformat()}): "
                f"{self.failed.reason or 'no reason given'}"
            )
        return f"admin: {self.last.status} ({self.last.kind} {self.last.start.isoformat()})"

    def as_dict(self) -> dict[str, Any]:
        current = self.tampered or self.failed or self.last
        data: dict[str, Any] = {
            "host": self.host,
            "status": self.status,
            "kind": current.kind,
            "start": current.start.isoformat(),
            "report": current.report,
            "reason": current.reason,
            "findings": [f.as_dict() for f in current.findings]
            if current.status == "tampered"
            else [],
            "latest_report": self.last.report,
            "latest_status": self.last.status,
        }
        if self.failed is not None and self.tampered is not None:
            data["failed_since"] = self.failed.as_dict()
        return data


def admin_dir(root: Path, single_host: bool) -> Path:
    """Where the admin's reports are: beside the host directory when ``root`` is one."""
    return (root.parent if single_host else root) / ADMIN_DIR / RUNS_DIR


def required(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: expected a string")
    return value


def optional(value: Any, where: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{where}: expected a string")
    return value


def findings_of(client: dict[str, Any], schema: int, where: str) -> tuple[Finding, ...]:
    if schema == 1:  # no findings yet: the archives gone were listed as ``missing``
        missing = client.get("missing", [])
        if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
            raise ValueError(f"{where}.missing: expected a list of archive names")
        return tuple(
            Finding("disappeared", name, "gone from the repository (schema 1 report)")
            for name in missing
        )
    raw = client.get("findings", [])
    if not isinstance(raw, list):
        raise ValueError(f"{where}.findings: expected a list")
    found = []
    for number, item in enumerate(raw):
        at = f"{where}.findings[{number}]"
        if not isinstance(item, dict):
            raise ValueError(f"{at}: expected an object")
        found.append(
            Finding(
                required(item.get("kind"), f"{at}.kind"),
                required(item.get("archive"), f"{at}.archive"),
                optional(item.get("detail"), f"{at}.detail") or "",
                optional(item.get("id"), f"{at}.id"),
            )
        )
    return tuple(found)


def parse(value: dict[str, Any], kind: str, path: Path) -> list[Entry]:
    """The clients' entries of one report; ValueError names what is wrong."""
    schema = value.get("schema_version")
    if type(schema) is not int or schema not in (1, 2):
        raise ValueError(f"schema_version: {schema!r} is not 1 or 2")
    if value.get("kind") != kind:
        raise ValueError(f"kind: {value.get('kind')!r}, but the file name says {kind!r}")
    if schema == 1 and kind == "tamper_accept":
        raise ValueError("kind: tamper_accept reports have schema_version 2")
    start = ingest.timestamp(value.get("start"), "start")
    clients = value.get("clients")
    if not isinstance(clients, list):
        raise ValueError("clients: expected a list")
    entries = []
    for number, client in enumerate(clients):
        where = f"clients[{number}]"
        if not isinstance(client, dict):
            raise ValueError(f"{where}: expected an object")
        name = required(client.get("client"), f"{where}.client")
        status = client.get("status")
        if status not in STATUSES[kind]:
            raise ValueError(
                f"{where}.status: {status!r} is not one of {', '.join(STATUSES[kind])}"
            )
        reason = optional(client.get("reason"), f"{where}.reason")
        found = findings_of(client, schema, where) if status != "ok" else ()
        entries.append(Entry(name, str(status), kind, start, str(path), reason, found))
    return entries


def read(
    root: Path, single_host: bool, now: dt.datetime, problems: list[ingest.Problem]
) -> dict[str, Verdict]:
    """Every client's latest verdict from the admin's reports under the collection ``root``,
    counting only reports that started by ``now``. No reports: an empty mapping (unknown)."""
    folder = admin_dir(root, single_host)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        problems.append(ingest.Problem(folder, f"cannot read: {exc.strerror or exc}"))
        return {}
    found: list[Entry] = []
    for entry in entries:
        if entry.name.startswith("."):
            continue  # a writer's temporary file
        path = Path(entry.path)
        match = NAME.match(entry.name)
        if match is None or match["kind"] not in KINDS:
            problems.append(
                ingest.Problem(
                    path,
                    "not an admin report (<YYYY-MM-DDTHH-MM-SS>-<kind>.json, kind one of "
                    f"{', '.join(KINDS)}): not used",
                )
            )
            continue
        if not entry.is_file(follow_symlinks=False):
            problems.append(ingest.Problem(path, "not a regular file: not used"))
            continue
        loaded = ingest.read(path)
        if isinstance(loaded, ingest.Problem):
            problems.append(
                ingest.Problem(path, f"admin report: {loaded.message}: not used", loaded.line)
            )
            continue
        try:
            found.extend(parse(loaded, match["kind"], path))
        except (ValueError, TypeError) as exc:
            problems.append(ingest.Problem(path, f"admin report: {exc}: not used"))
    found.sort(key=lambda e: (e.start, e.report))
    verdicts: dict[str, Verdict] = {}
    for item in found:
        if item.start > now:
            continue  # after the moment judged (--as-of)
        verdict = verdicts.get(item.client)
        if verdict is None:
            verdict = verdicts[item.client] = Verdict(item.client, item)
        verdict.add(item)
    return verdicts
