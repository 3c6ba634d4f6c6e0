"""protocloud sync against the local Google Calendar v3 server, with the real client library:
the server's resulting state and its request counts are what the tests assert."""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
from pathlib import Path

import yaml

from bangka_ops.agenda import repository, sync
from tests.gcal_server import Server
from tests.integration.agenda.conftest import CALENDARS, sync_run, write
from tests.unit.agenda.conftest import HISTORY, event


def run(
    repo: Path, server: Server, *extra: str, credentials: str = "token.json"
) -> subprocess.CompletedProcess[str]:
    return sync_run(repo, server, *extra, credentials=credentials)


def expected(repo: Path) -> dict[str, set[str]]:
    """Calendar id -> the Google event ids the agenda calls for (not cancelled-before-published)."""
    agenda = repository.load(repo, keep_data=True)
    assert agenda.config is not None
    wanted = sync.desired_events(agenda, agenda.config)
    return {
        CALENDARS[key]: {gid for gid, body in events.items() if body["status"] != "cancelled"}
        for key, events in wanted.items()
    }


def live(server: Server) -> dict[str, set[str]]:
    return {
        calendar.id: {gid for gid, e in calendar.events.items() if e["status"] != "cancelled"}
        for calendar in server.service.calendars.values()
    }


def test_first_sync_creates_exactly_the_agenda_and_its_sharing(repo: Path, server: Server) -> None:
    proc = run(repo, server)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert live(server) == expected(repo)
    bupati = server.service.calendars[CALENDARS["bupati"]]
    assert set(bupati.acl) == {
        "user:humas@bangka.go.id",
        "user:sekretariat.daerah@bangka.go.id",
        "user:protokol@bangka.go.id",
        "user:kepala.opd@bangka.go.id",
    }
    assert bupati.acl["user:kepala.opd@bangka.go.id"]["role"] == "freeBusyReader"
    paripurna = next(
        e for e in bupati.events.values() if e["summary"].startswith("Rapat Paripurna")
    )
    assert paripurna["colorId"] == "9"
    assert paripurna["attendees"] == [
        {"email": "sekretariat@dprd.bangka.go.id", "displayName": "Ketua DPRD Kabupaten Bangka"}
    ]
    assert paripurna["reminders"]["overrides"] == [
        {"method": "popup", "minutes": 60},
        {"method": "email", "minutes": 1440},
    ]
    sends = {gid: how for _, gid, how in server.service.send_updates}
    assert sends[paripurna["id"]] == "all"  # published, with an invitee
    assert set(sends.values()) == {"all", "none"}
    record = json.loads(proc.stdout)
    assert record["written"]["create"] == sum(len(v) for v in expected(repo).values())
    audit = (repo.parent / "sync-audit.jsonl").read_text().splitlines()
    assert len(audit) == 1 and json.loads(audit[0])["update_seconds"] is not None


def test_an_immediate_re_run_writes_nothing(repo: Path, server: Server) -> None:
    assert run(repo, server).returncode == 0
    server.service.reset_counters()
    proc = run(repo, server)
    assert proc.returncode == 0, proc.stderr
    assert server.service.writes == 0
    assert server.service.round_trips <= 2 * len(CALENDARS)
    assert json.loads(proc.stdout)["written"] == {}


def test_a_run_that_fails_halfway_then_again_leaves_no_duplicate_and_no_gap(
    repo: Path, server: Server
) -> None:
    server.service.fail_after = 1  # the reads (one batch) pass, the writes fail
    crashed = run(repo, server, "--retries", "1")
    assert crashed.returncode != 0
    server.service.fail_after = None
    assert run(repo, server).returncode == 0
    assert live(server) == expected(repo)
    total = sum(len(c.events) for c in server.service.calendars.values())
    assert total == sum(len(v) for v in expected(repo).values())


def test_a_changed_event_is_one_patch(repo: Path, server: Server) -> None:
    assert run(repo, server).returncode == 0
    path = repo / "events/2026/11/2026-11-02-rapat-staf-mingguan-setda.yaml"
    path.write_text(path.read_text().replace("end: 2026-11-02T09:30", "end: 2026-11-02T10:00"))
    server.service.reset_counters()
    assert run(repo, server).returncode == 0
    assert server.service.writes == 1 and server.service.kinds["events.patch"] == 1


