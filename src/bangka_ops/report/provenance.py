"""Which archives a client made, as far as the admin host knows: its collected run records.

A restore host reads every client's repository with its own key, and Borg cannot tell which key
wrote an archive. What the admin host does know is what each client's own run records (collected
into ``<collected>/<client>/``, as data attributed to the host whose package carried them) say
it created. Restore tests and emergency restores choose among those archives only; an archive in
the repository that no record of the client announces (planted by another key, or by the client
outside its wrapper) is flagged instead of restored.

``cekat known-archives <collected> --client C [--client D ...] [--out-dir DIR]`` writes, per
client, ``{"client": C, "generated": time, "policies": {policy: [archive, ...]},
"first_seen": {archive: time}, "marked": {archive: [failed dump, ...]}}`` (first_seen from the
admin's ledger, when collected; marked: the run failed a database dump);
``playbooks/collect_records.yml`` writes it to each
restore host after every collection (``<state_dir>/known-archives/<client>.json``), where
``bangka-backup-restore-test`` and ``bangka-backup-restore`` read it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from bangka_ops.backup import agent
from bangka_ops.report import ingest, ledger

ADMIN_LEDGERS = Path("_admin") / "clients"


def created(record: dict[str, Any], client: str) -> tuple[str, str] | None:
    """(policy, archive) when the record is the client's own and says Borg created the archive
    (``borg create`` finished with exit code 0 or 1), else None."""
    if record.get("kind") != "backup_run" or record.get("host") != client:
        return None
    policy, archive = record.get("policy"), record.get("archive")
    if not isinstance(policy, str) or not isinstance(archive, str):
        return None
    steps = record.get("steps")
    create = steps.get("create") if isinstance(steps, dict) else None
    if not isinstance(create, dict) or create.get("exit_code") not in (0, 1):
        return None
    parsed = agent.parse_archive_name(archive)  # {host}-{policy}-{cycle}-{time}
    if not parsed or (parsed["host"], parsed["policy"]) != (client, policy):
        return None  # a name of another host or policy is not its own
    return policy, archive


def known_archives(root: Path, client: str) -> tuple[dict[str, Any], list[ingest.Problem]]:
    host_dir = root / client
    policies: dict[str, set[str]] = {}
    marked: dict[str, list[str]] = {}
    problems: list[ingest.Problem] = []

    def take(record: dict[str, Any]) -> None:
        found = created(record, client)
        if found:
            policies.setdefault(found[0], set()).add(found[1])
            failed = record.get("database_dumps_failed")
            if isinstance(failed, list) and failed:
                marked[found[1]] = [str(name)[:200] for name in failed][:50]

    if host_dir.is_dir() and not host_dir.is_symlink():
        for path in ledger.ledger_files(host_dir):
            for line in ledger.read_lines(path):
                if isinstance(line, ingest.Problem):
                    problems.append(line)
                else:
                    take(line.record)
        for folder, names in ingest.walk(host_dir):
            parts = folder.relative_to(host_dir).parts
            if not parts or parts[0] != "records" or set(parts) & set(ingest.OTHER_DIRS):
                continue
            for name in names:
                loaded = ingest.read(folder / name)
                if isinstance(loaded, ingest.Problem):
                    problems.append(loaded)
                else:
                    take(loaded)
    announced = {name for names in policies.values() for name in names}
    first_seen = admin_first_seen(root, client, announced, problems)
    return (
        {
            "client": client,
            # The restore host tells "never announced" from "not collected yet" by this time.
            "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "policies": {policy: sorted(names) for policy, names in sorted(policies.items())},
            # When the admin first saw each archive: a restore test judges the RPO on it, so an
            # archive cannot look newer than it is (an archive's own time is the client's word).
            "first_seen": first_seen,
            # Archives whose run failed a database dump: restore tests and emergency restores
            # skip them unless told (append-only keeps them in the repository).
            "marked": dict(sorted(marked.items())),
        },
        problems,
    )


def admin_first_seen(
    root: Path, client: str, announced: set[str], problems: list[ingest.Problem]
) -> dict[str, str]:
    """``<collected>/_admin/clients/<client>.json`` (the admin's archive ledger, brought by
    collect_records.yml): the first sighting of each announced archive still present."""
    path = root / ADMIN_LEDGERS / f"{client}.json"
    if not path.is_file() or path.is_symlink():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data["archives"] if isinstance(data, dict) else None
        if not isinstance(entries, dict):
            raise ValueError("archives: expected an object of archive id -> entry")
        found: dict[str, str] = {}
        for archive_id, entry in entries.items():
            name, seen = entry.get("name"), entry.get("first_seen")
            if not isinstance(name, str) or not isinstance(seen, str):
                raise ValueError(f"archives.{archive_id}: needs a name and a first_seen")
            dt.datetime.fromisoformat(seen)
            if name in announced and entry.get("state", "present") == "present":
                found[name] = min(seen, found.get(name, seen), key=dt.datetime.fromisoformat)
    except (OSError, ValueError, AttributeError) as exc:
        problems.append(ingest.Problem(path, f"the admin's ledger is not usable: {exc}"))
        return {}
    except RecursionError:
        problems.append(ingest.Problem(path, "the admin's ledger is not usable: nested too deeply"))
        return {}
    return dict(sorted(found.items()))
