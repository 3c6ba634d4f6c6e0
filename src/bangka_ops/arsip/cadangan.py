"""``cekat arsip cadangan``: the archive made ready for Borg (the pre-hook of the Borg policies
``arsip`` and ``arsip_vital``, README "Cadangan arsip").

1. **The catalogue**, consistent: a copy through SQLite's online backup API into
   ``<arsip>/cadangan/katalog.sqlite`` (written beside, synced, then renamed over the last one).
   Borg may read the live ``katalog.sqlite`` in the middle of an intake's transaction; this copy
   is a single moment, and it is the one a restore puts back.
2. **Vital records** (codes with ``vital: true``, and their sub-codes): every stored document's
   PDF/A and original as a hard link under ``<arsip>/cadangan/vital/dokumen/<path>`` (no second
   copy on disk), so the off-site policy can take exactly them; a link whose document is no longer
   vital (its code changed) or no longer stored is removed. A ``vital.json`` beside lists them.
   The links follow the snapshot (what a restore puts back), not the live catalogue.

A document that cannot be linked (its file missing, say) is a problem reported on the output,
in ``vital.json`` and in the audit log, and does not stop the backup: Borg still takes
everything else. The off-site policy carries the whole catalogue copy (metadata and OCR text of
every document, so the vital ones can be found again after a disaster): the off-site repository
is encrypted like every repository.

Paths come from the catalogue, which only the intake writes; they are still checked to stay
inside ``dokumen/`` (no ``..``, not absolute), and the link is made to the file itself, not to
where a symlink in its last component points. A folder on the way that is a symlink is not
refused here: only the archive's own account can write below ``dokumen/``.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from bangka_ops.arsip import catalogue as cat
from bangka_ops.arsip.awan import DOCUMENTS
from bangka_ops.arsip.config import Config

FOLDER = "cadangan"
SNAPSHOT = "katalog.sqlite"
VITAL = "vital"
LOCK = ".kunci"
SPARE_PREFIX = ".katalog-"


@dataclass
class Result:
    snapshot: Path
    items: int = 0
    vital_items: int = 0
    linked: int = 0
    removed: int = 0
    problems: list[str] = field(default_factory=list)


def snapshot(root: Path, target: Path) -> int:
    """A consistent copy of the catalogue at ``target``; returns its item count."""
    target.parent.mkdir(mode=0o750, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=SPARE_PREFIX, suffix=".sqlite", dir=target.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        source = sqlite3.connect((root / cat.FILE).absolute().as_uri() + "?mode=ro", uri=True)
        try:
            copy = sqlite3.connect(temporary)
            try:
                source.backup(copy)
                count = int(copy.execute("SELECT count(*) FROM item").fetchone()[0])
                check = copy.execute("PRAGMA quick_check").fetchone()[0]
                if check != "ok":
                    raise sqlite3.DatabaseError(f"the copy fails its check: {check}")
            finally:
                copy.close()
        finally:
            source.close()
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return count


def inside(relative: str) -> PurePosixPath | None:
    """A catalogue path as a relative path below ``dokumen/``, or None if it would leave it."""
    path = PurePosixPath(relative)
    if not relative or path.is_absolute() or any(p in ("..", ".", "") for p in path.parts):
        return None
    return path


def stored(snapshot_path: Path) -> list[sqlite3.Row]:
    """The stored items of the snapshot (the links follow the copy a restore puts back)."""
    db = sqlite3.connect(snapshot_path.absolute().as_uri() + "?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return db.execute(
            "SELECT id, kode, path, asli FROM item WHERE status = ? ORDER BY id", (cat.STORED,)
        ).fetchall()
    finally:
        db.close()


def link(source: Path, target: Path) -> bool:
    """``target`` made a hard link of ``source`` (the file itself, not where a symlink in its
    last component points); False when it already was."""
    if target.exists() and os.path.samefile(source, target):
        return False
    target.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    spare = target.with_name(f".{target.name}.baru")
    spare.unlink(missing_ok=True)
    os.link(source, spare, follow_symlinks=False)
    os.replace(spare, target)
    return True


def prune(base: Path, wanted: set[PurePosixPath]) -> int:
    """Remove every file below ``base`` that is not ``wanted``, and the folders left empty."""
    removed = 0
    for folder, dirs, names in os.walk(base, topdown=False):
        for name in names:
            found = Path(folder, name)
            if PurePosixPath(found.relative_to(base).as_posix()) not in wanted:
                found.unlink()
                removed += 1
        for name in dirs:
            with_children = Path(folder, name)
            if not any(with_children.iterdir()):
                with_children.rmdir()
    return removed


def link_vital(root: Path, config: Config, result: Result) -> None:
    vital = root / FOLDER / VITAL
    wanted: set[PurePosixPath] = set()
    listed = []
    cross_device = False
    for item in stored(result.snapshot):
        result.items += 1
        code = config.codes.get(item["kode"])
        if code is None or not code.vital:
            continue
        result.vital_items += 1
        listed.append({"id": item["id"], "kode": item["kode"], "path": item["path"]})
        for relative in filter(None, (item["path"], item["asli"])):
            path = inside(str(relative))
            if path is None:
                result.problems.append(f"ID {item['id']}: path outside dokumen/: {relative!r}")
                continue
            wanted.add(path)
            if cross_device:
                continue
            try:
                result.linked += link(root / DOCUMENTS / path, vital / DOCUMENTS / path)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    result.problems.append(f"ID {item['id']}: {relative}: {exc.strerror or exc}")
                    continue
                # The same for every file: said once, and no link is tried again.
                result.problems.append(
                    f"{vital} is on another file system than {root / DOCUMENTS}: no hard"
                    f" link can be made, no vital record is linked / {FOLDER}/ harus di"
                    f" sistem berkas yang sama dengan {DOCUMENTS}/"
                )
                cross_device = True
    base = vital / DOCUMENTS
    if base.is_dir() and not cross_device:
        result.removed += prune(base, wanted)
    vital.mkdir(mode=0o750, parents=True, exist_ok=True)
    manifest = vital / "vital.json"
    spare = manifest.with_name(".vital.json.baru")
    spare.write_text(
        json.dumps(
            {"versi": 1, "dokumen": listed, "masalah": result.problems},
            ensure_ascii=False,
            indent=1,
        )
    )
    os.replace(spare, manifest)


def prepare(root: Path, config: Config) -> Result:
    """The snapshot, then the vital links (both under ``<root>/cadangan/``), one run at a time
    (a lock file in ``cadangan/``). A spare copy a killed run left behind is removed first."""
    folder = root / FOLDER
    folder.mkdir(mode=0o750, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    descriptor = os.open(folder / LOCK, flags, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        for spare in folder.glob(f"{SPARE_PREFIX}*.sqlite"):
            spare.unlink(missing_ok=True)
        result = Result(folder / SNAPSHOT)
        snapshot(root, result.snapshot)
        link_vital(root, config, result)
        return result
    finally:
        os.close(descriptor)
