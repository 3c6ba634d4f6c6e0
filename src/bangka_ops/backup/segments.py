#!/usr/bin/python3 -Es
"""Read a Borg 1.x repository's segment history: who deleted what since the admin last looked.

Standard library only: it runs on the repository server (``bangka-borg-serve``, deployed by the
``borg_server`` role), where there are no keys, and on the admin host for a local repository.

A Borg repository is a log. Every write is an entry appended to a numbered segment file
(``data/<n // 10000>/<n>``, magic ``BORG_SEG``): ``PUT`` an object, ``DELETE`` an object, or
``COMMIT`` the transaction. A final commit always goes into a segment of its own, so the time a
transaction became real is its commit segment's modification time, set by the server's clock.
Entries are ``crc32, size, tag`` (little endian, 9 bytes), then for PUT and DELETE the 32-byte
object id, then for PUT the (encrypted) data. Nothing here needs a key: ids and tags are clear.

Why deletes are the evidence: clients write through ``borg serve --append-only`` and back up
with ``--checkpoint-interval 0``, so a client's ``borg create`` only ever PUTs new objects and
the manifest (its fixed all-zero id, re-written with a DELETE and a PUT by every commit). A
DELETE of any other id, or a PUT over an existing one (Borg writes a DELETE first), came from a
``borg delete``, ``prune``, ``recreate`` or a hand-made client: tampering, whatever the agent
later announces. The admin's own writes (prune, compact) happen while the admin holds the
repository's gate, and the admin moves its *mark* (last committed segment and its time) past
them; everything after the mark was written by someone else.
"""

from __future__ import annotations

import argparse
import base64
import configparser
import contextlib
import datetime as dt
import hashlib
import json
import os
import struct
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

MAGIC = b"BORG_SEG"
TAG_PUT, TAG_DELETE, TAG_COMMIT = 0, 1, 2
HEADER = struct.Struct("<IIB")  # crc32, size (whole entry), tag
ID_SIZE = 32
MANIFEST_ID = bytes(ID_SIZE)
MAX_ENTRY = 20 * 1024 * 1024 + 41  # Borg 1.2's MAX_OBJECT_SIZE plus the PUT header
MANIFEST_BUDGET = 64 * 1024 * 1024  # manifests sent to the admin per look
SHOWN_IDS = 10_000  # per transaction: enough to name every archive the admin knows


class SegmentError(ValueError):
    """A segment file that is not what Borg writes (named with the file and offset)."""


@dataclass(frozen=True)
class Mark:
    """Where the admin last looked: the last committed segment and its modification time."""

    segment: int
    mtime_ns: int

    @classmethod
    def from_dict(cls, data: Any) -> Mark | None:
        if data is None:
            return None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("segment"), int)
            or not isinstance(data.get("mtime_ns"), int)
            or isinstance(data.get("segment"), bool)
        ):
            raise ValueError("a segment mark needs integer 'segment' and 'mtime_ns'")
        return cls(data["segment"], data["mtime_ns"])

    def as_dict(self) -> dict[str, Any]:
        return {"segment": self.segment, "mtime_ns": self.mtime_ns, "at": iso(self.mtime_ns)}


@dataclass
class Transaction:
    """One committed (or, at the end, unfinished) transaction among the scanned segments."""

    first_segment: int
    last_segment: int = -1
    committed_ns: int = 0
    puts: int = 0
    deleted: list[str] = field(default_factory=list)  # ids deleted and not put again
    overwritten: list[str] = field(default_factory=list)  # ids deleted, then put again
    manifest: bytes | None = None  # the last manifest this transaction wrote (encrypted)

    @property
    def suspicious(self) -> bool:
        return bool(self.deleted or self.overwritten)

    def as_dict(self) -> dict[str, Any]:
        return {
            "first_segment": self.first_segment,
            "commit_segment": self.last_segment,
            "committed_at": iso(self.committed_ns) if self.committed_ns else None,
            "puts": self.puts,
            "deleted": len(self.deleted),
            "overwritten": len(self.overwritten),
            "deleted_ids": self.deleted[:SHOWN_IDS],
            "overwritten_ids": self.overwritten[:SHOWN_IDS],
        }


