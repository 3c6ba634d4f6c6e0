"""Repository sizes and capacity for the inventory pages: the capacity forecast
(:mod:`bangka_ops.report.capacity`, the same the checklist and the watchdog use) of each agent's
repository, from a collection of run records (``collect_records.yml``'s directory:
``<host>/records/`` and ``<host>/ledger/``), with the disk the admin's maintenance measured
(``_admin/runs/``). A repository is named by the directory its records were collected into,
never by what a record says. Without a collection there is nothing to say, and the pages say so.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bangka_ops.handbook import inventory
from bangka_ops.report import capacity


def forecasts(
    collected: Path | None, hosts: list[inventory.Host], now: dt.datetime | None = None
) -> dict[str, capacity.RepositoryForecast]:
    """Per agent of ``hosts`` with collected records: its repository's forecast, the quota as
    this inventory gives it (a quota that cannot be read counts as none; ansible refuses it)."""
    if collected is None or not collected.is_dir():
        return {}
    now = now or dt.datetime.now(dt.UTC)
    limits = {}
    for host in hosts:
        try:
            quota = capacity.quota_bytes(host.storage_quota, host.name)
        except capacity.CapacityError:
            quota = None
        server = host.variables.get("borg_agent_server")
        limits[host.name] = capacity.Limit(server if isinstance(server, str) else None, quota)
    present = [h.name for h in hosts if h.is_agent and (collected / h.name).is_dir()]
    found = capacity.forecast(collected, now, hosts=present, limits=limits)
    _, thresholds, _ = capacity.read_limits(collected)
    storage, _ = capacity.newest_storage(collected / "_admin" / "runs", now)
    return {f.repository: f for f in capacity.with_disk(found, storage, now, thresholds)}


def human(size: float) -> str:
    """Bytes in binary units, one decimal (``1.5 GiB``)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
