"""How SI CEKAT talks to the database servers of a host: PostgreSQL and MariaDB.

Every tool runs as an OS user over the server's local socket with the server's own peer or
``unix_socket`` authentication: no password exists in argv, the environment or a file. Each
query answers exactly one JSON value, and every name that goes into SQL (a database's, a
table's) is written as a hex literal or a quoted identifier, never pasted as text: names come
from servers and, on a restore host, from a client's dump, which is data and never SQL.

The same classes serve both sides:

* dumping on the client (``databases.py``): the server's version, the databases (``all``),
  row-count estimates per table, the dump and globals commands;
* restoring (``dbrestore.py``): creating and dropping a scratch database, the command that loads
  a dump into it, exact row counts, and a smoke query.
"""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar

PG_BIN = "/usr/lib/postgresql/{major}/bin"
STDERR_TAIL = 4000
QUERY_TIMEOUT = 120
# Exact counts of a restored database's tables: at most this many tables per query.
COUNT_BATCH = 200
# Accounts a restore may never load a client's dump as: the servers' own superusers.
PRIVILEGED = frozenset({"postgres", "root", "mysql", "mariadb.sys"})


class DumpError(Exception):
    """A server could not be asked or told something (down, no such database, no right)."""


def tail(data: bytes) -> str:
    return data[-STDERR_TAIL:].decode("utf-8", errors="replace").strip()


def drain(handle: IO[bytes], into: list[bytes]) -> None:
    """Read a process's error output to its end, keeping the last STDERR_TAIL bytes."""
    kept = b""
    for chunk in iter(lambda: handle.read(65536), b""):
        kept = (kept + chunk)[-STDERR_TAIL:]
    into.append(kept)


def hex_text(value: str) -> str:
    return value.encode("utf-8").hex()


