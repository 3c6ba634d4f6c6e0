"""Storing what one host sent to the admin host: its package is data, never paths.

``playbooks/collect_records.yml`` brings one gzip'd tar package per host (its new run records,
restore records and raw Borg logs, its deployed ``config.json``, the new chunks of its audit logs
and the offsets they end at) to the control host, which is the admin host. A compromised host
controls every byte of its package, so nothing in it is trusted to be a path, an owner, a mode
or a link:

* every member is checked before anything is written: only regular files (and directories,
  which are never created from the package: the admin's own are made as needed), names made of
  a strict set of characters under a known top-level area (``records/``, ``restore/``,
  ``audit/<chunk>``, ``config.json``, ``audit-offsets.json``, ``arsip.json`` — an archive
  host's summary, checked by the checklist), no absolute path, no ``..``, no
  hidden name, no name twice, at most :data:`MAX_DEPTH` levels, sizes within limits. One broken
  rule refuses the **whole** package of that host: nothing of it is stored, the watermark and
  the audit offsets of that host stay where they were, the refusal is printed and written to the
  admin host's audit log; other hosts are not affected;
* the admin host's tree is checked before anything is written as well: a symlink or any other
  non-directory where the package needs a directory (left, say, by an older collection method)
  refuses the package, naming the path;
* files are written by this process through directory descriptors opened with ``O_NOFOLLOW``,
  created under a temporary name with ``O_EXCL`` and hard-linked to their name, so a file
  already stored is never rewritten (``config.json``, the host's current schedule, and
  ``arsip.json``, its archive's current state, are the files replaced: atomically, by
  rename); owner and mode are the admin's (``root``, ``0640``; audit chunks ``0440``;
  directories ``0750``), never the package's.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gzip
import io
import json
import os
import re
import secrets
import stat
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

# A host's inventory name, as a directory name.
HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
# One path component of a member: no leading dot (so no '.', '..' or hidden files), no slash,
# no control or shell-special characters.
COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+:,=-]{0,199}$")
# An audit chunk as bangka-backup audit-cut names it: <log stem>.<inode>.<from>-<to>.jsonl
CHUNK = re.compile(r"^[a-z][a-z0-9_-]{0,40}\.[0-9]{1,20}\.[0-9]{12}-[0-9]{12}\.jsonl$")
AUDIT_LOG_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,40}\.jsonl$")
RECORD_SUFFIXES = (".json", ".log.jsonl")
AREAS = ("records", "restore", "audit")
SINGLE_FILES = ("config.json", "audit-offsets.json", "arsip.json")
# Files that are the host's current state: replaced (atomically), never accumulated.
REPLACED = (("config.json",), ("arsip.json",))
MAX_DEPTH = 6
MAX_MEMBERS = 200_000
MAX_MEMBER_BYTES = 256 * 1024**2
MAX_TOTAL_BYTES = 2 * 1024**3
MAX_SMALL_FILE = 4 * 1024**2  # config.json, audit-offsets.json, arsip.json
MAX_OFFSET_ENTRIES = 64
UNREADABLE = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, UnicodeError)

WATERMARKS = ".watermarks.json"
AUDIT_OFFSETS = ".audit-offsets.json"
LOCK_FILE = ".intake.lock"

FILE_MODE = 0o640
CHUNK_MODE = 0o440
DIR_MODE = 0o750


class Refused(Exception):
    """The package broke a rule: nothing of it is stored."""


@dataclass
class Result:
    host: str
    stored: int = 0
    present: int = 0
    chunks: int = 0
    refused: str | None = None

    def __str__(self) -> str:
        if self.refused:
            return f"{self.host}: REFUSED, nothing stored: {self.refused}"
        return (
            f"{self.host}: {self.stored} new file(s) stored, {self.present} already here "
            "(kept as they were)" + (f", {self.chunks} audit chunk(s)" if self.chunks else "")
        )


@dataclass(frozen=True)
class Member:
    parts: tuple[str, ...]
    info: tarfile.TarInfo

    @property
    def name(self) -> str:
        return "/".join(self.parts)


# --------------------------------------------------------------------------- checking


def check_name(raw: str) -> tuple[str, ...] | None:
    """The member's path components, or None for the package root itself. Raises Refused."""
    shown = json.dumps(raw)  # a name is shown escaped: it may hold control characters
    name = raw[2:] if raw.startswith("./") else raw
    if name in ("", "."):
        return None
    if name.startswith("/"):
        raise Refused(f"member {shown}: absolute path")
    parts = tuple(name.rstrip("/").split("/"))
    if any(p == ".." for p in parts):
        raise Refused(f"member {shown}: '..' in its path")
    if len(parts) > MAX_DEPTH:
        raise Refused(f"member {shown}: more than {MAX_DEPTH} levels deep")
    for part in parts:
        if not COMPONENT.match(part):
            raise Refused(
                f"member {shown}: {json.dumps(part)} is not an allowed name "
                "(letters, digits and . _ @ + : , = -, not starting with a dot)"
            )
    return parts


