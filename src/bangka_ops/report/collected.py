"""Reading the tree of collected files for the checklist (:mod:`bangka_ops.report.checklist`).

A tree is a whole collection (one directory per host, the admin's ``_admin`` reports and the
inventory's ``.inventory.json``) or one host's collected directory. Everything read is the
host's whose directory holds it (the host whose package carried it), never the host a file
names. Pass 1 reads the small things (schedules, restore tests, archive summaries, the admin's
verdicts); pass 2 hands over the run records one host directory at a time.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from bangka_ops.report import admin, arsip, ingest, ledger

if TYPE_CHECKING:
    from bangka_ops.report.checklist import Report

START = operator.attrgetter("start")


def is_host_dir(root: Path) -> bool:
    """True when ``root`` is one host's collected directory rather than a whole collection
    (the admin's directory, ``_admin``, never is: no host name starts with ``_``)."""
    if admin.is_reserved(root.name):
        return False
    return (
        (root / "config.json").is_file()
        or (root / ledger.LEDGER_DIR).is_dir()
        or (root / arsip.FILE).is_file()
    )


INVENTORY_FILE = ".inventory.json"


def read_inventory(root: Path, problems: list[ingest.Problem]) -> dict[str, set[str]] | None:
    """Which clients each restore host tests, as ``collect_records.yml`` wrote it from the
    inventory (``<collection>/.inventory.json``); None when the tree has no such file."""
    path = root / INVENTORY_FILE
    if not path.is_file():
        return None
    loaded = ingest.read(path)
    hosts = loaded.get("restore_hosts") if isinstance(loaded, dict) else None
    if not isinstance(hosts, dict) or not all(
        isinstance(clients, list) and all(isinstance(c, str) for c in clients)
        for clients in hosts.values()
    ):
        problems.append(
            loaded
            if isinstance(loaded, ingest.Problem)
            else ingest.Problem(path, "restore_hosts: expected {host: [client, ...]}")
        )
        return {}  # damaged: no restore test counts (never more trust than the file gives)
    return {str(host): set(clients) for host, clients in hosts.items()}


class CollectedReader:
    """The reading half of the checklist's Builder (which sets these attributes up)."""

    report: Report
    restore_tests: dict[tuple[str, str], list[ingest.RestoreTest]]
    schedules: dict[str, ingest.Schedule]
    done: set[tuple[str, str]]  # (host, policy) whose runs were handed over
    single_host: bool
    inventory: dict[str, set[str]] | None

    # ---- pass 1: small things -------------------------------------------------------------
    def read_context(self, root: Path) -> None:
        """Schedules and restore tests, each attributed to the host whose collected directory
        holds it (the host whose package carried it), never to the host the file names."""
        self.single_host = is_host_dir(root)
        self.inventory = read_inventory(
            root.parent if self.single_host else root, self.report.problems
        )
        self.read_admin(root)
        for folder, names in ingest.walk(root):
            relative = folder.relative_to(root).parts
            if self.single_host:
                carrier: str | None = root.name
            else:
                carrier, relative = (relative[0], relative[1:]) if relative else (None, ())
                if carrier is not None and admin.is_reserved(carrier):
                    continue  # the admin's reports (read above), not a host's files
            in_tests = "restore-tests" in relative
            if not relative and carrier is not None and arsip.FILE in names:
                self.read_archive(folder / arsip.FILE, carrier)
            for name in names:
                if in_tests or (name == "config.json" and not relative):
                    self.context_file(folder / name, carrier, relative)
        for tests in self.restore_tests.values():
            tests.sort(key=lambda t: t.start)

    def context_file(self, path: Path, carrier: str | None, relative: tuple[str, ...]) -> None:
        """A restore-test record or a deployed configuration."""
        loaded = ingest.read(path)
        value = loaded if isinstance(loaded, ingest.Problem) else ingest.convert(loaded, path)
        if isinstance(value, ingest.Problem):
            self.report.problems.append(value)
        elif isinstance(value, ingest.RestoreTest):
            self.report.problems += (ingest.Problem(path, message) for message in value.problems)
            if self.restore_test_counts(value, carrier, relative):
                self.restore_tests.setdefault((value.host, value.policy), []).append(value)
        elif isinstance(value, ingest.Schedule):
            if carrier is not None and value.host != carrier:
                self.report.problems.append(
                    ingest.Problem(
                        path,
                        f"names host {value.host!r} but is {carrier}'s deployed "
                        f"configuration: used as {carrier}'s schedule",
                    )
                )
                value.host = carrier
            self.schedules[value.host] = value

    def read_archive(self, path: Path, carrier: str) -> None:
        """An archive host's summary, as the host whose collected directory holds it."""
        value = arsip.read(path, carrier, self.report.generated)
        if isinstance(value, ingest.Problem):
            self.report.problems.append(value)
        else:
            self.report.archives[carrier] = value

    def read_admin(self, root: Path) -> None:
        """The admin's latest tamper verdict per host, known before any row is made."""
        verdicts = admin.read(root, self.single_host, self.report.generated, self.report.problems)
        if self.single_host:  # one host's directory: only that host's verdict
            verdicts = {h: v for h, v in verdicts.items() if h == root.name}
        self.report.admin = verdicts

    def restore_test_counts(
        self, test: ingest.RestoreTest, carrier: str | None, relative: tuple[str, ...]
    ) -> bool:
        """A restore test is evidence for its client only when it came from a host that tests
        that client: per the inventory the collection wrote (``.inventory.json``), or, in a
        tree without one, from the client itself or from ``restore/<client>/`` of a host."""
        if carrier is None:
            return True  # loose files at the root of a tree: not a collection
        if self.inventory is not None:
            allowed = test.host in self.inventory.get(carrier, ())
        else:
            allowed = test.host == carrier or relative[:2] == ("restore", test.host)
        if not allowed:
            self.report.problems.append(
                ingest.Problem(
                    test.path,
                    f"restore test of {test.host!r} collected from {carrier}, which does not "
                    f"test {test.host!r}: not counted",
                )
            )
        return allowed

    # ---- pass 2: the run records, one host directory at a time ----------------------------
    def policy_runs(self, root: Path) -> Iterator[tuple[tuple[str, str], list[ingest.Run]]]:
        """Each (host, policy) with its runs in time order, one host directory at a time (the
        first directory holding a policy's records is used), then each policy of a schedule
        that no record shows. Each is marked done as it is handed over."""
        for unit, recurse in self.units(root):
            groups: dict[tuple[str, str], list[ingest.Run]] = {}
            carrier = unit.name if recurse else None
            self.read_unit(unit, recurse=recurse, groups=groups, carrier=carrier)
            for key, runs in groups.items():
                if key in self.done:
                    self.report.problems.append(
                        ingest.Problem(
                            unit,
                            f"records of {key[0]}/{key[1]} are in more than one host directory; "
                            "only the first was used",
                        )
                    )
                    continue
                self.done.add(key)
                runs.sort(key=START)
                yield key, runs
        for host, schedule in sorted(self.schedules.items()):
            for policy in sorted(schedule.policies):
                if (host, policy) not in self.done:
                    self.done.add((host, policy))
                    yield (host, policy), []

    def units(self, root: Path) -> list[tuple[Path, bool]]:
        """The host directories under ``root`` (each read whole), or ``root`` itself when it is
        one host's directory. Loose files directly under a collection root form a unit of
        their own."""
        if is_host_dir(root):
            return [(root, True)]
        units = [(root, False)]
        try:
            units += sorted(
                (Path(e.path), True)
                for e in os.scandir(root)
                if e.is_dir(follow_symlinks=False)
                and not e.name.startswith(".")
                and not admin.is_reserved(e.name)
            )
        except OSError as exc:
            self.report.problems.append(ingest.Problem(root, f"cannot read: {exc}"))
        return units

    def read_unit(
        self,
        unit: Path,
        *,
        recurse: bool,
        groups: dict[tuple[str, str], list[ingest.Run]],
        carrier: str | None = None,
    ) -> None:
        """One host directory's runs: its ledger lines, then loose records not yet
        consolidated (a loose file whose copy is already in the ledger is skipped). Every run
        is the ``carrier``'s (the host whose package brought it): a record naming another host
        becomes a ``mismatch`` row of the carrier, never a run of the host it names."""
        problems = self.report.problems
        sources: set[str] = set()
        if recurse:
            for path in ledger.ledger_files(unit):
                self.read_ledger(path, sources, groups, carrier)
        for folder, names in ingest.walk(unit) if recurse else [(unit, self.names(unit))]:
            parts = folder.relative_to(unit).parts
            if (parts and parts[0] == ledger.LEDGER_DIR) or set(parts) & set(ingest.OTHER_DIRS):
                continue
            prefix = f"{folder}{os.sep}"
            relative = "/".join(parts) + "/" if parts else ""
            for name in names:
                if name == "config.json" or (relative + name) in sources:
                    continue
                if name == arsip.FILE and not parts:
                    continue  # the archive summary (read with the context)
                file = prefix + name
                loaded = ingest.read(file)
                value = (
                    loaded if isinstance(loaded, ingest.Problem) else ingest.convert(loaded, file)
                )
                if isinstance(value, ingest.Problem):
                    problems.append(value)
                elif isinstance(value, ingest.Run):
                    if carrier is not None and value.host != carrier:
                        ingest.mismatch(value, carrier)
                    groups.setdefault((value.host, value.policy), []).append(value)

    def read_ledger(
        self,
        path: Path,
        sources: set[str],
        groups: dict[tuple[str, str], list[ingest.Run]],
        carrier: str | None = None,
    ) -> None:
        """One ledger file (the hot loop of a year's report: kept free of per-line helpers)."""
        problems = self.report.problems
        to_run, loads, json_error = ingest.to_run, ingest.parse, ingest.JSONError
        name = str(path)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            problems.append(ingest.Problem(path, f"cannot read: {exc.strerror or exc}"))
            return
        for number, raw in enumerate(data.split(b"\n"), start=1):
            if not raw:
                continue
            try:
                value = loads(raw)
            except json_error:
                problems.append(ingest.Problem(path, "invalid or truncated JSON line", number))
                continue
            source = value.get("source") if type(value) is dict else None
            record = value.get("record") if type(value) is dict else None
            if type(source) is not str or type(record) is not dict:
                problems.append(
                    ingest.Problem(path, "not a ledger line (source and record)", number)
                )
                continue
            sources.add(source)
            try:
                run = (
                    to_run(record, f"{name}#{source}")
                    if record.get("kind") == "backup_run"
                    else ingest.convert(record, f"{name}#{source}")
                )
            except (ValueError, TypeError) as exc:
                run = ingest.Problem(path, str(exc))
            if type(run) is ingest.Run:
                if carrier is not None and run.host != carrier:
                    ingest.mismatch(run, carrier)
                groups.setdefault((run.host, run.policy), []).append(run)
            elif isinstance(run, ingest.Problem):
                problems.append(ingest.Problem(path, f"{source}: {run.message}", number))

    @staticmethod
    def names(folder: Path) -> list[str]:
        return sorted(
            e.name
            for e in os.scandir(folder)
            if e.name.endswith(".json") and not e.name.startswith(".") and e.is_file()
        )
