from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from bangka_ops.arsip import catalogue as cat


@pytest.fixture
def catalogue(tmp_path: Path) -> Iterator[cat.Catalogue]:
    with cat.Catalogue(tmp_path) as c:
        yield c


def add(c: cat.Catalogue, kode: str, perihal: str, text: str, year: int = 2025) -> int:
    meta = {
        "kode": kode,
        "jenis": "surat-masuk",
        "nomor": f"{kode}/1",
        "tanggal": dt.date(year, 3, 1),
        "perihal": perihal,
        "unit": "sekretariat",
        "halaman": 1,
        "keamanan": "biasa",
    }
    item = c.add(
        meta,
        cat.STORED,
        text=text,
        path=f"{kode}/{perihal}.pdf",
        asli=f"{kode}/{perihal}.asli.pdf",
        sumber_sha256=perihal,
        sumber="{}",
        batch="b",
    )
    return item


def test_a_word_is_found_inside_affixed_words(catalogue: cat.Catalogue) -> None:
    first = add(catalogue, "KU.01", "belanja", "Rencana penganggaran belanja daerah")
    add(catalogue, "UM.01", "rapat", "Undangan rapat koordinasi")
    hits = catalogue.search("anggaran")
    assert [h.item["id"] for h in hits] == [first]
    assert hits[0].snippet == "Rencana peng[anggaran] belanja daerah"


def test_search_ignores_case_and_diacritics(catalogue: cat.Catalogue) -> None:
    item = add(catalogue, "HM.01", "kunjungan", "Kunjungan kerja ke Pémda Belinyu")
    assert [h.item["id"] for h in catalogue.search("PEMDA belinyu")] == [item]
    assert [h.item["id"] for h in catalogue.search("pémda")] == [item]


def test_metadata_matches_rank_above_body_text(catalogue: cat.Catalogue) -> None:
    body = add(catalogue, "UM.01", "lain", "sekilas tentang server di badan surat " * 5)
    title = add(catalogue, "UM.02", "server", "isi lain")
    assert [h.item["id"] for h in catalogue.search("server")] == [title, body]


def test_filters_narrow_by_code_prefix_year_type_and_unit(catalogue: cat.Catalogue) -> None:
    a = add(catalogue, "KP.01.01", "a", "laporan kepegawaian", 2024)
    b = add(catalogue, "KP.02", "b", "laporan kepegawaian", 2025)
    add(catalogue, "KPX", "c", "laporan kepegawaian", 2025)
    assert {h.item["id"] for h in catalogue.search("laporan", kode="KP")} == {a, b}
    assert [h.item["id"] for h in catalogue.search("laporan", kode="KP", tahun=2024)] == [a]
    assert catalogue.search("laporan", jenis="sk") == []
    assert len(catalogue.search("laporan", unit="sekretariat")) == 3


def test_short_words_match_whole_words_and_an_empty_query_is_refused(
    catalogue: cat.Catalogue,
) -> None:
    there = add(catalogue, "UM.01", "a", "rapat di kantor")
    add(catalogue, "UM.02", "b", "laporan dinas")
    assert [h.item["id"] for h in catalogue.search("di")] == [there]
    with pytest.raises(cat.SearchError, match="no words to search for"):
        catalogue.search(" -- ")


def test_words_in_most_documents_list_the_newest_first(
    catalogue: cat.Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [add(catalogue, "UM.01", f"r{n}", "undangan rapat koordinasi") for n in range(4)]
    ranked = catalogue.search("rapat")
    assert not ranked[0].newest_first
    monkeypatch.setattr(cat, "COMMON", 3)
    hits = catalogue.search("rapat", limit=2)
    assert [h.item["id"] for h in hits] == ids[::-1][:2]
    assert hits[0].newest_first


def test_a_catalogue_with_the_first_trigram_index_is_moved_to_the_word_index(
    tmp_path: Path,
) -> None:
    import sqlite3  # noqa: PLC0415

    with cat.Catalogue(tmp_path) as c:
        item = add(c, "KU.01", "lama", "rencana penganggaran")
    db = sqlite3.connect(tmp_path / cat.FILE)
    db.executescript(
        "DROP TABLE teks; DROP TABLE istilah_tri; DROP TABLE istilah;"
        "CREATE VIRTUAL TABLE teks USING fts5(meta, isi, tokenize='trigram');"
    )
    db.execute("INSERT INTO teks (rowid, meta, isi) VALUES (?, 'KU.01', 'rencana penganggaran')",
               (item,))  # fmt: skip
    db.commit()
    db.close()
    with cat.Catalogue(tmp_path) as c:
        assert [h.item["id"] for h in c.search("anggaran")] == [item]


def test_a_query_with_fts_syntax_is_taken_as_words(catalogue: cat.Catalogue) -> None:
    add(catalogue, "UM.01", "x", 'surat "NEAR" AND OR')
    assert len(catalogue.search('"near" OR * ( -')) == 1


def test_a_change_is_a_new_version_with_who_and_why(catalogue: cat.Catalogue) -> None:
    item = add(catalogue, "UM.01", "lama", "isi")
    diff = catalogue.change(
        item, {"perihal": "baru", "tanggal": "2024-01-02"}, "sari", "salah ketik"
    )
    assert diff == {"perihal": ("lama", "baru"), "tanggal": ("2025-03-01", "2024-01-02")}
    record = catalogue.get(item)
    assert record is not None and (record["versi"], record["tahun"]) == (2, 2024)
    history = catalogue.history(item)
    assert [(h["versi"], h["oleh"], h["alasan"]) for h in history] == [
        (1, "-", ""),
        (2, "sari", "salah ketik"),
    ]
    assert history[1]["perubahan"]["perihal"] == ["lama", "baru"]
    assert [h.item["id"] for h in catalogue.search("baru")] == [item]
    assert catalogue.change(item, {"perihal": "baru"}, "sari", "lagi") == {}
    assert len(catalogue.history(item)) == 2


def test_the_too_common_notice_counts_only_what_the_searcher_may_see(
    catalogue: cat.Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cat, "COMMON", 2)
    for n in range(2):
        add(catalogue, "UM.01", f"rapat {n}", "pelabuhan")
    secret = add(catalogue, "UM.01", "rapat rahasia", "pelabuhan")
    catalogue.db.execute("UPDATE item SET keamanan = 'rahasia' WHERE id = ?", (secret,))
    hits = catalogue.search("pelabuhan", keamanan=("biasa",))
    assert len(hits) == 2 and not any(h.newest_first for h in hits)
    assert all(h.newest_first for h in catalogue.search("pelabuhan"))