def test_cancelled_and_removed_items_are_cancelled_and_a_hand_made_event_survives(
    repo: Path, server: Server
) -> None:
    sekda = server.service.calendars[CALENDARS["sekda"]]
    sekda.events["tangan0001"] = {
        "id": "tangan0001",
        "summary": "Makan siang",
        "status": "confirmed",
        "etag": '"x"',
    }
    assert run(repo, server).returncode == 0
    belinyu = "events/2026/12/2026-12-02-kunjungan-kerja-pelabuhan-belinyu.yaml"
    data = yaml.safe_load((repo / belinyu).read_text())
    data["history"].append(
        {"status": "dibatalkan", "by": "hendra.kurniawan", "at": "2026-11-24T09:00:00+07:00"}
    )
    data["status"] = "dibatalkan"
    write(repo, belinyu, data)
    (repo / "events/2026/12/2026-12-03-resepsi-hari-disabilitas.yaml").unlink()
    assert run(repo, server).returncode == 0
    statuses = {
        e["extendedProperties"]["private"]["agendaId"]: e["status"]
        for c in server.service.calendars.values()
        for e in c.events.values()
        if "extendedProperties" in e
    }
    assert statuses["2026-12-02-kunjungan-kerja-pelabuhan-belinyu"] == "cancelled"
    assert statuses["2026-12-03-resepsi-hari-disabilitas"] == "cancelled"
    assert sekda.events["tangan0001"] == {
        "id": "tangan0001",
        "summary": "Makan siang",
        "status": "confirmed",
        "etag": '"x"',
    }


def test_a_rate_limited_run_completes(repo: Path, server: Server) -> None:
    server.service.rate_limited = 3
    server.service.unavailable = 2
    proc = run(repo, server)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert live(server) == expected(repo)


def test_a_hand_edit_is_kept_and_reported_or_overwritten(repo: Path, server: Server) -> None:
    assert run(repo, server).returncode == 0
    bupati = server.service.calendars[CALENDARS["bupati"]]
    gid, paripurna = next(
        (g, e) for g, e in bupati.events.items() if e["summary"].startswith("Rapat Paripurna")
    )
    paripurna["summary"] = "Diubah lewat web"
    server.service.stamp(bupati, paripurna)
    kept = run(repo, server, "--policy", "keep")
    assert kept.returncode == 0
    record = json.loads(kept.stdout)
    assert record["kept_hand_edits"] == [
        {"calendar": "bupati", "agenda_id": "2026-12-01-rapat-paripurna-apbd-2027", "event_id": gid}
    ]
    assert bupati.events[gid]["summary"] == "Diubah lewat web"
    assert run(repo, server).returncode == 0  # policy overwrite
    assert bupati.events[gid]["summary"].startswith("Rapat Paripurna")


def test_nothing_is_written_when_a_calendar_is_missing_or_on_a_dry_run(
    repo: Path, server: Server
) -> None:
    dry = run(repo, server, "--dry-run")
    assert dry.returncode == 0
    assert server.service.writes == 0
    assert json.loads(dry.stdout)["planned"]["bupati"]["create"] >= 1
    del server.service.calendars[CALENDARS["wakil-bupati"]]
    missing = run(repo, server)
    assert missing.returncode == 69  # Google Calendar refuses: nothing written
    assert "'wakil-bupati'" in missing.stderr and "nothing was written" in missing.stderr
    assert server.service.writes == 0


