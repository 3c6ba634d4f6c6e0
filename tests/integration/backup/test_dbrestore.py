"""Stage 2 for databases: a run's dump stream loaded into scratch databases of real PostgreSQL
15 and MariaDB 10.11 servers as an unprivileged account, compared with the estimates recorded
at dump time, smoke-tested and dropped, whatever happens; and a hostile or broken stream is a
failed check with its reason, never a load with the server's rights."""

from __future__ import annotations

import io
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from bangka_ops.backup import (
    databases,
    dbrestore,
    dbservers,
    dumpstream,
    records,
    restore,
    restore_test,
)
from tests.conftest import BorgSetup
from tests.integration.backup import dbhosts


def entries(pg: dbservers.PostgreSQL, maria: dbservers.MariaDB) -> list[dict[str, Any]]:
    return [
        {"type": "postgresql", "name": "kepegawaian", "socket_dir": pg.socket_dir,
         "port": pg.port, "bin_dir": pg.bin_dir},
        {"type": "mariadb", "name": "kepegawaian", "socket": maria.socket},
    ]  # fmt: skip


def stream_of(wanted: list[dict[str, Any]]) -> bytes:
    out = io.BytesIO()
    outcomes: list[dict[str, Any]] = []
    databases.write_stream(out, wanted, outcomes)
    return out.getvalue()


def settings(
    pg: dbservers.PostgreSQL, maria: dbservers.MariaDB, user: str, **more: Any
) -> dbrestore.Settings:
    # Both types expected, as a policy dumping both says: the first scratch database of each
    # is made ahead, while the stream starts.
    more.setdefault("expected", ("postgresql", "mariadb"))
    return dbrestore.Settings(servers={"postgresql": pg, "mariadb": maria}, restore_user=user,
                              **more)  # fmt: skip


def scratch_left(pg: dbservers.PostgreSQL, maria: dbservers.MariaDB) -> list[str]:
    left = pg.query(None, "SELECT coalesce(json_agg(datname), '[]') FROM pg_database "
                          "WHERE datname LIKE 'bangka_rt_%'")  # fmt: skip
    left += maria.query(
        None,
        "SELECT COALESCE(JSON_ARRAYAGG(SCHEMA_NAME), '[]') FROM "
        "information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'bangka_rt_%'",
    )
    return list(left)


def members_of(data: bytes) -> list[tuple[str, bytes]]:
    return list(dumpstream.pieces(io.BytesIO(data)))


