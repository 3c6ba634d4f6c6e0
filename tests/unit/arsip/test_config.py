from __future__ import annotations

from pathlib import Path

import pytest

from bangka_ops.arsip import config

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "arsip" / "arsip.yml"


def test_the_example_configuration_loads_with_inherited_retention() -> None:
    conf = config.read(EXAMPLE)
    personal = conf.codes["KP.03"]
    assert (personal.vital, personal.security, personal.retention.final) == (
        True,
        "rahasia",
        "permanen",
    )
    # KP.01.01 has no retention of its own: KP's applies, and KP's security class.
    assert conf.codes["KP.01.01"].retention == config.Retention(2, 3, "musnah")
    assert conf.codes["KP.01.01"].security == "terbatas"
    assert conf.codes["KU.02"].vital and not conf.codes["KU.01"].vital
    assert conf.rules.dpi_min == 200
    assert "surat-masuk" in conf.types and "aptika" in conf.units


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "arsip.yml"
    path.write_text(text)
    with pytest.raises(config.ConfigError) as caught:
        config.read(path)
    return [str(p) for p in caught.value.problems]


BASE = """versi: 1
penamaan:
  pola: "{kode}/{tahun}/{perihal}.pdf"
jenis:
  - {kode: surat-masuk, nama: {id: Surat masuk, en: Incoming letter}}
unit:
  - {kode: umum, nama: {id: Umum, en: General}}
klasifikasi:
  - kode: UM
    nama: {id: Umum, en: General}
    retensi: {aktif: 2, inaktif: 3, akhir: musnah}
"""


def test_an_unknown_field_is_named_with_its_line(tmp_path: Path) -> None:
    found = problems_of(tmp_path, BASE + "    warna: merah\n")
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path}/arsip.yml:12: galat/error: klasifikasi[0].warna:")
    assert "unknown field 'warna'" in found[0]


def test_a_sub_code_without_its_parent_is_refused(tmp_path: Path) -> None:
    found = problems_of(tmp_path, BASE + "  - kode: KP.01\n    nama: {id: A, en: B}\n")
    assert any(":12:" in f and "the parent code KP of KP.01 is missing" in f for f in found)
    assert any("kode KP.01 has no retensi" in f for f in found)


def test_a_code_given_twice_is_refused(tmp_path: Path) -> None:
    found = problems_of(tmp_path, BASE + "  - kode: UM\n    nama: {id: A, en: B}\n")
    assert any("kode UM appears twice (first at line 9)" in f for f in found)


def test_an_unknown_field_in_the_naming_rule_is_named(tmp_path: Path) -> None:
    found = problems_of(tmp_path, BASE.replace("{perihal}", "{judul}"))
    assert found == [
        f"{tmp_path}/arsip.yml:3: galat/error: penamaan.pola: unknown field {{judul}} in the "
        "pattern (known: kode, kode_induk, tahun, bulan, tanggal, jenis, nomor, perihal, unit, "
        "asal_tujuan, keamanan)"
    ]


def test_a_wrong_disposition_is_a_schema_error(tmp_path: Path) -> None:
    found = problems_of(tmp_path, BASE.replace("akhir: musnah", "akhir: dibakar"))
    assert len(found) == 1 and "klasifikasi[0].retensi.akhir" in found[0] and ":11:" in found[0]
