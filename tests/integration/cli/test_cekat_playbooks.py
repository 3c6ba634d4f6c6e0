"""`cekat backup-now / restore-test / restore` drive the real playbooks on the `local` inventory
(this machine, as the README's main job provisions it) through ansible-runner."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bangka_ops.backup import agent
from tests.conftest import REPO_ROOT
from tests.integration.arsip.helpers import archive
from tests.integration.arsip.helpers import cekat as arsip_cekat

pytestmark = pytest.mark.borg


def cekat(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        cwd=REPO_ROOT,
    )


@pytest.fixture(autouse=True)
def audit_log(monkeypatch: pytest.MonkeyPatch) -> Path:
    """These runs are the machine's own (the local inventory): its real audit log."""
    monkeypatch.delenv(agent.AUDIT_ENV, raising=False)
    return agent.AUDIT_LOG


@pytest.fixture(scope="module")
def provisioned() -> None:
    """The local inventory provisioned (idempotent: a no-op where the main job already ran)."""
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "playbooks/site.yml"],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        cwd=REPO_ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_backup_now_then_a_restore_test_that_passes(provisioned: None) -> None:
    backup = cekat("backup-now")
    assert backup.returncode == 0, backup.stdout + backup.stderr
    assert "localhost / dokumen: success" in backup.stdout

    test = cekat("restore-test")

    assert test.returncode == 0, test.stdout + test.stderr
    assert "localhost / dokumen: PASSED" in test.stdout
    assert "vs the live source" in test.stdout
    assert "localhost" in test.stderr  # the per-host progress line


def test_restore_into_a_directory_then_refuse_to_overwrite(
    provisioned: None, tmp_path: Path
) -> None:
    target = tmp_path / "pulih"
    first = cekat(
        "restore", "--client", "localhost", "--policy", "dokumen", "--target", str(target)
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Status            : success" in first.stdout
    source = REPO_ROOT / "examples" / "backup-source"
    restored = target / str(source).lstrip("/")
    for original in source.rglob("*"):
        if original.is_file():
            assert (restored / original.relative_to(source)).read_bytes() == original.read_bytes()

    again = cekat(
        "restore", "--client", "localhost", "--policy", "dokumen", "--target", str(target)
    )
    assert again.returncode == 3, again.stdout + again.stderr
    assert "refused" in again.stdout


def test_an_unknown_policy_is_a_clear_failure(provisioned: None) -> None:
    proc = cekat("restore-test", "--policy", "tidak-ada")
    assert proc.returncode == 2
    assert "no policy named 'tidak-ada'" in proc.stderr


def test_collect_twice_then_report_from_the_ledger(provisioned: None, tmp_path: Path) -> None:
    """collect_records.yml consolidates what it brings; the second collection re-sends the last
    hour's files (its safety margin), which are recognised and dropped; the report reads the
    ledger."""
    assert cekat("backup-now").returncode == 0
    collected, reports = tmp_path / "collected", tmp_path / "reports"

    def playbook(name: str, *extra: str) -> str:
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "ansible-playbook"), f"playbooks/{name}", *extra],
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
            cwd=REPO_ROOT,
        )
        assert proc.returncode == 0, proc.stdout[-3000:]
        return " ".join(proc.stdout.split())  # the YAML callback folds long messages

    # This machine is also an archive host for this test: its summary travels in the package.
    arsip_root = tmp_path / "arsip"
    archive(arsip_root)
    made = arsip_cekat(arsip_root, "ringkasan")
    assert made.returncode == 0, made.stdout + made.stderr
    extra = tmp_path / "arsip-host.yml"
    extra.write_text("all:\n  children:\n    arsip_hosts:\n      hosts:\n        localhost:\n")
    first = playbook(
        "collect_records.yml", "-i", "inventories/local/hosts.yml", "-i", str(extra),
        "-e", f"collect_records_dir={collected}", "-e", f"arsip_root={arsip_root}",
    )  # fmt: skip
    sent = json.loads((collected / "localhost" / "arsip.json").read_text())
    assert sent == json.loads((arsip_root / "laporan" / "ringkasan-arsip.json").read_text())
    assert "record(s) consolidated" in first
    months = list((collected / "localhost" / "ledger" / "dokumen").glob("*.jsonl"))
    assert months, first[-2000:]
    lines = sum(len(m.read_text().splitlines()) for m in months)
    loose = collected / "localhost" / "records" / "dokumen"
    assert not list(loose.glob("*.json")), "every valid run record is in the ledger"
    assert list(loose.glob("*.log.jsonl")), "the raw Borg logs are kept as files"

    audit_dir = collected / "localhost" / "audit"
    chunks = {p.name: p.read_bytes() for p in audit_dir.glob("audit.*.jsonl")}
    assert chunks, "the audit log's lines were forwarded"

    second = playbook("collect_records.yml", "-e", f"collect_records_dir={collected}")
    assert " 0 record(s) consolidated" in second
    assert re.search(r" [1-9][0-9]* duplicate\(s\) of consolidated records removed", second)
    assert sum(len(m.read_text().splitlines()) for m in months) == lines

    assert cekat("backup-now").returncode == 0  # more audit lines: the next chunk carries them
    playbook("collect_records.yml", "-e", f"collect_records_dir={collected}")
    later = {p.name: p.read_bytes() for p in audit_dir.glob("audit.*.jsonl")}
    assert len(later) > len(chunks)
    assert all(later[name] == data for name, data in chunks.items())  # written once
    forwarded = b"".join(later[name] for name in sorted(later))
    log = Path("/var/log/bangka-ops/audit.jsonl").read_bytes()
    # Every line forwarded once, in order: nothing lost, nothing twice. The collection audits
    # itself (a line per host taken in, written after the cut): those wait for the next one.
    assert log.startswith(forwarded)
    after = [json.loads(line) for line in log[len(forwarded) :].splitlines()]
    assert after and {(e["kind"], e["result"]) for e in after} == {("collection", "ok")}
    audited = cekat("audit", str(collected), "--kind", "backup", "--format", "json")
    assert audited.returncode == 0, audited.stderr
    assert any(e["action"] == "daily dokumen" for e in json.loads(audited.stdout))

    playbook(
        "backup_report.yml",
        "-e",
        f"backup_report_collected={collected}",
        "-e",
        f"backup_report_dir={reports}",
    )
    checklist = reports / "checklist-last-7-days-id.json"
    for report in reports.glob("checklist-last-7-days-id.*"):
        assert oct(report.stat().st_mode)[-3:] == "640" and report.group() == "adm", report
    document = json.loads(checklist.read_text())
    mine = [r for r in document["rows"] if r["host"] == "localhost" and r["status"] == "success"]
    assert mine and all("/ledger/dokumen/" in r["record"] for r in mine)
    section = document["kpis"]["arsip"]
    assert [(a["host"], a["documents"]) for a in section] == [("localhost", 3)]
