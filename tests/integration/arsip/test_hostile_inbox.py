"""An inbox is a shared folder: what is in it is data, never a path out of it. None of these
cases reaches OCR."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest

from bangka_ops.arsip import catalogue as cat
from bangka_ops.arsip import config, intake, samples
from bangka_ops.arsip import sheet as sheets
from tests.integration.arsip.helpers import CONFIG, cekat

HEADER = "berkas,kode,jenis,nomor,tanggal,perihal,unit,halaman"


def masuk(root: Path, inbox: Path) -> subprocess.CompletedProcess[str]:
    return cekat(root, "masuk", str(inbox), "--json")


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    outside = tmp_path / "lain"
    outside.mkdir()
    samples.pdf([samples.page(None, dpi=100)], outside / "rahasia.pdf")
    return outside


def test_a_row_through_a_symlinked_folder_is_not_the_inboxs_file(
    tmp_path: Path, secret: Path
) -> None:
    inbox = tmp_path / "masuk"
    inbox.mkdir()
    (inbox / "unit-lain").symlink_to(secret)
    (inbox / "lembar.csv").write_text(
        f"{HEADER}\nunit-lain/rahasia.pdf,UM.01.01,surat-masuk,1,2025-01-02,Curian,aptika,1\n"
    )
    done = masuk(tmp_path / "arsip", inbox)
    assert done.returncode == 1, done.stderr
    row = json.loads(done.stdout)["baris"][0]
    assert row["status"] == "ditolak"
    assert row["alasan"][0]["teks"].endswith(
        "berkas unit-lain/rahasia.pdf tidak ada di kotak masuk / the file unit-lain/rahasia.pdf "
        "is not in the inbox"
    )
    assert (secret / "rahasia.pdf").exists()
    assert not (tmp_path / "arsip" / "dokumen").exists() or not any(
        (tmp_path / "arsip" / "dokumen").rglob("*.pdf")
    )


def test_a_symlinked_sheet_is_refused_unread(tmp_path: Path) -> None:
    inbox = tmp_path / "masuk"
    inbox.mkdir()
    (tmp_path / "shadow.csv").write_text("root:$6$rahasia:19000:0:99999:7:::\n")
    (inbox / "lembar.csv").symlink_to(tmp_path / "shadow.csv")
    done = masuk(tmp_path / "arsip", inbox)
    assert done.returncode == 64
    assert "the sheet is not a plain file (a symlink?)" in done.stderr
    assert "rahasia" not in done.stderr + done.stdout


def test_a_symlinked_done_folder_is_refused_before_anything_moves(
    tmp_path: Path, secret: Path
) -> None:
    inbox = tmp_path / "masuk"
    inbox.mkdir()
    (inbox / "selesai").symlink_to(secret)
    (inbox / "lembar.csv").write_text(f"{HEADER}\n")
    done = masuk(tmp_path / "arsip", inbox)
    assert done.returncode == 64
    assert "not a plain directory (a symlink?)" in done.stderr


def test_a_file_changed_after_it_was_hashed_is_not_stored(tmp_path: Path) -> None:
    inbox = tmp_path / "masuk"
    inbox.mkdir()
    letter = samples.Letter("1", "x", "y", seed=3)
    samples.pdf([samples.page(letter)], inbox / "a.pdf")
    (inbox / "lembar.csv").write_text(
        f"{HEADER}\na.pdf,UM.01.01,surat-masuk,1,2025-01-02,x,aptika,1\n"
    )
    conf = config.read(CONFIG)
    sheet = sheets.read(inbox / "lembar.csv", inbox, conf, dt.date(2026, 1, 1))
    row = sheet.rows[0]
    job = intake.Job(row, [inbox / "a.pdf"], intake.content_hash([inbox / "a.pdf"]), None)
    samples.pdf([samples.page(samples.Letter("2", "x", "y", seed=4))], inbox / "a.pdf")
    staging = tmp_path / "staging"
    staging.mkdir()
    done = intake.work(job, conf, staging)
    assert done.output is None
    assert [p.code for p in done.problems] == ["berubah"]
    # A symlink swapped in for the file is not followed either.
    (inbox / "a.pdf").unlink()
    (inbox / "a.pdf").symlink_to("/etc/hostname")
    again = intake.work(job, conf, staging)
    assert [p.code for p in again.problems] == ["berubah"]


def test_moving_sources_never_goes_through_a_symlink_or_takes_another_file(
    tmp_path: Path, secret: Path
) -> None:
    inbox = tmp_path / "masuk"
    (inbox / "asli").mkdir(parents=True)
    (inbox / "asli" / "a.pdf").write_bytes(b"a")
    (inbox / "b.pdf").write_bytes(b"b")
    (inbox / "lain").symlink_to(secret)
    st = (inbox / "b.pdf").stat()
    intake.move_sources(inbox, "batch1", ["asli/a.pdf", "lain/rahasia.pdf", "b.pdf"],
                        {"b.pdf": (st.st_dev, st.st_ino + 1)})  # fmt: skip
    assert (inbox / "selesai" / "batch1" / "asli" / "a.pdf").read_bytes() == b"a"
    assert (secret / "rahasia.pdf").exists()  # behind a symlink: not the inbox's
    assert (inbox / "b.pdf").exists()  # not the file that was copied: left where it is
    (inbox / "selesai" / "batch2").symlink_to(secret)
    with pytest.raises(OSError):
        intake.move_sources(inbox, "batch2", ["b.pdf"])
    assert (inbox / "b.pdf").exists()


def stored_item(root: Path, inbox: Path, files: list[str], digest: str) -> int:
    with cat.Catalogue(root) as c:
        meta = {"kode": "UM.01.01", "jenis": "surat-masuk", "nomor": "1",
                "tanggal": dt.date(2025, 1, 2), "perihal": "lama", "unit": "aptika",
                "halaman": len(files), "keamanan": "biasa"}  # fmt: skip
        source = {"kotak_masuk": str(inbox.resolve()), "lembar": "lembar.csv", "baris": 2,
                  "berkas": files}  # fmt: skip
        return c.add(meta, cat.STORED, text="lama", path="UM/lama.pdf", asli="UM/lama.asli.pdf",
                     sumber_sha256=digest, sumber=source, batch="lama")  # fmt: skip


def test_a_missing_file_whose_name_was_stored_before_is_missing_not_already_stored(
    tmp_path: Path,
) -> None:
    inbox = tmp_path / "masuk"
    inbox.mkdir()
    root = tmp_path / "arsip"
    (root / "dokumen").mkdir(parents=True)
    stored_item(root, inbox, ["scan0001.pdf"], "0" * 64)  # the scanner's numbering restarted
    (inbox / "lembar.csv").write_text(
        f"{HEADER}\nscan0001.pdf,UM.01.01,surat-masuk,2,2025-01-03,Baru,aptika,1\n"
    )
    done = masuk(root, inbox)
    row = json.loads(done.stdout)["baris"][0]
    assert row["status"] == "ditolak"
    assert "berkas scan0001.pdf tidak ada di kotak masuk" in row["alasan"][0]["teks"]


def test_a_run_stopped_while_handing_over_images_is_finished_by_the_next(tmp_path: Path) -> None:
    inbox = tmp_path / "masuk"
    (inbox / "selesai" / "lama").mkdir(parents=True)
    root = tmp_path / "arsip"
    (root / "dokumen").mkdir(parents=True)
    (inbox / "selesai" / "lama" / "1.png").write_bytes(b"halaman satu")
    (inbox / "2.png").write_bytes(b"halaman dua")
    digest = intake.content_hash([inbox / "selesai" / "lama" / "1.png", inbox / "2.png"])
    item = stored_item(root, inbox, ["1.png", "2.png"], digest)
    (inbox / "lembar.csv").write_text(
        f"{HEADER}\n1.png;2.png,UM.01.01,surat-masuk,1,2025-01-02,lama,aptika,2\n"
    )
    done = masuk(root, inbox)
    assert done.returncode == 0, done.stdout
    row = json.loads(done.stdout)["baris"][0]
    assert (row["status"], row["id"]) == ("sudah_tersimpan", item)
    assert (inbox / "selesai" / "lama" / "2.png").read_bytes() == b"halaman dua"
    assert not (inbox / "2.png").exists()