def rebuilt(pieces: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    stream = dumpstream.DumpStream(out)
    counts: dict[str, int] = {}
    for name, data in pieces:
        if name.endswith(".json"):
            stream.add_bytes(name, data)
        else:
            counts[name] = counts.get(name, 0) + 1
            stream.member(f"{name}.{counts[name]:06d}", data, 0)
    stream.close()
    return out.getvalue()


def test_both_servers_dumps_load_as_the_unprivileged_account_and_are_dropped(
    pg_server: dbservers.PostgreSQL, maria_server: dbservers.MariaDB, restore_user: str
) -> None:
    data = stream_of(entries(pg_server, maria_server))
    check = dbrestore.StreamCheck(settings(pg_server, maria_server, restore_user))
    outcome = check.run(io.BytesIO(data))
    assert outcome["status"] == "passed", outcome["reason"]
    loaded = [r for r in outcome["databases"] if r["kind"] == "database"]
    assert [(r["type"], r["database"]) for r in loaded] == [
        ("postgresql", "kepegawaian"), ("mariadb", "kepegawaian")]  # fmt: skip
    for row in loaded:
        assert row["restore_exit_code"] == 0 and row["sha256_matches"] is True
        assert row["tables_missing"] == [] and row["rows_outside_tolerance"] == []
        assert row["rows_restored"] >= dbhosts.ROWS + dbhosts.UNITS
        assert row["scratch_dropped"] is True
    assert outcome["databases_restored"] == 2
    assert scratch_left(pg_server, maria_server) == []
    # The account that loaded them holds no right beyond its own databases.
    assert pg_server.query(None, "SELECT to_json(rolsuper OR rolcreatedb OR rolcreaterole) FROM "
                                 f"pg_roles WHERE rolname = '{restore_user}'") is False  # fmt: skip


def test_a_smoke_query_runs_in_the_restored_database_and_a_failing_one_fails(
    pg_server: dbservers.PostgreSQL, maria_server: dbservers.MariaDB, restore_user: str
) -> None:
    data = stream_of(entries(pg_server, maria_server))
    good = settings(pg_server, maria_server, restore_user, smoke={
        ("postgresql", "kepegawaian"): "SELECT jumlah_pegawai()",
        ("mariadb", "all"): "SELECT count(*) FROM pegawai_per_unit"})  # fmt: skip
    outcome = dbrestore.StreamCheck(good).run(io.BytesIO(data))
    assert outcome["status"] == "passed", outcome["reason"]
    smokes = [r["smoke"] for r in outcome["databases"] if r["kind"] == "database"]
    assert smokes[0]["output"] == str(dbhosts.ROWS) and smokes[1]["output"] == str(dbhosts.UNITS)
    bad = settings(
        pg_server,
        maria_server,
        restore_user,
        smoke={("mariadb", "kepegawaian"): "SELECT * FROM tabel_hilang"},
    )
    outcome = dbrestore.StreamCheck(bad).run(io.BytesIO(data))
    assert outcome["status"] == "failed"
    assert "mariadb kepegawaian: the smoke query failed" in outcome["reason"]
    assert "tabel_hilang" in outcome["reason"]
    assert scratch_left(pg_server, maria_server) == []


def test_row_counts_far_from_the_recorded_estimates_fail(
    pg_server: dbservers.PostgreSQL, maria_server: dbservers.MariaDB, restore_user: str
) -> None:
    pieces = members_of(stream_of(entries(pg_server, maria_server)[:1]))
    changed = []
    for name, data in pieces:
        if name.endswith(".about.json"):
            about = json.loads(data)
            about["rows_estimate"]["public.pegawai"] = 90000
            about["rows_estimate"]["public.dihapus"] = 5
            changed.append((name, json.dumps(about).encode()))
        else:
            changed.append((name, data))
    outcome = dbrestore.StreamCheck(settings(pg_server, maria_server, restore_user)).run(
        io.BytesIO(rebuilt(changed))
    )
    assert outcome["status"] == "failed"
    (row,) = [r for r in outcome["databases"] if r["kind"] == "database"]
    assert row["tables_missing"] == ["public.dihapus"]
    assert row["rows_outside_tolerance"] == [
        {"table": "public.pegawai", "estimate": 90000, "restored": dbhosts.ROWS}]  # fmt: skip
    assert scratch_left(pg_server, maria_server) == []


def hostile_mariadb_stream(sql: bytes) -> bytes:
    about = {"type": "mariadb", "database": "aplikasi", "server_version": "10.11",
             "rows_estimate": {}}  # fmt: skip
    return rebuilt([
        ("plan.json", b"{}"),
        ("mariadb/01/001.about.json", json.dumps(about).encode()),
        ("mariadb/01/001.sql", sql),
        ("status.json", json.dumps({"complete": True, "failed": [], "dumps": [
            {"member": "mariadb/01/001.sql", "database": "aplikasi", "status": "success"}]}
        ).encode()),
    ])  # fmt: skip


@pytest.mark.parametrize(
    "sql",
    [
        b"CREATE TABLE t (a int);\nDROP DATABASE kepegawaian;\n",
        b"CREATE USER jahat@localhost;\nGRANT ALL ON *.* TO jahat@localhost;\n",
        b"SELECT 'x' INTO OUTFILE '/tmp/bangka-dbrestore-pwned';\n",
        # The mariadb client's own commands: a shell, a file read, a file written.
        b"\\! touch /tmp/bangka-dbrestore-shell\n",
        b"source /etc/passwd\n",
        b"tee /tmp/bangka-dbrestore-tee\nSELECT 1;\n",
    ],
)
def test_a_hostile_dump_cannot_use_the_servers_rights(
    pg_server: dbservers.PostgreSQL,
    maria_server: dbservers.MariaDB,
    restore_user: str,
    sql: bytes,
) -> None:
    outcome = dbrestore.StreamCheck(settings(pg_server, maria_server, restore_user)).run(
        io.BytesIO(hostile_mariadb_stream(sql))
    )
    assert outcome["status"] == "failed"
    assert "did not load" in outcome["reason"]
    assert maria_server.exists("kepegawaian")
    assert maria_server.query(None, "SELECT COUNT(*) FROM mysql.user WHERE User = 'jahat'") == 0
    for written in ("pwned", "shell", "tee"):
        assert not Path(f"/tmp/bangka-dbrestore-{written}").exists()
    assert scratch_left(pg_server, maria_server) == []


@pytest.mark.parametrize("member", ["mariadb/01/001.about.json", "status.json"])
def test_a_document_nested_too_deeply_fails_the_check_naming_it(
    pg_server: dbservers.PostgreSQL,
    maria_server: dbservers.MariaDB,
    restore_user: str,
    member: str,
) -> None:
    """The stream's documents are the client's: one nested too deeply for the parser fails the
    check with its member named, and no scratch database is left."""
    pieces = members_of(hostile_mariadb_stream(b"CREATE TABLE t (a int);\n"))
    deep = rebuilt([(n, b"[" * 100_000 if n == member else d) for n, d in pieces])
    outcome = dbrestore.StreamCheck(settings(pg_server, maria_server, restore_user)).run(
        io.BytesIO(deep)
    )
    assert outcome["status"] == "failed"
    assert f"{member} is not JSON: nested too deeply" in outcome["reason"]
    assert scratch_left(pg_server, maria_server) == []


def test_definers_of_other_accounts_become_the_loading_account(
    pg_server: dbservers.PostgreSQL, maria_server: dbservers.MariaDB, restore_user: str
) -> None:
    sql = (
        b"CREATE TABLE t (a int);\n"
        b"/*!50001 CREATE ALGORITHM=UNDEFINED */\n"
        b"/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */\n"
        b"/*!50001 VIEW `v` AS select `t`.`a` AS `a` from `t` */;\n"
        b"DELIMITER ;;\n"
        b"CREATE DEFINER=`root`@`localhost` FUNCTION `f`() RETURNS int\nRETURN 1 ;;\n"
        b"/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER tr BEFORE "
        b"INSERT ON t FOR EACH ROW SET NEW.a = NEW.a + 1 */;;\n"
        b"DELIMITER ;\nINSERT INTO t VALUES (1);\n"
    )
    outcome = dbrestore.StreamCheck(settings(pg_server, maria_server, restore_user)).run(
        io.BytesIO(hostile_mariadb_stream(sql))
    )
    assert outcome["status"] == "passed", outcome["reason"]


def test_a_cut_off_stream_or_a_marked_dump_fails_and_nothing_is_left(
    pg_server: dbservers.PostgreSQL, maria_server: dbservers.MariaDB, restore_user: str
) -> None:
    pieces = members_of(stream_of(entries(pg_server, maria_server)))
    cut = rebuilt([p for p in pieces if p[0] != "status.json"])
    outcome = dbrestore.StreamCheck(settings(pg_server, maria_server, restore_user)).run(
        io.BytesIO(cut[: len(cut) * 2 // 3])
    )
    assert outcome["status"] == "failed"
    assert "cut off" in outcome["reason"] or "cannot be read" in outcome["reason"]
    assert scratch_left(pg_server, maria_server) == []
    marked = [
        (n, json.dumps({**json.loads(d), "failed": ["kepegawaian"]}).encode())
        if n == "status.json" else (n, d)
        for n, d in pieces
    ]  # fmt: skip
    outcome = dbrestore.StreamCheck(settings(pg_server, maria_server, restore_user)).run(
        io.BytesIO(rebuilt(marked))
    )
    assert outcome["status"] == "failed"
    assert "the backup run marked these dumps failed: kepegawaian" in outcome["reason"]


def test_hostile_table_names_are_counted_not_executed(
    pg_server: dbservers.PostgreSQL, maria_server: dbservers.MariaDB, restore_user: str
) -> None:
    name = 'x"; DROP DATABASE kepegawaian; --'
    pg_server.execute(None, "CREATE DATABASE nama_aneh")
    try:
        pg_server.execute(
            "nama_aneh",
            f"CREATE TABLE {dbservers.pg_ident(name)} (a int); "
            f"INSERT INTO {dbservers.pg_ident(name)} VALUES (1);",
        )
        wanted = [{**entries(pg_server, maria_server)[0], "name": "nama_aneh"}]
        outcome = dbrestore.StreamCheck(settings(pg_server, maria_server, restore_user)).run(
            io.BytesIO(stream_of(wanted))
        )
    finally:
        pg_server.drop_database("nama_aneh")
    assert outcome["status"] == "passed", outcome["reason"]
    (row,) = [r for r in outcome["databases"] if r["kind"] == "database"]
    assert row["rows_restored"] == 1
    assert pg_server.exists("kepegawaian")


# ---- through the restore test: the archive made by a real run -----------------------------


def with_databases(
    borg_setup: BorgSetup, pg: dbservers.PostgreSQL, maria: dbservers.MariaDB, user: str,
    *names: str,
) -> None:  # fmt: skip
    wanted = entries(pg, maria)
    borg_setup.config["policies"]["docs"]["databases"] = [
        {**wanted[0], "name": n} for n in names] + [wanted[1]]  # fmt: skip
    borg_setup.config["database_restore"] = {
        "restore_user": user,
        "postgresql": {"socket_dir": pg.socket_dir, "port": pg.port, "bin_dir": pg.bin_dir},
        "mariadb": {"socket": maria.socket},
    }


@pytest.mark.parametrize("full", [True, False])
def test_the_restore_test_loads_the_archives_databases_beside_its_files(
    borg_setup: BorgSetup,
    pg_server: dbservers.PostgreSQL,
    maria_server: dbservers.MariaDB,
    restore_user: str,
    full: bool,
) -> None:
    with_databases(borg_setup, pg_server, maria_server, restore_user, "kepegawaian")
    code, backup = borg_setup.run("docs", "daily")
    assert code == 0, backup.get("reason")
    choice: dict[str, Any] = {"full": True} if full else {"min_files": 2, "min_bytes": 1}
    code, record = restore_test.RestoreTest(borg_setup.config, "docs").run(**choice)
    assert record["status"] == "passed", record.get("reason")
    assert records.validate(record, restore_test_schema()) == []
    assert record["result"]["databases"] is True
    assert [(r["kind"], r["type"]) for r in record["databases"]] == [
        ("globals", "postgresql"), ("database", "postgresql"),
        ("globals", "mariadb"), ("database", "mariadb")]  # fmt: skip
    assert record["database_check"]["databases_restored"] == 2
    assert record["rto_judged_on"].endswith("+ database loads")
    assert record["rto_judged_seconds"] >= record["database_check"]["database_check_seconds"]
    # The stream is loaded, never restored or verified as one of the files.
    assert record["archive_files"] == len(backup_files(borg_setup))
    assert scratch_left(pg_server, maria_server) == []


def test_an_archive_whose_dump_failed_fails_its_restore_test(
    borg_setup: BorgSetup,
    pg_server: dbservers.PostgreSQL,
    maria_server: dbservers.MariaDB,
    restore_user: str,
) -> None:
    with_databases(borg_setup, pg_server, maria_server, restore_user, "kepegawaian", "tidak_ada")
    _, backup = borg_setup.run("docs", "daily")
    assert backup["status"] == "failed"
    _code, record = restore_test.RestoreTest(borg_setup.config, "docs").run(full=True)
    assert record["status"] == "error"  # its only archive is marked: nothing to choose
    assert "every archive of this policy holds a failed database dump" in record["reason"]
    assert "--include-marked-archives" in record["reason"]
    _code, record = restore_test.RestoreTest(borg_setup.config, "docs").run(
        full=True, include_marked=True
    )
    assert record["status"] == "failed"
    assert record["result"]["databases"] is False
    assert "databases: the backup run marked these dumps failed: tidak_ada" in record["reason"]
    assert scratch_left(pg_server, maria_server) == []


def test_a_policy_with_databases_whose_archive_has_none_fails(
    borg_setup: BorgSetup,
    pg_server: dbservers.PostgreSQL,
    maria_server: dbservers.MariaDB,
    restore_user: str,
) -> None:
    borg_setup.run("docs", "daily")  # made before the policy had databases
    with_databases(borg_setup, pg_server, maria_server, restore_user, "kepegawaian")
    _code, record = restore_test.RestoreTest(borg_setup.config, "docs").run(full=True)
    assert record["status"] == "failed"
    assert "holds no database dumps" in record["reason"]


def restore_test_schema() -> str:
    return "restore-test-record.v1.schema.json"


def backup_files(borg_setup: BorgSetup) -> list[str]:
    return [p for p in borg_setup.source.rglob("*") if p.is_file()]  # type: ignore[misc]


def test_an_archive_whose_dump_failed_is_skipped_unless_told(
    borg_setup: BorgSetup,
    pg_server: dbservers.PostgreSQL,
    maria_server: dbservers.MariaDB,
    restore_user: str,
) -> None:
    with_databases(borg_setup, pg_server, maria_server, restore_user, "kepegawaian")
    _, good = borg_setup.run("docs", "daily")
    time.sleep(1.1)  # archive names carry the second
    with_databases(borg_setup, pg_server, maria_server, restore_user, "kepegawaian", "tidak_ada")
    _, bad = borg_setup.run("docs", "daily")
    assert bad["status"] == "failed" and bad["database_dumps_failed"] == ["tidak_ada"]
    # The announcement carries the mark to the restore host's known archives.
    announced = json.loads(borg_setup.wrapper("archives").stdout)
    marks = {a["archive"]: a.get("database_dumps_failed") for a in announced["archives"]}
    assert marks == {good["archive"]: None, bad["archive"]: ["tidak_ada"]}

    _, record = restore_test.RestoreTest(borg_setup.config, "docs").run(full=True)
    assert record["archive"] == good["archive"]
    assert record["status"] == "passed", record.get("reason")
    assert record["provenance"]["marked_skipped"] == [bad["archive"]]
    _, record = restore_test.RestoreTest(borg_setup.config, "docs").run(
        full=True, include_marked=True
    )
    assert record["archive"] == bad["archive"] and record["status"] == "failed"

    job = restore.EmergencyRestore(borg_setup.config, "docs", out=io.StringIO())
    refused = job.restore_database("kepegawaian", archive=bad["archive"], as_name="tidak_dipakai")
    assert refused["status"] == "failed"
    assert "--include-marked-archives" in refused["reason"]
    assert not pg_server.exists("tidak_dipakai")


def test_an_emergency_restore_loads_one_database_into_a_new_one(
    borg_setup: BorgSetup,
    pg_server: dbservers.PostgreSQL,
    maria_server: dbservers.MariaDB,
    restore_user: str,
) -> None:
    with_databases(borg_setup, pg_server, maria_server, restore_user, "kepegawaian")
    _, backup = borg_setup.run("docs", "daily")
    assert backup["status"] == "success", backup.get("reason")
    made: list[tuple[dbservers.Server, str]] = []
    try:
        for server, kind in ((pg_server, "postgresql"), (maria_server, "mariadb")):
            job = restore.EmergencyRestore(borg_setup.config, "docs", out=io.StringIO())
            record = job.restore_database("kepegawaian", kind=kind)
            assert record["status"] == "success", record.get("reason")
            target = record["target"].removeprefix("database ")
            made.append((server, target))
            assert target.startswith("kepegawaian_pulih_")
            assert server.query(target, "SELECT count(*) FROM pegawai") == dbhosts.ROWS
            assert record["replaced"] is False and Path(record["record_path"]).is_file()
    finally:
        for made_on, name in made:
            made_on.drop_database(name)


def test_an_existing_database_is_replaced_only_when_asked_after_a_fresh_dump(
    borg_setup: BorgSetup,
    pg_server: dbservers.PostgreSQL,
    maria_server: dbservers.MariaDB,
    restore_user: str,
) -> None:
    pg_server.execute(None, "CREATE DATABASE aplikasi")
    pg_server.execute(
        None,
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
        "'pemilik_aplikasi') THEN CREATE ROLE pemilik_aplikasi; END IF; END $$",
    )
    try:
        pg_server.execute(
            "aplikasi",
            "CREATE TABLE catatan (isi text); "
            "INSERT INTO catatan VALUES ('asli'); "
            "ALTER TABLE catatan OWNER TO pemilik_aplikasi;",
        )
        with_databases(borg_setup, pg_server, maria_server, restore_user, "aplikasi")
        _, backup = borg_setup.run("docs", "daily")
        assert backup["status"] == "success", backup.get("reason")
        pg_server.execute("aplikasi", "UPDATE catatan SET isi = 'rusak'")

        job = restore.EmergencyRestore(borg_setup.config, "docs", out=io.StringIO())
        record = job.restore_database("aplikasi", kind="postgresql", as_name="aplikasi")
        assert record["status"] == "refused"
        assert "--replace" in record["reason"]
        assert pg_server.smoke("aplikasi", "SELECT isi FROM catatan") == "rusak"  # untouched

        job = restore.EmergencyRestore(borg_setup.config, "docs", out=io.StringIO())
        record = job.restore_database(
            "aplikasi", kind="postgresql", as_name="aplikasi", replace=True
        )
        assert record["status"] == "success", record.get("reason")
        assert pg_server.smoke("aplikasi", "SELECT isi FROM catatan") == "asli"
        # The client's own server: owners as they were.
        owner = "SELECT tableowner FROM pg_tables WHERE tablename = 'catatan'"
        assert pg_server.smoke("aplikasi", owner) == "pemilik_aplikasi"
        before = Path(record["dump_before_restore"])
        assert before.stat().st_mode & 0o077 == 0
        listed = subprocess.run(pg_server.argv("pg_restore", "--list", str(before)),
                                capture_output=True, check=True).stdout  # fmt: skip
        assert b"TABLE DATA public catatan" in listed
    finally:
        pg_server.drop_database("aplikasi")


def test_a_database_the_archive_does_not_hold_is_named(
    borg_setup: BorgSetup,
    pg_server: dbservers.PostgreSQL,
    maria_server: dbservers.MariaDB,
    restore_user: str,
) -> None:
    with_databases(borg_setup, pg_server, maria_server, restore_user, "kepegawaian")
    borg_setup.run("docs", "daily")
    job = restore.EmergencyRestore(borg_setup.config, "docs", out=io.StringIO())
    record = job.restore_database("keuangan")
    assert record["status"] == "failed"
    assert "holds no dump of any database 'keuangan' (it holds: kepegawaian)" in record["reason"]


def test_another_hosts_dump_restored_here_loads_as_the_unprivileged_account(
    pg_server: dbservers.PostgreSQL, maria_server: dbservers.MariaDB, restore_user: str
) -> None:
    """An emergency restore on a restore host (not the client's own server): the dump is
    another host's data, loaded without the server's rights."""
    hostile = hostile_mariadb_stream(b"CREATE TABLE t (a int);\nDROP DATABASE kepegawaian;\n")
    result = dbrestore.restore_database(
        io.BytesIO(hostile),
        {"mariadb": maria_server},
        "aplikasi",
        "aplikasi_pulih",
        untrusted_user=restore_user,
    )
    assert result["status"] == "failed" and result["loaded_as"] == restore_user
    assert "DROP command denied" in result["reason"] or "denied" in result["reason"]
    assert maria_server.exists("kepegawaian")
    assert not maria_server.exists("aplikasi_pulih")  # the half-filled target is dropped


def test_a_database_of_many_tables_is_counted_whole(
    pg_server: dbservers.PostgreSQL, maria_server: dbservers.MariaDB, restore_user: str
) -> None:
    tables = "; ".join(f"CREATE TABLE t{n} (a int); INSERT INTO t{n} VALUES ({n})"
                       for n in range(120))  # fmt: skip
    pg_server.execute(None, "CREATE DATABASE banyak")
    maria_server.execute(None, "CREATE DATABASE banyak")
    try:
        pg_server.execute("banyak", tables + "; ANALYZE")
        maria_server.execute("banyak", tables)
        wanted = [{**e, "name": "banyak"} for e in entries(pg_server, maria_server)]
        outcome = dbrestore.StreamCheck(settings(pg_server, maria_server, restore_user)).run(
            io.BytesIO(stream_of(wanted))
        )
    finally:
        pg_server.drop_database("banyak")
        maria_server.drop_database("banyak")
    assert outcome["status"] == "passed", outcome["reason"]
    loaded = [r for r in outcome["databases"] if r["kind"] == "database"]
    assert [r["tables_restored"] for r in loaded] == [120, 120]
    assert [r["rows_restored"] for r in loaded] == [120, 120]


def test_hostile_estimates_are_data_not_a_crash(
    pg_server: dbservers.PostgreSQL, maria_server: dbservers.MariaDB, restore_user: str
) -> None:
    pieces = members_of(stream_of(entries(pg_server, maria_server)[:1]))
    changed = [
        (n, json.dumps({**json.loads(d), "rows_estimate": "abc"}).encode())
        if n.endswith(".about.json") else (n, d)
        for n, d in pieces
    ]  # fmt: skip
    outcome = dbrestore.StreamCheck(settings(pg_server, maria_server, restore_user)).run(
        io.BytesIO(rebuilt(changed))
    )
    (row,) = [r for r in outcome["databases"] if r["kind"] == "database"]
    assert row["tables_recorded"] == 0 and row["scratch_dropped"] is True
    assert scratch_left(pg_server, maria_server) == []


def test_a_replace_whose_dump_turns_out_bad_puts_the_database_back(
    borg_setup: BorgSetup,
    pg_server: dbservers.PostgreSQL,
    maria_server: dbservers.MariaDB,
    restore_user: str,
    tmp_path: Path,
) -> None:
    pg_server.execute(None, "CREATE DATABASE ganti")
    try:
        pg_server.execute("ganti", "CREATE TABLE catatan (isi text); INSERT INTO catatan "
                                   "VALUES ('arsip')")  # fmt: skip
        wanted = [{**entries(pg_server, maria_server)[0], "name": "ganti"}]
        pieces = members_of(stream_of(wanted))
        pg_server.execute("ganti", "UPDATE catatan SET isi = 'hidup'")
        marked = [
            (n, json.dumps({**json.loads(d), "failed": ["ganti"], "dumps": [
                {**x, "status": "failed"} for x in json.loads(d)["dumps"]]}).encode())
            if n == "status.json" else (n, d)
            for n, d in pieces
        ]  # fmt: skip
        result = dbrestore.restore_database(
            io.BytesIO(rebuilt(marked)), {"postgresql": pg_server}, "ganti", "ganti",
            replace=True, before_dir=tmp_path / "before",
        )  # fmt: skip
        assert result["status"] == "failed"
        assert "marked this dump failed" in result["reason"]
        assert result["rolled_back"] is True
        assert pg_server.smoke("ganti", "SELECT isi FROM catatan") == "hidup"  # as it was
        # A stream that breaks in the middle of the load: the same, and no process is left.
        whole = rebuilt(pieces)
        cut = whole[: whole.index(b"status.json")]  # the dump loaded, the run's verdict lost
        result = dbrestore.restore_database(
            io.BytesIO(cut), {"postgresql": pg_server}, "ganti", "ganti",
            replace=True, before_dir=tmp_path / "before",
        )  # fmt: skip
        assert result["status"] == "failed" and result["rolled_back"] is True
        assert pg_server.smoke("ganti", "SELECT isi FROM catatan") == "hidup"
    finally:
        pg_server.drop_database("ganti")


def test_the_counts_are_the_catalogs_whatever_the_loaded_database_defines(
    pg_server: dbservers.PostgreSQL,
) -> None:
    """A dump is a client's data: a database whose search path puts its own schema first and
    whose own count and format functions answer 42 is still counted by the catalog's."""
    pg_server.execute(None, "CREATE DATABASE licik")
    try:
        pg_server.execute(
            "licik",
            "CREATE TABLE pegawai (a int); INSERT INTO pegawai SELECT generate_series(1, 7); "
            "CREATE FUNCTION public.format(text, name, name) RETURNS text LANGUAGE sql "
            "AS $$ SELECT 'SELECT 42 AS c' $$; "
            "CREATE FUNCTION public.query_to_xml(text, boolean, boolean, text) RETURNS xml "
            "LANGUAGE sql AS $$ SELECT '<row><c>42</c></row>'::xml $$; "
            "ALTER DATABASE licik SET search_path = public, pg_catalog;",
        )
        # The trap is armed: without the catalog pinned, the database's own function answers.
        armed = pg_server.query("licik", "SELECT to_json(format('%I', 'x'::name, 'y'::name))")
        assert armed == "SELECT 42 AS c"
        assert pg_server.exact_rows("licik") == {"public.pegawai": 7}
    finally:
        assert pg_server.dropped("licik")
    assert not pg_server.exists("licik")


@pytest.mark.parametrize("cut", ["no PostgreSQL dump", "cut off before any dump"])
def test_a_scratch_database_made_ahead_and_never_loaded_is_dropped(
    pg_server: dbservers.PostgreSQL, maria_server: dbservers.MariaDB, restore_user: str, cut: str
) -> None:
    """The first scratch database of each type the policy dumps is made while Borg starts;
    one the stream never needs is dropped all the same."""
    maria_only = [e for e in entries(pg_server, maria_server) if e["type"] == "mariadb"]
    data = stream_of(maria_only)
    if cut != "no PostgreSQL dump":
        data = rebuilt([p for p in members_of(data) if p[0] == "plan.json"])
    made: list[str] = []
    create = pg_server.create_database

    def recorded(database: str, owner: str | None) -> None:
        create(database, owner)  # the real CREATE DATABASE, its name kept
        made.append(database)

    check = dbrestore.StreamCheck(settings(pg_server, maria_server, restore_user))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pg_server, "create_database", recorded)
        outcome = check.run(io.BytesIO(data))
    assert len(made) == 1 and made[0].startswith("bangka_rt_")  # made ahead, never loaded
    assert scratch_left(pg_server, maria_server) == []
    assert "could not be dropped" not in str(outcome["reason"])
    loaded = [r for r in outcome["databases"] if r["kind"] == "database"]
    if cut == "no PostgreSQL dump":
        assert outcome["status"] == "passed", outcome["reason"]
        assert [(r["type"], r["status"]) for r in loaded] == [("mariadb", "passed")]
    else:
        assert outcome["status"] == "failed" and loaded == []
        assert "cut off" in str(outcome["reason"])