def test_one_sync_at_a_time(repo: Path, server: Server) -> None:
    lock_file = (repo.parent / "state.json").with_suffix(".lock")
    with open(lock_file, "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        busy = run(repo, server)
    assert busy.returncode == 75
    assert "another sync is running" in busy.stderr


def test_an_invalid_agenda_or_no_account_writes_nothing(repo: Path, server: Server) -> None:
    no_account = subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli.protocloud", "sync", str(repo)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert no_account.returncode == 64 and "protocloud ics" in no_account.stderr
    write(
        repo,
        "events/2026/12/2026-12-10-rapat-banjir.yaml",
        event("2026-12-10-rapat-banjir", venue="stadion", history=HISTORY),
    )
    proc = run(repo, server)
    assert proc.returncode == 1 and "nothing written" in proc.stderr
    assert server.service.writes == 0


SERVICE_ACCOUNT = "protocloud-sync@bangka-agenda.iam.gserviceaccount.com"


def service_account(repo: Path, server: Server, *, registered: bool = True) -> str:
    """A service-account JSON whose token endpoint is the local server; returns the key PEM."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if registered:
        server.service.add_service_account(SERVICE_ACCOUNT, public.decode())
    info = {
        "type": "service_account",
        "project_id": "bangka-agenda",
        "private_key_id": "kunci-uji-1",
        "private_key": private,
        "client_email": SERVICE_ACCOUNT,
        "client_id": "1234567890",
        "token_uri": f"{server.url}token",
    }
    (repo.parent / "service-account.json").write_text(json.dumps(info))
    return private


def owners(repo: Path) -> dict[str, str]:
    calendars = yaml.safe_load((repo / "calendars.yaml").read_text())["calendars"]
    return {CALENDARS[key]: c["owner"] for key, c in calendars.items()}


def test_with_delegation_each_calendar_is_written_as_its_owner(repo: Path, server: Server) -> None:
    private = service_account(repo, server)
    proc = run(repo, server, "--as-owner", credentials="service-account.json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert live(server) == expected(repo)
    acted = {(calendar, who) for calendar, _, who in server.service.acted}
    assert acted == set(owners(repo).items())  # every write, ACLs too, as the owner
    # one token for the account (the outer batch request) and one per owner, fetched once each
    assert server.service.token_requests == 1 + len(set(owners(repo).values()))
    record = json.loads(proc.stdout)
    assert record["credential_mode"] == "delegation"
    assert record["reminders_reach"]["bupati"] == "ajudan.bupati@bangka.go.id"
    bupati = server.service.calendars[CALENDARS["bupati"]]
    assert any(e["attendees"] for e in bupati.events.values())  # invitations go out
    for secret in (private.splitlines()[1], "ya29.local-"):
        assert secret not in proc.stdout + proc.stderr
        assert secret not in (repo.parent / "sync-audit.jsonl").read_text()
        assert secret not in (repo.parent / "state.json").read_text()
    server.service.reset_counters()
    again = run(repo, server, "--as-owner", credentials="service-account.json")
    assert again.returncode == 0 and server.service.writes == 0


def test_a_service_account_acting_as_itself_writes_no_attendees(repo: Path, server: Server) -> None:
    service_account(repo, server)
    proc = run(repo, server, "--format", "text", credentials="service-account.json")
    assert proc.returncode == 0, proc.stdout + proc.stderr  # Google would refuse attendees (403)
    assert live(server) == expected(repo)
    assert {who for _, _, who in server.service.acted} == {f"sa:{SERVICE_ACCOUNT}"}
    events = [e for c in server.service.calendars.values() for e in c.events.values()]
    assert not any(e.get("attendees") for e in events)
    assert "no invitations" in proc.stdout


def test_a_refused_service_account_or_a_bad_mode_writes_nothing(repo: Path, server: Server) -> None:
    private = service_account(repo, server, registered=False)
    proc = run(repo, server, "--as-owner", credentials="service-account.json")
    assert proc.returncode == 69, proc.stdout + proc.stderr
    assert "service-account.json" in proc.stderr and "no access token" in proc.stderr
    assert "Traceback" not in proc.stderr and private.splitlines()[1] not in proc.stderr
    assert server.service.writes == 0
    oauth = run(repo, server, "--as-owner")  # an OAuth token cannot act as someone else
    assert oauth.returncode == 64 and "domain-wide delegation" in oauth.stderr
    assert server.service.writes == 0


def test_calendar_writers_outside_the_access_model_stop_the_sync(
    repo: Path, server: Server
) -> None:
    allowed = ["--allowed-writer", "andi.pratama@bangka.go.id"]
    proc = run(repo, server, *allowed)
    assert proc.returncode == 1  # the agenda's own settings are refused
    assert (
        "calendars.yaml: calendars.bupati.writers: protokol@bangka.go.id is not an admin, "
        "protocol coordinator or protocol operator in the access model" in proc.stderr
    )
    assert server.service.writes == 0 and server.service.round_trips == 0
    ok = run(repo, server, "--allowed-writer", "PROTOKOL@bangka.go.id")
    assert ok.returncode == 0, ok.stderr
