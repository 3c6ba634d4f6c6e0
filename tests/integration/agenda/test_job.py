"""protocloud job, the operations host's scheduled job: a real checkout of a real (bare) agenda
repository, the local Google Calendar v3 server and a real webhook receiver."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.gcal_server import Server
from tests.integration.agenda.conftest import git, write
from tests.receivers import webhook_receiver
from tests.unit.agenda.conftest import HISTORY, event

PAPARAN = "events/2026/11/2026-11-02-rapat-staf-mingguan-setda.yaml"


def deploy(repo: Path, server: Server | None, hook_url: str = "") -> Path:
    """The upstream repository (bare, as on the forge), a checkout of it as the role makes one,
    and the job configuration; ``repo`` becomes the staff's clone that pushes to upstream."""
    base = repo.parent
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(repo), str(base / "upstream.git")], check=True
    )
    git(repo, "remote", "add", "origin", str(base / "upstream.git"))
    subprocess.run(
        ["git", "clone", "-q", "-b", "main", str(base / "upstream.git"), str(base / "checkout")],
        check=True,
    )
    config: dict[str, Any] = {
        "host": "ops01.bangka.go.id",
        "repository": {"dir": str(base / "checkout"), "branch": "main"},
        "records_dir": str(base / "runs"),
        "ics": {"out": str(base / "feeds")},
        "notify": {"webhook_url": hook_url} if hook_url else {},
    }
    if server is not None:
        config["sync"] = {
            "credentials": str(base / "token.json"),
            "api_endpoint": server.url,
            "state": str(base / "state" / "sync-state.json"),
        }
    (base / "job.json").write_text(json.dumps(config))
    return base / "job.json"


def job(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli.protocloud", "job", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def records(config: Path) -> list[dict[str, Any]]:
    runs = config.parent / "runs"
    return [json.loads(p.read_text()) for p in sorted(runs.glob("*.json"))]


def test_the_job_publishes_main_and_follows_what_is_merged(repo: Path, server: Server) -> None:
    config = deploy(repo, server)
    first = job(config)
    assert first.returncode == 0, first.stdout + first.stderr
    (record,) = records(config)
    assert record["status"] == "ok"
    assert [s["name"] for s in record["steps"]] == [
        "fetch",
        "update",
        "validate",
        "conflicts",
        "sync",
    ]
    assert server.service.writes > 0
    path = repo / PAPARAN
    path.write_text(path.read_text().replace("end: 2026-11-02T09:30", "end: 2026-11-02T10:00"))
    git(repo, "commit", "-qam", "Rapat staf sampai 10.00")
    git(repo, "push", "-q", "origin", "main")
    server.service.reset_counters()
    second = job(config)
    assert second.returncode == 0, second.stdout + second.stderr
    latest = records(config)[-1]
    assert latest["commit_after"] == git(repo, "rev-parse", "HEAD").strip()
    assert latest["commit_before"] != latest["commit_after"]
    assert server.service.kinds["events.patch"] == 1 and server.service.writes == 1


def test_an_invalid_main_is_not_published_and_notifies(repo: Path, server: Server) -> None:
    with webhook_receiver() as hook:
        config = deploy(repo, server, hook.url)
        write(
            repo,
            "events/2026/12/2026-12-10-rapat-banjir.yaml",
            event("2026-12-10-rapat-banjir", venue="stadion", history=HISTORY),
        )
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "Rapat banjir (tempat salah)")
        git(repo, "push", "-q", "origin", "main")
        proc = job(config)
    assert proc.returncode == 1
    assert "GAGAL / FAILED at validate" in proc.stderr
    assert server.service.writes == 0 and server.service.round_trips == 0
    (notice,) = hook.received
    assert notice["summary"]["failed_step"] == "validate"
    assert "[PROTOCLOUD] FAILED" in notice["text"]
    (record,) = records(config)
    assert record["failed_step"] == "validate"
    assert record["notifications"][0]["delivered"] is True
    assert "secret-token" not in json.dumps(record)  # the webhook URL's token is never recorded
    assert any("stadion" in line for line in record["steps"][-1]["output_tail"])


def test_rewritten_history_upstream_stops_the_job(repo: Path, server: Server) -> None:
    config = deploy(repo, server)
    assert job(config).returncode == 0
    git(repo, "commit", "-q", "--amend", "-m", "ditulis ulang")
    git(repo, "push", "-q", "--force", "origin", "main")
    proc = job(config)
    assert proc.returncode == 1
    assert records(config)[-1]["failed_step"] == "update"


def test_without_a_google_account_the_job_writes_the_feeds(repo: Path) -> None:
    config = deploy(repo, None)
    proc = job(config)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert records(config)[0]["steps"][-1]["name"] == "ics"
    feeds = sorted(p.name for p in (config.parent / "feeds").glob("*.ics"))
    calendars = yaml.safe_load((repo / "calendars.yaml").read_text())["calendars"]
    assert feeds == sorted(f"{key}.ics" for key in calendars)


def test_a_bad_configuration_names_the_field(tmp_path: Path) -> None:
    config = tmp_path / "job.json"
    config.write_text(json.dumps({"repository": {"dir": "/srv/agenda"}, "records_dir": "/tmp/r"}))
    proc = job(config)
    assert proc.returncode == 64
    assert f"{config}: ics.out" in proc.stderr
    config.write_text(
        json.dumps(
            {
                "repository": {"dir": "/srv/agenda"},
                "records_dir": "/tmp/r",
                "sync": {"credentials": "/etc/x.json", "act_as": "bupati"},
            }
        )
    )
    assert "sync.act_as" in job(config).stderr
    config.write_text('{\n  "repository": ,\n}')
    broken = job(config)
    assert broken.returncode == 64 and f"{config}:2:" in broken.stderr


def test_the_job_writes_the_printable_agenda_before_publishing(repo: Path) -> None:
    config = deploy(repo, None)
    settings = json.loads(config.read_text())
    settings["cetak"] = {"out": str(config.parent / "cetak"), "pdf": False}
    config.write_text(json.dumps(settings))
    proc = job(config)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [s["name"] for s in records(config)[0]["steps"]][-2:] == ["cetak", "ics"]
    pages = sorted(p.name for p in (config.parent / "cetak" / "bupati").glob("*.html"))
    assert len(pages) == 4 and pages[0].startswith("harian-")


def test_pages_that_cannot_be_written_fail_the_job_but_not_the_publication(repo: Path) -> None:
    config = deploy(repo, None)
    settings = json.loads(config.read_text())
    blocked = config.parent / "cetak"
    blocked.write_text("a file where the folder should be\n")
    settings["cetak"] = {"out": str(blocked), "pdf": False}
    config.write_text(json.dumps(settings))
    proc = job(config)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    record = records(config)[0]
    assert record["status"] == "failed" and record["failed_steps"] == ["cetak"]
    assert "printable agenda" in record["reason"]
    assert list((config.parent / "feeds").glob("*.ics"))  # the feeds were still published
