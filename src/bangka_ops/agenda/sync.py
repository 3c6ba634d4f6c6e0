"""One-way sync of the agenda to Google Calendar: each calendar of ``calendars.yaml`` with a
``google_calendar_id`` is made to mirror the agenda, and converges to it whatever happened in
between (crashes, lost answers, hand edits, hand deletions, a lost state file, two publishers).

* Every event this sync writes has a deterministic id (base32hex of a hash of the calendar key
  and the agenda id), so a re-run finds it instead of duplicating it; Google refuses a used id
  (409) even after a delete, so events are never deleted: they are *cancelled*, and patched back
  if the item returns. A 409 on insert (the id is taken by an event the lists did not show, such
  as one deleted by hand) is resolved in the same run: the event is fetched and patched.
* Every event carries ``extendedProperties.private``: the owner tag, the agenda id, the stage and
  the **content hash**, a hash of the fields the sync manages, normalised (times as instants,
  absent defaults filled in, lists sorted). Decisions come from the calendar's content, never
  from local memory: the hash is recomputed from the event as the server returns it and compared
  with the stored one. Equal: the event is as a sync wrote it (whichever run or host); different:
  someone changed it by hand, and the policy applies (``overwrite``; ``keep`` keeps the hand edit
  as long as the agenda item is unchanged since the sync last wrote it). An event without the
  owner tag (made by hand in the calendar) is never read, changed or cancelled.
* A cancelled event whose id belongs to a live agenda item (cancelled or deleted by hand; Google
  may list it with nothing but its id and status) is restored: patched back to the agenda's
  content and status, under both policies (``keep`` protects edits, not deletions: to take an
  item off the calendar, cancel or remove it in the agenda). One occurrence of a series changed
  by hand (an exception event with ``recurringEventId``) is left alone.
* All reads happen first (one batch: each calendar's events and ACL; further pages and a full
  re-list after an expired sync token are batched across calendars too); a calendar that does
  not exist or cannot be read stops the run before anything is written.
* The state file (per calendar: the sync token and what the last lists showed) is only an
  optimisation: a no-op re-sync lists only what changed since (one batch), and writes carry
  ``If-Match``. Deleting it changes no decision, only the cost of the next run (a full list).
  A 412 (changed meanwhile) is resolved in the same run like a 409: fetched, decided again.

Invitations: attendees (invitees with an e-mail) are on the event only from ``dipublikasikan``
on; ``sendUpdates=all`` when an item reaches that stage, when a published item's time, place,
status or guests change (compared with the event as it is in the calendar) and when a published
item is restored; ``none`` for everything else. Reminders are kept per user by Google, so they
are compared with what the sync wrote (a hash of its own), never with what an account reads.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
import os
import pickle
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bangka_ops.agenda.cache import apply_sync_facts
from bangka_ops.agenda.gcal import AuthError, Call, GoogleCalendar, Result
from bangka_ops.agenda.model import (
    CANCELLED,
    TENTATIVE,
    Config,
    Event,
    data_of,
    description,
    ever_published,
)
from bangka_ops.agenda.repository import Agenda

OWNER_KEY = "protocloudOwner"
OWNER = "bangka-agenda"
ACL_ROLES = (("readers", "reader"), ("writers", "writer"), ("free_busy_readers", "freeBusyReader"))
POLICIES = ("overwrite", "keep")


def event_id(calendar_key: str, agenda_id: str) -> str:
    """A Google event id: base32hex (a-v, 0-9) of a hash of the calendar and the agenda id."""
    digest = hashlib.sha256(f"{calendar_key}\0{agenda_id}".encode()).digest()
    return base64.b32hexencode(digest).decode().rstrip("=").lower()


HASH_VERSION = "2:"  # the stored hash's format; an older one is rewritten once


def instant(value: Any) -> str:
    """A ``dateTime`` as a UTC instant, whatever offset the server writes it with."""
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        return moment.isoformat()
    return moment.astimezone(dt.UTC).isoformat()


def mapping(value: Any) -> dict[str, Any]:
    """A field a server should send as an object: anything else reads as empty (a malformed
    answer is a difference in content, never a traceback)."""
    return value if isinstance(value, dict) else {}


def items(value: Any) -> list[Any]:
    """A field a server should send as a list: anything else reads as empty."""
    return value if isinstance(value, list) else []


def managed(event: dict[str, Any]) -> dict[str, Any]:
    """The fields the sync manages, normalised so that the same event reads the same whether
    it is the body the sync sends or the event a server returns: times as UTC instants (the
    zone kept only for recurring events, where it changes the meaning), defaults filled in for
    what a server may leave out (status, transparency, reminders, attendees), text with its
    line ends unified and outer blanks stripped, lists sorted."""

    def text(name: str) -> str:
        return str(event.get(name) or "").replace("\r\n", "\n").strip()

    recurrence = sorted(str(rule).strip() for rule in items(event.get("recurrence")))

    def moment(name: str) -> dict[str, str]:
        value = mapping(event.get(name))
        if value.get("date"):
            return {"date": str(value["date"])}
        out = {"dateTime": instant(value.get("dateTime"))}
        if recurrence and value.get("timeZone"):
            out["timeZone"] = str(value["timeZone"])
        return out

    reminders = mapping(event.get("reminders"))
    overrides = [mapping(r) for r in items(reminders.get("overrides"))]
    return {
        "summary": text("summary"),
        "location": text("location"),
        "description": text("description"),
        "start": moment("start"),
        "end": moment("end"),
        "status": str(event.get("status") or "confirmed"),
        "transparency": str(event.get("transparency") or "opaque"),
        "colorId": str(event["colorId"]) if event.get("colorId") else None,
        "reminders": {
            "useDefault": bool(reminders.get("useDefault", True)),
            "overrides": sorted(
                (str(r.get("method", "")), str(r.get("minutes", 0))) for r in overrides
            ),
        },
        "attendees": sorted(
            {
                str(a["email"]).lower()
                for a in map(mapping, items(event.get("attendees")))
                if a.get("email") and not a.get("organizer") and not a.get("resource")
            }
        ),
        "recurrence": recurrence,
    }


def content_hash(event: dict[str, Any], stage: str) -> str:
    """The hash of what the sync manages in an event and everyone sees the same (and the stage
    it wrote it for): everything but the reminders, which Google keeps per user (each account
    reads its own), so that who reads the event never looks like a hand edit."""
    view = managed(event)
    del view["reminders"]
    data = json.dumps([view, stage], sort_keys=True, ensure_ascii=False)
    return HASH_VERSION + hashlib.sha256(data.encode()).hexdigest()[:32]


def reminders_hash(event: dict[str, Any]) -> str:
    """The hash of the reminders the sync wrote (compared with the agenda's, never with what a
    server shows: that depends on the account reading)."""
    data = json.dumps(managed(event)["reminders"], sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def significant_hash(event: dict[str, Any]) -> str:
    """What attendees must be told about when it changes: time, place, status, the guests."""
    view = managed(event)
    keys = ("start", "end", "location", "status", "recurrence", "attendees")
    data = [view[k] for k in keys]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def when(event: Event, value: dt.datetime) -> dict[str, str]:
    if event.all_day:
        return {"date": value.date().isoformat()}
    return {"dateTime": value.isoformat(), "timeZone": event.tz.key}


def body_of(
    event: Event, config: Config, calendar_key: str, *, invite: bool = True
) -> dict[str, Any]:
    """The Google event for an agenda item (its ``data`` must be loaded). Without ``invite``
    (a service account acting as itself, which Google refuses attendees from) the event has
    no attendees."""
    data = data_of(event)
    category = config.categories[event.category]
    published = event.status == "dipublikasikan" or (
        event.status == CANCELLED and ever_published(event)
    )
    body: dict[str, Any] = {
        "id": event_id(calendar_key, event.id),
        "summary": event.title,
        "location": config.location(event.venue, event.room),
        "description": description(event, config),
        "start": when(event, event.start),
        "end": when(event, event.end),
        "status": "cancelled"
        if event.status == CANCELLED
        else ("tentative" if event.status in TENTATIVE else "confirmed"),
        "transparency": "opaque" if event.busy else "transparent",
        "reminders": {
            "useDefault": False,
            "overrides": [
                {"method": r.get("method", "popup"), "minutes": int(r["minutes"])}
                for r in data.get("reminders", category.get("reminders", ()))
            ],
        },
        "attendees": [
            {"email": guest["email"], "displayName": guest["name"]}
            for guest in data.get("invitees", ())
            if published and invite and "email" in guest
        ],
    }
    # Absent values are sent as null: a PATCH leaves out what it does not name, so a colour or
    # a recurrence the agenda no longer has (or one set by hand) is cleared only this way.
    body["colorId"] = str(category["google_color_id"]) if "google_color_id" in category else None
    body["recurrence"] = None
    if event.rrule:
        rules = [f"RRULE:{event.rrule}"]
        if event.exdates:
            stamps = ",".join(
                d.strftime("%Y%m%d") if event.all_day else d.strftime("%Y%m%dT%H%M%S")
                for d in event.exdates
            )
            rules.append(
                f"EXDATE;VALUE=DATE:{stamps}"
                if event.all_day
                else f"EXDATE;TZID={event.tz.key}:{stamps}"
            )
        body["recurrence"] = rules
    body["extendedProperties"] = {
        "private": {
            OWNER_KEY: OWNER,
            "agendaId": event.id,
            "stage": event.status,
            "hash": content_hash(body, event.status),
            "reminders": reminders_hash(body),
        }
    }
    return body


# ---- what the calendar holds ------------------------------------------------------------


@dataclass
class Seen:
    """One of the sync's events as a calendar last showed it (from a list, a get or the
    answer to a write): facts about its content, never a decision."""

    etag: str
    status: str
    stored: str  # the hash in extendedProperties.private: what the last sync wrote
    actual: str  # the hash of the content as it is ("" for a bare cancelled item)
    stage: str
    significant: str  # time, place and status as they are ("" when unknown)
    agenda_id: str
    attendees: bool
    owned: bool  # it carries the owner tag
    reminders: str = ""  # the hash of the reminders the last sync wrote (from its private tags)

    @classmethod
    def of(cls, item: dict[str, Any]) -> Seen:
        private = mapping(mapping(item.get("extendedProperties")).get("private"))
        status = str(item.get("status") or "confirmed")
        stage = str(private.get("stage", ""))
        bare = status == "cancelled" and "start" not in item
        return cls(
            etag=str(item.get("etag", "")),
            status=status,
            stored=str(private.get("hash", "")),
            actual="" if bare else content_hash(item, stage),
            stage=stage,
            significant="" if bare else significant_hash(item),
            agenda_id=str(private.get("agendaId", "")),
            attendees=bool(item.get("attendees")),
            owned=private.get(OWNER_KEY) == OWNER,
            reminders=str(private.get("reminders", "")),
        )

    def cancelled_from(self, before: Seen | None) -> Seen:
        """A cancelled item that says little or nothing about itself (Google promises only its
        id and status), completed with what was known of the event before."""
        if before is None:
            return self
        return Seen(
            etag=self.etag or before.etag,
            status="cancelled",
            stored=self.stored or before.stored,
            actual="",
            stage=self.stage or before.stage,
            significant=before.significant,
            agenda_id=self.agenda_id or before.agenda_id,
            attendees=before.attendees,
            owned=self.owned or before.owned,
            reminders=self.reminders or before.reminders,
        )

    @property
    def hand_edited(self) -> bool:
        """Live, and its content is not what the sync stored with it: edited by hand."""
        if self.status == "cancelled":
            return False
        if self.owned and not self.stored.startswith(HASH_VERSION):
            return False  # written by an older version (another hash): rewritten once
        return self.actual != self.stored


@dataclass
class CalendarState:
    calendar_id: str
    sync_token: str | None = None
    events: dict[str, Seen] = field(default_factory=dict)


STATE_FORMAT = "protocloud-sync-state-v2"
SEEN_FIELDS = tuple(Seen.__dataclass_fields__)


def load_state(path: Path) -> tuple[dict[str, CalendarState], bytes]:
    """The state file and its bytes; unreadable, foreign or older content means starting from
    a full list (which costs time, never a different decision)."""
    try:
        data = path.read_bytes()
        raw = json.loads(data)
        if raw.get("format") != STATE_FORMAT or raw.get("fields") != list(SEEN_FIELDS):
            return {}, data
        states = {}
        for key, item in (raw.get("calendars") or {}).items():
            states[key] = CalendarState(
                str(item["calendar_id"]),
                item.get("sync_token"),
                {gid: Seen(*seen) for gid, seen in (item.get("events") or {}).items()},
            )
        return states, data
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return {}, b""


def state_bytes(states: dict[str, CalendarState]) -> bytes:
    data = {
        "format": STATE_FORMAT,
        "fields": list(SEEN_FIELDS),
        "calendars": {
            key: {
                "calendar_id": s.calendar_id,
                "sync_token": s.sync_token,
                "events": {
                    gid: [getattr(seen, name) for name in SEEN_FIELDS]
                    for gid, seen in sorted(s.events.items())
                },
            }
            for key, s in sorted(states.items())
        },
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def save_state(path: Path, states: dict[str, CalendarState], before: bytes = b"") -> None:
    """Write the state file atomically, unless it would not change."""
    data = state_bytes(states)
    if data == before:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sync-state-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def absorb(view: dict[str, Seen], items: list[dict[str, Any]], relevant: set[str]) -> None:
    """Take listed (or fetched) items into a calendar's view: the sync's own events, and a
    cancelled item whose id is one of the agenda's (``relevant``) or already known; events made
    by hand are left out."""
    for item in items:
        gid = item.get("id")
        if not isinstance(gid, str) or item.get("recurringEventId"):
            continue  # one occurrence of a series changed or deleted by hand: left as it is
        seen = Seen.of(item)
        if seen.status == "cancelled" and not (seen.owned and seen.actual):
            if gid in view or gid in relevant:
                view[gid] = seen.cancelled_from(view.get(gid))
        elif seen.owned or gid in view:
            view[gid] = seen


# ---- planning ------------------------------------------------------------------------------


@dataclass
class Change:
    kind: str  # create, update, cancel, revive, unchanged, kept (hand-edited, policy keep)
    calendar: str
    event_id: str
    agenda_id: str
    send_updates: str = "none"
    content: Want | dict[str, Any] | None = None  # what to write (a Want makes its body)
    etag: str | None = None
    note: str = ""

    @property
    def body(self) -> dict[str, Any] | None:
        if isinstance(self.content, Want):
            return self.content.body()
        return self.content


@dataclass
class AclChange:
    kind: str  # add, change, extra (reported only), remove (with --prune-acl)
    calendar: str
    rule_id: str
    role: str


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    acl: list[AclChange] = field(default_factory=list)

    def count(self, calendar: str | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for change in self.changes:
            if calendar is None or change.calendar == calendar:
                counts[change.kind] = counts.get(change.kind, 0) + 1
        for rule in self.acl:
            if calendar is None or rule.calendar == calendar:
                counts[f"acl_{rule.kind}"] = counts.get(f"acl_{rule.kind}", 0) + 1
        return counts


def desired_events(
    agenda: Agenda, config: Config, invites: dict[str, bool] | None = None
) -> dict[str, dict[str, dict[str, Any]]]:
    """Calendar key -> Google event id -> body, for the calendars that are synchronised
    (``invites``: per calendar, whether attendees can be written; default yes)."""
    wanted: dict[str, dict[str, dict[str, Any]]] = {
        key: {} for key, cal in config.calendars.items() if cal.get("google_calendar_id")
    }
    for event in agenda.events:
        for key in config.calendars_of(event):
            if key in wanted:
                invite = True if invites is None else invites.get(key, True)
                body = body_of(event, config, key, invite=invite)
                wanted[key][body["id"]] = body
    return wanted


@dataclass(slots=True)
class Want:
    """What one agenda item should be in one calendar: its id, content hash and the facts the
    decisions need. The body itself is made only when it is written (``body()``), so planning
    an unchanged agenda builds none."""

    gid: str
    agenda_id: str
    hash: str
    stage: str
    status: str  # Google's: confirmed, tentative or cancelled
    significant: str
    invited: bool
    reminders: str
    make: Callable[[], dict[str, Any]]

    @classmethod
    def of(cls, body: dict[str, Any]) -> Want:
        ours = body["extendedProperties"]["private"]
        return cls(
            body["id"],
            ours["agendaId"],
            ours["hash"],
            ours["stage"],
            body["status"],
            significant_hash(body),
            bool(body["attendees"]),
            ours["reminders"],
            lambda: body,
        )

    def memo(self) -> tuple[str, str, str, str, str, bool, str]:
        return (
            self.gid,
            self.hash,
            self.stage,
            self.status,
            self.significant,
            self.invited,
            self.reminders,
        )

    def body(self) -> dict[str, Any]:
        return self.make()


def wanted_events(
    agenda: Agenda, config: Config, invites: dict[str, bool] | None = None
) -> tuple[dict[str, dict[str, Want]], dict[str, bytes]]:
    """Calendar key -> Google event id -> what the agenda wants there, for the calendars that
    are synchronised; and the memos to keep in the validation cache (event file -> memo).

    An agenda loaded with ``sync_data`` from the validation cache carries, per unchanged file,
    a memo of its bodies' hashes (per calendar and invitation mode; the cache entry is keyed by
    the file's content and the configuration, which is all a body depends on): planning then
    reads no YAML and builds no body. A body is built when it is missing from the memo or
    when it is written."""
    wanted: dict[str, dict[str, Want]] = {
        key: {} for key, cal in config.calendars.items() if cal.get("google_calendar_id")
    }
    memos: dict[str, bytes] = {}
    for event in agenda.events:
        blob, packed_memo, facts = agenda.sync_facts.get(event.file, (None, None, None))
        memo: dict[tuple[str, bool], tuple[Any, ...]] = (
            pickle.loads(packed_memo) if packed_memo else {}  # noqa: S301 (our cache)
        )
        changed = False

        def body(
            key: str,
            invite: bool,
            *,
            event: Event = event,
            facts: bytes | None = facts,
            memo: dict[tuple[str, bool], tuple[Any, ...]] = memo,
            blob: str | None = blob,
        ) -> dict[str, Any]:
            if event.data is None:  # from the cache: the raw fields and history it needs
                apply_sync_facts(event, facts)
            built = body_of(event, config, key, invite=invite)
            fresh = Want.of(built).memo()
            if memo.get((key, invite), fresh) != fresh and blob is not None:
                memo[(key, invite)] = fresh  # a stale memo is replaced when it shows
                memos[event.file] = pickle.dumps(memo, protocol=pickle.HIGHEST_PROTOCOL)
            return built

        for key in config.calendars_of(event):
            if key not in wanted:
                continue
            invite = True if invites is None else invites.get(key, True)
            item = memo.get((key, invite))
            if item is None:
                want = Want.of(body(key, invite))
                memo[(key, invite)] = want.memo()
                changed = True
            else:
                gid, digest, stage, status, significant, invited, reminders = item
                want = Want(
                    gid,
                    event.id,
                    digest,
                    stage,
                    status,
                    significant,
                    invited,
                    reminders,
                    functools.partial(body, key, invite),
                )
            wanted[key][want.gid] = want
        if changed and blob is not None:
            memos[event.file] = pickle.dumps(memo, protocol=pickle.HIGHEST_PROTOCOL)
    return wanted, memos


def desired_acl(settings: dict[str, Any]) -> dict[str, str]:
    rules = {}
    for field_name, role in ACL_ROLES:
        for email in settings.get(field_name, ()):
            rules[f"user:{email}"] = role
    return rules


def writer_errors(config: Config, keys: list[str], allowed: list[str]) -> list[str]:
    """Calendar writers that the access model does not allow (when it is configured)."""
    if not allowed:
        return []
    permitted = {a.lower() for a in allowed}
    return [
        f"calendars.yaml: calendars.{key}.writers: {email} is not an admin, protocol coordinator "
        "or protocol operator in the access model"
        for key in keys
        for email in config.calendars[key].get("writers", ())
        if email.lower() not in permitted
    ]


def decide(key: str, gid: str, want: Want, found: Seen | None, policy: str) -> Change:
    """What makes one event match its agenda item, from the event as the calendar has it."""
    agenda_id = want.agenda_id
    if want.status == "cancelled" and (found is None or found.status == "cancelled"):
        # cancelled before it ever got here, or cancelled there already: nothing to do
        return Change("unchanged", key, gid, agenda_id, etag=found.etag if found else None)
    if found is None:
        return Change("create", key, gid, agenda_id, "all" if want.invited else "none", want)
    if found.status == "cancelled":
        note = (
            ""
            if found.stage == CANCELLED
            else "cancelled or deleted in the calendar: restored from the agenda"
        )
        send = "all" if want.invited else "none"
        return Change("revive", key, gid, agenda_id, send, want, found.etag or None, note)
    hand = found.hand_edited
    same = found.stored == want.hash and found.reminders == want.reminders
    if not hand and same:
        return Change("unchanged", key, gid, agenda_id, etag=found.etag)
    if hand and policy == "keep" and same and want.status != "cancelled":
        return Change(
            "kept",
            key,
            gid,
            agenda_id,
            etag=found.etag,
            note="changed in the calendar by hand: kept and reported (policy keep)",
        )
    note = ""
    if hand:
        note = (
            "changed in the calendar by hand, and the agenda item changed since: the agenda's "
            "version written (policy keep)"
            if policy == "keep"
            else "changed in the calendar by hand: overwritten"
        )
    reached = want.stage == "dipublikasikan" and found.stage != "dipublikasikan"
    moved = found.significant != want.significant and found.stage in (
        "dipublikasikan",
        CANCELLED,
    )
    send = "all" if want.invited and (reached or moved) else "none"
    kind = "cancel" if want.status == "cancelled" else "update"
    return Change(kind, key, gid, agenda_id, send, want, found.etag or None, note)


GONE_NOTE = "no longer in this calendar (file removed or item moved)"


def retire(key: str, gid: str, found: Seen) -> Change:
    """Cancel one of the sync's events whose item is no longer in this calendar."""
    send = "all" if found.stage == "dipublikasikan" and found.attendees else "none"
    gone = {
        "status": "cancelled",
        "extendedProperties": {"private": {"stage": CANCELLED, "hash": "removed"}},
    }
    return Change("cancel", key, gid, found.agenda_id, send, gone, found.etag or None, GONE_NOTE)


