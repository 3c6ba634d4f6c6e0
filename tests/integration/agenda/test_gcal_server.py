"""The local Google Calendar v3 server speaks what google-api-python-client sends: these tests
drive it with the real client (static discovery, no network) so the sync tests can trust it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httplib2
import pytest
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from tests.gcal_server import Server

CAL = "bupati@group.calendar.bangka.go.id"


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as running:
        running.service.add_calendar(CAL)
        yield running


@pytest.fixture
def api(server: Server) -> Any:
    return build(
        "calendar",
        "v3",
        http=httplib2.Http(),
        client_options={"api_endpoint": server.url},
        static_discovery=True,
    )


def event(event_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "summary": "Rapat Paripurna",
        "start": {"dateTime": "2026-12-01T09:00:00+07:00"},
        "end": {"dateTime": "2026-12-01T12:00:00+07:00"},
        "extendedProperties": {"private": {"owner": "protocloud", "hash": "a1"}},
        **fields,
    }


def status(exc: pytest.ExceptionInfo[HttpError]) -> int:
    return int(exc.value.resp.status)


def test_insert_get_patch_with_etags(api: Any, server: Server) -> None:
    created = (
        api.events().insert(calendarId=CAL, body=event("abcde01"), sendUpdates="none").execute()
    )
    assert created["id"] == "abcde01" and created["status"] == "confirmed"
    with pytest.raises(HttpError) as taken:
        api.events().insert(calendarId=CAL, body=event("abcde01")).execute()
    assert status(taken) == 409
    with pytest.raises(HttpError) as bad_id:
        api.events().insert(calendarId=CAL, body=event("wxyz0")).execute()
    assert status(bad_id) == 400
    patch = api.events().patch(
        calendarId=CAL,
        eventId="abcde01",
        body={"summary": "Rapat Paripurna APBD", "extendedProperties": {"private": {"hash": "b2"}}},
        sendUpdates="all",
    )
    patch.headers["If-Match"] = created["etag"]
    changed = patch.execute()
    assert changed["summary"] == "Rapat Paripurna APBD"
    assert changed["extendedProperties"]["private"] == {"owner": "protocloud", "hash": "b2"}
    stale = api.events().patch(calendarId=CAL, eventId="abcde01", body={"summary": "x"})
    stale.headers["If-Match"] = created["etag"]
    with pytest.raises(HttpError) as precondition:
        stale.execute()
    assert status(precondition) == 412
    assert server.service.send_updates == [
        ("insert", "abcde01", "none"),
        ("patch", "abcde01", "all"),
    ]


def test_a_cancelled_id_stays_taken(api: Any) -> None:
    api.events().insert(calendarId=CAL, body=event("abcde02")).execute()
    api.events().delete(calendarId=CAL, eventId="abcde02").execute()
    assert api.events().get(calendarId=CAL, eventId="abcde02").execute()["status"] == "cancelled"
    with pytest.raises(HttpError) as taken:
        api.events().insert(calendarId=CAL, body=event("abcde02")).execute()
    assert status(taken) == 409
    revived = api.events().patch(calendarId=CAL, eventId="abcde02", body={"status": "confirmed"})
    assert revived.execute()["status"] == "confirmed"


def test_list_pages_filters_and_sync_tokens(api: Any) -> None:
    for number in range(7):
        owner = "protocloud" if number < 5 else "manusia"
        body = event(f"abcde{number:02d}v", extendedProperties={"private": {"owner": owner}})
        api.events().insert(calendarId=CAL, body=body).execute()
    pages, token, items = 0, None, []
    while True:
        page = (
            api.events()
            .list(
                calendarId=CAL,
                privateExtendedProperty="owner=protocloud",
                maxResults=2,
                pageToken=token,
            )
            .execute()
        )
        pages += 1
        items += page["items"]
        token = page.get("nextPageToken")
        if not token:
            sync = page["nextSyncToken"]
            break
    assert (pages, len(items)) == (3, 5)
    assert api.events().list(calendarId=CAL, syncToken=sync).execute()["items"] == []
    api.events().patch(calendarId=CAL, eventId="abcde01v", body={"summary": "Ubah"}).execute()
    changed = api.events().list(calendarId=CAL, syncToken=sync).execute()["items"]
    assert [e["id"] for e in changed] == ["abcde01v"]
    with pytest.raises(HttpError) as gone:
        api.events().list(calendarId=CAL, syncToken="kedaluwarsa").execute()
    assert status(gone) == 410
    with pytest.raises(HttpError) as mixed:
        api.events().list(
            calendarId=CAL, syncToken=sync, privateExtendedProperty="owner=protocloud"
        ).execute()
    assert status(mixed) == 400


def test_batch_parts_are_answered_and_counted_one_by_one(api: Any, server: Server) -> None:
    api.events().insert(calendarId=CAL, body=event("abcde10")).execute()
    server.service.reset_counters()
    results: dict[str, Any] = {}

    def done(request_id: str, response: Any, exception: HttpError | None) -> None:
        results[request_id] = exception.resp.status if exception else response["id"]

    batch = BatchHttpRequest(callback=done, batch_uri=f"{server.url}batch/calendar/v3")
    batch.add(api.events().insert(calendarId=CAL, body=event("abcde11")), request_id="1")
    batch.add(api.events().insert(calendarId=CAL, body=event("abcde10")), request_id="2")
    batch.add(
        api.events().patch(calendarId=CAL, eventId="abcde10", body={"summary": "B"}), request_id="3"
    )
    batch.execute()
    assert results == {"1": "abcde11", "2": 409, "3": "abcde10"}
    assert (server.service.round_trips, server.service.calls) == (1, 3)
    assert server.service.writes == 3


def test_injected_rate_limits_and_a_crash_halfway(api: Any, server: Server) -> None:
    server.service.rate_limited = 1
    with pytest.raises(HttpError) as limited:
        api.events().insert(calendarId=CAL, body=event("abcde20")).execute()
    assert status(limited) == 403 and "rateLimitExceeded" in str(limited.value.content)
    server.service.too_many = 1
    # The client's own retry (num_retries) gets through a 429.
    api.events().insert(calendarId=CAL, body=event("abcde20")).execute(num_retries=2)
    server.service.fail_after = server.service.round_trips + 1
    api.events().get(calendarId=CAL, eventId="abcde20").execute()
    with pytest.raises(HttpError) as crashed:
        api.events().get(calendarId=CAL, eventId="abcde20").execute()
    assert status(crashed) == 500


def test_acl_rules(api: Any, server: Server) -> None:
    rule = {"role": "reader", "scope": {"type": "user", "value": "humas@bangka.go.id"}}
    created = api.acl().insert(calendarId=CAL, body=rule).execute()
    assert created["id"] == "user:humas@bangka.go.id"
    assert [r["id"] for r in api.acl().list(calendarId=CAL).execute()["items"]] == [created["id"]]
    api.acl().delete(calendarId=CAL, ruleId=created["id"]).execute()
    assert api.acl().list(calendarId=CAL).execute()["items"] == []
    with pytest.raises(HttpError) as unknown:
        api.calendars().get(calendarId="tidak-ada").execute()
    assert status(unknown) == 404
    assert server.service.kinds["acl.insert"] == 1


def test_the_test_control_endpoints(api: Any, server: Server) -> None:
    import urllib.request  # noqa: PLC0415

    api.events().insert(calendarId=CAL, body=event("kontrol01")).execute()
    with urllib.request.urlopen(f"{server.url}_test/state") as reply:
        state = json.loads(reply.read())
    assert set(state["calendars"][CAL]["events"]) == {"kontrol01"}
    assert state["writes"] == 1
    request = urllib.request.Request(f"{server.url}_test/reset", method="POST")
    with urllib.request.urlopen(request) as reply:
        assert reply.status == 200
    assert server.service.writes == 0 and server.service.round_trips == 0
