#!/usr/bin/python3 -Es
"""bangka-backup-restore: emergency restore ("pemulihan cepat") of SI CEKAT.

Restores chosen paths (or everything) of one host's policy archive into a target directory on
this machine: the client itself (its own key reaches its own repository) or a restore host (its
append-only key reaches every client's). ``playbooks/restore.yml`` and ``cekat restore`` drive it.

Safe by default: the archive's listing is compared with the target first and the restore is
refused, with nothing written, if any file would be overwritten, unless ``--overwrite`` is given.
Progress goes to standard error while Borg extracts; a summary and one record per restore
(``<records_dir>/restores/<policy>/``, the audit trail) follow. After extraction the restored
regular files are counted and their sizes compared with the archive's listing.

Standard library only. Exit codes: 0 restored, 2 failed, 3 refused (would overwrite),
64 usage or configuration error.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

try:
    from bangka_ops.backup import agent, restore_test
except ModuleNotFoundError:  # deployed as /usr/local/lib/bangka-backup/restore.py
    import agent  # type: ignore[import-not-found, no-redef]
    import restore_test  # type: ignore[import-not-found, no-redef]

EXIT_OK, EXIT_FAILED, EXIT_REFUSED, EXIT_USAGE = 0, 2, 3, 64
PROGRESS_EVERY_SECONDS = 2.0


class Refused(Exception):
    """The restore would overwrite existing files."""


class EmergencyRestore:
    def __init__(self, config: dict[str, Any], policy: str, out: Any = sys.stderr) -> None:
        self.config = config
        self.policy_name = policy
        self.policy = agent.policy_of(config, policy, Path("config"))
        self.repo = config["repository"]
        self.borg = agent.Borg(config)
        self.tz = ZoneInfo(config.get("timezone", "Asia/Jakarta"))
        self.out = out
        self.started = agent.now_in(self.tz)
        stamp = self.started.strftime("%Y-%m-%dT%H-%M-%S")
        self.dir = Path(config["records_dir"]) / "restores" / policy
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        self.name = f"{config['host']}-{policy}-{stamp}"
        self.log_path = self.dir / f"{self.name}.log.jsonl"
        self.log = self.log_path.open("a", encoding="utf-8")
        self.last_progress = 0.0

    def choose(
        self,
        archive: str | None,
        date: str | None,
        allow_unknown: bool = False,
        include_marked: bool = False,
    ) -> tuple[str, dict[str, Any]]:
        """The archive to restore, among those the client's collected run records announce
        (see restore_test.trusted_archives) and whose run dumped every database, and what is
        known of its provenance."""
        archives, future = restore_test.split_future(self.archives(), self.tz)
        candidates, provenance = restore_test.trusted_archives(
            self.config, self.policy_name, archives, allow_unknown, include_marked
        )
        if future:
            provenance.update(future_dated=future[:20], future_dated_count=len(future))
        if archive in future:
            raise RuntimeError(
                f"archive {archive!r} is dated in the future: not a backup run's archive "
                "(tampering?); not restored"
            )
        if archive:
            if archive not in {a["name"] for a in archives}:
                raise RuntimeError(
                    f"archive {archive!r} is not an archive of {self.config['host']}/"
                    f"{self.policy_name} (see: bangka-backup-restore --list)"
                )
            known = restore_test.known_archives(self.config)[1]
            if not include_marked and archive in restore_test.marked_archives(self.config, known):
                raise RuntimeError(
                    f"archive {archive!r} holds a failed database dump (its run record says "
                    "so): it may be incomplete; --include-marked-archives restores it anyway"
                )
            if archive not in {a["name"] for a in candidates}:
                raise RuntimeError(
                    f"archive {archive!r} is not announced by {self.config['host']}'s collected "
                    "run records (another key may have made it); --allow-unknown-archives "
                    "restores it anyway"
                )
            return archive, provenance
        return restore_test.RestoreTest.choose(candidates, date, random_older=False), provenance

    def archives(self) -> list[dict[str, Any]]:
        return restore_test.policy_archives(self.borg, self.config, self.policy_name, self.log)

    def listing(self, archive: str, paths: list[str]) -> list[dict[str, Any]]:
        argv = [
            "list",
            "--json-lines",
            "--log-json",
            f"{self.repo['location']}::{archive}",
            *paths,
        ]
        step = self.borg.run(argv, self.repo, self.log, stdout_lines=True)
        if step.returncode not in (0, 1):
            raise RuntimeError(agent.Run.explain(step, "borg list (archive contents)"))
        try:
            entries = [json.loads(line) for line in step.lines]
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
            raise RuntimeError(f"borg list (archive contents): unreadable: {exc}") from None
        if paths and not entries:
            raise RuntimeError(f"none of the paths {paths} is in archive {archive}")
        return entries

    @staticmethod
    def conflicts(entries: list[dict[str, Any]], target: Path) -> list[str]:
        """Archive entries (other than directories) that already exist in the target."""
        found = []
        for entry in entries:
            if entry.get("type") == "d":
                continue
            existing = target / entry["path"]
            if existing.exists() or existing.is_symlink():
                found.append(str(existing))
        return found

    def progress(self, line: str) -> None:
        try:
            event = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            return
        if not isinstance(event, dict) or event.get("type") != "progress_percent":
            return
        now = time.monotonic()
        if event.get("finished") or now - self.last_progress < PROGRESS_EVERY_SECONDS:
            return
        self.last_progress = now
        current, total = event.get("current"), event.get("total")
        if isinstance(current, int) and isinstance(total, int) and total:
            print(
                f"  mengekstrak / extracting: {100 * current // total:3d}% "
                f"({current / 2**20:,.1f} / {total / 2**20:,.1f} MiB)",
                file=self.out,
                flush=True,
            )

    def new_record(self, **what: Any) -> dict[str, Any]:
        """A restore's record: who restored which host's policy where, and ``what``."""
        return {
            "schema_version": 1,
            "kind": "restore",
            "host": self.config["host"],
            "policy": self.policy_name,
            "repository": self.repo["location"],
            "restored_on": self.config.get("restore_host") or self.config["host"],
            "operator": os.environ.get("SUDO_USER") or getpass.getuser(),
            **what,
            "start": self.started.isoformat(),
        }

    def restore(
        self,
        *,
        target: Path,
        paths: list[str],
        archive: str | None = None,
        date: str | None = None,
        overwrite: bool = False,
        allow_unknown: bool = False,
        include_marked: bool = False,
    ) -> dict[str, Any]:
        paths = [p.lstrip("/") for p in paths if p.strip("/")]
        record = self.new_record(
            paths=paths or ["(semua / everything)"], target=str(target), overwrite=overwrite
        )
        clock = time.monotonic()
        try:
            record["archive"], record["provenance"] = self.choose(
                archive, date, allow_unknown, include_marked
            )
            entries = self.listing(record["archive"], paths)
            files = [e for e in entries if e.get("type") == "-"]
            record["files_expected"] = len(files)
            record["bytes_expected"] = sum(int(e.get("size", 0)) for e in files)
            target.mkdir(parents=True, exist_ok=True, mode=0o750)
            clashes = self.conflicts(entries, target)
            record["existing_files"] = len(clashes)
            if clashes and not overwrite:
                raise Refused(
                    f"{len(clashes)} file(s) already exist in {target} (first: {clashes[0]}); "
                    "nothing was restored. Choose an empty directory, or allow overwriting "
                    "(--overwrite / restore_overwrite=true)"
                )
            print(
                f"Memulihkan / restoring {record['archive']}: {len(files)} files, "
                f"{record['bytes_expected'] / 2**20:,.1f} MiB -> {target}",
                file=self.out,
                flush=True,
            )
            started = time.monotonic()
            step = self.borg.run(
                [
                    "extract",
                    "--log-json",
                    "--progress",
                    f"{self.repo['location']}::{record['archive']}",
                    *paths,
                ],
                self.repo,
                self.log,
                cwd=target,
                on_line=self.progress,
            )
            record["extract_seconds"] = round(time.monotonic() - started, 3)
            record["exit_code"] = step.returncode
            record["warnings"] = step.warnings[:50]
            if step.returncode not in (0, 1):
                raise RuntimeError(agent.Run.explain(step, "borg extract"))
            wrong = [e["path"] for e in files if not restored_intact(target, e)]
            record["files_restored"] = len(files) - len(wrong)
            missing = set(wrong)
            record["bytes_restored"] = sum(
                int(e.get("size", 0)) for e in files if e["path"] not in missing
            )
            if wrong:
                raise RuntimeError(
                    f"{len(wrong)} restored file(s) are missing or have the wrong size "
                    f"(first: {wrong[0]})"
                )
            record["status"] = "warning" if step.returncode == 1 else "success"
        except Refused as exc:
            record.update(status="refused", reason=str(exc))
        except RuntimeError as exc:
            record.update(status="failed", reason=str(exc))
        finally:
            self.log.close()
        return self.finish(record, clock)

    def restore_database(
        self,
        database: str,
        *,
        as_name: str | None = None,
        kind: str | None = None,
        replace: bool = False,
        archive: str | None = None,
        date: str | None = None,
        allow_unknown: bool = False,
        include_marked: bool = False,
    ) -> dict[str, Any]:
        """One database of the archive's dump stream into this host's own server of its type:
        into a new database (``as_name``, default ``<name>_pulih_<time>``); an existing one is
        replaced only with ``replace``, after a fresh dump of it is written aside first."""
        target_name = as_name or f"{database}_pulih_{self.started.strftime('%Y%m%d_%H%M')}"
        record = self.new_record(
            database=database, target=f"database {target_name}", replace=replace
        )
        clock = time.monotonic()
        dbrestore = restore_test.dbrestore_module()
        try:
            record["archive"], record["provenance"] = self.choose(
                archive, date, allow_unknown, include_marked
            )
            print(
                f"Memulihkan basis data / restoring database {database!r} from "
                f"{record['archive']} into {target_name!r}",
                file=self.out,
                flush=True,
            )
            before = Path(str(self.config.get("state_dir") or "/var/lib/bangka-backup"))
            with dbrestore.borg_stream(self.borg, self.repo, record["archive"], self.log) as src:
                servers, untrusted = self.database_servers(dbrestore)
                result = dbrestore.restore_database(
                    src,
                    servers,
                    database,
                    target_name,
                    kind=kind,
                    replace=replace,
                    before_dir=before / "db-before-restore",
                    untrusted_user=untrusted,
                )
            record.update(result)
            record["target"] = f"database {target_name}"
            if result["status"] != "restored":
                raise RuntimeError(str(result.get("reason")))
            record["status"] = "success"
        except dbrestore.TargetExists as exc:
            record.update(status="refused", reason=str(exc))
        except dbrestore.StreamError as exc:
            record.update(status="failed", reason=str(exc))
        except (RuntimeError, ValueError, OSError, EOFError, tarfile.TarError) as exc:
            record.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
        except (dbrestore.dbservers.DumpError, subprocess.TimeoutExpired) as exc:
            record.update(status="failed", reason=f"the database server: {exc}")
        finally:
            self.log.close()
        return self.finish(record, clock)

    def database_servers(self, dbrestore: Any) -> tuple[dict[str, Any], str | None]:
        """The servers a database is restored into, and the account that loads it: on the
        client, those its policy dumps (their sockets and users), as the server's own user; on
        a restore host, its own (``database_restore``), as the unprivileged account (another
        host's dump is data, never run with this host's superuser)."""
        if restore_test.is_own_data(self.config):
            databases = agent.database_module()
            servers: dict[str, Any] = {}
            for entry in self.policy.get("databases") or []:
                servers.setdefault(entry["type"], databases.server_of(entry))
            return servers, None
        settings = dbrestore.settings_of(self.config, self.policy)
        return dict(settings.servers), settings.restore_user

    def finish(self, record: dict[str, Any], clock: float) -> dict[str, Any]:
        """The record's end, written and audited."""
        record["end"] = agent.now_in(self.tz).isoformat()
        record["duration_seconds"] = round(time.monotonic() - clock, 3)
        seconds = record.get("extract_seconds") or 0
        if seconds and record.get("bytes_restored"):
            record["throughput_mib_s"] = round(record["bytes_restored"] / 2**20 / seconds, 2)
        record["record_path"] = str(self.dir / f"{self.name}.json")
        record["log_path"] = str(self.log_path)
        agent.write_json_atomic(Path(record["record_path"]), record)
        agent.audit(
            "restore",
            f"{record.get('host')} {record.get('policy')}",
            str(record.get("status")),
            archive=record.get("archive"),
            target=record.get("target"),
            record=record["record_path"],
        )
        return record


