"""The checklist's database rows: each run's dumps in its row, per database the newest dump and
restore-test row of the period in the KPIs (JSON), the CSV, the Prometheus textfile and the
printed form; records from a host with hostile ``databases`` still make a report."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from bangka_ops.backup import records
from bangka_ops.report import dumps, html, ingest, ledger, outputs
from tests.unit.report.database_records import (
    HOST,
    PG,
    POLICY,
    build,
    collected,
    dump,
    loaded,
    restore_test_record,
    run_record,
)

NOT_THERE = (
    'exited with 1: pg_dump: error: connection to server on socket "/run/postgresql/.s.PGSQL.5432"'
    ' failed: FATAL:  database "tidak_ada" does not exist'
)


def kepegawaian(**extra: Any) -> dict[str, Any]:
    estimates = {"public.pegawai": 20_000, "public.jabatan": 150, "public.baru": None}
    return dump("kepegawaian", rows_estimate=estimates, **extra)


def realistic(tmp_path: Path) -> Path:
    """Two days of a database host: on the 12th every dump succeeded; on the 13th PostgreSQL's
    ``tidak_ada`` failed (the run failed), and the restore test of the 13th found a table of
    MariaDB's ``absensi`` missing after the load."""
    runs = [
        run_record(
            "2025-05-12T02:31:00+07:00",
            [
                dump(None, what="globals"),
                kepegawaian(bytes=1_000_000),
                dump("absensi", kind="mariadb", number=1, rows_estimate={"absen": 900}),
            ],
        ),
        run_record(
            "2025-05-13T02:31:00+07:00",
            [
                dump(None, what="globals"),
                kepegawaian(server_version="15.10"),
                dump(
                    "tidak_ada",
                    number=2,
                    status="failed",
                    bytes=0,
                    duration_seconds=0.2,
                    rows_estimate=None,
                    reason=NOT_THERE,
                ),
                dump(None, kind="mariadb", what="users"),
                dump("absensi", kind="mariadb", number=1, rows_estimate={"absen": 950}),
            ],
        ),
    ]
    test = restore_test_record(
        "2025-05-13T03:00:00+07:00",
        [
            {
                "kind": "globals", "type": "postgresql", "member": f"{PG}/globals.sql",
                "database": None, "bytes": 2048, "sha256": "cd" * 32, "status": "passed",
            },
            loaded("kepegawaian"),
            loaded(
                "absensi", kind="mariadb", restore_seconds=5.5, rows_restored=940,
                tables_missing=["absen_harian"], tables_missing_count=1,
                rows_outside_tolerance=[{"table": "absen", "estimate": 950, "restored": 10}],
                rows_outside_tolerance_count=1, status="failed",
                smoke={"query": "SELECT 1 FROM absen", "passed": False, "output": "(no row)"},
                reasons=["tables missing after the restore: ['absen_harian']"],
            ),
        ],
    )  # fmt: skip
    return collected(tmp_path / "collected", runs, [test])


def test_the_realistic_records_are_what_the_schemas_say(tmp_path: Path) -> None:
    root = realistic(tmp_path)
    for path in sorted((root / HOST / "records" / POLICY).glob("*.json")):
        assert records.validate(json.loads(path.read_text())) == [], path
    (test,) = (root / HOST / "records" / "restore-tests").rglob("*.json")
    assert (
        records.validate(json.loads(test.read_text()), "restore-test-record.v1.schema.json") == []
    )


def test_each_row_summarises_its_runs_dumps(tmp_path: Path) -> None:
    rows, report = build(realistic(tmp_path))
    assert [(r["date"], r["status"], r["databases"]) for r in rows] == [
        ("2025-05-12", "success", "2/2 ok"),
        ("2025-05-13", "failed", "2/3 ok; failed: tidak_ada"),
    ]
    assert report.problems == []