@dataclass
class Scan:
    """What was committed after a mark: transactions, and which of them deleted anything."""

    repository: str
    since: Mark | None
    mark: Mark | None
    transactions: list[Transaction]
    rollback_to: str | None = None
    uncommitted_entries: int = 0
    key_sha256: str | None = None
    key_blob: str | None = None
    repository_id: str | None = None
    # The repository's place on the server's disk (the capacity forecast's disk limit).
    storage: dict[str, Any] | None = None

    @property
    def suspicious(self) -> list[Transaction]:
        return [t for t in self.transactions if t.suspicious]

    def as_dict(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "since": self.since.as_dict() if self.since else None,
            "mark": self.mark.as_dict() if self.mark else None,
            "transactions": len(self.transactions),
            "suspicious": [t.as_dict() for t in self.suspicious],
            "rollback_to": self.rollback_to,
            "uncommitted_entries": self.uncommitted_entries,
            "key_sha256": self.key_sha256,
            "storage": self.storage,
            **self.manifests(),
        }

    def manifests(self) -> dict[str, Any]:
        """Each transaction's last manifest (encrypted; the admin reads them with its key, to
        see every archive that existed since the mark), within MANIFEST_BUDGET bytes."""
        shown: list[dict[str, Any]] = []
        used = 0
        for t in self.transactions:
            if t.manifest is None:
                continue
            used += len(t.manifest)
            if used > MANIFEST_BUDGET:
                return {**self.key_fields(), "manifests": shown, "manifests_left_out": True}
            shown.append(
                {
                    "commit_segment": t.last_segment,
                    "committed_at": iso(t.committed_ns),
                    "data": base64.b64encode(t.manifest).decode(),
                }
            )
        return {**self.key_fields(), "manifests": shown, "manifests_left_out": False}

    def key_fields(self) -> dict[str, Any]:
        return {"key_blob": self.key_blob, "repository_id": self.repository_id}


