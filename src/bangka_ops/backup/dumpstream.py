"""Database dumps as one tar stream, the form they take inside a run's Borg archive.

A run's database dumps go to Borg's standard input (``borg create ... -`` with
``--stdin-name``) in the same ``borg create`` as the files, so one run stays one archive and no
dump is ever written to disk whole. A tar header needs the member's size before its data, so
each dump is cut into parts held in memory, named ``<name>.000001``, ``<name>.000002``...; a
reader joins them again (:func:`pieces`). Small documents (the plan, each dump's outcome) are
members of their own. The writer never follows or trusts a name: names are made by the agent
from its own configuration.

The part size is a trade-off the writer makes per dump (:func:`part_size`). Borg reads a part
only once it is whole, so the last part of a dump is processed after the dump tool ended: a
small part keeps Borg working beside the dump. Each part's header sits inside the data Borg
chunks, so a header costs about one chunk of deduplication where the dump's content shifted
between runs: a big part keeps that rare. A dump gets parts of about 1/64 of its database's
size, a power of two between 1 MiB and 64 MiB (a small database: 1 MiB parts, Borg at most
about 1 MiB behind; a big one: few headers), and a part's header carries no time, so an
unchanged dump is the same bytes every run.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, BinaryIO

PART_BYTES = 64 * 1024 * 1024
MIN_PART_BYTES = 1024 * 1024
# A reader passes a part on in slices of this size (a loader starts before the part is whole).
READ_BYTES = 1024 * 1024
# A document of the stream (plan, status, about a dump) is small; a bigger one is not ours.
DOCUMENT_BYTES = 16 * 1024 * 1024
PART = re.compile(r"^(?P<name>.+)\.(?P<number>\d{6})$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,200}$")


@dataclass
class Copied:
    """What one dump stream put into the tar."""

    name: str
    bytes: int
    sha256: str
    parts: int


class DumpStream:
    """A tar stream written to ``out`` (Borg's standard input), member by member."""

    def __init__(self, out: IO[bytes], part_bytes: int = PART_BYTES, mtime: float | None = None):
        # Written straight to ``out``, a header then the data in one write each: tarfile's own
        # stream writer copies every part in 10 KiB pieces through a Python buffer.
        self.out = out
        self.written = 0
        self.part_bytes = part_bytes  # the largest part this stream makes
        self.mtime = time.time() if mtime is None else mtime
        self.names: set[str] = set()

    def add_bytes(self, name: str, data: bytes) -> None:
        """One small document as a member of its own."""
        self.member(name, data, int(self.mtime))

    def add_stream(self, name: str, source: IO[bytes], part_bytes: int | None = None) -> Copied:
        """Everything ``source`` gives until its end, as parts of ``name`` of ``part_bytes``
        (at most the stream's own part size); at least one part, so an empty dump is seen as
        such."""
        size = min(part_bytes or self.part_bytes, self.part_bytes)
        digest, total, number = hashlib.sha256(), 0, 0
        while True:
            data = read_up_to(source, size)
            if not data and number:
                break
            number += 1
            digest.update(data)
            total += len(data)
            self.member(f"{name}.{number:06d}", data, 0)
            if len(data) < size:
                break
        return Copied(name, total, digest.hexdigest(), number)

    def member(self, name: str, data: bytes, mtime: int) -> None:
        if not usable(name) or name in self.names:
            raise ValueError(f"not a usable member name: {name!r}")
        self.names.add(name)
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), 0o600, mtime
        self.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        self.write(data)
        self.write(tarfile.NUL * (-len(data) % tarfile.BLOCKSIZE))

    def write(self, data: bytes) -> None:
        if data:
            self.out.write(data)
            self.written += len(data)

    def close(self) -> None:
        """The end of the archive (two empty blocks), padded to a whole record as tar does."""
        self.write(tarfile.NUL * (2 * tarfile.BLOCKSIZE))
        self.write(tarfile.NUL * (-self.written % tarfile.RECORDSIZE))
        self.out.flush()


def part_size(database_bytes: int | None) -> int:
    """The part size for a dump of a database of ``database_bytes`` on disk (None: unknown):
    about 1/64 of it, rounded down to a power of two, between 1 MiB and 64 MiB."""
    if not database_bytes or database_bytes < 64 * MIN_PART_BYTES:
        return MIN_PART_BYTES
    return min(PART_BYTES, 1 << ((database_bytes // 64).bit_length() - 1))


def usable(name: str) -> bool:
    """A relative name of plain parts (no ``..``, no empty part)."""
    return bool(NAME.match(name)) and not {"", ".", ".."} & set(name.split("/"))


def read_up_to(source: IO[bytes], size: int) -> bytes:
    """Up to ``size`` bytes, fewer only at the end of ``source`` (a pipe gives short reads)."""
    chunks, missing = [], size
    while missing:
        chunk = source.read(missing)
        if not chunk:
            break
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def pieces(stream: BinaryIO) -> Iterator[tuple[str, bytes]]:
    """The stream's content in order as (name, data): a document whole, a dump in slices of at
    most :data:`READ_BYTES` under the dump's name (consecutive pieces with one name are one
    dump, in order), so a loader gets the start of a part while Borg still sends it. Refuses
    anything the writer does not make: a member that is not a regular file, a bad name, a
    part out of sequence."""
    expected: dict[str, int] = {}
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for info in tar:
            if not info.isfile() or not usable(info.name):
                raise ValueError(f"dump stream: {info.name[:80]!r} is not a member it can hold")
            match = PART.match(info.name)
            name = match.group("name") if match else info.name
            if match:
                number = int(match.group("number"))
                if number != expected.get(name, 0) + 1:
                    raise ValueError(f"dump stream: {info.name!r} is out of sequence")
                expected[name] = number
            limit = PART_BYTES if match else DOCUMENT_BYTES
            if info.size > limit:  # the writer never makes one: refused before it is read
                raise ValueError(
                    f"dump stream: {info.name!r} holds {info.size} bytes (at most {limit})"
                )
            handle = tar.extractfile(info)
            if handle is None:  # pragma: no cover - regular members always have data
                raise ValueError(f"dump stream: {info.name!r} has no data")
            if not match:
                yield name, handle.read()
                continue
            left = info.size
            while True:  # at least one piece, so an empty dump is seen as such
                data = handle.read(min(left, READ_BYTES))
                if len(data) != min(left, READ_BYTES):
                    raise EOFError(f"dump stream: {info.name!r} ends early")
                left -= len(data)
                yield name, data
                if not left:
                    break
