"""The edge to Google Calendar: the API client (google-api-python-client, static discovery),
credentials, batches of at most :data:`MAX_BATCH` calls with backoff, and request counting.

Everything Google-specific the sync needs goes through :class:`GoogleCalendar`; the planner in
:mod:`sync` works with plain dictionaries. See ``../shared/GOOGLE_CALENDAR.md`` for the service's
behaviour this relies on (batch URI not taken from ``api_endpoint``, 409 on a used id, ...).
"""

from __future__ import annotations

import html
import json
import os
import random
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httplib2
from googleapiclient.discovery import build
from googleapiclient.errors import BatchError, HttpError
from googleapiclient.http import BatchHttpRequest, HttpRequest

SCOPES = ["https://www.googleapis.com/auth/calendar"]
DEFAULT_ENDPOINT = "https://www.googleapis.com/"
MAX_BATCH = 50
RETRIED = {429, 500, 502, 503, 504}
RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
ENV_CREDENTIALS = "PROTOCLOUD_GOOGLE_CREDENTIALS"


class GoogleError(Exception):
    """A call that failed for good: status, Google's reason and message."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason


class AuthError(Exception):
    """No access token could be had (a refused or unreachable token endpoint)."""


# What a failure that never got an HTTP answer is recorded as (Result.status).
UNREACHABLE = 0
UNREADABLE = -1  # an answer came, but the client could not read it (a broken batch response)
# Failures of the connection itself: DNS, refused, reset, timed out, TLS.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    httplib2.HttpLib2Error,
    OSError,
    socket.timeout,
)


def plain(text: str, limit: int = 200) -> str:
    """An error body as one readable line: HTML tags dropped, entities decoded, whitespace
    collapsed, cut at ``limit`` characters."""
    text = re.sub(r"(?is)<(head|script|style)\b.*?</\1>", " ", text)
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def reason_of(content: bytes | str | None) -> tuple[str, str]:
    """Google's error reason and message from an error body; for a body that is not Google's
    JSON error (an HTML page from a proxy, say), no reason and the body as one plain line."""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content or ""
    try:
        detail = json.loads(text or "{}")["error"]
        errors = detail.get("errors") or [{}]
        return str(errors[0].get("reason", "")), plain(str(detail.get("message", "")))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return "", plain(text)


def cause_of(exc: BaseException) -> str:
    """A connection failure in words: ``Connection refused``, ``Unable to find the server at
    calendar.example``, ``timed out``."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc) or type(exc).__name__
    return plain(text)


def retryable(status: int, reason: str) -> bool:
    return status in RETRIED or status == UNREACHABLE or (status == 403 and reason in RATE_REASONS)


@dataclass
class Call:
    """One API call to make, built afresh for every attempt (a request object is not reused)."""

    key: str
    make: Callable[[Any], HttpRequest]
    headers: dict[str, str] = field(default_factory=dict)
    subject: str | None = None  # the user the call acts as (domain-wide delegation)


@dataclass
class Result:
    key: str
    status: int
    body: Any = None
    reason: str = ""
    message: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def describe(self) -> str:
        """The failure in one line: ``403 forbidden: You need to have writer access``."""
        if self.status == UNREACHABLE:
            return f"not reachable: {self.message}"
        if self.status == UNREADABLE:
            return f"the answer could not be read: {self.message}"
        words = " ".join(w for w in (str(self.status), self.reason) if w)
        return f"{words}: {self.message}" if self.message else words


SERVICE_ACCOUNT = "service_account"
AUTHORIZED_USER = "authorized_user"


@dataclass
class Credentials:
    """A credentials file, loaded: ``kind`` is ``service_account`` or ``authorized_user``.

    ``for_subject(None)`` is the account itself (a service account, or the user who authorised
    the OAuth token); ``for_subject(user)`` is a service account acting as ``user`` (domain-wide
    delegation). The file's content is never logged."""

    kind: str
    base: Any
    cache: dict[str | None, Any] = field(default_factory=dict)

    def for_subject(self, subject: str | None) -> Any:
        if subject is None:
            return self.base
        if self.kind != SERVICE_ACCOUNT:
            raise ValueError("only a service account can act as another user (delegation)")
        if subject not in self.cache:
            self.cache[subject] = self.base.with_subject(subject)
        return self.cache[subject]


