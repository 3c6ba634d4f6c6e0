"""The segment reader on hand-written Borg 1.x segment files (the format: magic ``BORG_SEG``,
entries ``crc32 size tag [id [data]]``); the same reader on Borg's own files is exercised by
tests/integration/backup/test_hostile_client.py and test_borg_server_keys.py."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest

from bangka_ops.backup import segments
from bangka_ops.backup.segments import MANIFEST_ID, TAG_COMMIT, TAG_DELETE, TAG_PUT, Mark


def entry(tag: int, key: bytes = b"", data: bytes = b"") -> bytes:
    body = struct.pack("<IB", 9 + len(key) + len(data), tag) + key + data
    return struct.pack("<I", zlib.crc32(body)) + body


def put(key: bytes, data: bytes = b"x" * 10) -> bytes:
    return entry(TAG_PUT, key, data)


def delete(key: bytes) -> bytes:
    return entry(TAG_DELETE, key)


COMMIT = entry(TAG_COMMIT)


def object_id(n: int) -> bytes:
    return bytes([n]) * 32


class Repo:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "data" / "0").mkdir(parents=True)
        (root / "config").write_text("[repository]\n")
        self.number = 0
        self.clock = 1_800_000_000_000_000_000

    def segment(self, *entries: bytes) -> int:
        """One segment file, numbered and dated after the previous one."""
        path = self.root / "data" / "0" / str(self.number)
        path.write_bytes(segments.MAGIC + b"".join(entries))
        self.clock += 1_000_000_123
        os.utime(path, ns=(self.clock, self.clock))
        self.number += 1
        return self.number - 1

    def transaction(self, *entries: bytes) -> int:
        self.segment(*entries)
        return self.segment(COMMIT)


def test_a_backup_only_puts_and_a_delete_is_found_with_its_rollback_point(tmp_path: Path) -> None:
    repo = Repo(tmp_path)
    repo.transaction(put(object_id(1)), delete(MANIFEST_ID), put(MANIFEST_ID))
    baseline = segments.scan(tmp_path, None)
    assert baseline.transactions == [] and baseline.mark == Mark(1, repo.clock)
    before_delete = repo.transaction(put(object_id(2)), delete(MANIFEST_ID), put(MANIFEST_ID))
    before_delete_ns = repo.clock
    repo.transaction(delete(object_id(2)), delete(object_id(1)), put(MANIFEST_ID))
    repo.transaction(delete(object_id(3)), put(object_id(3), b"other"))  # a PUT over an object

    found = segments.scan(tmp_path, baseline.mark)

    assert len(found.transactions) == 3
    first, second = found.suspicious
    assert first.deleted == [object_id(2).hex(), object_id(1).hex()] and first.puts == 0
    assert second.overwritten == [object_id(3).hex()] and second.deleted == []
    assert found.rollback_to == segments.iso(before_delete_ns)
    assert found.mark == Mark(before_delete + 4, repo.clock)
    assert segments.scan(tmp_path, found.mark).transactions == []


def test_an_unfinished_transaction_is_counted_not_judged(tmp_path: Path) -> None:
    repo = Repo(tmp_path)
    repo.transaction(put(object_id(1)))
    mark = segments.current_mark(tmp_path)
    repo.segment(delete(object_id(1)))  # no commit: Borg discards it on the next open
    found = segments.scan(tmp_path, mark)
    assert found.suspicious == [] and found.uncommitted_entries == 1
    assert found.mark == mark


def test_segments_written_again_after_a_rollback_are_read_by_their_time(tmp_path: Path) -> None:
    repo = Repo(tmp_path)
    repo.transaction(put(object_id(1)))
    repo.transaction(put(object_id(2)))
    mark = segments.current_mark(tmp_path)
    assert mark is not None
    for number in (2, 3):  # rolled back: the later segments are removed ...
        (tmp_path / "data" / "0" / str(number)).unlink()
    repo.number = 2  # ... and Borg numbers the next ones from there again
    repo.transaction(delete(object_id(1)))
    found = segments.scan(tmp_path, mark)
    (suspicious,) = found.suspicious
    assert suspicious.deleted == [object_id(1).hex()]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"ATTICSEG" + COMMIT, "not a Borg segment"),
        (segments.MAGIC + COMMIT[:5], "offset 8: truncated entry header"),
        (segments.MAGIC + b"\0\0\0\0" + delete(object_id(1))[4:], "offset 8: damaged DELETE"),
        (segments.MAGIC + entry(7, object_id(1)), "offset 8: unknown entry tag 7"),
        (segments.MAGIC + put(object_id(1))[:20], "offset 8: truncated entry"),
        (segments.MAGIC + COMMIT + struct.pack("<IIB", 0, 3, TAG_PUT), "offset 17: entry size 3"),
    ],
)
def test_a_damaged_segment_is_named_with_its_offset(
    tmp_path: Path, content: bytes, message: str
) -> None:
    repo = Repo(tmp_path)
    repo.transaction(put(object_id(1)))
    damaged = tmp_path / "data" / "0" / "2"
    damaged.write_bytes(content)
    with pytest.raises(segments.SegmentError) as caught:
        segments.scan(tmp_path, Mark(1, 0))
    assert str(damaged) in str(caught.value) and message in str(caught.value)


def test_not_a_repository_is_named(tmp_path: Path) -> None:
    with pytest.raises(segments.SegmentError, match="not a Borg repository"):
        segments.scan(tmp_path, None)


def test_times_round_up_so_a_rollback_keeps_the_segment_named() -> None:
    assert segments.iso(1_800_000_000_123_456_001) == "2027-01-15T08:00:00.123457+00:00"
    assert segments.iso(1_800_000_000_123_456_000) == "2027-01-15T08:00:00.123456+00:00"


@pytest.mark.parametrize(
    "bad", [[], {"segment": "1", "mtime_ns": 2}, {"segment": True, "mtime_ns": 1}]
)
def test_a_damaged_mark_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="integer 'segment' and 'mtime_ns'"):
        Mark.from_dict(bad)
