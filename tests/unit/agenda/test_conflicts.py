"""protocloud conflicts: double bookings of leaders and venues, travel times, recurrences."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from bangka_ops.agenda import conflicts, repository
from tests.unit.agenda.conftest import HISTORY, AddEvent

TODAY = dt.date(2026, 11, 24)


def found(
    agenda_dir: Path, changed: set[str] | None = None
) -> list[tuple[str, str, str, str, str]]:
    agenda = repository.load(agenda_dir)
    assert agenda.errors == [], agenda.errors
    assert agenda.config is not None
    return [
        (c.kind, c.resource, c.severity, c.first.event.id, c.second.event.id)
        for c in conflicts.find(agenda.events, agenda.config, TODAY, changed)
    ]


def test_a_leader_double_booked_is_an_error(agenda_dir: Path, add_event: AddEvent) -> None:
    add_event("2026-12-10-rapat-banjir")  # 09:00-11:00 at the Regent's office
    add_event(
        "2026-12-10-rapat-kedua",
        start="2026-12-10T10:30",
        end="2026-12-10T12:00",
        venue="gedung-dprd",
    )
    assert ("leader", "bupati", "error", "2026-12-10-rapat-banjir", "2026-12-10-rapat-kedua") in (
        found(agenda_dir)
    )


def test_touching_items_do_not_clash(agenda_dir: Path, add_event: AddEvent) -> None:
    add_event("2026-12-10-rapat-banjir")
    add_event("2026-12-10-rapat-kedua", start="2026-12-10T11:00", end="2026-12-10T12:00")
    assert found(agenda_dir) == []


def test_a_tentative_item_clashes_as_a_warning_and_a_cancelled_one_not_at_all(
    agenda_dir: Path, add_event: AddEvent
) -> None:
    add_event("2026-12-10-rapat-banjir")
    add_event("2026-12-10-rapat-usulan", status="diajukan", history=HISTORY[:1])
    cancelled = [
        *HISTORY,
        {"status": "dibatalkan", "by": "yusuf.hidayat", "at": "2026-11-21T08:00:00+07:00"},
    ]
    add_event("2026-12-10-rapat-batal", status="dibatalkan", history=cancelled)
    result = found(agenda_dir)
    assert {(kind, severity) for kind, _, severity, _, _ in result} == {
        ("leader", "warning"),
        ("venue", "warning"),
    }
    assert all("batal" not in a + b for *_, a, b in result)


def test_a_venue_double_booked_unless_the_rooms_differ(
    agenda_dir: Path, add_event: AddEvent
) -> None:
    add_event("2026-12-10-rapat-banjir", leaders=["bupati"], room="Ruang Rapat Lantai 2")
    add_event("2026-12-10-rapat-opd", leaders=["sekda"], room="Ruang Rapat Lantai 2")
    add_event(
        "2026-12-10-audiensi-pkk",
        leaders=["wakil-bupati"],
        room="Aula Utama",
        title="Audiensi Tim Penggerak PKK",
        category="audiensi",
    )
    assert found(agenda_dir) == [
        ("venue", "kantor-bupati", "error", "2026-12-10-rapat-banjir", "2026-12-10-rapat-opd")
    ]


def test_not_enough_travel_time_between_venues(agenda_dir: Path, add_event: AddEvent) -> None:
    # Belinyu is 60 min from the Regent's office, plus a 15 min buffer.
    add_event("2026-12-10-rapat-banjir")  # until 11:00
    add_event(
        "2026-12-10-kunjungan-belinyu",
        title="Kunjungan Kerja Pelabuhan Belinyu",
        category="kunjungan",
        venue="pelabuhan-belinyu",
        start="2026-12-10T12:00",
        end="2026-12-10T13:00",
    )
    agenda = repository.load(agenda_dir)
    assert agenda.config is not None
    (clash,) = conflicts.find(agenda.events, agenda.config, TODAY)
    assert (clash.kind, clash.gap_minutes, clash.needed_minutes) == ("travel", 60, 75)
    assert "60 min between, 75 min needed" in clash.message()


def test_enough_travel_time_is_fine(agenda_dir: Path, add_event: AddEvent) -> None:
    add_event("2026-12-10-rapat-banjir")
    add_event(
        "2026-12-10-kunjungan-belinyu",
        title="Kunjungan Kerja Pelabuhan Belinyu",
        category="kunjungan",
        venue="pelabuhan-belinyu",
        start="2026-12-10T12:15",
        end="2026-12-10T13:00",
    )
    assert found(agenda_dir) == []


def test_a_clash_only_visible_after_expanding_a_recurrence(
    agenda_dir: Path, add_event: AddEvent
) -> None:
    # The Secretary's staff meeting recurs every Monday 08:00-09:30 from 2026-11-02.
    add_event(
        "2027-03-15-rapat-anggaran",
        title="Rapat Evaluasi Anggaran Triwulan I",
        leaders=["sekda"],
        venue="gedung-dprd",
        start="2027-03-15T09:00",
        end="2027-03-15T10:00",
    )
    assert found(agenda_dir) == [
        (
            "leader",
            "sekda",
            "error",
            "2026-11-02-rapat-staf-mingguan-setda",
            "2027-03-15-rapat-anggaran",
        )
    ]


def test_an_excluded_occurrence_does_not_clash(agenda_dir: Path, add_event: AddEvent) -> None:
    add_event(
        "2026-12-28-rapat-akhir-tahun",
        title="Rapat Evaluasi Akhir Tahun",
        leaders=["sekda"],
        start="2026-12-28T08:00",
        end="2026-12-28T09:00",
    )
    assert found(agenda_dir) == []  # 2026-12-28 is an EXDATE of the staff meeting


def test_an_all_day_item_occupies_no_one_unless_busy(agenda_dir: Path, add_event: AddEvent) -> None:
    add_event(
        "2026-12-10-upacara-hari-jadi",
        title="Upacara Hari Jadi Kabupaten Bangka",
        category="seremonial",
        start="2026-12-10",
        end=None,
        all_day=True,
    )
    add_event("2026-12-10-rapat-banjir")
    assert found(agenda_dir) == []
    # The Regent away all day at the governor's: the meeting cannot happen.
    add_event(
        "2026-12-10-dinas-luar-jakarta",
        title="Dinas Luar Rapat Kerja Nasional",
        category="dinas-luar",
        venue="kantor-gubernur",
        start="2026-12-10",
        end=None,
        all_day=True,
        busy=True,
    )
    assert (
        "leader",
        "bupati",
        "error",
        "2026-12-10-dinas-luar-jakarta",
        "2026-12-10-rapat-banjir",
    ) in found(agenda_dir)


def test_a_pull_requests_items_are_checked_against_the_whole_agenda(
    agenda_dir: Path, add_event: AddEvent
) -> None:
    add_event("2026-12-10-rapat-banjir")
    add_event("2026-12-10-rapat-kedua", start="2026-12-10T10:30", end="2026-12-10T12:00")
    add_event(
        "2026-12-11-rapat-baru",
        start="2026-12-01T10:00",
        end="2026-12-01T11:00",
        path="events/2026/12/2026-12-01-rapat-baru.yaml",
    )
    changed = found(agenda_dir, {"2026-12-11-rapat-baru"})
    # The new item clashes with the plenary session already in the agenda; the older clash
    # between two unchanged items is not this pull request's.
    assert {(kind, a, b) for kind, _, _, a, b in changed} == {
        ("leader", "2026-12-01-rapat-paripurna-apbd-2027", "2026-12-11-rapat-baru"),
    }


def test_the_sweep_finds_every_pair_as_a_brute_force_would(
    agenda_dir: Path, add_event: AddEvent
) -> None:
    rng = random.Random(11)  # noqa: S311 (test data)
    spans = []
    for number in range(40):
        start = dt.datetime(2026, 12, 14, 7) + dt.timedelta(minutes=15 * rng.randrange(40))
        end = start + dt.timedelta(minutes=15 * rng.randint(1, 8))
        event_id = f"2026-12-14-rapat-{number:02d}"
        add_event(
            event_id,
            start=start.isoformat(timespec="minutes"),
            end=end.isoformat(timespec="minutes"),
            leaders=["wakil-bupati"],
            venue="alun-alun-sungailiat",
            room=f"Tenda {number}",
        )
        spans.append((event_id, start, end))
    expected = {
        (a, b)
        for i, (a, sa, ea) in enumerate(spans)
        for (b, sb, eb) in spans[i + 1 :]
        if sa < eb and sb < ea
    }
    got = {tuple(sorted((a, b))) for kind, _, _, a, b in found(agenda_dir) if kind == "leader"}
    assert got == {tuple(sorted(pair)) for pair in expected}
    assert len(got) > 20


def test_one_off_items_clash_wherever_they_fall(agenda_dir: Path, add_event: AddEvent) -> None:
    # Two years ahead (outside the 365-day window) and in the past (before its 30 days).
    for day in ("2028-12-07", "2026-09-03"):
        add_event(f"{day}-rapat-jauh", start=f"{day}T09:00", end=f"{day}T11:00")
        add_event(f"{day}-rapat-jauh-kedua", start=f"{day}T10:00", end=f"{day}T12:00")
    result = found(agenda_dir)
    for day in ("2028-12-07", "2026-09-03"):
        assert ("leader", "bupati", "error", f"{day}-rapat-jauh", f"{day}-rapat-jauh-kedua") in (
            result
        )


def test_a_one_off_item_beyond_the_window_meets_a_recurring_one(
    agenda_dir: Path, add_event: AddEvent
) -> None:
    add_event(
        "2026-12-07-rapat-mingguan",
        start="2026-12-07T08:00",
        end="2026-12-07T09:30",
        recurrence={"rrule": "FREQ=WEEKLY;BYDAY=MO"},
    )
    add_event("2028-12-04-rapat-jauh", start="2028-12-04T09:00", end="2028-12-04T10:00")
    result = found(agenda_dir)
    assert (
        "leader",
        "bupati",
        "error",
        "2026-12-07-rapat-mingguan",
        "2028-12-04-rapat-jauh",
    ) in result


def test_conflict_messages_say_each_times_zone_and_an_all_day_items_dates(
    agenda_dir: Path, add_event: AddEvent
) -> None:
    add_event("2026-12-10-rapat-banjir")  # 09:00-11:00 WIB
    add_event(
        "2026-12-10-rapat-makassar",
        start="2026-12-10T10:30",
        end="2026-12-10T11:30",
        timezone="Asia/Makassar",  # 09:30-10:30 WIB
        venue="gedung-dprd",
    )
    add_event(
        "2026-12-10-hari-kerja",
        start="2026-12-10",
        end="2026-12-11",
        all_day=True,
        busy=True,
        venue="gedung-dprd",
        leaders=["sekda"],
    )
    agenda = repository.load(agenda_dir)
    assert agenda.config is not None
    messages = [c.message() for c in conflicts.find(agenda.events, agenda.config, TODAY)]
    assert any("2026-12-10 09:00-11:00 WIB / 2026-12-10 10:30-11:30 WITA" in m for m in messages), (
        messages
    )
    assert any("2026-12-10..2026-12-11 (sepanjang hari / all day)" in m for m in messages), messages
    assert not any("00:00-00:00" in m for m in messages)
