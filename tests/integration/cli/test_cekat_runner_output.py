"""What the playbook commands print comes from the run (host and task names, Borg's messages,
the records): it is shown as written, never read as console markup, emoji codes or terminal
control sequences. Real ansible-runner runs of stand-in playbooks on this machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BACKUP_NOW = r"""
- name: Back up now, a stand-in whose tools print brackets
  hosts: all
  gather_facts: false
  tasks:
    - name: Run the cycle through the wrapper
      ansible.builtin.command:
        argv:
          - printf
          - "%s\n"
          - "failed: borg create"
          - "record: /var/lib/bangka-backup/records/[red]web01[/] :warning: \x1b[2J.json"
      loop: [{name: "[bold]dokumen"}]
      changed_when: false

    - name: Fail as Borg does
      ansible.builtin.command:
        argv:
          - sh
          - -c
          - echo "Repository [/srv/borg/repos/web01] does not exist :boom:" >&2; exit 2
      changed_when: false
"""

RESTORE_TEST = r"""
- name: Restore tests, a stand-in reporting a failed one
  hosts: all
  gather_facts: false
  tasks:
    - name: Report the restore test results
      ansible.builtin.set_fact:
        restore_test_records:
          - host: localhost
            policy: dokumen
            status: failed
            reason: "borg extract: [Errno 2] No such file: [/srv/data/[b]laporan] :boom:"
            record_path: "/var/lib/bangka-backup/records/restore-tests/[/red]x.json"
"""

# The emergency restore's task, standing in for a host whose output is not a record.
RESTORE = r"""
- name: Emergency restore, a stand-in printing what a hostile host could
  hosts: all
  gather_facts: false
  tasks:
    - name: Restore with bangka-backup-restore
      ansible.builtin.command:
        argv: ["{{ ansible_playbook_python }}", "{{ playbook_dir }}/restore_output.py"]
      changed_when: false
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "playbooks").mkdir(parents=True)
    (root / "ansible.cfg").write_text("[defaults]\nretry_files_enabled = false\n")
    (root / "playbooks" / "site.yml").write_text("[]\n")
    (root / "playbooks" / "backup_now.yml").write_text(BACKUP_NOW)
    (root / "playbooks" / "restore_test.yml").write_text(RESTORE_TEST)
    (root / "playbooks" / "restore.yml").write_text(RESTORE)
    (root / "hosts.yml").write_text(
        "all:\n  hosts:\n    localhost:\n  vars:\n    ansible_connection: local\n"
        f"    ansible_python_interpreter: {sys.executable}\n"
    )
    return root


def cekat(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "bangka_ops.cli",
            *args,
            "--project",
            str(project),
            "-i",
            str(project / "hosts.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_borg_messages_and_records_with_brackets_are_printed_as_written(project: Path) -> None:
    proc = cekat(project, "backup-now")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the backup failed
    assert "localhost / [bold]dokumen: failed" in proc.stdout
    assert "records/[red]web01[/] :warning: \\x1b[2J.json" in proc.stdout
    assert "\x1b" not in proc.stdout  # not a terminal: no escape sequence but the data's
    assert (
        "GAGAL / FAILED localhost: Fail as Borg does: "
        "Repository [/srv/borg/repos/web01] does not exist :boom:"
    ) in proc.stderr


def test_a_restore_test_reason_with_brackets_is_printed_as_written(project: Path) -> None:
    proc = cekat(project, "restore-test")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "localhost / dokumen: FAILED" in proc.stdout
    assert "borg extract: [Errno 2] No such file: [/srv/data/[b]laporan] :boom:" in proc.stdout
    assert "restore-tests/[/red]x.json" in proc.stdout


@pytest.mark.parametrize(
    ("output", "named"),
    [
        ("'[' * 100000", "its output is not JSON (nested too deeply)"),
        ("'[1, 2]'", "its output is not a restore record"),
        ('\'{"status": "success"}\'', "its output is not a restore record"),
        (
            '\'{"status": "success", "host": "h", "policy": "p", "restored_on": "h", '
            '"target": "/t", "files_restored": 1, "extract_seconds": 1, "record_path": "r", '
            "\"bytes_restored\": ' + '9' * 400 + '}'",
            "its output is not a restore record",
        ),
    ],
    ids=["nested-too-deeply", "a-list", "a-status-alone", "a-number-too-large"],
)
def test_a_restore_output_that_is_not_a_record_names_the_host(
    project: Path, output: str, named: str
) -> None:
    """The restored host's output is data from that host: when it is not a record the host is
    named (exit 2, nothing judged as restored), never a traceback or a success."""
    (project / "playbooks" / "restore_output.py").write_text(f"print({output})\n")
    proc = cekat(
        project,
        "restore",
        "--client",
        "localhost",
        "--policy",
        "dokumen",
        "--target",
        "/tmp/pulih",
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"cekat restore: localhost: {named}" in proc.stderr
    assert "Status" not in proc.stdout
