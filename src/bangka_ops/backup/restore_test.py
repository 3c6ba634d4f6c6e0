#!/usr/bin/python3 -Es
"""bangka-backup-restore-test: restore an archive into a scratch directory and prove it (SI CEKAT).

A backup nobody has restored is a hope. For one host and policy this tool picks an archive
(latest by default, one of a given date, or a random older one), extracts all of it or a sample
of at least N files and M bytes, and verifies what came back:

- every restored file's SHA-256 and size equal what ``borg list --format '{sha256}...'`` reports
  for the archive: a second, independent read path through Borg. That listing reads and
  decrypts the selection a second time, so it runs *beside* the extract on a second core (one
  core: after it), and the restored files are hashed while it finishes: a full test costs little
  more than the extract itself (``bench/restore_overhead.py``);
- for files unchanged since the archive (same size and mtime as recorded), the live source has
  the same SHA-256;
- counts and sizes match the selection.

It measures the restore's wall time and throughput; for a sample it also estimates the
full-restore time (labelled as such: Borg's fixed cost plus per-file and per-byte costs fitted
from the times Borg stamps on each sampled file, see :func:`fit_estimate`). RTO is judged
on the full restore when there was one, else on the extrapolation; RPO on the age of the newest
archive of the policy. The scratch directory is always removed. One record per test (schema
``restore-test-record.v1``) is written beside the run records.

Where it runs. On a **restore host** (role ``borg_restore_test``) its configuration lists every
client (``clients``) and it reaches their repositories with its own key, which the repository
server forces to ``borg serve --append-only`` restricted to the repositories it tests. Borg
cannot tell which key wrote an archive, so the archive is chosen among those the client's own
collected run records announce (``known-archives/<client>.json``, written by the collection);
other archives are flagged in the plan and the record, and chosen only with
``--allow-unknown-archives``. The live sources are on
the client, so ``playbooks/restore_test.yml`` splits a test in three: ``plan`` (pick the archive
and the sample, here), ``live-hashes`` (on the client: SHA-256 of the files unchanged since the
archive) and ``run --plan --live-hashes`` (extract and verify, here). The weekly timer runs
``run --all`` on its own: it verifies against Borg and, for the restore host's own data, against
the live files. On an agent (``local`` inventory) the configuration is the wrapper's own.

Standard library only; deployed beside ``agent.py`` (it reuses its Borg invocation, records and
notifications). Exit codes: 0 passed, 2 failed (integrity, RTO or RPO), 64 usage error.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import io
import itertools
import json
import math
import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, cast
from zoneinfo import ZoneInfo

try:
    from bangka_ops.backup import agent
except ModuleNotFoundError:  # deployed as /usr/local/lib/bangka-backup/restore_test.py
    import agent  # type: ignore[import-not-found, no-redef]


def dbrestore_module() -> Any:
    """The databases' restore side, imported only for policies that have databases."""
    try:
        from bangka_ops.backup import dbrestore  # noqa: PLC0415
    except ModuleNotFoundError:  # deployed beside this file
        import dbrestore  # type: ignore[import-not-found, no-redef]  # noqa: PLC0415
    return dbrestore


RECORD_SCHEMA_VERSION = 1
PLAN_SCHEMA_VERSION = 1
EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 2, 64
DEFAULT_CONFIGS = ("/etc/bangka-backup-restore/config.json", agent.DEFAULT_CONFIG)


@dataclass
class Item:
    path: str
    size: int
    sha256: str
    mtime: str
    index: int = -1  # its place in the archive (Borg's listing order); -1: not known

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "mtime": self.mtime,
            "index": self.index,
        }


@dataclass
class Verification:
    files_checked: int = 0
    bytes_checked: int = 0
    missing: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    live_compared: int = 0
    live_mismatched: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not (self.missing or self.mismatched or self.live_mismatched)


# --------------------------------------------------------------------------- configuration


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_config_path() -> Path:
    """The restore host's configuration if there is one, else the agent's own."""
    for candidate in DEFAULT_CONFIGS:
        if Path(candidate).exists():
            return Path(candidate)
    return Path(DEFAULT_CONFIGS[0])


def load(path: Path, client: str | None) -> dict[str, Any]:
    """A wrapper-style configuration for one client.

    A restore host's file holds ``clients``; an agent's file is the wrapper's own (its ``host`` is
    the only client). Errors name the file and the field."""
    raw = agent.read_json_object(path)
    if "clients" not in raw:
        config = agent.check_config(raw, path)
        if client not in (None, config["host"]):
            raise agent.ConfigError(
                f"{path}: this host's configuration covers only {config['host']!r}, not {client!r}"
            )
        return config
    clients = raw["clients"]
    if not isinstance(clients, dict):
        raise agent.ConfigError(f"{path}: clients: must be an object of client name -> settings")
    if client is None:
        raise agent.ConfigError(f"{path}: several clients are configured; choose one (--client)")
    if client not in clients:
        known = ", ".join(sorted(clients)) or "none"
        raise agent.ConfigError(f"{path}: unknown client {client!r} (known: {known})")
    settings = clients[client]
    if not isinstance(settings, dict):
        raise agent.ConfigError(f"{path}: clients.{client}: must be an object")
    for key in ("records_dir", "state_dir", "host"):
        if key not in raw:
            raise agent.ConfigError(f"{path}: missing required field '{key}'")
    found = agent.notify_problems(raw.get("notify") or {}, f"{path}: notify")
    if found:
        raise agent.ConfigError("; ".join(found))
    config = {
        "host": client,
        "timezone": raw.get("timezone", "Asia/Jakarta"),
        "records_dir": str(Path(raw["records_dir"]) / client),
        "state_dir": raw["state_dir"],
        "lock_wait_seconds": raw.get("lock_wait_seconds", 600),
        "repository": settings.get("repository"),
        "policies": settings.get("policies"),
        "restore_host": raw.get("host"),
    }
    for optional in ("ssh", "notify", "borg_binary", "scratch_dir", "database_restore"):
        if raw.get(optional):
            config[optional] = raw[optional]
    return agent.check_config(config, Path(f"{path}: clients.{client}"))


def clients_of(path: Path) -> list[str]:
    raw = agent.read_json_object(path)
    if "clients" in raw and isinstance(raw["clients"], dict):
        return sorted(raw["clients"])
    return [str(raw.get("host"))]


def is_own_data(config: dict[str, Any]) -> bool:
    """True where the client's live sources are on this machine (an agent testing itself, or a
    restore host that is also the client)."""
    return config.get("restore_host") in (None, config["host"])


# --------------------------------------------------------------------------- the test


