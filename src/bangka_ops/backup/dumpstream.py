"""Database dumps as one tar stream, the form they take inside a run's Borg archive.

A run's database dumps go to Borg's standard input (``borg create ... -`` with
``--stdin-name``) in the same ``borg create`` as the files, so one run stays one archive and no
dump is ever written to disk whole. A tar header needs the member's size before its data, so
each dump is cut into parts of at most :data:`PART_BYTES` held in memory, named
``<name>.000001``, ``<name>.000002``...; a reader joins them again (:func:`members`). Small
documents (the plan, each dump's outcome) are members of their own. The writer never follows
or trusts a name: names are made by the agent from its own configuration.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, BinaryIO

PART_BYTES = 64 * 1024 * 1024
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
        self.tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        self.part_bytes = part_bytes
        self.mtime = time.time() if mtime is None else mtime
        self.names: set[str] = set()

    def add_bytes(self, name: str, data: bytes) -> None:
        """One small document as a member of its own."""
        self.member(name, data)

    def add_stream(self, name: str, source: IO[bytes]) -> Copied:
        """Everything ``source`` gives until its end, as parts of ``name`` (at least one, so an
        empty dump is seen as such)."""
        digest, total, number = hashlib.sha256(), 0, 0
        while True:
            data = read_up_to(source, self.part_bytes)
            if not data and number:
                break
            number += 1
            digest.update(data)
            total += len(data)
            self.member(f"{name}.{number:06d}", data)
            if len(data) < self.part_bytes:
                break
        return Copied(name, total, digest.hexdigest(), number)

    def member(self, name: str, data: bytes) -> None:
        if not usable(name) or name in self.names:
            raise ValueError(f"not a usable member name: {name!r}")
        self.names.add(name)
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), 0o600, int(self.mtime)
        self.tar.addfile(info, io.BytesIO(data))

    def close(self) -> None:
        self.tar.close()


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
    """The stream's content in order as (name, data): a document whole, a dump part by part
    under the dump's name (consecutive pieces with one name are one dump, in order). Refuses
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
            yield name, handle.read()