def check_place(parts: tuple[str, ...], info: tarfile.TarInfo) -> None:
    shown = json.dumps("/".join(parts))
    if info.isdir():
        if parts[0] not in AREAS:
            raise Refused(f"member {shown}: unexpected directory")
        if parts[0] == "audit" and len(parts) > 1:
            raise Refused(f"member {shown}: no directories under audit/")
        return
    if len(parts) == 1:
        if parts[0] not in SINGLE_FILES:
            raise Refused(f"member {shown}: unexpected file at the top of the package")
        if info.size > MAX_SMALL_FILE:
            raise Refused(f"member {shown}: larger than {MAX_SMALL_FILE} bytes")
        return
    if parts[0] == "audit":
        if len(parts) != 2 or not CHUNK.match(parts[1]):
            raise Refused(
                f"member {shown}: not an audit chunk name (<log>.<inode>.<from>-<to>.jsonl)"
            )
        return
    if parts[0] not in AREAS:
        raise Refused(f"member {shown}: outside records/, restore/ and audit/")
    if not parts[-1].endswith(RECORD_SUFFIXES):
        raise Refused(f"member {shown}: only *.json and *.log.jsonl files are collected")


def kind_of(info: tarfile.TarInfo) -> str:
    if info.issym():
        return "a symbolic link"
    if info.islnk():
        return "a hard link"
    if info.ischr() or info.isblk():
        return "a device"
    if info.isfifo():
        return "a FIFO"
    return f"of tar type {info.type!r}"


def check_members(package: tarfile.TarFile, limits: Limits) -> list[Member]:
    """Every member of the package, checked. Raises Refused on the first broken rule."""
    members: list[Member] = []
    seen: set[tuple[str, ...]] = set()
    total = 0
    for count, info in enumerate(package, start=1):
        if count > limits.members:
            raise Refused(f"more than {limits.members} members")
        parts = check_name(info.name)
        if not (info.isreg() or info.isdir()):
            raise Refused(
                f"member {json.dumps(info.name)} is {kind_of(info)}: only regular files "
                "are collected"
            )
        if parts is None:
            if not info.isdir():
                raise Refused(f"member {json.dumps(info.name)}: a file named like the root")
            continue
        check_place(parts, info)
        if parts in seen:
            raise Refused(f"member {json.dumps(info.name)} appears twice")
        seen.add(parts)
        if info.isreg():
            if info.size > limits.member_bytes:
                raise Refused(
                    f"member {json.dumps(info.name)}: {info.size} bytes, more than "
                    f"{limits.member_bytes}"
                )
            total += info.size
            if total > limits.total_bytes:
                raise Refused(f"more than {limits.total_bytes} bytes in all")
            members.append(Member(parts, info))
    # A file and a directory of the same name ("records/x" and "records/x/y"): ambiguous.
    files = {m.parts for m in members}
    for member in members:
        for depth in range(1, len(member.parts)):
            if member.parts[:depth] in files:
                raise Refused(
                    f"member {json.dumps(member.name)}: "
                    f"{json.dumps('/'.join(member.parts[:depth]))} is also a file"
                )
    return members


