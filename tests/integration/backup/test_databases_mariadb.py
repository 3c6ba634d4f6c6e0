"""MariaDB dumps into the run's tar stream, against a real MariaDB 10.11 server started for the
test (its own data directory and socket; unix_socket authentication as the `mysql` user): what
is dumped loads into an empty database with the same rows, view, function and trigger, the
users and grants are dumped beside it, and a failing dump says why."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bangka_ops.backup import agent, databases, dbservers, records
from tests.conftest import BorgSetup
from tests.integration.backup import dbhosts


def scalar(server: dbservers.MariaDB, database: str, sql: str) -> str:
    return server.run_sql(database, sql).stdout.decode().strip()


def test_a_mariadb_dump_loads_into_an_empty_database_with_the_same_rows(
    maria_server: dbservers.MariaDB,
) -> None:
    outcomes, data = dbhosts.dump(maria_server, ["kepegawaian"])
    users, database = outcomes
    assert users["what"] == "users" and users["status"] == "success", users
    assert database["status"] == "success", database
    assert database["format"] == "sql" and database["type"] == "mariadb"
    assert str(database["server_version"]).startswith("10.11")
    estimate = database["rows_estimate"]
    assert isinstance(estimate, dict) and set(estimate) == {"pegawai", "riwayat", "unit_kerja"}
    assert estimate["unit_kerja"] == dbhosts.UNITS
    # InnoDB's TABLE_ROWS is an estimate: near, not equal.
    assert 0.5 * dbhosts.ROWS <= int(estimate["pegawai"]) <= 1.5 * dbhosts.ROWS
    members = dbhosts.joined(data)
    assert b"CREATE USER `mysql`@`localhost`" in members["mariadb/01/users.sql"]
    sql = members[str(database["member"])]
    assert hashlib.sha256(sql).hexdigest() == database["sha256"]
    assert b"CREATE DATABASE" not in sql and b"USE `" not in sql  # loads under any name

    maria_server.execute(None, "CREATE DATABASE pulih CHARACTER SET utf8mb4")
    try:
        subprocess.run(
            maria_server.restore_argv("pulih"),
            input=sql,
            capture_output=True,
            check=True,
            **maria_server.as_user(),
        )
        assert scalar(maria_server, "pulih", "SELECT count(*) FROM pegawai") == str(dbhosts.ROWS)
        assert scalar(maria_server, "pulih", "SELECT jumlah_pegawai()") == str(dbhosts.ROWS)
        assert scalar(maria_server, "pulih", "SELECT sum(jumlah) FROM pegawai_per_unit") == str(
            dbhosts.ROWS
        )
        assert dbhosts.ADDRESS in scalar(
            maria_server, "pulih", "SELECT alamat FROM pegawai WHERE nip = lpad(7, 18, '0')"
        )
        assert scalar(maria_server, "pulih", "SELECT hex(foto) FROM pegawai LIMIT 1") == "00FF10"
        triggers = "SELECT count(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA='pulih'"
        assert scalar(maria_server, None, triggers) == "1"  # type: ignore[arg-type]
    finally:
        maria_server.drop_database("pulih")


def test_all_means_every_user_database_not_the_system_ones(
    maria_server: dbservers.MariaDB,
) -> None:
    outcomes, _ = dbhosts.dump(maria_server, ["all"])
    assert [o["database"] for o in outcomes] == [None, "kepegawaian"]


def test_a_name_beginning_with_a_dash_is_a_name_not_an_option(
    maria_server: dbservers.MariaDB,
) -> None:
    maria_server.execute(None, "CREATE DATABASE `--all-databases`")
    try:
        maria_server.execute(
            "--all-databases", "CREATE TABLE jejak (x int); INSERT INTO jejak VALUES (1)"
        )
        outcomes, data = dbhosts.dump(maria_server, ["--all-databases"])
        entry = outcomes[-1]
        assert entry["status"] == "success", entry
        sql = dbhosts.joined(data)[str(entry["member"])]
        assert b"CREATE TABLE `jejak`" in sql and b"pegawai" not in sql
    finally:
        maria_server.drop_database("--all-databases")


def test_a_missing_database_and_a_user_without_rights_are_failed_dumps(
    maria_server: dbservers.MariaDB,
) -> None:
    outcomes, _ = dbhosts.dump(maria_server, ["tidak_ada"])
    assert outcomes[-1]["status"] == "failed"
    assert "tidak_ada" in str(outcomes[-1]["reason"])
    # An account that may log in over the socket but holds no right on the database.
    maria_server.execute(
        None, "CREATE USER IF NOT EXISTS daemon@localhost IDENTIFIED VIA unix_socket"
    )
    try:
        weak = dbservers.MariaDB(socket=maria_server.socket, os_user="daemon")
        outcomes, _ = dbhosts.dump(weak, ["kepegawaian"])
        failed = outcomes[-1]
        assert failed["status"] == "failed"
        assert "Access denied" in str(failed["reason"])
        assert databases.failed_names(outcomes)[-1] == "kepegawaian"
    finally:
        maria_server.execute(None, "DROP USER daemon@localhost")


def test_a_stopped_server_is_one_failed_outcome(tmp_path: object) -> None:
    down = dbservers.MariaDB(socket=f"{tmp_path}/no.sock")
    (only,) = dbhosts.dump(down, ["kepegawaian"])[0]
    assert only["status"] == "failed" and only["what"] == "server"
    assert "could not be asked" in str(only["reason"])


def test_a_run_streams_postgresql_and_mariadb_into_its_one_archive(
    borg_setup: BorgSetup, pg_server: dbservers.PostgreSQL, maria_server: dbservers.MariaDB
) -> None:
    borg_setup.config["policies"]["docs"]["databases"] = [
        {"type": "postgresql", "name": "kepegawaian", "socket_dir": pg_server.socket_dir,
         "port": pg_server.port, "bin_dir": pg_server.bin_dir},
        {"type": "mariadb", "name": "kepegawaian", "socket": maria_server.socket,
         "service": "simpeg"},
    ]  # fmt: skip
    code, record = borg_setup.run("docs", "daily")
    assert code == 0, record.get("reason")
    assert records.validate(record) == []
    assert [(d["type"], d["what"]) for d in record["databases"]] == [
        ("postgresql", "globals"),
        ("postgresql", "database"),
        ("mariadb", "users"),
        ("mariadb", "database"),
    ]
    assert record["databases"][3]["member"] == "mariadb/02/001.sql"
    assert record["databases"][3]["service"] == "simpeg"
    assert "service" not in record["databases"][1]
    assert borg_setup.archives() == [record["archive"]]
    proc = subprocess.run(
        ["borg", "extract", "--stdout", f"{borg_setup.repo}::{record['archive']}",
         agent.DATABASES_MEMBER],
        env={"BORG_PASSPHRASE": borg_setup.passphrase,
             "BORG_BASE_DIR": str(borg_setup.root / "borg-base")},
        capture_output=True,
        check=True,
    )  # fmt: skip
    members = dbhosts.joined(proc.stdout)
    assert json.loads(members["status.json"])["failed"] == []
    assert (
        hashlib.sha256(members["mariadb/02/001.sql"]).hexdigest()
        == record["databases"][3]["sha256"]
    )


def test_fields_of_the_other_type_are_refused_by_name() -> None:
    found = databases.problems(
        [{"type": "mariadb", "name": "x", "port": 3306}, {"type": "postgresql", "name": "y",
                                                          "socket": "/run/x"}],
        "policies.app.databases",
    )  # fmt: skip
    assert found == [
        "policies.app.databases[0]: unknown field(s) for mariadb: port",
        "policies.app.databases[1]: unknown field(s) for postgresql: socket",
    ]


def test_where_a_password_is_unavoidable_it_is_read_from_a_private_file_only(
    maria_server: dbservers.MariaDB, tmp_path: Path
) -> None:
    word = "kata-sandi-uji-" + os.urandom(6).hex()
    maria_server.execute(None, f"CREATE USER IF NOT EXISTS pencadang@localhost IDENTIFIED BY "
                               f"'{word}'; GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES "
                               "ON kepegawaian.* TO pencadang@localhost; GRANT SELECT ON "
                               "mysql.* TO pencadang@localhost")  # fmt: skip
    tmp_path.chmod(0o755)  # as /etc/bangka-backup: mysql reaches the file, reads only its own
    for parent in tmp_path.parents:
        if parent == Path(tempfile.gettempdir()):
            break
        parent.chmod(0o755)
    secret = tmp_path / "pencadang.cnf"
    secret.write_text(f"[client]\npassword={word}\n")
    shutil.chown(secret, "mysql", "mysql")
    try:
        secret.chmod(0o644)  # readable by others: refused before any tool reads it
        loose = dbservers.MariaDB(socket=maria_server.socket, login="pencadang",
                                  password_file=str(secret))  # fmt: skip
        (only,) = dbhosts.dump(loose, ["kepegawaian"])[0]
        assert only["status"] == "failed"
        assert "readable by it alone (mode 0400 or 0600)" in str(only["reason"])

        secret.chmod(0o400)
        outcomes, data = dbhosts.dump(loose, ["kepegawaian"])
        assert [o["status"] for o in outcomes] == ["success", "success"], outcomes
        assert b"INSERT INTO `pegawai`" in dbhosts.joined(data)[str(outcomes[1]["member"])]
        # The password is in the file only: never in a command line the dump ran.
        argv = " ".join(loose.dump_argv("kepegawaian"))
        assert word not in argv and f"--defaults-file={secret}" in argv
        assert argv.split()[1] == f"--defaults-file={secret}"
    finally:
        maria_server.execute(None, "DROP USER IF EXISTS pencadang@localhost")


def test_a_postgresql_login_uses_its_pgpass_file_by_name() -> None:
    where = "/etc/bangka-backup/pg.pass"
    pg = dbservers.PostgreSQL(login="pencadang", password_file=where,
                              bin_dir="/usr/lib/postgresql/15/bin")  # fmt: skip
    assert pg.dump_argv("x")[5:7] == ["-U", "pencadang"]
    assert pg.as_user()["env"]["PGPASSFILE"] == "/etc/bangka-backup/pg.pass"
    assert "--no-role-passwords" in pg.globals_argv()
