"""Database dumps as one tar stream: parts joined again, read by the real tar too, and nothing
but what the writer makes is accepted back."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from bangka_ops.backup import dumpstream


def test_dumps_are_cut_into_parts_and_joined_again(tmp_path: Path) -> None:
    data = os.urandom(250_000)
    out = io.BytesIO()
    stream = dumpstream.DumpStream(out, part_bytes=100_000, mtime=0)
    stream.add_bytes("plan.json", b'{"databases": 2}')
    copied = stream.add_stream("postgresql/kepegawaian.pgdump", io.BytesIO(data))
    empty = stream.add_stream("mariadb/keuangan.sql", io.BytesIO(b""))
    stream.add_bytes("status.json", b'{"ok": true}')
    stream.close()
    assert (copied.bytes, copied.parts) == (250_000, 3)
    assert copied.sha256 == hashlib.sha256(data).hexdigest()
    assert (empty.bytes, empty.parts) == (0, 1)

    joined: dict[str, bytes] = {}
    order: list[str] = []
    for name, piece in dumpstream.pieces(io.BytesIO(out.getvalue())):
        if not order or order[-1] != name:
            order.append(name)
        joined[name] = joined.get(name, b"") + piece
    assert order == [
        "plan.json",
        "postgresql/kepegawaian.pgdump",
        "mariadb/keuangan.sql",
        "status.json",
    ]
    assert joined["postgresql/kepegawaian.pgdump"] == data
    assert joined["mariadb/keuangan.sql"] == b""

    archive = tmp_path / "dumps.tar"
    archive.write_bytes(out.getvalue())
    listed = subprocess.run(
        ["tar", "-tf", str(archive)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert listed[1:4] == [
        "postgresql/kepegawaian.pgdump.000001",
        "postgresql/kepegawaian.pgdump.000002",
        "postgresql/kepegawaian.pgdump.000003",
    ]


def test_a_pipe_with_short_reads_is_copied_whole() -> None:
    with subprocess.Popen(["head", "-c", "300000", "/dev/urandom"], stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        out = io.BytesIO()
        stream = dumpstream.DumpStream(out, part_bytes=65_536)
        copied = stream.add_stream("postgresql/arsip.pgdump", proc.stdout)
        stream.close()
    assert (copied.bytes, copied.parts) == (300_000, 5)
    pieces = [p for _, p in dumpstream.pieces(io.BytesIO(out.getvalue()))]
    assert hashlib.sha256(b"".join(pieces)).hexdigest() == copied.sha256


@pytest.mark.parametrize("name", ["../etc/passwd", "/abs", "a//b", "x" * 300, "", "dua.json"])
def test_the_writer_refuses_names_it_would_not_make(name: str) -> None:
    stream = dumpstream.DumpStream(io.BytesIO())
    stream.add_bytes("dua.json", b"")
    with pytest.raises(ValueError, match="not a usable member name"):
        stream.add_bytes(name, b"x")


def hostile(build: list[tuple[tarfile.TarInfo, bytes]]) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in build:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    out.seek(0)
    return out


def link(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


@pytest.mark.parametrize(
    "members",
    [
        [(link("postgresql/a.pgdump.000001", "/etc/shadow"), b"")],
        [(tarfile.TarInfo("../../root/.ssh/authorized_keys"), b"ssh-ed25519 AAAA")],
        [(tarfile.TarInfo("postgresql/a.pgdump.000002"), b"x")],
        [
            (tarfile.TarInfo("postgresql/a.pgdump.000001"), b"x"),
            (tarfile.TarInfo("postgresql/a.pgdump.000001"), b"y"),
        ],
    ],
)
def test_a_stream_the_writer_did_not_make_is_refused(
    members: list[tuple[tarfile.TarInfo, bytes]],
) -> None:
    with pytest.raises(ValueError, match="dump stream"):
        list(dumpstream.pieces(hostile(members)))


def test_a_dump_from_a_newer_server_says_so_when_it_does_not_load() -> None:
    from bangka_ops.backup import dbrestore  # noqa: PLC0415

    newer = {"type": "postgresql", "dump_server_version": "16.2",
             "restore_server_version": "15.10"}  # fmt: skip
    assert "newer than this host's 15.10" in dbrestore.newer_hint(newer)
    assert dbrestore.newer_hint({**newer, "dump_server_version": "15.2"}) == ""
    maria = {"type": "mariadb", "dump_server_version": "11.4.2-MariaDB",
             "restore_server_version": "10.11.19-MariaDB-0+deb12u1"}  # fmt: skip
    assert "newer" in dbrestore.newer_hint(maria)
    assert dbrestore.newer_hint({**maria, "dump_server_version": "10.6.1-MariaDB"}) == ""


def test_a_member_bigger_than_the_writer_makes_is_refused_before_it_is_read() -> None:
    import io  # noqa: PLC0415
    import tarfile  # noqa: PLC0415

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w|") as tar:
        info = tarfile.TarInfo("status.json")
        info.size = dumpstream.DOCUMENT_BYTES + 1
        tar.addfile(info, io.BytesIO(b"\0" * info.size))
    out.seek(0)
    with pytest.raises(ValueError, match="at most"):
        list(dumpstream.pieces(out))


def test_the_definer_filter_holds_back_at_most_one_bounded_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bangka_ops.backup import dbrestore  # noqa: PLC0415

    monkeypatch.setattr(dbrestore, "LINE_MAX", 64)
    definers = dbrestore.DefinerFilter()
    passed = definers.feed(b"CREATE DEFINER=`root`@`localhost` FUNCTION f() " + b"x" * 100)
    assert passed.startswith(b"CREATE DEFINER=CURRENT_USER FUNCTION")  # its start looked at
    assert definers.carry == b""
    passed += definers.feed(b"y" * 10 + b"\nCREATE DEFINER=`a`@`b` VIEW v\n")
    assert passed.endswith(b"y" * 10 + b"\nCREATE DEFINER=CURRENT_USER VIEW v\n")


@pytest.mark.parametrize(
    ("database_bytes", "part"),
    [
        (None, 1 << 20),
        (0, 1 << 20),
        (63 << 20, 1 << 20),
        (200 << 20, 2 << 20),  # 200 MiB / 64 = 3.1 MiB: down to a power of two
        (1 << 30, 16 << 20),
        (10 << 30, 64 << 20),  # never past PART_BYTES
    ],
)
def test_a_dumps_part_size_follows_its_database_size(database_bytes: int | None, part: int) -> None:
    assert dumpstream.part_size(database_bytes) == part


def test_an_unchanged_dump_is_the_same_bytes_in_every_run() -> None:
    """A part's header carries no time: Borg deduplicates an unchanged dump whole."""
    data = os.urandom(300_000)
    streams = []
    for mtime in (1_700_000_000, 1_800_000_000):
        out = io.BytesIO()
        stream = dumpstream.DumpStream(out, mtime=mtime)
        stream.add_bytes("plan.json", b"{}")
        stream.add_stream("postgresql/01-5432/001.pgdump", io.BytesIO(data), 100_000)
        stream.close()
        streams.append(out.getvalue())
    first, second = streams
    assert first != second  # the documents carry the run's time
    start = first.index(b"postgresql/01-5432/001.pgdump.000001")
    end = first.index(data[-1000:]) + 1000
    assert first[start:end] == second[start:end]
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        assert [i.mtime for i in tar if "pgdump" in i.name] == [0, 0, 0]


def test_a_reader_passes_a_big_part_on_in_slices() -> None:
    """A loader gets the start of a part before all of it came through."""
    data = os.urandom(dumpstream.READ_BYTES * 2 + 5)
    out = io.BytesIO()
    stream = dumpstream.DumpStream(out)
    stream.add_stream("mariadb/01/001.sql", io.BytesIO(data))
    stream.close()
    sizes = [len(piece) for _, piece in dumpstream.pieces(io.BytesIO(out.getvalue()))]
    assert sizes == [dumpstream.READ_BYTES, dumpstream.READ_BYTES, 5]


def test_a_part_cut_short_is_an_error_not_a_short_dump() -> None:
    out = io.BytesIO()
    stream = dumpstream.DumpStream(out)
    stream.add_stream("mariadb/01/001.sql", io.BytesIO(os.urandom(dumpstream.READ_BYTES * 2)))
    stream.close()
    cut = out.getvalue()[: 512 * 3 + dumpstream.READ_BYTES + 100]
    with pytest.raises((EOFError, tarfile.TarError)):
        list(dumpstream.pieces(io.BytesIO(cut)))
