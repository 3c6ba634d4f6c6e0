"""The ledger: collected run records folded into per-host/policy/month JSON Lines without losing,
doubling or rewriting anything (report figures on real runs: tests/integration/report)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bangka_ops.report import ingest, ledger
from tests.unit.report.test_checklist_logic import record, run, tree

RECORDS = [
    record("daily", "2025-05-30T02:31:00+07:00"),
    record("daily", "2025-05-31T02:31:00+07:00", status="warning"),
    record("daily", "2025-06-01T02:31:00+07:00", status="failed"),
    record("daily", "2025-06-02T09:00:00+07:00", trigger="on-demand"),
]
PERIOD = ("2025-05-29", "2025-06-03", "2025-06-03T23:00:00+07:00")


def loose(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "fs01" / "records" / "dokumen").glob("*.json"))


def report_of(root: Path) -> tuple[list[dict[str, Any]], dict[str, Any], list[str]]:
    rows, report = run(root, *PERIOD)
    comparable = [{k: v for k, v in r.items() if k != "record"} for r in rows]
    return comparable, report.kpis(), [str(p) for p in report.problems]


def test_consolidation_moves_every_record_and_changes_no_figure(tmp_path: Path) -> None:
    root = tree(tmp_path, RECORDS)
    before = report_of(root)
    summary = ledger.consolidate(root)
    assert (summary.moved, summary.duplicates, summary.left) == (4, 0, [])
    assert loose(root) == []
    months = root / "fs01" / "ledger" / "dokumen"
    assert sorted(p.name for p in months.iterdir()) == ["2025-05.jsonl", "2025-06.jsonl"]
    lines = [json.loads(line) for line in (months / "2025-06.jsonl").read_text().splitlines()]
    assert [line["record"] for line in lines] == RECORDS[2:]  # the record itself, unchanged
    assert lines[0]["source"] == f"records/dokumen/{RECORDS[2]['archive']}.json"
    assert (root / "fs01" / "config.json").exists()
    assert report_of(root) == before
    # Nothing new: nothing is rewritten.
    mtime = (months / "2025-06.jsonl").stat().st_mtime_ns
    assert ledger.consolidate(root).moved == 0
    assert (months / "2025-06.jsonl").stat().st_mtime_ns == mtime


def test_a_record_sent_again_is_counted_once_and_then_dropped(tmp_path: Path) -> None:
    root = tree(tmp_path, RECORDS)
    before = report_of(root)
    ledger.consolidate(root)
    # The next collection's safety margin brings a file again (or a crash came between the
    # ledger's rename and the removal of its loose files).
    again = root / "fs01" / "records" / "dokumen" / f"{RECORDS[0]['archive']}.json"
    again.write_text(json.dumps(RECORDS[0]))
    assert report_of(root) == before
    summary = ledger.consolidate(root)
    assert (summary.moved, summary.duplicates) == (0, 1)
    assert not again.exists()


def test_a_changed_copy_is_left_in_place_and_reported_never_merged(tmp_path: Path) -> None:
    root = tree(tmp_path, RECORDS)
    before = report_of(root)
    ledger.consolidate(root)
    changed = root / "fs01" / "records" / "dokumen" / f"{RECORDS[0]['archive']}.json"
    changed.write_text(json.dumps({**RECORDS[0], "status": "failed"}))
    summary = ledger.consolidate(root)
    (problem,) = summary.left
    assert problem.path == changed
    assert "differs from its consolidated copy" in problem.message
    assert changed.exists()
    assert report_of(root) == before  # the consolidated copy is the one counted


def test_a_broken_file_stays_where_the_report_names_it(tmp_path: Path) -> None:
    root = tree(tmp_path, RECORDS)
    broken = root / "fs01" / "records" / "dokumen" / "fs01-dokumen-daily-2025-06-03.json"
    broken.write_text('{\n "kind": "backup_run",\n "status": "succ')
    summary = ledger.consolidate(root)
    assert summary.moved == 4
    assert [p.path for p in summary.left] == [broken]
    assert broken.exists()
    _, _, problems = report_of(root)
    assert problems == [f"{broken}:3: invalid or truncated JSON"]


def test_a_damaged_ledger_line_is_named_and_its_month_never_rewritten(tmp_path: Path) -> None:
    root = tree(tmp_path, RECORDS[:2])
    ledger.consolidate(root)
    month = root / "fs01" / "ledger" / "dokumen" / "2025-05.jsonl"
    damaged = month.read_text().splitlines()
    damaged[1] = damaged[1][:40]
    month.write_text("\n".join(damaged) + "\n")
    rows, _, problems = report_of(root)
    assert problems == [f"{month}:2: invalid or truncated JSON line"]
    assert [r["status"] for r in rows if r["date"] == "2025-05-30"] == ["success"]
    # A new record of that month is not folded into a file that cannot be read whole.
    late = record("daily", "2025-05-29T02:31:00+07:00")
    new = root / "fs01" / "records" / "dokumen" / f"{late['archive']}.json"
    new.write_text(json.dumps(late))
    summary = ledger.consolidate(root)
    assert summary.moved == 0
    assert [p.path for p in summary.left] == [new]
    assert new.exists()
    assert month.read_text() == "\n".join(damaged) + "\n"


def test_a_record_too_deep_to_write_back_stays_loose_and_is_named(tmp_path: Path) -> None:
    """orjson reads 1024 levels but writes 255: a host's record nested in between is left in
    place, named, never a traceback; the month file holds the others, and the report counts
    the loose file as it did before."""
    root = tree(tmp_path, RECORDS[:2])
    before = report_of(root)
    deep = root / "fs01" / "records" / "dokumen" / "dalam.json"
    text = json.dumps(record("daily", "2025-05-29T02:31:00+07:00"))
    deep.write_text(text[:-1] + ', "catatan": ' + "[" * 300 + "]" * 300 + "}")
    broken = root / "fs01" / "records" / "dokumen" / "rusak.json"
    broken.write_text("[" * 100_000)

    proc = subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", "consolidate", str(root)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert f"{deep}: nested too deeply to be written to the ledger" in proc.stderr
    assert f"{broken}:1: invalid or truncated JSON" in proc.stderr
    assert loose(root) == ["dalam.json", "rusak.json"]
    month = root / "fs01" / "ledger" / "dokumen" / "2025-05.jsonl"
    assert [json.loads(line)["record"] for line in month.read_text().splitlines()] == RECORDS[:2]
    rows, _, problems = report_of(root)
    assert problems == [f"{broken}:1: invalid or truncated JSON"]
    others = [r for r in rows if r["date"] != "2025-05-29"]
    assert others == [r for r in before[0] if r["date"] != "2025-05-29"]
    # Still a valid run where it lies: counted from the loose file, as before consolidation.
    assert [r["status"] for r in rows if r["date"] == "2025-05-29"] == ["success"]


def test_without_orjson_a_deeply_nested_file_is_named_all_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The standard library's parser (the fallback) raises RecursionError where orjson says
    invalid: the same named problem either way."""
    monkeypatch.setitem(sys.modules, "orjson", None)  # import orjson: ModuleNotFoundError
    spec = importlib.util.spec_from_file_location("ingest_without_orjson", ingest.__file__)
    assert spec is not None and spec.loader is not None
    fallback = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, fallback)  # its dataclasses look it up
    spec.loader.exec_module(fallback)
    deep = tmp_path / "dalam.json"
    deep.write_text("[" * 100_000)
    assert str(fallback.read(deep)) == f"{deep}:1: invalid or truncated JSON"
    with pytest.raises(fallback.JSONError):
        fallback.parse(b"[" * 100_000)


