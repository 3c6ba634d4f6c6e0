from __future__ import annotations

import datetime as dt

import pytest

from bangka_ops.arsip.naming import Rule, RuleError, evidence_path, slug, unique, values_of

RULE = "{kode}/{tahun}/{jenis}/{tanggal}_{nomor}_{perihal}.pdf"


def test_indonesian_text_becomes_a_name_every_file_system_takes() -> None:
    assert slug('Pémbangunan  Jalan: "Tahap II" / 2025?', 60, lower=True) == (
        "pembangunan-jalan-tahap-ii-2025"
    )
    assert slug("005/123/DISKOMINFO/2025", 60, lower=False) == "005-123-DISKOMINFO-2025"
    assert slug("..rahasia..", 60, lower=True) == "rahasia"
    assert slug("CON", 60, lower=False) == "CON_"
    assert slug("nul.txt", 60, lower=True) == "nul.txt_"
    assert slug("<>|*?", 60, lower=True) == "tanpa-isi"


def test_long_fields_are_cut_at_a_word() -> None:
    text = "laporan pertanggungjawaban keuangan kegiatan pembangunan jaringan"
    cut = slug(text, 40, lower=True)
    assert len(cut) <= 40
    assert cut == "laporan-pertanggungjawaban-keuangan"


def test_the_rule_renders_folders_and_a_capped_file_name() -> None:
    rule = Rule.parse(RULE, field_limit=60, name_limit=80)
    meta = {
        "kode": "KP.01.01",
        "jenis": "surat-masuk",
        "nomor": "800/12/BKPSDM/2025",
        "tanggal": dt.date(2025, 5, 12),
        "perihal": "Usulan kenaikan pangkat " * 10,
    }
    path = rule.render(values_of(meta))
    folders, name = path.rsplit("/", 1)
    assert folders == "KP.01.01/2025/surat-masuk"
    assert name.startswith("2025-05-12_800-12-BKPSDM-2025_usulan-kenaikan-pangkat")
    assert name.endswith(".pdf")
    assert len(name) + len(".asli.pdf") <= 80 + len(".pdf")
    assert evidence_path(path) == path[: -len(".pdf")] + ".asli.pdf"


def test_collisions_get_numbers_in_order() -> None:
    taken = {"a/b.pdf", "a/b-2.pdf"}
    assert unique("a/b.pdf", taken.__contains__) == "a/b-3.pdf"
    assert unique("a/c.pdf", taken.__contains__) == "a/c.pdf"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("{kode}/{tahun}/{judul}.pdf", "unknown field {judul}"),
        ("{kode}/{tahun}.docx", "must end in .pdf"),
        ("/{kode}.pdf", "relative path"),
        ("{kode}/../{tahun}.pdf", "'..'"),
        ("{kode}/{tahun:%Y}.pdf", "no format spec"),
        ("{kode/{tahun}.pdf", "braces"),
        ("arsip.pdf", "no field"),
        ("{kode}/a:b/{tahun}.pdf", "Windows"),
    ],
)
def test_a_wrong_rule_is_refused_with_the_reason(pattern: str, message: str) -> None:
    with pytest.raises(RuleError, match=".*" + message.replace("{", r"\{").replace("(", r"\(")):
        Rule.parse(pattern)