def restored_intact(target: Path, entry: dict[str, Any]) -> bool:
    """The restored regular file exists with the size the archive lists."""
    try:
        return bool((target / str(entry["path"])).stat().st_size == int(entry.get("size", 0)))
    except OSError:
        return False


def summary(record: dict[str, Any]) -> str:
    lines = [
        f"Status            : {record['status']}",
        f"Host / Kebijakan  : {record['host']} / {record['policy']}",
        f"Arsip / Archive   : {record.get('archive', '-')}",
        f"Tujuan / Target   : {record['restored_on']}:{record['target']}",
    ]
    if record.get("database") and record.get("restore_seconds") is not None:
        lines.append(
            f"Dipulihkan        : {record.get('type')} {record['database']!r} -> "
            f"{record['target']}, {record.get('bytes', 0) / 2**20:,.1f} MiB in "
            f"{record['restore_seconds']} s"
        )
    if record.get("dump_before_restore"):
        lines.append(f"Dump sebelumnya   : {record['dump_before_restore']} (before replacing)")
    if "files_restored" in record:
        lines.append(
            f"Dipulihkan        : {record['files_restored']} files, "
            f"{record['bytes_restored'] / 2**20:,.1f} MiB in {record['extract_seconds']} s"
        )
    if record.get("reason"):
        lines.append(f"Alasan / Reason   : {record['reason']}")
    lines.append(f"Catatan / Record  : {record['record_path']}")
    return "\n".join(lines)


