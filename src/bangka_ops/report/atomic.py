"""Writing a file of the admin host so that it is whole or not there: the reports, the ledger's
month files, the restore hosts' lists of known archives.

:func:`replacing` gives a file that becomes ``path`` only when the block completes: written
beside it under a temporary name, flushed to disk, made ``mode``, renamed over it, and the
directory flushed too, so a run that fails or is killed half way (or a power cut) leaves the
previous file whole. A ``path`` that exists and is not a regular file (``/dev/stdout``, a FIFO) is
written directly: renaming over it would replace the device or pipe itself."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def replacing(path: Path, *, binary: bool = False, mode: int = 0o640) -> Iterator[IO[Any]]:
    try:
        special = not stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        special = False
    if special:
        with open(path, "wb" if binary else "w", **({} if binary else TEXT)) as handle:
            yield handle
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with open(fd, "wb" if binary else "w", **({} if binary else TEXT)) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


TEXT: dict[str, Any] = {"encoding": "utf-8", "newline": ""}
