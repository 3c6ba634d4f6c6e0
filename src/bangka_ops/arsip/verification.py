"""Proof that the cloud copy is stored and opens (SOP step 8): ``cekat arsip verifikasi``.

1. The whole remote tree is listed with hashes (one ``rclone lsjson``: on Google Drive or S3 the
   hash is metadata, on SFTP the server computes it) and every stored file is compared with the
   size and hash recorded when it was queued. A remote with no hash in common is compared by
   downloading (``rclone check --download``).
2. A random sample (``awan.sampel_harian``) is downloaded whole into a private directory,
   hashed again (SHA-256, as recorded at intake) and opened as a PDF without repair, its pages
   counted against the catalogue.
3. What is missing or different is uploaded once more from the local file (after its SHA-256
   is checked: a local file damaged since intake is never uploaded; restore it from Borg) and
   checked again; what stays wrong is ``gagal`` and reported (exit 2, so the timer notifies).

Every run is a row of ``verifikasi`` (the whole result as JSON): the checklist's archive
section reads the newest.
"""

from __future__ import annotations

import json
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pikepdf

from bangka_ops.arsip import catalogue as cat
from bangka_ops.arsip.awan import (
    DIFFERENT,
    DOCUMENTS,
    FAILED,
    MISSING,
    PENDING,
    STORED,
    CloudError,
    Damaged,
    Rclone,
    confirm,
    digest,
    local_state,
    locked,
    stored_files,
)
from bangka_ops.arsip.config import Config

MESSAGES = {
    MISSING: ("tidak ada di penyimpanan awan", "missing from cloud storage"),
    DIFFERENT: ("berbeda dari yang tercatat", "differs from what was recorded"),
    FAILED: ("tetap salah setelah diunggah ulang", "still wrong after uploading it again"),
}
LOCAL = "rusak"  # the local file itself is damaged or gone


@dataclass
class Finding:
    path: str
    item: int
    status: str  # hilang | berbeda | gagal | rusak
    detail: str = ""

    @property
    def teks(self) -> str:
        if self.status == LOCAL:
            return Damaged(self.path, self.item, self.detail).teks
        ind, eng = MESSAGES[self.status]
        extra = f" ({self.detail})" if self.detail else ""
        return f"ID {self.item} {self.path}: {ind} / {eng}{extra}"

    def as_dict(self) -> dict[str, Any]:
        return {**vars(self), "teks": self.teks}


@dataclass
class VerifyReport:
    started: str
    finished: str = ""
    files: int = 0
    matched: int = 0
    not_uploaded: int = 0
    sampled: list[str] = field(default_factory=list)
    sample_ok: int = 0
    found: list[Finding] = field(default_factory=list)  # before the re-upload
    repaired: list[str] = field(default_factory=list)
    failed: list[Finding] = field(default_factory=list)  # still wrong
    unknown_remote: int = 0
    remote_bytes: int = 0
    hash_type: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed and not self.error

    def as_dict(self) -> dict[str, Any]:
        return {
            "mulai": self.started,
            "selesai": self.finished,
            "berkas": self.files,
            "cocok": self.matched,
            "belum_diunggah": self.not_uploaded,
            "sampel": self.sampled,
            "sampel_ok": self.sample_ok,
            "ditemukan": [f.as_dict() for f in self.found],
            "diunggah_ulang": self.repaired,
            "gagal": [f.as_dict() for f in self.failed],
            "tak_dikenal_di_awan": self.unknown_remote,
            "bytes_awan": self.remote_bytes,
            "jenis_hash": self.hash_type or "none (ukuran + unduhan / size + download)",
            "galat": self.error,
            "ok": self.ok,
        }


def opens(path: Path, pages: int | None) -> str:
    """Why the file does not open as the PDF it should be ('' when it does)."""
    try:
        with pikepdf.open(path, attempt_recovery=False) as pdf:
            count = len(pdf.pages)
            for page in pdf.pages:
                page.obj.get("/Contents")
    except Exception as exc:  # any failure to open is the finding
        return f"tidak terbuka sebagai PDF / does not open as a PDF: {exc}"
    if pages is not None and count != pages:
        return f"{count} halaman, tercatat {pages} / {count} pages, {pages} recorded"
    return ""


def verify(
    config: Config,
    root: Path,
    *,
    sample: int | None = None,
    who: str = "-",
    rng: random.Random | None = None,
    wait: float = 0,
) -> VerifyReport:
    """Every stored file against the remote, a random sample downloaded and opened, what is
    wrong uploaded again once."""
    if config.cloud is None:
        raise CloudError("arsip.yml: tidak ada bagian 'awan' / no 'awan' section")
    report = VerifyReport(started=cat.now())
    count = config.cloud.sample if sample is None else sample
    with locked(root, wait), cat.Catalogue(root) as catalogue:
        try:  # rclone itself unusable (not installed, its remote gone) is a failed run too
            verifier = Verifier(catalogue, Rclone(config.cloud), root, report)
            verifier.run(count, rng or random.SystemRandom())
        except CloudError as exc:
            report.error = str(exc)
        report.finished = cat.now()
        result = json.dumps(report.as_dict(), ensure_ascii=False)
        catalogue.db.execute(
            "INSERT INTO verifikasi (mulai, selesai, oleh, hasil) VALUES (?, ?, ?, ?)",
            (report.started, report.finished, who, result),
        )
    return report


