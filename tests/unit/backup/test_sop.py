"""The SOP's review cycle: due after six months or a major incident, reminders at most once a
week while due, a journal that only grows and whose bad lines are named."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bangka_ops.backup import sop

TZ = dt.timezone(dt.timedelta(hours=7))


def at(day: str, hour: int = 9) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=TZ)


def test_without_any_review_it_is_due(tmp_path: Path) -> None:
    current = sop.status(sop.read(tmp_path), at("2026-12-04"))
    assert current.due and "no SOP review has been recorded yet" in current.reasons[0]


def test_six_months_after_the_last_review_it_is_due_and_not_a_day_before(tmp_path: Path) -> None:
    sop.record_review(tmp_path, by="Koordinator TI", day="2026-06-04", now=at("2026-06-04"))
    before = sop.status(sop.read(tmp_path), at("2026-12-03"))
    assert not before.due and before.due_at == dt.date(2026, 12, 4)
    on_the_day = sop.status(sop.read(tmp_path), at("2026-12-04"))
    assert on_the_day.due and "6 months since the last review (2026-06-04" in on_the_day.reasons[0]


def test_a_month_end_review_falls_due_on_the_last_day_of_a_shorter_month() -> None:
    assert sop.add_months(dt.date(2026, 8, 31), 6) == dt.date(2027, 2, 28)
    assert sop.add_months(dt.date(2027, 8, 31), 6) == dt.date(2028, 2, 29)


def test_a_major_incident_after_the_review_makes_it_due_a_minor_one_does_not(
    tmp_path: Path,
) -> None:
    sop.record_review(tmp_path, by="Koordinator TI", day="2026-11-01", now=at("2026-11-01"))
    sop.record_incident(tmp_path, title="Disk penuh", severity="sedang", by="Budi",
                        day="2026-11-20", now=at("2026-11-20"))  # fmt: skip
    assert not sop.status(sop.read(tmp_path), at("2026-12-04")).due
    major = sop.record_incident(tmp_path, title="Ransomware di fs01", severity="berat",
                                by="Budi", systems=["fs01"], now=at("2026-12-04"))  # fmt: skip
    assert major["id"] == "INS-2026-002"
    current = sop.status(sop.read(tmp_path), at("2026-12-04", 10))
    assert current.due and len(current.reasons) == 1
    assert "INS-2026-002" in current.reasons[0] and "Ransomware di fs01" in current.reasons[0]
    assert [i["id"] for i in current.incidents_since] == ["INS-2026-001", "INS-2026-002"]
    # The review that follows covers both incidents; the cycle starts again from it.
    review = sop.record_review(tmp_path, by="Koordinator TI", now=at("2026-12-05"))
    assert review["insiden_dicakup"] == ["INS-2026-001", "INS-2026-002"]
    after = sop.status(sop.read(tmp_path), at("2026-12-05", 10))
    assert not after.due and after.due_at == dt.date(2027, 6, 5)


def test_bad_input_names_the_field_and_writes_nothing(tmp_path: Path) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"title": "x", "severity": "fatal", "by": "Budi"}, "tingkat: one of"),
        ({"title": " ", "severity": "berat", "by": "Budi"}, "judul: required"),
        ({"title": "x", "severity": "berat", "by": "<script>"}, "oleh: a person's name"),
        ({"title": "x", "severity": "berat", "by": "Budi", "day": "2026-13-01"}, "tanggal: a date"),
        ({"title": "x", "severity": "berat", "by": "Budi", "day": "2027-01-01"}, "in the future"),
        (
            {"title": "a\x1b[2Jb", "severity": "berat", "by": "Budi"},
            "judul: line breaks or control",
        ),
        ({"title": "x\n- insiden berat palsu", "severity": "ringan", "by": "Budi"}, "judul: line"),
    ]
    for fields, named in cases:
        with pytest.raises(sop.SopError, match=named):
            sop.record_incident(tmp_path, now=at("2026-12-04"), **fields)
    assert sop.read(tmp_path) == []


def test_a_damaged_journal_is_named_by_file_and_line(tmp_path: Path) -> None:
    sop.record_review(tmp_path, by="Koordinator TI", now=at("2026-12-04"))
    with (tmp_path / sop.JOURNAL).open("a") as journal:
        journal.write('{"jenis": "tinjauan", "tanggal": "kemarin"}\n')
    with pytest.raises(sop.SopError, match=r"sop-jurnal.jsonl:2: tanggal: a date"):
        sop.read(tmp_path)


def test_a_reminder_goes_out_once_a_week_while_due_and_is_journalled(tmp_path: Path) -> None:
    sent: list[tuple[str, str, dict[str, Any]]] = []

    def send(subject: str, body: str, summary: dict[str, Any]) -> list[dict[str, Any]]:
        sent.append((subject, body, summary))
        return [{"channel": "webhook", "delivered": True}]

    first = sop.remind(tmp_path, send, now=at("2026-12-04"), host="admin01")
    assert first["sent"] and len(sent) == 1
    assert sent[0][0] == "[SI CEKAT] TINJAUAN SOP JATUH TEMPO / SOP REVIEW DUE (admin01)"
    assert "cekat sop tinjau --oleh" in sent[0][1] and sent[0][2]["status"] == "warning"
    again = sop.remind(tmp_path, send, now=at("2026-12-10", 23))
    assert not again["sent"] and again["next_reminder_on"] == "2026-12-11"
    # Calendar days: the timer's random delay never pushes the next one a day later.
    assert sop.remind(tmp_path, send, now=at("2026-12-11", 8))["sent"] and len(sent) == 2
    sop.record_review(tmp_path, by="Koordinator TI", now=at("2026-12-12"))
    assert not sop.remind(tmp_path, send, now=at("2026-12-20"))["sent"]
    kinds = [e["jenis"] for e in sop.read(tmp_path)]
    assert kinds == ["pengingat", "pengingat", "tinjauan"]


def test_an_incident_entered_late_counts_even_if_dated_before_the_review(tmp_path: Path) -> None:
    sop.record_review(tmp_path, by="Koordinator TI", now=at("2026-12-01"))
    late = sop.record_incident(tmp_path, title="Disk rusak", severity="berat", by="Budi",
                               day="2026-11-30", now=at("2026-12-02"))  # fmt: skip
    current = sop.status(sop.read(tmp_path), at("2026-12-02", 10))
    assert current.due and late["id"] in current.reasons[0]


def test_a_new_incident_after_a_reminder_is_reminded_at_once(tmp_path: Path) -> None:
    sent: list[str] = []

    def send(subject: str, body: str, summary: dict[str, Any]) -> list[dict[str, Any]]:
        sent.append(body)
        return [{"channel": "email", "delivered": True}]

    assert sop.remind(tmp_path, send, now=at("2026-12-01"))["sent"]
    sop.record_incident(tmp_path, title="Ransomware", severity="berat", by="Budi",
                        now=at("2026-12-02"))  # fmt: skip
    assert sop.remind(tmp_path, send, now=at("2026-12-02", 10))["sent"]
    assert "Ransomware" in sent[1]


def test_a_reminder_no_channel_took_is_not_journalled_and_is_tried_again(tmp_path: Path) -> None:
    def failing(subject: str, body: str, summary: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"channel": "webhook", "delivered": False}]

    def nowhere(subject: str, body: str, summary: dict[str, Any]) -> list[dict[str, Any]]:
        return []

    failed = sop.remind(tmp_path, failing, now=at("2026-12-01"))
    assert not failed["sent"] and "no channel took the reminder" in failed["error"]
    empty = sop.remind(tmp_path, nowhere, now=at("2026-12-01", 10))
    assert not empty["sent"] and "no notification channel is configured" in empty["error"]
    assert sop.read(tmp_path) == []


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ('{"jenis": "insiden", "tanggal": "2026-12-01"}', "id: missing or not a text"),
        ('{"jenis": "pengingat", "tanggal": "2026-12-01", "dicatat": "2026-12-01T09:00"}',
         "dicatat: a time with its offset"),
        ('{"jenis": "tinjauan", "tanggal": "2026-12-01", "id": "SOP-001", "oleh": "A", '
         '"dicatat": "2026-12-01T09:00:00+07:00", "insiden_dicakup": "INS-1"}',
         "insiden_dicakup: a list"),
    ],
)  # fmt: skip
def test_a_line_of_the_right_shape_but_wrong_fields_is_named(
    tmp_path: Path, line: str, named: str
) -> None:
    (tmp_path / sop.JOURNAL).write_text(line + "\n")
    with pytest.raises(sop.SopError, match=rf"sop-jurnal.jsonl:1: {named}"):
        sop.read(tmp_path)


def test_two_reminder_runs_at_once_send_one_reminder(tmp_path: Path) -> None:
    sent: list[str] = []
    inside = threading.Event()

    def slow(subject: str, body: str, summary: dict[str, Any]) -> list[dict[str, Any]]:
        sent.append(subject)
        inside.set()
        time.sleep(0.5)  # a slow chat service: the other run arrives meanwhile
        return [{"channel": "webhook", "delivered": True}]

    results: list[dict[str, Any]] = []
    first = threading.Thread(
        target=lambda: results.append(sop.remind(tmp_path, slow, now=at("2026-12-04")))
    )
    first.start()
    assert inside.wait(10)
    second = sop.remind(tmp_path, slow, now=at("2026-12-04", 10))
    first.join()

    assert len(sent) == 1 and results[0]["sent"] and not second["sent"]
    assert [e["jenis"] for e in sop.read(tmp_path)] == ["pengingat"]
