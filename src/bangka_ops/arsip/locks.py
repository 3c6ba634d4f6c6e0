"""One job of a kind per archive at a time: an exclusive ``flock`` on a file in the archive
root, taken without waiting or within a given time (a second job is refused, never queued)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def exclusive(path: Path, busy: Exception, wait: float = 0) -> Iterator[None]:
    """Hold the lock on ``path`` for the block; raise ``busy`` when another process still holds
    it after ``wait`` seconds."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise busy from None
                time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
        yield
    finally:
        os.close(fd)