def list_archives(config: dict[str, Any], policy: str) -> int:
    agent.policy_of(config, policy, Path("config"))
    with tempfile.TemporaryFile("w+", encoding="utf-8") as log:
        try:
            archives = restore_test.policy_archives(agent.Borg(config), config, policy, log)
        except RuntimeError as exc:
            print(f"bangka-backup-restore: {exc}", file=sys.stderr)
            return EXIT_FAILED
    for archive in archives:
        print(f"{archive['name']}  {archive['start']}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bangka-backup-restore",
        description="Emergency restore (pemulihan cepat) of a host's archive into a directory.",
    )
    parser.add_argument("--config", type=Path, help="default: as bangka-backup-restore-test")
    parser.add_argument("--client", help="the host whose archive to restore (default: this host)")
    parser.add_argument("--policy", required=True)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--archive", help="archive name (default: the newest of the policy)")
    which.add_argument("--date", help="the newest archive made on this day (YYYY-MM-DD)")
    parser.add_argument(
        "--path",
        action="append",
        default=[],
        help="path inside the archive to restore, repeatable (default: everything)",
    )
    parser.add_argument("--target", type=Path, help="directory to restore into")
    parser.add_argument("--overwrite", action="store_true", help="replace existing files")
    parser.add_argument(
        "--allow-unknown-archives",
        action="store_true",
        help="also restore an archive the client's collected run records do not announce",
    )
    parser.add_argument(
        "--include-marked-archives",
        action="store_true",
        help="also restore an archive whose run failed a database dump (it may be incomplete)",
    )
    parser.add_argument(
        "--database", help="restore this database of the archive (instead of files)"
    )
    parser.add_argument(
        "--as", dest="as_name", help="the new database's name (default NAME_pulih_TIME)"
    )
    parser.add_argument(
        "--type", dest="db_type", choices=["postgresql", "mariadb"], help="the database's server"
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="replace an existing database of that name (a fresh dump of it is taken first)",
    )
    parser.add_argument("--list", action="store_true", help="list the policy's archives and exit")
    parser.add_argument("--json", action="store_true", help="print the record as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.umask(0o027)
    try:
        config = restore_test.load(args.config or restore_test.default_config_path(), args.client)
        if args.list:
            return list_archives(config, args.policy)
        job = EmergencyRestore(config, args.policy)
        if args.database:
            record = job.restore_database(
                args.database,
                as_name=args.as_name,
                kind=args.db_type,
                replace=args.replace,
                archive=args.archive,
                date=args.date,
                allow_unknown=args.allow_unknown_archives,
                include_marked=args.include_marked_archives,
            )
            print(json.dumps(record) if args.json else summary(record))
            return exit_code(record)
        if args.target is None:
            raise agent.ConfigError("--target: give the directory to restore into")
        record = job.restore(
            target=args.target.resolve(),
            paths=args.path,
            archive=args.archive,
            date=args.date,
            overwrite=args.overwrite,
            allow_unknown=args.allow_unknown_archives,
            include_marked=args.include_marked_archives,
        )
    except agent.ConfigError as exc:
        print(f"bangka-backup-restore: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(record) if args.json else summary(record))
    return exit_code(record)


def exit_code(record: dict[str, Any]) -> int:
    return {"success": EXIT_OK, "warning": EXIT_OK, "refused": EXIT_REFUSED}.get(
        record["status"], EXIT_FAILED
    )


if __name__ == "__main__":
    sys.exit(main())