def load_credentials(path: Path) -> Credentials:
    """A service-account JSON or an OAuth authorized-user token file."""
    from google.oauth2 import credentials as user_credentials  # noqa: PLC0415
    from google.oauth2 import service_account  # noqa: PLC0415

    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: not JSON ({exc.__class__.__name__})") from None
    except RecursionError:
        raise ValueError(f"{path}: not JSON (nested too deeply)") from None
    kind = info.get("type") if isinstance(info, dict) else None
    try:
        if kind == SERVICE_ACCOUNT:
            return Credentials(
                kind,
                service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                    info, scopes=SCOPES
                ),
            )
        if kind == AUTHORIZED_USER:
            return Credentials(
                kind,
                user_credentials.Credentials.from_authorized_user_info(  # type: ignore[no-untyped-call]
                    info, scopes=SCOPES
                ),
            )
    except ValueError as exc:  # a missing field: google-auth names it, never the values
        raise ValueError(f"{path}: {exc}") from None
    raise ValueError(f"{path}: not a service-account or authorized-user credentials file")


def credentials_path(configured: str | None) -> Path | None:
    value = configured or os.environ.get(ENV_CREDENTIALS)
    return Path(value) if value else None


class GoogleCalendar:
    """Calendar API calls with batching, retries and counting."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        api_endpoint: str = DEFAULT_ENDPOINT,
        batch_uri: str | None = None,
        retries: int = 6,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.credentials = credentials
        self.endpoint = api_endpoint if api_endpoint.endswith("/") else api_endpoint + "/"
        self.batch_uri = batch_uri or f"{self.endpoint}batch/calendar/v3"
        self.retries = retries
        self.sleep = sleep
        self.round_trips = 0
        self.calls = 0
        self.clients: dict[str | None, tuple[Any, Any]] = {}  # subject -> (http, api)
        self.http, self.api = self.client(None)

    def client(self, subject: str | None) -> tuple[Any, Any]:
        """The authorised HTTP object and API client acting as ``subject`` (built once each).

        In a batch every part carries the Authorization of the client that built it, so one
        batch can act as several calendar owners; the outer request uses the account's own."""
        if subject not in self.clients:
            import google_auth_httplib2  # noqa: PLC0415

            http = google_auth_httplib2.AuthorizedHttp(
                self.credentials.for_subject(subject), http=httplib2.Http(timeout=60)
            )
            api = build(
                "calendar",
                "v3",
                http=http,
                client_options={"api_endpoint": self.endpoint},
                static_discovery=True,
                cache_discovery=False,
            )
            self.clients[subject] = (http, api)
        return self.clients[subject]

    def authorise(self, subjects: set[str | None]) -> None:
        """Fetch an access token for each subject that has none yet (a batch refreshes only the
        outer request's credentials; a part without a token would cost a 401 and a resend)."""
        import google_auth_httplib2  # noqa: PLC0415
        from google.auth import exceptions  # noqa: PLC0415

        for subject in subjects:
            creds = self.credentials.for_subject(subject)
            if not creds.valid:
                who = f" acting as {subject}" if subject else ""
                try:
                    creds.refresh(google_auth_httplib2.Request(httplib2.Http(timeout=60)))
                except exceptions.GoogleAuthError as exc:
                    reason = exc.args[0] if exc.args else exc
                    raise AuthError(f"no access token{who}: {plain(str(reason))}") from None
                except TRANSPORT_ERRORS as exc:  # the token endpoint cannot be reached
                    where = getattr(creds, "_token_uri", None) or "the token endpoint"
                    raise AuthError(
                        f"no access token{who}: {where} not reachable: {cause_of(exc)}"
                    ) from None

    def build_request(self, call: Call) -> HttpRequest:
        request = call.make(self.client(call.subject)[1])
        request.headers.update(call.headers)
        return request

    def backoff(self, attempt: int) -> None:
        self.sleep(min(32.0, (2**attempt) * (0.5 + random.random() / 2)))  # noqa: S311

    def attempts(self, status: int) -> int:
        """How many times a failure of this kind is retried: a connection that cannot be made
        at most twice (a wrong address or a DNS failure does not heal in a minute)."""
        return min(2, self.retries) if status == UNREACHABLE else self.retries

    def failure(self, key: str, exc: BaseException) -> Result:
        """The Result for an exception raised by a call or a batch; an authentication failure
        is raised as :class:`AuthError` (nothing else can be done without a token)."""
        from google.auth import exceptions as auth  # noqa: PLC0415

        if isinstance(exc, auth.GoogleAuthError):
            reason = exc.args[0] if exc.args else exc
            raise AuthError(f"no access token (refresh failed): {plain(str(reason))}") from None
        if isinstance(exc, BatchError):
            return Result(key, UNREADABLE, None, "badBatchResponse", plain(str(exc.reason)))
        if isinstance(exc, HttpError):
            status = int(exc.resp.status)
            reason, message = reason_of(exc.content)
            if not reason:
                reason = str(getattr(exc.resp, "reason", "") or "")
            return Result(key, status, None, reason, message)
        if isinstance(exc, TRANSPORT_ERRORS):
            return Result(
                key, UNREACHABLE, None, "unreachable", f"{self.endpoint}: {cause_of(exc)}"
            )
        return Result(
            key, UNREADABLE, None, "badResponse", f"{type(exc).__name__}: {plain(str(exc))}"
        )

    def one(self, call: Call) -> Result:
        """A single call, retried with backoff on rate limits, server errors and (twice) a
        connection that could not be made."""
        self.authorise({call.subject})
        attempt = 0
        while True:
            request = self.build_request(call)
            self.round_trips += 1
            self.calls += 1
            try:
                return Result(call.key, 200, request.execute())
            except Exception as exc:  # classified by failure(): never a traceback
                result = self.failure(call.key, exc)
            if not retryable(result.status, result.reason) or attempt >= self.attempts(
                result.status
            ):
                return gave_up(result, attempt)
            self.backoff(attempt)
            attempt += 1

    def many(self, calls: list[Call]) -> dict[str, Result]:
        """All calls, in batches of at most MAX_BATCH; parts that failed with a rate limit or a
        server error are sent again (with backoff), the rest are answered as they came. A part
        that still fails when the retries are spent is answered with its last real failure."""
        results: dict[str, Result] = {}
        pending = list(calls)
        attempt = 0
        while pending:
            retry: list[tuple[Call, Result]] = []
            for start in range(0, len(pending), MAX_BATCH):
                chunk = pending[start : start + MAX_BATCH]
                if len(chunk) == 1:
                    result = self.one(chunk[0])
                    results[result.key] = result
                    continue
                by_key = {c.key: c for c in chunk}
                for result in self.batch(chunk):
                    if not result.ok and retryable(result.status, result.reason):
                        retry.append((by_key[result.key], result))
                    else:
                        results[result.key] = result
            if retry and attempt >= min(self.attempts(r.status) for _, r in retry):
                for _, result in retry:
                    results[result.key] = gave_up(result, attempt)
                break
            if retry:
                self.backoff(attempt)
                attempt += 1
            pending = [call for call, _ in retry]
        return results

    def batch(self, chunk: list[Call]) -> list[Result]:
        """One batch request. Parts are named by their index (a short ``Content-ID`` that no
        mail header folding can split), mapped back to the calls' keys here."""
        answers: list[Result] = []
        keys = {str(index): call.key for index, call in enumerate(chunk)}

        def done(request_id: str, response: Any, exception: HttpError | None) -> None:
            key = keys[request_id]
            if exception is None:
                answers.append(Result(key, 200, response))
            else:
                answers.append(self.failure(key, exception))

        self.authorise({call.subject for call in chunk} | {None})
        self.round_trips += 1
        self.calls += len(chunk)
        batch = BatchHttpRequest(callback=done, batch_uri=self.batch_uri)
        for index, call in enumerate(chunk):
            batch.add(self.build_request(call), request_id=str(index))
        try:
            batch.execute(http=self.http)
        except Exception as exc:  # classified by failure(): never a traceback
            failed = self.failure("", exc)  # the batch request itself: every part shares it
            seen = {a.key for a in answers}
            answers += [
                Result(c.key, failed.status, None, failed.reason, failed.message)
                for c in chunk
                if c.key not in seen
            ]
        return answers


def gave_up(result: Result, attempt: int) -> Result:
    """The last failure, saying how often it was tried when it was retried at all."""
    if attempt:
        result.message = f"{result.message} (after {attempt + 1} attempts)".strip()
    return result
