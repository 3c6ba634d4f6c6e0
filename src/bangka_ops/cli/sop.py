"""``cekat insiden …`` and ``cekat sop …``: incidents and the SOP's review cycle, defined in
:mod:`bangka_ops.backup.sop` (the admin host's ``bangka-backup-maintenance`` has the same
commands)."""

from __future__ import annotations

from typing import Any

from bangka_ops.backup import sop


def add_parser(sub: Any) -> None:
    sop.add_commands(sub)
