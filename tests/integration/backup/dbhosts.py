"""Real database servers for the tests: a PostgreSQL 15 cluster and a MariaDB 10.11 server,
each started by the test in its own private directory with its own socket (no network), and
peer / unix_socket authentication as on a Debian host. Both hold the sample staffing database of
examples/databases with ROWS staff: foreign keys, view, function, a trigger (MariaDB),
non-ASCII text."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bangka_ops.backup import databases, dbservers, dumpstream

PG_PORT = 54329
ROWS = 20000
ADDRESS = "Sungailiat — Kabupaten Bangka ✓"

UNITS = 60  # unit_kerja rows of the schema
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "databases"


def schema(kind: str, rows: int = ROWS) -> str:
    """The sample staffing database of examples/databases with ``rows`` staff."""
    text = (EXAMPLES / f"kepegawaian-{kind}.sql.j2").read_text(encoding="utf-8")
    return text.replace("{{ db_rows }}", str(rows))


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
        pg.execute(database, schema("postgresql"))
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
        maria.execute(database, schema("mariadb"))
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


def dump(server: dbservers.Server, names: list[str]) -> tuple[list[dict[str, Any]], bytes]:
    """The server's dumps of ``names`` as a stream of small parts, and their outcomes."""
    out = io.BytesIO()
    stream = dumpstream.DumpStream(out, part_bytes=256 * 1024)
    outcomes = databases.dump_server(stream, server, names)
    stream.close()
    return outcomes, out.getvalue()


def joined(data: bytes) -> dict[str, bytes]:
    """Each member of a dump stream, its parts joined."""
    found: dict[str, bytes] = {}
    for name, piece in dumpstream.pieces(io.BytesIO(data)):
        found[name] = found.get(name, b"") + piece
    return found