def test_kpis_list_each_database_with_its_newest_dump_and_restore_test(tmp_path: Path) -> None:
    _, report = build(realistic(tmp_path))
    kpis = report.kpis()
    entries = {(e["type"], e["database"]): e for e in kpis["databases"]}
    assert [(e["database"], e["breaching"]) for e in kpis["databases"]] == [
        ("absensi", True),  # the restore test failed it
        ("tidak_ada", True),  # its dump failed
        ("kepegawaian", False),
    ]
    good = entries[("postgresql", "kepegawaian")]
    assert good == {
        "host": HOST,
        "policy": POLICY,
        "type": "postgresql",
        "database": "kepegawaian",
        "breaching": False,
        "dump": {
            "date": "2025-05-13",
            "start": "2025-05-13T02:31:00+07:00",
            "run_status": "failed",
            "status": "success",
            "bytes": 1_048_576,  # the 13th's, not the 12th's
            "duration_seconds": 3.5,
            "server_version": "15.10",
            "rows_estimate_total": 20_150,  # the table without an estimate left out
            "reason": None,
        },
        "restore_test": {
            "start": "2025-05-13T03:00:00+07:00",
            "status": "passed",
            "restore_seconds": 41.2,
            "rows_restored": 20_150,
            "tables_missing_count": 0,
            "rows_outside_tolerance_count": 0,
            "smoke_passed": True,
            "scratch_dropped": True,
            "reasons": None,
        },
    }
    missing = entries[("postgresql", "tidak_ada")]
    assert missing["dump"]["status"] == "failed"
    assert missing["dump"]["reason"] == NOT_THERE
    assert missing["dump"]["rows_estimate_total"] is None
    assert missing["restore_test"] is None  # the failed dump was never loaded
    absensi = entries[("mariadb", "absensi")]
    assert absensi["dump"]["status"] == "success"
    assert absensi["dump"]["rows_estimate_total"] == 950
    assert absensi["restore_test"]["status"] == "failed"
    assert absensi["restore_test"]["tables_missing_count"] == 1
    assert absensi["restore_test"]["rows_outside_tolerance_count"] == 1
    assert absensi["restore_test"]["smoke_passed"] is False
    assert absensi["restore_test"]["reasons"] == (
        "tables missing after the restore: ['absen_harian']"
    )
    (policy,) = kpis["policies"]
    assert policy["breaches"] == [
        "RPO",  # the 13th's run failed (its dump did): the newest good archive is the 12th's
        "restore test failed",
        "database dump failed",
        "database restore test failed",
    ]
    assert policy["restore_test"]["databases"] is False
    assert policy["restore_test"]["database_check"]["database_check_seconds"] == 60.1
    json.dumps(kpis)  # JSON as it stands


def test_the_csv_appends_the_databases_column_and_keeps_the_others_in_place(
    tmp_path: Path,
) -> None:
    rows, report = build(realistic(tmp_path))
    out = io.StringIO()
    writer = outputs.CsvWriter(out)
    for row in rows:
        writer.row(row)
    writer.finish(report)
    header, *lines = list(csv.reader(io.StringIO(out.getvalue())))
    assert header == [
        "date", "host", "policy", "category", "cycle", "backup_type", "trigger", "status",
        "start", "duration_seconds", "original_bytes", "compressed_bytes",
        "deduplicated_bytes", "files", "log_check", "borg_check", "restore_test",
        "admin_check", "repository", "offsite_repository", "offsite_status", "archive",
        "reason", "record", "databases",
    ]  # fmt: skip
    assert [line[-1] for line in lines] == ["2/2 ok", "2/3 ok; failed: tidak_ada"]


def test_the_json_document_has_the_column_and_the_section(tmp_path: Path) -> None:
    rows, report = build(realistic(tmp_path))
    path = tmp_path / "checklist.json"
    with path.open("w", encoding="utf-8") as out:
        writer = outputs.JsonWriter(out)
        for row in rows:
            writer.row(row)
        writer.finish(report)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert [r["databases"] for r in document["rows"]] == ["2/2 ok", "2/3 ok; failed: tidak_ada"]
    assert [e["database"] for e in document["kpis"]["databases"]] == [
        "absensi",
        "tidak_ada",
        "kepegawaian",
    ]


def prometheus(rows: list[dict[str, Any]], report: Any) -> str:
    out = io.StringIO()
    writer = outputs.PrometheusWriter(out)
    for row in rows:
        writer.row(row)
    writer.finish(report)
    return out.getvalue()


