"""``cekat arsip masuk INBOX``: a batch of scans and its metadata sheet into the archive.

Order of work, and why nothing is lost, duplicated or half-applied:

1. One intake at a time per archive (``flock`` on ``<root>/.kunci``). Leftovers of an interrupted
   run are dealt with first: staging directories are removed; an item caught between "its files
   are being put in place" and "stored" (status ``menyimpan``) is finished when both its files are
   there with their recorded SHA-256, else its files are removed and it goes back to what it was.
2. The sheet and every row are checked (:mod:`.sheet`) and every scan's content hash computed
   before anything moves. A row with a problem is refused and its files stay in the inbox.
3. Each remaining document, two at a time (one per core): the scan check (:mod:`.scan`), then
   OCR to PDF/A (:mod:`.ocr`) in a private staging directory inside the archive root (same file
   system: the final step is a rename). A failing scan goes on the re-scan list; an OCR failure
   fails that document only.
4. In the sheet's row order (so names that collide get ``-2``, ``-3`` deterministically): the item
   is written with status ``menyimpan`` and its final paths; the staged files are fsync'd and
   renamed into ``<root>/dokumen/<path>``; the item becomes ``tersimpan``; its source files move
   to ``<inbox>/selesai/<batch>/``. Every step is an audit line.

A re-run of the same inbox resumes: a row whose files were stored by an earlier batch (its files
now in ``selesai/``, or still in the inbox when the run stopped before moving them) is reported as
already stored, not as a duplicate; a row that matches an item on the re-scan list (same inbox and
file names) replaces that item's scan and the item moves on under its own ID.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import hashlib
import os
import shutil
import signal
import stat
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from bangka_ops.arsip import awan, naming, ocr, scan
from bangka_ops.arsip import catalogue as cat
from bangka_ops.arsip import sheet as sheets
from bangka_ops.arsip.config import Config
from bangka_ops.arsip.locks import exclusive
from bangka_ops.backup.audit import audit, audit_actor

DONE_DIR = "selesai"
DOCUMENTS = awan.DOCUMENTS  # one name for the documents folder, here and in cloud storage
STAGING = ".staging"
KILL_ENV = "BANGKA_ARSIP_KILL_AT"  # tests: the stage at which the run kills itself (SIGKILL)
SHEET_SUFFIXES = (".csv", ".xlsx")


WAITING = "menunggu"


def fresh(path: Path, quiet: float) -> bool:
    """Changed in the last ``quiet`` seconds: still being written (by the scanner through the
    share, a copy in progress). The change time, which no client can set back, is what counts."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return max(info.st_mtime, info.st_ctime) > time.time() - quiet


class IntakeError(Exception):
    """The batch cannot start (no sheet, two sheets, a locked archive): nothing was done."""


@dataclass
class Outcome:
    """What happened to one row."""

    row: int
    files: list[str]
    # tersimpan | sudah_tersimpan | ditolak | perlu_pindai_ulang | gagal_ocr | menunggu
    status: str
    item: int | None = None
    path: str | None = None
    reasons: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "baris": self.row,
            "berkas": self.files,
            "status": self.status,
            "id": self.item,
            "path": self.path,
            "alasan": self.reasons,
        }


@dataclass
class Report:
    batch: str
    sheet: str
    outcomes: list[Outcome] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)  # the sheet as a whole
    recovered: list[str] = field(default_factory=list)
    empty: bool = False  # the inbox held nothing to ingest
    sheet_waiting: bool = False  # the sheet was still being written: nothing was read

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def ok(self) -> bool:
        return not self.problems and all(
            o.status in ("tersimpan", "sudah_tersimpan", WAITING) for o in self.outcomes
        )

    @property
    def complete(self) -> bool:
        """Every row stored: the sheet's work is done and it can be handed over."""
        return self.ok and bool(self.outcomes) and not self.count(WAITING)

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "kosong": self.empty,
            "lembar_masih_ditulis": self.sheet_waiting,
            "lembar": self.sheet,
            "ringkasan": self.summary(),
            "masalah_lembar": self.problems,
            "dipulihkan": self.recovered,
            "baris": [o.as_dict() for o in self.outcomes],
        }

    def summary(self) -> dict[str, int]:
        keys = (
            "tersimpan",
            "sudah_tersimpan",
            "ditolak",
            "perlu_pindai_ulang",
            "gagal_ocr",
            WAITING,
        )
        return {k: self.count(k) for k in keys}


