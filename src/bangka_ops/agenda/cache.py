"""Validation results cached by file content, so re-checking a large agenda after a change reads
and parses only the files that changed. The key of a file is its git blob id (from the index for
files git knows unchanged, computed for the others) and its path (a result names its file, and
the name is checked), so an unchanged file is not even read and a renamed one is checked again. An
entry holds what validating that file produced: its id, its diagnostics, its event (without the
workflow history and the raw data, which the feeds read afresh) and, packed apart, the few raw
fields and the history the Google Calendar sync needs (so a sync of an unchanged agenda reads no
YAML either). The whole cache is thrown away when the configuration files, the schemas or the
package version change, since every result depends on them. It lives in the repository's git
directory (never committed) or where ``--cache`` says, written atomically (a few changes go to
a journal beside it instead of rewriting it); an unreadable or foreign cache file or journal is
ignored, never trusted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import os
import pickle
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bangka_ops import __version__
from bangka_ops.agenda.model import Event, HistoryEntry
from bangka_ops.agenda.schema import SCHEMAS
from bangka_ops.agenda.yamlload import Diagnostic

FORMAT = "protocloud-validation-cache-v6"  # v6: keyed by blob id and path
# The raw fields the Google Calendar sync needs besides the event (see sync.body_of).
SYNC_FIELDS = ("description", "contact", "documents", "reminders", "invitees")


@dataclass(frozen=True, slots=True)
class Entry:
    event_id: str | None
    diagnostics: tuple[Diagnostic, ...]
    event: Event | None
    sync: bytes | None = None  # sync_facts() of the event, packed


# Stored as plain tuples: unpickling a hundred thousand dataclasses (and their zones and
# datetimes) costs seconds; tuples of text and numbers a fraction of that. The event itself is
# kept pickled on its own, so a validation (which needs only ids and diagnostics) never
# unpacks it.
# (event id, diagnostics, the event packed, sync_facts(), the sync's memo of its bodies' hashes)
Packed = tuple[str | None, tuple[tuple[Any, ...], ...], bytes | None, bytes | None, bytes | None]


def sync_facts(event: Event) -> bytes:
    """What the sync needs of an event's file besides the event, packed: the raw fields of
    SYNC_FIELDS and the workflow history (from an event read with its data)."""
    data = event.data or {}
    history = tuple((h.status, h.by, h.at.isoformat(), h.note, h.index) for h in event.history)
    subset = {key: data[key] for key in SYNC_FIELDS if key in data}
    return pickle.dumps((subset, history), protocol=pickle.HIGHEST_PROTOCOL)


def apply_sync_facts(event: Event, packed: bytes | None) -> None:
    """Give an event the raw fields and the history the sync needs (see sync_facts)."""
    if packed is None:
        return
    subset, history = pickle.loads(packed)  # noqa: S301 (written by sync_facts, above)
    event.data = subset
    event.history = tuple(
        HistoryEntry(status, by, dt.datetime.fromisoformat(at), note, index)
        for status, by, at, note, index in history
    )


def pack(entry: Entry) -> Packed:
    event = entry.event
    packed_event = None
    if event is not None:
        fields = (
            event.file,
            event.id,
            event.title,
            event.start.replace(tzinfo=None).isoformat(),
            event.end.replace(tzinfo=None).isoformat(),
            event.all_day,
            event.tz.key,
            event.busy,
            event.venue,
            event.room,
            event.leaders,
            event.calendars,
            event.category,
            event.person_in_charge,
            event.status,
            event.rrule,
            tuple(x.replace(tzinfo=None).isoformat() for x in event.exdates),
        )
        packed_event = pickle.dumps(fields, protocol=pickle.HIGHEST_PROTOCOL)
    diagnostics = tuple(
        (d.file, d.line, d.field, d.message, d.severity, d.code) for d in entry.diagnostics
    )
    return entry.event_id, diagnostics, packed_event, entry.sync, None


def unpack_diagnostics(packed: Packed) -> tuple[Diagnostic, ...]:
    if not packed[1]:  # most files
        return ()
    return tuple(Diagnostic(*item) for item in packed[1])


def unpack_event(packed: Packed) -> Event | None:
    if packed[2] is None:
        return None
    item = pickle.loads(packed[2])  # noqa: S301 (written by pack, above)
    tz = zone(item[6])
    local = dt.datetime.fromisoformat
    return Event(
        file=item[0],
        id=item[1],
        title=item[2],
        start=local(item[3]).replace(tzinfo=tz),
        end=local(item[4]).replace(tzinfo=tz),
        all_day=item[5],
        tz=tz,
        busy=item[7],
        venue=item[8],
        room=item[9],
        leaders=item[10],
        calendars=item[11],
        category=item[12],
        person_in_charge=item[13],
        status=item[14],
        rrule=item[15],
        exdates=tuple(local(x).replace(tzinfo=tz) for x in item[16]),
        history=(),
        data=None,
    )


@functools.cache
def zone(key: str) -> ZoneInfo:
    return ZoneInfo(key)


@functools.cache
def code_digest() -> bytes:
    """The agenda package's own code and the time-zone data: a cached result (a validation, a
    sync body's hash) is only as good as the code that made it, and the package version is not
    bumped for every change an installed wheel brings."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for name in ("tzdata.zi",):  # the system's zone rules (Debian's tzdata)
        with contextlib.suppress(OSError):
            digest.update(Path("/usr/share/zoneinfo", name).read_bytes()[:64])
    with contextlib.suppress(ImportError):
        import tzdata  # type: ignore[import-untyped]  # noqa: PLC0415 (PyPI zone rules)

        digest.update(str(getattr(tzdata, "IANA_VERSION", "")).encode())
    return digest.digest()