def test_prometheus_has_a_dump_and_a_restore_test_gauge_per_database(tmp_path: Path) -> None:
    text = prometheus(*build(realistic(tmp_path)))
    labels = 'host="db01",policy="simpeg",type="{}",database="{}"'
    lines = {line for line in text.splitlines() if "_database_" in line}
    assert lines == {
        "# HELP bangka_backup_database_dump_ok 1 when the newest dump of the database in the "
        "report period succeeded, else 0.",
        "# TYPE bangka_backup_database_dump_ok gauge",
        "# HELP bangka_backup_database_restore_test_ok 1 when the database's row in the newest "
        "restore test of the report period passed, else 0.",
        "# TYPE bangka_backup_database_restore_test_ok gauge",
        "bangka_backup_database_dump_ok{" + labels.format("mariadb", "absensi") + "} 1",
        "bangka_backup_database_dump_ok{" + labels.format("postgresql", "tidak_ada") + "} 0",
        "bangka_backup_database_dump_ok{" + labels.format("postgresql", "kepegawaian") + "} 1",
        "bangka_backup_database_restore_test_ok{" + labels.format("mariadb", "absensi") + "} 0",
        "bangka_backup_database_restore_test_ok{"
        + labels.format("postgresql", "kepegawaian")
        + "} 1",
    }


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("id", ("Basis data", "gagal", "lulus", "2/3 baik; gagal: tidak_ada")),
        ("en", ("Databases", "failed", "passed", "2/3 ok; failed: tidak_ada")),
    ],
)
def test_the_form_has_the_databases_section_with_the_failures_marked(
    tmp_path: Path, lang: str, words: tuple[str, ...]
) -> None:
    rows, report = build(realistic(tmp_path))
    page = html.render(rows, report.kpis(), None, lang)
    heading, failed, passed, summary = words
    section = page[
        page.index('<section class="databases">') : page.index(
            "</section>", page.index('<section class="databases">')
        )
    ]
    assert f"<h2>{heading}</h2>" in section
    body = section.split("<tbody>")[1].split("</tr>")
    assert len(body) == 4  # three databases and what follows the last row
    missing = next(r for r in body if ">tidak_ada<" in r)
    assert '<tr class="breach">' in missing
    assert f'<td class="status-failed">{failed}<br>' in missing
    assert "database &#34;tidak_ada&#34; does not exist" in missing  # the dump's reason, escaped
    absensi = next(r for r in body if ">absensi<" in r)
    assert '<tr class="breach">' in absensi and f'<td class="status-failed">{failed}<br>' in absensi
    good = next(r for r in body if ">kepegawaian<" in r)
    assert '<tr class="">' in good and f'<td class="status-passed">{passed}<br>' in good
    # The checklist's rows name their dumps in the remarks, a failed one marked.
    assert f'<span class="status-failed">{summary}</span>' in page


def test_a_server_wide_failure_shows_while_the_newest_run_still_has_it(tmp_path: Path) -> None:
    broken = dump(None, what="globals", status="failed", reason="exited with 1: pg_dumpall")
    runs = [
        run_record("2025-05-12T02:31:00+07:00", [broken, kepegawaian()]),
        run_record("2025-05-13T02:31:00+07:00", [dump(None, what="globals"), kepegawaian()]),
    ]
    rows, report = build(collected(tmp_path / "fixed", runs))
    assert [r["databases"] for r in rows] == [
        f"1/2 ok; failed: (globals of {PG})",
        "1/1 ok",
    ]
    assert [e["database"] for e in report.kpis()["databases"]] == ["kepegawaian"]

    runs[1] = run_record("2025-05-13T02:31:00+07:00", [broken, kepegawaian()])
    _, report = build(collected(tmp_path / "still", runs))
    entries = report.kpis()["databases"]
    assert [(e["database"], e["breaching"]) for e in entries] == [
        (f"(globals of {PG})", True),
        ("kepegawaian", False),
    ]
    assert entries[0]["dump"]["date"] == "2025-05-13"
    assert "database dump failed" in report.kpis()["policies"][0]["breaches"]


def test_a_broken_stream_listed_only_by_name_is_a_failed_dump_of_no_type(tmp_path: Path) -> None:
    record = run_record("2025-05-13T02:31:00+07:00", [kepegawaian()])
    record.update(status="failed", database_dumps_failed=["(stream)"])
    rows, report = build(collected(tmp_path / "c", [record]), first="2025-05-13")
    assert [r["databases"] for r in rows] == ["1/2 ok; failed: (stream)"]
    stream = report.kpis()["databases"][0]
    assert (stream["type"], stream["database"], stream["breaching"]) == (None, "(stream)", True)
    text = prometheus(rows, report)
    assert (
        'bangka_backup_database_dump_ok{host="db01",policy="simpeg",type="",database="(stream)"} 0'
        in text
    )


def test_runs_out_of_the_period_and_runs_without_databases(tmp_path: Path) -> None:
    runs = [
        run_record(
            "2025-05-11T02:31:00+07:00",
            [dump("lama", status="failed", reason="exited with 1")],
        ),
        run_record("2025-05-12T02:31:00+07:00", None),
    ]
    rows, report = build(collected(tmp_path / "c", runs), first="2025-05-12")
    assert [(r["date"], r["databases"]) for r in rows] == [
        ("2025-05-12", None),
        ("2025-05-13", None),  # missed
    ]
    kpis = report.kpis()
    assert kpis["databases"] == []  # the 11th's failed dump is not the period's
    assert not [b for b in kpis["policies"][0]["breaches"] if b.startswith("database")]
    assert "_database_" not in prometheus(rows, report)
    assert '<section class="databases">' not in html.render(rows, kpis, None, "id")


