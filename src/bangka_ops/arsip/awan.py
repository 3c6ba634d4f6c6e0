"""The archive's copy in cloud storage (SOP steps 7 and 8), through rclone.

rclone is the well-kept tool for the job: the office's storage (a Google Drive shared drive, S3,
WebDAV/Nextcloud, SFTP …) is a section of ``rclone.conf``, not code. The remote tree mirrors the
archive: ``<remote>/dokumen/<the naming rule's path>`` for the PDF/A and its evidence copy.

Each stored file has a row in the catalogue's ``awan`` table with the size and the SHA-256, MD5
and SHA-1 of the file as it was when it was queued (its SHA-256 checked against the one recorded
at intake: a damaged local file is never uploaded). A row's status:

* ``belum`` — not uploaded yet (or not yet seen by the remote with the same size and hash);
* ``tersimpan`` — the remote reported the same size and hash (MD5 or SHA-1, whichever the remote
  offers; a remote with neither is checked by downloading);
* ``hilang`` / ``berbeda`` — the nightly verification found it missing / different and uploads it
  again once; ``gagal`` — still wrong after that (reported, and retried by the next upload).

:func:`upload` copies what is not ``tersimpan`` (inside the configured time window, at the
configured bandwidth) and then lists the remote to mark what arrived. An interrupted upload
leaves rows ``belum``; the next run copies only what the remote does not already hold.
:func:`verify` lists the whole remote tree with hashes, compares every row, downloads a random
sample whole (SHA-256 again, opened as a PDF, its pages counted), re-uploads what is wrong once
and reports what stays wrong.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bangka_ops.arsip import catalogue as cat
from bangka_ops.arsip.config import Cloud, Config
from bangka_ops.arsip.locks import exclusive

DOCUMENTS = "dokumen"
PENDING, STORED, MISSING, DIFFERENT, FAILED = "belum", "tersimpan", "hilang", "berbeda", "gagal"
CHUNK = 1 << 20
# rclone's own retries first (a shared office link drops); then the next run resumes.
NETWORK = (
    "--contimeout",
    "30s",
    "--timeout",
    "5m",
    "--retries",
    "3",
    "--low-level-retries",
    "10",
)


class CloudError(Exception):
    """The cloud storage cannot be used (said in Bahasa Indonesia and English)."""


class CloudBusy(CloudError):
    """Another upload or verification holds the archive's cloud lock."""


def locked(root: Path, wait: float = 0) -> contextlib.AbstractContextManager[None]:
    """One cloud job at a time, waiting up to ``wait`` seconds for another to end (an intake
    may run beside it: it only adds items)."""
    return exclusive(
        root / ".kunci-awan",
        CloudBusy(
            "unggah/verifikasi lain sedang berjalan, dilewati / another upload or verification "
            "is running: skipped"
        ),
        wait,
    )


# -- rclone ---------------------------------------------------------------------------------


def joined(remote: str, *parts: str) -> str:
    """``remote`` with ``parts`` appended (``drive:`` + ``dokumen`` is ``drive:dokumen``)."""
    base = remote if remote.endswith((":", "/")) else remote + "/"
    return base + "/".join(parts)