def fingerprint(config_files: dict[str, bytes | None]) -> str:
    """What every cached result depends on besides the file itself."""
    digest = hashlib.sha256(f"{FORMAT}\0{__version__}\0".encode())
    digest.update(code_digest())
    for name in ("event.schema.json", "config.schema.json"):
        digest.update((SCHEMAS / name).read_bytes())
    for name, data in sorted(config_files.items()):
        digest.update(f"\0{name}\0".encode())
        digest.update(b"-" if data is None else hashlib.sha256(data).digest())
    return digest.hexdigest()


# A re-check after a few changes writes only what changed, to a journal beside the cache file;
# the whole file is rewritten once the journal holds this many entries or a tenth of the
# entries are no longer used (so the cache never grows without bound).
JOURNAL_MAX = 2000
LOAD_ERRORS = (
    OSError,
    EOFError,
    pickle.UnpicklingError,
    AttributeError,
    ImportError,
    TypeError,
    ValueError,
    IndexError,
)


class Cache:
    def __init__(self, path: Path, key: str):
        self.path = path
        self.journal_path = path.with_name(path.name + ".journal")
        self.key = key
        self.entries: dict[str, Packed] = {}
        self.used: set[str] = set()
        self.changed: dict[str, Packed] = {}  # put or changed in this run
        self.journal: dict[str, Packed] = {}  # the journal as loaded
        self.token = ""  # the cache file's identity, which its journal names
        self.dirty = False
        stored = read_pickle(path)
        if (
            isinstance(stored, tuple)
            and len(stored) == 4
            and stored[:2] == (FORMAT, key)
            and isinstance(stored[2], dict)
        ):
            self.entries, self.token = stored[2], str(stored[3])
            journal = read_pickle(self.journal_path)
            if (
                isinstance(journal, tuple)
                and len(journal) == 4
                and journal[:3] == (FORMAT, key, self.token)
                and isinstance(journal[3], dict)
            ):
                self.journal = journal[3]
                self.entries.update(self.journal)

    def get(self, blob: str) -> Packed | None:
        entry = self.entries.get(blob)
        if entry is not None:
            self.used.add(blob)
        return entry

    def put(self, blob: str, entry: Entry) -> None:
        self.entries[blob] = self.changed[blob] = pack(entry)
        self.used.add(blob)
        self.dirty = True

    def remember(self, blob: str, memo: bytes) -> None:
        """Keep the sync's memo (of its bodies' hashes, see sync.wanted_events) with an entry."""
        entry = self.entries.get(blob)
        if entry is not None:
            self.entries[blob] = self.changed[blob] = (*entry[:4], memo)
            self.dirty = True

    def save(self) -> None:
        """Keep the entries of this run's files only (a cache never grows without bound): a few
        changes go to the journal, more rewrite the whole file."""
        stale = len(self.entries) - len(self.used)
        if not self.dirty and stale == 0:
            return
        journal = {k: v for k, v in {**self.journal, **self.changed}.items() if k in self.used}
        if self.token and len(journal) <= JOURNAL_MAX and stale <= len(self.entries) // 10:
            if self.dirty:
                write_pickle(self.journal_path, (FORMAT, self.key, self.token, journal))
                self.journal, self.changed, self.dirty = journal, {}, False
            return
        kept = self.entries if stale == 0 else {k: self.entries[k] for k in self.used}
        self.token = secrets.token_hex(8)
        write_pickle(self.path, (FORMAT, self.key, kept, self.token))
        self.journal_path.unlink(missing_ok=True)  # names the old token: ignored anyway
        self.entries, self.journal, self.changed, self.dirty = kept, {}, {}, False


def read_pickle(path: Path) -> Any:
    """A cache file's content, None if it is missing or unreadable (never trusted further than
    its format and key)."""
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)  # noqa: S301 (our own file, in .git or --cache)
    except LOAD_ERRORS:
        return None


def write_pickle(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".protocloud-cache-")
    try:
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(data, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