def policy_archives(
    borg: agent.Borg, config: dict[str, Any], policy: str, log: Any
) -> list[dict[str, Any]]:
    """The policy's complete archives (no checkpoints), oldest first. RuntimeError on failure."""
    repo = config["repository"]
    glob = f"{config['host']}-{policy}-*"
    argv = ["list", "--json", "--log-json", "--glob-archives", glob, repo["location"]]
    step = borg.run(argv, repo, log, stdout_json=True)
    if step.returncode not in (0, 1) or step.output is None:
        raise RuntimeError(agent.Run.explain(step, "borg list"))
    return [a for a in step.output["archives"] if not a["name"].endswith(".checkpoint")]


# Clocks disagree a little; an archive dated later than this after now is not a real one.
FUTURE_SKEW = dt.timedelta(hours=1)


def split_future(
    archives: list[dict[str, Any]], tz: ZoneInfo, now: dt.datetime | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The archives, and the names of those dated in the future (Borg start or the time in the
    name): a client with its key can date an archive as it likes (``--timestamp``), and Borg
    lists by date, so a 2099 archive would otherwise be the "newest" every test chooses."""
    limit = (now or dt.datetime.now(tz)) + FUTURE_SKEW
    plausible: list[dict[str, Any]] = []
    future: list[dict[str, Any]] = []
    for archive in archives:
        times = [archive_time(archive)]
        name_time = agent.archive_name_time(str(archive.get("name")), tz)
        times += [name_time] if name_time is not None else []
        (future if max(times) > limit else plausible).append(archive)
    return plausible, [str(a["name"]) for a in future]


KNOWN_DIR = "known-archives"
SHOWN_NAMES = 20


def known_archives(config: dict[str, Any]) -> tuple[Path, dict[str, Any] | None]:
    """The archives the admin host's collection says this client made, as
    ``playbooks/collect_records.yml`` writes them (``<state_dir>/known-archives/<client>.json``
    from ``cekat known-archives``); None when there is no such list here yet."""
    path = Path(str(config.get("state_dir") or "/var/lib/bangka-backup")) / KNOWN_DIR
    path = path / f"{config['host']}.json"
    if not path.exists():
        return path, None
    data = agent.read_json_object(path, ("client", "policies"))
    policies = data["policies"]
    if data["client"] != config["host"] or not isinstance(policies, dict):
        raise agent.ConfigError(f"{path}: not the known archives of {config['host']}")
    for name, archives in policies.items():
        if not isinstance(archives, list) or not all(isinstance(a, str) for a in archives):
            raise agent.ConfigError(f"{path}: policies.{name}: expected a list of archive names")
    marked = data.get("marked", {})
    if not isinstance(marked, dict) or not all(
        isinstance(v, list) and all(isinstance(f, str) for f in v) for v in marked.values()
    ):
        raise agent.ConfigError(f"{path}: marked: expected an object of archive -> [dump, ...]")
    first_seen = data.get("first_seen", {})
    if not isinstance(first_seen, dict):
        raise agent.ConfigError(f"{path}: first_seen: expected an object of archive -> time")
    for name, when in first_seen.items():
        try:
            aware = dt.datetime.fromisoformat(str(when)).tzinfo is not None
        except ValueError:
            aware = False
        if not aware:
            raise agent.ConfigError(f"{path}: first_seen.{name}: not a time with offset: {when!r}")
    return path, data


def newest_start(config: dict[str, Any], archives: list[dict[str, Any]]) -> dt.datetime:
    """The newest archive's time for the RPO: each archive's own time, but never later than
    when the admin first saw it (``first_seen`` in the known-archives list), since a client
    dates its archives as it likes."""
    _, known = known_archives(config)
    first_seen = (known or {}).get("first_seen") or {}
    times = []
    for archive in archives:
        when = archive_time(archive)
        seen = first_seen.get(archive.get("name"))
        times.append(min(when, dt.datetime.fromisoformat(seen)) if seen else when)
    return max(times)


def archive_time(archive: dict[str, Any]) -> dt.datetime:
    # Borg 1.2 prints archive times in the listing host's local time without an offset.
    return dt.datetime.fromisoformat(archive["start"]).astimezone()


def marked_archives(config: dict[str, Any], known: dict[str, Any] | None) -> dict[str, list[str]]:
    """Archives whose run failed a database dump (name -> the dumps): a truncated or missing
    dump is inside, and append-only keeps the archive. From the known-archives list, and on
    the client itself from its own run records."""
    marked: dict[str, list[str]] = {}
    for name, failed in ((known or {}).get("marked") or {}).items():
        marked[str(name)] = [str(f) for f in failed] if isinstance(failed, list) else []
    records_dir = Path(str(config.get("records_dir") or ""))
    if is_own_data(config) and config.get("records_dir") and records_dir.is_dir():
        for found in agent.created_archives(records_dir, []):
            if found.get("database_dumps_failed"):
                marked[found["archive"]] = found["database_dumps_failed"]
    return marked


def trusted_archives(
    config: dict[str, Any],
    policy: str,
    archives: list[dict[str, Any]],
    allow_unknown: bool,
    include_marked: bool = False,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The archives a test or a restore may choose, and what is known of their provenance.

    Borg cannot tell which key wrote an archive, so only archives the client's own collected
    run records announce are chosen; any other archive of the policy is flagged
    (``unknown_archives``: older than the list, so the client never announced it: planted by
    another key or made outside the wrapper) or counted as ``not_yet_collected`` (newer than
    the list). ``allow_unknown`` chooses among all of them (the flags stay)."""
    path, known = known_archives(config)
    marked = marked_archives(config, known)
    skipped = [a["name"] for a in archives if a["name"] in marked and not include_marked]
    if skipped:
        archives = [a for a in archives if a["name"] not in skipped]
        if not archives:
            raise RuntimeError(
                f"every archive of this policy holds a failed database dump (newest: "
                f"{skipped[-1]}: {', '.join(marked[skipped[-1]])}); "
                "--include-marked-archives uses them anyway"
            )
    marks = (
        {"marked_skipped": skipped[-SHOWN_NAMES:], "marked_skipped_count": len(skipped)}
        if skipped
        else {}
    )
    if known is None:
        return archives, {"checked": False, "known_archives": None, **marks}
    names = set(known["policies"].get(policy, []))
    generated = known.get("generated")
    try:
        cutoff = dt.datetime.fromisoformat(generated) if isinstance(generated, str) else None
    except ValueError:
        cutoff = None
    unknown = [a for a in archives if a["name"] not in names]
    flagged = [a["name"] for a in unknown if cutoff is None or archive_time(a) <= cutoff]
    provenance = {
        "checked": True,
        "known_archives": str(path),
        "known_generated": generated if isinstance(generated, str) else None,
        "unknown_archives": flagged[:SHOWN_NAMES],
        "unknown_archives_count": len(flagged),
        "not_yet_collected": len(unknown) - len(flagged),
        "unknown_allowed": allow_unknown,
        **marks,
    }
    if allow_unknown:
        return archives, provenance
    chosen = [a for a in archives if a["name"] in names]
    if archives and not chosen:
        raise RuntimeError(
            f"none of the {len(archives)} archive(s) of this policy in the repository is "
            f"announced by {config['host']}'s collected run records ({path}); run "
            "playbooks/collect_records.yml, or choose --allow-unknown-archives to use them anyway"
        )
    return chosen, provenance


def learn(config: dict[str, Any], announced: dict[str, Any]) -> tuple[Path, int]:
    """Adds to the client's known archives what it announces now (``bangka-backup archives``
    run on the client, as ``playbooks/restore_test.yml`` and ``restore.yml`` do before they
    choose): the same statement the collection carries, only fresher. Archives are only ever
    added; the list then counts as complete up to now. Returns the file and how many were new."""
    if not isinstance(announced.get("archives"), list) or announced.get("host") != config["host"]:
        raise agent.ConfigError(f"not {config['host']}'s announcement (bangka-backup archives)")
    path, known = known_archives(config)
    policies: dict[str, set[str]] = {
        name: set(names) for name, names in ((known or {}).get("policies") or {}).items()
    }
    before = sum(len(names) for names in policies.values())
    marked: dict[str, list[str]] = dict((known or {}).get("marked") or {})
    for item in announced["archives"]:
        name = item.get("archive") if isinstance(item, dict) else None
        if not isinstance(name, str):
            continue
        failed = item.get("database_dumps_failed")
        if isinstance(failed, list) and failed:
            marked[name] = [str(f)[:200] for f in failed][:50]
        parsed = agent.parse_archive_name(name)  # {host}-{policy}-{cycle}-{time} or None
        if (
            parsed
            and parsed["host"] == config["host"]
            and parsed["policy"] in (config.get("policies") or {})
        ):
            policies.setdefault(parsed["policy"], set()).add(name)
    added = sum(len(names) for names in policies.values()) - before
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    agent.write_json_atomic(
        path,
        {
            "client": config["host"],
            "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "policies": {name: sorted(names) for name, names in sorted(policies.items())},
            "marked": dict(sorted(marked.items())),
            # Kept from the collection: when the admin first saw each archive (the RPO).
            "first_seen": (known or {}).get("first_seen") or {},
        },
    )
    return path, added


class RestoreTest:
    def __init__(self, config: dict[str, Any], policy: str) -> None:
        self.config = config
        self.policy_name = policy
        self.policy = agent.policy_of(config, policy, Path("config"))
        self.repo = config["repository"]
        self.borg = agent.Borg(config)
        self.tz = ZoneInfo(config.get("timezone", "Asia/Jakarta"))
        self.log_dir = Path(config["records_dir"]) / "restore-tests" / policy
        self.log_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        # One object per test: its record and the raw --log-json of its Borg calls share a name.
        self.started = agent.now_in(self.tz)
        stamp = self.started.strftime("%Y-%m-%dT%H-%M-%S")
        self.name = f"{config['host']}-{policy}-{stamp}"
        self.log_path = self.log_dir / f"{self.name}.log.jsonl"
        self.log = self.log_path.open("a", encoding="utf-8")
        # The last sample extract: (start, end, [(Borg's time stamp, path) per file started]).
        self.timing: tuple[float, float, list[tuple[float, str]]] | None = None

    def archives(self) -> list[dict[str, Any]]:
        """This policy's complete archives, oldest first."""
        return policy_archives(self.borg, self.config, self.policy_name, self.log)

    @staticmethod
    def choose(archives: list[dict[str, Any]], date: str | None, random_older: bool) -> str:
        if not archives:
            raise RuntimeError("the repository holds no archive of this policy yet")
        if date:
            matching = [a for a in archives if a["start"].startswith(date)]
            if not matching:
                raise RuntimeError(f"no archive of this policy was made on {date}")
            return str(matching[-1]["name"])
        if random_older and len(archives) > 1:
            return str(random.SystemRandom().choice(archives[:-1])["name"])
        return str(archives[-1]["name"])

    def items(
        self,
        archive: str,
        *,
        hashes: bool = True,
        only: list[Item] | None = None,
        log: TextIO | None = None,
        on_start: Callable[[subprocess.Popen[str]], None] | None = None,
    ) -> list[Item]:
        """Regular files of the archive. With ``hashes``, Borg's own SHA-256 of each file's
        content too: Borg reads and decrypts every chunk for that, so a plan lists without
        hashes (metadata only) and the test hashes ``only`` the chosen files beside the
        extract. ``log`` receives Borg's --log-json lines (default: the test's log)."""
        location = f"{self.repo['location']}::{archive}"
        fields = "{sha256}{size}{mtime}{path}" if hashes else "{size}{mtime}{path}"
        argv = ["list", "--json-lines", "--log-json", "--format", fields, location]
        patterns = None
        if only is not None:
            patterns = Path(tempfile.mkstemp(prefix="restore-test-", suffix=".patterns")[1])
            lines = ["P pf", *(f"+ {item.path}" for item in only), "- sh:**"]
            patterns.write_text("\n".join(lines) + "\n", encoding="utf-8")
            argv[1:1] = ["--patterns-from", str(patterns)]
        try:
            step = self.borg.run(
                argv, self.repo, log or self.log, stdout_lines=True, on_start=on_start
            )
        finally:
            if patterns is not None:
                patterns.unlink(missing_ok=True)
        if step.returncode not in (0, 1):
            raise RuntimeError(agent.Run.explain(step, "borg list (archive contents)"))
        items = []
        for index, line in enumerate(step.lines):
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
                raise RuntimeError(f"borg list (archive contents): unreadable: {exc}") from None
            if entry.get("type") == "-" and entry.get("path") != agent.DATABASES_MEMBER:
                # The database stream is checked by loading it (check_databases), not as a file.
                items.append(
                    Item(
                        entry["path"],
                        int(entry["size"]),
                        entry.get("sha256", ""),
                        entry["mtime"],
                        -1 if only is not None else index,
                    )
                )
        return items

    @staticmethod
    def sample(items: list[Item], min_files: int, min_bytes: int, seed: str) -> list[Item]:
        """At least ``min_files`` files and ``min_bytes`` bytes (all if the archive is
        smaller), chosen at random but spread over the archive's file sizes: every k-th file
        in size order from a random start, so the sample holds the same share of the files
        as of the bytes. Borg's time per file and per byte then both scale by that share, and
        the extrapolation to a full restore holds for small and large files alike (a sample
        drawn by count alone held 6 % of the bytes for 10 % of the files)."""
        total = sum(item.size for item in items)
        min_files = max(1, min_files)
        if not items or len(items) <= min_files or total <= min_bytes:
            return list(items)
        rng = random.Random(seed)  # noqa: S311 (sampling, not secrecy)
        by_size = sorted(items, key=lambda item: (item.size, item.path))
        share = max(min_files / len(items), min_bytes / total)
        step = 1 / share
        index = rng.random() * step
        chosen: list[Item] = []
        taken: set[int] = set()
        while int(index) < len(by_size):
            chosen.append(by_size[int(index)])
            taken.add(int(index))
            index += step
        rest = [item for i, item in enumerate(by_size) if i not in taken]
        rng.shuffle(rest)
        size = sum(item.size for item in chosen)
        for item in rest:  # rounding can leave it a file or a few bytes short
            if len(chosen) >= min_files and size >= min_bytes:
                break
            chosen.append(item)
            size += item.size
        return chosen

    def plan(
        self,
        *,
        archive_date: str | None = None,
        random_older: bool = False,
        full: bool = False,
        min_files: int = 50,
        min_bytes: int = 64 * 1024 * 1024,
        allow_unknown: bool = False,
        list_items: bool = True,
        include_marked: bool = False,
    ) -> dict[str, Any]:
        """Choose the archive (among those the client is known to have made) and the files to
        restore. A full test run here needs no list of files in advance (``list_items=False``:
        Borg's hashed listing beside the extract names them). Raises RuntimeError on a Borg
        failure."""
        archives, future = split_future(self.archives(), self.tz)
        if not archives and future:
            raise RuntimeError(
                f"every archive of this policy is dated in the future ({future[0]}...): "
                "tampering? Run the admin's tamper check (bangka-backup-maintenance check)"
            )
        candidates, provenance = trusted_archives(
            self.config, self.policy_name, archives, allow_unknown, include_marked
        )
        if future:
            provenance.update(future_dated=future[:SHOWN_NAMES], future_dated_count=len(future))
        marked = set(marked_archives(self.config, known_archives(self.config)[1]))
        good = {a["name"] for a in archives} - marked
        archive = self.choose(candidates, archive_date, random_older)
        plan: dict[str, Any] = {
            "schema_version": PLAN_SCHEMA_VERSION,
            "kind": "restore_test_plan",
            "host": self.config["host"],
            "policy": self.policy_name,
            "archive": archive,
            "mode": "full" if full else "sample",
            # The RPO counts archives whose run dumped every database: a marked one is no backup.
            "newest_archive_start": newest_start(
                self.config, [a for a in archives if a["name"] in good] or archives
            ).isoformat(),
            "provenance": provenance,
            "archive_files": None,
            "archive_bytes": None,
            "items": None,
        }
        if full and not list_items:
            return plan
        # Metadata only: Borg's SHA-256 of the chosen files is listed by run(), beside the
        # extract, so the content is not read and decrypted twice in a row.
        items = self.items(archive, hashes=False)
        chosen = items if full else self.sample(items, min_files, min_bytes, archive)
        plan.update(
            archive_files=len(items),
            archive_bytes=sum(i.size for i in items),
            items=[i.as_dict() for i in chosen],
        )
        return plan

    def extract(self, archive: str, selection: list[Item] | None, scratch: Path) -> float:
        """Extract the selection (None = everything); returns the wall time in seconds. For a
        selection, Borg names each file as it starts it (``--list``, with its own time stamp):
        the times between starts, against the files' sizes, are what the extrapolation fits
        (:func:`fit_estimate`), kept in ``self.timing``."""
        argv = ["extract", "--log-json", f"{self.repo['location']}::{archive}"]
        if selection is None:  # the database stream is loaded by check_databases instead
            argv[1:1] = ["--exclude", f"pf:{agent.DATABASES_MEMBER}"]
        starts: list[tuple[float, str]] = []
        on_line = None
        if selection is not None:
            patterns = scratch.parent / f"{scratch.name}.patterns"
            lines = ["P pf", *(f"+ {item.path}" for item in selection), "- sh:**"]
            patterns.write_text("\n".join(lines) + "\n", encoding="utf-8")
            argv[1:1] = ["--list", "--patterns-from", str(patterns)]

            def on_line(line: str) -> None:
                if '"borg.output.list"' not in line:
                    return
                try:
                    entry = json.loads(line)
                    starts.append((float(entry["time"]), str(entry["message"])))
                except (ValueError, KeyError, TypeError, RecursionError):
                    return

        began = time.time()
        started = time.monotonic()
        step = self.borg.run(argv, self.repo, self.log, cwd=scratch, on_line=on_line)
        elapsed = time.monotonic() - started
        self.timing = (began, began + elapsed, starts)
        if step.returncode not in (0, 1):
            raise RuntimeError(agent.Run.explain(step, "borg extract"))
        return elapsed

    @staticmethod
    def hash_tree(scratch: Path) -> dict[str, tuple[str, int] | None]:
        """SHA-256 and size of every regular file restored under ``scratch`` (the scratch holds
        only what was extracted: the sample, or everything). Walked without following any
        symbolic link, in a file name or a directory: an archive's link can never make the test
        read a file outside the scratch directory."""
        restored: dict[str, tuple[str, int] | None] = {}
        for folder, _, names in os.walk(scratch):
            for name in names:
                path = Path(folder, name)
                try:
                    if not stat.S_ISREG(os.lstat(path).st_mode):
                        continue
                    restored[path.relative_to(scratch).as_posix()] = (
                        agent.sha256_of(path),
                        path.stat().st_size,
                    )
                except OSError:
                    continue
        return restored

    @staticmethod
    def with_borg_hashes(selection: list[Item], listed: list[Item]) -> list[Item]:
        """The selection with Borg's SHA-256 and size from the hashed listing. A file the
        listing does not name keeps an empty hash, so it can only mismatch."""
        by_path = {item.path: item for item in listed}
        return [
            dataclasses.replace(
                by_path.get(item.path, Item(item.path, item.size, "", item.mtime)),
                index=item.index,
            )
            for item in selection
        ]

    @staticmethod
    def verify(
        selection: list[Item],
        scratch: Path,
        live: dict[str, str] | None,
        restored: dict[str, tuple[str, int] | None] | None = None,
    ) -> Verification:
        """Restored files against Borg's SHA-256, and against ``live`` (SHA-256 of the source
        files unchanged since the archive, from :func:`agent.live_hashes`) where given.
        ``restored``: the files' hashes already made by :meth:`hash_tree`."""
        if restored is None:
            restored = RestoreTest.hash_tree(scratch)
        result = Verification()
        for item in selection:
            found = restored.get(item.path)
            if found is None:
                result.missing.append(item.path)
                continue
            digest, size = found
            result.files_checked += 1
            result.bytes_checked += size
            if not item.sha256 or digest != item.sha256 or size != item.size:
                result.mismatched.append(item.path)
                continue
            if live is not None and item.path in live:
                result.live_compared += 1
                if live[item.path] != item.sha256:
                    result.live_mismatched.append(item.path)
        return result

    def restore_and_hash(
        self, archive: str, chosen: list[Item] | None, full: bool, scratch: Path
    ) -> tuple[float, list[Item], dict[str, tuple[str, int] | None], str]:
        """Extract, hash what came back, and get Borg's SHA-256 of the selection. The hashed
        listing is a second read and decrypt of the same data: with two cores it runs beside
        the extract and the restored files are hashed while it finishes; with one core it runs
        after the extract, so it cannot slow the measured restore. A plan that already
        carries Borg's hashes (made by an older version) is used as it is. ``chosen`` None (a
        full test planned here): every file the hashed listing names."""
        needs_hashes = chosen is None or any(not item.sha256 for item in chosen)
        beside = needs_hashes and usable_cores() >= 2
        only = None if full else chosen
        borg_log = io.StringIO()
        listing: Future[list[Item]] | None = None
        listers: list[subprocess.Popen[str]] = []
        done = False

        def started(proc: subprocess.Popen[str]) -> None:
            listers.append(proc)
            if failed.is_set():  # the extract failed before this listing even started
                proc.terminate()

        failed = threading.Event()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="borg-list") as pool:
            if beside:
                listing = pool.submit(
                    self.items, archive, only=only, log=borg_log, on_start=started
                )
            try:
                seconds = self.extract(archive, None if full else chosen, scratch)
                restored = self.hash_tree(scratch)
                if chosen is None:
                    chosen = (
                        listing.result()
                        if listing is not None
                        else self.items(archive, log=borg_log)
                    )
                elif listing is not None:
                    chosen = self.with_borg_hashes(chosen, listing.result())
                elif needs_hashes:
                    chosen = self.with_borg_hashes(
                        chosen, self.items(archive, only=only, log=borg_log)
                    )
                done = True
            finally:
                if listing is not None:
                    listing.cancel()
                    if not done:  # the extract failed or was interrupted: stop the listing
                        failed.set()
                        for lister in list(listers):
                            lister.terminate()
                    listing.exception()
                self.log.write(borg_log.getvalue())
        how = (
            "listed beside the extract"
            if beside
            else "listed after the extract"
            if needs_hashes
            else "from the plan"
        )
        return seconds, chosen, restored, how

    def run(
        self,
        *,
        plan: dict[str, Any] | None = None,
        live: dict[str, str] | None = None,
        live_root: Path | None = Path("/"),
        scratch_root: Path | None = None,
        **choice: Any,
    ) -> tuple[int, dict[str, Any]]:
        """One restore test. Without ``plan`` it plans itself (``choice``: see :meth:`plan`).
        ``live`` (hashes made on the source host) wins over ``live_root`` (hash here)."""
        clock = time.monotonic()
        record: dict[str, Any] = {
            "schema_version": RECORD_SCHEMA_VERSION,
            "kind": "restore_test",
            "host": self.config["host"],
            "policy": self.policy_name,
            "category": self.policy.get("category", "standard"),
            "repository": self.repo["location"],
            "start": self.started.isoformat(),
            "rto_hours": self.policy.get("rto_hours"),
            "rpo_hours": self.policy.get("rpo_hours"),
        }
        if self.config.get("restore_host"):
            record["restored_on"] = self.config["restore_host"]
        scratch = Path(tempfile.mkdtemp(prefix="restore-test-", dir=scratch_root))
        try:
            if plan is None:
                plan = self.plan(list_items=not choice.get("full"), **choice)
            self.check_plan(plan)
            if isinstance(plan.get("provenance"), dict):
                record["provenance"] = plan["provenance"]
            full = plan["mode"] == "full"
            planned = None if plan["items"] is None else [Item(**i) for i in plan["items"]]
            extract_started = time.monotonic()
            seconds, chosen, restored, how = self.restore_and_hash(
                plan["archive"], planned, full, scratch
            )
            if planned is None:
                plan = {
                    **plan,
                    "archive_files": len(chosen),
                    "archive_bytes": sum(i.size for i in chosen),
                }
            record["borg_hashes"] = how
            hashed = extract_started + seconds
            live, record["live_source"] = self.live_source(live, live_root, chosen)
            check = self.verify(chosen, scratch, live, restored)
            record["verify_seconds"] = round(time.monotonic() - hashed, 3)
            databases = self.check_databases(plan["archive"], record)
            record.update(self.measure(plan, chosen, seconds, check, databases))
            record["status"] = "passed" if record["result"]["passed"] else "failed"
        except (RuntimeError, KeyError, TypeError, ValueError) as exc:
            reason = str(exc) if isinstance(exc, RuntimeError) else f"unusable plan: {exc!r}"
            record.update(status="error", reason=reason)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.parent.joinpath(f"{scratch.name}.patterns").unlink(missing_ok=True)
            self.log.close()
        record["scratch_removed"] = not scratch.exists()
        record["end"] = agent.now_in(self.tz).isoformat()
        record["duration_seconds"] = round(time.monotonic() - clock, 3)
        path = self.log_dir / f"{self.name}.json"
        record["record_path"] = str(path)
        record["log_path"] = str(self.log_path)
        if record["status"] != "passed":
            record["reason"] = record.get("reason") or failure_reason(record)
            record["notifications"] = agent.send_notifications(
                self.config.get("notify") or {},
                f"[SI CEKAT] UJI PEMULIHAN / RESTORE TEST {record['status'].upper()}: "
                f"{record['host']} {record['policy']}",
                notice_body(record),
                {k: record.get(k) for k in ("host", "policy", "status", "reason", "archive")},
            )
        elif (record.get("provenance") or {}).get("unknown_archives_count"):
            flagged = record["provenance"]
            record["notifications"] = agent.send_notifications(
                self.config.get("notify") or {},
                f"[SI CEKAT] ARSIP TAK DIKENAL / UNKNOWN ARCHIVES: {record['host']} "
                f"{record['policy']}",
                f"{flagged['unknown_archives_count']} archive(s) in the repository of "
                f"{record['host']} are not announced by its run records (another key, or made "
                f"outside the wrapper): {', '.join(flagged['unknown_archives'])}. The restore "
                f"test used {record.get('archive')} and {record['status']}.",
                {k: record.get(k) for k in ("host", "policy", "status", "archive")},
            )
        agent.write_json_atomic(path, record)
        agent.audit(
            "restore_test",
            f"{record['host']} {record['policy']}",
            record["status"],
            archive=record.get("archive"),
            record=str(path),
        )
        return (EXIT_PASSED if record["status"] == "passed" else EXIT_FAILED), record

    def live_source(
        self, live: dict[str, str] | None, live_root: Path | None, chosen: list[Item]
    ) -> tuple[dict[str, str] | None, str | None]:
        """The live files' hashes to compare with, and where they come from."""
        if live is not None:
            return live, f"hashed on {self.config['host']}"
        if live_root is not None:
            return agent.live_hashes([i.as_dict() for i in chosen], live_root), (
                f"{live_root} on this host"
            )
        return None, None

    def check_plan(self, plan: dict[str, Any]) -> None:
        if plan.get("kind") != "restore_test_plan" or plan.get("schema_version") != 1:
            raise RuntimeError("the plan file is not a restore-test plan (version 1)")
        if (plan.get("host"), plan.get("policy")) != (self.config["host"], self.policy_name):
            raise RuntimeError(
                f"the plan is for {plan.get('host')}/{plan.get('policy')}, "
                f"not {self.config['host']}/{self.policy_name}"
            )
        if plan.get("items") is None and plan.get("mode") != "full":
            raise RuntimeError("the plan names no files to restore")

    def check_databases(self, archive: str, record: dict[str, Any]) -> dict[str, Any] | None:
        """Stage 2 for databases (None: the policy has none): the archive's dump stream loaded
        into scratch databases of this host's servers, compared with the run's record,
        smoke-tested, dropped. The rows go into ``record``; the summary is returned."""
        if not self.policy.get("databases"):
            return None
        dbrestore = dbrestore_module()
        try:
            settings = dbrestore.settings_of(self.config, self.policy)
        except ValueError as exc:
            raise RuntimeError(f"configuration: {exc}") from exc
        check = dbrestore.StreamCheck(settings, self.log)
        outcome: dict[str, Any] | None = None
        try:
            with dbrestore.borg_stream(self.borg, self.repo, archive, self.log) as source:
                outcome = check.run(source)
        except dbrestore.StreamError as exc:
            outcome = {**(outcome or {"databases": []}), "status": "failed", "reason": str(exc)}
        record["databases"] = outcome.pop("databases")
        record["database_check"] = outcome
        return outcome

    def measure(
        self,
        plan: dict[str, Any],
        chosen: list[Item],
        seconds: float,
        check: Verification,
        databases: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        full = plan["mode"] == "full"
        archive_bytes = int(plan["archive_bytes"])
        restored_bytes = sum(i.size for i in chosen)
        rto_hours = self.policy.get("rto_hours")
        rto_seconds = None if rto_hours is None else rto_hours * 3600
        model = (
            None
            if full
            else fit_estimate(
                self.timing, {i.path: (i.size, i.index) for i in chosen},
                int(plan["archive_files"]), archive_bytes, seconds,
            )
        )  # fmt: skip
        extrapolated = model["estimate_seconds"] if model else seconds
        # The databases are restored after the files: their load time counts in full.
        database_seconds = float((databases or {}).get("database_check_seconds") or 0)
        judged = (seconds if full else extrapolated) + database_seconds
        newest = dt.datetime.fromisoformat(plan["newest_archive_start"])
        age_hours = (dt.datetime.now(dt.UTC) - newest).total_seconds() / 3600
        rpo_hours = self.policy.get("rpo_hours")
        future = (plan.get("provenance") or {}).get("future_dated_count") or 0
        result = {
            "integrity": check.passed,
            # An archive dated in the future is a client's work, never a backup run's.
            "dates_plausible": not future,
            "rto_met": (judged <= rto_seconds) if rto_seconds is not None else None,
            "rpo_met": (age_hours <= rpo_hours) if rpo_hours is not None else None,
            "databases": None if databases is None else databases.get("status") == "passed",
        }
        result["passed"] = (
            bool(result["integrity"])
            and result["dates_plausible"]
            and result["rto_met"] is not False
            and (result["rpo_met"] is not False)
            and result["databases"] is not False
        )
        return {
            "archive": plan["archive"],
            "mode": plan["mode"],
            "archive_files": int(plan["archive_files"]),
            "archive_bytes": archive_bytes,
            "files_restored": len(chosen),
            "bytes_restored": restored_bytes,
            "restore_seconds": round(seconds, 3),
            "throughput_mib_s": round(restored_bytes / 2**20 / seconds, 2) if seconds else None,
            "extrapolated_full_restore_seconds": None if full else round(extrapolated, 3),
            "estimate_model": None
            if model is None
            else {k: v for k, v in model.items() if k != "estimate_seconds"},
            "rto_judged_on": ("full restore" if full else "extrapolation from the sample")
            + (" + database loads" if databases is not None else ""),
            "rto_judged_seconds": round(judged, 3),
            "newest_archive_age_hours": round(age_hours, 2),
            "verification": {
                "files_checked": check.files_checked,
                "bytes_checked": check.bytes_checked,
                "missing": check.missing[:50],
                "mismatched": check.mismatched[:50],
                "live_compared": check.live_compared,
                "live_mismatched": check.live_mismatched[:50],
            },
            "result": result,
        }


MIN_TIMED_FILES = 10


def fit_estimate(
    timing: tuple[float, float, list[tuple[float, str]]] | None,
    sizes: dict[str, tuple[int, int]],
    archive_files: int,
    archive_bytes: int,
    seconds: float,
) -> dict[str, Any]:
    """The full-restore time a sample predicts. ``sizes``: path -> (size, place in the
    archive, -1 if not known). Borg's cost has three parts: a fixed one (start-up, key,
    manifest: the time to the first file, plus what follows the last), one per file
    (metadata, opening, writing its attributes) and one per byte (read, decrypt, decompress,
    write). Borg stamps each file as it starts it, so the time between two starts is one
    file's cost plus that of stepping over the archive items between them that the sample
    skips; a least-squares fit over the sample of (size, items skipped) against that time
    gives the per-file, per-byte and per-skipped-item costs, and the estimate is fixed + per
    file x the archive's files + per byte x its bytes (a full restore skips nothing). Scaling
    the whole sample time by bytes alone (as before) took the fixed cost and the per-file
    cost of small files for throughput, and overstated a full restore 2-9 times."""
    restored = sum(size for size, _ in sizes.values())
    fallback = {
        "method": "bytes",
        "fixed_seconds": 0.0,
        "per_file_seconds": 0.0,
        "per_mib_seconds": round(seconds / (restored / 2**20), 6) if restored else None,
        "files_timed": 0,
        "estimate_seconds": seconds * archive_bytes / restored if restored else seconds,
    }
    if timing is None:
        return fallback
    began, ended, starts = timing
    timed = [(t, *sizes[p]) for t, p in sorted(starts) if p in sizes]
    if len(timed) < MIN_TIMED_FILES:  # too few points for three costs to mean anything
        return fallback
    # (size, items skipped before the next file, time to the next file's start)
    points = [
        (size, max(0, later_index - index - 1) if index >= 0 and later_index >= 0 else 0, later - t)
        for (t, size, index), (later, _, later_index) in itertools.pairwise(timed)
    ]
    per_file, per_byte, per_skip = least_squares(points)
    last_size = timed[-1][1]
    tail = max(0.0, ended - timed[-1][0] - (per_file + per_byte * last_size))
    fixed = max(0.0, timed[0][0] - began) + tail
    return {
        "method": "per file and per byte, fitted",
        "fixed_seconds": round(fixed, 3),
        "per_file_seconds": round(per_file, 6),
        "per_mib_seconds": round(per_byte * 2**20, 6),
        "per_skipped_item_seconds": round(per_skip, 7),
        "files_timed": len(points),
        "estimate_seconds": fixed + per_file * archive_files + per_byte * archive_bytes,
    }


def least_squares(points: list[tuple[int, int, float]]) -> tuple[float, float, float]:
    """Non-negative (per file, per byte, per skipped item) costs fitting ``time = per file +
    per byte x size + per skipped item x skipped`` over ``(size, skipped, time)`` points: the
    ordinary least-squares solution when all three come out non-negative, else the best fit
    with the offending costs left out (standard library only: this runs on restore hosts)."""
    best: tuple[float, tuple[float, float, float]] | None = None
    for use in ((1, 1, 1), (1, 1, 0), (1, 0, 1), (0, 1, 1), (1, 0, 0), (0, 1, 0)):
        columns = [i for i, used in enumerate(use) if used]
        rows = [((1.0, float(size), float(skip)), t) for size, skip, t in points]
        matrix = [[math.fsum(r[0][i] * r[0][j] for r in rows) for j in columns] for i in columns]
        vector = [math.fsum(r[0][i] * r[1] for r in rows) for i in columns]
        solved = solve(matrix, vector)
        if solved is None or any(value < 0 for value in solved):
            continue
        costs = [0.0, 0.0, 0.0]
        for i, value in zip(columns, solved, strict=True):
            costs[i] = value
        error = math.fsum(
            (t - costs[0] - costs[1] * size - costs[2] * skip) ** 2 for size, skip, t in points
        )
        if best is None or error < best[0] * (1 - 1e-9):
            best = (error, (costs[0], costs[1], costs[2]))
        if use == (1, 1, 1):
            break  # the unconstrained fit is already non-negative
    return best[1] if best else (0.0, 0.0, 0.0)


def solve(matrix: list[list[float]], vector: list[float]) -> list[float] | None:
    """Gaussian elimination with partial pivoting; None when the system is singular."""
    size = len(vector)
    rows = [[*matrix[i], vector[i]] for i in range(size)]
    for col in range(size):
        pivot = max(range(col, size), key=lambda r: abs(rows[r][col]))
        scale = max(abs(matrix[r][col]) for r in range(size))
        if abs(rows[pivot][col]) <= 1e-12 * scale:  # singular, or nearly: no unique fit
            return None
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(col + 1, size):
            factor = rows[r][col] / rows[col][col]
            for c in range(col, size + 1):
                rows[r][c] -= factor * rows[col][c]
    result = [0.0] * size
    for r in reversed(range(size)):
        result[r] = (
            rows[r][size] - math.fsum(rows[r][c] * result[c] for c in range(r + 1, size))
        ) / rows[r][r]
    return result


def failure_reason(record: dict[str, Any]) -> str:
    """One sentence saying why a test did not pass."""
    result = record.get("result") or {}
    verification = record.get("verification") or {}
    reasons = []
    if result.get("integrity") is False:
        parts = []
        for key, text in (
            ("missing", "missing after restore"),
            ("mismatched", "differ from Borg's SHA-256"),
            ("live_mismatched", "differ from the live source though unchanged"),
        ):
            if verification.get(key):
                parts.append(f"{len(verification[key])} file(s) {text} ({verification[key][0]})")
        reasons.append("integrity: " + "; ".join(parts))
    if result.get("databases") is False:
        check = record.get("database_check") or {}
        reasons.append(f"databases: {check.get('reason') or 'failed'}")
    if result.get("rto_met") is False:
        judged = record.get("rto_judged_seconds") or (
            record.get("restore_seconds")
            if record.get("mode") == "full"
            else (record.get("extrapolated_full_restore_seconds"))
        )
        reasons.append(f"RTO: restore would take {judged} s, target {record['rto_hours']} h")
    if result.get("rpo_met") is False:
        reasons.append(
            f"RPO: newest archive is {record.get('newest_archive_age_hours')} h old, "
            f"target {record['rpo_hours']} h"
        )
    if result.get("dates_plausible") is False:
        provenance = record.get("provenance") or {}
        reasons.append(
            f"{provenance.get('future_dated_count')} archive(s) in the repository dated in the "
            f"future (tampering?): {', '.join(provenance.get('future_dated') or [])}; not used"
        )
    return " | ".join(reasons) or "failed"


def notice_body(record: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"Host / Server      : {record['host']}",
            f"Kebijakan / Policy : {record['policy']} ({record.get('category')})",
            f"Arsip / Archive    : {record.get('archive', '-')}",
            f"Status             : {record['status']}",
            f"Alasan / Reason    : {record.get('reason') or '-'}",
            f"Catatan / Record   : {record['record_path']}",
        ]
    )


