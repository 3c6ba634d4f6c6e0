"""The archive's catalogue: one SQLite file (``katalog.sqlite`` in the archive root), backed up
by Borg with the documents.

* ``item``: one row per document: its metadata, status, the stored files' relative paths and
  SHA-256, the content hash of the scan it came from (duplicates are refused by it), the batch.
* ``riwayat``: every version of an item's metadata (who, when, what changed, why).
* ``teks``: an FTS5 word index (``unicode61``, diacritics removed, case folded) over the
  metadata and the OCR text, ranked with BM25 (metadata 5x the body).
* ``istilah`` / ``istilah_tri``: every distinct word of the index, itself indexed by **trigram**.
  A search word of three letters or more stands for every indexed word that contains it, so
  Indonesian affixes (``me-``, ``di-``, ``ber-``, ``pe-an``, ``-kan``) need no stemmer (``anggaran``
  finds ``penganggaran``) and names and numbers are found by any part. Looking the word up among
  the distinct words (tens of thousands) and then the documents through the word index is what
  keeps a search fast: a trigram index over the documents themselves had to intersect position
  lists of every trigram in every document (p95 0.9 s on 100,000 documents).
* A search whose words are in more than :data:`COMMON` documents lists the most recently
  stored matching documents first instead of ranking them all (BM25 of a word in nearly every
  document says little, and ranking every match is what costs).
* ``batch``: every intake run (who, when, inbox, sheet and its SHA-256, outcome).
* ``awan``: every stored file's copy in cloud storage (size, SHA-256, MD5, SHA-1, status:
  :mod:`bangka_ops.arsip.awan`); ``verifikasi``: every verification's result.

Statuses: ``menyimpan`` (files being put in place: a re-run finishes or undoes it),
``tersimpan`` (stored), ``perlu_pindai_ulang`` (on the re-scan list), ``gagal_ocr``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import sqlite3
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bangka_ops.arsip.naming import evidence_path, fold

FILE = "katalog.sqlite"
STORING, STORED, RESCAN, OCR_FAILED = "menyimpan", "tersimpan", "perlu_pindai_ulang", "gagal_ocr"
META = (
    "kode",
    "jenis",
    "nomor",
    "tanggal",
    "perihal",
    "asal_tujuan",
    "unit",
    "halaman",
    "keamanan",
    "keterangan",
)
SCHEMA = """
CREATE TABLE IF NOT EXISTS item (
    id INTEGER PRIMARY KEY,
    status TEXT NOT NULL,
    kode TEXT NOT NULL, jenis TEXT NOT NULL, nomor TEXT NOT NULL DEFAULT '',
    tanggal TEXT NOT NULL, tahun INTEGER NOT NULL, perihal TEXT NOT NULL,
    asal_tujuan TEXT NOT NULL DEFAULT '', unit TEXT NOT NULL, halaman INTEGER NOT NULL,
    keamanan TEXT NOT NULL, keterangan TEXT NOT NULL DEFAULT '',
    path TEXT UNIQUE, asli TEXT UNIQUE, sha256 TEXT, asli_sha256 TEXT, bytes INTEGER,
    sumber_sha256 TEXT NOT NULL, sumber TEXT NOT NULL, batch TEXT NOT NULL,
    masalah TEXT NOT NULL DEFAULT '[]', versi INTEGER NOT NULL DEFAULT 1,
    dibuat TEXT NOT NULL, diubah TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS item_sumber ON item (sumber_sha256);
CREATE INDEX IF NOT EXISTS item_kode ON item (kode, tahun);
CREATE TABLE IF NOT EXISTS riwayat (
    item INTEGER NOT NULL, versi INTEGER NOT NULL, waktu TEXT NOT NULL, oleh TEXT NOT NULL,
    tindakan TEXT NOT NULL, perubahan TEXT NOT NULL, alasan TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (item, versi)
);
CREATE TABLE IF NOT EXISTS batch (
    id TEXT PRIMARY KEY, mulai TEXT NOT NULL, selesai TEXT, oleh TEXT NOT NULL,
    kotak_masuk TEXT NOT NULL, lembar TEXT NOT NULL, lembar_sha256 TEXT NOT NULL,
    ringkasan TEXT NOT NULL DEFAULT '{}'
);
CREATE VIRTUAL TABLE IF NOT EXISTS teks
    USING fts5(meta, isi, tokenize='unicode61 remove_diacritics 2');
CREATE TABLE IF NOT EXISTS istilah (id INTEGER PRIMARY KEY, term TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS awan (
    path TEXT PRIMARY KEY, item INTEGER NOT NULL, peran TEXT NOT NULL,
    bytes INTEGER NOT NULL, sha256 TEXT NOT NULL, md5 TEXT NOT NULL, sha1 TEXT NOT NULL,
    status TEXT NOT NULL, diunggah TEXT, diperiksa TEXT, dibuka TEXT,
    catatan TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS awan_status ON awan (status);
CREATE TABLE IF NOT EXISTS verifikasi (
    id INTEGER PRIMARY KEY, mulai TEXT NOT NULL, selesai TEXT NOT NULL, oleh TEXT NOT NULL,
    hasil TEXT NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS istilah_tri
    USING fts5(term, content='istilah', content_rowid='id', tokenize='trigram');
"""


COLUMNS = frozenset(
    {
        "status",
        *META,
        "tahun",
        "path",
        "asli",
        "sha256",
        "asli_sha256",
        "bytes",
        "sumber_sha256",
        "sumber",
        "batch",
        "masalah",
        "versi",
        "dibuat",
        "diubah",
    }
)


def columns(names: object) -> str:
    """``a = ?, b = ?`` … for names that are this table's own columns (never from outside)."""
    listed = list(names)  # type: ignore[call-overload]
    unknown = set(listed) - COLUMNS
    if unknown:
        raise ValueError(f"not a column of item: {sorted(unknown)}")
    return ", ".join(f"{name} = ?" for name in listed)


def now() -> str:
    return dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds")


class SearchError(ValueError):
    """A query that cannot be searched (said in Bahasa Indonesia and English)."""


@dataclass(frozen=True)
class Hit:
    item: dict[str, Any]
    snippet: str
    score: float
    newest_first: bool = False  # the words were too common to rank: newest documents first
    parts: tuple[str, str, str] | None = None  # the snippet as (before, word, after)


def meta_text(item: dict[str, Any]) -> str:
    return fold(" ".join(str(item.get(k) or "") for k in META if k not in ("halaman", "tanggal")))


TOKEN = re.compile(r"[^\W_]+")
# A search word stands for at most this many indexed words containing it (the shortest first:
# the closest to what was typed).
MAX_EXPANSION = 300
COMMON = 10_000


def words(text: str) -> list[str]:
    """The words of ``text`` as the index has them (``unicode61``: letters and digits, case
    folded, diacritics removed), each once, in order."""
    return list(dict.fromkeys(TOKEN.findall(fold(text).lower())))


class Catalogue:
    def __init__(self, root: Path, *, readonly: bool = False) -> None:
        self.root = root
        self._known: set[str] | None = None
        if readonly:  # a reader (the staff's search page): never writes, never migrates
            uri = (root / FILE).absolute().as_uri() + "?mode=ro"
            self.db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA query_only=ON")
            return
        self.db = sqlite3.connect(root / FILE, isolation_level=None, timeout=30)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=DELETE")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA foreign_keys=ON")
        old = self.db.execute("SELECT sql FROM sqlite_master WHERE name = 'teks'").fetchone()
        if old and "trigram" in old[0]:
            self.migrate_trigram_index()
        self.db.executescript(SCHEMA)

    def migrate_trigram_index(self) -> None:
        """A catalogue made with the first index layout (trigram over the documents): its text
        moved into the word index, in one transaction."""
        rows = self.db.execute("SELECT rowid, meta, isi FROM teks").fetchall()
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("DROP TABLE teks")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                self.db.execute(statement)
        self._known = set()
        for row in rows:
            self.index(self.db, int(row[0]), row[1], row[2])
        self.db.execute("COMMIT")

    def index(self, db: sqlite3.Connection, item: int, meta: str, text: str) -> None:
        """An item's text into the word index, its new words into the list of words."""
        db.execute("DELETE FROM teks WHERE rowid = ?", (item,))
        db.execute("INSERT INTO teks (rowid, meta, isi) VALUES (?, ?, ?)", (item, meta, text))
        self.register(db, words(f"{meta} {text}"))

    def register(self, db: sqlite3.Connection, found: list[str]) -> None:
        if self._known is None:
            self._known = {row[0] for row in db.execute("SELECT term FROM istilah")}
        for term in found:
            if term in self._known:
                continue
            cursor = db.execute("INSERT OR IGNORE INTO istilah (term) VALUES (?)", (term,))
            if cursor.rowcount == 1:
                db.execute(
                    "INSERT INTO istilah_tri (rowid, term) VALUES (?, ?)", (cursor.lastrowid, term)
                )
            self._known.add(term)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing (each method one transaction) --------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            self._known = None  # words registered in the transaction are gone with it
            raise
        self.db.execute("COMMIT")

    def taken(self, path: str) -> bool:
        """A name in use by any item, as a PDF/A or an evidence copy, or a file in the way."""
        names = (path, evidence_path(path))
        row = self.db.execute(
            "SELECT 1 FROM item WHERE path IN (?, ?) OR asli IN (?, ?) LIMIT 1", names * 2
        ).fetchone()
        return row is not None or any((self.root / "dokumen" / n).exists() for n in names)

    def add(self, meta: dict[str, Any], status: str, text: str | None = None, **fields: Any) -> int:
        """A new item (its first version in the history, its text indexed); returns its id."""
        when = now()
        record = {k: meta.get(k) for k in META}
        record["tanggal"] = meta["tanggal"].isoformat()
        record.update(tahun=meta["tanggal"].year, status=status, dibuat=when, diubah=when)
        record.update(fields)
        for key in ("nomor", "asal_tujuan", "keterangan"):
            record[key] = record.get(key) or ""
        if "masalah" in record and not isinstance(record["masalah"], str):
            record["masalah"] = json.dumps(record["masalah"], ensure_ascii=False)
        if "sumber" in record and not isinstance(record["sumber"], str):
            record["sumber"] = json.dumps(record["sumber"], ensure_ascii=False)
        with self.write() as db:
            columns(record)
            names, marks = ", ".join(record), ", ".join("?" * len(record))
            cursor = db.execute(
                f"INSERT INTO item ({names}) VALUES ({marks})",  # noqa: S608 (checked names)
                list(record.values()),
            )
            item = int(cursor.lastrowid or 0)
            db.execute(
                "INSERT INTO riwayat (item, versi, waktu, oleh, tindakan, perubahan) "
                "VALUES (?, 1, ?, ?, ?, ?)",
                (
                    item,
                    when,
                    meta.get("_oleh", "-"),
                    status,
                    json.dumps({k: record[k] for k in META}, ensure_ascii=False, default=str),
                ),
            )
            if text is not None:
                self.index(db, item, meta_text(record), fold(text))
        return item

    def set_status(self, item: int, status: str, text: str | None = None, **fields: Any) -> None:
        """The item's new status (and its indexed text, when it is stored)."""
        with self.write() as db:
            fields.update(status=status, diubah=now())
            for key in ("masalah", "sumber"):
                if key in fields and not isinstance(fields[key], str):
                    fields[key] = json.dumps(fields[key], ensure_ascii=False)
            db.execute(
                f"UPDATE item SET {columns(fields)} WHERE id = ?",  # noqa: S608
                [*fields.values(), item],
            )
            if text is not None:
                row = self.get(item)
                if row is None:
                    raise KeyError(item)
                self.index(db, item, meta_text(row), fold(text))

    def queue_upload(self, files: list[tuple[int, str, str, Any]]) -> None:
        """Stored files (item, role, path, :class:`~bangka_ops.arsip.awan.Digest`) to upload to
        cloud storage: status ``belum`` for a new row, the hashes renewed for a known one."""
        with self.write() as db:
            db.executemany(
                "INSERT INTO awan (path, item, peran, bytes, sha256, md5, sha1, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'belum') ON CONFLICT (path) DO UPDATE SET "
                "bytes = excluded.bytes, sha256 = excluded.sha256, md5 = excluded.md5, "
                "sha1 = excluded.sha1, status = CASE WHEN awan.sha256 = excluded.sha256 "
                "THEN awan.status ELSE 'belum' END",
                [(p, i, r, d.bytes, d.sha256, d.md5, d.sha1) for i, r, p, d in files],
            )

    def forget(self, item: int) -> None:
        """An item that never got its files (an interrupted store undone)."""
        with self.write() as db:
            db.execute("DELETE FROM teks WHERE rowid = ?", (item,))
            db.execute("DELETE FROM riwayat WHERE item = ?", (item,))
            db.execute("DELETE FROM awan WHERE item = ?", (item,))
            db.execute("DELETE FROM item WHERE id = ?", (item,))

    def change(
        self, item: int, changes: dict[str, Any], who: str, reason: str, action: str = "ubah"
    ) -> dict[str, tuple[Any, Any]]:
        """New metadata values of an item, kept as a new version; returns what changed."""
        with self.write() as db:
            row = self.get(item)
            if row is None:
                raise KeyError(item)
            diff = {k: (row[k], v) for k, v in changes.items() if row[k] != v}
            if not diff:
                return {}
            version = int(row["versi"]) + 1
            sets = {k: v for k, (_, v) in diff.items()}
            if "tanggal" in sets:
                sets["tahun"] = int(str(sets["tanggal"])[:4])
            sets.update(versi=version, diubah=now())
            db.execute(
                f"UPDATE item SET {columns(sets)} WHERE id = ?",  # noqa: S608
                [*sets.values(), item],
            )
            db.execute(
                "INSERT INTO riwayat (item, versi, waktu, oleh, tindakan, perubahan, alasan) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    item,
                    version,
                    sets["diubah"],
                    who,
                    action,
                    json.dumps({k: list(v) for k, v in diff.items()}, ensure_ascii=False),
                    reason,
                ),
            )
            fresh = self.get(item)
            if fresh is None:
                raise KeyError(item)
            db.execute("UPDATE teks SET meta = ? WHERE rowid = ?", (meta_text(fresh), item))
            self.register(db, words(meta_text(fresh)))
        return diff

    def start_batch(self, batch: str, who: str, inbox: Path, sheet: Path, sha: str) -> None:
        self.db.execute(
            "INSERT INTO batch (id, mulai, oleh, kotak_masuk, lembar, lembar_sha256) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (batch, now(), who, str(inbox), str(sheet), sha),
        )

    def end_batch(self, batch: str, summary: dict[str, Any]) -> None:
        self.db.execute(
            "UPDATE batch SET selesai = ?, ringkasan = ? WHERE id = ?",
            (now(), json.dumps(summary, ensure_ascii=False), batch),
        )

    # -- reading --------------------------------------------------------------------------

    def get(self, item: int) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM item WHERE id = ?", (item,)).fetchone()
        return decoded(row) if row else None

    def by_source(self, sha: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM item WHERE sumber_sha256 = ?", (sha,)).fetchall()
        return [decoded(r) for r in rows]

    def with_status(self, *statuses: str) -> list[dict[str, Any]]:
        marks = ", ".join("?" * len(statuses))
        rows = self.db.execute(
            f"SELECT * FROM item WHERE status IN ({marks}) ORDER BY id",  # noqa: S608 (only ?s)
            statuses,
        ).fetchall()
        return [decoded(r) for r in rows]

    def history(self, item: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT * FROM riwayat WHERE item = ? ORDER BY versi", (item,)
        ).fetchall()
        return [{**dict(r), "perubahan": json.loads(r["perubahan"])} for r in rows]

    def text(self, item: int) -> str:
        row = self.db.execute("SELECT isi FROM teks WHERE rowid = ?", (item,)).fetchone()
        return str(row[0]) if row else ""

    def items(
        self,
        *,
        kode: str | None = None,
        tahun: int | None = None,
        jenis: str | None = None,
        unit: str | None = None,
        statuses: tuple[str, ...] = (STORED,),
        keamanan: Collection[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        where, args = filters(kode, tahun, jenis, unit, keamanan=keamanan)
        marks = ", ".join("?" * len(statuses))
        # Only ?s and fixed text are put together here; values are bound.
        sql = (
            f"SELECT * FROM item WHERE status IN ({marks}){where} "  # noqa: S608
            "ORDER BY unit, tahun, kode, tanggal, id"
        )
        for row in self.db.execute(sql, [*statuses, *args]):
            yield decoded(row)

    def search(
        self,
        query: str,
        *,
        kode: str | None = None,
        tahun: int | None = None,
        jenis: str | None = None,
        unit: str | None = None,
        limit: int = 20,
        keamanan: Collection[str] | None = None,
    ) -> list[Hit]:
        """Documents matching every word of ``query``; with ``keamanan``, only those of these
        security classes (the searcher's clearance)."""
        typed = words(query)
        if not typed:
            raise SearchError("tidak ada kata untuk dicari / no words to search for")
        variants = [self.containing(word) for word in typed]
        if not all(variants):
            return []
        match = " AND ".join(
            "(" + " OR ".join('"' + v.replace('"', '""') + '"' for v in vs) + ")" for vs in variants
        )
        common = self.matches_more_than(match, COMMON, keamanan)
        where, args = filters(kode, tahun, jenis, unit, prefix="item.", keamanan=keamanan)
        order = "teks.rowid DESC" if common else "skor"
        sql = (
            "SELECT item.*, teks.isi AS cuplikan, "  # noqa: S608 (only ?s and fixed text)
            "bm25(teks, 5.0, 1.0) AS skor FROM teks JOIN item ON item.id = teks.rowid "
            f"WHERE teks MATCH ? AND item.status = ?{where} ORDER BY {order} LIMIT ?"
        )
        rows = self.db.execute(sql, [match, STORED, *args, limit]).fetchall()
        hits = []
        for r in rows:
            parts = snippet_parts(str(r["cuplikan"]), typed)
            line = f"{parts[0]}[{parts[1]}]{parts[2]}" if parts else ""
            hits.append(Hit(decoded(r), line, float(r["skor"]), common, parts))
        return hits

    def containing(self, word: str) -> list[str]:
        """The indexed words a search word stands for: those containing it (three letters or
        more), else the word itself."""
        if len(word) < 3:
            return [word]
        rows = self.db.execute(
            "SELECT term FROM istilah_tri WHERE istilah_tri MATCH ? "
            "ORDER BY length(term), term LIMIT ?",
            ('"' + word.replace('"', '""') + '"', MAX_EXPANSION),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def matches_more_than(
        self, match: str, count: int, keamanan: Collection[str] | None = None
    ) -> bool:
        """Whether more than ``count`` stored documents match, of these security classes only
        when given (counting stops there: cheap)."""
        where, args = filters(None, None, None, None, prefix="item.", keamanan=keamanan)
        row = self.db.execute(
            "SELECT count(*) FROM (SELECT teks.rowid FROM teks "  # noqa: S608 (only ?s)
            f"JOIN item ON item.id = teks.rowid WHERE teks MATCH ? AND item.status = ?{where} "
            "LIMIT ?)",
            (match, STORED, *args, count + 1),
        ).fetchone()
        return int(row[0]) > count


def snippet_parts(text: str, terms: list[str], width: int = 70) -> tuple[str, str, str] | None:
    """Text around the first search word found: (before, the word, after), cut at words and
    with ``…`` where cut; None when the words matched only the metadata."""
    flat = " ".join(text.split())
    lower = flat.lower()
    found = [(lower.find(t), t) for t in terms if lower.find(t) >= 0]
    if not found:
        return None
    at, term = min(found)
    start = max(0, at - width)
    end = min(len(flat), at + len(term) + width)
    if start > 0:
        start = flat.find(" ", start) + 1 or start
    if end < len(flat):
        end = flat.rfind(" ", at + len(term), end) if " " in flat[at + len(term) : end] else end
    return (
        ("… " if start > 0 else "") + flat[start:at],
        flat[at : at + len(term)],
        flat[at + len(term) : end] + (" …" if end < len(flat) else ""),
    )


def snippet(text: str, terms: list[str], width: int = 70) -> str:
    """:func:`snippet_parts` as one line, the word marked ``[…]``; empty without a match."""
    parts = snippet_parts(text, terms, width)
    return f"{parts[0]}[{parts[1]}]{parts[2]}" if parts else ""


def filters(
    kode: str | None,
    tahun: int | None,
    jenis: str | None,
    unit: str | None,
    *,
    prefix: str = "",
    keamanan: Collection[str] | None = None,
) -> tuple[str, list[Any]]:
    where, args = "", list[Any]()
    if keamanan is not None:
        where += f" AND {prefix}keamanan IN ({', '.join('?' * len(keamanan)) or 'NULL'})"
        args += list(keamanan)
    if kode:
        where += f" AND ({prefix}kode = ? OR {prefix}kode LIKE ?)"
        args += [kode.upper(), kode.upper() + ".%"]
    if tahun:
        where += f" AND {prefix}tahun = ?"
        args.append(tahun)
    if jenis:
        where += f" AND {prefix}jenis = ?"
        args.append(jenis)
    if unit:
        where += f" AND {prefix}unit = ?"
        args.append(unit)
    return where, args


def decoded(row: sqlite3.Row) -> dict[str, Any]:
    item = {k: row[k] for k in row.keys() if k not in ("cuplikan", "skor")}  # noqa: SIM118
    for key in ("masalah", "sumber"):
        if isinstance(item.get(key), str):
            item[key] = json.loads(item[key])
    return item
