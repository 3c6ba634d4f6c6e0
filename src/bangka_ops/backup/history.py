"""The repository's own history as the admin judges it (SI CEKAT), from what the gate read.

``gate.py`` (on the repository server) hands the admin, per client, every transaction
committed since the mark (``segments.py``): which deleted or overwrote objects, and each one's
encrypted manifest. Here, on the admin host:

* :func:`history_findings`: a transaction that deleted or overwrote an object (no backup does)
  is ``deleted``/``overwritten``, naming the archives the admin knew among its objects;
* :func:`hidden_findings`: the manifests, read with the admin's key (``manifests.py``, Borg's
  own code), list every archive that existed at any commit since the mark; one gone now is
  ``hidden`` (dropped from the manifest, or renamed out of ``borg list``'s sight) or, when the
  history holds its delete, ``deleted`` by name.

Each finding says where to roll back to. Standard library only; deployed beside
maintenance.py by the borg_admin role.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

try:
    from bangka_ops.backup import archive_ledger
except ModuleNotFoundError:  # deployed as /usr/local/lib/bangka-backup/history.py
    import archive_ledger  # type: ignore[import-not-found, no-redef]

ROLLBACK_POINT = re.compile(r"Roll back to ([0-9]\S+) to bring")  # in deleted/hidden findings


class HistoryError(RuntimeError):
    """The manifests could not be read (the message says why)."""


def rollback_points(findings: list[archive_ledger.Finding]) -> list[str]:
    """The rollback times the findings name."""
    return [m[1] for f in findings if (m := ROLLBACK_POINT.search(f.detail))]


def history_findings(
    history: dict[str, Any], ledger: archive_ledger.Ledger
) -> list[archive_ledger.Finding]:
    """The repository's own evidence: every transaction since the admin's mark that deleted or
    overwrote objects (only a delete, prune or hand-made client does that; see segments.py)."""
    found = []
    for item in history.get("suspicious") or []:
        if not isinstance(item, dict):
            continue
        ids = [*item.get("deleted_ids", []), *item.get("overwritten_ids", [])]
        known = sorted({ledger.entries[i].name for i in ids if i in ledger.entries})
        deleted, overwritten = int(item.get("deleted", 0)), int(item.get("overwritten", 0))
        what = ", ".join(
            text
            for count, text in (
                (deleted, f"deleted {deleted} object(s)"),
                (overwritten, f"overwrote {overwritten} object(s)"),
            )
            if count
        )
        found.append(
            archive_ledger.Finding(
                "deleted" if deleted else "overwritten",
                ", ".join(known) or "(archives made after the admin's last check)",
                f"the repository's transaction committed at {item.get('committed_at')} "
                f"(segments {item.get('first_segment')}-{item.get('commit_segment')}) {what}, "
                "not by the admin"
                + (f"; among them the archive(s) {', '.join(known)}" if known else "")
                + f". Roll back to {history.get('rollback_to')} to bring them back",
            )
        )
    return found


def hidden_findings(
    history: dict[str, Any],
    ledger: archive_ledger.Ledger,
    current: dict[str, archive_ledger.Sighting],
    python: str,
    env: dict[str, str],
) -> list[archive_ledger.Finding]:
    """Archives a manifest committed since the mark listed, gone from the repository now
    without a delete (dropped from the manifest, or renamed out of ``borg list``'s sight);
    the admin's key reads the manifests (manifests.py)."""
    manifests = history.get("manifests") or []
    if history.get("manifests_left_out"):
        return [
            archive_ledger.Finding(
                "burst",
                "(repository history)",
                f"more transactions since the last check than the admin reads at once "
                f"({history.get('transactions')}): roll back, or accept after investigating",
            )
        ]
    if not manifests:
        return []
    helper = Path(__file__).resolve().with_name("manifests.py")  # beside the real file
    request = {
        "key": history.get("key_blob"),
        "repository_id": history.get("repository_id"),
        "manifests": [m.get("data") for m in manifests],
    }
    try:
        proc = subprocess.run(
            [python, "-Es", str(helper)],
            input=json.dumps(request),
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        decoded = json.loads(proc.stdout)["manifests"] if proc.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError, TypeError) as exc:
        raise HistoryError(f"reading the repository's manifests: {exc}") from None
    except RecursionError:
        raise HistoryError("reading the repository's manifests: nested too deeply") from None
    if not isinstance(decoded, list) or len(decoded) != len(manifests):
        raise HistoryError(
            "reading the repository's manifests: " + (proc.stderr.strip()[-300:] or "no answer")
        )
    seen: dict[str, tuple[str, str]] = {}  # archive id -> (name, last manifest listing it)
    for meta, listed in zip(manifests, decoded, strict=True):
        for archive_name, archive_id in dict(listed).items():
            seen[str(archive_id)] = (str(archive_name), str(meta.get("committed_at")))
    deleted = {i for t in history.get("suspicious") or [] for i in t.get("deleted_ids") or []}
    found = []
    for archive_id, (archive_name, at) in sorted(seen.items(), key=lambda i: i[1][1]):
        if archive_id in current or archive_id in ledger.entries:
            continue
        if archive_id in deleted:  # the history's delete, now with the archive's name
            found.append(
                archive_ledger.Finding(
                    "deleted",
                    archive_name,
                    f"made after the admin's last check (listed by the repository's "
                    f"manifest committed at {at}) and deleted since, not by the admin. "
                    f"Roll back to {history.get('rollback_to')} to bring it back",
                    archive_id,
                )
            )
            continue
        found.append(
            archive_ledger.Finding(
                "hidden",
                archive_name,
                f"listed by the repository's manifest committed at {at}, not in the "
                "repository now: dropped from the manifest or renamed out of sight, without "
                f"a delete. Roll back to {at} to bring it back",
                archive_id,
            )
        )
    return found
