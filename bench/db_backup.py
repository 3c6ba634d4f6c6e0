"""Benchmark: database backups and their restore test against the plain tools, same data, same run.

Starts its own PostgreSQL cluster (a private directory and socket), loads the sample staffing
database of examples/databases (``pegawai`` with --rows rows, foreign keys, a view, a function,
non-ASCII text), and
alternates A/B several times:

  A  bangka-backup run --cycle daily      the wrapper: row estimates, pg_dumpall --globals-only,
                                          pg_dump -Fc streamed into the run's one borg create
  B  pg_dump -Fc DB | borg create --stdin-name DB.pgdump REPO::plain-N -

then the restore side:

  C  the restore test's stage 2           borg extract --stdout of the archive's dump stream,
                                          pg_restore into a scratch database as the unprivileged
                                          account, exact row counts, drop
  D  createdb + borg extract --stdout REPO::plain-N DB.pgdump | pg_restore -d empty

and prints each time and the median ratios A/B (target <= 1.05) and C/D (target <= 1.1). With
--borgmatic it also installs borgmatic from PyPI into a virtualenv of its own and times its
PostgreSQL hook on the same database (the ratio is reported, not a target). Figures, not
assertions: run it on a quiet machine, as root (the tools run as postgres).

    .venv/bin/python bench/db_backup.py [--rows 1000000] [--rounds 3] [--borgmatic] [--keep DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bangka_ops.backup import agent, dbrestore, dbservers

PORT = 54339
DATABASE = "kepegawaian"
RESTORE_USER = "bangka-dbrestore"

# The sample staffing database of examples/databases, with --rows staff rows.
SCHEMA = Path(__file__).resolve().parent.parent / "examples/databases/kepegawaian-postgresql.sql.j2"


def run_as(user: str, argv: list[str], **how: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["runuser", "-u", user, "--", *argv], check=True, capture_output=True,
                          **how)  # fmt: skip


def piped(command: str, env: dict[str, str] | None = None) -> float:
    """A shell pipeline of the plain tools (its words are this script's own, never input)."""
    started = time.perf_counter()
    proc = subprocess.run(  # noqa: S602
        command, env=env, capture_output=True, text=True, check=False, shell=True
    )
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        sys.exit(
            f"benchmark step failed ({proc.returncode}): {command}\n{proc.stdout}{proc.stderr}"
        )
    return elapsed


class Cluster:
    """A PostgreSQL cluster of its own: private directory, socket, port; peer authentication."""

    def __init__(self, work: Path) -> None:
        self.base = work / "pg"
        self.bin = dbservers.newest_pg_bin()
        shutil.rmtree(self.base, ignore_errors=True)
        self.base.mkdir(mode=0o755)
        shutil.chown(self.base, "postgres", "postgres")
        data = str(self.base / "data")
        run_as("postgres", [f"{self.bin}/initdb", "-D", data, "--auth-local=peer", "-E", "UTF8",
                            "--locale=C.UTF-8"])  # fmt: skip
        options = f"-k {self.base} -c listen_addresses='' -p {PORT} -c shared_buffers=128MB"
        run_as("postgres", [f"{self.bin}/pg_ctl", "-D", data, "-w", "-l", f"{self.base}/log",
                            "-o", options, "start"])  # fmt: skip
        self.server = dbservers.PostgreSQL(socket_dir=str(self.base), port=PORT, bin_dir=self.bin)

    def stop(self) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", f"{self.bin}/pg_ctl", "-D",
                        str(self.base / "data"), "-m", "fast", "stop"],
                       check=False, capture_output=True)  # fmt: skip


