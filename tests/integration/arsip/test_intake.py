"""``cekat arsip masuk`` for real: generated scans, real OCRmyPDF/Tesseract, real SQLite, a real
process killed at each stage and run again."""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pikepdf
import pytest

from bangka_ops.arsip import examples, ocr, samples
from tests.integration.arsip.helpers import cekat, pdf_text

pytestmark = pytest.mark.skipif(shutil.which("ocrmypdf") is None, reason="needs Debian's ocrmypdf")


def ingest(
    root: Path, inbox: Path, env: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    done = cekat(root, "masuk", str(inbox), "--json", env=env)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def rows(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {r["baris"]: r for r in report["baris"]}


def audit_lines(root: Path) -> list[dict[str, Any]]:
    log = root.parent / "audit.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def stored_files(root: Path) -> set[str]:
    return {str(p.relative_to(root / "dokumen")) for p in (root / "dokumen").rglob("*.pdf")}


@pytest.fixture(scope="module")
def example_inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    inbox = tmp_path_factory.mktemp("contoh") / "masuk"
    examples.inbox(inbox, bad=True)
    return inbox


@pytest.fixture(scope="module")
def first_run(
    example_inbox: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, Path, dict[str, Any], dict[str, str]]]:
    base = tmp_path_factory.mktemp("arsip")
    inbox = base / "masuk"
    shutil.copytree(example_inbox, inbox)
    before = {p.name: ocr.sha256(p) for p in inbox.iterdir()}
    code, report = ingest(base / "arsip", inbox)
    assert code == 1
    yield base / "arsip", inbox, report, before


def test_every_row_gets_its_outcome_and_every_bad_case_its_reason(
    first_run: tuple[Path, Path, dict[str, Any], dict[str, str]],
) -> None:
    _, _, report, _ = first_run
    by_row = rows(report)
    assert {n: r["status"] for n, r in by_row.items()} == {
        2: "tersimpan",
        3: "tersimpan",
        4: "tersimpan",
        5: "perlu_pindai_ulang",
        6: "perlu_pindai_ulang",
        7: "perlu_pindai_ulang",
        8: "perlu_pindai_ulang",
        9: "perlu_pindai_ulang",
        10: "ditolak",
        11: "ditolak",
        12: "perlu_pindai_ulang",
        13: "ditolak",
        14: "ditolak",
    }
    reasons = {n: [x["teks"] for x in r["alasan"]] for n, r in by_row.items()}
    assert reasons[5] == [
        "halaman/page 2: halaman kosong (tinta 0,000 %, minimal 0,020 %) / blank page "
        "(ink 0.000 %, at least 0.020 %)"
    ]
    assert reasons[6] == [
        "halaman/page 1: resolusi 100 DPI, minimal 200 DPI / resolution 100 DPI, at least 200 DPI"
    ]
    assert reasons[7] == ["jumlah halaman 1, lembar data menyebut 3 / 1 pages, the sheet says 3"]
    assert reasons[8][0].startswith("berkas rusak, tidak dapat dibuka (")
    assert reasons[9] == [
        "PDF terenkripsi (dilindungi kata sandi); simpan/pindai ulang tanpa enkripsi / the PDF "
        "is encrypted (password-protected); save or scan it again without encryption"
    ]
    assert reasons[10] == [
        "duplikat: isi yang sama dengan baris 2 lembar ini / duplicate: the same content as row 2 "
        "of this sheet"
    ]
    assert reasons[11] == [
        "lembar-data.csv baris/row 11, kolom/column A (berkas): berkas tidak-ada.pdf tidak ada di "
        "kotak masuk / the file tidak-ada.pdf is not in the inbox"
    ]
    assert reasons[12] == [
        "halaman/page 1: miring 5,0° (maksimal 2,0°) / skewed 5.0° (at most 2.0°)"
    ]
    assert reasons[13] == [
        "lembar-data.csv baris/row 13, kolom/column B (kode): kode klasifikasi XX.99 tidak ada di "
        "konfigurasi / the classification code XX.99 is not in the configuration"
    ]
    assert reasons[14] == [
        "lembar-data.csv baris/row 14, kolom/column E (tanggal): tanggal 2025-02-30 tidak ada di "
        "kalender / the date 2025-02-30 does not exist"
    ]


def test_stored_documents_are_pdfa_with_a_text_layer_and_their_evidence_copy(
    first_run: tuple[Path, Path, dict[str, Any], dict[str, str]],
) -> None:
    root, _, report, _ = first_run
    stored = [r for r in report["baris"] if r["status"] == "tersimpan"]
    assert stored_files(root) == {r["path"] for r in stored} | {
        r["path"][: -len(".pdf")] + ".asli.pdf" for r in stored
    }
    assert stored[0]["path"] == (
        "PR.02.01/2025/undangan/2025-03-12_005-112-DISKOMINFO-2025_undangan-rapat-koordinasi-"
        "penganggaran-tahun-2026.pdf"
    )
    for row in stored:
        record = json.loads(cekat(root, "lihat", str(row["id"]), "--json").stdout)
        pdfa = root / "dokumen" / record["path"]
        assert ocr.sha256(pdfa) == record["sha256"]
        assert ocr.sha256(root / "dokumen" / record["asli"]) == record["asli_sha256"]
        with pikepdf.open(pdfa) as pdf, pdf.open_metadata() as meta:
            assert (meta.get("pdfaid:part"), meta.get("pdfaid:conformance")) == ("2", "B")
            assert len(pdf.pages) == record["halaman"]
    # OCR read the word printed on the first letter, in the PDF/A's own text layer.
    first = root / "dokumen" / stored[0]["path"]
    assert "penganggaran" in pdf_text(first).lower()
    assert examples.KEYWORD in pdf_text(first).lower()


def test_the_inbox_keeps_what_was_refused_and_hands_over_what_was_stored(
    first_run: tuple[Path, Path, dict[str, Any], dict[str, str]],
) -> None:
    _, inbox, report, before = first_run
    batch = report["batch"]
    moved = {p.name for p in (inbox / "selesai" / batch).iterdir()}
    assert moved == {
        "surat-undangan-rapat.pdf",
        "nota-dinas-server.jpg",
        "laporan-kegiatan-1.png",
        "laporan-kegiatan-2.png",
    }
    left = {p.name: ocr.sha256(p) for p in inbox.iterdir() if p.is_file()}
    assert left == {k: v for k, v in before.items() if k not in moved}


def test_search_finds_the_ocr_text_and_the_audit_log_has_every_step(
    first_run: tuple[Path, Path, dict[str, Any], dict[str, str]],
) -> None:
    root, _, report, _ = first_run
    found = json.loads(cekat(root, "cari", "Anggaran", "--kode", "PR", "--json").stdout)
    assert [h["id"] for h in found] == [rows(report)[2]["id"]]
    assert "[anggaran]" in found[0]["cuplikan"].lower()
    text = cekat(root, "cari", "belinyu", "--tahun", "2024").stdout
    assert "Laporan kegiatan kunjungan kerja Bupati ke Kecamatan Belinyu" in text
    actions = [(a["action"], a["result"]) for a in audit_lines(root) if a["kind"] == "arsip"]
    assert actions.count(("masuk", "ok")) == 3
    assert actions.count(("pindai_ulang", "failed")) == 6
    assert actions.count(("masuk", "refused")) == 4
    assert ("batch_selesai", "partial") in actions


def test_a_rerun_stores_nothing_twice_and_a_corrected_scan_moves_its_item_on(
    first_run: tuple[Path, Path, dict[str, Any], dict[str, str]],
) -> None:
    root, inbox, report, _ = first_run
    first = rows(report)
    code, again = ingest(root, inbox)
    second = rows(again)
    assert code == 1
    for n in (2, 3, 4):
        assert (second[n]["status"], second[n]["id"]) == ("sudah_tersimpan", first[n]["id"])
    assert second[10]["alasan"][0]["teks"].startswith(
        f"duplikat: isi yang sama sudah tersimpan sebagai ID {first[2]['id']} (PR.02.01/2025/"
    )
    # The same bad scans are the same items on the re-scan list, not new ones.
    for n in (5, 6, 7, 8, 9, 12):
        assert (second[n]["status"], second[n]["id"]) == ("perlu_pindai_ulang", first[n]["id"])
    listed = json.loads(cekat(root, "pindai-ulang", "--json").stdout)
    assert sorted(i["id"] for i in listed) == sorted(first[n]["id"] for n in (5, 6, 7, 8, 9, 12))

    # The staff scan the letter with the blank page again and drop it in under the same name.
    letter = samples.Letter("B/1/2025", "Surat dengan halaman kosong", "3 Februari 2025", seed=61)
    samples.pdf(
        [samples.page(letter), samples.page(letter, angle=1)], inbox / "ada-halaman-kosong.pdf"
    )
    code, third = ingest(root, inbox)
    fixed = rows(third)[5]
    assert (fixed["status"], fixed["id"]) == ("tersimpan", first[5]["id"])
    listed = json.loads(cekat(root, "pindai-ulang", "--json").stdout)
    assert first[5]["id"] not in [i["id"] for i in listed]
    assert len(stored_files(root)) == 8


def test_a_metadata_change_is_versioned_and_shown(
    first_run: tuple[Path, Path, dict[str, Any], dict[str, str]],
) -> None:
    root, _, report, _ = first_run
    item = str(rows(report)[3]["id"])
    done = cekat(
        root,
        "ubah",
        item,
        "--set",
        "perihal=Nota dinas pemeliharaan server",
        "--set",
        "tanggal=03-06-2025",
        "--alasan",
        "salah ketik",
        "--oleh",
        "sari",
    )
    assert done.returncode == 0, done.stderr
    shown = cekat(root, "lihat", item).stdout
    assert "v2" in shown and "sari ubah — salah ketik" in shown
    assert "tanggal: '2025-06-02' → '2025-06-03'" in shown
    bad = cekat(root, "ubah", item, "--set", "kode=ZZ", "--alasan", "x")
    assert bad.returncode == 64
    assert "kode ZZ tidak ada di konfigurasi / unknown code" in bad.stderr
    lines = [a for a in audit_lines(root) if a["action"] == "ubah"]
    assert lines[-1]["actor"] == "sari" and lines[-1]["details"]["alasan"] == "salah ketik"


# -- interruption at every stage ---------------------------------------------------------------


@pytest.fixture(scope="module")
def small_inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    inbox = tmp_path_factory.mktemp("kecil") / "masuk"
    inbox.mkdir()
    lines = ["berkas,kode,jenis,nomor,tanggal,perihal,unit,halaman"]
    for n in (1, 2):
        letter = samples.Letter(
            f"K/{n}/2025", f"Surat kecil {n}", "1 April 2025", body_words=40, seed=70 + n
        )
        samples.pdf([samples.page(letter)], inbox / f"kecil-{n}.pdf")
        lines.append(
            f"kecil-{n}.pdf,UM.01.01,surat-masuk,K/{n}/2025,2025-04-01,Surat kecil,sekretariat,1"
        )
    (inbox / "lembar.csv").write_text("\n".join(lines) + "\n")
    return inbox


@pytest.mark.parametrize("stage", ["validated", "ocr", "catalogued", "placed", "stored", "sources"])
def test_a_run_killed_at_each_stage_is_finished_by_the_next_with_nothing_lost_or_twice(
    small_inbox: Path, tmp_path: Path, stage: str
) -> None:
    inbox = tmp_path / "masuk"
    shutil.copytree(small_inbox, inbox)
    root = tmp_path / "arsip"
    killed = cekat(root, "masuk", str(inbox), "--json", env={"BANGKA_ARSIP_KILL_AT": stage})
    assert killed.returncode == -signal.SIGKILL
    code, report = ingest(root, inbox)
    assert code == 0, report
    statuses = sorted(r["status"] for r in report["baris"])
    assert statuses in (
        ["tersimpan", "tersimpan"],
        ["sudah_tersimpan", "tersimpan"],
        ["sudah_tersimpan", "sudah_tersimpan"],
    )
    # The same name collision rule on both documents: the second is "-2" whatever happened.
    paths = sorted(r["path"] for r in report["baris"])
    assert paths == [
        "UM.01.01/2025/surat-masuk/2025-04-01_K-1-2025_surat-kecil.pdf",
        "UM.01.01/2025/surat-masuk/2025-04-01_K-2-2025_surat-kecil.pdf",
    ]
    assert stored_files(root) == set(paths) | {p.replace(".pdf", ".asli.pdf") for p in paths}
    for row in report["baris"]:
        record = json.loads(cekat(root, "lihat", str(row["id"]), "--json").stdout)
        assert record["status"] == "tersimpan"
        assert ocr.sha256(root / "dokumen" / record["path"]) == record["sha256"]
    assert not list((root / ".staging").iterdir())
    # Every source left the inbox exactly once, into a batch folder; the sheet too.
    handed = sorted(p.name for p in (inbox / "selesai").rglob("*") if p.is_file())
    assert handed == ["kecil-1.pdf", "kecil-2.pdf", "lembar.csv"]
    assert sorted(p.name for p in inbox.iterdir()) == ["selesai"]
    stored_lines = [a for a in audit_lines(root) if (a["action"], a["result"]) == ("masuk", "ok")]
    assert sorted(a["details"]["item"] for a in stored_lines) == sorted(
        r["id"] for r in report["baris"]
    )
    listed = json.loads(cekat(root, "cari", "Surat kecil", "--json").stdout)
    assert len(listed) == 2


def test_one_documents_ocr_failure_never_stops_the_batch(small_inbox: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "masuk"
    shutil.copytree(small_inbox, inbox)
    wrapper = tmp_path / "ocrmypdf"
    target = ocr.sha256(inbox / "kecil-1.pdf")
    # The real ocrmypdf, except for the first letter (a PDF is OCR'd from a copy of its own
    # bytes): there a child process fails, as when Tesseract crashes on a page.
    wrapper.write_text(
        "#!/bin/sh\n"
        "for a; do case $a in */asli.pdf) src=$a;; esac; done\n"
        f'if [ "$(sha256sum < "$src" | cut -c1-64)" = "{target}" ]; '
        "then echo 'tesseract: Segmentation fault' >&2; exit 7; fi\n"
        'exec ocrmypdf "$@"\n'
    )
    wrapper.chmod(0o755)
    root = tmp_path / "arsip"
    code, report = ingest(root, inbox, env={"BANGKA_OCRMYPDF": str(wrapper)})
    assert code == 1
    failed, stored = rows(report)[2], rows(report)[3]
    assert (failed["status"], stored["status"]) == ("gagal_ocr", "tersimpan")
    assert failed["alasan"][0]["teks"] == (
        "OCR gagal / failed: ocrmypdf: a child process failed: tesseract: Segmentation fault"
    )
    assert (inbox / "kecil-1.pdf").exists() and not (inbox / "kecil-2.pdf").exists()
    listed = json.loads(cekat(root, "pindai-ulang", "--json").stdout)
    assert [i["id"] for i in listed] == [failed["id"]]
    code, again = ingest(root, inbox)
    assert code == 0
    assert (rows(again)[2]["status"], rows(again)[2]["id"]) == ("tersimpan", failed["id"])


def test_a_scan_still_being_written_waits_until_it_is_complete(
    small_inbox: Path, tmp_path: Path
) -> None:
    """The intake timer runs with --tunggu-tenang: a file the scanner is still writing through
    the share (here: half of a PDF, then the rest) is neither refused nor ingested half; the
    row waits, the rest of the batch goes on, the sheet stays until every row is stored."""
    inbox = tmp_path / "masuk"
    shutil.copytree(small_inbox, inbox)
    root = tmp_path / "arsip"
    quiet = "2"
    whole = (inbox / "kecil-2.pdf").read_bytes()
    time.sleep(2.2)
    (inbox / "kecil-2.pdf").write_bytes(whole[: len(whole) // 2])
    done = cekat(root, "masuk", str(inbox), "--json", "--tunggu-tenang", quiet)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert rows(report)[2]["status"] == "tersimpan"
    assert rows(report)[3]["status"] == "menunggu"
    assert "masih ditulis" in rows(report)[3]["alasan"][0]["teks"]
    assert (inbox / "lembar.csv").exists() and (inbox / "kecil-2.pdf").exists()
    (inbox / "kecil-2.pdf").write_bytes(whole)
    # Still within the quiet time after the last write: waits again.
    early = json.loads(cekat(root, "masuk", str(inbox), "--json", "--tunggu-tenang", quiet).stdout)
    assert rows(early)[3]["status"] == "menunggu"
    time.sleep(2.2)
    code, later = ingest(root, inbox)
    assert code == 0
    assert rows(later)[3]["status"] == "tersimpan"
    assert not (inbox / "lembar.csv").exists()


def test_a_sheet_still_being_written_is_not_read(small_inbox: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "masuk"
    shutil.copytree(small_inbox, inbox)
    done = cekat(tmp_path / "arsip", "masuk", str(inbox), "--tunggu-tenang", "60")
    assert done.returncode == 0, done.stderr
    assert "Lembar data masih ditulis" in done.stdout
    assert not (tmp_path / "arsip" / "katalog.sqlite").exists()