def checkpoint(stage: str) -> None:
    """Where a test interrupts the run for real (SIGKILL: no clean-up code runs)."""
    if os.environ.get(KILL_ENV) == stage:
        os.kill(os.getpid(), signal.SIGKILL)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path) -> None:
    """``path`` and its missing parents, each new one flushed into its parent (after a power
    cut a stored file's folder is there too)."""
    missing = []
    at = path
    while not at.exists():
        missing.append(at)
        at = at.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o750, exist_ok=True)
        fsync_dir(folder.parent)


def place(staged: Path, final: Path) -> None:
    """``staged`` (already fsync'd) renamed to ``final``, the directory flushed too."""
    make_dirs(final.parent)
    os.replace(staged, final)
    fsync_dir(final.parent)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def content_hash(paths: list[Path]) -> str:
    """A document's content hash: the SHA-256 of its one file (what ``sha256sum`` prints), or
    for several images the SHA-256 of their SHA-256s, one per line, in page order."""
    digests = [ocr.sha256(p) for p in paths]
    if len(digests) == 1:
        return digests[0]
    return hashlib.sha256("".join(d + "\n" for d in digests).encode()).hexdigest()


def waiting(inbox: Path) -> bool:
    """Whether the inbox holds anything besides the handed-over ``selesai/`` folder."""
    return any(p.name != DONE_DIR and not p.name.startswith(".") for p in inbox.iterdir())


def find_sheet(inbox: Path, given: Path | None) -> Path:
    if given is not None:
        if not given.is_file():
            raise IntakeError(f"{given}: lembar data tidak ada / no such sheet")
        return given
    found = sorted(
        p
        for p in inbox.iterdir()
        if p.suffix.lower() in SHEET_SUFFIXES and not p.name.startswith((".", "~$"))
    )
    for path in found:
        if path.is_symlink() or not path.is_file():
            raise IntakeError(
                f"{path}: lembar data bukan berkas biasa (symlink?) / "
                "the sheet is not a plain file (a symlink?)"
            )
    if not found:
        raise IntakeError(
            f"{inbox}: tidak ada lembar data (.csv/.xlsx) / no metadata sheet (.csv/.xlsx)"
        )
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise IntakeError(
            f"{inbox}: lebih dari satu lembar data ({names}); pilih dengan --lembar / "
            f"more than one sheet ({names}); choose one with --lembar"
        )
    return found[0]


def locked(root: Path) -> contextlib.AbstractContextManager[None]:
    return exclusive(
        root / ".kunci",
        IntakeError(f"{root}: pemasukan lain sedang berjalan / another intake is running"),
    )


def prepare(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True, mode=0o750)
    (root / DOCUMENTS).mkdir(exist_ok=True, mode=0o750)
    (root / STAGING).mkdir(exist_ok=True, mode=0o700)


def recover(root: Path, catalogue: cat.Catalogue) -> list[str]:
    """Finish or undo what an interrupted run left (under the lock)."""
    said = []
    for leftover in (root / STAGING).iterdir():
        shutil.rmtree(leftover, ignore_errors=True)
    for item in catalogue.with_status(cat.STORING):
        files = [
            (root / DOCUMENTS / item["path"], item["sha256"]),
            (root / DOCUMENTS / item["asli"], item["asli_sha256"]),
        ]
        whole = all(p.is_file() and ocr.sha256(p) == digest for p, digest in files)
        if whole:
            catalogue.set_status(item["id"], cat.STORED)
            said.append(f"ID {item['id']}: penyimpanan diselesaikan / storing finished")
            audit("arsip", "masuk", "ok", item=item["id"], path=item["path"], dipulihkan=True)
            continue
        for path, _ in files:
            path.unlink(missing_ok=True)
        if item["masalah"]:
            catalogue.set_status(
                item["id"], cat.RESCAN, path=None, asli=None, sha256=None, asli_sha256=None
            )
        else:
            catalogue.forget(item["id"])
        said.append(
            f"ID {item['id']}: penyimpanan yang terputus dibatalkan, diulang dari kotak masuk / "
            "an interrupted store undone, redone from the inbox"
        )
    return said


@dataclass
class Batch:
    """One run's context: where from, under which batch id, into which catalogue."""

    id: str
    inbox: Path
    sheet: Path
    catalogue: cat.Catalogue
    report: Report


