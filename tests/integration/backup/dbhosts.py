"""Real database servers for the tests: a PostgreSQL 15 cluster and a MariaDB 10.11 server,
each started by the test in its own private directory with its own socket (no network), and
peer / unix_socket authentication as on a Debian host. Both hold the same small staffing-style
schema: foreign key, view, function, a trigger (MariaDB), non-ASCII text."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bangka_ops.backup import dbservers

PG_PORT = 54329
ROWS = 20000
ADDRESS = "Sungailiat — Bangka ✓"

PG_SCHEMA = f"""
CREATE TABLE unit_kerja (id serial PRIMARY KEY, nama text NOT NULL);
CREATE TABLE pegawai (
  nip char(18) PRIMARY KEY,
  nama text NOT NULL,
  unit_id int NOT NULL REFERENCES unit_kerja(id),
  jabatan text,
  alamat text
);
CREATE VIEW pegawai_per_unit AS
  SELECT u.nama, count(*) AS jumlah FROM pegawai p JOIN unit_kerja u ON u.id = p.unit_id
  GROUP BY u.nama;
CREATE FUNCTION jumlah_pegawai() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM pegawai';
INSERT INTO unit_kerja (nama) SELECT 'Unit ' || n FROM generate_series(1, 40) n;
INSERT INTO pegawai
  SELECT lpad(n::text, 18, '0'), 'Pegawai ' || n, 1 + n % 40, 'Staf',
         'Jl. Merdeka No. ' || n || ', {ADDRESS}'
  FROM generate_series(1, {ROWS}) n;
ANALYZE;
"""

MARIA_SCHEMA = f"""
CREATE TABLE unit_kerja (id int AUTO_INCREMENT PRIMARY KEY, nama varchar(80) NOT NULL)
  ENGINE=InnoDB;
CREATE TABLE pegawai (
  nip char(18) PRIMARY KEY,
  nama varchar(120) NOT NULL,
  unit_id int NOT NULL,
  jabatan varchar(80),
  alamat text,
  foto blob,
  CONSTRAINT fk_unit FOREIGN KEY (unit_id) REFERENCES unit_kerja(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE riwayat (nip char(18), kapan timestamp DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB;
CREATE VIEW pegawai_per_unit AS
  SELECT u.nama, count(*) AS jumlah FROM pegawai p JOIN unit_kerja u ON u.id = p.unit_id
  GROUP BY u.nama;
CREATE FUNCTION jumlah_pegawai() RETURNS bigint READS SQL DATA
  RETURN (SELECT count(*) FROM pegawai);
CREATE TRIGGER catat AFTER INSERT ON pegawai FOR EACH ROW
  INSERT INTO riwayat (nip) VALUES (NEW.nip);
INSERT INTO unit_kerja (nama) SELECT concat('Unit ', seq) FROM seq_1_to_40;
INSERT INTO pegawai
  SELECT lpad(seq, 18, '0'), concat('Pegawai ', seq), 1 + seq % 40, 'Staf',
         concat('Jl. Merdeka No. ', seq, ', {ADDRESS}'), X'00FF10'
  FROM seq_1_to_{ROWS};
ANALYZE TABLE unit_kerja, pegawai, riwayat;
"""


def run_as(user: str, argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["runuser", "-u", user, "--", *argv], check=True, capture_output=True)


@contextlib.contextmanager
def postgresql(database: str = "kepegawaian") -> Iterator[dbservers.PostgreSQL]:
    if not os.path.isdir("/usr/lib/postgresql"):
        pytest.fail("PostgreSQL 15 is not installed (scripts/setup.sh --test installs it)")
    bin_dir = dbservers.newest_pg_bin()
    base = Path(tempfile.mkdtemp(prefix="bangka-pg-"))
    shutil.chown(base, "postgres", "postgres")
    base.chmod(0o755)  # as /run/postgresql, /run/mysqld: other OS users reach the socket
    data = str(base / "data")
    init = [f"{bin_dir}/initdb", "-D", data, "--auth-local=peer", "-E", "UTF8", "--locale=C.UTF-8"]
    run_as("postgres", init)
    options = f"-k {base} -c listen_addresses='' -p {PG_PORT}"
    run_as("postgres", [f"{bin_dir}/pg_ctl", "-D", data, "-w", "-l", f"{base}/log", "-o", options,
                        "start"])  # fmt: skip
    pg = dbservers.PostgreSQL(socket_dir=str(base), port=PG_PORT, bin_dir=bin_dir)
    try:
        pg.execute(None, f"CREATE DATABASE {database}")
        pg.execute(database, PG_SCHEMA)
        yield pg
    finally:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", f"{bin_dir}/pg_ctl", "-D", data, "-m",
             "immediate", "stop"],
            check=False,
            capture_output=True,
        )  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def mariadb(database: str = "kepegawaian") -> Iterator[dbservers.MariaDB]:
    if not os.path.exists("/usr/sbin/mariadbd"):
        pytest.fail("MariaDB is not installed (scripts/setup.sh --test installs it)")
    base = Path(tempfile.mkdtemp(prefix="bangka-maria-"))
    shutil.chown(base, "mysql", "mysql")
    base.chmod(0o755)  # as /run/postgresql, /run/mysqld: other OS users reach the socket
    data, socket = base / "data", base / "mysqld.sock"
    subprocess.run(
        ["mariadb-install-db", "--no-defaults", "--user=mysql", f"--datadir={data}",
         "--auth-root-authentication-method=socket", "--skip-test-db"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = subprocess.Popen(
        ["runuser", "-u", "mysql", "--", "/usr/sbin/mariadbd", "--no-defaults",
         f"--datadir={data}", f"--socket={socket}", "--skip-networking",
         f"--pid-file={base}/mysqld.pid", f"--log-error={base}/error.log",
         "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    maria = dbservers.MariaDB(socket=str(socket))
    try:
        for _ in range(300):
            if socket.exists():
                with contextlib.suppress(dbservers.DumpError):
                    maria.version()
                    break
            if server.poll() is not None:
                pytest.fail(f"mariadbd stopped: {(base / 'error.log').read_text()[-2000:]}")
            time.sleep(0.1)
        maria.execute(None, f"CREATE DATABASE {database} CHARACTER SET utf8mb4")
        maria.execute(database, MARIA_SCHEMA)
        yield maria
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(base, ignore_errors=True)


def ensure_os_user(name: str) -> str:
    import pwd  # noqa: PLC0415

    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--user-group", "--shell",
             "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )  # fmt: skip
    return name