class Bench:
    def __init__(self, work: Path, cluster: Cluster) -> None:
        self.work, self.cluster, self.server = work, cluster, cluster.server
        self.repo, base = work / "repo", work / "borg-base"
        shutil.rmtree(self.repo, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
        source = work / "files"
        source.mkdir(exist_ok=True)
        (source / "README.txt").write_text(
            "the run's files: one small file, the database matters\n"
        )
        self.pass_file = work / "passphrase"
        self.pass_file.unlink(missing_ok=True)
        self.pass_file.write_text("bench-passphrase-not-secret-0123456789\n")
        self.pass_file.chmod(0o400)
        self.config: dict[str, Any] = {
            "host": "bench",
            "records_dir": str(work / "records"),
            "state_dir": str(work / "state"),
            "repository": {
                "location": str(self.repo),
                "passphrase_file": str(self.pass_file),
                "base_dir": str(base),
            },
            "policies": {
                "data": {
                    "sources": [str(source)],
                    "cycles": {"daily": {}, "weekly": {"weekday": 0}, "monthly": {"day": 0}},
                    "databases": [
                        {
                            "type": "postgresql",
                            "name": DATABASE,
                            "socket_dir": self.server.socket_dir,
                            "port": PORT,
                            "bin_dir": self.cluster.bin,
                        }
                    ],
                }
            },
            "database_restore": {
                "restore_user": RESTORE_USER,
                "postgresql": {
                    "socket_dir": self.server.socket_dir,
                    "port": PORT,
                    "bin_dir": self.cluster.bin,
                },
            },
        }
        config_path = work / "config.json"
        config_path.write_text(json.dumps(self.config))
        shebang = Path(agent.__file__).read_text().splitlines()[0].removeprefix("#!").split()
        if not Path(shebang[0]).exists():
            shebang = [sys.executable]
        self.wrapper = [*shebang, agent.__file__, "--config", str(config_path)]
        self.borg_env = agent.Borg(self.config).env(self.config["repository"])
        self.plain_runs = 0
        self.archives: list[str] = []
        subprocess.run([*self.wrapper, "init"], check=True, capture_output=True)

    def wrapper_run(self) -> float:
        argv = [*self.wrapper, "run", "--policy", "data", "--cycle", "daily", "--on-demand"]
        started = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            sys.exit(f"wrapper run failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        record = json.loads(Path(proc.stdout.split("record: ")[1].strip()).read_text())
        self.archives.append(record["archive"])
        return elapsed

    def plain_run(self) -> float:
        self.plain_runs += 1
        dump = " ".join(self.server.argv("pg_dump", "--format=custom", "--dbname", DATABASE))
        create = (f"borg create --compression zstd,3 --stdin-name {DATABASE}.pgdump "
                  f"{self.repo}::plain-{self.plain_runs} -")  # fmt: skip
        return piped(f"runuser -u postgres -- {dump} | {create}", self.borg_env)

    def stage_two(self) -> float:
        settings = dbrestore.settings_of(self.config, self.config["policies"]["data"])
        check = dbrestore.StreamCheck(settings)
        log = io.StringIO()
        borg = agent.Borg(self.config)
        started = time.perf_counter()
        with dbrestore.borg_stream(borg, self.config["repository"], self.archives[-1], log) as src:
            outcome = check.run(src)
        elapsed = time.perf_counter() - started
        if outcome["status"] != "passed":
            sys.exit(f"stage 2 failed: {outcome['reason']}")
        return elapsed

    def plain_restore(self) -> float:
        self.server.drop_database("plain_restore")
        started = time.perf_counter()
        self.server.create_database("plain_restore", None)
        restore = " ".join(self.server.argv("pg_restore", "--no-owner", "--dbname",
                                            "plain_restore"))  # fmt: skip
        extract = f"borg extract --stdout {self.repo}::plain-{self.plain_runs} {DATABASE}.pgdump"
        piped(f"{extract} | runuser -u postgres -- {restore}", self.borg_env)
        elapsed = time.perf_counter() - started
        self.server.drop_database("plain_restore")
        return elapsed

    def borgmatic(self) -> tuple[float | None, str]:
        """One borgmatic create with its PostgreSQL hook, from a virtualenv of its own."""
        venv = self.work / "venv-borgmatic"
        if not (venv / "bin" / "borgmatic").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            proc = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "borgmatic"],
                                  capture_output=True, text=True, check=False)  # fmt: skip
            if proc.returncode != 0:
                return None, f"could not install borgmatic: {proc.stderr.strip()[-300:]}"
        config = self.work / "borgmatic.yaml"
        config.write_text(
            f"source_directories: [{self.work / 'files'}]\n"
            f"repositories:\n  - path: {self.repo}\n"
            f"encryption_passcommand: cat {self.pass_file}\n"
            "archive_name_format: 'borgmatic-{now:%Y%m%dT%H%M%S%f}'\n"
            "compression: zstd,3\n"
            # The socket directory goes in PGHOST: borgmatic makes a hostname part of a path.
            f"postgresql_databases:\n  - name: {DATABASE}\n"
            "    username: postgres\n    format: custom\n"
            f"    pg_dump_command: runuser -u postgres -- {self.cluster.bin}/pg_dump\n"
            f"    psql_command: runuser -u postgres -- {self.cluster.bin}/psql\n"
        )
        env = {**self.borg_env, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
               "PGHOST": self.server.socket_dir, "PGPORT": str(PORT)}  # fmt: skip
        started = time.perf_counter()
        proc = subprocess.run([str(venv / "bin" / "borgmatic"), "--config", str(config), "create"],
                              env=env, capture_output=True, text=True, check=False)  # fmt: skip
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            return None, f"borgmatic create failed: {(proc.stderr or proc.stdout).strip()[-400:]}"
        return elapsed, "borgmatic create (postgresql_databases hook, custom format)"


