"""What the agenda commands ask of git: a file at another revision, the files a pull request
changed, and every committed version of the event files (for SEQUENCE).

Plain ``git`` subprocesses with argument lists (no shell); a revision that does not exist is a
:class:`GitError` with git's own message.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from bangka_ops.agenda import yamlload

EMPTY = "0" * 40


class GitError(Exception):
    pass


def git(root: Path, *args: str, binary: bool = False, check: bool = True) -> bytes:
    proc = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, check=False, timeout=300
    )
    if check and proc.returncode != 0:
        raise GitError(proc.stderr.decode("utf-8", "replace").strip() or f"git {args[0]} failed")
    return proc.stdout


def is_repo(root: Path) -> bool:
    try:
        return git(root, "rev-parse", "--is-inside-work-tree").strip() == b"true"
    except (GitError, OSError):
        return False


def prefix(root: Path) -> str:
    """The agenda directory's path inside its repository ('' at the top)."""
    return git(root, "rev-parse", "--show-prefix").decode().strip()


def resolve(root: Path, ref: str) -> str:
    return git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").decode().strip()


def reader(root: Path, ref: str, limit: int = 256 * 1024) -> Callable[[str], bytes | None]:
    """A reader of files (relative to the agenda directory) as they are at ``ref``."""
    commit = resolve(root, ref)
    base = prefix(root)

    def read(name: str) -> bytes | None:
        # One listing gives the mode, type, id and size: only a regular file is read, and only
        # if it is within the limit (a larger one is refused unread, like in the working tree).
        path = base + name
        listing = git(root, "ls-tree", "--full-tree", "-l", "-z", commit, "--", path, check=False)
        meta, _, found = listing.decode(errors="replace").rstrip("\0").partition("\t")
        fields = meta.split()
        if found != path or len(fields) != 4 or fields[0] not in ("100644", "100755"):
            return None  # no such file, or a link, a directory, a submodule
        if not fields[3].isdigit() or int(fields[3]) > limit:
            raise yamlload.Refused(f"larger than {limit // 1024} KiB")
        proc = subprocess.run(
            ["git", "-C", str(root), "cat-file", "blob", fields[2]],
            capture_output=True,
            check=False,
            timeout=60,
        )
        return proc.stdout[: limit + 1] if proc.returncode == 0 else None

    return read


def changed_since(root: Path, ref: str, directory: str) -> list[str]:
    """Files under ``directory`` that differ from ``ref`` in the working tree (committed or not)
    or are new and untracked."""
    commit = resolve(root, ref)
    changed = git(
        root, "diff", "--relative", "--name-only", "-z", "--no-renames", commit, "--", directory
    )
    untracked = git(root, "ls-files", "--others", "--exclude-standard", "-z", "--", directory)
    return sorted({n for n in (changed + b"\0" + untracked).decode().split("\0") if n})


def blob_history(root: Path, directory: str) -> Iterator[tuple[str, str]]:
    """(path, blob id) of every committed version of files under ``directory``, oldest first."""
    if not git(root, "rev-parse", "--verify", "--quiet", "HEAD", check=False).strip():
        return  # no commit yet
    out = git(
        root,
        "log",
        "--reverse",
        "--format=",
        "--relative",
        "--raw",
        "--no-abbrev",
        "--no-renames",
        "-z",
        "--",
        directory,
    )
    fields = out.split(b"\0")
    index = 0
    while index < len(fields) - 1:
        meta = fields[index].strip()
        if not meta.startswith(b":"):
            index += 1
            continue
        path = fields[index + 1].decode()
        index += 2
        new_blob = meta.split()[3].decode()
        if new_blob != EMPTY:
            yield path, new_blob


def blobs(root: Path, ids: list[str], limit: int = 256 * 1024) -> dict[str, bytes]:
    """The contents of blobs of at most ``limit`` bytes, in one ``git cat-file --batch`` (the
    larger ones are asked for by size first and never read)."""
    if not ids:
        return {}
    sizes = cat_file(root, "--batch-check=%(objectname) %(objectsize)", ids)
    small = set()
    for line in sizes.decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and int(parts[1]) <= limit:
            small.add(parts[0])
    ids = [i for i in ids if i in small]
    if not ids:
        return {}
    out, found, position = cat_file(root, "--batch", ids), {}, 0
    for blob in ids:
        header_end = out.index(b"\n", position)
        header = out[position:header_end].split()
        position = header_end + 1
        if len(header) < 3 or header[1] == b"missing":
            continue
        size = int(header[2])
        if size <= limit:  # a larger one is no agenda file: left out
            found[blob] = out[position : position + size]
        position += size + 1
    return found


def cat_file(root: Path, mode: str, ids: list[str]) -> bytes:
    """``git cat-file MODE`` of many objects in one process."""
    return subprocess.run(
        ["git", "-C", str(root), "cat-file", mode],
        input="".join(f"{i}\n" for i in ids).encode(),
        capture_output=True,
        check=True,
        timeout=600,
    ).stdout


def blob_ids(root: Path, directory: str) -> dict[str, str]:
    """Path (relative to the agenda directory) -> git blob id of every file under ``directory``
    as it is in the working tree: the index's id for unchanged files, None-free (files changed
    or new since the index are left out, so the caller reads and hashes those)."""
    # Both list paths relative to the agenda directory (ls-files always, diff with --relative).
    staged = git(root, "ls-files", "-s", "-z", "--", directory).decode().split("\0")
    ids: dict[str, str] = {}
    for entry in staged:
        if entry:
            meta, _, path = entry.partition("\t")
            mode, blob = meta.split()[:2]
            if mode in ("100644", "100755"):  # a link or a submodule is read (and refused)
                ids[path] = blob
    dirty = git(root, "diff", "--relative", "--name-only", "-z", "--no-renames", "--", directory)
    for path in dirty.decode().split("\0"):
        ids.pop(path, None)
    return ids


def hash_blob(data: bytes) -> str:
    """The id git gives these bytes as a blob."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
