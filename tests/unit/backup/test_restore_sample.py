"""The restore test's sample: random, yet the same share of the files as of the bytes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bangka_ops.backup.restore_test import Item, RestoreTest, fit_estimate


def archive(count: int = 4000) -> list[Item]:
    rng = random.Random(7)  # noqa: S311 (test data)
    # Mostly small files and a few large ones, like a file server.
    sizes = [int(rng.lognormvariate(9, 2)) for _ in range(count)]
    return [
        Item(f"srv/data/{i:05d}.bin", size, "", "2026-01-01T00:00:00")
        for i, size in enumerate(sizes)
    ]


def test_a_tenth_of_the_files_holds_about_a_tenth_of_the_bytes() -> None:
    items = archive()
    total = sum(i.size for i in items)
    for seed in ("web-01-docs-daily-2026-12-01T02-00-00", "db-01-pg-weekly-2026-12-06T03-00-00"):
        chosen = RestoreTest.sample(items, len(items) // 10, 1, seed)
        assert len(chosen) == len(items) // 10
        assert len({i.path for i in chosen}) == len(chosen)
        share = sum(i.size for i in chosen) / total
        assert 0.07 < share < 0.13, share


def test_the_sample_is_random_per_archive_and_repeatable() -> None:
    items = archive()
    first = RestoreTest.sample(items, 400, 1, "a")
    assert RestoreTest.sample(items, 400, 1, "a") == first
    assert RestoreTest.sample(items, 400, 1, "b") != first


def test_both_minimums_hold_and_a_small_archive_is_taken_whole() -> None:
    items = archive()
    total = sum(i.size for i in items)
    chosen = RestoreTest.sample(items, 50, total // 4, "x")
    assert len(chosen) >= 50
    assert sum(i.size for i in chosen) >= total // 4
    assert RestoreTest.sample(items[:30], 50, 1, "x") == items[:30]
    assert RestoreTest.sample(items, 1, total + 1, "x") == items


def test_the_estimate_fits_per_file_per_byte_and_skip_costs_from_borgs_start_stamps() -> None:
    """Synthetic stamps of a Borg that takes 0.4 s to start, 2 ms per file, 10 ms per MiB and
    0.3 ms per archive item it steps over: the fit finds those costs and predicts the whole
    archive's time (which steps over nothing)."""
    items = [Item(i.path, i.size, "", i.mtime, index) for index, i in enumerate(archive(400))]
    sample = sorted(RestoreTest.sample(items, 40, 1, "s"), key=lambda i: i.index)
    began, clock, starts = 1000.0, 1000.4, []
    for item, after in zip(sample, [*sample[1:], None], strict=True):
        starts.append((clock, item.path))
        skipped = after.index - item.index - 1 if after else 0
        clock += 0.002 + 0.010 * item.size / 2**20 + 0.0003 * skipped
    timing = (began, clock + 0.05, starts)
    archive_bytes = sum(i.size for i in items)

    model = fit_estimate(
        timing,
        {i.path: (i.size, i.index) for i in sample},
        len(items),
        archive_bytes,
        clock - began,
    )

    assert model["method"] == "per file and per byte, fitted"
    assert model["per_file_seconds"] == pytest.approx(0.002, rel=0.01)
    assert model["per_mib_seconds"] == pytest.approx(0.010, rel=0.01)
    assert model["per_skipped_item_seconds"] == pytest.approx(0.0003, rel=0.01)
    assert model["fixed_seconds"] == pytest.approx(0.45, rel=0.01)
    truth = 0.45 + 0.002 * len(items) + 0.010 * archive_bytes / 2**20
    assert model["estimate_seconds"] == pytest.approx(truth, rel=0.01)


def test_too_few_files_timed_falls_back_to_scaling_by_bytes() -> None:
    items = archive(10)
    sizes = {i.path: (i.size, -1) for i in items[:2]}
    model = fit_estimate((0.0, 1.0, [(0.5, items[0].path)]), sizes, 10, 1000, 1.0)
    assert model["method"] == "bytes"
    assert model["estimate_seconds"] == pytest.approx(1000 / sum(s for s, _ in sizes.values()))


def test_restored_files_are_hashed_without_following_any_link(tmp_path: Path) -> None:
    """An archive can hold a link to a directory outside the scratch and a file "under" it;
    what the test hashes is only what was really restored inside the scratch."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "shadow").write_text("secret")
    scratch = tmp_path / "scratch"
    (scratch / "srv").mkdir(parents=True)
    (scratch / "srv" / "a.txt").write_text("a")
    (scratch / "srv" / "etc").symlink_to(outside)
    (scratch / "srv" / "link.txt").symlink_to(outside / "shadow")

    hashed = RestoreTest.hash_tree(scratch)

    assert set(hashed) == {"srv/a.txt"}
    check = RestoreTest.verify(
        [Item("srv/etc/shadow", 6, "0" * 64, "2026-01-01T00:00:00")], scratch, None
    )
    assert check.missing == ["srv/etc/shadow"]
