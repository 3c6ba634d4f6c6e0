"""An example inbox: generated scans of Indonesian letters and their metadata sheet (the main
job ingests it; ``cekat arsip contoh DIR``). With ``bad=True`` it also holds one of every bad
case the intake must refuse or send back for re-scan."""

from __future__ import annotations

import csv
from pathlib import Path

import pikepdf

from bangka_ops.arsip import samples
from bangka_ops.arsip.catalogue import META

HEADER = ["berkas", *META]
# The word printed on the first example letter: the main job searches for it.
KEYWORD = "anggaran"

GOOD = [
    # file, kode, jenis, nomor, tanggal, perihal, asal/tujuan, unit, pages, keamanan, keterangan
    (
        "surat-undangan-rapat.pdf",
        "PR.02.01",
        "undangan",
        "005/112/DISKOMINFO/2025",
        "2025-03-12",
        "Undangan rapat koordinasi penganggaran tahun 2026",
        "Bappeda Kabupaten Bangka",
        "sekretariat",
        2,
        "",
        "",
    ),
    (
        "nota-dinas-server.jpg",
        "UM.01.01",
        "nota-dinas",
        "ND/045/APTIKA/2025",
        "02-06-2025",
        "Nota dinas pemeliharaan server pusat data",
        "Kepala Dinas",
        "aptika",
        1,
        "",
        "",
    ),
    (
        "laporan-kegiatan-1.png;laporan-kegiatan-2.png",
        "HM.01.01",
        "laporan-kegiatan",
        "LK/07/IKP/2024",
        "2024-11-20",
        "Laporan kegiatan kunjungan kerja Bupati ke Kecamatan Belinyu",
        "",
        "ikp",
        2,
        "",
        "dua halaman dipindai terpisah",
    ),
]


def letter(row: tuple[object, ...], seed: int) -> samples.Letter:
    return samples.Letter(
        nomor=str(row[3]),
        perihal=str(row[5]),
        tanggal=str(row[4]),
        seed=seed,
        keyword=KEYWORD if seed == 1 else None,
    )


def inbox(directory: Path, bad: bool = False) -> int:
    """Write the example inbox into ``directory``; returns how many rows its sheet has."""
    directory.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[object, ...]] = []
    for seed, row in enumerate(GOOD, 1):
        files = str(row[0]).split(";")
        pages = [
            samples.page(letter(row, seed + i * 10), angle=0.6 - i) for i in range(int(str(row[8])))
        ]
        if files[0].endswith(".pdf"):
            samples.pdf(pages, directory / files[0])
        else:
            for name, image in zip(files, pages, strict=True):
                samples.image_file(image, directory / name)
        rows.append(row)
    if bad:
        rows += bad_cases(directory)
    with (directory / "lembar-data.csv").open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(HEADER)
        out.writerows(rows)
    return len(rows)


def bad_cases(directory: Path) -> list[tuple[object, ...]]:
    base = samples.Letter("B/1/2025", "Surat uji", "3 Februari 2025", seed=99)
    good = samples.page(base)
    samples.pdf([good, samples.page(None)], directory / "ada-halaman-kosong.pdf")
    samples.pdf([samples.page(base, dpi=100)], directory / "resolusi-rendah.pdf")
    samples.pdf(
        [samples.page(samples.Letter("B/2/2025", "x", "y", seed=98))],
        directory / "halaman-kurang.pdf",
    )
    whole = samples.pdf(
        [samples.page(samples.Letter("B/3/2025", "x", "y", seed=97))], directory / "rusak.pdf"
    ).read_bytes()
    (directory / "rusak.pdf").write_bytes(whole[: len(whole) // 2])
    plain = directory / "terenkripsi-sumber.pdf"
    samples.pdf([samples.page(samples.Letter("B/4/2025", "x", "y", seed=96))], plain)
    with pikepdf.open(plain) as pdf:
        pdf.save(
            directory / "terenkripsi.pdf",
            encryption=pikepdf.Encryption(owner="pemilik", user="rahasia"),
        )
    plain.unlink()
    (directory / "duplikat.pdf").write_bytes((directory / "surat-undangan-rapat.pdf").read_bytes())
    samples.pdf(
        [samples.page(samples.Letter("B/5/2025", "x", "y", seed=95), angle=5)],
        directory / "miring.pdf",
    )
    for name in ("kode-salah.pdf", "tanggal-salah.pdf"):
        (directory / name).write_bytes((directory / "halaman-kurang.pdf").read_bytes())
    return [
        (
            "ada-halaman-kosong.pdf",
            "UM.01.01",
            "surat-masuk",
            "B/1/2025",
            "2025-02-03",
            "Surat dengan halaman kosong",
            "",
            "sekretariat",
            2,
            "",
            "",
        ),
        (
            "resolusi-rendah.pdf",
            "UM.01.01",
            "surat-masuk",
            "B/6/2025",
            "2025-02-03",
            "Surat dipindai 100 DPI",
            "",
            "sekretariat",
            1,
            "",
            "",
        ),
        (
            "halaman-kurang.pdf",
            "UM.01.01",
            "surat-masuk",
            "B/2/2025",
            "2025-02-03",
            "Jumlah halaman tidak cocok",
            "",
            "sekretariat",
            3,
            "",
            "",
        ),
        (
            "rusak.pdf",
            "UM.01.01",
            "surat-masuk",
            "B/3/2025",
            "2025-02-03",
            "PDF rusak",
            "",
            "sekretariat",
            1,
            "",
            "",
        ),
        (
            "terenkripsi.pdf",
            "UM.01.01",
            "surat-masuk",
            "B/4/2025",
            "2025-02-03",
            "PDF terenkripsi",
            "",
            "sekretariat",
            1,
            "",
            "",
        ),
        (
            "duplikat.pdf",
            "UM.01.01",
            "surat-masuk",
            "B/7/2025",
            "2025-02-03",
            "Salinan ganda",
            "",
            "sekretariat",
            2,
            "",
            "",
        ),
        (
            "tidak-ada.pdf",
            "UM.01.01",
            "surat-masuk",
            "B/8/2025",
            "2025-02-03",
            "Berkas hilang",
            "",
            "sekretariat",
            1,
            "",
            "",
        ),
        (
            "miring.pdf",
            "UM.01.01",
            "surat-masuk",
            "B/5/2025",
            "2025-02-03",
            "Pindaian miring",
            "",
            "sekretariat",
            1,
            "",
            "",
        ),
        (
            "kode-salah.pdf",
            "XX.99",
            "surat-masuk",
            "B/10/2025",
            "2025-02-03",
            "Kode tidak dikenal",
            "",
            "sekretariat",
            1,
            "",
            "",
        ),
        (
            "tanggal-salah.pdf",
            "UM.01.01",
            "surat-masuk",
            "B/9/2025",
            "2025-02-30",
            "Tanggal tidak ada",
            "",
            "sekretariat",
            1,
            "",
            "",
        ),
    ]
