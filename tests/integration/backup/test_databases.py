"""PostgreSQL dumps into the run's tar stream, against a real PostgreSQL 15 server started for
the test (its own cluster, socket and port; peer authentication as the `postgres` user): what
is dumped loads into an empty database with the same rows, and a failing dump says why."""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bangka_ops.backup import agent, databases, records
from tests.conftest import BorgSetup
from tests.integration.backup import dbhosts

PORT = dbhosts.PG_PORT


@pytest.fixture(scope="module")
def server(pg_server: databases.PostgreSQL) -> databases.PostgreSQL:
    return pg_server


def psql(pg: databases.PostgreSQL, database: str, sql: str) -> str:
    out: bytes = subprocess.run(
        pg.argv("psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "--dbname", database),
        input=sql.encode(),
        capture_output=True,
        check=True,
        **pg.as_user(),
    ).stdout
    return out.decode()


def test_a_database_dump_loads_into_an_empty_database_with_the_same_rows(
    server: databases.PostgreSQL,
) -> None:
    outcomes, data = dbhosts.dump(server, ["kepegawaian"])
    globals_, database = outcomes
    assert globals_["what"] == "globals" and globals_["status"] == "success"
    assert database["status"] == "success", database
    assert str(database["server_version"]).startswith("15.")
    estimate = database["rows_estimate"]
    assert isinstance(estimate, dict)
    assert estimate["public.pegawai"] == 20000
    assert estimate["public.unit_kerja"] == dbhosts.UNITS
    members = dbhosts.joined(data)
    pgdump = members[str(database["member"])]
    assert len(pgdump) == database["bytes"]
    assert isinstance(database["parts"], int) and database["parts"] >= 1
    assert b"CREATE ROLE" in members[f"postgresql/01-{PORT}/globals.sql"]

    psql(server, "postgres", "CREATE DATABASE pulih")
    try:
        subprocess.run(
            server.argv("pg_restore", "--exit-on-error", "--no-owner", "--dbname", "pulih"),
            input=pgdump,
            capture_output=True,
            check=True,
            **server.as_user(),
        )
        assert psql(server, "pulih", "SELECT count(*) FROM pegawai").strip() == "20000"
        assert psql(server, "pulih", "SELECT jumlah_pegawai()").strip() == "20000"
        assert psql(server, "pulih", "SELECT sum(jumlah) FROM pegawai_per_unit").strip() == "20000"
        assert dbhosts.ADDRESS in psql(
            server, "pulih", "SELECT alamat FROM pegawai WHERE nip = lpad('7', 18, '0')"
        )
    finally:
        psql(server, "postgres", "DROP DATABASE pulih")


def test_all_means_every_database_that_accepts_connections(
    server: databases.PostgreSQL,
) -> None:
    outcomes, _ = dbhosts.dump(server, ["all"])
    assert [o["database"] for o in outcomes] == [None, "kepegawaian", "postgres"]
    assert all(o["status"] == "success" for o in outcomes)


def test_a_missing_database_is_a_failed_dump_with_its_reason(
    server: databases.PostgreSQL,
) -> None:
    outcomes, _ = dbhosts.dump(server, ["tidak_ada"])
    failed = outcomes[-1]
    assert failed["database"] == "tidak_ada"
    assert failed["status"] == "failed"
    assert failed["exit_code"] not in (0, None)
    assert "does not exist" in str(failed["reason"])


def test_a_server_that_cannot_be_reached_is_one_failed_outcome(tmp_path: Path) -> None:
    down = databases.PostgreSQL(socket_dir=str(tmp_path), port=PORT + 1)
    outcomes, _ = dbhosts.dump(down, ["kepegawaian"])
    (only,) = outcomes
    assert only["status"] == "failed"
    assert "could not be asked" in str(only["reason"])


# ---- through the wrapper: the dumps in the run's one archive --------------------------------


def with_databases(borg_setup: BorgSetup, server: databases.PostgreSQL, *names: str) -> None:
    borg_setup.config["policies"]["docs"]["databases"] = [
        {
            "type": "postgresql",
            "name": name,
            "socket_dir": server.socket_dir,
            "port": server.port,
            "bin_dir": server.bin_dir,
        }
        for name in names
    ]


def extract_stream(borg_setup: BorgSetup, archive: str) -> dict[str, bytes]:
    proc = subprocess.run(
        ["borg", "extract", "--stdout", f"{borg_setup.repo}::{archive}", agent.DATABASES_MEMBER],
        env={
            "BORG_PASSPHRASE": borg_setup.passphrase,
            "BORG_BASE_DIR": str(borg_setup.root / "borg-base"),
        },
        capture_output=True,
        check=True,
    )
    return dbhosts.joined(proc.stdout)


def test_a_run_streams_its_databases_into_its_one_archive(
    borg_setup: BorgSetup, server: databases.PostgreSQL
) -> None:
    with_databases(borg_setup, server, "kepegawaian")
    code, record = borg_setup.run("docs", "daily")
    assert code == 0, record.get("reason")
    assert record["status"] == "success"
    assert records.validate(record) == []
    assert [d["what"] for d in record["databases"]] == ["globals", "database"]
    dump_entry = record["databases"][1]
    assert dump_entry["rows_estimate"]["public.pegawai"] == 20000
    assert borg_setup.archives() == [record["archive"]]  # files and dumps: one archive
    members = extract_stream(borg_setup, record["archive"])
    names = list(members)
    assert (names[0], names[-1]) == ("plan.json", "status.json")
    status = json.loads(members["status.json"])
    assert status["complete"] is True and status["failed"] == []
    pgdump = members[dump_entry["member"]]
    assert hashlib.sha256(pgdump).hexdigest() == dump_entry["sha256"]
    listed = subprocess.run(
        server.argv("pg_restore", "--list"), input=pgdump, capture_output=True, check=True
    ).stdout
    assert b"TABLE DATA public pegawai" in listed


def test_a_failed_dump_fails_the_run_and_names_the_database(
    borg_setup: BorgSetup, server: databases.PostgreSQL
) -> None:
    with_databases(borg_setup, server, "kepegawaian", "tidak_ada")
    code, record = borg_setup.run("docs", "daily")
    assert code != 0
    assert record["status"] == "failed"
    assert records.validate(record) == []
    assert record["database_dumps_failed"] == ["tidak_ada"]
    assert "database dump failed: postgresql tidak_ada" in record["reason"]
    assert "does not exist" in record["reason"]
    # Append-only: the archive stays; its record and its status.json say which dump is bad.
    members = extract_stream(borg_setup, record["archive"])
    assert json.loads(members["status.json"])["failed"] == ["tidak_ada"]


def test_a_database_entry_of_an_unknown_type_is_refused_by_name(
    borg_setup: BorgSetup,
) -> None:
    borg_setup.config["policies"]["docs"]["databases"] = [{"type": "oracle", "name": "x"}]
    proc = borg_setup.wrapper("run", "--policy", "docs", "--cycle", "daily")
    assert proc.returncode == agent.EXIT_USAGE
    assert "policies.docs.databases[0].type: 'oracle' is not supported" in proc.stderr


@contextlib.contextmanager
def pegawai_locked(server: databases.PostgreSQL) -> Iterator[None]:
    """The table pegawai held in ACCESS EXCLUSIVE mode by another session meanwhile."""
    holder = subprocess.Popen(
        server.argv("psql", "-X", "-q", "--dbname", "kepegawaian"),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **server.as_user(),
    )
    assert holder.stdin is not None
    holder.stdin.write(b"BEGIN; LOCK TABLE pegawai IN ACCESS EXCLUSIVE MODE; SELECT 1;\n")
    holder.stdin.flush()
    try:
        for _ in range(50):  # until the lock is held
            held = psql(
                server,
                "kepegawaian",
                "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' "
                "AND relation = 'pegawai'::regclass",
            )
            if held.strip() == "1":
                break
            time.sleep(0.1)
        yield
    finally:
        holder.stdin.write(b"ROLLBACK;\n")
        holder.stdin.close()
        holder.wait(timeout=30)


def test_a_table_locked_past_the_wait_fails_the_dump_instead_of_hanging(
    server: databases.PostgreSQL,
) -> None:
    waiting = databases.PostgreSQL(
        socket_dir=server.socket_dir, port=server.port, bin_dir=server.bin_dir, lock_wait_seconds=2
    )
    with pegawai_locked(server):
        outcomes, _ = dbhosts.dump(waiting, ["kepegawaian"])
    failed = outcomes[-1]
    assert failed["status"] == "failed"
    assert "LOCK TABLE public.pegawai" in str(failed["reason"])


def test_a_database_name_cannot_carry_connection_settings(
    server: databases.PostgreSQL,
) -> None:
    # Any role that may create databases chooses their names; "all" dumps them.
    tricky = "host=/nonexistent-socket dbname=postgres"
    psql(server, "postgres", f'CREATE DATABASE "{tricky}"')
    try:
        psql(
            server,
            tricky_conn(tricky),
            "CREATE TABLE jejak (x int); INSERT INTO jejak VALUES (1); ANALYZE;",
        )
        outcomes, data = dbhosts.dump(server, ["all"])
        entry = next(o for o in outcomes if o["database"] == tricky)
        assert entry["status"] == "success", entry
        assert entry["rows_estimate"] == {"public.jejak": 1}
        listed = subprocess.run(
            server.argv("pg_restore", "--list"),
            input=dbhosts.joined(data)[str(entry["member"])],
            capture_output=True,
            check=True,
        ).stdout
        assert b"TABLE public jejak" in listed  # its own data, not postgres's
    finally:
        psql(server, "postgres", f'DROP DATABASE "{tricky}"')


def tricky_conn(name: str) -> str:
    return databases.conninfo(name)


def test_a_dump_past_its_time_limit_is_killed_and_failed(server: databases.PostgreSQL) -> None:
    slow = databases.PostgreSQL(
        socket_dir=server.socket_dir,
        port=server.port,
        bin_dir=server.bin_dir,
        dump_timeout_seconds=3,
    )
    with pegawai_locked(server):
        outcomes, _ = dbhosts.dump(slow, ["kepegawaian"])
    failed = outcomes[-1]
    assert failed["status"] == "failed"
    assert "killed after 3 s" in str(failed["reason"])


def test_when_borg_fails_first_its_reason_leads_and_the_dumps_stop(
    borg_setup: BorgSetup, server: databases.PostgreSQL
) -> None:
    with_databases(borg_setup, server, "kepegawaian", "postgres")
    Path(borg_setup.config["repository"]["passphrase_file"]).write_text("salah\n")
    code, record = borg_setup.run("docs", "daily")
    assert code != 0
    assert record["status"] == "failed"
    assert not record["reason"].startswith("database")  # Borg's own reason first
    assert "passphrase" in record["reason"].lower()
    assert record["database_dumps_failed"]  # the dumps Borg never took are listed
    assert borg_setup.archives() == []
