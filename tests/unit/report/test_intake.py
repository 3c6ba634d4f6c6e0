"""cekat intake: a host's package is data, never paths (issue 13, item 1).

Each hostile package is built the way a compromised agent could build it, then taken in; the
admin host's whole tree (collection and a directory outside it standing for ``/anywhere``) is
hashed before and after: a refused package changes nothing at all."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from bangka_ops.report import intake

RECORD = b'{"kind": "backup_run"}\n'


def package(path: Path, build: Callable[[tarfile.TarFile], None]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        build(tar)
    return path


def add_file(tar: tarfile.TarFile, name: str, data: bytes = RECORD, **attrs: object) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o4777  # hostile modes and owners must not survive
    info.uid = info.gid = 12345
    for key, value in attrs.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data))


def add_special(tar: tarfile.TarFile, name: str, kind: bytes, target: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    tar.addfile(info)


def snapshot(*roots: Path) -> dict[str, tuple[str, int, str]]:
    """Every path under the roots: its type, mode and content hash (or link target)."""
    seen: dict[str, tuple[str, int, str]] = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                path = Path(folder) / name
                info = path.lstat()
                if stat.S_ISLNK(info.st_mode):
                    content = os.readlink(path)
                elif stat.S_ISREG(info.st_mode):
                    content = hashlib.sha256(path.read_bytes()).hexdigest()
                else:
                    content = ""
                seen[str(path)] = (stat.filemode(info.st_mode), info.st_uid, content)
    return seen


@pytest.fixture
def admin(tmp_path: Path) -> tuple[Path, Path]:
    """The collection root with one host already collected, and a directory outside it."""
    root, outside = tmp_path / "collected", tmp_path / "anywhere"
    outside.mkdir()
    (outside / "shadow").write_text("root:secret-hash\n")
    good = package(
        tmp_path / "first.tar.gz",
        lambda tar: add_file(tar, "./records/dokumen/fs01-dokumen-daily-1.json"),
    )
    assert intake.intake(root, "fs01", good, watermark=100).refused is None
    return root, outside


def add_twice(tar: tarfile.TarFile, name: str) -> None:
    add_file(tar, name)
    add_file(tar, f"./{name}", b"{}")


HOSTILE: dict[str, Callable[[tarfile.TarFile], None]] = {
    "symlink": lambda tar: add_special(tar, "records/evil.json", tarfile.SYMTYPE, "/anywhere"),
    "hard link to /etc/shadow": lambda tar: add_special(
        tar, "records/shadow.json", tarfile.LNKTYPE, "/etc/shadow"
    ),
    "device": lambda tar: add_special(tar, "records/dev.json", tarfile.CHRTYPE),
    "fifo": lambda tar: add_special(tar, "records/fifo.json", tarfile.FIFOTYPE),
    "absolute path": lambda tar: add_file(tar, "/anywhere/evil.json"),
    "dot-dot": lambda tar: add_file(tar, "records/../../anywhere/evil.json"),
    "dot-dot chunk name": lambda tar: add_file(tar, "audit/../../x"),
    "chunk name not audit-cut's": lambda tar: add_file(tar, "audit/evil.json"),
    "hidden file": lambda tar: add_file(tar, "records/.bashrc.json"),
    "unknown area": lambda tar: add_file(tar, "ledger/dokumen/2026-11.jsonl"),
    "unknown top file": lambda tar: add_file(tar, "watermarks.json"),
    "not a record file": lambda tar: add_file(tar, "records/dokumen/run.sh"),
    "control character": lambda tar: add_file(tar, "records/dokumen/a\nb.json"),
    "twice": lambda tar: add_twice(tar, "records/dokumen/a.json"),
    "too deep": lambda tar: add_file(tar, "records/" + "d/" * 8 + "a.json"),
    "forged offsets": lambda tar: add_file(
        tar, "audit-offsets.json", b'{"offsets": {"../x.jsonl": {"inode": 1, "offset": 2}}}'
    ),
}


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_a_hostile_package_is_refused_whole_and_changes_nothing(
    admin: tuple[Path, Path], tmp_path: Path, attack: str
) -> None:
    root, outside = admin

    def build(tar: tarfile.TarFile) -> None:
        # A legitimate file first: it must not be stored either (refused whole).
        add_file(tar, "records/dokumen/fs01-dokumen-daily-2.json")
        HOSTILE[attack](tar)

    before = snapshot(root, outside)
    result = intake.intake(root, "fs01", package(tmp_path / "evil.tar.gz", build), watermark=200)
    assert result.refused, attack
    assert snapshot(root, outside) == before  # nothing stored, watermark not moved


def test_symlink_then_file_across_two_collections_writes_nothing_outside(
    admin: tuple[Path, Path], tmp_path: Path
) -> None:
    """The attack that worked with unarchive: plant a symlink, then write through it."""
    root, outside = admin
    before = snapshot(root, outside)
    first = package(
        tmp_path / "one.tar.gz",
        lambda tar: add_special(tar, "records/evil", tarfile.SYMTYPE, str(outside)),
    )
    second = package(tmp_path / "two.tar.gz", lambda tar: add_file(tar, "records/evil/x.json"))
    assert intake.intake(root, "fs01", first).refused
    assert intake.intake(root, "fs01", second).refused is None  # a plain file: fine
    assert not (outside / "x.json").exists()
    assert (root / "fs01" / "records" / "evil" / "x.json").is_file()
    after = snapshot(outside)
    assert after == {k: v for k, v in before.items() if k.startswith(str(outside))}


def test_a_link_left_in_the_admin_tree_refuses_the_package_naming_it(
    admin: tuple[Path, Path], tmp_path: Path
) -> None:
    """A symlink planted by an older collection method is never written through."""
    root, outside = admin
    (root / "fs01" / "records" / "evil").symlink_to(outside)
    before = snapshot(root, outside)
    result = intake.intake(
        root,
        "fs01",
        package(tmp_path / "p.tar.gz", lambda tar: add_file(tar, "records/evil/x.json")),
    )
    assert result.refused and "records/evil" in result.refused
    assert snapshot(root, outside) == before


def test_stored_files_are_the_admins_and_never_rewritten(
    admin: tuple[Path, Path], tmp_path: Path
) -> None:
    root, _ = admin
    stored = root / "fs01" / "records" / "dokumen" / "fs01-dokumen-daily-1.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o640
    assert stored.stat().st_uid == os.geteuid()
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o750
    offsets = {"offsets": {"audit.jsonl": {"inode": 7, "offset": 42}}, "chunks": []}
    chunk = "audit.7.000000000000-000000000042.jsonl"

    def build(tar: tarfile.TarFile) -> None:
        add_file(tar, "./records/dokumen/fs01-dokumen-daily-1.json", b'{"changed": true}')
        add_file(tar, "./records/dokumen/fs01-dokumen-daily-2.json")
        add_file(tar, "./config.json", b'{"host": "fs01", "policies": {}}')
        add_file(tar, f"./audit/{chunk}", b'{"kind": "backup"}\n')
        add_file(tar, "./audit-offsets.json", json.dumps(offsets).encode())

    result = intake.intake(root, "fs01", package(tmp_path / "p.tar.gz", build), watermark=300)
    assert result.refused is None
    assert (result.stored, result.present, result.chunks) == (3, 1, 1)
    assert stored.read_bytes() == RECORD  # the earlier copy is kept as it was
    assert stat.S_IMODE((root / "fs01" / "audit" / chunk).stat().st_mode) == 0o440
    assert json.loads((root / "fs01" / "config.json").read_text())["host"] == "fs01"
    assert json.loads((root / ".watermarks.json").read_text()) == {"fs01": 300}
    assert json.loads((root / ".audit-offsets.json").read_text()) == {"fs01": offsets["offsets"]}
    assert not [p for p in root.rglob(".tmp-intake-*")]


def test_limits_refuse_a_package_too_large(admin: tuple[Path, Path], tmp_path: Path) -> None:
    root, outside = admin
    before = snapshot(root, outside)
    big = package(tmp_path / "big.tar.gz", lambda tar: add_file(tar, "records/a.json", b"x" * 5000))
    result = intake.intake(root, "fs01", big, limits=intake.Limits(member_bytes=4096))
    assert result.refused and "bytes" in result.refused
    assert snapshot(root, outside) == before


def test_garbage_is_refused_not_a_traceback(admin: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = admin
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8b" + os.urandom(4000))
    assert intake.intake(root, "fs01", junk).refused
    truncated = package(
        tmp_path / "t.tar.gz", lambda tar: add_file(tar, "records/a.json", os.urandom(100_000))
    )
    truncated.write_bytes(truncated.read_bytes()[:5000])
    before = snapshot(root)
    assert intake.intake(root, "fs01", truncated).refused
    assert snapshot(root) == before


def test_offsets_nested_too_deeply_are_refused_by_name(
    admin: tuple[Path, Path], tmp_path: Path
) -> None:
    """audit-cut's answer comes from the host: too deep for the parser is refused like any
    other answer that is not JSON, naming the file, and nothing of the package is kept."""
    root, outside = admin

    def build(tar: tarfile.TarFile) -> None:
        add_file(tar, "records/dokumen/fs01-dokumen-daily-2.json")
        add_file(tar, "audit-offsets.json", b"[" * 100_000)

    before = snapshot(root, outside)
    result = intake.intake(root, "fs01", package(tmp_path / "deep.tar.gz", build), watermark=200)
    assert result.refused and "audit-offsets.json: not JSON (nested too deeply)" in result.refused
    assert snapshot(root, outside) == before


def test_cli_exit_codes_and_audit_line(admin: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = admin
    log = tmp_path / "audit.jsonl"
    evil = package(
        tmp_path / "e.tar.gz",
        lambda tar: add_special(tar, "records/x.json", tarfile.LNKTYPE, "/etc/shadow"),
    )
    env = {**os.environ, "BANGKA_AUDIT_LOG": str(log)}

    def cekat(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bangka_ops.cli", "intake", *argv],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )

    refused = cekat(str(root), "--host", "fs01", "--package", str(evil))
    assert refused.returncode == 3
    assert "fs01: REFUSED" in refused.stderr and "hard link" in refused.stderr
    assert "Traceback" not in refused.stderr
    line = json.loads(log.read_text().splitlines()[-1])
    assert (line["kind"], line["result"]) == ("collection", "refused")
    assert line["details"]["host_collected"] == "fs01"

    usage = cekat(str(root), "--host", "../etc", "--package", str(evil))
    assert usage.returncode == 64 and "--host" in usage.stderr
    missing = cekat(str(root), "--host", "fs01", "--package", str(tmp_path / "none"))
    assert missing.returncode == 64 and "no such package" in missing.stderr
