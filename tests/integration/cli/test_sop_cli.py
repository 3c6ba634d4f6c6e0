"""``cekat insiden`` and ``cekat sop`` as staff use them: an incident recorded, the review due
(exit 1 from ``status``), the admin's daily ``ingatkan`` notifying a real webhook receiver once
while due, the review recorded, nothing due any more; bad input named, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.receivers import webhook_receiver


def cekat(*args: str, audit: Path) -> subprocess.CompletedProcess[str]:
    """Every call with an audit log of the test's own (never the host's)."""
    env = {**os.environ, "BANGKA_AUDIT_LOG": str(audit)}
    proc = subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", *args],
        capture_output=True, text=True, check=False, timeout=120, env=env,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_an_incident_makes_the_review_due_until_it_is_recorded(tmp_path: Path) -> None:
    journal, audit = tmp_path / "sop", tmp_path / "audit.jsonl"
    d = ["--dir", str(journal)]
    recorded = cekat("insiden", "catat", *d, "--judul", "Repositori penuh", "--tingkat", "berat",
                     "--oleh", "Budi Santoso", "--sistem", "repo01", audit=audit)  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    assert "INS-" in recorded.stdout and "the SOP review is due" in recorded.stdout
    due = cekat("sop", "status", *d, "--format", "json", audit=audit)
    assert due.returncode == 1
    assert json.loads(due.stdout)["due"] is True

    config = tmp_path / "config.json"
    with webhook_receiver() as hook:
        config.write_text(json.dumps({"host": "admin01", "notify": {"webhook_url": hook.url}}))
        first = cekat("sop", "ingatkan", *d, "--konfigurasi", str(config), audit=audit)
        second = cekat("sop", "ingatkan", *d, "--konfigurasi", str(config), audit=audit)
    assert first.returncode == 0 and "reminder sent: 1 of 1" in first.stdout
    assert second.returncode == 0 and "next reminder on" in second.stdout
    (notice,) = hook.received
    assert notice["text"] == "[SI CEKAT] TINJAUAN SOP JATUH TEMPO / SOP REVIEW DUE (admin01)"

    reviewed = cekat("sop", "tinjau", *d, "--oleh", "Koordinator TI", "--catatan", "SOP v2",
                     audit=audit)  # fmt: skip
    assert reviewed.returncode == 0 and "incidents covered: INS-" in reviewed.stdout
    assert cekat("sop", "status", *d, audit=audit).returncode == 0
    listed = cekat("insiden", "daftar", *d, audit=audit)
    assert "Repositori penuh" in listed.stdout and "[repo01]" in listed.stdout
    actions = [json.loads(line)["action"] for line in audit.read_text().splitlines()]
    assert actions == ["insiden", "pengingat", "tinjauan"]


def test_bad_input_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    d, audit = ["--dir", str(tmp_path / "sop")], tmp_path / "audit.jsonl"
    future = cekat("insiden", "catat", *d, "--judul", "x", "--tingkat", "berat", "--oleh", "Budi",
                   "--tanggal", "2999-01-01", audit=audit)  # fmt: skip
    assert future.returncode == 64 and "tanggal: 2999-01-01 is in the future" in future.stderr
    bad = cekat("insiden", "catat", *d, "--judul", "x", "--tingkat", "parah", "--oleh", "Budi",
                audit=audit)  # fmt: skip
    assert bad.returncode == 64 and "invalid choice: 'parah'" in bad.stderr
    assert not (tmp_path / "sop" / "sop-jurnal.jsonl").exists()
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"notify": {"apprise": {"config_file": "apprise.txt"}}}))
    wrong = cekat("sop", "ingatkan", *d, "--konfigurasi", str(config), audit=audit)
    assert wrong.returncode == 64
    assert "notify.apprise.config_file: an absolute path" in wrong.stderr


def test_the_admin_hosts_tool_keeps_the_journal_under_its_state_dir(tmp_path: Path) -> None:
    """The borg_admin role's daily reminder: ``bangka-backup-maintenance sop ingatkan`` with the
    notify settings of its own configuration, on Debian's Python from the role's files."""
    tool = [
        "/usr/bin/python3", "-Es",
        str(Path(__file__).resolve().parents[3] / "roles/borg_admin/files/maintenance.py"),
    ]  # fmt: skip
    state = tmp_path / "admin-state"
    with webhook_receiver() as hook:
        config = tmp_path / "config.json"
        config.write_text(json.dumps({"host": "admin01", "state_dir": str(state), "clients": {},
                                      "notify": {"webhook_url": hook.url}}))  # fmt: skip

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            env = {**os.environ, "BANGKA_AUDIT_LOG": str(tmp_path / "a.jsonl")}
            proc = subprocess.run([*tool, "--config", str(config), *args], capture_output=True,
                                  text=True, check=False, timeout=60, env=env)  # fmt: skip
            assert "Traceback" not in proc.stderr, proc.stderr
            return proc

        recorded = run("insiden", "catat", "--judul", "Kunci repositori hilang",
                       "--tingkat", "berat", "--oleh", "Admin TI")  # fmt: skip
        assert recorded.returncode == 0, recorded.stderr
        assert (state / "sop" / "sop-jurnal.jsonl").is_file()
        assert run("sop", "status").returncode == 1
        reminded = run("sop", "ingatkan", "--every-days", "7")
        assert reminded.returncode == 0 and "reminder sent: 1 of 1" in reminded.stdout
        assert run("sop", "tinjau", "--oleh", "Koordinator TI").returncode == 0
        assert run("sop", "status").returncode == 0
        bad = run("sop", "tinjau", "--oleh", "Koordinator TI", "--tanggal", "kemarin")
    assert bad.returncode == 64 and "tanggal: a date YYYY-MM-DD" in bad.stderr
    (notice,) = hook.received
    assert "SOP REVIEW DUE (admin01)" in notice["text"]
