"""Bad input never ends in a traceback: one line on standard error naming the file, exit 64 for
a wrong option (a missing directory, an unusable value), 1 for bad data. And what `cekat audit`
prints cannot drive the terminal."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bangka_ops.report import ledger, signoff
from tests.unit.report.test_checklist_logic import record, tree

DEEP = "[" * 100_000


def cekat(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def one_line_naming(proc: subprocess.CompletedProcess[str], path: Path | str) -> str:
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(path) in lines[0], proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ("report", ".", "--format", "xml"),
        ("records", ".", "--last", "lima"),
        ("audit", ".", "--format", "yaml"),
    ],
    ids=["report-format", "records-last", "audit-format"],
)
def test_a_wrong_option_value_is_a_usage_error(args: tuple[str, ...]) -> None:
    proc = cekat(*args)
    assert proc.returncode == 64, proc.stderr
    assert f"cekat {args[0]}: error: argument {args[2]}" in proc.stderr


def test_a_playbook_command_on_a_missing_inventory_is_a_usage_error(tmp_path: Path) -> None:
    """Ansible would warn and run on no host: exit 0 for a backup that never happened."""
    proc = cekat("backup-now", "-i", str(tmp_path / "tidak-ada"))
    assert proc.returncode == 64
    one_line_naming(proc, tmp_path / "tidak-ada")


# ---- cekat records ---------------------------------------------------------------------------


def run_record(start: str) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "kind": "backup_run",
        "host": "fs01",
        "policy": "dokumen",
        "category": "critical",
        "cycle": "daily",
        "trigger": "schedule",
        "status": "success",
        "start": start,
        "end": start,
        "duration_seconds": 1.0,
        "archive": f"fs01-dokumen-daily-{start[:19].replace(':', '-')}",
        "repository": "/srv/borg/fs01",
        "exit_code": 0,
        "backup_type": "incremental",
        "msgids": [],
        "warnings": [],
        "record_path": f"/var/lib/bangka-backup/records/dokumen/{start}.json",
        "notifications": [],
        "steps": {},
    }


def test_records_names_a_deeply_nested_file_and_lists_the_others(tmp_path: Path) -> None:
    folder = tmp_path / "records" / "dokumen"
    folder.mkdir(parents=True)
    (folder / "baik.json").write_text(json.dumps(run_record("2025-05-12T02:31:00+07:00")))
    (folder / "dalam.json").write_text(DEEP)

    proc = cekat("records", str(tmp_path / "records"))

    assert proc.returncode == 1
    assert "nested too deeply" in one_line_naming(proc, folder / "dalam.json")
    assert "2025-05-12T02:31:00+07:00" in proc.stdout


def test_records_on_a_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    proc = cekat("records", str(tmp_path / "tidak-ada"))
    assert proc.returncode == 64
    one_line_naming(proc, tmp_path / "tidak-ada")
    assert proc.stdout == ""


# ---- cekat report ----------------------------------------------------------------------------


def test_report_names_a_deeply_nested_record_and_ledger_line_and_counts_the_rest(
    tmp_path: Path,
) -> None:
    """Agents' records come from other hosts: one nested too deeply for the parser, loose or as
    a consolidated ledger line, is a skipped file named with its line (exit 1), and the runs
    beside it are still counted."""
    runs = [record("daily", f"2025-05-{day}T02:31:00+07:00") for day in (12, 13)]
    root = tree(tmp_path, runs)
    assert ledger.consolidate(root).moved == 2
    month = root / "fs01" / "ledger" / "dokumen" / "2025-05.jsonl"
    with month.open("a") as handle:
        handle.write('{"source": "records/dokumen/dalam.json", "record": ' + DEEP + "\n")
    loose = root / "fs01" / "records" / "dokumen" / "dalam.json"
    loose.write_text(DEEP)

    proc = cekat(
        "report",
        str(root),
        "--since",
        "2025-05-12",
        "--to",
        "2025-05-13",
        "--as-of",
        "2025-05-13T23:00:00+07:00",
        "--format",
        "json",
    )

    assert proc.returncode == 1, proc.stderr  # skipped files
    assert sorted(proc.stderr.splitlines()) == [
        f"cekat report: skipped: {month}:3: invalid or truncated JSON line",
        f"cekat report: skipped: {loose}:1: invalid or truncated JSON",
    ]
    rows = json.loads(proc.stdout)["rows"]
    assert [(r["date"], r["status"]) for r in rows] == [
        ("2025-05-12", "success"),
        ("2025-05-13", "success"),
    ]


# ---- cekat audit -----------------------------------------------------------------------------


def entry(**fields: Any) -> str:
    base = {
        "time": "2025-05-12T02:00:00+07:00",
        "host": "fs01",
        "actor": "budi",
        "kind": "backup",
        "action": "daily",
        "result": "success",
        "details": {},
    }
    return json.dumps({**base, **fields})


def test_audit_names_a_line_that_is_not_utf8_and_shows_the_rest(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(
        entry(action="pertama").encode() + b"\n" + b'{"kind": "backup", "actor": "\xff\xfe"}\n'
    )
    proc = cekat("audit", str(log))
    assert proc.returncode == 1
    one_line_naming(proc, f"{log}:2")
    assert "pertama" in proc.stdout


def test_audit_names_a_deeply_nested_line(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_text(entry() + "\n" + DEEP + "\n")
    proc = cekat("audit", str(log))
    assert proc.returncode == 1
    one_line_naming(proc, f"{log}:2")


def test_audit_text_escapes_control_characters_from_the_log(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_text(
        entry(
            actor="budi\x1b]0;judul\x07",
            action="restore\x1b[2J\x1b[1;1H\rroot berhasil\u202emalicious",
            host="fs01\x9b31m",
        )
        + "\n"
    )
    proc = cekat("audit", str(log))
    assert proc.returncode == 0, proc.stderr
    for control in ("\x1b", "\x07", "\r", "\x9b", "\u202e"):
        assert control not in proc.stdout
    assert "restore\\x1b[2J\\x1b[1;1H\\rroot berhasil\\u202emalicious" in proc.stdout
    assert "budi\\x1b]0;judul\\x07" in proc.stdout


def test_audit_shows_fields_of_any_json_type(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_text(
        entry(host=None, actor={"nama": "budi"}, result=["a"], time="2025-05-12T01:00:00") + "\n"
    )
    proc = cekat("audit", str(log), "--since", "2025-05-12")
    assert proc.returncode == 0, proc.stderr
    assert "{'nama': 'budi'}" in proc.stdout


def test_audit_json_keeps_a_name_that_was_not_utf8(tmp_path: Path) -> None:
    """A restored file name that was not UTF-8 reaches the log as a lone surrogate."""
    log = tmp_path / "audit.jsonl"
    log.write_text(entry(details={"path": "/srv/data/laporan-\udcff.doc"}) + "\n")
    proc = cekat("audit", str(log), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["details"]["path"] == "/srv/data/laporan-\udcff.doc"


def test_audit_with_a_bad_since_is_a_usage_error(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_text(entry() + "\n")
    proc = cekat("audit", str(log), "--since", "kemarin")
    assert proc.returncode == 64
    one_line_naming(proc, "--since")


# ---- cekat verify ----------------------------------------------------------------------------

CHECKLIST: dict[str, Any] = {
    "schema_version": 1,
    "kind": "backup_checklist",
    "rows": [{"host": "fs01", "policy": "dokumen", "status": "success"}],
    "kpis": {"period": "2025-05-01..2025-05-31", "generated": "2025-06-01T08:00:00+07:00"},
}


@pytest.fixture
def checklist_file(tmp_path: Path) -> tuple[Path, Path]:
    report = tmp_path / "checklist.json"
    report.write_text(json.dumps(CHECKLIST))
    signers = tmp_path / "allowed_signers"
    signers.write_text(
        f'budi@bangka.go.id namespaces="{signoff.NAMESPACE}" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\n'
    )
    return report, signers


def valid_payload() -> dict[str, Any]:
    return signoff.payload(CHECKLIST, "budi@bangka.go.id", "2025-06-02T09:00:00+00:00")


@pytest.mark.parametrize(
    "content",
    [
        b"[1, 2]",
        b'{"signer": "budi@bangka.go.id", "signed_at": "2025-06-02", "signature": "\xff\xfe"}',
        DEEP.encode(),
        json.dumps({**valid_payload(), "signature": "tanda tangan\u00e9"}).encode(),
        json.dumps({**valid_payload(), "signature": ["bukan", "teks"]}).encode(),
        json.dumps({**valid_payload(), "signer": "budi\ud800", "signature": "x"}).encode(),
        json.dumps({**valid_payload(), "signature": "bukan tanda tangan"}).encode(),
    ],
    ids=[
        "a-json-list",
        "not-utf8",
        "deeply-nested",
        "non-ascii-signature",
        "list-signature",
        "lone-surrogate-signer",
        "garbage-signature",
    ],
)
def test_verify_names_a_signoff_file_that_is_not_a_signoff(
    checklist_file: tuple[Path, Path], content: bytes
) -> None:
    report, signers = checklist_file
    signoff_file = report.with_name(report.name + ".signoff.json")
    signoff_file.write_bytes(content)
    proc = cekat("verify", str(report), "--allowed-signers", str(signers))
    assert proc.returncode == 1
    one_line_naming(proc, signoff_file)


@pytest.mark.parametrize(
    "content",
    [
        DEEP.encode(),
        b"\xff\xfe{}",
        json.dumps({**CHECKLIST, "kpis": ["bukan", "objek"]}).encode(),
        json.dumps({**CHECKLIST, "rows": {"bukan": "daftar"}}).encode(),
        json.dumps({**CHECKLIST, "rows": [{"reason": "\udcff"}]}).encode(),
    ],
    ids=["deeply-nested", "not-utf8", "kpis-a-list", "rows-an-object", "lone-surrogate"],
)
def test_verify_refuses_a_report_that_is_not_a_checklist(
    checklist_file: tuple[Path, Path], content: bytes
) -> None:
    report, signers = checklist_file
    report.with_name(report.name + ".signoff.json").write_text(json.dumps(valid_payload()))
    report.write_bytes(content)
    proc = cekat("verify", str(report), "--allowed-signers", str(signers))
    assert proc.returncode == 1
    one_line_naming(proc, report)  # the report, or its sign-off beside it


def test_verify_names_an_allowed_signers_file_that_is_not_utf8(
    checklist_file: tuple[Path, Path],
) -> None:
    report, signers = checklist_file
    report.with_name(report.name + ".signoff.json").write_text(json.dumps(valid_payload()))
    signers.write_bytes(b"budi@bangka.go.id \xff\xfe\n")
    proc = cekat("verify", str(report), "--allowed-signers", str(signers))
    assert proc.returncode == 1
    one_line_naming(proc, signers)


def test_report_signoff_without_allowed_signers_is_a_usage_error(
    checklist_file: tuple[Path, Path], tmp_path: Path
) -> None:
    report, _ = checklist_file
    (tmp_path / "collected").mkdir()
    proc = cekat(
        "report",
        str(tmp_path / "collected"),
        "--format",
        "html",
        "--signoff",
        f"{report}.signoff.json",
    )
    assert proc.returncode == 64
    one_line_naming(proc, "--signoff")


def test_the_payload_in_these_tests_is_a_real_one() -> None:
    """The sign-offs above fail for the reason each test names, not for a wrong hash."""
    data = {"rows": CHECKLIST["rows"], "kpis": {"period": CHECKLIST["kpis"]["period"]}}
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    assert valid_payload()["data_sha256"] == hashlib.sha256(canonical).hexdigest()