def plan_calendar(
    key: str, wanted: dict[str, Want], remote: dict[str, Seen], policy: str
) -> list[Change]:
    """The changes that make one calendar mirror the agenda."""
    changes = []
    for gid, want in sorted(wanted.items()):
        change = decide(key, gid, want, remote.get(gid), policy)
        if change.kind != "unchanged" or gid in remote:
            changes.append(change)
    for gid, found in sorted(remote.items()):
        if gid not in wanted and found.owned and found.status != "cancelled":
            changes.append(retire(key, gid, found))
    return changes


def plan_acl(
    key: str, settings: dict[str, Any], rules: list[dict[str, Any]], prune: bool
) -> list[AclChange]:
    wanted = desired_acl(settings)
    have = {str(r["id"]): str(r.get("role", "")) for r in rules}
    out = []
    for rule_id, role in sorted(wanted.items()):
        if have.get(rule_id) != role:
            out.append(AclChange("add" if rule_id not in have else "change", key, rule_id, role))
    for rule_id, role in sorted(have.items()):
        if rule_id not in wanted and role != "owner":
            out.append(AclChange("remove" if prune else "extra", key, rule_id, role))
    return out


# ---- running -------------------------------------------------------------------------------


class SyncError(Exception):
    """The run cannot go on; nothing was written. ``refused``: the agenda's own settings are
    refused (calendar writers outside the access model), not Google."""

    def __init__(self, message: str, *, refused: bool = False):
        super().__init__(message)
        self.refused = refused


