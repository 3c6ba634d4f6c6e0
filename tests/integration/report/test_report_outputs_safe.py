"""What `cekat report` writes is safe for the programs that open it: spreadsheets (no formula
runs from a cell), the charts (names drawn as written) and the previous report (never
truncated by a run that fails)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bangka_ops.cli import cekat
from bangka_ops.report import outputs

PERIOD = ("--since", "2025-05-12", "--to", "2025-05-17", "--as-of", "2025-05-18T00:00:00+07:00")


def record(host: str, policy: str, day: int, reason: str | None = None) -> dict[str, Any]:
    start = f"2025-05-{day:02d}T02:31:00+07:00"
    return {
        "schema_version": 1,
        "kind": "backup_run",
        "host": host,
        "policy": policy,
        "category": "critical",
        "cycle": "daily",
        "trigger": "schedule",
        "status": "success",
        "start": start,
        "duration_seconds": 10.0,
        "archive": f"{host}-{policy}-daily-{start[:19].replace(':', '-')}",
        "repository": "ssh://borg@backup01:22/srv/borg/repos/fs01",
        "archive_stats": {
            "original_size": 100,
            "compressed_size": 50,
            "deduplicated_size": 5,
            "nfiles": 3,
        },
        "rpo_hours": 24,
        "reason": reason,
    }


def host_tree(root: Path, host: str, policy: str, records: list[dict[str, Any]]) -> None:
    """A collected host: its deployed schedule, run records and a restore test."""
    folder = root / host / "records" / policy
    folder.mkdir(parents=True)
    for item in records:
        (folder / f"{item['start'][:10]}.json").write_text(json.dumps(item))
    tests = root / host / "records" / "restore-tests"
    tests.mkdir()
    (tests / "test.json").write_text(
        json.dumps(
            {
                "kind": "restore_test",
                "host": host,
                "policy": policy,
                "start": "2025-05-13T03:00:00+07:00",
                "status": "passed",
                "mode": "full",
                "restore_seconds": 30,
                "rto_hours": 4,
                "result": {"rto_met": True, "rpo_met": True, "integrity": True},
            }
        )
    )
    config = {
        "host": host,
        "timezone": "Asia/Jakarta",
        "policies": {
            policy: {
                "timezone": "Asia/Jakarta",
                "category": "critical",
                "rpo_hours": 24,
                "cycles": {"daily": {"hour": 2, "minute": 30}},
            }
        },
    }
    (root / host / "config.json").write_text(json.dumps(config))


def cekat_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


FORMULAS = ['=HYPERLINK("http://x","klik")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


def test_csv_cells_a_spreadsheet_would_run_as_formulas_open_as_text(tmp_path: Path) -> None:
    root = tmp_path / "collected"
    host_tree(
        root,
        "fs01",
        "dokumen",
        [record("fs01", "dokumen", 12 + i, reason) for i, reason in enumerate(FORMULAS)],
    )
    out = tmp_path / "checklist.csv"
    proc = cekat_run("report", str(root), *PERIOD, "--format", "csv", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["reason"] for r in rows] == ["'" + f for f in FORMULAS]
    # Numbers and ordinary text are untouched.
    assert {r["duration_seconds"] for r in rows} == {"10.0"}
    assert {r["host"] for r in rows} == {"fs01"}


def test_names_with_dollar_signs_are_drawn_as_written(tmp_path: Path) -> None:
    """matplotlib would read the text between two "$" as mathtext: "a$b$c" lost its dollars
    and "$x/dokumen_$" (a subscript of nothing) failed the whole form."""
    root = tmp_path / "collected"
    host_tree(root, "a$b$c", "dokumen", [record("a$b$c", "dokumen", 12)])
    host_tree(root, "$x", "dokumen_$", [record("$x", "dokumen_$", 12)])
    out = tmp_path / "form.html"
    proc = cekat_run("report", str(root), *PERIOD, "--format", "html", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    form = out.read_text(encoding="utf-8")
    charts = form[form.index('<div class="charts">') : form.index("</div>", form.index("<svg"))]
    assert "a$b$c/dokumen" in charts
    assert "$x/dokumen_$" in charts


def test_a_run_failing_half_way_leaves_the_previous_report_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "collected"
    host_tree(root, "fs01", "dokumen", [record("fs01", "dokumen", day) for day in (12, 13, 14)])
    reports = tmp_path / "reports"
    reports.mkdir()
    out = reports / "checklist.csv"
    assert cekat.main(["report", str(root), *PERIOD, "--format", "csv", "--out", str(out)]) == 0
    previous = out.read_bytes()
    assert previous.count(b"\n") == 7  # header and six days

    class FailingWriter(outputs.CsvWriter):
        """Writes its first row, then fails, as a full disk or a bug would."""

        def row(self, row: dict[str, Any]) -> None:
            super().row(row)
            raise RuntimeError("gagal di tengah jalan")

    monkeypatch.setitem(outputs.WRITERS, "csv", FailingWriter)
    with pytest.raises(RuntimeError):
        cekat.main(["report", str(root), *PERIOD, "--format", "csv", "--out", str(out)])

    assert out.read_bytes() == previous
    assert [p.name for p in reports.iterdir()] == ["checklist.csv"], "no temporary file left"


def test_the_report_is_readable_by_the_report_group_only(tmp_path: Path) -> None:
    root = tmp_path / "collected"
    host_tree(root, "fs01", "dokumen", [record("fs01", "dokumen", 12)])
    out = tmp_path / "checklist.json"
    proc = cekat_run("report", str(root), *PERIOD, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_mode & 0o777 == 0o640
    assert json.loads(out.read_text())["kind"] == "backup_checklist"


@pytest.mark.parametrize(
    ("option", "named"),
    [
        (("--out", "{tmp}/hilang/checklist.csv"), "{tmp}/hilang"),
        (("--out", "{tmp}"), "{tmp}"),
        (("--timezone", "Asia/Atlantis"), "Asia/Atlantis"),
    ],
    ids=["out-in-a-missing-directory", "out-is-a-directory", "unknown-timezone"],
)
def test_a_bad_option_value_is_one_line_and_a_usage_error(
    tmp_path: Path, option: tuple[str, str], named: str
) -> None:
    root = tmp_path / "collected"
    host_tree(root, "fs01", "dokumen", [record("fs01", "dokumen", 12)])
    value = option[1].format(tmp=tmp_path)
    proc = cekat_run("report", str(root), *PERIOD, "--format", "csv", option[0], value)
    assert proc.returncode == 64, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert named.format(tmp=tmp_path) in proc.stderr


def test_out_to_a_device_writes_through_it_and_never_replaces_it(tmp_path: Path) -> None:
    """--out /dev/stdout (or a FIFO) is written directly: renaming a temporary file over it
    would have replaced the device node itself."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bangka_ops.cli",
            "report",
            str(tmp_path),
            "--format",
            "csv",
            "--out",
            "/dev/stdout",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("date,")
    assert Path("/dev/stdout").is_symlink() or not Path("/dev/stdout").is_file()
