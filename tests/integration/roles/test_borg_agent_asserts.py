"""The borg_agent role refuses bad input early, with a message that says what to fix.

Runs the real role with ansible-playbook against this machine; the asserts come before any
change, and the tests use --check as a second guard."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT


def good_vars(tmp_path: Path) -> dict[str, Any]:
    source = tmp_path / "data"
    source.mkdir(exist_ok=True)
    return {
        "borg_agent_repository": str(tmp_path / "repo"),
        "borg_agent_passphrase": "a-long-enough-test-passphrase-0123",
        "borg_agent_records_dir": str(tmp_path / "records"),
        "borg_agent_policies": [
            {
                "name": "dokumen",
                "category": "critical",
                "sources": [str(source)],
                "rpo_hours": 24,
                "rto_hours": 4,
                "window": {"start": "01:00", "end": "07:00"},
                "cycles": {"daily": {}, "weekly": {"weekday": 7}},
            }
        ],
    }


def run_role(tmp_path: Path, variables: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Apply borg_agent",
                    "hosts": "all",
                    "gather_facts": False,
                    "roles": [{"role": "borg_agent"}],
                }
            ]
        )
    )
    (tmp_path / "vars.yml").write_text(yaml.safe_dump(variables))
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
        "ANSIBLE_ROLES_PATH": str(REPO_ROOT / "roles"),
    }
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "--check",
            "-e",
            "ansible_python_interpreter=/usr/bin/python3",
            "-e",
            f"@{tmp_path / 'vars.yml'}",
            str(playbook),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
        cwd=REPO_ROOT,
    )


def mutate_policy(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    variables = good_vars(tmp_path)
    variables["borg_agent_policies"][0].update(changes)
    return variables


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unknown_cycle", "cycles.hourly"),
        ("no_sources", "sources"),
        ("short_window", "too short for the weekly cycle"),
        ("missing_secret", "vault_borg_agent_passphrase"),
        ("missing_path", "does not exist on this host"),
        ("retention_zero", "retention must keep at least 1 archive per cycle"),
    ],
)
def test_bad_input_fails_before_any_change(tmp_path: Path, case: str, expected: str) -> None:
    variables = {
        "unknown_cycle": lambda: mutate_policy(tmp_path, cycles={"daily": {}, "hourly": {}}),
        "no_sources": lambda: mutate_policy(tmp_path, sources=[]),
        "short_window": lambda: mutate_policy(tmp_path, window={"start": "01:00", "end": "02:30"}),
        "missing_secret": lambda: {
            **good_vars(tmp_path),
            "borg_agent_passphrase": "{{ vault_borg_agent_passphrase }}",
        },
        "missing_path": lambda: mutate_policy(tmp_path, sources=[str(tmp_path / "nope")]),
        "retention_zero": lambda: mutate_policy(tmp_path, retention={"daily": 0}),
    }[case]()

    proc = run_role(tmp_path, variables)

    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert expected in output, output
    assert "changed=0" in output or "PLAY RECAP" not in output
    assert not (tmp_path / "repo").exists()
