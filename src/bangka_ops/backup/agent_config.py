"""The on-host configuration of ``bangka-backup``, assembled on the controller.

The ``borg_agent`` role calls :func:`build` through its filter plugin and writes the result as
``/etc/bangka-backup/config.json``; :mod:`bangka_ops.backup.agent` reads it on the host.
Keeping the assembly here (not in Jinja) makes it testable and keeps the template trivial.
"""

from __future__ import annotations

from typing import Any

from bangka_ops.backup import schedule

POLICY_KEYS_FOR_HOST = (
    "category",
    "sources",
    "exclude_patterns",
    "compression",
    "one_file_system",
    "rpo_hours",
    "rto_hours",
    "pre_hooks",
    "post_hooks",
    "hook_timeout_seconds",
    "check_max_duration_seconds",
    "monthly_verify_scope",
    "offsite",
    "retention",
    "restore_test",
    "databases",
)
# What a restore host needs of each client's policy: what to judge (RPO/RTO) and how to sample.
# databases: a restore test loads the policy's dumps (and runs their smoke queries).
POLICY_KEYS_FOR_RESTORE = ("category", "sources", "rpo_hours", "rto_hours", "restore_test",
                           "databases")  # fmt: skip


def build(host: str, policies: list[dict[str, Any]], settings: dict[str, Any]) -> dict[str, Any]:
    runs = schedule.plan(
        host,
        policies,
        settings.get("min_window_minutes"),
        int(settings.get("randomized_delay_minutes", 10)),
    )
    host_policies: dict[str, Any] = {}
    for policy in policies:
        entry = {k: policy[k] for k in POLICY_KEYS_FOR_HOST if policy.get(k) is not None}
        cycles: dict[str, Any] = {}
        for run in runs:
            if run["policy"] != policy["name"]:
                continue
            cycles[run["cycle"]] = {
                k: run[k] for k in ("weekday", "day", "hour", "minute") if run[k] is not None
            }
        entry["cycles"] = cycles
        entry["timezone"] = (policy.get("window") or {}).get("timezone", "Asia/Jakarta")
        host_policies[policy["name"]] = entry
    config: dict[str, Any] = {
        "schema_version": 1,
        "host": host,
        "timezone": settings.get("timezone", "Asia/Jakarta"),
        "records_dir": settings["records_dir"],
        "state_dir": settings["state_dir"],
        "lock_wait_seconds": int(settings.get("lock_wait_seconds", 600)),
        "repository": settings["repository"],
        "policies": host_policies,
    }
    for optional in ("offsite_repository", "ssh", "notify"):
        if settings.get(optional):
            config[optional] = settings[optional]
    return config


def build_admin(clients: list[dict[str, Any]], settings: dict[str, Any]) -> dict[str, Any]:
    """Configuration of ``bangka-backup-maintenance`` on the admin host.

    ``clients``: ``{name, repository, policies}`` per agent (its inventory name, the repository
    location the agent uses, and its ``borg_agent_policies``); see :func:`client_repository`.
    """
    config_clients: dict[str, Any] = {}
    for client in clients:
        policies = {
            policy["name"]: {
                "cycles": sorted(policy.get("cycles") or {}, key=schedule.CYCLES.index),
                "retention": policy.get("retention") or {},
                "category": policy.get("category", "standard"),
                "rpo_hours": policy.get("rpo_hours"),
            }
            for policy in client["policies"]
        }
        config_clients[client["name"]] = {
            "repository": client_repository(client, settings),
            "policies": policies,
        }
        if client.get("storage_quota"):  # borg_agent_storage_quota, from the inventory
            config_clients[client["name"]]["storage_quota"] = str(client["storage_quota"])
    config: dict[str, Any] = {
        "schema_version": 1,
        "timezone": settings.get("timezone", "Asia/Jakarta"),
        "state_dir": settings["state_dir"],
        "lock_wait_seconds": int(settings.get("lock_wait_seconds", 600)),
        "clients": config_clients,
    }
    for optional in ("ssh", "notify", "watchdog_grace_hours"):
        if settings.get(optional):
            config[optional] = settings[optional]
    tamper = settings.get("tamper") or {}
    for key, value in tamper.items():
        try:
            config.setdefault("tamper", {})[key] = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"borg_admin_tamper_{key}: expected a number, got {value!r}") from None
    for key, value in (settings.get("capacity") or {}).items():
        try:
            config.setdefault("capacity", {})[key] = float(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"borg_admin_capacity_{key}: expected a number, got {value!r}"
            ) from None
    return config


def client_repository(client: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Where an admin or restore host reaches a client's repository, and the passphrase file
    (named after the client). With ``settings["server"]`` (user, address, port, repos_dir) the
    host uses the server address it knows, whatever the agent uses."""
    server = settings.get("server") or {}
    location = client.get("repository") or ""
    if not server and not location:
        raise ValueError(
            f"{client['name']}: no repository server and no repository location (set "
            f"borg_agent_repository for {client['name']} in the inventory)"
        )
    if server:
        location = (
            f"ssh://{server['user']}@{server['address']}:{server['port']}"
            f"{server['repos_dir']}/{client['name']}"
        )
    return {
        "location": location,
        "passphrase_file": f"{settings['secrets_dir']}/{client['name']}.pass",
    }


def build_restore(
    host: str, clients: list[dict[str, Any]], settings: dict[str, Any]
) -> dict[str, Any]:
    """Configuration of ``bangka-backup-restore-test`` / ``bangka-backup-restore`` on a restore
    host: every client's repository (reached with the restore host's append-only key) and the
    policy facts a restore test judges by."""
    defaults = settings.get("restore_test") or {}
    config_clients: dict[str, Any] = {}
    for client in clients:
        policies = {}
        for policy in client["policies"]:
            entry = {k: policy[k] for k in POLICY_KEYS_FOR_RESTORE if policy.get(k) is not None}
            entry["restore_test"] = {**defaults, **(policy.get("restore_test") or {})}
            policies[policy["name"]] = entry
        config_clients[client["name"]] = {
            "repository": client_repository(client, settings),
            "policies": policies,
        }
    config: dict[str, Any] = {
        "schema_version": 1,
        "host": host,
        "timezone": settings.get("timezone", "Asia/Jakarta"),
        "records_dir": settings["records_dir"],
        "state_dir": settings["state_dir"],
        "lock_wait_seconds": int(settings.get("lock_wait_seconds", 600)),
        "clients": config_clients,
    }
    for optional in ("ssh", "notify", "scratch_dir", "database_restore"):
        if settings.get(optional):
            config[optional] = settings[optional]
    return config