@dataclass
class Rclone:
    cloud: Cloud
    binary: str = field(default_factory=lambda: os.environ.get("BANGKA_RCLONE", "rclone"))
    _hashes: list[str] | None = None

    def __post_init__(self) -> None:
        if shutil.which(self.binary) is None:
            raise CloudError(f"rclone tidak terpasang / rclone is not installed ({self.binary})")
        conf = self.cloud.rclone_config
        try:
            mode = conf.stat().st_mode
        except OSError as exc:
            raise CloudError(
                f"{conf}: konfigurasi rclone tidak dapat dibaca / cannot read the rclone "
                f"configuration ({exc.strerror})"
            ) from None
        if mode & stat.S_IROTH:
            raise CloudError(
                f"{conf}: dapat dibaca semua pengguna; jadikan 0640 / readable by everyone "
                "(it holds the storage credentials): make it 0640"
            )
        name = self.cloud.remote.split(":", 1)[0]
        if name:  # not a ':backend,option=…:' connection string
            done = self.run(["listremotes"], timeout=60)
            known = {line.rstrip(":") for line in done.stdout.split()}
            if done.returncode != 0 or name not in known:
                raise CloudError(
                    f"{conf}: tidak ada remote {name!r} / no remote {name!r} in the rclone "
                    f"configuration (known: {', '.join(sorted(known)) or 'none'})"
                )

    @property
    def target(self) -> str:
        return joined(self.cloud.remote, DOCUMENTS)

    def run(
        self, args: list[str], *, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        command = [self.binary, "--config", str(self.cloud.rclone_config), *NETWORK, *args]
        try:
            return subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env={**os.environ, "RCLONE_ASK_PASSWORD": "false"},  # pragma: allowlist secret
            )
        except subprocess.TimeoutExpired:
            raise CloudError(
                f"rclone {args[0]}: tidak selesai dalam {timeout:.0f} detik / did not finish in "
                f"{timeout:.0f} s"
            ) from None

    @staticmethod
    def failure(what: str, done: subprocess.CompletedProcess[str]) -> CloudError:
        lines = [readable(line) for line in done.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if "ERROR" in line or "Failed" in line] or lines
        detail = " | ".join(errors[-3:])[-600:] or f"exit {done.returncode}"
        return CloudError(
            f"penyimpanan awan tidak dapat dihubungi atau menolak / cloud storage unreachable "
            f"or refused ({what}): {detail}"
        )

    def hashes(self) -> list[str]:
        """The hash types the remote reports that the catalogue records (MD5 first)."""
        if self._hashes is None:
            done = self.run(["backend", "features", self.cloud.remote], timeout=300)
            if done.returncode != 0:
                raise self.failure("features", done)
            try:
                hashes = json.loads(done.stdout).get("Hashes") or []
                offered = {str(h).lower() for h in hashes}
            except (ValueError, AttributeError, TypeError, RecursionError):
                raise unreadable("backend features") from None
            self._hashes = [h for h in ("md5", "sha1") if h in offered]
        return self._hashes

    def listing(self, files: list[str] | None = None) -> dict[str, tuple[int, str | None]]:
        """Size and hash (of the first type in :meth:`hashes`, None if none) of each file under
        the remote's ``dokumen/`` (only ``files`` when given); a folder not there yet is empty."""
        kind = self.hashes()[:1]
        args = ["lsjson", "-R", "--files-only", "--no-mimetype", "--no-modtime"]
        args += ["--hash-type", kind[0]] if kind else []
        with tempfile.TemporaryDirectory(prefix="bangka-awan-") as private:
            if files is not None:
                if not files:
                    return {}
                args += ["--files-from-raw", write_list(Path(private), files)]
            done = self.run([*args, self.target])
        if done.returncode == 3:  # the directory is not there: nothing uploaded yet
            return {}
        if done.returncode != 0:
            raise self.failure("lsjson", done)
        out: dict[str, tuple[int, str | None]] = {}
        try:
            for entry in json.loads(done.stdout or "[]"):
                digest = (entry.get("Hashes") or {}).get(kind[0]) if kind else None
                out[str(entry["Path"])] = (
                    int(entry["Size"]),
                    str(digest).lower() if digest else None,
                )
        except (ValueError, KeyError, AttributeError, TypeError, RecursionError):
            raise unreadable("lsjson") from None
        return out

    def copy(
        self, source: Path, files: list[str], *, force: bool, max_duration: float | None
    ) -> subprocess.CompletedProcess[str]:
        """Copy ``files`` (relative to ``source``) to the remote; with ``force`` even those the
        remote seems to hold already. Its log (JSON lines) says which were copied:
        :func:`copied`."""
        args = ["copy", "--checksum", "--transfers", str(self.cloud.transfers)]
        args += ["--no-update-modtime", "--stats", "0", "--use-json-log", "--log-level", "INFO"]
        if force:
            args.append("--ignore-times")
        if self.cloud.bwlimit:
            args += ["--bwlimit", self.cloud.bwlimit]
        if max_duration is not None:
            args += ["--max-duration", f"{max(1, int(max_duration))}s"]
        with tempfile.TemporaryDirectory(prefix="bangka-awan-") as private:
            listed = write_list(Path(private), files)
            return self.run([*args, "--files-from-raw", listed, str(source), self.target])

    def check_download(self, source: Path, files: list[str]) -> set[str]:
        """Of ``files``, those the remote holds byte for byte (each downloaded and compared):
        for a remote that reports no hash. A check that could not judge every file (a file it
        could not read, the connection lost) is a :class:`CloudError`, never a difference."""
        with tempfile.TemporaryDirectory(prefix="bangka-awan-") as private:
            listed = write_list(Path(private), files)
            combined = Path(private) / "hasil"
            done = self.run(
                [
                    "check",
                    "--download",
                    "--one-way",
                    "--files-from-raw",
                    listed,
                    "--combined",
                    str(combined),
                    str(source),
                    self.target,
                ]
            )
            lines = combined.read_text(encoding="utf-8").splitlines() if combined.exists() else []
        marks = {line[2:]: line[0] for line in lines if len(line) > 2 and line[1] == " "}
        if any(marks.get(f) not in ("=", "*", "+") for f in files):
            raise self.failure("check --download", done)
        return {f for f in files if marks[f] == "="}

    def download(self, path: str, into: Path, size: int) -> Path:
        """One remote file, whole, into the private directory ``into``; a remote that sends
        more than the ``size`` recorded is stopped there (it cannot fill the disk)."""
        out = into / "unduhan.pdf"
        out.unlink(missing_ok=True)
        limit = ["--max-transfer", str(size + 1), "--cutoff-mode", "hard"]
        done = self.run(["copyto", *limit, joined(self.target, path), str(out)])
        if done.returncode != 0 or not out.is_file():
            raise self.failure(f"copyto {path}", done)
        return out


