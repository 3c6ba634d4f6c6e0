"""One job of a kind per archive at a time: an exclusive ``flock`` on a file in the archive
root, taken without waiting (a second job is refused, never queued)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def exclusive(path: Path, busy: Exception) -> Iterator[None]:
    """Hold the lock on ``path`` for the block; raise ``busy`` when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy from None
        yield
    finally:
        os.close(fd)
