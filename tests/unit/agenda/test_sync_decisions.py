"""The sync decides from the calendar's content: the hash of what it manages, recomputed from
the event as a server returns it (which is not byte for byte what was sent)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bangka_ops.agenda import gcal, repository, sync
from tests.unit.agenda.conftest import EXAMPLE

PARIPURNA = "2026-12-01-rapat-paripurna-apbd-2027"


@pytest.fixture(scope="module")
def body() -> dict[str, Any]:
    agenda = repository.load(EXAMPLE, keep_data=True)
    assert agenda.config is not None
    event = next(e for e in agenda.events if e.id == PARIPURNA)
    return sync.body_of(event, agenda.config, "bupati")


def as_google_returns(body: dict[str, Any]) -> dict[str, Any]:
    """The event as Google answers an insert of ``body``: times in another offset, defaults
    left out, attendees with their response, reminders in another order, its own fields."""
    event = copy.deepcopy(body)
    for name in ("start", "end"):
        if "dateTime" in event[name]:
            import datetime as dt  # noqa: PLC0415

            moment = dt.datetime.fromisoformat(event[name]["dateTime"])
            event[name]["dateTime"] = moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if event.get("transparency") == "opaque":
        del event["transparency"]
    for guest in event.get("attendees") or ():
        guest["responseStatus"] = "needsAction"
        guest["email"] = guest["email"].upper()
    if not event.get("attendees"):
        event.pop("attendees", None)
    event["reminders"]["overrides"].reverse()
    event["description"] = event["description"].replace("\n", "\r\n") + "\n"
    event.update(
        kind="calendar#event",
        etag='"3181161784712000"',
        htmlLink="https://www.google.com/calendar/event?eid=x",
        created="2026-11-20T04:00:00.000Z",
        updated="2026-11-20T04:00:00.000Z",
        creator={"email": "protokol@bangka.go.id"},
        organizer={"email": "bupati@group.calendar.google.com", "self": True},
        iCalUID=f"{body['id']}@google.com",
        sequence=0,
    )
    return event


def test_the_servers_version_of_its_own_write_is_recognised(body: dict[str, Any]) -> None:
    seen = sync.Seen.of(as_google_returns(body))
    assert seen.owned and not seen.hand_edited
    assert seen.actual == seen.stored == body["extendedProperties"]["private"]["hash"]
    assert sync.decide("bupati", body["id"], sync.Want.of(body), seen, "keep").kind == "unchanged"
    assert (
        sync.decide("bupati", body["id"], sync.Want.of(body), seen, "overwrite").kind == "unchanged"
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("summary", "Diubah lewat web"),
        ("location", "Aula lain"),
        ("colorId", "11"),
        ("status", "tentative"),
        ("attendees", []),
        ("start", {"dateTime": "2026-12-01T10:00:00+07:00", "timeZone": "Asia/Jakarta"}),
    ],
)
def test_a_hand_edit_of_any_managed_field_is_seen(
    body: dict[str, Any], field: str, value: Any
) -> None:
    edited = as_google_returns(body)
    edited[field] = value
    seen = sync.Seen.of(edited)
    assert seen.hand_edited
    kept = sync.decide("bupati", body["id"], sync.Want.of(body), seen, "keep")
    assert kept.kind == "kept" and kept.body is None
    overwritten = sync.decide("bupati", body["id"], sync.Want.of(body), seen, "overwrite")
    assert overwritten.kind == "update" and overwritten.note.endswith("overwritten")


def test_with_keep_the_agenda_wins_once_the_item_changes(body: dict[str, Any]) -> None:
    edited = as_google_returns(body)
    edited["summary"] = "Diubah lewat web"
    newer = copy.deepcopy(body)
    newer["location"] = "Gedung DPRD, ruang baru"
    newer["extendedProperties"]["private"]["hash"] = sync.content_hash(newer, "dipublikasikan")
    change = sync.decide("bupati", body["id"], sync.Want.of(newer), sync.Seen.of(edited), "keep")
    assert change.kind == "update" and "the agenda item changed since" in change.note
    assert change.send_updates == "all"  # a published item's place changed for its guests


def test_a_bare_cancelled_item_of_a_live_agenda_item_is_restored(body: dict[str, Any]) -> None:
    bare = {"kind": "calendar#event", "etag": '"9"', "id": body["id"], "status": "cancelled"}
    view: dict[str, sync.Seen] = {}
    sync.absorb(view, [bare], {"someone-else"})
    assert view == {}  # not one of the agenda's ids and never seen: someone else's event
    sync.absorb(view, [bare], {body["id"]})
    change = sync.decide("bupati", body["id"], sync.Want.of(body), view[body["id"]], "keep")
    assert change.kind == "revive" and change.send_updates == "all"
    assert "restored" in change.note


def test_an_event_by_an_older_version_is_rewritten_once(body: dict[str, Any]) -> None:
    older = as_google_returns(body)
    older["extendedProperties"]["private"]["hash"] = "0f3c9a"  # the v1 hash format
    seen = sync.Seen.of(older)
    assert not seen.hand_edited
    change = sync.decide("bupati", body["id"], sync.Want.of(body), seen, "keep")
    assert change.kind == "update" and change.note == ""


def test_a_state_file_of_another_format_is_ignored(tmp_path: Any) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"format": "protocloud-sync-state-v1", "calendars": {"a": {}}}')
    assert sync.load_state(path)[0] == {}


def test_a_state_file_nested_too_deeply_means_a_full_list(tmp_path: Any) -> None:
    path = tmp_path / "state.json"
    path.write_text("[" * 100_000)
    assert sync.load_state(path) == ({}, b"")


def test_what_google_or_a_proxy_sends_nested_too_deeply_is_text_not_a_traceback(
    tmp_path: Any,
) -> None:
    """An error body is read for Google's reason; one too deep for the parser is shown as the
    plain text it is. A credentials file that deep is named."""
    body = b'{"error": ' + b"[" * 100_000
    assert gcal.reason_of(body) == ("", gcal.plain(body.decode()))
    credentials = tmp_path / "google.json"
    credentials.write_text("[" * 100_000)
    with pytest.raises(ValueError, match=r"google\.json: not JSON \(nested too deeply\)"):
        gcal.load_credentials(credentials)


def test_reminders_are_per_user_so_only_the_agenda_changes_them(body: dict[str, Any]) -> None:
    """Google keeps reminders per user: another account reads its own. Not a hand edit; but a
    change of the agenda's reminders is written."""
    other = as_google_returns(body)
    other["reminders"] = {"useDefault": True}
    seen = sync.Seen.of(other)
    assert not seen.hand_edited
    assert sync.decide("bupati", body["id"], sync.Want.of(body), seen, "keep").kind == "unchanged"
    newer = copy.deepcopy(body)
    newer["reminders"]["overrides"] = [{"method": "popup", "minutes": 15}]
    newer["extendedProperties"]["private"]["reminders"] = sync.reminders_hash(newer)
    change = sync.decide("bupati", body["id"], sync.Want.of(newer), seen, "keep")
    assert change.kind == "update" and change.send_updates == "none"