def test_a_run_without_databases_costs_one_empty_slot() -> None:
    plain = ingest.to_run(run_record("2025-05-12T02:31:00+07:00", None), "x.json")
    assert plain.databases is None and plain.columns["databases"] is None
    assert not hasattr(plain, "__dict__")  # slots
    with_dumps = ingest.to_run(run_record("2025-05-12T02:31:00+07:00", [kepegawaian()]), "y.json")
    assert with_dumps.databases is not None
    assert with_dumps.databases.entries == (
        dumps.Dump("postgresql", "kepegawaian", "database", "success", 1_048_576, 3.5, "15.10",
                    20_150, None),
    )  # fmt: skip


def test_databases_survive_consolidation_into_the_ledger(tmp_path: Path) -> None:
    root = realistic(tmp_path)
    before_rows, before = build(root)
    summary = ledger.consolidate(root)
    assert summary.moved == 2
    after_rows, after = build(root)
    assert [r["databases"] for r in after_rows] == [r["databases"] for r in before_rows]
    assert after.kpis()["databases"] == before.kpis()["databases"]


def test_a_record_read_leniently_keeps_its_dumps(tmp_path: Path) -> None:
    """A record with a non-object ``offsite`` takes the checked reading: its dumps too."""
    record = run_record(
        "2025-05-13T02:31:00+07:00",
        [dump("tidak_ada", status="failed", reason=NOT_THERE)],
        offsite="rusak",
    )
    run = ingest.to_run(record, "x.json")
    assert run.columns["offsite_status"] is None
    assert run.columns["databases"] == "0/1 ok; failed: tidak_ada"


def test_many_failed_dumps_are_counted_not_all_named(tmp_path: Path) -> None:
    failed = [dump(f"db{i}", number=i, status="failed", reason="x") for i in range(1, 9)]
    run = ingest.to_run(run_record("2025-05-13T02:31:00+07:00", failed), "x.json")
    assert run.columns["databases"] == "0/8 ok; failed: db1, db2, db3, db4, db5 (+3 more)"
    assert html.dumps_summary(run.columns["databases"], html.TEXT["id"]) == {
        "text": "0/8 baik; gagal: db1, db2, db3, db4, db5 (+3 lainnya)",
        "failed": True,
    }


# ---- hostile records -----------------------------------------------------------------------

HUGE = "x" * 100_000


def hostile(tmp_path: Path) -> Path:
    """Records a compromised or broken host could send: ``databases`` not a list, entries of
    the wrong types, a 100 kB database name, restore-test rows of the wrong types."""
    not_a_list = run_record("2025-05-12T02:31:00+07:00", None)
    not_a_list.update(databases="semua", database_dumps_failed={"a": 1})
    wrong = run_record("2025-05-13T02:31:00+07:00", None)
    wrong["databases"] = [
        "kepegawaian",
        42,
        None,
        {**dump(None), "database": 42},  # a number for a name
        dump("angka", bytes="12", duration_seconds="lama", rows_estimate=[1, 2],
             server_version={"v": 15}, type=["postgresql"], reason=7),
        dump("aneh", status="ok"),
        dump(HUGE, status="failed", reason="r" * 100_000),
        dump(None, what="semuanya"),
        {**dump("kepegawaian"), "rows_estimate": {"a": True, "b": 2**40, "c": 5}},
    ]  # fmt: skip
    test = restore_test_record("2025-05-13T03:00:00+07:00", [])
    test["databases"] = [
        loaded(HUGE, status="failed", reasons=["y" * 100_000, 5]),
        loaded("kepegawaian", restore_seconds="cepat", rows_restored=1.5, smoke="ya",
               tables_missing="semua", tables_missing_count=None, scratch_dropped="ya"),
        loaded("angka", status="mungkin"),
        "baris",
        {"kind": "entah", "type": "postgresql", "member": "m", "status": "passed"},
    ]  # fmt: skip
    test["database_check"] = "lulus"
    test["result"]["databases"] = "ya"
    second = restore_test_record("2025-05-12T03:00:00+07:00", [])
    second["databases"] = {"kepegawaian": "passed"}
    return collected(tmp_path / "collected", [not_a_list, wrong], [test, second])


