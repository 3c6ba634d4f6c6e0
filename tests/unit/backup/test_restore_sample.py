"""The restore test's sample: random, yet the same share of the files as of the bytes."""

from __future__ import annotations

import random

from bangka_ops.backup.restore_test import Item, RestoreTest


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