def test_a_new_guest_of_a_published_item_is_invited(body: dict[str, Any]) -> None:
    seen = sync.Seen.of(as_google_returns(body))
    more = copy.deepcopy(body)
    more["attendees"].append({"email": "camat.sungailiat@bangka.go.id", "displayName": "Camat"})
    more["extendedProperties"]["private"]["hash"] = sync.content_hash(more, "dipublikasikan")
    change = sync.decide("bupati", body["id"], sync.Want.of(more), seen, "overwrite")
    assert change.kind == "update" and change.send_updates == "all"


def test_with_keep_a_cancellation_in_the_agenda_still_cancels(body: dict[str, Any]) -> None:
    edited = as_google_returns(body)
    edited["summary"] = "Diubah lewat web"
    cancelled = copy.deepcopy(body)
    cancelled["status"] = "cancelled"
    change = sync.decide(
        "bupati", body["id"], sync.Want.of(cancelled), sync.Seen.of(edited), "keep"
    )
    assert change.kind == "cancel"


def test_an_occurrence_changed_by_hand_is_left_alone(body: dict[str, Any]) -> None:
    """Google keeps one occurrence changed by hand as its own event (id <series>_<time>,
    ``recurringEventId``) carrying the series' private tags: never taken for one of ours."""
    occurrence = as_google_returns(body)
    occurrence["id"] = f"{body['id']}_20261201T020000Z"
    occurrence["recurringEventId"] = body["id"]
    view: dict[str, sync.Seen] = {}
    sync.absorb(view, [occurrence], {body["id"]})
    assert view == {}
    assert sync.plan_calendar("bupati", {}, view, "overwrite") == []


def test_a_patch_clears_what_the_agenda_no_longer_has(body: dict[str, Any]) -> None:
    assert "colorId" in body and body["recurrence"] is None  # sent as null: cleared


@pytest.mark.parametrize(
    ("field", "value", "edited"),
    [
        ("extendedProperties", ["not", "an", "object"], None),
        ("attendees", "everyone", True),
        ("attendees", [None, 3], True),
        ("start", "tomorrow", True),
        # read as none, which is what this (one-off) event has: no difference
        ("recurrence", "RRULE:FREQ=DAILY", False),
        # reminders are per user: never a hand edit, but their hash is computed
        ("reminders", {"overrides": [{"minutes": "soon"}, "x"]}, False),
    ],
)
def test_a_malformed_answer_reads_as_a_difference_not_a_crash(
    body: dict[str, Any], field: str, value: Any, edited: bool | None
) -> None:
    broken = as_google_returns(body)
    broken[field] = value
    seen = sync.Seen.of(broken)  # no exception
    assert sync.reminders_hash(broken)
    if edited is None:
        assert not seen.owned and seen.stored == ""
    else:
        assert seen.hand_edited is edited
