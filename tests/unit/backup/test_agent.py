from __future__ import annotations

import datetime as dt
import json

import pytest

from bangka_ops.backup import agent, agent_config


def test_archive_names_parse_back_even_when_the_host_has_dashes() -> None:
    when = dt.datetime(2025, 5, 12, 2, 13, 0)
    name = agent.archive_name("srv-dinkes-01", "db_pegawai", "weekly", when)
    assert name == "srv-dinkes-01-db_pegawai-weekly-2025-05-12T02-13-00"
    assert agent.parse_archive_name(name) == {
        "host": "srv-dinkes-01",
        "policy": "db_pegawai",
        "cycle": "weekly",
        "timestamp": "2025-05-12T02-13-00",
    }


@pytest.mark.parametrize(
    "name",
    ["manual-backup", "web01-docs-hourly-2025-05-12T02-13-00", "a-b-daily-2025-13-40T02-13-00"],
)
def test_foreign_archive_names_are_not_parsed(name: str) -> None:
    assert agent.parse_archive_name(name) is None


@pytest.mark.parametrize(
    ("day", "cycle", "expected"),
    [
        (dt.date(2025, 6, 1), "daily", "monthly"),  # a Sunday and the 1st: monthly wins
        (dt.date(2025, 6, 1), "weekly", "monthly"),
        (dt.date(2025, 6, 8), "daily", "weekly"),  # a Sunday
        (dt.date(2025, 6, 8), "weekly", None),
        (dt.date(2025, 7, 1), "daily", "monthly"),  # a Tuesday and the 1st
        (dt.date(2025, 7, 2), "daily", None),
        (dt.date(2025, 6, 1), "monthly", None),
    ],
)
def test_the_largest_cycle_of_the_day_covers_the_smaller(
    day: dt.date, cycle: str, expected: str | None
) -> None:
    policy = {"cycles": {"daily": {}, "weekly": {"weekday": 7}, "monthly": {"day": 1}}}
    assert agent.covering_cycle(policy, cycle, day) == expected


def test_daily_only_policy_is_never_covered() -> None:
    assert agent.covering_cycle({"cycles": {"daily": {}}}, "daily", dt.date(2025, 6, 1)) is None


def test_the_controller_built_configuration_is_what_the_wrapper_accepts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    policies = [
        {
            "name": "dokumen",
            "category": "critical",
            "sources": ["/srv/dokumen"],
            "rpo_hours": 24,
            "rto_hours": 4,
            "window": {"start": "23:30", "end": "05:30", "timezone": "Asia/Jakarta"},
            "cycles": {"daily": {}, "weekly": {"weekday": 6}, "monthly": {"day": 2}},
        }
    ]
    settings = {
        "records_dir": "/var/lib/bangka-backup/records",
        "state_dir": "/var/lib/bangka-backup",
        "repository": {
            "location": "ssh://borg@backup01:22/srv/borg/repos/web01",
            "passphrase_file": "/x",
        },
    }
    config = agent_config.build("web01", policies, settings)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    loaded = agent.load_config(path)
    cycles = loaded["policies"]["dokumen"]["cycles"]
    assert set(cycles) == {"daily", "weekly", "monthly"}
    # Whatever the spread, the weekly day is Saturday or (after midnight) Sunday.
    assert cycles["weekly"]["weekday"] in (6, 7)
    assert cycles["monthly"]["day"] in (2, 3)
    assert "window" not in loaded["policies"]["dokumen"]


def test_admin_configuration_names_every_client_repository_and_retention() -> None:
    clients = [
        {
            "name": "fs01",
            "repository": "ssh://borg@backup01:22/srv/borg/repos/fs01",
            "policies": [
                {
                    "name": "dokumen",
                    "cycles": {"monthly": {"day": 1}, "daily": {}},
                    "retention": {"daily": 14},
                }
            ],
        }
    ]
    config = agent_config.build_admin(
        clients,
        {
            "state_dir": "/var/lib/bangka-backup-admin",
            "secrets_dir": "/etc/bangka-backup-admin/secrets",
        },
    )
    fs01 = config["clients"]["fs01"]
    assert fs01["repository"] == {
        "location": "ssh://borg@backup01:22/srv/borg/repos/fs01",
        "passphrase_file": "/etc/bangka-backup-admin/secrets/fs01.pass",
    }
    assert fs01["policies"]["dokumen"] == {
        "cycles": ["daily", "monthly"],
        "retention": {"daily": 14},
        "category": "standard",
        "rpo_hours": None,
    }
    assert "passphrase" not in str(config).replace("passphrase_file", "")


def test_restore_host_configuration_reaches_clients_through_the_server_it_knows() -> None:
    clients = [
        {
            "name": "fs01",
            "repository": "ssh://borg@10.0.0.9:22/srv/borg/repos/fs01",
            "policies": [
                {
                    "name": "dokumen",
                    "category": "critical",
                    "sources": ["/srv/dokumen"],
                    "rpo_hours": 24,
                    "rto_hours": 4,
                    "window": {"start": "01:00", "end": "05:00"},
                    "restore_test": {"mode": "full"},
                }
            ],
        }
    ]
    config = agent_config.build_restore(
        "admin01",
        clients,
        {
            "records_dir": "/var/lib/bangka-backup-restore/records",
            "state_dir": "/var/lib/bangka-backup-restore",
            "secrets_dir": "/etc/bangka-backup-restore/secrets",
            "server": {"user": "borg", "address": "backup01", "port": 22, "repos_dir": "/srv/r"},
            "restore_test": {"mode": "sample", "sample_files": 50, "sample_mib": 64},
        },
    )
    fs01 = config["clients"]["fs01"]
    assert fs01["repository"]["location"] == "ssh://borg@backup01:22/srv/r/fs01"
    policy = fs01["policies"]["dokumen"]
    # The policy's own setting wins over the host default; the rest of the default stays.
    assert policy["restore_test"] == {"mode": "full", "sample_files": 50, "sample_mib": 64}
    assert "window" not in policy
    assert config["host"] == "admin01"
