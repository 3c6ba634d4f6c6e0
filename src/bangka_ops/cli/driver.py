"""Run the project's playbooks through ``ansible_runner`` with per-host progress and results.

``cekat backup-now``, ``cekat restore-test`` and ``cekat restore`` are thin wrappers around
:func:`run_playbook`: it starts the playbook, draws one progress line per host (the task it is
on, tasks done, failures) from runner events as they arrive, and hands back every event's result
so the command can judge each host (RTO, RPO, integrity) from the records the tools printed.
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from bangka_ops.access.auditlog import printable


class DriverError(Exception):
    """The playbook could not be started (project, inventory or tools missing)."""


@dataclass
class HostProgress:
    tasks_done: int = 0
    failed: list[str] = field(default_factory=list)
    unreachable: str | None = None


@dataclass
class PlaybookRun:
    """What happened: the runner's status and rc, per-host progress, and the results of the
    tasks the caller asked to collect (``{task name: [(host, result), ...]}``)."""

    status: str
    rc: int
    hosts: dict[str, HostProgress]
    results: dict[str, list[tuple[str, dict[str, Any]]]]

    def collected(self, task: str) -> Iterator[tuple[str, dict[str, Any]]]:
        yield from self.results.get(task, [])


def find_project(explicit: Path | None) -> Path:
    """The checkout holding ``playbooks/`` and ``ansible.cfg``: ``--project``, then
    ``$BANGKA_OPS_PROJECT``, then the current directory, then the source checkout this package
    was installed from (an editable install)."""
    candidates = [explicit] if explicit else []
    if os.environ.get("BANGKA_OPS_PROJECT"):
        candidates.append(Path(os.environ["BANGKA_OPS_PROJECT"]))
    candidates += [Path.cwd(), Path(__file__).resolve().parents[3]]
    for candidate in candidates:
        if (candidate / "playbooks" / "site.yml").is_file() and (
            candidate / "ansible.cfg"
        ).is_file():
            return candidate.resolve()
    if explicit:
        raise DriverError(f"{explicit}: not a bangka-ops checkout (no playbooks/site.yml)")
    raise DriverError(
        "cannot find the bangka-ops checkout (playbooks/, ansible.cfg): run from it, or give "
        "--project DIR or BANGKA_OPS_PROJECT"
    )


def run_playbook(
    playbook: str,
    *,
    project: Path,
    extravars: dict[str, Any],
    inventory: str | None = None,
    limit: str | None = None,
    vault_password_file: Path | None = None,
    collect: tuple[str, ...] = (),
    console: Console | None = None,
) -> PlaybookRun:
    import ansible_runner  # noqa: PLC0415 (heavy; only the playbook commands need it)

    console = console or Console(stderr=True, soft_wrap=True)
    path = project / "playbooks" / playbook
    if not path.is_file():
        raise DriverError(f"{path}: playbook not found")
    cmdline = runner_options(inventory, vault_password_file)
    hosts: dict[str, HostProgress] = {}
    results: dict[str, list[tuple[str, dict[str, Any]]]] = {name: [] for name in collect}
    # The playbooks' filter plugins import bangka_ops: run the ansible-playbook of this
    # interpreter's environment (the .venv), whatever PATH says.
    bindir = str(Path(sys.executable).parent)
    env_path = os.environ.get("PATH", "")
    if not env_path.startswith(bindir + os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + env_path
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.fields[host]:<24}", style="bold", markup=False),
        BarColumn(bar_width=None),
        TextColumn("{task.completed:>3} tugas/tasks"),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    bars: dict[str, Any] = {}

    def bar(host: str) -> Any:
        if host not in bars:
            hosts[host] = HostProgress()
            bars[host] = progress.add_task("", total=None, host=printable(host))
        return bars[host]

    def on_event(event: dict[str, Any]) -> bool:
        data = event.get("event_data") or {}
        kind = event.get("event", "")
        host = data.get("host")
        task = str(data.get("task", "")).strip()
        if kind == "runner_on_start" and host:
            progress.update(bar(host), description=as_markup(task[:60]))
        elif kind in ("runner_on_ok", "runner_on_skipped", "runner_on_failed") and host:
            state = hosts.setdefault(host, HostProgress())
            progress.advance(bar(host))
            state.tasks_done += 1
            res = data.get("res") or {}
            if kind == "runner_on_failed" and not data.get("ignore_errors"):
                message = failure_message(res)
                state.failed.append(f"{task}: {message}")
                console.print(
                    Text.assemble(("GAGAL / FAILED", "red"), as_text(host, task, message))
                )
            if task in results and kind != "runner_on_skipped":
                results[task].append((host, res))
        elif kind == "runner_on_unreachable" and host:
            state = hosts.setdefault(host, HostProgress())
            bar(host)
            state.unreachable = str((data.get("res") or {}).get("msg", "unreachable"))[:300]
            console.print(
                Text.assemble(
                    ("TIDAK TERJANGKAU / UNREACHABLE", "red"), as_text(host, state.unreachable)
                )
            )
        return True

    with tempfile.TemporaryDirectory(prefix="cekat-runner-") as private, progress:
        runner = ansible_runner.run(
            private_data_dir=private,
            project_dir=str(project),
            playbook=str(path),
            inventory=str(Path(inventory).resolve()) if inventory else None,
            limit=limit,
            extravars=extravars,
            cmdline=shlex.join(cmdline) if cmdline else None,
            envvars={"ANSIBLE_CONFIG": str(project / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
            event_handler=on_event,
            quiet=True,
            suppress_env_files=True,
            settings={"suppress_ansible_output": True},
        )
        for host, task_id in bars.items():
            state = hosts[host]
            done = "[red]gagal / failed" if state.failed or state.unreachable else "[green]selesai"
            progress.update(task_id, description=done, total=state.tasks_done)
    return PlaybookRun(
        status=str(runner.status), rc=int(runner.rc or 0), hosts=hosts, results=results
    )


def as_text(*values: Any) -> str:
    """Values from the run (host names, task names, a tool's messages) for a
    :class:`~rich.text.Text`, which takes no markup or emoji codes: a Borg message with
    ``[/brackets]`` is printed as it is, and control characters are escaped."""
    return " " + ": ".join(printable(str(v)) for v in values)


def as_markup(value: Any) -> str:
    """A value from the run inside console markup: brackets escaped, control characters too."""
    return escape(printable(str(value)))


def runner_options(inventory: str | None, vault_password_file: Path | None) -> list[str]:
    """ansible-playbook's extra options, once the files they name are there."""
    if inventory is not None and not Path(inventory).exists():
        # Ansible would warn and run on no host at all: a "successful" run that did nothing.
        raise DriverError(f"{inventory}: inventory not found")
    if vault_password_file is None:
        return []
    if not vault_password_file.is_file():
        raise DriverError(f"{vault_password_file}: vault password file not found")
    return ["--vault-password-file", str(vault_password_file.resolve())]


def failure_message(res: dict[str, Any]) -> str:
    """What went wrong, in the tool's own words where there are some: a failed command's
    standard error says more than Ansible's "non-zero return code"."""
    for item in [res, *loop_results(res)]:
        stderr = str(item.get("stderr") or "").strip()
        if stderr and (item is res or item.get("failed") or item.get("rc", 0) != 0):
            return stderr.splitlines()[-1][:300]
    return str(res.get("msg") or "failed")[:300]


def loop_results(res: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-item results of a looped task (or the task's own result)."""
    items = res.get("results")
    return list(items) if isinstance(items, list) else [res]


Printer = Callable[[str], None]
