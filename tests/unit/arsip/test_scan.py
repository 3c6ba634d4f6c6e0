"""The scan check on generated pages: each bad case with its exact message."""

from __future__ import annotations

from pathlib import Path

import pikepdf
import pytest

from bangka_ops.arsip import samples, scan

RULES = scan.Rules()
LETTER = samples.Letter("005/1/DISKOMINFO/2025", "Undangan rapat", "12 Mei 2025", seed=4)


@pytest.fixture(scope="module")
def good_page() -> object:
    return samples.page(LETTER, angle=0.7)


def problems(tmp_path: Path, pages: list[object], expected: int | None = None) -> list[str]:
    path = samples.pdf(pages, tmp_path / "pindaian.pdf")  # type: ignore[arg-type]
    return [str(p) for p in scan.check([path], RULES, expected).problems]


def test_a_clear_complete_scan_passes(tmp_path: Path, good_page: object) -> None:
    path = samples.pdf([good_page, samples.page(LETTER, angle=-1.2)], tmp_path / "a.pdf")  # type: ignore[list-item]
    result = scan.check([path], RULES, 2)
    assert result.ok, result.problems
    assert [round(m.dpi) for m in result.pages] == [300, 300]
    assert [m.skew_degrees for m in result.pages] == [0.7, -1.2]


def test_a_blank_page_is_named(tmp_path: Path, good_page: object) -> None:
    assert problems(tmp_path, [good_page, samples.page(None, noise=25)], 2) == [
        "halaman/page 2: halaman kosong (tinta 0,000 %, minimal 0,020 %) / blank page "
        "(ink 0.000 %, at least 0.020 %)"
    ]


def test_a_page_with_one_short_line_is_not_blank(tmp_path: Path) -> None:
    short = samples.Letter("x", "y", "z", body_words=0, seed=5)
    assert problems(tmp_path, [samples.page(short)], 1) == []


def test_a_low_resolution_page_is_named(tmp_path: Path) -> None:
    assert problems(tmp_path, [samples.page(LETTER, dpi=100)], 1) == [
        "halaman/page 1: resolusi 100 DPI, minimal 200 DPI / resolution 100 DPI, at least 200 DPI"
    ]


def test_a_skewed_page_is_named(tmp_path: Path) -> None:
    assert problems(tmp_path, [samples.page(LETTER, angle=-4)], 1) == [
        "halaman/page 1: miring 4,0° (maksimal 2,0°) / skewed 4.0° (at most 2.0°)"
    ]


def test_a_page_cut_off_at_an_edge_is_named(tmp_path: Path) -> None:
    assert problems(tmp_path, [samples.page(LETTER, shift_mm=(-24, 0))], 1) == [
        "halaman/page 1: terpotong: ada tulisan di tepi kiri (3 mm terluar) / cut off: ink at "
        "the left edge (outer 3 mm)"
    ]


def test_a_page_count_that_disagrees_with_the_sheet_is_named(
    tmp_path: Path, good_page: object
) -> None:
    assert problems(tmp_path, [good_page], 3) == [
        "jumlah halaman 1, lembar data menyebut 3 / 1 pages, the sheet says 3"
    ]


def test_an_encrypted_pdf_is_named(tmp_path: Path, good_page: object) -> None:
    plain = samples.pdf([good_page], tmp_path / "plain.pdf")  # type: ignore[list-item]
    with pikepdf.open(plain) as pdf:
        pdf.save(tmp_path / "x.pdf", encryption=pikepdf.Encryption(owner="o", user="u"))
    found = scan.check([tmp_path / "x.pdf"], RULES, 1).problems
    assert [str(p) for p in found] == [
        "PDF terenkripsi (dilindungi kata sandi); simpan/pindai ulang tanpa enkripsi / the PDF "
        "is encrypted (password-protected); save or scan it again without encryption"
    ]
    # Encrypted with an empty user password it opens, and is still refused.
    with pikepdf.open(plain) as pdf:
        pdf.save(tmp_path / "y.pdf", encryption=pikepdf.Encryption(owner="o", user=""))
    assert scan.check([tmp_path / "y.pdf"], RULES, 1).problems[0].code == "terenkripsi"


def test_a_truncated_pdf_is_damaged_even_when_qpdf_recovers_it(
    tmp_path: Path, good_page: object
) -> None:
    whole = samples.pdf([good_page, good_page], tmp_path / "w.pdf").read_bytes()  # type: ignore[list-item]
    for keep in (len(whole) // 2, len(whole) - 200):
        (tmp_path / "t.pdf").write_bytes(whole[:keep])
        found = scan.check([tmp_path / "t.pdf"], RULES, 2).problems
        assert found and {p.code for p in found} <= {"rusak", "jumlah_halaman"}, found
        assert any(p.code == "rusak" for p in found)


def test_not_a_pdf_at_all_is_damaged(tmp_path: Path) -> None:
    (tmp_path / "x.pdf").write_text("hello")
    found = scan.check([tmp_path / "x.pdf"], RULES, 1).problems
    assert [p.code for p in found] == ["rusak"]
    assert str(found[0]).startswith("berkas rusak, tidak dapat dibuka (")


def test_images_are_pages_in_order_and_a_missing_dpi_tag_is_estimated(tmp_path: Path) -> None:
    first = samples.image_file(samples.page(LETTER), tmp_path / "1.png")
    second = samples.page(LETTER, dpi=150)
    second.save(tmp_path / "2.png", "PNG")  # no DPI tag: measured against A4
    result = scan.check([first, tmp_path / "2.png"], RULES, 2)
    assert [str(p) for p in result.problems] == [
        "halaman/page 2: resolusi 150 DPI (diperkirakan dari ukuran A4), minimal 200 DPI / "
        "resolution 150 DPI (estimated from A4 size: the image has no DPI tag), at least 200 DPI"
    ]


def test_a_multi_page_tiff_is_several_pages(tmp_path: Path) -> None:
    first, second = samples.page(LETTER), samples.page(None)
    path = tmp_path / "dua.tif"
    first.save(path, "TIFF", dpi=(300, 300), save_all=True, append_images=[second])
    assert [str(p) for p in scan.check([path], RULES, 2).problems] == [
        "halaman/page 2: halaman kosong (tinta 0,000 %, minimal 0,020 %) / blank page "
        "(ink 0.000 %, at least 0.020 %)"
    ]


def test_a_16_bit_scan_is_measured_not_clipped_to_white(tmp_path: Path) -> None:
    import numpy as np  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415

    grey = np.asarray(samples.page(LETTER), dtype=np.uint16) * 257
    path = tmp_path / "16bit.png"
    Image.fromarray(grey).save(path, dpi=(300, 300))
    result = scan.check([path], RULES, 1)
    assert result.ok, result.problems
    assert result.pages[0].ink_percent > 1
