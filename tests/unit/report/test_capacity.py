"""The capacity forecast's fit: growth, prunes, flat and short histories, the quota, and what an
agent's record may hold in place of a size."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest

from bangka_ops.report import capacity

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
GIB = 2**30
REPO_ID = "ab" * 32


def series(sizes: list[int], *, last_day_ago: int = 0) -> list[capacity.Point]:
    """One point a day at 02:00 UTC, the last ``last_day_ago`` days before NOW."""
    first = NOW.replace(hour=2) - dt.timedelta(days=last_day_ago + len(sizes) - 1)
    return [
        capacity.Point(first + dt.timedelta(days=i), size, REPO_ID) for i, size in enumerate(sizes)
    ]


def record(stats: Any, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "backup_run",
        "host": "web-01",
        "status": "success",
        "borg": {"repository": {"id": REPO_ID, "location": "/etc/passwd"}, "cache": stats},
        **extra,
    }


def test_steady_growth_gives_the_slope_and_the_days_until_the_quota_is_full() -> None:
    points = series([100 * GIB + i * GIB for i in range(20)])

    result = capacity.fit("web-01", points, NOW, quota=200 * GIB)

    assert result.status == "ok"
    assert result.growth_bytes_per_day == pytest.approx(GIB)
    assert result.size_bytes == 119 * GIB
    # 81 GiB left at 1 GiB a day from the newest size (this morning, 02:00).
    assert result.days_until_quota_full == pytest.approx(81 - 10 / 24)
    assert result.quota_used_percent == pytest.approx(59.5)
    assert not result.warning
    assert result.as_dict()["growth_30_days_bytes"] == pytest.approx(30 * GIB)


def test_quota_full_within_the_threshold_is_a_warning() -> None:
    points = series([170 * GIB + i * GIB for i in range(10)])  # 179 of 200 GiB

    result = capacity.fit(
        "web-01", points, NOW, quota=200 * GIB, thresholds=capacity.Thresholds(30, 95)
    )

    assert result.status == "warning"
    assert result.days_until_quota_full is not None and result.days_until_quota_full < 21
    assert any("quota full in" in reason for reason in result.reasons)


def test_percent_used_past_the_threshold_warns_even_when_not_growing() -> None:
    points = series([190 * GIB] * 10)

    result = capacity.fit("web-01", points, NOW, quota=200 * GIB)

    assert result.status == "warning"
    assert result.growth_bytes_per_day == 0
    assert result.days_until_quota_full is None
    assert any("95.0 % of the quota used" in reason for reason in result.reasons)


def test_a_flat_repository_is_not_growing_and_has_no_date() -> None:
    result = capacity.fit("web-01", series([50 * GIB] * 10), NOW, quota=200 * GIB)

    assert result.status == "not-growing"
    assert result.quota_full_at is None and result.days_until_quota_full is None
    assert not result.warning


def test_a_large_fall_starts_the_fit_again_after_it() -> None:
    # Grew 2 GiB a day, then archives were deleted (falls by a third), then 1 GiB a day.
    before = [60 * GIB + 2 * i * GIB for i in range(10)]
    after = [52 * GIB + i * GIB for i in range(8)]

    result = capacity.fit("web-01", series(before + after), NOW)

    assert result.points == 8
    assert result.growth_bytes_per_day == pytest.approx(GIB)


def test_ordinary_prunes_stay_in_the_net_growth() -> None:
    # Each third day the retention frees a little more than a day adds: a saw tooth that
    # still grows 1 GiB every three days.
    sizes, size = [], 100 * GIB
    for day in range(21):
        size += -GIB // 2 if day % 3 == 2 else 3 * GIB // 4
        sizes.append(size)

    result = capacity.fit("web-01", series(sizes), NOW)

    assert result.status == "ok"
    assert result.points == 21
    assert result.growth_bytes_per_day is not None
    assert 0.2 * GIB < result.growth_bytes_per_day < 0.5 * GIB


def test_a_single_odd_day_does_not_pull_the_slope() -> None:
    sizes = [100 * GIB + i * GIB for i in range(15)]
    sizes[7] = 5000 * GIB  # one record with a wrong size

    result = capacity.fit("web-01", series(sizes), NOW)

    assert result.growth_bytes_per_day == pytest.approx(GIB, rel=0.1)


@pytest.mark.parametrize(
    ("sizes", "last_day_ago"),
    [([], 0), ([10 * GIB] * 3, 0), ([10 * GIB, 11 * GIB, 12 * GIB, 13 * GIB, 14 * GIB], 0)],
    ids=["none", "three-days", "five-days-over-four"],
)
def test_too_little_history_gives_no_growth(sizes: list[int], last_day_ago: int) -> None:
    result = capacity.fit("web-01", series(sizes, last_day_ago=last_day_ago), NOW, quota=GIB**2)

    assert result.growth_bytes_per_day is None
    assert result.days_until_quota_full is None
    assert result.status == ("no-data" if not sizes else "too-little-history")


def test_points_outside_the_window_or_in_the_future_are_not_used() -> None:
    old = series([GIB * i for i in range(1, 11)], last_day_ago=40)
    future = [capacity.Point(NOW + dt.timedelta(days=3), 999 * GIB, REPO_ID)]

    result = capacity.fit("web-01", old + future, NOW)

    assert result.status == "no-data"


def test_many_runs_a_day_count_as_that_days_newest() -> None:
    points = series([10 * GIB + i * GIB for i in range(10)])
    noisy = [capacity.Point(p.when - dt.timedelta(hours=1), 1, REPO_ID) for p in points]

    result = capacity.fit("web-01", points + noisy, NOW)

    assert result.points == 10
    assert result.growth_bytes_per_day == pytest.approx(GIB)


def test_sizes_of_an_earlier_repository_are_left_out() -> None:
    earlier = [
        capacity.Point(p.when, p.size, "cd" * 32) for p in series([500 * GIB] * 10, last_day_ago=12)
    ]
    now = series([10 * GIB + i * GIB for i in range(12)])

    result = capacity.fit("web-01", earlier + now, NOW)

    assert result.points == 12
    assert result.growth_bytes_per_day == pytest.approx(GIB)


def test_a_quota_already_exceeded_is_full_now() -> None:
    result = capacity.fit("web-01", series([210 * GIB, 211 * GIB]), NOW, quota=200 * GIB)

    assert result.status == "full"
    assert result.days_until_quota_full == 0
    assert result.warning
    assert result.quota_used_percent == 105.5


def test_the_size_is_read_from_the_records_borg_section() -> None:
    size, label, problem = capacity.size_of(record({"stats": {"unique_csize": 12345}}))

    assert (size, label, problem) == (12345, REPO_ID, None)
    assert capacity.size_of({"kind": "backup_run"}) == (None, None, None)


@pytest.mark.parametrize(
    "value",
    [-1, 2**64, "12345", 1.5, math.nan, math.inf, True, None, [1], {"x": 1}],
    ids=["negative", "huge", "string", "float", "nan", "inf", "bool", "null", "list", "object"],
)
def test_a_hostile_size_is_refused_naming_the_field(value: Any) -> None:
    size, _, problem = capacity.size_of(record({"stats": {"unique_csize": value}}))

    assert size is None
    assert problem is not None and problem.startswith("borg.cache.stats.unique_csize:")


@pytest.mark.parametrize("borg", ["text", [], {"cache": "x"}, {"cache": {"stats": []}}])
def test_a_borg_section_of_the_wrong_shape_is_a_problem(borg: Any) -> None:
    size, _, problem = capacity.size_of({"borg": borg})

    assert size is None and problem is not None and "unique_csize" in problem


def test_a_repository_id_is_only_an_opaque_label() -> None:
    _, label, _ = capacity.size_of(
        {"borg": {"repository": {"id": "../../etc"}, "cache": {"stats": {"unique_csize": 1}}}}
    )

    assert label is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("200G", 200 * 10**9), ("1T", 10**12), ("512M", 512 * 10**6), ("", None), (None, None)],
)
def test_quotas_are_read_in_borgs_decimal_units(text: str | None, expected: int | None) -> None:
    assert capacity.quota_bytes(text, "q") == expected


@pytest.mark.parametrize(
    "text", ["200GB", "-1G", "0G", "1.5T", 200, "G", "9" * 5000, "9" * 400 + "P", "9300P"]
)
def test_a_bad_quota_names_the_field(text: Any) -> None:
    with pytest.raises(capacity.CapacityError, match=r"^clients.web-01.storage_quota: expected"):
        capacity.quota_bytes(text, "clients.web-01.storage_quota")


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"warn_days": -1}, "warn_days"),
        ({"warn_days": "30"}, "warn_days"),
        ({"warn_percent": 0}, "warn_percent"),
        ({"warn_percent": True}, "warn_percent"),
        ({"warn_hours": 3}, "unknown field"),
    ],
)
def test_bad_thresholds_name_the_field(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(capacity.CapacityError, match=field):
        capacity.Thresholds.of(settings, "capacity")


def write_ledger(host_dir: Path, records: list[dict[str, Any]]) -> None:
    ledger = host_dir / "ledger" / "docs" / "2026-11.jsonl"
    ledger.parent.mkdir(parents=True)
    ledger.write_text(
        "".join(
            json.dumps({"source": f"records/docs/{i}.json", "record": r}) + "\n"
            for i, r in enumerate(records)
        )
    )


def test_forecast_reads_a_collection_with_its_inventory(tmp_path: Path) -> None:
    records = [
        record(
            {"stats": {"unique_csize": 100 * GIB + i * GIB}},
            start=(NOW - dt.timedelta(days=14 - i)).isoformat(),
        )
        for i in range(15)
    ]
    records.append(record({"stats": {"unique_csize": "lots"}}, start=NOW.isoformat()))
    records.append(
        {**record({"stats": {"unique_csize": 1}}, start=NOW.isoformat()), "host": "db-01"}
    )
    write_ledger(tmp_path / "web-01", records)
    (tmp_path / "db-01").mkdir()
    (tmp_path / ".inventory.json").write_text(
        json.dumps(
            {
                "agents": ["web-01", "db-01"],
                "repositories": {
                    "web-01": {"server": "backup01", "storage_quota": "130G"},
                    "db-01": {"server": "backup01", "storage_quota": "lots"},
                },
                "capacity": {"warn_days": 30, "warn_percent": 90},
            }
        )
    )

    db, web = capacity.forecast(tmp_path, NOW)

    assert web.repository == "web-01" and web.server == "backup01"
    assert web.quota_bytes == 130 * 10**9
    assert web.points == 15 and web.growth_bytes_per_day == pytest.approx(GIB)
    assert web.status == "warning"  # 114 GiB of 121 GiB: full within a week
    assert any("unique_csize: expected a whole number" in p for p in web.problems)
    # The db-01 record in web-01's directory is not db-01's (nor web-01's) size.
    assert db.status == "no-data" and db.quota_bytes is None
    assert any("repositories.db-01.storage_quota" in p for p in db.problems)
    assert "web-01" in capacity.notice([web, db]) and "db-01" not in capacity.notice([web, db])


def test_a_single_low_day_is_no_change_of_level() -> None:
    sizes = [100 * GIB + i * GIB for i in range(15)]
    sizes[9] = 1

    result = capacity.fit("web-01", series(sizes), NOW)

    assert result.points == 15
    assert result.growth_bytes_per_day == pytest.approx(GIB, rel=0.1)


def grow(days: int, per_day: int) -> list[capacity.Point]:
    return series([100 * GIB + i * per_day for i in range(days)])


def storage(available: int, size: int = 1000 * GIB, fsid: str = "801") -> capacity.Storage:
    return capacity.Storage(NOW - dt.timedelta(hours=2), 10 * GIB, size, available, fsid)


def test_repositories_on_one_disk_fill_it_together() -> None:
    a = capacity.fit("a", grow(10, GIB), NOW, server="backup01")
    b = capacity.fit("b", grow(10, GIB), NOW, server="backup01")
    other = capacity.fit("c", grow(10, GIB), NOW, server="backup02")
    found = capacity.with_disk(
        [a, b, other],
        {"a": storage(500 * GIB), "b": storage(500 * GIB), "c": storage(500 * GIB)},
        NOW,
    )
    shared = found[0].days_until_disk_full
    assert shared is not None and found[1].days_until_disk_full == shared
    assert found[0].disk_growth_bytes_per_day == pytest.approx(2 * GIB)
    assert shared == pytest.approx(250 - 2 / 24, abs=0.01)  # from the measurement two hours ago
    assert found[2].days_until_disk_full == pytest.approx(500 - 2 / 24, abs=0.01)
    assert all(f.status == "ok" for f in found)


def test_a_disk_about_to_fill_or_too_full_warns() -> None:
    a = capacity.fit("a", grow(10, GIB), NOW)
    (soon,) = capacity.with_disk([a], {"a": storage(10 * GIB, size=20 * GIB)}, NOW)
    assert soon.status == "warning" and soon.reasons == ("disk full in 10 day(s) (threshold 30)",)
    flat = capacity.fit("a", grow(10, 0), NOW)
    (full,) = capacity.with_disk([flat], {"a": storage(50 * GIB)}, NOW)
    assert full.status == "warning" and "95.0 % of the disk used" in full.reasons[-1]
    assert full.days_until_disk_full is None  # not growing: no date
    (roomy,) = capacity.with_disk([a], {"a": storage(900 * GIB)}, NOW)
    assert roomy.status == "ok" and not roomy.warning


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"segments_bytes": -1}, "segments_bytes"),
        ({"filesystem_bytes": "10"}, "filesystem_bytes"),
        ({"available_bytes": True}, "available_bytes"),
        ({"filesystem_id": "../x"}, "filesystem_id"),
        ({"measured_at": "2026-01-01T00:00:00"}, "measured_at"),
    ],
)
def test_a_bad_disk_measurement_names_the_field(change: dict[str, Any], field: str) -> None:
    value = {"measured_at": "2026-01-01T00:00:00+00:00", "segments_bytes": 1,
             "filesystem_bytes": 10, "available_bytes": 5, "filesystem_id": "801"}  # fmt: skip
    value.update(change)
    with pytest.raises(capacity.CapacityError, match=f"storage.{field}"):
        capacity.Storage.of(value, "storage")


def test_growth_too_slow_for_a_date_gives_a_century_and_no_date() -> None:
    # About 100 bytes a day against 2 TB: billions of years, past any date there is.
    points = series([10 * GIB + i * 100 for i in range(10)])

    result = capacity.fit("web-01", points, NOW, quota=2 * 10**12)

    assert result.status == "ok" and result.growth_bytes_per_day == pytest.approx(100)
    assert result.days_until_quota_full == capacity.MAX_DAYS
    assert result.quota_full_at is None
    assert result.as_dict()["days_until_quota_full"] == capacity.MAX_DAYS
    (on_disk,) = capacity.with_disk([result], {"web-01": storage(900 * GIB)}, NOW)
    assert on_disk.days_until_disk_full == capacity.MAX_DAYS and not on_disk.warning


def test_a_date_within_the_century_is_still_given() -> None:
    points = series([10 * GIB + i * GIB for i in range(10)])

    result = capacity.fit("web-01", points, NOW, quota=19 * GIB + 36000 * GIB)

    assert result.days_until_quota_full == pytest.approx(36000 - 10 / 24)
    assert result.quota_full_at is not None and result.quota_full_at.year == 2125


def test_records_nested_too_deep_are_problems_not_a_crash(tmp_path: Path) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    host = tmp_path / "web-01"
    (host / "ledger" / "docs").mkdir(parents=True)
    (host / "ledger" / "docs" / "2026-11.jsonl").write_bytes(deep + b"\n")
    (host / "records" / "docs").mkdir(parents=True)
    (host / "records" / "docs" / "deep.json").write_bytes(deep)
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "2026-11-30T01-00-00-maintenance_run.json").write_bytes(deep)

    points, problems = capacity.record_points(host, "web-01", NOW - dt.timedelta(days=30))
    found, storage_problems = capacity.newest_storage(runs, NOW)

    assert points == [] and problems == [f"{host}/ledger/docs/2026-11.jsonl:1: invalid or "
                                         "truncated JSON line"]  # fmt: skip
    assert found == {} and "RecursionError" in storage_problems[0]
    assert "maintenance_run.json" in storage_problems[0]


def test_the_largest_quota_and_a_huge_slope_still_give_a_forecast() -> None:
    largest = capacity.quota_bytes("9000P", "q")
    assert largest == 9 * 10**18
    slow = capacity.fit("web-01", series([GIB + i for i in range(10)]), NOW, quota=largest)
    assert slow.days_until_quota_full == capacity.MAX_DAYS and slow.quota_full_at is None
    fast = capacity.fit("web-01", series([2**60 + i * 2**59 for i in range(9)]), NOW,
                        quota=largest)  # fmt: skip
    # (9e18 - 5 * 2^60) / 2^59 a day, from 02:00 this morning.
    expected = (largest - 5 * 2**60) / 2**59 - 10 / 24
    assert fast.days_until_quota_full == pytest.approx(expected)
    assert fast.quota_full_at is not None and fast.status == "warning"


def test_just_under_the_cap_counts_as_the_cap() -> None:
    moment, days = capacity.ahead(NOW, capacity.MAX_DAYS - 0.01, 1.0, NOW)
    assert (moment, days) == (None, capacity.MAX_DAYS)


def test_a_deeply_nested_inventory_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / ".inventory.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    limits, thresholds, problems = capacity.read_limits(tmp_path)
    assert limits == {} and thresholds == capacity.Thresholds()
    assert problems and problems[0].startswith("unreadable:")