def unreadable(what: str) -> CloudError:
    return CloudError(
        f"penyimpanan awan menjawab tidak terbaca / cloud storage gave an unreadable answer "
        f"(rclone {what})"
    )


COPIED = ("Copied (new)", "Copied (replaced existing)")


def copied(log: str) -> set[str]:
    """The files an ``rclone copy`` log reports copied without an error. rclone checks each
    upload's size and hash (when the remote offers one in common) against the remote's answer
    and reports a mismatch as an error, so these are files the remote reported with the same
    size and hash as the local file. Lines it does not know prove nothing (the files they do not
    name are confirmed by a listing instead)."""
    good: set[str] = set()
    bad: set[str] = set()
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("object"), str):
            continue
        if entry.get("level") in ("error", "critical"):
            bad.add(entry["object"])
        elif str(entry.get("msg", "")).startswith(COPIED):
            good.add(entry["object"])
    return good - bad


def readable(line: str) -> str:
    """A log line as text (rclone's JSON log lines as ``ERROR object: message``)."""
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        return line
    if not isinstance(entry, dict):
        return line
    level = str(entry.get("level", "")).upper()
    name = f"{entry['object']}: " if isinstance(entry.get("object"), str) else ""
    return f"{level} {name}{entry.get('msg', '')}"


def write_list(private: Path, files: Iterable[str]) -> str:
    """A ``--files-from-raw`` list in a private directory (names may hold any character but
    a newline, which the naming rule never makes)."""
    listed = private / "berkas.txt"
    listed.write_text("".join(f"{name}\n" for name in files), encoding="utf-8")
    return str(listed)


# -- local files ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Digest:
    bytes: int
    sha256: str
    md5: str
    sha1: str
    # (inode, size, mtime, ctime) before it was read: the same later means not changed since
    # (the ctime cannot be set back)
    stamp: tuple[int, ...] = ()

    def of(self, kind: str) -> str:
        return self.md5 if kind == "md5" else self.sha1


def digest(path: Path, *, all_hashes: bool = True) -> Digest:
    """Size and hashes of a stored file, read once (never through a symbolic link); only the
    SHA-256 without ``all_hashes``."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    stamp = fingerprint(os.fstat(fd))
    sums = [hashlib.sha256()]
    if all_hashes:
        sums += [hashlib.md5(usedforsecurity=False), hashlib.sha1(usedforsecurity=False)]
    size = 0
    with open(fd, "rb") as handle:
        while chunk := handle.read(CHUNK):
            size += len(chunk)
            for s in sums:
                s.update(chunk)
    found = [s.hexdigest() for s in sums]
    md5, sha1 = found[1:] or ["", ""]
    return Digest(size, found[0], md5, sha1, stamp=stamp)


def fingerprint(info: os.stat_result) -> tuple[int, ...]:
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def stored_files(catalogue: cat.Catalogue) -> Iterator[tuple[int, str, str, str]]:
    """(item, role, path, recorded SHA-256) of every file of every stored item."""
    for row in catalogue.db.execute(
        "SELECT id, path, sha256, asli, asli_sha256 FROM item WHERE status = ? ORDER BY id",
        (cat.STORED,),
    ):
        yield int(row[0]), "pdf", str(row[1]), str(row[2])
        if row[3]:
            yield int(row[0]), "asli", str(row[3]), str(row[4])


@dataclass
class Damaged:
    path: str
    item: int
    reason: str

    @property
    def teks(self) -> str:
        return (
            f"ID {self.item} {self.path}: berkas lokal rusak atau hilang, tidak diunggah — "
            f"pulihkan dari cadangan Borg / local file damaged or missing, not uploaded — "
            f"restore it from the Borg backup ({self.reason})"
        )


def local_state(root: Path, path: str, recorded: str, *, all_hashes: bool = True) -> Digest | str:
    """The file's digest, or why it cannot be uploaded (missing, not what was recorded)."""
    try:
        found = digest(root / DOCUMENTS / path, all_hashes=all_hashes)
    except OSError as exc:
        return exc.strerror or str(exc)
    if found.sha256 != recorded:
        return f"SHA-256 {found.sha256[:16]}… bukan/not {recorded[:16]}…"
    return found


