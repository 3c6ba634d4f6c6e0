"""Filters of the admin_access and agenda_sync roles (agenda_sync links to this file). The logic
lives, and is tested, in the bangka_ops package on the controller (scripts/setup.sh)."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

try:
    from bangka_ops.access import model, totp
except ImportError as exc:  # pragma: no cover - depends on the controller's environment
    raise AnsibleFilterError(
        "the admin_access role needs the bangka_ops package on the controller: "
        "run scripts/setup.sh and use .venv/bin/ansible-playbook"
    ) from exc


def access_errors(people: Any) -> list[str]:
    return model.errors(people)


def access_accounts(
    people: list[dict[str, Any]], host: str, groups: list[str]
) -> list[dict[str, Any]]:
    return model.accounts(people, host, groups)


def access_signers(people: list[dict[str, Any]]) -> list[dict[str, str]]:
    return model.allowed_signers(people)


def access_emails(people: list[dict[str, Any]], roles: list[str]) -> list[str]:
    return model.emails_with(people, roles)


def totp_pam_file(secret: str) -> str:
    return totp.pam_file(str(secret).strip())


def totp_pam_file_is_current(current: str, secret: str) -> bool:
    return totp.pam_file_is_current(str(current), str(secret))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "bangka_access_errors": access_errors,
            "bangka_access_accounts": access_accounts,
            "bangka_access_signers": access_signers,
            "bangka_access_emails": access_emails,
            "bangka_totp_pam_file": totp_pam_file,
            "bangka_totp_pam_file_is_current": totp_pam_file_is_current,
        }