@dataclass
class Acting:
    """Whom the sync acts as in one calendar, and what follows from that.

    * ``subject``: the user a service account acts as (domain-wide delegation), or None for the
      account itself (the service account, or the user who authorised an OAuth token);
    * ``reminded``: who gets the event's reminders (Google keeps reminders per user: they reach
      the account the request acts as, nobody else);
    * ``invite``: whether attendees are written (Google refuses attendees from a service account
      acting as itself: 403 forbiddenForServiceAccounts)."""

    subject: str | None
    reminded: str
    invite: bool


CREDENTIAL_MODES = ("oauth", "service-account", "delegation")


def acting_for(
    config: Config,
    keys: list[str],
    credentials_kind: str,
    *,
    subject: str | None = None,
    as_owner: bool = False,
) -> tuple[str, dict[str, Acting]]:
    """The credential mode and, per calendar, whom the sync acts as.

    ``as_owner`` (service account with domain-wide delegation): each calendar is written acting
    as its ``owner`` from calendars.yaml, so the reminders reach that owner; ``subject``: every
    calendar acting as that one user."""
    if (subject or as_owner) and credentials_kind != "service_account":
        raise SyncError(
            "--subject / --as-owner need a service-account credentials file with domain-wide "
            "delegation (an OAuth token always acts as the user who authorised it)"
        )
    if credentials_kind != "service_account":
        acting = {k: Acting(None, "the user who authorised the OAuth token", True) for k in keys}
        return "oauth", acting
    if not (subject or as_owner):
        acting = {k: Acting(None, "nobody (the service account itself)", False) for k in keys}
        return "service-account", acting
    out = {}
    for key in keys:
        user = subject or config.calendars[key].get("owner")
        if not user:
            raise SyncError(
                f"calendars.yaml: calendars.{key}.owner is needed with --as-owner (the user the "
                "sync acts as in that calendar)"
            )
        out[key] = Acting(str(user), str(user), True)
    return "delegation", out


