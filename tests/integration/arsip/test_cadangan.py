"""``cekat arsip cadangan``, the pre-hook of the archive's Borg policies: a consistent copy of
the catalogue (even while an intake holds a transaction) and hard links of exactly the vital
records, kept in step when a document's code changes."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

from bangka_ops.arsip import catalogue as cat

from .helpers import archive, cekat


def linked(root: Path) -> set[str]:
    base = root / "cadangan" / "vital" / "dokumen"
    return {p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()}


def test_the_snapshot_and_the_vital_links(tmp_path: Path) -> None:
    root = tmp_path / "arsip"
    ids = archive(root)
    done = cekat(root, "cadangan", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert (report["dokumen"], report["vital"], report["masalah"]) == (3, 2, [])

    copy = sqlite3.connect(root / "cadangan" / "katalog.sqlite")
    assert copy.execute("SELECT count(*) FROM item").fetchone()[0] == 3
    copy.close()
    with cat.Catalogue(root, readonly=True) as catalogue:
        items = {i["kode"]: i for i in catalogue.items()}
    vital = {p for k in ("KU.02", "KP.03") for p in (items[k]["path"], items[k]["asli"])}
    assert linked(root) == vital  # both files of each vital document, nothing else
    for path in vital:  # hard links: the same file, no second copy
        assert os.path.samefile(root / "dokumen" / path, root / "cadangan/vital/dokumen" / path)
    manifest = json.loads((root / "cadangan" / "vital" / "vital.json").read_text())
    assert sorted(d["id"] for d in manifest["dokumen"]) == sorted([ids["KU.02"], ids["KP.03"]])

    # A second run changes nothing; a document moved to a code that is not vital leaves.
    again = json.loads(cekat(root, "cadangan", "--json").stdout)
    assert (again["ditautkan"], again["dihapus"]) == (0, 0)
    moved = cekat(
        root, "ubah", str(ids["KU.02"]), "--set", "kode=UM.01.01", "--alasan", "salah kode"
    )
    assert moved.returncode == 0, moved.stdout + moved.stderr
    third = json.loads(cekat(root, "cadangan", "--json").stdout)
    assert third["vital"] == 1 and third["dihapus"] == 2
    with cat.Catalogue(root, readonly=True) as catalogue:
        kept = next(i for i in catalogue.items() if i["id"] == ids["KP.03"])
    assert linked(root) == {kept["path"], kept["asli"]}


def test_the_snapshot_leaves_out_a_transaction_still_open(tmp_path: Path) -> None:
    root = tmp_path / "arsip"
    archive(root)
    writer = sqlite3.connect(root / cat.FILE, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("DELETE FROM item")  # an intake half way: not committed
    try:
        done = cekat(root, "cadangan", "--json")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert done.returncode == 0, done.stdout + done.stderr
    copy = sqlite3.connect(root / "cadangan" / "katalog.sqlite")
    assert copy.execute("SELECT count(*) FROM item").fetchone()[0] == 3
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_new_host_has_nothing_to_prepare_and_the_backup_goes_on(tmp_path: Path) -> None:
    done = cekat(tmp_path / "kosong", "cadangan")
    assert done.returncode == 0
    assert "belum ada arsip" in done.stdout


def test_a_missing_vital_file_is_named_and_the_rest_still_prepared(tmp_path: Path) -> None:
    root = tmp_path / "arsip"
    archive(root)
    with cat.Catalogue(root, readonly=True) as catalogue:
        items = {i["kode"]: i for i in catalogue.items()}
    (root / "dokumen" / items["KU.02"]["path"]).unlink()
    done = cekat(root, "cadangan", "--json")
    assert done.returncode == 0  # Borg must still back up everything else
    report = json.loads(done.stdout)
    assert len(report["masalah"]) == 1 and items["KU.02"]["path"] in report["masalah"][0]
    assert "MASALAH" in done.stderr
    kept = {items["KP.03"]["path"], items["KP.03"]["asli"], items["KU.02"]["asli"]}
    assert linked(root) == kept
    manifest = json.loads((root / "cadangan" / "vital" / "vital.json").read_text())
    assert manifest["masalah"] == report["masalah"]
    lines = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [x["result"] for x in lines if x["action"] == "cadangan"] == ["partial"]


def test_a_document_moved_to_a_vital_code_is_linked_on_the_next_run(tmp_path: Path) -> None:
    root = tmp_path / "arsip"
    ids = archive(root)
    assert cekat(root, "cadangan").returncode == 0
    moved = cekat(root, "ubah", str(ids["UM.01.01"]), "--set", "kode=KU.02", "--alasan", "vital")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    report = json.loads(cekat(root, "cadangan", "--json").stdout)
    assert (report["vital"], report["ditautkan"], report["dihapus"]) == (3, 2, 0)
    with cat.Catalogue(root, readonly=True) as catalogue:
        now = next(i for i in catalogue.items() if i["id"] == ids["UM.01.01"])
    assert {now["path"], now["asli"]} <= linked(root)


def test_a_spare_copy_left_by_a_killed_run_is_removed(tmp_path: Path) -> None:
    root = tmp_path / "arsip"
    archive(root)
    (root / "cadangan").mkdir()
    left = root / "cadangan" / ".katalog-k1ll3d.sqlite"
    left.write_bytes(b"SQLite format 3\0 half a copy")
    done = cekat(root, "cadangan")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not left.exists()
    assert sorted(p.name for p in (root / "cadangan").iterdir()) == [
        ".kunci", "katalog.sqlite", "vital",
    ]  # fmt: skip


def test_vital_links_on_another_file_system_are_one_clear_problem(tmp_path: Path) -> None:
    root = tmp_path / "arsip"
    archive(root)
    elsewhere = Path(tempfile.mkdtemp(dir="/dev/shm"))  # tmpfs: another file system
    try:
        assert os.stat(elsewhere).st_dev != os.stat(root).st_dev
        (root / "cadangan").mkdir()
        (root / "cadangan" / "vital").symlink_to(elsewhere)
        done = cekat(root, "cadangan", "--json")
        assert done.returncode == 0  # the whole-archive backup still goes on
        report = json.loads(done.stdout)
        assert len(report["masalah"]) == 1, report["masalah"]
        assert "another file system" in report["masalah"][0]
        assert "sistem berkas yang sama" in report["masalah"][0]
        assert (root / "cadangan" / "katalog.sqlite").is_file()
    finally:
        shutil.rmtree(elsewhere)