def ensure_restore_user() -> None:
    try:
        pwd.getpwnam(RESTORE_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--user-group", "--shell",
                        "/usr/sbin/nologin", RESTORE_USER], check=True)  # fmt: skip


def compare(bench: Bench, rounds: int) -> list[float]:
    """A/B for the backup and C/D for the restore, alternated; prints them; the wrapper's times."""
    backup_ratios, restore_ratios, a_times, b_times, c_times, d_times = [], [], [], [], [], []
    for i in range(rounds):
        a, b = bench.wrapper_run(), bench.plain_run()
        c, d = bench.stage_two(), bench.plain_restore()
        a_times.append(a)
        b_times.append(b)
        c_times.append(c)
        d_times.append(d)
        backup_ratios.append(a / b)
        restore_ratios.append(c / d)
        print(
            f"round {i + 1}: backup wrapper {a:.2f} s  plain {b:.2f} s  ratio {a / b:.3f}"
            f" | restore test {c:.2f} s  plain pg_restore {d:.2f} s  ratio {c / d:.3f}"
        )
    print()
    print(
        f"backup, median: wrapper {statistics.median(a_times):.2f} s, "
        f"plain pg_dump | borg create {statistics.median(b_times):.2f} s"
    )
    print(
        f"median ratio wrapper/plain dump: {statistics.median(backup_ratios):.3f}  (target <= 1.05)"
    )
    print(
        f"restore, median: stage 2 {statistics.median(c_times):.2f} s, "
        f"plain extract | pg_restore {statistics.median(d_times):.2f} s"
    )
    print(
        f"median ratio restore test/plain pg_restore: "
        f"{statistics.median(restore_ratios):.3f}  (target <= 1.1)"
    )
    return a_times


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--borgmatic", action="store_true", help="also time borgmatic's hook")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the dump tools run as postgres")
    ensure_restore_user()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bangka-bench-db-"))
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)
    cluster = Cluster(work)
    try:
        started = time.perf_counter()
        cluster.server.execute(None, f"CREATE DATABASE {DATABASE}")
        cluster.server.execute(
            DATABASE, SCHEMA.read_text(encoding="utf-8").replace("{{ db_rows }}", str(args.rows))
        )
        size = cluster.server.query(
            DATABASE, "SELECT to_json(pg_database_size(current_database()))"
        )
        print(f"database: {args.rows} pegawai rows, {size / 2**20:.0f} MiB on disk, "
              f"loaded in {time.perf_counter() - started:.1f} s")  # fmt: skip
        print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        bench = Bench(work, cluster)
        print(f"initial run (wrapper, daily): {bench.wrapper_run():.2f} s")
        bench.plain_run()
        # Warm-up of the restore side too (the restore account's first creation, caches).
        print(f"initial restore test (stage 2): {bench.stage_two():.2f} s")
        bench.plain_restore()
        a_times = compare(bench, args.rounds)
        if args.borgmatic:
            seconds, what = bench.borgmatic()
            if seconds is None:
                print(f"borgmatic: {what}")
            else:
                wrapper = statistics.median(a_times)
                print(
                    f"borgmatic: {what}: {seconds:.2f} s; ratio wrapper/borgmatic "
                    f"{wrapper / seconds:.3f}"
                )
        else:
            print("borgmatic: not timed (--borgmatic installs it from PyPI into a virtualenv)")
    finally:
        cluster.stop()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
