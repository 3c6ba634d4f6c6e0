"""Filters of the arsip role. The logic lives, and is tested, in the bangka_ops package on the
controller (scripts/setup.sh)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

try:
    from bangka_ops.arsip.web import users
except ImportError as exc:  # pragma: no cover - depends on the controller's environment
    raise AnsibleFilterError(
        "the arsip role needs the bangka_ops package on the controller: "
        "run scripts/setup.sh and use .venv/bin/ansible-playbook"
    ) from exc


def arsip_users(people: list[dict[str, Any]], passwords: dict[str, str]) -> dict[str, Any]:
    """{"file": the search page's users file, "missing": archive people without a hash,
    "problems": entries left out of the file, each named (the role fails after writing it)}."""
    try:
        data, missing, problems = users.from_access(people, passwords)
    except users.UsersError as exc:
        raise AnsibleFilterError(str(exc)) from None
    return {"file": data, "missing": missing, "problems": problems}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"bangka_arsip_users": arsip_users}