# --------------------------------------------------------------------------- command line


def add_choice_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--date", help="an archive made on this day (YYYY-MM-DD)")
    which.add_argument("--random-older", action="store_true", help="a random older archive")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--full", action="store_const", const=True, dest="full", help="restore everything"
    )
    mode.add_argument(
        "--sample", action="store_const", const=False, dest="full", help="restore a sample"
    )
    parser.add_argument(
        "--allow-unknown-archives",
        action="store_true",
        help="also choose archives the client's collected run records do not announce",
    )
    parser.add_argument(
        "--include-marked-archives",
        action="store_true",
        help="also choose an archive whose run failed a database dump (the test then fails)",
    )
    parser.add_argument("--sample-files", type=int, help="at least N files (default 50)")
    parser.add_argument("--sample-mib", type=int, help="at least M MiB (default 64)")


def choice_of(args: argparse.Namespace, policy: dict[str, Any]) -> dict[str, Any]:
    """The command line wins; else the policy's ``restore_test`` settings; else the defaults."""
    settings = policy.get("restore_test") or {}
    full = args.full if args.full is not None else settings.get("mode", "sample") == "full"
    files = args.sample_files if args.sample_files is not None else settings.get("sample_files")
    mib = args.sample_mib if args.sample_mib is not None else settings.get("sample_mib")
    return {
        "archive_date": args.date,
        "random_older": args.random_older,
        "full": bool(full),
        "min_files": int(files if files is not None else 50),
        "min_bytes": int(mib if mib is not None else 64) * 2**20,
        "allow_unknown": bool(getattr(args, "allow_unknown_archives", False)),
        "include_marked": bool(getattr(args, "include_marked_archives", False)),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bangka-backup-restore-test",
        description="Restore an archive into a scratch directory and verify it (SI CEKAT).",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help=f"default: the first of {', '.join(DEFAULT_CONFIGS)} that exists",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run restore tests and write one record per test")
    target = run.add_mutually_exclusive_group(required=True)
    target.add_argument("--client", help="the host whose archives to test")
    target.add_argument("--all", action="store_true", help="every client and policy")
    run.add_argument("--policy", help="only this policy (default: every policy)")
    add_choice_arguments(run)
    run.add_argument("--plan", type=Path, help="a plan made by 'plan' (needs --client, --policy)")
    run.add_argument(
        "--live-hashes",
        type=Path,
        help="SHA-256 of the unchanged live files, made by 'live-hashes' on the client",
    )
    run.add_argument("--scratch-dir", type=Path, help="parent of the scratch directory")
    run.add_argument(
        "--live-root",
        type=Path,
        help="where the client's live sources are mounted here (default: / when the client is "
        "this host, else none)",
    )
    run.add_argument("--json", action="store_true", help="print the records as JSON lines")

    plan = sub.add_parser("plan", help="choose the archive and the sample; write the plan file")
    plan.add_argument("--client", required=True)
    plan.add_argument("--policy", required=True)
    add_choice_arguments(plan)
    plan.add_argument("--out", type=Path, required=True)

    known = sub.add_parser(
        "learn",
        help="add the archives a client announces now (bangka-backup archives JSON on stdin) "
        "to its known archives",
    )
    known.add_argument("--client", required=True)
    jobs = sub.add_parser(
        "jobs", help="list the (client, policy) tests this host would run, as JSON"
    )
    jobs.add_argument("--client", action="append", help="only this client (repeatable)")
    jobs.add_argument("--policy", help="only this policy")

    live = sub.add_parser(
        "live-hashes",
        help="on the client: SHA-256 of the planned files unchanged since the archive (JSON)",
    )
    live.add_argument("--plan", type=Path, required=True)
    live.add_argument("--root", type=Path, default=Path("/"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.umask(0o027)
    config_path = args.config or default_config_path()
    try:
        if args.command == "live-hashes":
            plan = agent.read_json_object(args.plan, ("items",))
            print(json.dumps(agent.live_hashes(plan["items"], args.root)))
            return EXIT_PASSED
        if args.command in ("jobs", "learn"):
            print(json.dumps(listing(args, config_path)))
            return EXIT_PASSED
        if args.command == "plan":
            test = RestoreTest(load(config_path, args.client), args.policy)
            try:
                plan = test.plan(**choice_of(args, test.policy))
            except RuntimeError as exc:
                print(f"bangka-backup-restore-test: {exc}", file=sys.stderr)
                return EXIT_FAILED
            finally:
                test.log.close()
            agent.write_json_atomic(args.out, plan)
            summary = {k: v for k, v in plan.items() if k != "items"}
            print(
                json.dumps({**summary, "files_planned": len(plan["items"]), "plan": str(args.out)})
            )
            return EXIT_PASSED
        return cmd_run(args, config_path)
    except agent.ConfigError as exc:
        print(f"bangka-backup-restore-test: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def listing(args: argparse.Namespace, config_path: Path) -> Any:
    """``jobs``: the tests this host would run; ``learn``: what a client announced was added."""
    if args.command == "jobs":
        return list_jobs(config_path, args.client or [], args.policy)
    try:
        announced = json.loads(sys.stdin.read())
    except ValueError as exc:
        raise agent.ConfigError(f"standard input: not JSON ({exc})") from None
    except RecursionError:
        raise agent.ConfigError("standard input: not JSON (nested too deeply)") from None
    if not isinstance(announced, dict):
        raise agent.ConfigError("standard input: not a JSON object")
    path, added = learn(load(config_path, args.client), announced)
    return {"known_archives": str(path), "added": added}


def list_jobs(config_path: Path, clients: list[str], policy: str | None) -> list[dict[str, str]]:
    """Every (client, policy) to test, with the plan file each would use; a client or policy
    that matches nothing is an error, not an empty list."""
    known = clients_of(config_path)
    unknown = sorted(set(clients) - set(known))
    if unknown:
        raise agent.ConfigError(
            f"{config_path}: unknown client(s) {', '.join(unknown)} (known: {', '.join(known)})"
        )
    jobs = []
    for client in clients or known:
        config = load(config_path, client)
        plans = Path(config["state_dir"]) / "plans"
        for name in sorted(config["policies"]):
            if policy in (None, "", name):
                plan = str(plans / f"{client}-{name}.json")
                jobs.append({"client": client, "policy": name, "plan": plan})
    if not jobs:
        raise agent.ConfigError(f"{config_path}: no policy named {policy!r} on those clients")
    return jobs


def cmd_run(args: argparse.Namespace, config_path: Path) -> int:
    if (args.plan or args.live_hashes) and not (args.client and args.policy):
        raise agent.ConfigError("--plan and --live-hashes need --client and --policy")
    plan = agent.read_json_object(args.plan, ("items",)) if args.plan else None
    live = agent.read_json_object(args.live_hashes) if args.live_hashes else None
    clients = clients_of(config_path) if args.all else [args.client]
    jobs = []
    for client in clients:
        config = load(config_path, client)
        policies = [args.policy] if args.policy else sorted(config["policies"])
        jobs += [(config, policy) for policy in policies]
    code = EXIT_PASSED
    for config, policy in jobs:
        live_root = args.live_root or (Path("/") if is_own_data(config) else None)
        test = RestoreTest(config, policy)
        result, record = test.run(
            plan=plan,
            live=cast("dict[str, str] | None", live),
            live_root=live_root,
            scratch_root=args.scratch_dir or config.get("scratch_dir"),
            **({} if plan else choice_of(args, test.policy)),
        )
        code = max(code, result)
        if args.json:
            print(json.dumps(record))
        else:
            detail = f" - {record['reason']}" if record.get("reason") else ""
            print(f"{record['host']} {policy}: {record['status']}{detail}")
            print(f"  record: {record['record_path']}")
    return code


if __name__ == "__main__":
    sys.exit(main())