def test_a_hostile_record_still_makes_a_report_with_names_cut_and_problems_named(
    tmp_path: Path,
) -> None:
    rows, report = build(hostile(tmp_path))
    # Both runs are rows: what their dumps hold never costs a run its row.
    assert [(r["date"], r["status"]) for r in rows] == [
        ("2025-05-12", "success"),
        ("2025-05-13", "success"),
    ]
    assert rows[0]["databases"] is None  # nothing readable
    cut = "x" * (dumps.NAME_MAX - 1) + "\N{HORIZONTAL ELLIPSIS}"
    assert rows[1]["databases"] == f"2/4 ok; failed: aneh, {cut}"
    problems = [(p.path.name, p.message) for p in report.problems]
    tested, run = "rt-0.json", "db01-simpeg-daily-2025-05-13T02-31-00.json"
    assert problems == [
        # pass 1: the restore tests (the 13th's, then the 12th's) ...
        (tested, "databases[0].database: a name of 100000 characters, kept cut to 128"),
        (tested, "databases[2].status: expected passed or failed"),
        (tested, "databases[3]: expected an object"),
        (tested, "databases[4].kind: expected database or globals"),
        (tested, "database_check: expected an object"),
        ("rt-1.json", "databases: expected a list"),
        # ... pass 2: the runs, in time order
        ("db01-simpeg-daily-2025-05-12T02-31-00.json", "databases: expected a list"),
        (
            "db01-simpeg-daily-2025-05-12T02-31-00.json",
            "database_dumps_failed: expected a list of names",
        ),
        (run, "databases[0]: expected an object"),
        (run, "databases[1]: expected an object"),
        (run, "databases[2]: expected an object"),
        (run, "databases[3].database: expected a database name"),
        (run, "databases[4].type: expected a database type"),
        (run, "databases[5].status: expected success or failed"),
        (run, "databases[6].database: a name of 100000 characters, kept cut to 128"),
        (run, "databases[7].what: expected one of database, globals, users, server"),
    ]

    kpis = report.kpis()
    entries = {(e["type"], e["database"]): e for e in kpis["databases"]}
    assert list(entries) == [
        ("postgresql", "aneh"),  # breaching first
        ("postgresql", "angka"),
        ("postgresql", cut),
        (None, "angka"),  # its type was a list: a dump of no type, not the restore test's
        ("postgresql", "kepegawaian"),
    ]
    angka = entries[(None, "angka")]
    assert angka["dump"] == {
        "date": "2025-05-13",
        "start": "2025-05-13T02:31:00+07:00",
        "run_status": "success",
        "status": "success",
        "bytes": None,
        "duration_seconds": None,
        "server_version": None,
        "rows_estimate_total": None,
        "reason": None,
    }
    assert angka["restore_test"] is None and angka["breaching"] is False
    assert entries[("postgresql", "angka")]["dump"] is None
    assert entries[("postgresql", "angka")]["restore_test"]["status"] == "failed"
    aneh = entries[("postgresql", "aneh")]["dump"]
    assert (aneh["status"], aneh["reason"]) == ("failed", "no readable status")  # not usable
    assert entries[("postgresql", "kepegawaian")]["dump"]["rows_estimate_total"] == 2**40 + 5
    huge = entries[("postgresql", cut)]
    assert huge["breaching"] is True
    assert len(huge["dump"]["reason"]) == dumps.REASON_MAX
    assert len(huge["restore_test"]["reasons"]) == dumps.REASON_MAX
    assert entries[("postgresql", "kepegawaian")]["restore_test"] == {
        "start": "2025-05-13T03:00:00+07:00",
        "status": "passed",
        "restore_seconds": None,
        "rows_restored": None,
        "tables_missing_count": None,
        "rows_outside_tolerance_count": 0,
        "smoke_passed": None,
        "scratch_dropped": None,
        "reasons": None,
    }
    (policy,) = kpis["policies"]
    assert policy["restore_test"]["databases"] is None  # "ya" is not a boolean
    assert policy["restore_test"]["database_check"] is None

    document = json.dumps(kpis)
    assert HUGE not in document and len(document) < 20_000
    text = prometheus(rows, report)
    assert HUGE not in text and f'database="{cut}"' in text
    page = html.render(rows, kpis, None, "id")
    assert HUGE not in page and cut in page


def test_database_names_are_escaped_in_prometheus_labels(tmp_path: Path) -> None:
    odd = 'data"base\\baru\nlagi'  # PostgreSQL takes any of these in a quoted name
    record = run_record("2025-05-13T02:31:00+07:00", [dump(odd, status="failed", reason="x")])
    text = prometheus(*build(collected(tmp_path / "c", [record]), first="2025-05-13"))
    assert (
        'bangka_backup_database_dump_ok{host="db01",policy="simpeg",type="postgresql",'
        'database="data\\"base\\\\baru\\nlagi"} 0'
    ) in text.splitlines()
