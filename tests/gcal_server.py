"""A Google Calendar API v3 server on loopback, for the sync tests: it speaks the REST protocol
``google-api-python-client`` sends, keeps its state in memory, counts requests, and injects the
faults the sync must survive.

What it implements (see ../shared/GOOGLE_CALENDAR.md for the real service's behaviour):

* calendars.get; events insert / get / patch / update / delete / list (paging,
  ``privateExtendedProperty`` filters, ``showDeleted``, sync tokens with 410 for an unknown one
  and 400 when combined with a filter); ACL list / insert / delete;
* client-chosen ids (base32hex, 5-1024 characters; anything else is 400); inserting an id that
  exists, cancelled or not, is 409; a delete only cancels (the id stays taken);
* ETags on every event; ``If-Match`` on patch/update/delete gives 412 when the event changed;
  ``If-None-Match`` on get gives 304; patches merge ``extendedProperties.private`` key by key;
* the batch endpoint (``/batch/calendar/v3`` and ``/batch``) with multipart/mixed bodies, each
  part answered (and counted) on its own;
* where Google is documented to be stricter, this server is too: a cancelled event appears in
  lists with only ``kind``, ``etag``, ``id`` and ``status`` (Google promises no more), so a
  filtered list never shows it (``full_cancelled = True`` lists it whole); deleted events
  eventually disappear from every list (``purge()``), while ``get`` still returns them to the
  organiser and their id stays taken; sync tokens expire (``expire_tokens()``: 410); pages
  hold at most ``page_cap`` events (250, Google's default) whatever ``maxResults`` asks;
  a batch answer's ``Content-ID`` is folded when long, as the email generator the client uses
  folds it (RFC 5322 folding at 78 characters);
* faults: the next N calls answered 403 ``rateLimitExceeded`` or 429 or 503 (also inside a
  batch, per part), "everything after the N-th request fails" (a crash halfway), and
  ``commit_then_fail``: the next N writes are applied, then answered 503 (a lost answer);
* counters: HTTP round trips, API calls (a batch part counts as one call), and the calls by kind;
* who acts: an OAuth token endpoint (``/token``) that takes a service account's signed JWT
  (checked against the account's registered public key and audience) and issues an access token
  for the account itself or, with a ``sub`` claim, for the delegated user; every write is
  recorded with the principal it acted as (a batch part's own Authorization counts), and a
  service account acting as itself is refused attendees (403 forbiddenForServiceAccounts), as
  Google does;
* test control (``/_test/...``, not part of the API, for tests that reach the server over a
  network, e.g. from a Molecule test host): ``GET /_test/state`` (calendars, events, ACLs,
  counters), ``POST /_test/reset`` (counters back to zero) and ``POST /_test/purge``.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import itertools
import json
import re
import threading
import urllib.parse
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)
ID = re.compile(r"^[a-v0-9]{5,1024}$")
PAGE = 250


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, reason: str, message: str) -> Reply:
    return Reply(
        status,
        {
            "error": {
                "code": status,
                "message": message,
                "errors": [{"domain": "calendar", "reason": reason, "message": message}],
            }
        },
    )


@dataclass
class Request:
    calendar: Calendar
    method: str
    rest: list[str]  # the path after /calendars/<id>
    query: dict[str, list[str]]
    headers: dict[str, str]
    payload: Any
    principal: str = ""


class Calendar:
    def __init__(self, calendar_id: str):
        self.id = calendar_id
        self.events: dict[str, dict[str, Any]] = {}
        self.acl: dict[str, dict[str, Any]] = {}
        self.changes: list[tuple[int, str]] = []  # (sequence number, event id), append-only
        self.purged: set[str] = set()  # deleted events no list shows any more
        self.token_floor = 0  # sync tokens older than this are expired (410)


class FakeCalendarService:
    """The state and the API; :class:`Server` puts it on loopback."""

    def __init__(self) -> None:
        self.calendars: dict[str, Calendar] = {}
        self.lock = threading.Lock()
        self.clock = itertools.count(1)
        self.round_trips = 0
        self.calls = 0
        self.kinds: Counter[str] = Counter()
        self.send_updates: list[tuple[str, str, str | None]] = []
        self.rate_limited = 0  # the next N calls get 403 rateLimitExceeded
        self.too_many = 0  # ... or 429
        self.unavailable = 0  # ... or 503
        self.fail_after: int | None = None  # every request after the N-th fails (500)
        self.commit_then_fail = 0  # the next N writes are applied, then answered 503
        self.full_cancelled = False  # list cancelled events whole (Google may not)
        self.page_cap = PAGE  # at most this many events per page, whatever maxResults says
        self.forbidden = 0  # the next N calls get 403 forbidden (not a rate limit)
        self.unauthorized = 0  # ... or 401 (the access token refused)
        self.html_pages = 0  # the next N HTTP requests get a 501 HTML page (a proxy's)
        self.garbled_batches = 0  # the next N batches with a write: applied, answered unreadably
        self.faults_on = {"GET", "POST", "PATCH", "PUT", "DELETE"}  # methods the faults hit
        self.page_loop = False  # every page says "next: the first page again" (a broken server)
        self.service_accounts: dict[str, str] = {}  # e-mail -> public key (PEM)
        self.tokens: dict[str, str] = {}  # access token -> principal
        self.token_requests = 0
        self.acted: list[tuple[str, str, str]] = []  # (calendar id, kind, principal) per write

    # ---- set-up for tests ------------------------------------------------------------------
    def add_calendar(self, calendar_id: str) -> Calendar:
        calendar = Calendar(calendar_id)
        self.calendars[calendar_id] = calendar
        return calendar

    def reset_counters(self) -> None:
        self.round_trips = self.calls = self.token_requests = 0
        self.kinds.clear()
        self.send_updates.clear()
        self.acted.clear()

    def add_service_account(self, email: str, public_pem: str) -> None:
        self.service_accounts[email] = public_pem

    def purge(self) -> None:
        """Deleted (cancelled) events disappear from every list, as Google's do after a while;
        ``get`` still returns them and their ids stay taken."""
        with self.lock:
            for calendar in self.calendars.values():
                calendar.purged |= {
                    gid for gid, e in calendar.events.items() if e.get("status") == "cancelled"
                }

    def expire_tokens(self) -> None:
        """Every sync token given out so far is answered 410 Gone from now on."""
        with self.lock:
            for calendar in self.calendars.values():
                calendar.token_floor = calendar.changes[-1][0] if calendar.changes else 0

    def hand_edit(self, calendar_id: str, event_id: str, **fields: Any) -> None:
        """A change made in the web UI: fields replaced, a new etag."""
        with self.lock:
            calendar = self.calendars[calendar_id]
            calendar.events[event_id].update(copy.deepcopy(fields))
            self.stamp(calendar, calendar.events[event_id])

    def hand_delete(self, calendar_id: str, event_id: str) -> None:
        """A deletion in the web UI: the event is cancelled (its id stays taken)."""
        with self.lock:
            calendar = self.calendars[calendar_id]
            calendar.events[event_id]["status"] = "cancelled"
            self.stamp(calendar, calendar.events[event_id])

    # ---- the token endpoint ----------------------------------------------------------------
    def token(self, body: bytes) -> Reply:
        """RFC 7523 JWT bearer grant, as google-auth's service-account credentials send it (the
        assertion's audience is Google's token endpoint whatever ``token_uri`` says)."""
        from google.auth import jwt  # noqa: PLC0415

        self.token_requests += 1
        form = urllib.parse.parse_qs(body.decode())
        if first(form, "grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return Reply(400, {"error": "unsupported_grant_type"})
        assertion = first(form, "assertion") or ""
        try:
            claims = jwt.decode(assertion, verify=False)  # type: ignore[no-untyped-call]
            pem = self.service_accounts[claims["iss"]]
            claims = jwt.decode(  # type: ignore[no-untyped-call]
                assertion, certs=pem, audience=GOOGLE_TOKEN_AUDIENCE
            )
        except (KeyError, ValueError) as exc:
            return Reply(400, {"error": "invalid_grant", "error_description": str(exc)[:80]})
        with self.lock:
            access = f"ya29.local-{len(self.tokens) + 1}"
            self.tokens[access] = claims.get("sub") or f"sa:{claims['iss']}"
        return Reply(200, {"access_token": access, "expires_in": 3600, "token_type": "Bearer"})

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "calendars": {
                    c.id: {"events": copy.deepcopy(c.events), "acl": copy.deepcopy(c.acl)}
                    for c in self.calendars.values()
                },
                "round_trips": self.round_trips,
                "calls": self.calls,
                "writes": self.writes,
                "kinds": dict(self.kinds),
                "acted": list(self.acted),
            }

    def principal(self, authorization: str) -> str:
        token = authorization.removeprefix("Bearer ").strip()
        return self.tokens.get(token, f"token:{token}")

    @property
    def writes(self) -> int:
        return sum(n for kind, n in self.kinds.items() if kind.split(".")[-1] in WRITES)

    # ---- one API call ----------------------------------------------------------------------
    def injected(self) -> Reply | None:
        """The fault due for this call, if any."""
        for name, reply in (
            ("rate_limited", error(403, "rateLimitExceeded", "Rate Limit Exceeded")),
            ("too_many", error(429, "rateLimitExceeded", "Too Many Requests")),
            ("unavailable", error(503, "backendError", "Backend Error")),
            ("forbidden", error(403, "forbidden", "You need writer access to this calendar.")),
            ("unauthorized", error(401, "authError", "Invalid Credentials")),
        ):
            if getattr(self, name):
                setattr(self, name, getattr(self, name) - 1)
                return reply
        return None

    def call(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        self.calls += 1
        fault = self.injected() if method in self.faults_on else None
        if fault is not None:
            return fault
        url = urllib.parse.urlsplit(target)
        path = re.sub(r"^/calendar/v3", "", url.path)
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        try:
            payload = json.loads(body) if body else None
        except json.JSONDecodeError:
            return error(400, "parseError", "Parse Error")
        calendar = self.calendars.get(parts[1]) if len(parts) > 1 else None
        if parts[0] != "calendars" or calendar is None:
            return error(404, "notFound", "Not Found")
        request = Request(
            calendar,
            method,
            parts[2:],
            urllib.parse.parse_qs(url.query),
            headers,
            payload,
            self.principal(headers.get("authorization", "")),
        )
        with self.lock:
            return self.route(request)

    def route(self, request: Request) -> Reply:
        rest, method = request.rest, request.method
        if not rest:
            self.kinds["calendars.get"] += 1
            return Reply(200, {"kind": "calendar#calendar", "id": request.calendar.id})
        handler = None
        if rest[0] == "acl":
            handler = self.acl
        elif rest[0] == "events" and len(rest) == 1:
            handler = {"GET": self.list_events, "POST": self.insert}.get(method)
        elif rest[0] == "events" and len(rest) == 2:
            handler = {
                "GET": self.get,
                "PATCH": self.change,
                "PUT": self.change,
                "DELETE": self.delete,
            }.get(method)
        if handler is None:
            return error(405, "methodNotAllowed", f"{method} not allowed here")
        reply = handler(request)
        if method != "GET" and rest[0] == "events" and reply.status < 300 and self.commit_then_fail:
            self.commit_then_fail -= 1  # applied, but the answer is lost on the way back
            return error(503, "backendError", "The service is currently unavailable.")
        return reply

    # ---- events ----------------------------------------------------------------------------
    def stamp(self, calendar: Calendar, event: dict[str, Any]) -> None:
        tick = next(self.clock)
        event["etag"] = f'"{tick}"'
        event["updated"] = f"2026-01-01T00:00:{tick % 60:02d}.{tick:06d}Z"
        calendar.changes.append((tick, event["id"]))
        calendar.purged.discard(event["id"])

    def refused(self, request: Request) -> Reply | None:
        """Google refuses attendees from a service account acting as itself."""
        payload = request.payload
        if (
            request.principal.startswith("sa:")
            and isinstance(payload, dict)
            and payload.get("attendees")
        ):
            return error(
                403,
                "forbiddenForServiceAccounts",
                "Service accounts cannot invite attendees without Domain-Wide Delegation of "
                "Authority.",
            )
        return None

    def insert(self, request: Request) -> Reply:
        calendar, query, payload = request.calendar, request.query, request.payload
        self.kinds["events.insert"] += 1
        if not isinstance(payload, dict):
            return error(400, "required", "Missing event")
        refused = self.refused(request)
        if refused is not None:
            return refused
        event_id = payload.get("id")
        if event_id is None:
            event_id = uuid.uuid4().hex[:26].translate(str.maketrans("wxyz", "0123"))
        if not isinstance(event_id, str) or not ID.match(event_id):
            return error(400, "invalid", "Invalid resource id value.")
        if event_id in calendar.events:
            return error(409, "duplicate", "The requested identifier already exists.")
        event = {**copy.deepcopy(payload), "id": event_id, "kind": "calendar#event"}
        event.setdefault("status", "confirmed")
        self.stamp(calendar, event)
        calendar.events[event_id] = event
        self.send_updates.append(("insert", event_id, first(query, "sendUpdates")))
        self.acted.append((calendar.id, "insert", request.principal))
        return Reply(200, copy.deepcopy(event))

    def get(self, request: Request) -> Reply:
        self.kinds["events.get"] += 1
        event = request.calendar.events.get(request.rest[1])
        if event is None:
            return error(404, "notFound", "Not Found")
        if request.headers.get("if-none-match") == event["etag"]:
            return Reply(304)
        return Reply(200, copy.deepcopy(event))

    def change(self, request: Request) -> Reply:
        calendar, event_id, method = request.calendar, request.rest[1], request.method
        query, headers, payload = request.query, request.headers, request.payload
        kind = "events.patch" if method == "PATCH" else "events.update"
        self.kinds[kind] += 1
        event = calendar.events.get(event_id)
        if event is None:
            return error(404, "notFound", "Not Found")
        if not isinstance(payload, dict):
            return error(400, "required", "Missing event")
        refused = self.refused(request)
        if refused is not None:
            return refused
        match = headers.get("if-match")
        if match is not None and match != event["etag"]:
            return error(412, "conditionNotMet", "Precondition Failed")
        if method == "PUT":
            changed = {**copy.deepcopy(payload), "id": event_id, "kind": "calendar#event"}
            changed.setdefault("status", "confirmed")
        else:
            changed = merge(event, payload)
        self.stamp(calendar, changed)
        calendar.events[event_id] = changed
        self.send_updates.append((kind.split(".")[1], event_id, first(query, "sendUpdates")))
        self.acted.append((calendar.id, kind.split(".")[1], request.principal))
        return Reply(200, copy.deepcopy(changed))

    def delete(self, request: Request) -> Reply:
        calendar, event_id = request.calendar, request.rest[1]
        query, headers = request.query, request.headers
        self.kinds["events.delete"] += 1
        event = calendar.events.get(event_id)
        if event is None or event.get("status") == "cancelled":
            return error(410 if event else 404, "deleted", "Resource has been deleted")
        match = headers.get("if-match")
        if match is not None and match != event["etag"]:
            return error(412, "conditionNotMet", "Precondition Failed")
        event["status"] = "cancelled"
        self.stamp(calendar, event)
        self.send_updates.append(("delete", event_id, first(query, "sendUpdates")))
        return Reply(204)

    def list_events(self, request: Request) -> Reply:
        calendar, query = request.calendar, request.query
        self.kinds["events.list"] += 1
        filters = query.get("privateExtendedProperty", [])
        sync = first(query, "syncToken")
        if sync is not None and filters:
            return error(400, "invalid", "syncToken cannot be combined with filters")
        page = int(first(query, "pageToken") or 0)
        size = min(int(first(query, "maxResults") or PAGE), 2500, self.page_cap)
        if sync is not None:
            if not sync.startswith("sync-") or int(sync.removeprefix("sync-")) < (
                calendar.token_floor
            ):
                return error(410, "fullSyncRequired", "Sync token is no longer valid")
            since = int(sync.removeprefix("sync-"))
            changed = sorted({e for tick, e in calendar.changes if tick > since})
            items = [self.listed(calendar.events[e]) for e in changed if e not in calendar.purged]
        else:
            show_deleted = first(query, "showDeleted") == "true"
            items = [
                self.listed(e)
                for gid, e in sorted(calendar.events.items())
                if gid not in calendar.purged and (show_deleted or e.get("status") != "cancelled")
            ]
            items = [e for e in items if matches(e, filters)]
        chunk = items[page : page + size]
        reply: dict[str, Any] = {
            "kind": "calendar#events",
            "items": copy.deepcopy(chunk),
        }
        if self.page_loop:
            reply["nextPageToken"] = "0"
        elif page + size < len(items):
            reply["nextPageToken"] = str(page + size)
        else:
            latest = calendar.changes[-1][0] if calendar.changes else 0
            reply["nextSyncToken"] = f"sync-{latest}"
        return Reply(200, reply)

    def listed(self, event: dict[str, Any]) -> dict[str, Any]:
        """An event as a list shows it: a cancelled one bare, unless ``full_cancelled``."""
        if event.get("status") == "cancelled" and not self.full_cancelled:
            return {k: event[k] for k in ("kind", "etag", "id", "status") if k in event}
        return event

    # ---- ACL -------------------------------------------------------------------------------
    def acl(self, request: Request) -> Reply:
        calendar, method, payload = request.calendar, request.method, request.payload
        rest = request.rest[1:]
        if not rest and method == "GET":
            self.kinds["acl.list"] += 1
            return Reply(200, {"kind": "calendar#acl", "items": list(calendar.acl.values())})
        if not rest and method == "POST":
            self.kinds["acl.insert"] += 1
            scope = (payload or {}).get("scope") or {}
            if payload.get("role") not in ("none", "freeBusyReader", "reader", "writer", "owner"):
                return error(400, "invalid", "Invalid role")
            rule_id = f"{scope.get('type')}:{scope.get('value')}"
            rule = {"kind": "calendar#aclRule", "id": rule_id, **payload, "etag": '"1"'}
            calendar.acl[rule_id] = rule
            self.acted.append((calendar.id, "acl.insert", request.principal))
            return Reply(200, rule)
        if len(rest) == 1 and method == "DELETE":
            self.kinds["acl.delete"] += 1
            if calendar.acl.pop(rest[0], None) is None:
                return error(404, "notFound", "Not Found")
            return Reply(204)
        return error(405, "methodNotAllowed", f"{method} not allowed here")

    # ---- batch -----------------------------------------------------------------------------
    def batch(self, content_type: str, body: bytes, authorization: str) -> tuple[bytes, str]:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        boundary = f"batch_{uuid.uuid4().hex}"
        out: list[bytes] = []
        for part in message.iter_parts():
            content_id = str(part.get("Content-ID", "")).strip()
            inner = part.get_payload(decode=True)
            if not isinstance(inner, bytes):
                inner = b""
            head, _, inner_body = inner.replace(b"\r\n", b"\n").partition(b"\n\n")
            lines = head.decode().split("\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if ":" in line)
            }
            headers.setdefault("authorization", authorization)  # the outer one, unless its own
            reply = self.call(method, target, headers, inner_body.strip())
            text = json.dumps(reply.body) if reply.body is not None else ""
            response_id = content_id.replace("<", "<response-", 1) if content_id else ""
            folded = email.policy.compat32.fold("Content-ID", response_id).replace("\n", "\r\n")
            out.append(
                (
                    f"--{boundary}\r\nContent-Type: application/http\r\n"
                    f"{folded}\r\n"
                    f"HTTP/1.1 {reply.status} {STATUS.get(reply.status, 'Status')}\r\n"
                    f"Content-Type: application/json; charset=UTF-8\r\n"
                    f"Content-Length: {len(text.encode())}\r\n\r\n{text}\r\n"
                ).encode()
            )
        out.append(f"--{boundary}--\r\n".encode())
        return b"".join(out), f"multipart/mixed; boundary={boundary}"


WRITES = {"insert", "patch", "update", "delete"}
HTML_501 = (
    "<!DOCTYPE html>\n<html><head><title>501 Not Implemented</title>"
    "<style>body { font-family: sans-serif }</style></head>\n<body><h1>Not Implemented</h1>\n"
    "<p>The proxy does not support this method &amp; path.</p></body></html>\n"
)
STATUS = {
    200: "OK",
    204: "No Content",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def matches(event: dict[str, Any], filters: list[str]) -> bool:
    private = (event.get("extendedProperties") or {}).get("private") or {}
    for item in filters:
        key, _, value = item.partition("=")
        if private.get(key) != value:
            return False
    return True


def merge(event: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """PATCH semantics: fields replaced, a null clears one; extendedProperties.private merged
    key by key."""
    changed = copy.deepcopy(event)
    for key, value in patch.items():
        if value is None:
            changed.pop(key, None)
        elif key == "extendedProperties" and isinstance(value, dict):
            target = changed.setdefault("extendedProperties", {})
            for scope, values in value.items():
                target.setdefault(scope, {}).update(values or {})
        else:
            changed[key] = copy.deepcopy(value)
    return changed


class Server:
    """The service on ``http://127.0.0.1:<port>/``; use as a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.service = FakeCalendarService()
        service = self.service

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                """Quiet."""

            def handle_any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path == "/token" and self.command == "POST":  # not an API round trip
                    self.answer(service.token(body))
                    return
                if self.path.startswith("/_test/"):
                    self.control()
                    return
                service.round_trips += 1
                if service.fail_after is not None and service.round_trips > service.fail_after:
                    self.answer(error(500, "backendError", "injected failure"))
                    return
                if service.html_pages:
                    service.html_pages -= 1
                    self.page(501, HTML_501)
                    return
                if urllib.parse.urlsplit(self.path).path.rstrip("/") in (
                    "/batch/calendar/v3",
                    "/batch",
                ):
                    data, content_type = service.batch(
                        self.headers.get("Content-Type", ""),
                        body,
                        self.headers.get("Authorization", ""),
                    )
                    writes = re.search(rb"^(POST|PATCH|PUT|DELETE) /", body, re.MULTILINE)
                    if service.garbled_batches and writes:  # applied, the answer unreadable
                        service.garbled_batches -= 1
                        data, content_type = data[: len(data) // 2], "text/plain"
                    self.send_response(200)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                self.answer(service.call(self.command, self.path, headers, body))

            def control(self) -> None:
                if self.path == "/_test/state" and self.command == "GET":
                    self.answer(Reply(200, service.snapshot()))
                elif self.path == "/_test/reset" and self.command == "POST":
                    service.reset_counters()
                    self.answer(Reply(200, {}))
                elif self.path == "/_test/purge" and self.command == "POST":
                    service.purge()
                    self.answer(Reply(200, {}))
                else:
                    self.answer(error(404, "notFound", "no such test control"))

            def page(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def answer(self, reply: Reply) -> None:
                data = json.dumps(reply.body).encode() if reply.body is not None else b""
                self.send_response(reply.status)
                if data:
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = handle_any

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"http://{name}:{port}/"

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main(argv: list[str] | None = None) -> None:
    """Run the server on its own (standard library only), for tests on other hosts: Molecule
    copies this file to a test host and starts it as a service. ``--hooks-port`` adds a webhook
    receiver that appends each POSTed JSON body to ``--hooks-file`` (one line each)."""
    import argparse  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8085)
    parser.add_argument("--calendar", action="append", default=[], help="a calendar id to serve")
    parser.add_argument("--hooks-port", type=int)
    parser.add_argument("--hooks-file", type=Path, default=Path("hooks.jsonl"))
    args = parser.parse_args(argv)
    server = Server(args.host, args.port)
    for calendar_id in args.calendar:
        server.service.add_calendar(calendar_id)
    if args.hooks_port:
        hooks_file: Path = args.hooks_file

        class Hooks(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with hooks_file.open("a", encoding="utf-8") as out:
                    out.write(json.dumps({"path": self.path, "body": json.loads(body)}) + "\n")
                self.send_response(204)
                self.end_headers()

        hooks = ThreadingHTTPServer((args.host, args.hooks_port), Hooks)
        threading.Thread(target=hooks.serve_forever, daemon=True).start()
    server.httpd.serve_forever()


if __name__ == "__main__":
    main()