def test_other_records_stay_loose(tmp_path: Path) -> None:
    root = tree(tmp_path, RECORDS[:1])
    tests_dir = root / "fs01" / "records" / "dokumen" / "restore-tests"
    tests_dir.mkdir()
    (tests_dir / "t.json").write_text(json.dumps({"kind": "restore_test"}))
    maintenance = root / "fs01" / "records" / "dokumen" / "maint.json"
    maintenance.write_text(json.dumps({"kind": "maintenance_run"}))
    summary = ledger.consolidate(root)
    assert (summary.moved, summary.left) == (1, [])
    assert (tests_dir / "t.json").exists()
    assert maintenance.exists()


def test_cekat_consolidate_reports_and_exits_non_zero_when_files_are_left(
    tmp_path: Path,
) -> None:
    root = tree(tmp_path, RECORDS)
    (root / "fs01" / "records" / "dokumen" / "bad.json").write_text("[1, 2")

    def cekat(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bangka_ops.cli", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    proc = cekat("consolidate", str(root))
    assert proc.returncode == 1
    assert "4 record(s) consolidated into 2 month file(s)" in proc.stdout
    assert "left in place" in proc.stderr
    assert "bad.json:1: invalid or truncated JSON" in proc.stderr
    assert cekat("consolidate", str(tmp_path / "nowhere")).returncode == 64