@dataclass
class Server:
    """One database server of a host, reached over its local socket as ``os_user``."""

    type: ClassVar[str] = ""
    # The dump of one database: its format (as the record names it) and the member's suffix.
    dump_format: ClassVar[str] = ""
    dump_suffix: ClassVar[str] = ""
    # What the server-wide dump holds (roles, users and grants), and its member's name.
    globals_what: ClassVar[str] = "globals"
    globals_member: ClassVar[str] = "globals.sql"

    os_user: str = ""
    bin_dir: str | None = None
    # The dump waits this long for a table's lock, then fails (PostgreSQL; never hangs).
    lock_wait_seconds: int = 600
    # Each dump is killed past this (a server frozen mid-dump cannot hold the run).
    dump_timeout_seconds: int = 21600
    env: dict[str, str] = field(default_factory=dict)
    # Where a password is unavoidable: the database login's name, and a file only os_user may
    # read holding it in the tool's own format (PostgreSQL: a .pgpass line; MariaDB: an option
    # file with [client] password=...). The password never appears in argv or the environment.
    login: str | None = None
    password_file: str | None = None

    # ---- running its tools ------------------------------------------------------------

    def binary(self, name: str) -> str:
        return os.path.join(self.bin_dir or self.default_bin_dir(), name)

    def default_bin_dir(self) -> str:
        return "/usr/bin"

    def as_user(self, os_user: str | None = None) -> dict[str, Any]:
        """Popen keywords that run a tool as the server's OS user (or ``os_user``), in /, with
        a clean environment (no PG*/MYSQL* variable of the caller reaches it)."""
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", **self.env}
        if self.password_file and not os_user:
            env.update(self.password_env())
        user = os_user or self.os_user
        return {"user": user, "group": user, "extra_groups": [], "cwd": "/", "env": env}

    def password_env(self) -> dict[str, str]:
        """Environment naming the password file (never the password)."""
        return {}

    def check_password_file(self) -> None:
        """A password file must be a regular file of os_user (or root) that no one else may
        read: DumpError otherwise, before any tool reads it."""
        if not self.password_file:
            return
        try:
            info = os.stat(self.password_file, follow_symlinks=False)
            owner = pwd.getpwnam(self.os_user).pw_uid
        except (OSError, KeyError) as exc:
            raise DumpError(f"password_file {self.password_file}: {exc}") from exc
        if not stat.S_ISREG(info.st_mode):
            raise DumpError(f"password_file {self.password_file}: not a regular file")
        if info.st_uid not in (owner, 0) or info.st_mode & 0o077:
            raise DumpError(
                f"password_file {self.password_file}: must belong to {self.os_user} and be "
                f"readable by it alone (mode 0400 or 0600), not {stat.filemode(info.st_mode)}"
            )

    def run_sql(
        self, database: str | None, sql: str, *, os_user: str | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        raise NotImplementedError

    def query(self, database: str | None, sql: str, *, os_user: str | None = None) -> Any:
        """The one JSON value ``sql`` answers in ``database``."""
        proc = self.run_sql(database, sql, os_user=os_user)
        try:
            return json.loads(proc.stdout)
        except ValueError as exc:
            raise DumpError(f"the server answered no JSON value: {exc}") from exc
        except RecursionError as exc:
            raise DumpError("the server answered no JSON value: nested too deeply") from exc

    def execute(self, database: str | None, sql: str, *, os_user: str | None = None) -> None:
        self.run_sql(database, sql, os_user=os_user)

    def run_tool(
        self, argv: list[str], sql: str, os_user: str | None
    ) -> subprocess.CompletedProcess[bytes]:
        """The SQL client ``argv`` fed ``sql``, bounded by QUERY_TIMEOUT; DumpError on failure."""
        proc = subprocess.run(
            argv,
            input=sql.encode(),
            capture_output=True,
            check=False,
            timeout=QUERY_TIMEOUT,
            **self.as_user(os_user),
        )
        if proc.returncode != 0:
            tool = os.path.basename(argv[0])
            raise DumpError(tail(proc.stderr) or f"{tool} exited with {proc.returncode}")
        return proc

    # ---- dumping ----------------------------------------------------------------------

    def version(self) -> str:
        raise NotImplementedError

    def databases(self, names: list[str]) -> list[str]:
        """The databases to dump: those named, or every user database (``all``)."""
        raise NotImplementedError

    def estimate(self, database: str) -> tuple[dict[str, int | None], int | None]:
        """Row-count estimates per table at this moment (None: the server has none yet), and
        the database's size on disk in bytes (None: unknown), in one query."""
        answer = self.query(database, self.estimate_sql(database))
        if not isinstance(answer, dict) or not isinstance(answer.get("rows"), list):
            raise DumpError("the row estimates came back as no JSON object with rows")
        size = answer.get("bytes")
        return self.rows_of(answer["rows"]), (int(size) if isinstance(size, (int, float)) else None)

    def estimate_sql(self, database: str) -> str:
        raise NotImplementedError

    def rows_of(self, listed: list[Any]) -> dict[str, int | None]:
        raise NotImplementedError

    def globals_argv(self) -> list[str]:
        raise NotImplementedError

    def dump_argv(self, database: str) -> list[str]:
        raise NotImplementedError

    def folder(self, number: int) -> str:
        """The folder of this server's dumps in the stream (one per server of a run)."""
        return f"{self.type}/{number:02d}"

    # ---- restoring --------------------------------------------------------------------

    def exists(self, database: str) -> bool:
        return bool(self.query(None, self.exists_sql(database)))

    def exists_sql(self, database: str) -> str:
        """A query answering 1 when ``database`` exists, else 0."""
        raise NotImplementedError

    def create_database(self, database: str, owner: str | None) -> None:
        raise NotImplementedError

    def drop_database(self, database: str, *, grants: bool = False) -> None:
        """Drop ``database`` if it exists; ``grants``: also the grants naming it (a scratch
        database's), never a live database's, whose grants its replacement keeps."""
        self.execute(None, self.drop_sql(database, grants=grants))

    def drop_sql(self, database: str, *, grants: bool = False) -> str:
        raise NotImplementedError

    def dropped(self, database: str, *, grants: bool = False) -> bool:
        """Drop ``database`` (as :meth:`drop_database`) and ask the server whether it is gone,
        in one client run."""
        sql = f"{self.drop_sql(database, grants=grants)};\n{self.exists_sql(database)}"
        return not self.query(None, sql)

    def restore_argv(
        self, database: str, os_user: str | None = None, keep_owners: bool = False
    ) -> list[str]:
        """The command that loads one dump, read from its standard input, into ``database``;
        ``keep_owners``: owners and grants as dumped (the host's own server, its own roles)."""
        raise NotImplementedError

    def ensure_role(self, role: str) -> None:
        """An account over the socket with no privilege beyond the databases it owns."""
        raise NotImplementedError

    def smoke(self, database: str, sql: str, *, os_user: str | None = None) -> str:
        """What ``sql`` prints in ``database`` (rows as text)."""
        proc = self.run_sql(database, sql, os_user=os_user)
        return proc.stdout.decode("utf-8", errors="replace").strip()

    def tables(self, database: str, *, os_user: str | None = None) -> list[str]:
        raise NotImplementedError

    def count_sql(self, database: str, tables: list[str]) -> str:
        raise NotImplementedError

    def exact_rows(self, database: str, *, os_user: str | None = None) -> dict[str, int]:
        """The exact row count of every table of ``database``."""
        names = self.tables(database, os_user=os_user)
        counts: dict[str, int] = {}
        for start in range(0, len(names), COUNT_BATCH):
            batch = names[start : start + COUNT_BATCH]
            answer = self.query(database, self.count_sql(database, batch), os_user=os_user)
            if not isinstance(answer, dict):
                raise DumpError("the row counts came back as no JSON object")
            counts.update({str(k): int(v) for k, v in answer.items()})
        return counts


@dataclass
class PostgreSQL(Server):
    type: ClassVar[str] = "postgresql"
    dump_format: ClassVar[str] = "custom"
    dump_suffix: ClassVar[str] = "pgdump"

    socket_dir: str = "/var/run/postgresql"
    os_user: str = "postgres"
    port: int = 5432

    ROWS_SQL: ClassVar[str] = (
        "SELECT coalesce(json_agg(json_build_array(n.nspname, c.relname, c.reltuples::bigint) "
        "ORDER BY n.nspname, c.relname), '[]') FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg_toast%'"
    )
    DATABASES_SQL: ClassVar[str] = (
        "SELECT coalesce(json_agg(datname ORDER BY datname), '[]') FROM pg_database "
        "WHERE datallowconn AND NOT datistemplate"
    )
    VERSION_SQL: ClassVar[str] = "SELECT to_json(current_setting('server_version'))"

    def default_bin_dir(self) -> str:
        return newest_pg_bin()

    def argv(self, tool: str, *args: str, os_user: str | None = None) -> list[str]:
        # Run as another OS user (the restore's account), peer authentication maps that user.
        login = ["-U", self.login] if self.login and not os_user else []
        return [self.binary(tool), "-h", self.socket_dir, "-p", str(self.port), *login, *args]

    def password_env(self) -> dict[str, str]:
        return {"PGPASSFILE": str(self.password_file)}

    def run_sql(
        self, database: str | None, sql: str, *, os_user: str | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        argv = self.argv(
            "psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "--dbname", os_user=os_user
        )
        return self.run_tool([*argv, conninfo(database or "postgres")], sql, os_user)

    def version(self) -> str:
        return str(self.query(None, self.VERSION_SQL))

    def databases(self, names: list[str]) -> list[str]:
        if "all" not in names:
            return names
        listed = self.query(None, self.DATABASES_SQL)
        return sorted({str(n) for n in listed} | {n for n in names if n != "all"})

    def estimate_sql(self, database: str) -> str:
        return (
            f"SELECT json_build_object('rows', ({self.ROWS_SQL}), "
            "'bytes', pg_database_size(current_database()))"
        )

    def rows_of(self, listed: list[Any]) -> dict[str, int | None]:
        # reltuples is -1 for a table never vacuumed or analysed: no estimate.
        return {
            f"{schema}.{table}": (int(count) if int(count) >= 0 else None)
            for schema, table, count in listed
        }

    def globals_argv(self) -> list[str]:
        # A login of its own is rarely a superuser: pg_roles instead of pg_authid, which only a
        # superuser reads (the roles then come without their password hashes).
        hashes = ["--no-role-passwords"] if self.login else []
        return self.argv("pg_dumpall", "--globals-only", "--no-password", *hashes)

    def dump_argv(self, database: str) -> list[str]:
        return self.argv(
            "pg_dump",
            "--format=custom",
            "--no-password",
            f"--lock-wait-timeout={self.lock_wait_seconds}s",
            "--dbname",
            conninfo(database),
        )

    def folder(self, number: int) -> str:
        return f"{self.type}/{number:02d}-{self.port}"

    def exists_sql(self, database: str) -> str:
        return f"SELECT to_json(count(*)) FROM pg_database WHERE datname = {pg_text(database)}"

    def create_database(self, database: str, owner: str | None) -> None:
        owned = f" OWNER {pg_ident(owner)}" if owner else ""
        self.execute(None, f"CREATE DATABASE {pg_ident(database)}{owned} TEMPLATE template0")

    def drop_sql(self, database: str, *, grants: bool = False) -> str:
        return f"DROP DATABASE IF EXISTS {pg_ident(database)} WITH (FORCE)"

    def ensure_role(self, role: str) -> None:
        """A login role without any privilege beyond its own databases (the restore's), reset
        each time: what a client's dump did to it before (a password, session defaults) goes."""
        refuse_privileged(role)
        ident = pg_ident(role)
        self.execute(
            None,
            "DO $bangka$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
            f"{pg_text(role)}) THEN CREATE ROLE {ident} LOGIN; END IF; END $bangka$; "
            f"ALTER ROLE {ident} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
            f"NOBYPASSRLS PASSWORD NULL; ALTER ROLE {ident} RESET ALL;",
        )

    def restore_argv(
        self, database: str, os_user: str | None = None, keep_owners: bool = False
    ) -> list[str]:
        owners = [] if keep_owners else ["--no-owner", "--no-privileges"]
        return self.argv(
            "pg_restore",
            "--exit-on-error",
            *owners,
            "--no-password",
            "--dbname",
            conninfo(database),
            os_user=os_user,
        )

    # Every table's exact row count in one query (each counted by a query of its own that
    # query_to_xml runs), names quoted by format's %I; the catalog first on the search path, so
    # nothing a loaded dump defined (a count, a format of its own) answers for the catalog's.
    EXACT_ROWS_SQL: ClassVar[str] = (
        "SET search_path = pg_catalog, pg_temp;\n"
        "SELECT coalesce(json_object_agg(n.nspname || '.' || c.relname, (xpath('/row/c/text()', "
        "query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, "
        "true, '')))[1]::text::bigint), '{}'::json) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg_toast%'"
    )

    def exact_rows(self, database: str, *, os_user: str | None = None) -> dict[str, int]:
        answer = self.query(database, self.EXACT_ROWS_SQL, os_user=os_user)
        if not isinstance(answer, dict):
            raise DumpError("the row counts came back as no JSON object")
        return {str(k): int(v) for k, v in answer.items()}


@dataclass
class MariaDB(Server):
    type: ClassVar[str] = "mariadb"
    dump_format: ClassVar[str] = "sql"
    dump_suffix: ClassVar[str] = "sql"
    globals_what: ClassVar[str] = "users"
    globals_member: ClassVar[str] = "users.sql"

    socket: str = "/run/mysqld/mysqld.sock"
    os_user: str = "mysql"

    SYSTEM: ClassVar[tuple[str, ...]] = ("information_schema", "mysql", "performance_schema", "sys")

    def argv(self, tool: str, *args: str, os_user: str | None = None) -> list[str]:
        # First: --no-defaults (no option file, and no password in one, is read) or, where a
        # password is unavoidable, --defaults-file (only that file, which holds it).
        user = os_user or self.login or self.os_user
        files = (
            f"--defaults-file={self.password_file}"
            if self.password_file and not os_user
            else "--no-defaults"
        )
        socket, login = f"--socket={self.socket}", f"--user={user}"
        return [self.binary(tool), files, socket, login, *args]

    def run_sql(
        self, database: str | None, sql: str, *, os_user: str | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        argv = self.argv("mariadb", "--batch", "--raw", "--skip-column-names", os_user=os_user)
        if database:
            argv.append(f"--database={database}")
        return self.run_tool(argv, sql, os_user)

    def version(self) -> str:
        return str(self.query(None, "SELECT JSON_QUOTE(VERSION())"))

    def databases(self, names: list[str]) -> list[str]:
        if "all" not in names:
            return names
        system = ", ".join(f"'{n}'" for n in self.SYSTEM)
        listed = self.query(
            None,
            "SELECT COALESCE(JSON_ARRAYAGG(SCHEMA_NAME ORDER BY SCHEMA_NAME), '[]') FROM "
            f"information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ({system})",
        )
        return sorted({str(n) for n in listed} | {n for n in names if n != "all"})

    def tables_sql(self, database: str) -> str:
        return (
            "SELECT COALESCE(JSON_ARRAYAGG(JSON_ARRAY(TABLE_NAME, TABLE_ROWS) ORDER BY "
            "TABLE_NAME), '[]') FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
            f"{maria_text(database)} AND TABLE_TYPE = 'BASE TABLE'"
        )

    def estimate_sql(self, database: str) -> str:
        size = (
            "SELECT SUM(DATA_LENGTH + INDEX_LENGTH) FROM information_schema.TABLES "
            f"WHERE TABLE_SCHEMA = {maria_text(database)}"
        )
        return (
            f"SELECT CONCAT('{{\"rows\": ', ({self.tables_sql(database)}), "
            f"', \"bytes\": ', COALESCE(({size}), 'null'), '}}')"
        )

    def rows_of(self, listed: list[Any]) -> dict[str, int | None]:
        return {str(t): (None if n is None else int(n)) for t, n in listed}

    def globals_argv(self) -> list[str]:
        return self.argv("mariadb-dump", "--system=users", "--skip-comments")

    def dump_argv(self, database: str) -> list[str]:
        # No --databases: the dump names no database, so it loads under any name (--as).
        return self.argv(
            "mariadb-dump",
            "--single-transaction",
            "--routines",
            "--events",
            "--triggers",
            "--hex-blob",
            "--default-character-set=utf8mb4",
            "--",
            database,
        )

    def exists_sql(self, database: str) -> str:
        return (
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = "
            f"{maria_text(database)}"
        )

    def create_database(self, database: str, owner: str | None) -> None:
        sql = f"CREATE DATABASE {maria_ident(database)} CHARACTER SET utf8mb4;"
        if owner:
            # _ and % in a grant's database name are wildcards: escaped, it names one database.
            sql += f" GRANT ALL PRIVILEGES ON {maria_grant(database)}.* TO {maria_account(owner)};"
        self.execute(None, sql)

    def drop_sql(self, database: str, *, grants: bool = False) -> str:
        sql = f"DROP DATABASE IF EXISTS {maria_ident(database)}"
        if grants:  # a dropped database keeps its grants: a scratch database's go too
            escaped = database.replace("_", "\\_").replace("%", "\\%")
            sql += f"; DELETE FROM mysql.db WHERE Db = {maria_text(escaped)}; FLUSH PRIVILEGES"
        return sql

    def ensure_role(self, role: str) -> None:
        """An account over the socket (unix_socket) with no privilege beyond the databases
        granted to it one by one, reset each time (no password a dump could have set)."""
        refuse_privileged(role)
        account = maria_account(role)
        self.execute(
            None,
            f"CREATE USER IF NOT EXISTS {account} IDENTIFIED VIA unix_socket; "
            f"ALTER USER {account} IDENTIFIED VIA unix_socket",
        )

    def restore_argv(
        self, database: str, os_user: str | None = None, keep_owners: bool = False
    ) -> list[str]:
        # Definers (MariaDB's owners) are rewritten by the caller when not kept. --sandbox:
        # the client's own commands in the dump (\! shell, source, tee) are refused.
        return self.argv(
            "mariadb",
            "--batch",
            "--sandbox",
            "--local-infile=0",
            f"--database={database}",
            os_user=os_user,
        )

    def tables(self, database: str, *, os_user: str | None = None) -> list[str]:
        return [str(t) for t, _ in self.query(None, self.tables_sql(database), os_user=os_user)]

    def count_sql(self, database: str, tables: list[str]) -> str:
        parts = [
            f"SELECT {maria_text(t)} AS n, (SELECT COUNT(*) FROM "
            f"{maria_ident(database)}.{maria_ident(t)}) AS c"
            for t in tables
        ]
        if not parts:
            return "SELECT '{}'"
        return (
            f"SELECT COALESCE(JSON_OBJECTAGG(n, c), '{{}}') FROM ({' UNION ALL '.join(parts)}) "
            "AS counted"
        )


TYPES: dict[str, type[Server]] = {"postgresql": PostgreSQL, "mariadb": MariaDB}


def conninfo(database: str) -> str:
    """``database`` as a libpq connection string holding only its name: a name such as
    ``host=elsewhere dbname=x`` (any role that may create databases chooses names) is a name,
    never connection settings that would override the socket."""
    quoted = database.replace("\\", "\\\\").replace("'", "\\'")
    return f"dbname='{quoted}'"


def pg_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def pg_text(value: str) -> str:
    return f"convert_from(decode('{hex_text(value)}', 'hex'), 'UTF8')"


def maria_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def maria_text(value: str) -> str:
    return f"CONVERT(X'{hex_text(value)}' USING utf8mb4)" if value else "''"


def maria_grant(name: str) -> str:
    """A database name in a GRANT, its wildcards (_ and %) escaped."""
    return maria_ident(name.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%"))


def refuse_privileged(role: str) -> None:
    if role in PRIVILEGED or not role:
        raise DumpError(f"restore_user {role!r}: a server's own superuser never loads a dump")


def maria_account(user: str) -> str:
    return f"{maria_ident(user)}@'localhost'"


def newest_pg_bin() -> str:
    root = "/usr/lib/postgresql"
    try:
        majors = sorted((int(v) for v in os.listdir(root) if v.isdigit()), reverse=True)
    except OSError:
        majors = []
    if not majors:
        raise DumpError("PostgreSQL's programs are not installed (/usr/lib/postgresql/*/bin)")
    return PG_BIN.format(major=majors[0])