# -- the time window --------------------------------------------------------------------------


def window_left(cloud: Cloud, now: dt.datetime | None = None) -> float | None:
    """Seconds left in the upload window (None: no window); 0 when outside it."""
    if cloud.window is None:
        return None
    zone = zoneinfo.ZoneInfo(cloud.timezone)
    here = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    start, end = cloud.window
    today = here.date()
    for day in (today - dt.timedelta(days=1), today):
        opens = dt.datetime.combine(day, start, zone)
        closes = dt.datetime.combine(day if end > start else day + dt.timedelta(days=1), end, zone)
        if opens <= here < closes:
            return (closes - here).total_seconds()
    return 0.0


# -- upload -----------------------------------------------------------------------------------


@dataclass
class UploadReport:
    queued: int = 0
    uploaded: int = 0
    left: int = 0
    outside_window: bool = False
    stopped_by_window: bool = False
    damaged: list[Damaged] = field(default_factory=list)
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "diantrekan": self.queued,
            "terunggah": self.uploaded,
            "tersisa": self.left,
            "di_luar_jendela": self.outside_window,
            "dihentikan_jendela": self.stopped_by_window,
            "rusak": [{"path": d.path, "item": d.item, "teks": d.teks} for d in self.damaged],
            "galat": self.error,
        }


def queue(
    catalogue: cat.Catalogue, root: Path, report: UploadReport
) -> tuple[list[str], list[str], dict[str, Digest]]:
    """Rows for every stored file not yet ``tersimpan`` remotely: (new or pending, flagged by
    a verification, each queued file's digest). A file whose content is not what was recorded
    is not queued."""
    rows = {
        str(r["path"]): (str(r["status"]), bool(r["md5"]) and r["sha256"])
        for r in catalogue.db.execute("SELECT path, status, md5, sha256 FROM awan")
    }
    # A row is done when it is stored remotely with the content the item records now.
    todo = [f for f in stored_files(catalogue) if rows.get(f[2], ("", ""))[:2] != (STORED, f[3])]

    def state(file: tuple[int, str, str, str]) -> Digest | str:
        # Rows the intake queued have every hash already: only the SHA-256 is checked again.
        known = rows.get(file[2], ("", ""))[1] == file[3]
        return local_state(root, file[2], file[3], all_hashes=not known)

    # Hashing is most of the cost here: one file per core (hashlib lets go of the GIL).
    with concurrent.futures.ThreadPoolExecutor(max(1, len(os.sched_getaffinity(0)))) as pool:
        states = list(pool.map(state, todo))
    fresh: list[str] = []
    flagged: list[str] = []
    queued = []
    digests: dict[str, Digest] = {}
    for (item, role, path, _), found in zip(todo, states, strict=True):
        if isinstance(found, str):
            report.damaged.append(Damaged(path, item, found))
            continue
        if found.md5:
            queued.append((item, role, path, found))
        digests[path] = found
        (fresh if rows.get(path, (PENDING,))[0] == PENDING else flagged).append(path)
    catalogue.queue_upload(queued)
    return fresh, flagged, digests


def unchanged(root: Path, path: str, before: Digest, items: dict[str, int]) -> Damaged | None:
    """None when the file is still what was hashed before the copy (its stamp the same, or
    else its SHA-256 the same); else why rclone may have sent other bytes."""
    try:
        if fingerprint(os.lstat(root / DOCUMENTS / path)) == before.stamp:
            return None
    except OSError as exc:
        return Damaged(path, items.get(path, 0), exc.strerror or str(exc))
    state = local_state(root, path, before.sha256, all_hashes=False)
    if isinstance(state, str):
        return Damaged(
            path, items.get(path, 0), f"berubah saat diunggah / changed during the upload: {state}"
        )
    return None


