"""protocloud sync converges: whatever happened between two runs (a crash after the server
applied a write, a lost answer, a second publisher with its own state, a hand edit, a hand
deletion, an expired sync token, a lost state file), the calendar ends equal to what a clean
sync of the agenda gives, and the run after that writes nothing.

The local v3 server here is strict where Google is documented to be: cancelled events are
listed bare (id and status only), so a filtered list never shows them; sync tokens expire;
deleted events disappear from lists; batch answers fold long ``Content-ID`` headers.
"""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bangka_ops.agenda import sync
from tests.gcal_server import Server
from tests.integration.agenda.conftest import CALENDARS, sync_run, write

PARIPURNA = "2026-12-01-rapat-paripurna-apbd-2027"
STAF = "events/2026/11/2026-11-02-rapat-staf-mingguan-setda.yaml"
BELINYU = "events/2026/12/2026-12-02-kunjungan-kerja-pelabuhan-belinyu.yaml"


run = sync_run


def ok(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record: dict[str, Any] = json.loads(proc.stdout)
    return record


def snapshot(server: Server) -> dict[str, dict[str, Any]]:
    """Calendar id -> live event id -> its managed content and the sync's private tags."""
    out: dict[str, dict[str, Any]] = {}
    for calendar in server.service.calendars.values():
        out[calendar.id] = {
            gid: (sync.managed(e), e.get("extendedProperties", {}).get("private", {}))
            for gid, e in calendar.events.items()
            if e.get("status") != "cancelled"
        }
    return out


def clean(repo: Path) -> dict[str, dict[str, Any]]:
    """What a clean sync of the agenda gives: a fresh server, a fresh state file."""
    with Server() as fresh:
        for calendar_id in CALENDARS.values():
            fresh.service.add_calendar(calendar_id)
        ok(run(repo, fresh, state="clean-state.json"))
        (repo.parent / "clean-state.json").unlink()
        return snapshot(fresh)


def assert_converged(repo: Path, server: Server, *extra: str, state: str = "state.json") -> None:
    assert snapshot(server) == clean(repo)
    server.service.reset_counters()
    after = ok(run(repo, server, *extra, state=state))
    assert server.service.writes == 0, after
    assert after["written"] == {} and after["kept_hand_edits"] == []


def paripurna(server: Server) -> tuple[str, dict[str, Any]]:
    bupati = server.service.calendars[CALENDARS["bupati"]]
    return next(
        (gid, e)
        for gid, e in bupati.events.items()
        if e.get("extendedProperties", {}).get("private", {}).get("agendaId") == PARIPURNA
    )


def move_staff_meeting(repo: Path, end: str) -> None:
    path = repo / STAF
    text = path.read_text()
    now = next(line for line in text.splitlines() if line.startswith("end:"))
    path.write_text(text.replace(now, f"end: {end}"))


def test_a_write_the_state_never_recorded_is_not_taken_for_a_hand_edit(
    repo: Path, server: Server
) -> None:
    """Crash after the server applied a PATCH, before the state was saved; rerun with keep."""
    ok(run(repo, server))
    before = (repo.parent / "state.json").read_bytes()
    move_staff_meeting(repo, "2026-11-02T10:00")
    ok(run(repo, server))
    (repo.parent / "state.json").write_bytes(before)  # as if the run died before saving it
    server.service.reset_counters()
    rerun = ok(run(repo, server, "--policy", "keep"))
    assert rerun["kept_hand_edits"] == [] and server.service.writes == 0
    move_staff_meeting(repo, "2026-11-02T10:30")  # and the item still follows the agenda
    changed = ok(run(repo, server, "--policy", "keep"))
    assert changed["written"] == {"update": 1}
    assert_converged(repo, server, "--policy", "keep")


@pytest.mark.parametrize("retries", ["6", "0"])
def test_a_lost_answer_converges(repo: Path, server: Server, retries: str) -> None:
    """The server applied the write but its answer was lost (503 after commit)."""
    ok(run(repo, server))
    move_staff_meeting(repo, "2026-11-02T10:00")
    server.service.commit_then_fail = 1
    lost = run(repo, server, "--retries", retries)
    if retries == "0":  # not retried: reported, exit 3; the next run sees the write is there
        assert lost.returncode == 3, lost.stdout + lost.stderr
        assert "503 backendError" in lost.stdout
    else:  # retried: 412 (its own write moved the etag), fetched, found done
        assert lost.returncode == 0, lost.stdout + lost.stderr
    assert_converged(repo, server)


def test_two_publishers_with_their_own_state_settle(repo: Path, server: Server) -> None:
    ok(run(repo, server, state="a.json"))
    server.service.reset_counters()
    ok(run(repo, server, state="b.json"))
    assert server.service.writes == 0
    for end in ("2026-11-02T10:00", "2026-11-02T10:30"):
        move_staff_meeting(repo, end)
        server.service.reset_counters()
        assert ok(run(repo, server, state="a.json"))["written"] == {"update": 1}
        for state in ("b.json", "a.json", "b.json"):
            server.service.reset_counters()
            record = ok(run(repo, server, "--policy", "keep", state=state))
            assert server.service.writes == 0 and record["kept_hand_edits"] == []
    assert_converged(repo, server, state="b.json")


def test_an_event_deleted_by_hand_is_restored(repo: Path, server: Server) -> None:
    ok(run(repo, server))
    gid, _ = paripurna(server)
    server.service.hand_delete(CALENDARS["bupati"], gid)
    record = ok(run(repo, server))
    assert record["written"] == {"revive": 1}
    sends = [how for kind, event, how in server.service.send_updates if event == gid]
    assert sends[-1] == "all"  # the invitees were told it is off: now that it is on again
    assert_converged(repo, server)


@pytest.mark.parametrize("purged", [False, True])
def test_a_hand_deletion_behind_an_expired_token_is_restored_in_one_run(
    repo: Path, server: Server, purged: bool
) -> None:
    """After 410 the full list cannot show the deleted event (bare, filtered out): inserting
    its id gives 409, which the same run resolves by fetching and patching it."""
    ok(run(repo, server))
    gid, _ = paripurna(server)
    server.service.hand_delete(CALENDARS["bupati"], gid)
    server.service.expire_tokens()
    if purged:
        server.service.purge()
    server.service.reset_counters()
    proc = run(repo, server)
    record = ok(proc)
    assert record["failures"] == [] and record["written"] == {"revive": 1}
    assert server.service.kinds["events.insert"] == 1  # the 409
    assert server.service.kinds["events.get"] == 1
    assert paripurna(server)[1]["status"] == "confirmed"
    assert_converged(repo, server)


def test_an_item_revived_after_an_expired_token_is_restored(repo: Path, server: Server) -> None:
    ok(run(repo, server))
    data = yaml.safe_load((repo / BELINYU).read_text())
    history = list(data["history"])
    data["history"] = [
        *history,
        {"status": "dibatalkan", "by": "hendra.kurniawan", "at": "2026-11-24T09:00:00+07:00"},
    ]
    data["status"] = "dibatalkan"
    write(repo, BELINYU, data)
    assert ok(run(repo, server))["written"] == {"cancel": 1}
    server.service.expire_tokens()
    server.service.purge()
    data["history"].append(
        {"status": "diajukan", "by": "hendra.kurniawan", "at": "2026-11-25T09:00:00+07:00"}
    )
    data["status"] = "diajukan"
    write(repo, BELINYU, data)
    record = ok(run(repo, server))
    assert record["failures"] == [] and record["written"] == {"revive": 1}
    assert_converged(repo, server)


def test_a_hand_edit_is_seen_after_the_state_is_lost(repo: Path, server: Server) -> None:
    ok(run(repo, server))
    gid, _ = paripurna(server)
    server.service.hand_edit(CALENDARS["bupati"], gid, summary="Diubah lewat web")
    (repo.parent / "state.json").unlink()  # a new host, an evicted cache
    kept = ok(run(repo, server, "--policy", "keep"))
    assert kept["kept_hand_edits"] == [
        {"calendar": "bupati", "agenda_id": PARIPURNA, "event_id": gid}
    ]
    assert paripurna(server)[1]["summary"] == "Diubah lewat web"
    ok(run(repo, server, "--policy", "keep"))  # still kept, still reported, nothing written
    assert paripurna(server)[1]["summary"] == "Diubah lewat web"
    (repo.parent / "state.json").unlink()
    overwritten = ok(run(repo, server))
    assert overwritten["written"] == {"update": 1}
    assert_converged(repo, server, "--policy", "keep")


def test_with_keep_a_hand_edit_lasts_until_the_agenda_item_changes(
    repo: Path, server: Server
) -> None:
    ok(run(repo, server))
    path = repo / STAF
    staff_id = yaml.safe_load(path.read_text())["id"]
    calendar, gid = next(
        (cid, g)
        for cid, c in server.service.calendars.items()
        for g, e in c.events.items()
        if e.get("extendedProperties", {}).get("private", {}).get("agendaId") == staff_id
    )
    server.service.hand_edit(calendar, gid, location="Ruang lain")
    assert ok(run(repo, server, "--policy", "keep"))["kept_hand_edits"] != []
    move_staff_meeting(repo, "2026-11-02T10:00")
    record = ok(run(repo, server, "--policy", "keep"))
    assert record["written"] == {"update": 1} and record["kept_hand_edits"] == []
    assert_converged(repo, server, "--policy", "keep")


def test_small_pages_and_an_expired_token_still_converge(repo: Path, server: Server) -> None:
    server.service.page_cap = 2
    ok(run(repo, server))
    move_staff_meeting(repo, "2026-11-02T10:00")
    server.service.expire_tokens()
    assert ok(run(repo, server))["written"] == {"update": 1}
    assert_converged(repo, server)


def test_content_ids_stay_short_so_a_folding_server_is_understood(
    repo: Path, server: Server
) -> None:
    """The server folds long Content-ID headers in its answers, as the client's own email
    generator folds them; the client library cannot read such an answer (it splits the id on
    " + "), so the sync names batch parts by index."""
    import httplib2  # noqa: PLC0415
    from googleapiclient.discovery import build  # noqa: PLC0415
    from googleapiclient.http import BatchHttpRequest  # noqa: PLC0415

    api = build(
        "calendar",
        "v3",
        http=httplib2.Http(),
        client_options={"api_endpoint": server.url},
        static_discovery=True,
    )
    batch = BatchHttpRequest(batch_uri=f"{server.url}batch/calendar/v3")
    for key in CALENDARS.values():
        batch.add(api.events().list(calendarId=key), request_id=f"events/{key}/" + "a" * 40)
    with pytest.raises(ValueError, match="unpack"):
        batch.execute(http=httplib2.Http())
    ok(run(repo, server))  # the sync's batches, with keys as long as these, are understood


# ---- failures: one line, the endpoint or calendar, the real cause, documented exit codes


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_an_unreachable_endpoint_is_one_line_naming_it(repo: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    refused = run(repo, url, "--retries", "1")
    assert refused.returncode == 69
    line = one_line(refused)
    assert url in line and "Connection refused" in line and "nothing was written" in line
    unknown = run(repo, "http://kalender.invalid/", "--retries", "1")
    assert unknown.returncode == 69
    line = one_line(unknown)
    assert "http://kalender.invalid/" in line and "kalender.invalid" in line.split("reachable")[1]


def test_write_failures_name_the_real_status(repo: Path, server: Server) -> None:
    ok(run(repo, server))
    move_staff_meeting(repo, "2026-11-02T10:00")
    server.service.faults_on = {"PATCH"}
    server.service.rate_limited = 100
    limited = run(repo, server, "--retries", "1")
    assert limited.returncode == 3, limited.stdout + limited.stderr
    failures = json.loads(limited.stdout)["failures"]
    assert len(failures) == 1
    assert "403 rateLimitExceeded" in failures[0] and "after 2 attempts" in failures[0]
    assert "503" not in failures[0] and "gaveUp" not in failures[0]
    assert failures[0].startswith("calendar '")
    server.service.rate_limited = 0
    server.service.forbidden = 1
    refused = run(repo, server)
    assert refused.returncode == 3
    (failure,) = json.loads(refused.stdout)["failures"]
    assert "403 forbidden: You need writer access to this calendar." in failure
    server.service.faults_on = {"GET", "POST", "PATCH", "PUT", "DELETE"}
    ok(run(repo, server))
    assert_converged(repo, server)


def test_an_html_error_page_is_read_as_text(repo: Path, server: Server) -> None:
    server.service.html_pages = 1
    proc = run(repo, server)
    assert proc.returncode == 69
    line = one_line(proc)
    page = "Not Implemented The proxy does not support this method & path."
    assert f"501 Not Implemented: {page}" in line
    assert "b'" not in line and "<" not in line and "&amp;" not in line


def test_an_unreadable_batch_answer_after_the_writes_is_reported_and_converges(
    repo: Path, server: Server
) -> None:
    ok(run(repo, server))
    move_staff_meeting(repo, "2026-11-02T10:00")
    gid, _ = paripurna(server)
    server.service.hand_edit(CALENDARS["bupati"], gid, summary="Diubah lewat web")
    server.service.garbled_batches = 1
    proc = run(repo, server)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    failures = json.loads(proc.stdout)["failures"]
    assert failures and all("the answer could not be read" in f for f in failures)
    assert_converged(repo, server)


def test_a_refused_token_refresh_mid_batch_is_one_line(repo: Path, server: Server) -> None:
    token = json.loads((repo.parent / "token.json").read_text())
    token["token_uri"] = f"http://127.0.0.1:{free_port()}/token"
    (repo.parent / "expired.json").write_text(json.dumps(token))
    server.service.unauthorized = 1000
    proc = run(repo, server, credentials="expired.json")
    assert proc.returncode == 69
    line = one_line(proc)
    assert "expired.json" in line and "no access token" in line
    assert token["refresh_token"] not in line and token["client_secret"] not in line


def test_exit_codes_do_not_collide_with_git(repo: Path, server: Server) -> None:
    """64 usage, 1 the agenda refused, 69 Google refusing, 3 writes failed, 75 busy; 2 stays
    'git could not answer'."""
    del server.service.calendars[CALENDARS["sekda"]]
    missing = run(repo, server)
    assert missing.returncode == 69
    assert "calendar 'sekda' (sekda@group.calendar.bangka.go.id)" in one_line(missing)


def test_a_colour_taken_out_of_a_category_is_cleared_once(repo: Path, server: Server) -> None:
    """A PATCH leaves out what it does not name: the sync sends a null to clear it."""
    ok(run(repo, server))
    path = repo / "categories.yaml"
    data = yaml.safe_load(path.read_text())
    for category in data["categories"].values():
        category.pop("google_color_id", None)
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    assert ok(run(repo, server))["written"].get("update", 0) > 0
    events = [e for c in server.service.calendars.values() for e in c.events.values()]
    assert not any(e.get("colorId") for e in events if e.get("status") != "cancelled")
    assert_converged(repo, server)


def test_two_calendars_on_one_google_calendar_are_refused(repo: Path, server: Server) -> None:
    path = repo / "calendars.yaml"
    data = yaml.safe_load(path.read_text())
    data["calendars"]["sekda"]["google_calendar_id"] = CALENDARS["bupati"].upper()
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    proc = run(repo, server)
    assert proc.returncode == 1 and server.service.writes == 0
    assert "calendars.yaml" in proc.stderr
    assert "calendars.sekda.google_calendar_id" in proc.stderr
    assert "already the Google calendar of calendars.bupati" in proc.stderr


def test_a_server_that_pages_in_a_circle_stops_the_run(repo: Path, server: Server) -> None:
    server.service.page_loop = True
    proc = run(repo, server)
    assert proc.returncode == 69 and server.service.writes == 0
    line = one_line(proc)
    assert "page token '0' came back" in line and "nothing was written" in line