@dataclass
class Job:
    row: sheets.Row
    sources: list[Path]
    digest: str
    pending: dict[str, Any] | None  # the re-scan item this row replaces
    # Device and inode of each source as it was copied: only that file leaves the inbox.
    identities: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass
class Done:
    job: Job
    problems: list[scan.Problem]
    output: ocr.Output | None = None
    error: str | None = None
    workdir: Path | None = None


def private_copies(job: Job, workdir: Path) -> list[Path]:
    """The document's files copied into its private staging directory (never through a
    symlink), checked against the content hash taken when the batch was planned: what is
    checked, OCR'd and kept as evidence is exactly what was hashed, even if someone changes
    the inbox meanwhile."""
    copies = []
    for index, source in enumerate(job.sources):
        target = workdir / "sumber" / str(index) / source.name
        target.parent.mkdir(parents=True)
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        st = os.fstat(fd)
        job.identities[job.row.files[index]] = (st.st_dev, st.st_ino)
        with os.fdopen(fd, "rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        copies.append(target)
    if content_hash(copies) != job.digest:
        raise ChangedError
    return copies


class ChangedError(Exception):
    """A source file changed between the plan and its turn."""


def work(job: Job, config: Config, staging: Path) -> Done:
    """The scan check, then OCR (run in the pool; touches only its own staging directory)."""
    workdir = Path(tempfile.mkdtemp(prefix="doc-", dir=staging))
    try:
        sources = private_copies(job, workdir)
    except (OSError, ChangedError):
        changed = scan.Problem(
            None,
            "berubah",
            "berkas berubah atau hilang selama pemasukan; jalankan lagi",
            "the file changed or disappeared during the intake; run it again",
        )
        return Done(job, [changed], workdir=workdir)
    try:
        result = scan.check(sources, config.rules, job.row.meta["halaman"])
    except Exception as exc:  # an image no decoder handles is that document's problem
        broken = scan.Problem(
            None,
            "rusak",
            f"berkas tidak dapat diperiksa ({type(exc).__name__}: {str(exc)[:120]})",
            f"the file cannot be checked ({type(exc).__name__}: {str(exc)[:120]})",
        )
        return Done(job, [broken], workdir=workdir)
    if not result.ok:
        return Done(job, result.problems, workdir=workdir)
    try:
        output = ocr.run(sources, workdir, config.ocr_languages, config.ocr_timeout)
    except ocr.OcrError as exc:
        return Done(job, [], error=str(exc), workdir=workdir)
    except Exception as exc:
        return Done(job, [], error=f"{type(exc).__name__}: {exc}", workdir=workdir)
    return Done(job, [], output=output, workdir=workdir)


def source_of(inbox: Path, sheet: Path, row: sheets.Row) -> dict[str, Any]:
    return {
        "kotak_masuk": str(inbox),
        "lembar": sheet.name,
        "baris": row.number,
        "berkas": row.files,
    }


def same_source(item: dict[str, Any], inbox: Path, files: list[str]) -> bool:
    source = item.get("sumber") or {}
    return bool(source.get("kotak_masuk") == str(inbox) and source.get("berkas") == files)


DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def open_dirs(top: int, parts: tuple[str, ...], create: bool) -> int:
    """A descriptor of the folder ``parts`` below the folder ``top``, never through a symlink
    (``O_NOFOLLOW`` at every step: the inbox is a shared folder); ``create`` makes what is
    missing. OSError when a step is missing (and not made) or is not a real folder."""
    fd = os.dup(top)
    try:
        for part in parts:
            if create:
                try:
                    os.mkdir(part, 0o750, dir_fd=fd)
                    os.fsync(fd)
                except FileExistsError:
                    pass
            step = os.open(part, DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = step
    except BaseException:
        os.close(fd)
        raise
    return fd


def move_sources(
    inbox: Path,
    batch: str,
    files: list[str],
    identities: dict[str, tuple[int, int]] | None = None,
) -> None:
    """The stored document's source files out of the inbox, into ``selesai/<batch>/``, through
    real folders only, renamed by descriptor. A file that is no longer the one that was copied
    (``identities``: device and inode), or no longer a plain file, is left where it is."""
    top = os.open(inbox, DIRECTORY)
    try:
        done = open_dirs(top, (DONE_DIR, batch), create=True)
        try:
            for name in files:
                *folders, leaf = PurePosixPath(name).parts
                try:
                    source = open_dirs(top, tuple(folders), create=False)
                except OSError:
                    continue
                try:
                    try:
                        st = os.stat(leaf, dir_fd=source, follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    known = (identities or {}).get(name)
                    if not stat.S_ISREG(st.st_mode) or known not in (None, (st.st_dev, st.st_ino)):
                        continue
                    target = open_dirs(done, tuple(folders), create=True)
                    try:
                        os.rename(leaf, leaf, src_dir_fd=source, dst_dir_fd=target)
                        os.fsync(target)
                    finally:
                        os.close(target)
                    os.fsync(source)
                finally:
                    os.close(source)
        finally:
            os.close(done)
    finally:
        os.close(top)


def already_stored(
    inbox: Path, row: sheets.Row, stored_here: dict[str, list[dict[str, Any]]]
) -> dict[str, Any] | None:
    """The stored item this row is, when an earlier run stored it: the same inbox and file
    names, and the files (in the inbox still, or handed over to that batch's ``selesai/``
    folder, or some in each when a run stopped while moving them) hash to what was stored.
    Whatever of it is still in the inbox is handed over now. A name used again for a new scan
    (different content), or a file that is simply missing, is not "already stored"."""
    candidates = {
        item["id"]: item
        for name in row.files
        for item in stored_here.get(name, [])
        if same_source(item, inbox, row.files)
    }
    for item in sorted(candidates.values(), key=lambda i: -int(i["id"])):
        handed = PurePosixPath(DONE_DIR, str(item["batch"]))
        paths, leftovers = [], []
        for name in row.files:
            if sheets.plain_file(inbox, PurePosixPath(name)):
                paths.append(inbox / name)
                leftovers.append(name)
            elif sheets.plain_file(inbox, handed / name):
                paths.append(inbox / handed / name)
            else:
                break
        else:
            if content_hash(paths) == item["sumber_sha256"]:
                if leftovers:
                    move_sources(inbox, str(item["batch"]), leftovers)
                return item
    return None


def still_written(quiet: float) -> dict[str, Any]:
    id_ = f"berkas masih ditulis (berubah dalam {quiet:.0f} detik terakhir); diambil nanti"
    en = f"a file is still being written (changed in the last {quiet:.0f} s); taken later"
    return {"kode": WAITING, "alasan": id_, "reason": en, "teks": f"{id_} / {en}"}


class Intake:
    def __init__(
        self,
        config: Config,
        root: Path,
        who: str | None = None,
        progress: Callable[[int, int], None] | None = None,
        quiet: float = 0,
    ) -> None:
        self.quiet = quiet  # files changed more recently than this are left for a later run
        self.config = config
        self.root = root
        self.who = audit_actor(who)
        self.progress = progress or (lambda done, total: None)

    def run(
        self, inbox: Path, sheet_path: Path | None = None, today: dt.date | None = None
    ) -> Report:
        inbox = inbox.resolve()
        if not inbox.is_dir():
            raise IntakeError(f"{inbox}: kotak masuk tidak ada / no such inbox directory")
        done_dir = inbox / DONE_DIR
        if done_dir.is_symlink() or (done_dir.exists() and not done_dir.is_dir()):
            raise IntakeError(
                f"{done_dir}: bukan direktori biasa (symlink?) / not a plain directory (a symlink?)"
            )
        if sheet_path is None and not waiting(inbox):
            return Report("-", "-", empty=True)
        sheet_file = find_sheet(inbox, sheet_path)
        if self.quiet and fresh(sheet_file, self.quiet):
            return Report("-", str(sheet_file), sheet_waiting=True)
        prepare(self.root)
        with locked(self.root), cat.Catalogue(self.root) as catalogue:
            batch = dt.datetime.now().strftime("%Y%m%dT%H%M%S") + "-" + os.urandom(3).hex()
            report = Report(batch, str(sheet_file))
            report.recovered = recover(self.root, catalogue)
            sheet = sheets.read(sheet_file, inbox, self.config, today or dt.date.today())
            if sheet.problems:
                report.problems = [p.as_dict() | {"teks": str(p)} for p in sheet.problems]
                return report
            catalogue.start_batch(batch, self.who, inbox, sheet_file, ocr.sha256(sheet_file))
            audit(
                "arsip",
                "batch_mulai",
                "ok",
                batch=batch,
                kotak_masuk=str(inbox),
                lembar=sheet_file.name,
            )
            jobs = self.plan(inbox, sheet, catalogue, report)
            checkpoint("validated")
            self.process(Batch(batch, inbox, sheet_file, catalogue, report), jobs)
            report.outcomes.sort(key=lambda o: o.row)
            if report.complete:
                move_sources(inbox, batch, [sheet_file.name])
            catalogue.end_batch(batch, report.summary())
            audit(
                "arsip",
                "batch_selesai",
                "ok" if report.ok else "partial",
                batch=batch,
                ringkasan=report.summary(),
            )
            return report

    def plan(
        self, inbox: Path, sheet: sheets.Sheet, catalogue: cat.Catalogue, report: Report
    ) -> list[Job]:
        """The rows that go on to the scan check, every other row's outcome said."""
        stored_here: dict[str, list[dict[str, Any]]] = {}
        for item in catalogue.with_status(cat.STORED):
            if (item.get("sumber") or {}).get("kotak_masuk") == str(inbox):
                for name in item["sumber"]["berkas"]:
                    stored_here.setdefault(name, []).append(item)
        pending = catalogue.with_status(cat.RESCAN, cat.OCR_FAILED)
        jobs: list[Job] = []
        digests: dict[str, int] = {}
        for row in sheet.rows:
            earlier = already_stored(inbox, row, stored_here)
            if earlier is not None:
                report.outcomes.append(
                    Outcome(
                        row.number, row.files, "sudah_tersimpan", earlier["id"], earlier["path"]
                    )
                )
                continue
            if self.quiet and any(fresh(inbox / f, self.quiet) for f in row.files):
                report.outcomes.append(
                    Outcome(row.number, row.files, WAITING, reasons=[still_written(self.quiet)])
                )
                continue
            if row.problems:
                report.outcomes.append(
                    Outcome(
                        row.number,
                        row.files,
                        "ditolak",
                        reasons=[p.as_dict() | {"teks": str(p)} for p in row.problems],
                    )
                )
                self.refused(row, row.problems)
                continue
            sources = [inbox / f for f in row.files]
            digest = content_hash(sources)
            replaces = next((p for p in pending if same_source(p, inbox, row.files)), None)
            twins = [i for i in catalogue.by_source(digest) if i["status"] != cat.STORING]
            stored_twin = next((i for i in twins if i["status"] == cat.STORED), None)
            if stored_twin:
                self.duplicate(row, report, stored_twin)
                continue
            if digest in digests:
                self.duplicate(row, report, None, digests[digest])
                continue
            digests[digest] = row.number
            jobs.append(Job(row, sources, digest, replaces))
        return jobs

    def duplicate(
        self,
        row: sheets.Row,
        report: Report,
        item: dict[str, Any] | None,
        other_row: int | None = None,
    ) -> None:
        if item is not None:
            id_ = (
                f"duplikat: isi yang sama sudah tersimpan sebagai ID {item['id']} ({item['path']})"
            )
            en = f"duplicate: the same content is already stored as ID {item['id']}"
        else:
            id_ = f"duplikat: isi yang sama dengan baris {other_row} lembar ini"
            en = f"duplicate: the same content as row {other_row} of this sheet"
        reason = {
            "kode": "duplikat",
            "alasan": id_,
            "reason": en,
            "teks": f"{id_} / {en}",
            "id": item["id"] if item else None,
        }
        report.outcomes.append(Outcome(row.number, row.files, "ditolak", reasons=[reason]))
        audit("arsip", "masuk", "refused", baris=row.number, berkas=row.files, alasan=en)

    def refused(self, row: sheets.Row, problems: list[sheets.SheetProblem]) -> None:
        audit(
            "arsip",
            "masuk",
            "refused",
            baris=row.number,
            berkas=row.files,
            alasan=[str(p) for p in problems][:10],
        )

    def process(self, batch: Batch, jobs: list[Job]) -> None:
        staging = Path(tempfile.mkdtemp(prefix=f"{batch.id}-", dir=self.root / STAGING))
        self.progress(0, len(jobs))
        try:
            with concurrent.futures.ThreadPoolExecutor(self.config.workers) as pool:
                futures = [pool.submit(work, job, self.config, staging) for job in jobs]
                try:
                    for count, future in enumerate(futures, 1):
                        self.settle(batch, future.result())
                        self.progress(count, len(jobs))
                except BaseException:
                    # Interrupted (Ctrl-C, a full disk): documents not started are not started;
                    # the one or two being OCR'd end within their time limit.
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def settle(self, batch: Batch, done: Done) -> None:
        checkpoint("ocr")
        if done.output is None:
            self.set_aside(batch, done)
        else:
            self.store(batch, done.job, done.output)
        if done.workdir is not None:
            shutil.rmtree(done.workdir, ignore_errors=True)

    def set_aside(self, batch: Batch, done: Done) -> None:
        """A document that failed the scan check or OCR: on the re-scan list (the same item
        when it was there already), its files left in the inbox."""
        job, row, catalogue = done.job, done.job.row, batch.catalogue
        status = cat.RESCAN if done.problems else cat.OCR_FAILED
        reasons = [p.as_dict() | {"teks": str(p)} for p in done.problems] or [
            {
                "kode": "ocr",
                "alasan": f"OCR gagal: {done.error}",
                "reason": f"OCR failed: {done.error}",
                "teks": f"OCR gagal / failed: {done.error}",
            }
        ]
        fields: dict[str, Any] = {
            "masalah": reasons,
            "sumber": source_of(batch.inbox, batch.sheet, row),
            "sumber_sha256": job.digest,
            "batch": batch.id,
        }
        item = self.record(catalogue, job, status, fields)
        batch.report.outcomes.append(Outcome(row.number, row.files, status, item, reasons=reasons))
        audit(
            "arsip",
            "pindai_ulang" if done.problems else "ocr",
            "failed",
            item=item,
            batch=batch.id,
            alasan=[r["reason"] for r in reasons][:10],
        )

    def store(self, batch: Batch, job: Job, output: ocr.Output) -> None:
        """A checked and OCR'd document into the archive, in the steps a re-run can finish."""
        row, catalogue = job.row, batch.catalogue
        for staged in (output.pdfa, output.evidence):
            fsync_file(staged)
        path = naming.unique(self.config.rule.render(naming.values_of(row.meta)), catalogue.taken)
        evidence = naming.evidence_path(path)
        # Every hash the cloud copy will be checked by, from the bytes as they are stored.
        main, original = awan.digest(output.pdfa), awan.digest(output.evidence)
        fields: dict[str, Any] = {
            "path": path,
            "asli": evidence,
            "sha256": main.sha256,
            "asli_sha256": original.sha256,
            "bytes": main.bytes,
            "sumber": source_of(batch.inbox, batch.sheet, row),
            "sumber_sha256": job.digest,
            "batch": batch.id,
        }
        item = self.record(catalogue, job, cat.STORING, fields, output.text)
        checkpoint("catalogued")
        place(output.pdfa, self.root / DOCUMENTS / path)
        place(output.evidence, self.root / DOCUMENTS / evidence)
        checkpoint("placed")
        catalogue.set_status(item, cat.STORED, masalah=[])
        catalogue.queue_upload([(item, "pdf", path, main), (item, "asli", evidence, original)])
        audit(
            "arsip",
            "masuk",
            "ok",
            item=item,
            batch=batch.id,
            path=path,
            sha256=fields["sha256"],
            halaman=output.pages,
        )
        checkpoint("stored")
        move_sources(batch.inbox, batch.id, row.files, job.identities)
        checkpoint("sources")
        batch.report.outcomes.append(Outcome(row.number, row.files, "tersimpan", item, path))

    def record(
        self,
        catalogue: cat.Catalogue,
        job: Job,
        status: str,
        fields: dict[str, Any],
        text: str | None = None,
    ) -> int:
        """The row's item with this status: the re-scan item it replaces (its metadata from the
        new row, as a new version), or a new one."""
        if job.pending is None:
            return catalogue.add({**job.row.meta, "_oleh": self.who}, status, text=text, **fields)
        item = int(job.pending["id"])
        self.update_metadata(catalogue, item, job.row.meta, "pindai_ulang")
        catalogue.set_status(item, status, text=text, **fields)
        return item

    def update_metadata(
        self, catalogue: cat.Catalogue, item: int, meta: dict[str, Any], action: str
    ) -> None:
        changes = {k: meta[k] for k in cat.META if k in meta}
        changes["tanggal"] = meta["tanggal"].isoformat()
        for key in ("nomor", "asal_tujuan", "keterangan"):
            changes[key] = changes.get(key) or ""
        catalogue.change(item, changes, self.who, "lembar data baru / new sheet row", action)
