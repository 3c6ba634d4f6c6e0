"""Benchmark: `protocloud sync` against the local Google Calendar v3 server.

For each size (default 1,000 and 10,000 events over 3 calendars; the agenda is generated as in
bench/agenda.py), in a fresh repository and a fresh server (its own process, on loopback):

  floor    the same events inserted straight with the client library, in batches of 50, with
           nothing read, planned or validated first: the cheapest way to put them there
  first    protocloud sync on empty calendars (validate, read, plan, write, settle the tokens)
  no-op    protocloud sync again, nothing changed (median of 3 runs)
  validate `protocloud validate` with a warm cache (median of 3): the floor of the no-op, which
           must validate the same agenda first
  import   `python -c "import bangka_ops.agenda.gcal"`: what loading the Google client library
           costs by itself (a cost the validate floor does not have)

and prints, from the server's own counters, HTTP round trips, API calls (a batch part is one
call; list and ACL calls count) and writes, plus wall time and the ratios first/floor and
no-op/validate. The server pages at 250 events, as Google does by default. Targets: first sync
of 1,000 events in <= 25 round trips; a no-op re-sync <= 2 round trips per calendar and zero
writes; the no-op within 1.3x of validate warm. Figures, not assertions.

    .venv/bin/python bench/agenda_sync.py [--events 1000,10000] [--calendars 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import httplib2
import yaml
from googleapiclient.discovery import build
from googleapiclient.http import BatchHttpRequest

ROOT = Path(__file__).resolve().parent.parent
TOKEN = {
    "type": "authorized_user",
    "token": "token-bench",
    "refresh_token": "tidak-dipakai",
    "client_id": "protocloud.apps.bangka.go.id",
    "client_secret": "bench",
    "expiry": "2099-01-01T00:00:00Z",
}


def generator() -> Any:
    spec = importlib.util.spec_from_file_location("bench_agenda", ROOT / "bench" / "agenda.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LocalGoogle:
    """tests/gcal_server.py in its own process."""

    def __init__(self, calendars: list[str]):
        self.port = free_port()
        argv = [sys.executable, str(ROOT / "tests" / "gcal_server.py"), "--port", str(self.port)]
        for calendar in calendars:
            argv += ["--calendar", calendar]
        self.proc = subprocess.Popen(argv)
        self.url = f"http://127.0.0.1:{self.port}/"
        for _ in range(100):
            try:
                self.state()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the local v3 server did not start")

    def state(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}_test/state", timeout=60) as reply:  # noqa: S310
            data: dict[str, Any] = json.loads(reply.read())
            return data

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}_test/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(request, timeout=60).close()  # noqa: S310

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def make_repository(base: Path, events: int, calendars: int) -> tuple[Path, dict[str, str]]:
    root = base / "agenda"
    generator().generate(root, events, calendars, 40)
    path = root / "calendars.yaml"
    data = yaml.safe_load(path.read_text())
    ids = {}
    for key, calendar in data["calendars"].items():
        ids[key] = calendar["google_calendar_id"] = f"{key}@group.calendar.bangka.go.id"
        calendar["readers"] = ["humas@bangka.go.id"]
        calendar["writers"] = ["protokol@bangka.go.id"]
    path.write_text(yaml.safe_dump(data))
    git = ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=bench@bangka.go.id"]
    subprocess.run([*git, "commit", "-qam", "Google calendars"], check=True)
    return root, ids


def sync(root: Path, server: LocalGoogle) -> tuple[float, dict[str, Any]]:
    began = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bangka_ops.cli.protocloud",
            "sync",
            str(root),
            "--credentials",
            str(root.parent / "token.json"),
            "--api-endpoint",
            server.url,
            "--state",
            str(root.parent / "state.json"),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - began
    if proc.returncode != 0:
        raise RuntimeError(f"protocloud sync failed ({proc.returncode}): {proc.stderr[-2000:]}")
    record: dict[str, Any] = json.loads(proc.stdout)
    return seconds, record


def median_seconds(argv: list[str], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        times.append(time.perf_counter() - began)
    return sorted(times)[len(times) // 2]


def floor(root: Path, url: str) -> float:
    """Insert the events the sync would write, batched by 50, nothing else (no reads, no
    validation, no plan): what the same writes cost at the least."""
    from bangka_ops.agenda import repository  # noqa: PLC0415
    from bangka_ops.agenda import sync as planner  # noqa: PLC0415

    agenda = repository.load(root, keep_data=True)
    assert agenda.config is not None
    bodies = [
        (agenda.config.calendars[key]["google_calendar_id"], body)
        for key, events in planner.desired_events(agenda, agenda.config).items()
        for body in events.values()
    ]
    api = build(
        "calendar",
        "v3",
        http=httplib2.Http(),
        client_options={"api_endpoint": url},
        static_discovery=True,
    )
    began = time.perf_counter()
    for start in range(0, len(bodies), 50):
        batch = BatchHttpRequest(batch_uri=f"{url}batch/calendar/v3")
        for calendar, body in bodies[start : start + 50]:
            batch.add(api.events().insert(calendarId=calendar, body=body))
        batch.execute(http=httplib2.Http())
    return time.perf_counter() - began


def line(label: str, seconds: float, state: dict[str, Any]) -> str:
    return (
        f"  {label:<8} {seconds:8.2f} s  {state['round_trips']:6d} round trips  "
        f"{state['calls']:7d} API calls  {state['writes']:7d} writes"
    )


def run_size(events: int, calendars: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-agenda-sync-") as tmp:
        base = Path(tmp)
        root, ids = make_repository(base, events, calendars)
        (base / "token.json").write_text(json.dumps(TOKEN))
        print(f"\n{events} events over {calendars} calendars")
        baseline = LocalGoogle(list(ids.values()))
        try:
            floor_seconds = floor(root, baseline.url)
            floor_state = baseline.state()
        finally:
            baseline.close()
        server = LocalGoogle(list(ids.values()))
        try:
            first_seconds, first = sync(root, server)
            first_state = server.state()
            runs = []
            for _ in range(3):
                server.reset()
                runs.append(sync(root, server))
            noop_state = server.state()
            noop_seconds, noop = sorted(runs, key=lambda run: run[0])[1]
        finally:
            server.close()
        cli = [sys.executable, "-m", "bangka_ops.cli.protocloud"]
        validate_seconds = median_seconds([*cli, "validate", str(root)])
        import_seconds = median_seconds([sys.executable, "-c", "import bangka_ops.agenda.gcal"])
        created = sum(1 for c in first_state["calendars"].values() for e in c["events"].values())
        print(line("floor", floor_seconds, floor_state))
        print(line("first", first_seconds, first_state))
        print(line("no-op", noop_seconds, noop_state))
        print(f"  validate {validate_seconds:8.2f} s  (protocloud validate, warm cache)")
        print(f"  import   {import_seconds:8.2f} s  (python -c 'import bangka_ops.agenda.gcal')")
        print(f"  events in the calendars after the first sync: {created}")
        print(f"  ratio first/floor (wall): {first_seconds / floor_seconds:.2f}")
        print(
            f"  ratio no-op/validate warm: {noop_seconds / validate_seconds:.2f} (target <= 1.3); "
            f"no-op/(validate warm + import): "
            f"{noop_seconds / (validate_seconds + import_seconds):.2f}"
        )
        print(
            f"  first sync: {first_state['round_trips']} round trips"
            + (" (target <= 25)" if events == 1000 else "")
        )
        print(
            f"  no-op re-sync: {noop_state['round_trips']} round trips for {calendars} calendars "
            f"(target <= {2 * calendars}), {noop_state['writes']} writes (target 0); "
            f"the command itself counted {noop['round_trips']} round trips"
        )
        assert first["written"].get("create", 0) == created


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="1000,10000", help="comma-separated sizes")
    parser.add_argument("--calendars", type=int, default=3)
    args = parser.parse_args()
    for size in (int(n) for n in args.events.split(",")):
        run_size(size, args.calendars)
    return 0


if __name__ == "__main__":
    sys.exit(main())