@dataclass
class Verifier:
    catalogue: cat.Catalogue
    rclone: Rclone
    root: Path
    report: VerifyReport
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    wrong: dict[str, str] = field(default_factory=dict)  # path: hilang | berbeda
    details: dict[str, str] = field(default_factory=dict)  # path: what the sample found

    def run(self, count: int, rng: random.Random) -> None:
        good = self.compare()
        sampled = rng.sample(good, min(count, len(good)))
        self.report.sampled = sorted(sampled)
        with tempfile.TemporaryDirectory(prefix="bangka-awan-") as private:
            for path in sampled:
                problem = self.fetch_and_open(path, Path(private))
                if problem:
                    self.wrong[path] = DIFFERENT
                    self.details[path] = problem
                else:
                    self.report.sample_ok += 1
        when = cat.now()
        matched = sorted(set(good) - set(self.wrong))
        with self.catalogue.write() as db:
            db.executemany(
                "UPDATE awan SET status = ?, diperiksa = ?, catatan = '', "
                "diunggah = coalesce(diunggah, ?) WHERE path = ?",
                [(STORED, when, when, p) for p in matched],
            )
            db.executemany(
                "UPDATE awan SET dibuka = ? WHERE path = ?",
                [(when, p) for p in sampled if p not in self.wrong],
            )
        self.report.matched = len(matched)
        self.report.found = [self.finding(p, s) for p, s in sorted(self.wrong.items())]
        if self.wrong:
            self.repair()

    def finding(self, path: str, status: str, detail: str | None = None) -> Finding:
        return Finding(
            path, int(self.rows[path]["item"]), status, detail or self.details.get(path, "")
        )

    def compare(self) -> list[str]:
        """The listing against the recorded sizes and hashes: the stored files the remote
        holds as recorded (the others in ``wrong`` or counted as not uploaded yet)."""
        kinds = self.rclone.hashes()
        self.report.hash_type = kinds[0] if kinds else ""
        listed = self.rclone.listing()
        self.report.remote_bytes = sum(size for size, _ in listed.values())
        self.rows = {
            str(r["path"]): dict(r)
            for r in self.catalogue.db.execute(
                "SELECT awan.*, item.halaman FROM awan JOIN item ON item.id = awan.item "
                "WHERE item.status = ?",
                (cat.STORED,),
            )
        }
        known = {path for _, _, path, _ in stored_files(self.catalogue)}
        self.report.unknown_remote = len(set(listed) - known)
        self.report.files = len(known)
        good: list[str] = []
        for path in sorted(known):
            row = self.rows.get(path)
            if row is None:
                self.report.not_uploaded += 1
                continue
            size, remote_hash = listed.get(path, (None, None))
            if size == row["bytes"] and (not kinds or remote_hash == row[kinds[0]]):
                good.append(path)
            elif row["status"] == PENDING:
                self.report.not_uploaded += 1  # an upload still to finish, not a loss
            else:
                self.wrong[path] = MISSING if size is None else DIFFERENT
        if not kinds and good:
            same = self.rclone.check_download(self.root / DOCUMENTS, good)
            self.wrong.update((p, DIFFERENT) for p in good if p not in same)
            good = [p for p in good if p in same]
        return good

    def fetch_and_open(self, path: str, private: Path) -> str:
        row = self.rows[path]
        try:
            copy = self.rclone.download(path, private, int(row["bytes"]))
        except CloudError as exc:
            return str(exc)
        try:
            found = digest(copy)
            if found.sha256 != row["sha256"]:
                return f"SHA-256 unduhan/download {found.sha256[:16]}… ≠ {str(row['sha256'])[:16]}…"
            return opens(copy, int(row["halaman"]) if row["peran"] == "pdf" else None)
        finally:
            copy.unlink(missing_ok=True)

    def repair(self) -> None:
        """Upload once more what is missing or different (from a local file still as
        recorded), then check it again; what stays wrong is ``gagal``."""
        local_bad: dict[str, str] = {}
        again: list[str] = []
        for path in sorted(self.wrong):
            state = local_state(self.root, path, str(self.rows[path]["sha256"]))
            if isinstance(state, str):
                local_bad[path] = state
            else:
                again.append(path)
        good: set[str] = set()
        errors: list[str] = []
        if again:
            done = self.rclone.copy(self.root / DOCUMENTS, again, force=True, max_duration=None)
            if done.returncode != 0:
                errors.append(str(self.rclone.failure("copy", done)))
            try:
                good, _ = confirm(self.catalogue, self.rclone, self.root, again)
            except CloudError as exc:
                errors.append(str(exc))
            with tempfile.TemporaryDirectory(prefix="bangka-awan-") as private:
                for path in sorted(good & set(self.details)):
                    problem = self.fetch_and_open(path, Path(private))
                    if problem:
                        good.discard(path)
                        self.details[path] = problem
        self.report.repaired = sorted(good)
        self.report.failed = [
            self.finding(p, LOCAL, local_bad[p])
            if p in local_bad
            else self.finding(p, FAILED, self.details.get(p, self.wrong[p]))
            for p in sorted(self.wrong)
            if p not in good
        ]
        when = cat.now()
        with self.catalogue.write() as db:
            db.executemany(
                "UPDATE awan SET status = ?, diunggah = ?, diperiksa = ?, catatan = ? "
                "WHERE path = ?",
                [(STORED, when, when, f"diunggah ulang / uploaded again: {self.wrong[p]}", p)
                 for p in sorted(good)],
            )  # fmt: skip
            db.executemany(
                "UPDATE awan SET status = ?, diperiksa = ?, catatan = ? WHERE path = ?",
                [(FAILED, when, f.detail or f.status, f.path) for f in self.report.failed],
            )
        if errors:
            self.report.error = " / ".join(dict.fromkeys(errors))
