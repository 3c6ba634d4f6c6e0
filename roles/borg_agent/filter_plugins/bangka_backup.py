"""Filters of the borg_agent, borg_admin and borg_restore_test roles (one file; the others link
to borg_agent's). The logic lives, and is tested, in the bangka_ops package, which
scripts/setup.sh installs in the controller's virtual environment."""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

try:
    from bangka_ops.backup import agent_config, schedule
except ImportError as exc:  # pragma: no cover - depends on the controller's environment
    raise AnsibleFilterError(
        "the borg_agent role needs the bangka_ops package on the controller: "
        "run scripts/setup.sh and use .venv/bin/ansible-playbook"
    ) from exc


def schedule_errors(
    host: str, policies: list[dict[str, Any]], settings: dict[str, Any]
) -> list[str]:
    """Every problem of the policies' windows and cycles, as messages (empty when fine)."""
    errors = []
    for policy in policies:
        try:
            schedule.plan(
                host,
                [policy],
                settings.get("min_window_minutes"),
                int(settings.get("randomized_delay_minutes", 10)),
            )
        except schedule.ScheduleError as exc:
            errors.append(str(exc))
    return errors


def agent_plan(
    host: str, policies: list[dict[str, Any]], settings: dict[str, Any]
) -> list[dict[str, Any]]:
    try:
        return schedule.plan(
            host,
            policies,
            settings.get("min_window_minutes"),
            int(settings.get("randomized_delay_minutes", 10)),
        )
    except schedule.ScheduleError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def host_clock(run: dict[str, Any], utc_offset: str) -> dict[str, int]:
    return schedule.to_host_clock(run, utc_offset)


def agent_configuration(
    host: str, policies: list[dict[str, Any]], settings: dict[str, Any]
) -> dict[str, Any]:
    try:
        return agent_config.build(host, policies, settings)
    except schedule.ScheduleError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def admin_configuration(clients: list[dict[str, Any]], settings: dict[str, Any]) -> dict[str, Any]:
    return agent_config.build_admin(clients, settings)


def restore_configuration(
    clients: list[dict[str, Any]], host: str, settings: dict[str, Any]
) -> dict[str, Any]:
    return agent_config.build_restore(host, clients, settings)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "bangka_backup_schedule_errors": schedule_errors,
            "bangka_backup_schedule": agent_plan,
            "bangka_backup_host_clock": host_clock,
            "bangka_backup_agent_config": agent_configuration,
            "bangka_backup_admin_config": admin_configuration,
            "bangka_backup_restore_config": restore_configuration,
        }
