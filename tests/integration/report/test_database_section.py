"""`cekat report` on a database host's records: every format carries the databases, the printed
form's section fits A4 landscape with long names and prints without console errors, and a
hostile record is named on stderr while the report is still written."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from tests.browser import layout_width, print_to_pdf
from tests.unit.report.database_records import (
    HOST,
    collected,
    dump,
    loaded,
    restore_test_record,
    run_record,
)
from tests.unit.report.test_database_rows import hostile, realistic

PERIOD = ("--since", "2025-05-12", "--to", "2025-05-13", "--as-of", "2025-05-13T23:00:00+07:00")
# A4 landscape less the form's 12 mm margins: 273 mm at 96 CSS px per inch.
PRINTABLE_PX = int(273 / 25.4 * 96)


def cekat_report(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", "report", str(root), *PERIOD, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_every_format_carries_the_databases(tmp_path: Path) -> None:
    root = realistic(tmp_path)
    made = {fmt: cekat_report(root, "--format", fmt) for fmt in ("json", "csv", "prom")}
    for fmt, proc in made.items():
        assert proc.returncode == 0, (fmt, proc.stderr)

    document = json.loads(made["json"].stdout)
    assert [r["databases"] for r in document["rows"]] == ["2/2 ok", "2/3 ok; failed: tidak_ada"]
    failing = [(e["database"], e["breaching"]) for e in document["kpis"]["databases"]]
    assert failing == [("absensi", True), ("tidak_ada", True), ("kepegawaian", False)]
    table = list(csv.DictReader(io.StringIO(made["csv"].stdout)))
    assert [r["databases"] for r in table] == ["2/2 ok", "2/3 ok; failed: tidak_ada"]
    assert list(table[0])[-1] == "databases"
    prom = made["prom"].stdout
    assert (
        'bangka_backup_database_dump_ok{host="db01",policy="simpeg",type="postgresql",'
        'database="tidak_ada"} 0'
    ) in prom
    assert (
        'bangka_backup_database_restore_test_ok{host="db01",policy="simpeg",type="mariadb",'
        'database="absensi"} 0'
    ) in prom


def test_a_hostile_record_is_named_and_the_report_still_written(tmp_path: Path) -> None:
    root = hostile(tmp_path)
    out = tmp_path / "form.html"
    proc = cekat_report(root, "--format", "html", "--out", str(out))
    assert proc.returncode == 1, proc.stderr  # the problems are reported ...
    assert "Traceback" not in proc.stderr
    assert "databases[6].database: a name of 100000 characters, kept cut to 128" in proc.stderr
    assert max(len(line) for line in proc.stderr.splitlines()) < 1000
    form = out.read_text(encoding="utf-8")  # ... and the form is written
    assert '<section class="databases">' in form
    assert "x" * 200 not in form


def test_the_section_with_long_names_fits_a4_landscape_and_prints(tmp_path: Path) -> None:
    """Database names, versions and reasons are long and have no spaces: they wrap in their
    cells instead of widening the table."""
    long_name = "kepegawaian_" + "riwayat_jabatan_" * 7  # near the 128 characters kept
    reason = "exited with 1: pg_dump: error: " + "/var/lib/postgresql/15/main/base/16384/" * 6
    runs = [
        run_record(
            "2025-05-13T02:31:00+07:00",
            [
                dump(long_name, rows_estimate={"public.t": 123_456_789}),
                dump("gagal_" + "x" * 100, number=2, status="failed", reason=reason),
                dump(None, kind="mariadb", what="server", status="failed", reason=reason),
            ],
        )
    ]
    tests = [
        restore_test_record(
            "2025-05-13T03:00:00+07:00",
            [loaded(long_name, status="failed", reasons=[reason, reason], scratch_dropped=False)],
        )
    ]
    root = collected(tmp_path / "collected", runs, tests)
    page = tmp_path / "basis-data.html"
    proc = cekat_report(root, "--format", "html", "--out", str(page))
    assert proc.returncode == 0, proc.stderr
    form = page.read_text(encoding="utf-8")
    assert form.count('<tr class="breach">') >= 3
    assert HOST in form
    assert layout_width(page, PRINTABLE_PX) <= PRINTABLE_PX
    assert print_to_pdf(page, tmp_path / "basis-data.pdf") == []