def confirm(
    catalogue: cat.Catalogue,
    rclone: Rclone,
    root: Path,
    paths: list[str],
) -> tuple[set[str], dict[str, str]]:
    """Which of ``paths`` the remote holds with the recorded size and hash (downloaded when the
    remote reports no hash); the others with what is wrong."""
    recorded = {
        str(r["path"]): r
        for r in catalogue.db.execute(
            "SELECT path, bytes, md5, sha1 FROM awan "
            "WHERE path IN (SELECT value FROM json_each(?))",
            (json.dumps(paths),),
        )
    }
    kinds = rclone.hashes()
    listed = rclone.listing(paths)
    good: set[str] = set()
    wrong: dict[str, str] = {}
    for path in paths:
        row = recorded[path]
        if path not in listed:
            wrong[path] = MISSING
            continue
        size, remote_hash = listed[path]
        if size != row["bytes"] or (kinds and remote_hash != row[kinds[0]]):
            wrong[path] = DIFFERENT
        else:
            good.add(path)
    if not kinds and good:
        same = rclone.check_download(root / DOCUMENTS, sorted(good))
        for path in good - same:
            wrong[path] = DIFFERENT
        good &= same
    return good, wrong


def upload(
    config: Config, root: Path, now: dt.datetime | None = None, wait: float = 0
) -> UploadReport:
    """Upload what is not yet in cloud storage (SOP step 7)."""
    if config.cloud is None:
        raise CloudError("arsip.yml: tidak ada bagian 'awan' / no 'awan' section")
    report = UploadReport()
    with locked(root, wait), cat.Catalogue(root) as catalogue:
        left = window_left(config.cloud, now)
        # The window's end as a deadline: hashing the queue counts against it too.
        deadline = None if left is None else time.monotonic() + left
        if left == 0:
            report.outside_window = True
            report.left = pending_count(catalogue)
            return report
        rclone = Rclone(config.cloud)
        fresh, flagged, digests = queue(catalogue, root, report)
        report.queued = len(fresh) + len(flagged)
        try:
            checked_by_rclone = bool(rclone.hashes())
        except CloudError as exc:
            report.error = str(exc)
            report.left = pending_count(catalogue)
            return report
        arrived, errors = send(rclone, root, (fresh, flagged), deadline, report)
        if not checked_by_rclone:
            arrived = set()
        # rclone checked what it reports copied against the remote's size and hash; that it
        # copied the recorded bytes holds when the file did not change since it was hashed.
        items = {path: item for item, _, path, _ in stored_files(catalogue)}
        for path in sorted(arrived):
            damaged = unchanged(root, path, digests[path], items)
            if damaged is not None:
                arrived.discard(path)
                report.damaged.append(damaged)
        # What rclone did not report copied and checked (already there, failed, cut off by the
        # window) is confirmed from a listing of just those files.
        unconfirmed = [p for p in fresh + flagged if p not in arrived]
        good = set(arrived)
        if unconfirmed:
            try:
                good |= confirm(catalogue, rclone, root, unconfirmed)[0]
            except CloudError as exc:
                errors.append(str(exc))
        if good:
            when = cat.now()
            with catalogue.write() as db:
                db.executemany(
                    "UPDATE awan SET status = ?, diunggah = ?, catatan = '' WHERE path = ?",
                    [(STORED, when, p) for p in sorted(good)],
                )
            report.uploaded = len(good)
        report.left = pending_count(catalogue)
        report.error = " / ".join(dict.fromkeys(errors))
    return report


def send(
    rclone: Rclone,
    root: Path,
    batches: tuple[list[str], list[str]],
    deadline: float | None,
    report: UploadReport,
) -> tuple[set[str], list[str]]:
    """The copies (new files, then flagged ones forced), within the window: what rclone
    reports copied and checked, and the errors."""
    arrived: set[str] = set()
    errors: list[str] = []
    for files, force in zip(batches, (False, True), strict=True):
        if not files:
            continue
        budget = None if deadline is None else deadline - time.monotonic()
        if budget is not None and budget <= 0:
            report.stopped_by_window = True
            break
        done = rclone.copy(root / DOCUMENTS, files, force=force, max_duration=budget)
        arrived |= copied(done.stderr) & set(files)
        if done.returncode == 10:  # --max-duration reached: the window closed
            report.stopped_by_window = True
        elif done.returncode != 0:
            errors.append(str(rclone.failure("copy", done)))
    return arrived, errors


def pending_count(catalogue: cat.Catalogue) -> int:
    """Stored files not (yet) confirmed in cloud storage."""
    total = sum(1 for _ in stored_files(catalogue))
    row = catalogue.db.execute(
        "SELECT count(*) FROM awan JOIN item ON item.id = awan.item "
        "WHERE awan.status = ? AND item.status = ?",
        (STORED, cat.STORED),
    ).fetchone()
    return total - int(row[0])
