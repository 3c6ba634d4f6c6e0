"""Several images of one document become one PDF losslessly (img2pdf), without OCR."""

from __future__ import annotations

from pathlib import Path

import pikepdf

from bangka_ops.arsip import ocr, samples

LETTER = samples.Letter("1/2025", "Rapat", "1 Mei 2025", seed=8)


def test_images_become_one_pdf_in_page_order_with_the_jpeg_data_unchanged(tmp_path: Path) -> None:
    jpeg = tmp_path / "1.jpg"
    jpeg.write_bytes(samples.jpeg(samples.page(LETTER)))
    tiff = tmp_path / "2.tif"
    samples.page(LETTER, angle=1).save(tiff, "TIFF", dpi=(300, 300), save_all=True,
                                       append_images=[samples.page(None)])  # fmt: skip
    out = tmp_path / "asli.pdf"
    ocr.combine([jpeg, tiff], out)
    with pikepdf.open(out) as pdf:
        assert len(pdf.pages) == 3
        first = next(iter(pdf.pages[0].get_images().values()))
        assert first.read_raw_bytes() == jpeg.read_bytes()  # the JPEG copied, not re-encoded
        assert [round(float(pdf.pages[0].mediabox[2]) / 72, 2)] == [8.27]
    again = tmp_path / "lagi.pdf"
    ocr.combine([jpeg, tiff], again)
    assert out.read_bytes() == again.read_bytes()


def test_images_without_a_dpi_tag_are_laid_out_on_a4(tmp_path: Path) -> None:
    bare = tmp_path / "tanpa-dpi.png"
    samples.page(LETTER, dpi=200).save(bare, "PNG")
    out = tmp_path / "asli.pdf"
    ocr.combine([bare], out)
    with pikepdf.open(out) as pdf:
        width, height = (float(v) / 72 * 25.4 for v in pdf.pages[0].mediabox[2:])
    assert (round(width), round(height)) == (210, 297)
