"""Which archives a client made, as far as the admin host knows: its collected run records.

A restore host reads every client's repository with its own key, and Borg cannot tell which key
wrote an archive. What the admin host does know is what each client's own run records (collected
into ``<collected>/<client>/``, as data attributed to the host whose package carried them) say
it created. Restore tests and emergency restores choose among those archives only; an archive in
the repository that no record of the client announces (planted by another key, or by the client
outside its wrapper) is flagged instead of restored.

``cekat known-archives <collected> --client C [--client D ...] [--out-dir DIR]`` writes, per
client, ``{"client": C, "generated": time,
"policies": {policy: [archive, ...]}}``; ``playbooks/collect_records.yml`` writes it to each
restore host after every collection (``<state_dir>/known-archives/<client>.json``), where
``bangka-backup-restore-test`` and ``bangka-backup-restore`` read it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from bangka_ops.backup import agent
from bangka_ops.report import ingest, ledger


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
    problems: list[ingest.Problem] = []

    def take(record: dict[str, Any]) -> None:
        found = created(record, client)
        if found:
            policies.setdefault(found[0], set()).add(found[1])

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
    return (
        {
            "client": client,
            # The restore host tells "never announced" from "not collected yet" by this time.
            "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "policies": {policy: sorted(names) for policy, names in sorted(policies.items())},
        },
        problems,
    )
