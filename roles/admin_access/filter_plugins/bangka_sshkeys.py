"""The public-key check of every role that writes authorized_keys (admin_access; borg_server links
to this file). The logic lives, and is tested, in bangka_ops.access.sshkeys on the controller
(scripts/setup.sh)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

try:
    from bangka_ops.access import sshkeys
except ImportError as exc:  # pragma: no cover - depends on the controller's environment
    raise AnsibleFilterError(
        "this role needs the bangka_ops package on the controller: "
        "run scripts/setup.sh and use .venv/bin/ansible-playbook"
    ) from exc


def ssh_key_problem(key: Any) -> str:
    """Why the key is not one plain OpenSSH public key line; empty when it is."""
    return sshkeys.problem(key) or ""


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "bangka_ssh_key_problem": ssh_key_problem,
        }
