"""A real storage server for the archive's cloud copy: ``rclone serve sftp`` on loopback with
its own key (rclone's SFTP server answers ``md5sum``/``sha1sum``, so the remote reports hashes
like Google Drive or S3 do), and an archive whose stored files are real PDFs."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pikepdf

from bangka_ops.arsip import awan
from bangka_ops.arsip import catalogue as cat
from bangka_ops.arsip.naming import evidence_path
from bangka_ops.arsip.ocr import sha256

from .helpers import CONFIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Storage:
    """The server's files are ``root``; ``start``/``stop`` bring it up and down (the same port)."""

    root: Path
    keys: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["rclone", "serve", "sftp", str(self.root), "--addr", f"127.0.0.1:{self.port}",
             "--authorized-keys", str(self.keys / "client.pub"), "--key",
             str(self.keys / "host"), "--dir-cache-time", "0s", "--log-level", "ERROR"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("rclone serve sftp did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def file(self, path: str) -> Path:
        return self.root / "arsip" / "dokumen" / path


def make_storage(base: Path) -> Storage:
    keys = base / "kunci"
    keys.mkdir()
    for name in ("host", "client"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True
        )
    (base / "server").mkdir()
    storage = Storage(base / "server", keys, free_port())
    storage.start()
    return storage


def write_config(storage: Storage, etc: Path, extra: str = "") -> Path:
    """arsip.yml (the example's codes plus an ``awan`` section) and rclone.conf (0640) in
    ``etc``; the client trusts exactly the server's host key."""
    etc.mkdir(exist_ok=True)
    host_key = (storage.keys / "host.pub").read_text().split()
    known = etc / "known_hosts"
    known.write_text(f"[127.0.0.1]:{storage.port} {host_key[0]} {host_key[1]}\n")
    conf = etc / "rclone.conf"
    conf.write_text(
        "[penyimpanan]\ntype = sftp\nhost = 127.0.0.1\n"
        f"port = {storage.port}\nuser = arsip\nkey_file = {storage.keys / 'client'}\n"
        f"known_hosts_file = {known}\nshell_type = unix\n"
    )
    conf.chmod(0o640)
    config = etc / "arsip.yml"
    config.write_text(
        CONFIG.read_text(encoding="utf-8")
        + f"\nawan:\n  remote: 'penyimpanan:arsip'\n  konfigurasi_rclone: rclone.conf\n{extra}",
        encoding="utf-8",
    )
    return config


def pdf(path: Path, pages: int, words: str, padding: int = 0) -> None:
    """A real PDF; ``padding`` bytes of random (incompressible) data in a stream, for size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = pikepdf.new()
    for _ in range(pages):
        document.add_blank_page(page_size=(595, 842))
    document.docinfo["/Title"] = words
    if padding:
        document.Root.Padding = pikepdf.Stream(document, os.urandom(padding))
    document.save(path)


def stored_items(
    root: Path, count: int, pages: int = 2, padding: int = 0
) -> list[dict[str, object]]:
    """``count`` stored documents (PDF and evidence copy) in the catalogue at ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    made = []
    with cat.Catalogue(root) as catalogue:
        for n in range(count):
            path = (
                f"UM.01/2025/surat-masuk/2025-03-{n % 28 + 1:02d}_{n:03d}_rapat koordinasi {n}.pdf"
            )
            main, evidence = root / "dokumen" / path, root / "dokumen" / evidence_path(path)
            pdf(main, pages, f"dokumen {n}", padding)
            pdf(evidence, pages, f"pindaian {n}", padding)
            meta = {
                "kode": "UM.01", "jenis": "surat-masuk", "nomor": f"{n}/UM",
                "perihal": f"rapat {n}",
                "tanggal": dt.date(2025, 3, n % 28 + 1), "unit": "sekretariat", "halaman": pages,
                "keamanan": "biasa",
            }  # fmt: skip
            item = catalogue.add(
                meta, cat.STORED, text=f"rapat koordinasi {n}", path=path,
                asli=evidence_path(path), sha256=sha256(main), asli_sha256=sha256(evidence),
                bytes=main.stat().st_size, sumber_sha256=f"s{n}", sumber="{}", batch="b",
            )  # fmt: skip
            # As the intake does: the files queued for upload with every hash.
            catalogue.queue_upload(
                [(item, "pdf", path, awan.digest(main)),
                 (item, "asli", evidence_path(path), awan.digest(evidence))]
            )  # fmt: skip
            made.append({"id": item, "path": path, "asli": evidence_path(path)})
    return made