def iso(ns: int) -> str:
    """A modification time as UTC ISO 8601, rounded *up* to the microsecond: a rollback to it
    keeps the segment it names (bangka-borg-rollback keeps segments whose mtime <= the time)."""
    micro = -(-ns // 1000)
    stamp = dt.datetime.fromtimestamp(micro // 1_000_000, dt.UTC)
    return stamp.replace(microsecond=micro % 1_000_000).isoformat()


def segment_files(repository: Path) -> list[tuple[int, Path, int]]:
    """(number, path, mtime_ns) of every segment file, in number order."""
    data = repository / "data"
    if not (repository / "config").is_file() or not data.is_dir():
        raise SegmentError(
            f"{repository}: not a Borg repository (no config file or data directory)"
        )
    found = []
    for directory in data.iterdir():
        if not directory.is_dir() or not directory.name.isdigit():
            continue
        for path in directory.iterdir():
            if path.name.isdigit() and path.is_file():
                found.append((int(path.name), path, path.stat().st_mtime_ns))
    return sorted(found)


def entries(path: Path, manifests: bool = False) -> Iterator[tuple[int, bytes | None]]:
    """Yields (tag, id) of every entry of one segment file; PUT data is skipped, not read."""
    for tag, key, _ in entries_with_manifests(path, manifests):
        yield tag, key


def entries_with_manifests(
    path: Path, manifests: bool = True
) -> Iterator[tuple[int, bytes | None, bytes | None]]:
    """Yields (tag, id, data): data only for a PUT of the manifest (when ``manifests``)."""
    with open(path, "rb") as handle:
        if handle.read(len(MAGIC)) != MAGIC:
            raise SegmentError(f"{path}: not a Borg segment (magic is not BORG_SEG)")
        offset = len(MAGIC)
        while header := handle.read(HEADER.size):
            tag, key, size = _entry(handle, header, f"{path}: offset {offset}", manifests)
            data = None
            if manifests and tag == TAG_PUT and key == MANIFEST_ID:
                data = handle.read(size - HEADER.size - ID_SIZE)
                if len(data) != size - HEADER.size - ID_SIZE:
                    raise SegmentError(f"{path}: offset {offset}: truncated manifest")
            yield tag, key, data
            offset += size


def _entry(
    handle: BinaryIO, header: bytes, where: str, keep_manifest: bool = False
) -> tuple[int, bytes | None, int]:
    if len(header) < HEADER.size:
        raise SegmentError(f"{where}: truncated entry header")
    crc, size, tag = HEADER.unpack(header)
    if tag == TAG_COMMIT:
        if size != HEADER.size or zlib.crc32(header[4:]) != crc:
            raise SegmentError(f"{where}: damaged COMMIT entry")
        return tag, None, size
    if tag not in (TAG_PUT, TAG_DELETE):
        raise SegmentError(f"{where}: unknown entry tag {tag}")
    if size < HEADER.size + ID_SIZE or size > MAX_ENTRY:
        raise SegmentError(f"{where}: entry size {size} out of range")
    key = handle.read(ID_SIZE)
    if len(key) < ID_SIZE:
        raise SegmentError(f"{where}: truncated entry")
    if tag == TAG_DELETE:
        if size != HEADER.size + ID_SIZE or zlib.crc32(header[4:] + key) != crc:
            raise SegmentError(f"{where}: damaged DELETE entry")
    elif not (keep_manifest and key == MANIFEST_ID):  # the caller reads a manifest's data
        handle.seek(size - HEADER.size - ID_SIZE, os.SEEK_CUR)
    return tag, key, size


class _Reader:
    """Follows the entries in order and closes a Transaction at each COMMIT."""

    def __init__(self, result: Scan, since: Mark | None) -> None:
        self.result = result
        self.previous = since.mtime_ns if since else None  # the last commit's time
        self.current: Transaction | None = None
        self.pending: dict[bytes, None] = {}  # ids deleted in the current transaction

    def feed(
        self, number: int, mtime_ns: int, tag: int, key: bytes | None, data: bytes | None = None
    ) -> None:
        if self.current is None:
            self.current, self.pending = Transaction(first_segment=number), {}
        current = self.current
        if tag == TAG_COMMIT:
            current.last_segment, current.committed_ns = number, mtime_ns
            current.deleted.extend(k.hex() for k in self.pending)
            if current.suspicious and self.result.rollback_to is None and self.previous:
                self.result.rollback_to = iso(self.previous)
            self.result.transactions.append(current)
            self.previous, self.current = mtime_ns, None
        elif key == MANIFEST_ID or key is None:
            if data is not None:
                current.manifest = data
        elif tag == TAG_DELETE:
            self.pending[key] = None
        elif key in self.pending:  # a PUT over an object: Borg deleted it first
            del self.pending[key]
            current.overwritten.append(key.hex())
        else:
            current.puts += 1

    def finish(self) -> None:
        if self.current is not None:  # after the last commit: unfinished, Borg discards it
            current = self.current
            self.result.uncommitted_entries = (
                current.puts + len(self.pending) + len(current.overwritten)
            )


def scan(repository: Path, since: Mark | None) -> Scan:
    """The transactions committed in segments after ``since``: a higher number, or (after a
    rollback removed segments and numbers were used again) a later modification time.
    Without a mark, only the mark is returned (the baseline; nothing is judged)."""
    files = segment_files(repository)
    result = Scan(str(repository), since, None, [])
    if since is not None:
        reader = _Reader(result, since)
        for number, path, mtime_ns in files:
            if number > since.segment or mtime_ns > since.mtime_ns:
                for tag, key, data in entries_with_manifests(path):
                    reader.feed(number, mtime_ns, tag, key, data)
        reader.finish()
    result.mark = newest_committed(files) or since
    result.storage = storage(repository, files)
    result.key_blob = key_blob(repository)
    result.repository_id = repository_id(repository)
    result.key_sha256 = (
        hashlib.sha256(result.key_blob.encode()).hexdigest() if result.key_blob else None
    )
    return result


def storage(repository: Path, files: list[tuple[int, Path, int]]) -> dict[str, Any]:
    """The repository's size on disk (its segment files: what Borg's storage quota counts, space
    not yet compacted included) and its file system's size and space left to an unprivileged
    writer (``statvfs``), measured now; ``filesystem_id`` tells repositories on one disk apart."""
    used = 0
    for _, path, _ in files:
        with contextlib.suppress(FileNotFoundError):  # compacted away since it was listed
            used += path.stat().st_size
    disk = os.statvfs(repository)
    return {
        "measured_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "segments_bytes": used,
        "filesystem_bytes": disk.f_blocks * disk.f_frsize,
        "available_bytes": disk.f_bavail * disk.f_frsize,
        "filesystem_id": f"{disk.f_fsid:x}",
    }


def key_fingerprint(repository: Path) -> str | None:
    blob = key_blob(repository)
    return hashlib.sha256(blob.encode()).hexdigest() if blob else None


def key_blob(repository: Path) -> str | None:
    """SHA-256 of the encrypted repository key in ``config`` (repokey mode), None without one.
    Neither append-only mode nor a rollback protects ``config``: a client can re-encrypt the key
    (``borg key change-passphrase``) or store another one; the admin compares this with what it
    saw before."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string((repository / "config").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise SegmentError(f"{repository / 'config'}: unreadable: {exc}") from None
    blob = "".join(parser.get("repository", "key", fallback="").split())
    return blob or None


def repository_id(repository: Path) -> str | None:
    """The repository's id from its config (hex), None when unreadable."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string((repository / "config").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, configparser.Error):
        return None
    return parser.get("repository", "id", fallback="").strip() or None


def _committed(path: Path) -> bool:
    """Whether a segment file is whole and ends with a COMMIT entry, as Borg decides it: every
    entry is read (headers only), and nothing but COMMITs may follow the first COMMIT."""
    seen_commit = False
    try:
        for tag, _ in entries(path):
            if tag == TAG_COMMIT:
                seen_commit = True
            elif seen_commit:
                return False
    except (SegmentError, OSError):
        return False
    return seen_commit


def newest_committed(files: list[tuple[int, Path, int]]) -> Mark | None:
    """The newest segment that ends a transaction, searched from the top (only an unfinished
    transaction's segments, which Borg discards, lie above it)."""
    for number, path, mtime_ns in reversed(files):
        if _committed(path):
            return Mark(number, mtime_ns)
    return None


def current_mark(repository: Path) -> Mark | None:
    """The mark as of now (the newest committed segment), without judging anything."""
    return newest_committed(segment_files(repository))


def read_mark(path: Path) -> Mark | None:
    """A mark saved by the gate (``<gates_dir>/<name>.mark``), or None when there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return Mark.from_dict(json.loads(text))
    except ValueError as exc:
        raise SegmentError(f"{path}: {exc}") from None
    except RecursionError:
        raise SegmentError(f"{path}: not JSON: nested too deeply") from None


def save_mark(path: Path, mark: Mark) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(mark.as_dict()) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bangka-borg-segments",
        description="List the transactions committed to a Borg repository after a mark, and "
        "which of them deleted or overwrote objects (no key needed).",
    )
    parser.add_argument("repository", type=Path)
    parser.add_argument("--since-segment", type=int)
    parser.add_argument("--since-mtime-ns", type=int)
    args = parser.parse_args(argv)
    if (args.since_segment is None) != (args.since_mtime_ns is None):
        parser.error("--since-segment and --since-mtime-ns go together")
    since = None if args.since_segment is None else Mark(args.since_segment, args.since_mtime_ns)
    try:
        found = scan(args.repository, since)
    except (SegmentError, OSError) as exc:
        print(f"bangka-borg-segments: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(found.as_dict(), indent=2))
    return 1 if found.suspicious else 0


if __name__ == "__main__":
    sys.exit(main())