@dataclass
class Outcome:
    plan: Plan
    written: dict[str, int]
    failures: list[str]
    round_trips: int
    calls: int
    acting: dict[str, Acting] = field(default_factory=dict)


@dataclass
class Listing:
    """One calendar's list, as far as it has been read."""

    token: str | None  # the sync token it was listed from (None: in full)
    items: list[dict[str, Any]] = field(default_factory=list)
    next_token: str | None = None
    failed: Result | None = None
    pages: set[str] = field(default_factory=set)  # page tokens followed so far


class Sync:
    """Read everything, plan, then write (unless a dry run), keeping the state file."""

    def __init__(
        self,
        agenda: Agenda,
        client: GoogleCalendar,
        state_path: Path,
        *,
        policy: str = "overwrite",
        prune_acl: bool = False,
        acting: dict[str, Acting] | None = None,
        allowed_writers: list[str] | None = None,
    ):
        if agenda.config is None:
            raise SyncError("the agenda's configuration is not valid", refused=True)
        self.agenda = agenda
        self.config: Config = agenda.config
        self.client = client
        self.state_path = state_path
        self.policy = policy
        self.prune_acl = prune_acl
        self.states, self.state_before = load_state(state_path)
        self.state_changed = False  # whether the state file needs writing at the end
        self.keys = sorted(
            k for k, c in self.config.calendars.items() if c.get("google_calendar_id")
        )
        self.acting = acting or {k: Acting(None, "the account itself", True) for k in self.keys}
        refused = writer_errors(self.config, self.keys, allowed_writers or [])
        if refused:
            raise SyncError("; ".join(refused) + ": nothing was written", refused=True)
        for key in self.keys:
            state = self.states.get(key)
            if state is None or state.calendar_id != self.calendar_id(key):
                self.states[key] = CalendarState(self.calendar_id(key))
        self.wanted: dict[str, dict[str, Want]] = {}
        self.memos: dict[str, bytes] = {}

    def subject(self, key: str) -> str | None:
        acting = self.acting.get(key)
        return acting.subject if acting else None

    def calendar_id(self, key: str) -> str:
        return str(self.config.calendars[key]["google_calendar_id"])

    def where(self, key: str) -> str:
        return f"calendar {key!r} ({self.calendar_id(key)})"

    # ---- reading
    def list_call(self, key: str, token: str | None, page: str | None = None) -> Call:
        calendar, subject = self.calendar_id(key), self.subject(key)
        if token:
            return Call(
                f"events/{key}",
                lambda api: api.events().list(
                    calendarId=calendar, syncToken=token, pageToken=page, maxResults=2500
                ),
                subject=subject,
            )
        return Call(
            f"events/{key}",
            lambda api: api.events().list(
                calendarId=calendar,
                privateExtendedProperty=f"{OWNER_KEY}={OWNER}",
                showDeleted=True,
                pageToken=page,
                maxResults=2500,
            ),
            subject=subject,
        )

    def acl_list_call(self, key: str) -> Call:
        calendar = self.calendar_id(key)
        return Call(
            f"acl/{key}", lambda api: api.acl().list(calendarId=calendar), subject=self.subject(key)
        )

    def get_call(self, change: Change) -> Call:
        calendar, gid = self.calendar_id(change.calendar), change.event_id
        return Call(
            f"get/{change.calendar}/{gid}",
            lambda api: api.events().get(calendarId=calendar, eventId=gid),
            subject=self.subject(change.calendar),
        )

    def refusal(self, result: Result, key: str) -> SyncError:
        if result.status == 404:
            return SyncError(
                f"{self.where(key)} does not exist or is not shared with the sync account: "
                "nothing was written"
            )
        if result.status == 0:
            return SyncError(f"Google Calendar {result.describe()}: nothing was written")
        return SyncError(f"{self.where(key)}: {result.describe()}: nothing was written")

    def list_all(
        self, starts: dict[str, str | None], extra: list[Call] | None = None
    ) -> tuple[dict[str, Listing], dict[str, Result]]:
        """Each calendar's events from its sync token (or in full), and the ``extra`` calls:
        one batch for all of them, then one batch per further page across the calendars; a
        calendar whose token expired (410) is listed in full in the next batch. A calendar
        that cannot be listed is returned with ``failed`` set."""
        listings = {key: Listing(token) for key, token in starts.items()}
        calls = [self.list_call(key, token) for key, token in starts.items()] + list(extra or ())
        others: dict[str, Result] = {}
        while calls:
            answers = self.client.many(calls)
            calls = []
            for call_key, result in sorted(answers.items()):
                kind, _, key = call_key.partition("/")
                if kind != "events":
                    others[call_key] = result
                    continue
                listing = listings[key]
                if result.status == 410 and listing.token:  # the token expired: list in full
                    listings[key] = Listing(None)
                    calls.append(self.list_call(key, None))
                    continue
                if not result.ok or not isinstance(result.body, dict):
                    listing.failed = (
                        result
                        if not result.ok
                        else Result(call_key, -1, None, "badResponse", "a list that is no object")
                    )
                    continue
                listing.items += [i for i in items(result.body.get("items")) if isinstance(i, dict)]
                page = result.body.get("nextPageToken")
                if page and str(page) in listing.pages:  # a server paging in a circle
                    message = f"page token {str(page)[:40]!r} came back: the list never ends"
                    listing.failed = Result(call_key, -1, None, "badPaging", message)
                elif page:
                    listing.pages.add(str(page))
                    calls.append(self.list_call(key, listing.token, str(page)))
                else:
                    listing.next_token = result.body.get("nextSyncToken")
        return listings, others

    def read(self) -> dict[str, list[dict[str, Any]]]:
        """Each calendar's events as far as the sync owns them (into the state's view) and its
        ACL: one batch for all calendars, then any further pages."""
        starts = {key: self.states[key].sync_token for key in self.keys}
        listings, others = self.list_all(starts, [self.acl_list_call(k) for k in self.keys])
        acls: dict[str, list[dict[str, Any]]] = {}
        for key in self.keys:
            listing, state = listings[key], self.states[key]
            if listing.failed is not None:
                raise self.refusal(listing.failed, key)
            acl = others[f"acl/{key}"]
            if not acl.ok:
                raise self.refusal(acl, key)
            view = dict(state.events) if listing.token else {}
            absorb(view, listing.items, set(self.wanted.get(key, {})))
            if listing.items or not listing.token or listing.next_token != state.sync_token:
                self.state_changed = True
            state.events, state.sync_token = view, listing.next_token
            acls[key] = [r for r in (acl.body or {}).get("items") or () if isinstance(r, dict)]
        return acls

    def plan(self) -> Plan:
        invites = {key: self.acting[key].invite for key in self.keys if key in self.acting}
        self.wanted, self.memos = wanted_events(self.agenda, self.config, invites)
        acls = self.read()
        plan = Plan()
        for key in self.keys:
            plan.changes += plan_calendar(
                key, self.wanted[key], self.states[key].events, self.policy
            )
            plan.acl += plan_acl(key, self.config.calendars[key], acls[key], self.prune_acl)
        return plan

    # ---- writing
    def run(self, *, dry_run: bool = False) -> Outcome:
        plan = self.plan()
        written: dict[str, int] = {}
        failures: list[str] = []
        if not dry_run:
            failures = self.apply(plan, written)
            if written:
                self.settle()
            if self.state_changed or written or failures:
                save_state(self.state_path, self.states, self.state_before)
            self.agenda.remember(self.memos)
        return Outcome(
            plan, written, failures, self.client.round_trips, self.client.calls, self.acting
        )

    def apply(self, plan: Plan, written: dict[str, int]) -> list[str]:
        calls: list[Call] = []
        changes: dict[str, Change] = {}
        rules: dict[str, AclChange] = {}
        for change in plan.changes:
            if change.kind not in ("unchanged", "kept"):
                key = f"{change.kind}/{change.calendar}/{change.event_id}"
                changes[key] = change
                calls.append(self.write_call(change, key))
        for rule in plan.acl:
            if rule.kind != "extra":
                key = f"acl-{rule.kind}/{rule.calendar}/{rule.rule_id}"
                rules[key] = rule
                calls.append(self.acl_call(rule, key))
        failures: list[str] = []
        taken: list[Change] = []
        try:
            answers = self.client.many(calls)
        except AuthError as exc:  # the token could not be refreshed halfway through
            return [self.cut_short(exc)]
        for key, result in sorted(answers.items()):
            if key in changes:
                change = changes[key]
                if result.status == 409 or (result.status == 412 and change.kind != "create"):
                    taken.append(change)  # the id is taken / the event changed: look again
                else:
                    failures += self.record(change, result, written)
            elif result.ok:
                written[f"acl_{rules[key].kind}"] = written.get(f"acl_{rules[key].kind}", 0) + 1
            else:
                rule = rules[key]
                failures.append(
                    f"{self.where(rule.calendar)}: ACL {rule.rule_id}: {result.describe()}"
                )
        if taken:
            failures += self.resolve(taken, written)
        return failures

    def resolve(self, changes: list[Change], written: dict[str, int]) -> list[str]:
        """Writes refused with 409 (the id is taken: an event the lists did not show, e.g. one
        deleted by hand) or 412 (changed meanwhile): fetch each event (a cancelled one too),
        decide again from what it holds, and write once more. Never left for a later run."""
        self.state_changed = True  # the views take in what the fetches show
        try:
            answers = self.client.many([self.get_call(c) for c in changes])
        except AuthError as exc:
            return [self.cut_short(exc)]
        calls: list[Call] = []
        again: dict[str, Change] = {}
        failures: list[str] = []
        for change in changes:
            result = answers[f"get/{change.calendar}/{change.event_id}"]
            if not result.ok or not isinstance(result.body, dict):
                failures.append(
                    f"{self.where(change.calendar)}: {change.agenda_id}: {change.kind} refused "
                    f"(the id is taken or the event changed) and the event cannot be read: "
                    f"{result.describe()}"
                )
                continue
            view = self.states[change.calendar].events
            absorb(view, [result.body], {change.event_id})
            found = view.get(change.event_id) or Seen.of(result.body)
            want = self.wanted.get(change.calendar, {}).get(change.event_id)
            if want is not None:
                new = decide(change.calendar, change.event_id, want, found, self.policy)
            elif found.owned and found.status != "cancelled":
                new = retire(change.calendar, change.event_id, found)
            else:
                new = Change("unchanged", change.calendar, change.event_id, change.agenda_id)
            change.kind, change.content, change.etag = new.kind, new.content, new.etag
            change.send_updates, change.note = new.send_updates, new.note
            if new.kind not in ("unchanged", "kept"):
                key = f"again/{change.calendar}/{change.event_id}"
                again[key] = change
                calls.append(self.write_call(change, key))
        try:
            answers = self.client.many(calls)
        except AuthError as exc:
            return [*failures, self.cut_short(exc)]
        for key, result in sorted(answers.items()):
            failures += self.record(again[key], result, written)
        return failures

    def cut_short(self, exc: AuthError) -> str:
        """A run whose token gave out between its writes: what was sent may be applied in
        part; the next run compares again and finishes (every decision is from content)."""
        self.state_changed = True
        for state in self.states.values():
            state.sync_token = None  # list in full next time: nothing is assumed
        return f"{exc}: the writes of this run stopped there (some may be applied)"

    def record(self, change: Change, result: Result, written: dict[str, int]) -> list[str]:
        if result.ok and isinstance(result.body, dict):
            view = self.states[change.calendar].events
            view[change.event_id] = Seen.of(result.body)
            written[change.kind] = written.get(change.kind, 0) + 1
            return []
        return [
            f"{self.where(change.calendar)}: {change.agenda_id}: {change.kind} failed: "
            f"{result.describe()}"
        ]

    def settle(self) -> None:
        """Move each sync token past this run's own writes (one batch per page, across the
        calendars), taking what the lists show into the view: the next run then lists only
        what changed after this one. A calendar that cannot be listed now is listed in full
        next time."""
        starts = {k: self.states[k].sync_token for k in self.keys if self.states[k].sync_token}
        try:
            listings, _ = self.list_all(starts)
        except AuthError:
            for key in starts:
                self.states[key].sync_token = None
            return
        for key, listing in listings.items():
            state = self.states[key]
            if listing.failed is not None:
                state.sync_token = None
                continue
            if listing.token is None:  # the token expired meanwhile: this is a full list
                state.events = {}
            absorb(state.events, listing.items, set(self.wanted.get(key, {})))
            state.sync_token = listing.next_token

    def write_call(self, change: Change, key: str) -> Call:
        calendar, subject = self.calendar_id(change.calendar), self.subject(change.calendar)
        body = change.body or {}
        send = change.send_updates
        if change.kind == "create":  # nothing to clear in a new event
            fresh = {k: v for k, v in body.items() if v is not None}
            return Call(
                key,
                lambda api: api.events().insert(calendarId=calendar, body=fresh, sendUpdates=send),
                subject=subject,
            )
        headers = {"If-Match": change.etag} if change.etag else {}
        patch = {k: v for k, v in body.items() if k != "id"}
        return Call(
            key,
            lambda api: api.events().patch(
                calendarId=calendar, eventId=change.event_id, body=patch, sendUpdates=send
            ),
            headers,
            subject,
        )

    def acl_call(self, rule: AclChange, key: str) -> Call:
        calendar, subject = self.calendar_id(rule.calendar), self.subject(rule.calendar)
        if rule.kind == "remove":
            return Call(
                key,
                lambda api: api.acl().delete(calendarId=calendar, ruleId=rule.rule_id),
                subject=subject,
            )
        scope_type, _, value = rule.rule_id.partition(":")
        body = {"role": rule.role, "scope": {"type": scope_type, "value": value}}
        return Call(
            key, lambda api: api.acl().insert(calendarId=calendar, body=body), subject=subject
        )