@dataclass(frozen=True)
class Limits:
    members: int = MAX_MEMBERS
    member_bytes: int = MAX_MEMBER_BYTES
    total_bytes: int = MAX_TOTAL_BYTES


def parse_offsets(data: bytes) -> dict[str, dict[str, int]]:
    """audit-cut's answer: ``{"offsets": {log: {"inode": n, "offset": n}}, "chunks": [...]}``,
    checked field by field (it becomes the admin host's state for this host)."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused(f"audit-offsets.json: not JSON ({exc})") from None
    except RecursionError:
        raise Refused("audit-offsets.json: not JSON (nested too deeply)") from None
    offsets = value.get("offsets") if isinstance(value, dict) else None
    if not isinstance(offsets, dict) or len(offsets) > MAX_OFFSET_ENTRIES:
        raise Refused(f"audit-offsets.json: offsets: an object of at most {MAX_OFFSET_ENTRIES}")
    clean: dict[str, dict[str, int]] = {}
    for log, entry in offsets.items():
        if not AUDIT_LOG_NAME.match(log):
            raise Refused(f"audit-offsets.json: offsets: {json.dumps(log)} is not a log name")
        if not isinstance(entry, dict) or set(entry) != {"inode", "offset"}:
            raise Refused(f"audit-offsets.json: offsets.{log}: must be {{inode, offset}}")
        for key in ("inode", "offset"):
            number = entry[key]
            if type(number) is not int or not 0 <= number < 2**63:
                raise Refused(f"audit-offsets.json: offsets.{log}.{key}: not a byte count")
        clean[log] = {"inode": entry["inode"], "offset": entry["offset"]}
    chunks = value.get("chunks", [])
    if not isinstance(chunks, list) or not all(
        isinstance(c, str) and CHUNK.match(c) for c in chunks
    ):
        raise Refused("audit-offsets.json: chunks: a list of chunk names")
    return clean


# --------------------------------------------------------------------------- the admin's tree


def open_dir(parent: int, name: str, *, create: bool) -> int:
    """A directory under ``parent`` (a descriptor), never through a symbolic link."""
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, DIR_MODE, dir_fd=parent)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise Refused(f"{name} on the admin host is not a directory (a link?)") from None
        raise
    info = os.fstat(fd)
    if stat.S_IMODE(info.st_mode) != DIR_MODE and info.st_uid == os.geteuid():
        os.fchmod(fd, DIR_MODE)
    return fd


def check_tree(host_dir: Path, members: list[Member]) -> None:
    """Refuses when the admin host's tree has anything but a directory where the package needs
    one, or anything but a regular file where it would store one."""
    for member in members:
        path = host_dir
        for depth, part in enumerate(member.parts):
            path = path / part
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                break
            last = depth == len(member.parts) - 1
            if last and not stat.S_ISREG(info.st_mode):
                raise Refused(f"{path} on the admin host is not a regular file; remove it by hand")
            if not last and not stat.S_ISDIR(info.st_mode):
                raise Refused(f"{path} on the admin host is not a directory; remove it by hand")


def copy_into(fd: int, source: IO[bytes]) -> None:
    while chunk := source.read(1024 * 1024):
        view = memoryview(chunk)
        while view:
            written = os.write(fd, view)
            view = view[written:]


def store_file(directory: int, name: str, source: IO[bytes], mode: int, *, replace: bool) -> bool:
    """Writes ``name`` in ``directory`` from ``source``; False when it was already there (and
    ``replace`` is not set: then it is left exactly as it was)."""
    if not replace:
        try:
            os.stat(name, dir_fd=directory, follow_symlinks=False)
            return False
        except FileNotFoundError:
            pass
    temporary = f".tmp-intake-{secrets.token_hex(8)}"
    fd = os.open(
        temporary,
        os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
        0o600,
        dir_fd=directory,
    )
    try:
        try:
            copy_into(fd, source)
            if os.geteuid() == 0:
                os.fchown(fd, 0, 0)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.rename(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
            return True
        try:
            os.link(
                temporary, name, src_dir_fd=directory, dst_dir_fd=directory, follow_symlinks=False
            )
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=directory)


@contextlib.contextmanager
def opened(path: Path) -> Iterator[int]:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        yield fd
    finally:
        os.close(fd)


def write_state(root: Path, name: str, host: str, value: Any) -> None:
    """Sets ``host``'s entry of one of the collection's state files (atomically)."""
    path = root / name
    try:
        current = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(current, dict):
            current = {}
    except FileNotFoundError:
        current = {}
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: too deep
        raise OSError(f"{path}: damaged state file; repair or remove it by hand") from None
    current[host] = value
    with opened(root) as directory:
        store_file(
            directory,
            name,
            io.BytesIO(json.dumps(current, indent=2, sort_keys=True).encode() + b"\n"),
            FILE_MODE,
            replace=True,
        )


def content(archive: tarfile.TarFile, member: Member) -> IO[bytes]:
    handle = archive.extractfile(member.info)
    if handle is None:  # only regular files are members here
        raise Refused(f"member {json.dumps(member.name)}: no content")
    return handle


# --------------------------------------------------------------------------- intake


def intake(
    root: Path,
    host: str,
    package: Path,
    *,
    watermark: int | None = None,
    limits: Limits | None = None,
) -> Result:
    """Checks ``host``'s package and stores it under ``root/host`` (see the module's text).
    A refusal is a Result with ``refused`` set; OSError for a failure of the admin host."""
    if not HOST_NAME.match(host):
        raise ValueError(f"--host: {host!r} is not an inventory host name")
    result = Result(host)
    limits = limits or Limits()
    root.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    with open(root / LOCK_FILE, "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with tarfile.open(package, mode="r:gz") as archive:
                members = check_members(archive, limits)
                offsets = None
                for member in members:
                    if member.parts == ("audit-offsets.json",):
                        offsets = parse_offsets(content(archive, member).read(MAX_SMALL_FILE + 1))
                if (root / host).is_symlink() or (
                    (root / host).exists() and not (root / host).is_dir()
                ):
                    raise Refused(f"{root / host} on the admin host is not a directory")
                check_tree(root / host, [m for m in members if len(m.parts) > 1])
                store(archive, root, host, members, result)
        except Refused as exc:
            result.refused = str(exc)
            return result
        except UNREADABLE as exc:
            # Every header and byte was read while checking, so this happens before anything
            # is stored.
            result.refused = f"not a readable gzip'd tar package ({exc})"
            return result
        if offsets is not None:
            write_state(root, AUDIT_OFFSETS, host, offsets)
        if watermark is not None:
            write_state(root, WATERMARKS, host, watermark)
    return result


def store(
    archive: tarfile.TarFile, root: Path, host: str, members: list[Member], result: Result
) -> None:
    with opened(root) as top:
        host_fd = open_dir(top, host, create=True)
        try:
            for member in members:
                if member.parts == ("audit-offsets.json",):
                    continue
                *folders, name = member.parts
                fds = [host_fd]
                try:
                    for folder in folders:
                        fds.append(open_dir(fds[-1], folder, create=True))
                    source = content(archive, member)
                    chunk = folders == ["audit"]
                    stored = store_file(
                        fds[-1],
                        name,
                        source,
                        CHUNK_MODE if chunk else FILE_MODE,
                        replace=member.parts in REPLACED,
                    )
                finally:
                    for fd in fds[1:]:
                        os.close(fd)
                if stored:
                    result.stored += 1
                    result.chunks += chunk
                else:
                    result.present += 1
        finally:
            os.close(host_fd)
