"""One-way sync of the agenda to Google Calendar: each calendar of ``calendars.yaml`` with a
``google_calendar_id`` is made to mirror the agenda.

Safe to re-run, including after a crash halfway:

* every event this sync writes has a deterministic id (base32hex of a hash of the calendar key
  and the agenda id), so a re-run finds it instead of duplicating it; Google refuses a used id
  (409) even after a delete, so events are never deleted: they are *cancelled*, and patched back
  if the item returns;
* every event carries ``extendedProperties.private``: the owner tag, the agenda id, the stage and
  a hash of its content. An event whose hash matches costs no write; an event without the owner
  tag (made by hand in the calendar) is never read, changed or cancelled;
* all reads happen first (one batch: each calendar's events and ACL); a calendar that does not
  exist stops the run before anything is written;
* a calendar's state (sync token, the etag of each event as last seen) is kept in the state file,
  so a re-sync lists only what changed since (a no-op re-sync is one read per calendar plus its
  ACL) and an event changed by hand since (its etag moved) is recognised: overwritten, or kept and
  reported, as the policy says. Writes carry ``If-Match``; a 412 is such an edit, too.

Invitations: attendees (invitees with an e-mail) are on the event only from ``dipublikasikan``
on; ``sendUpdates=all`` when an item reaches that stage and when a published item's time, place
or status changes; ``none`` for everything else.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bangka_ops.agenda import ics
from bangka_ops.agenda.gcal import Call, GoogleCalendar, Result
from bangka_ops.agenda.model import CANCELLED, TENTATIVE, Config, Event
from bangka_ops.agenda.repository import Agenda

OWNER_KEY = "protocloudOwner"
OWNER = "bangka-agenda"
ACL_ROLES = (("readers", "reader"), ("writers", "writer"), ("free_busy_readers", "freeBusyReader"))
POLICIES = ("overwrite", "keep")


def event_id(calendar_key: str, agenda_id: str) -> str:
    """A Google event id: base32hex (a-v, 0-9) of a hash of the calendar and the agenda id."""
    digest = hashlib.sha256(f"{calendar_key}\0{agenda_id}".encode()).digest()
    return base64.b32hexencode(digest).decode().rstrip("=").lower()


def content_hash(body: dict[str, Any]) -> str:
    data = {k: v for k, v in body.items() if k not in ("id", "extendedProperties")}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32]


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
    data = ics.data_of(event)
    category = config.categories[event.category]
    published = event.status == "dipublikasikan" or (
        event.status == CANCELLED and ics.ever_published(event)
    )
    body: dict[str, Any] = {
        "id": event_id(calendar_key, event.id),
        "summary": event.title,
        "location": config.location(event.venue, event.room),
        "description": ics.description(event, config),
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
    if "google_color_id" in category:
        body["colorId"] = str(category["google_color_id"])
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
            "hash": content_hash(body),
            "significant": significant_hash(body),
        }
    }
    return body


def significant_hash(body: dict[str, Any]) -> str:
    """What attendees must be told about when it changes: time, place, status."""
    data = [body.get(k) for k in ("start", "end", "location", "status", "recurrence")]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


# ---- state ----------------------------------------------------------------------------------


@dataclass
class Seen:
    """What the sync knows of one of its events in a calendar."""

    etag: str
    status: str
    hash: str
    stage: str
    significant: str
    agenda_id: str
    attendees: bool

    @classmethod
    def of(cls, item: dict[str, Any]) -> Seen:
        private = (item.get("extendedProperties") or {}).get("private") or {}
        return cls(
            etag=str(item.get("etag", "")),
            status=str(item.get("status", "confirmed")),
            hash=str(private.get("hash", "")),
            stage=str(private.get("stage", "")),
            significant=str(private.get("significant", "")),
            agenda_id=str(private.get("agendaId", "")),
            attendees=bool(item.get("attendees")),
        )


@dataclass
class CalendarState:
    calendar_id: str
    sync_token: str | None = None
    events: dict[str, Seen] = field(default_factory=dict)


def load_state(path: Path) -> dict[str, CalendarState]:
    """The state file; unreadable or foreign content means starting from a full list."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        states = {}
        for key, item in (raw.get("calendars") or {}).items():
            states[key] = CalendarState(
                str(item["calendar_id"]),
                item.get("sync_token"),
                {gid: Seen(**seen) for gid, seen in (item.get("events") or {}).items()},
            )
        return states
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def save_state(path: Path, states: dict[str, CalendarState]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "format": "protocloud-sync-state-v1",
        "calendars": {
            key: {
                "calendar_id": s.calendar_id,
                "sync_token": s.sync_token,
                "events": {gid: vars(seen) for gid, seen in sorted(s.events.items())},
            }
            for key, s in sorted(states.items())
        },
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sync-state-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
    os.replace(tmp, path)


# ---- planning ------------------------------------------------------------------------------


@dataclass
class Change:
    kind: str  # create, update, cancel, revive, unchanged, kept (hand-edited, policy keep)
    calendar: str
    event_id: str
    agenda_id: str
    send_updates: str = "none"
    body: dict[str, Any] | None = None
    etag: str | None = None
    note: str = ""


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


def plan_calendar(
    key: str,
    wanted: dict[str, dict[str, Any]],
    remote: dict[str, Seen],
    edited: set[str],
    policy: str,
) -> list[Change]:
    """The changes that make one calendar mirror the agenda."""
    changes = []
    for gid, body in sorted(wanted.items()):
        ours = body["extendedProperties"]["private"]
        found = remote.get(gid)
        if found is None:
            if body["status"] != "cancelled":  # cancelled before it ever got here: nothing
                send = "all" if body["attendees"] else "none"
                changes.append(Change("create", key, gid, ours["agendaId"], send, body))
            continue
        if found.hash == ours["hash"] and gid not in edited:
            changes.append(Change("unchanged", key, gid, ours["agendaId"], etag=found.etag))
            continue
        if gid in edited and policy == "keep":
            changes.append(
                Change(
                    "kept",
                    key,
                    gid,
                    ours["agendaId"],
                    etag=found.etag,
                    note="changed in the calendar by hand: kept and reported (policy keep)",
                )
            )
            continue
        reached = ours["stage"] == "dipublikasikan" and found.stage != "dipublikasikan"
        moved = found.significant != ours["significant"] and found.stage in (
            "dipublikasikan",
            CANCELLED,
        )
        send = "all" if body["attendees"] and (reached or moved) else "none"
        if body["status"] == "cancelled":
            kind = "cancel" if found.status != "cancelled" else "update"
        else:
            kind = "revive" if found.status == "cancelled" else "update"
        note = "changed in the calendar by hand: overwritten" if gid in edited else ""
        changes.append(Change(kind, key, gid, ours["agendaId"], send, body, found.etag, note))
    for gid, found in sorted(remote.items()):
        if gid in wanted or found.status == "cancelled":
            continue
        send = "all" if found.stage == "dipublikasikan" and found.attendees else "none"
        gone = {
            "status": "cancelled",
            "extendedProperties": {"private": {"stage": CANCELLED, "hash": "removed"}},
        }
        changes.append(
            Change(
                "cancel",
                key,
                gid,
                found.agenda_id,
                send,
                gone,
                found.etag,
                "no longer in this calendar (file removed or item moved)",
            )
        )
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
    pass


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
            raise SyncError("the agenda's configuration is not valid")
        self.agenda = agenda
        self.config: Config = agenda.config
        self.client = client
        self.state_path = state_path
        self.policy = policy
        self.prune_acl = prune_acl
        self.states = load_state(state_path)
        self.keys = sorted(
            k for k, c in self.config.calendars.items() if c.get("google_calendar_id")
        )
        self.acting = acting or {k: Acting(None, "the account itself", True) for k in self.keys}
        refused = writer_errors(self.config, self.keys, allowed_writers or [])
        if refused:
            raise SyncError("; ".join(refused) + ": nothing was written")
        for key in self.keys:
            state = self.states.get(key)
            if state is None or state.calendar_id != self.calendar_id(key):
                self.states[key] = CalendarState(self.calendar_id(key))

    def subject(self, key: str) -> str | None:
        acting = self.acting.get(key)
        return acting.subject if acting else None

    def calendar_id(self, key: str) -> str:
        return str(self.config.calendars[key]["google_calendar_id"])

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

    def check(self, result: Result, key: str) -> Result:
        if result.status == 404:
            raise SyncError(
                f"calendar {key!r} ({self.calendar_id(key)}) does not exist or is not shared "
                "with the sync account: nothing was written"
            )
        if not result.ok:
            raise SyncError(f"calendar {key!r}: {result.status} {result.reason} {result.message}")
        return result

    def pages(
        self, key: str, token: str | None, first: Result
    ) -> tuple[list[dict[str, Any]], str | None]:
        """All items of a list (following pages) and the new sync token."""
        page = self.check(first, key).body
        items = list(page.get("items", []))
        while page.get("nextPageToken"):
            page = self.check(
                self.client.one(self.list_call(key, token, page["nextPageToken"])), key
            ).body
            items += page.get("items", [])
        return items, page.get("nextSyncToken")

    def read(
        self,
    ) -> tuple[dict[str, dict[str, Seen]], dict[str, set[str]], dict[str, list[dict[str, Any]]]]:
        """Each calendar's events as far as the sync owns them, the ones edited by hand since
        the last run, and its ACL: one batch for all calendars, then any further pages."""
        calls = []
        for key in self.keys:
            calls.append(self.list_call(key, self.states[key].sync_token))
            calls.append(self.acl_list_call(key))
        self.tokens_before = {key: self.states[key].sync_token for key in self.keys}
        answers = self.client.many(calls)
        remote: dict[str, dict[str, Seen]] = {}
        edited: dict[str, set[str]] = {}
        acls: dict[str, list[dict[str, Any]]] = {}
        for key in self.keys:
            state = self.states[key]
            first = answers[f"events/{key}"]
            if first.status == 410:  # the sync token expired: list everything again
                state.sync_token = None
                first = self.client.one(self.list_call(key, None))
            token = state.sync_token
            items, state.sync_token = self.pages(key, token, first)
            owned = [
                i
                for i in items
                if ((i.get("extendedProperties") or {}).get("private") or {}).get(OWNER_KEY)
                == OWNER
            ]
            view = dict(state.events) if token else {}
            edited[key] = {
                i["id"]
                for i in owned
                if i["id"] in state.events and state.events[i["id"]].etag != i.get("etag")
            }
            view.update({i["id"]: Seen.of(i) for i in owned})
            remote[key] = view
            acls[key] = list(self.check(answers[f"acl/{key}"], key).body.get("items", []))
        return remote, edited, acls

    def plan(self) -> Plan:
        remote, edited, acls = self.read()
        self.remote = remote
        invites = {key: self.acting[key].invite for key in self.keys if key in self.acting}
        wanted = desired_events(self.agenda, self.config, invites)
        plan = Plan()
        for key in self.keys:
            plan.changes += plan_calendar(key, wanted[key], remote[key], edited[key], self.policy)
            plan.acl += plan_acl(key, self.config.calendars[key], acls[key], self.prune_acl)
        return plan

    # ---- writing
    def run(self, *, dry_run: bool = False) -> Outcome:
        plan = self.plan()
        written: dict[str, int] = {}
        failures: list[str] = []
        if not dry_run:
            kept = {(c.calendar, c.event_id) for c in plan.changes if c.kind == "kept"}
            for key in self.keys:  # what the reads found is now known...
                before = self.states[key].events
                self.states[key].events = dict(self.remote[key])
                for calendar, gid in kept:  # ...except a kept hand edit stays one: listed
                    if calendar == key and gid in before:  # again next time, reported again
                        self.states[key].events[gid] = before[gid]
                        self.states[key].sync_token = self.tokens_before[key]
            failures = self.apply(plan, written)
            if written:
                self.settle()
            save_state(self.state_path, self.states)
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
        failures = []
        for key, result in sorted(self.client.many(calls).items()):
            if key in changes:
                failures += self.record(changes[key], result, written)
            elif result.ok:
                written[f"acl_{rules[key].kind}"] = written.get(f"acl_{rules[key].kind}", 0) + 1
            else:
                rule = rules[key]
                failures.append(
                    f"{rule.calendar}: ACL {rule.rule_id}: {result.status} {result.reason}"
                )
        return failures

    def record(self, change: Change, result: Result, written: dict[str, int]) -> list[str]:
        state = self.states[change.calendar]
        if result.ok:
            state.events[change.event_id] = Seen.of(result.body)
            written[change.kind] = written.get(change.kind, 0) + 1
            return []
        state.sync_token = None  # compare everything again next time
        if result.status == 409:
            return [
                f"{change.calendar}: {change.agenda_id}: already exists (an earlier run "
                "crashed before saving its state); the next run adopts it"
            ]
        if result.status == 412:
            return [
                f"{change.calendar}: {change.agenda_id}: changed in the calendar meanwhile "
                "(412); the next run compares again"
            ]
        return [
            f"{change.calendar}: {change.agenda_id}: {change.kind} failed: "
            f"{result.status} {result.reason} {result.message}"
        ]

    def settle(self) -> None:
        """Move each sync token past this run's own writes (one batch), so the next run lists
        only what changed after it; an event someone else changed meanwhile keeps the etag
        this run saw, so the next run notices."""
        keys = [k for k in self.keys if self.states[k].sync_token]
        answers = self.client.many([self.list_call(k, self.states[k].sync_token) for k in keys])
        for key in keys:
            state = self.states[key]
            first = answers[f"events/{key}"]
            if not first.ok:
                state.sync_token = None
                continue
            items, token = self.pages(key, state.sync_token, first)
            for item in items:
                known = state.events.get(item["id"])
                if known is not None and known.etag != item.get("etag"):
                    break
            else:
                state.sync_token = token

    def write_call(self, change: Change, key: str) -> Call:
        calendar, subject = self.calendar_id(change.calendar), self.subject(change.calendar)
        body = change.body or {}
        send = change.send_updates
        if change.kind == "create":
            return Call(
                key,
                lambda api: api.events().insert(calendarId=calendar, body=body, sendUpdates=send),
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
