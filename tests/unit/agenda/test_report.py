"""protocloud report: escalation by stage SLA, open pre-event checklists, KPIs."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from bangka_ops.agenda import report as agenda_report
from bangka_ops.agenda import repository
from tests.unit.agenda.conftest import HISTORY, AddEvent

NOW = dt.datetime.fromisoformat("2026-12-08T09:00:00+07:00")


def load(agenda_dir: Path) -> repository.Agenda:
    agenda = repository.load(agenda_dir, keep_data=True)
    assert agenda.errors == [] and agenda.config is not None
    return agenda


def test_an_item_waiting_past_its_stage_sla_is_escalated(
    agenda_dir: Path, add_event: AddEvent
) -> None:
    # Submitted 25 hours ago (SLA 24 h), and one submitted 23 hours ago.
    late = [{**HISTORY[0], "at": "2026-12-07T08:00:00+07:00"}]
    add_event(
        "2026-12-20-rapat-terlambat",
        start="2026-12-20T09:00",
        end="2026-12-20T10:00",
        status="diajukan",
        history=late,
    )
    fresh = [{**HISTORY[0], "at": "2026-12-07T10:00:00+07:00"}]
    add_event(
        "2026-12-21-rapat-baru",
        start="2026-12-21T09:00",
        end="2026-12-21T10:00",
        status="diajukan",
        history=fresh,
    )
    agenda = load(agenda_dir)
    assert agenda.config is not None
    found = {e.event.id: e for e in agenda_report.escalations(agenda.events, agenda.config, NOW)}
    assert "2026-12-20-rapat-terlambat" in found
    assert "2026-12-21-rapat-baru" not in found
    assert found["2026-12-20-rapat-terlambat"].waited_hours == 25
    # Published items and items already over are never escalated.
    assert "2026-12-01-rapat-paripurna-apbd-2027" not in found
    assert "2026-12-03-resepsi-hari-disabilitas" not in found  # confirmed, but it is over


def test_an_open_checklist_shortly_before_the_event_is_listed(
    agenda_dir: Path, add_event: AddEvent
) -> None:
    add_event(
        "2026-12-09-rapat-besok",
        start="2026-12-09T09:00",
        end="2026-12-09T10:00",
        checklist={"venue_confirmed": True, "transport": True, "guests": False},
    )
    add_event(
        "2026-12-09-rapat-siap",
        start="2026-12-09T13:00",
        end="2026-12-09T14:00",
        checklist={"venue_confirmed": True, "transport": True, "guests": True},
    )
    add_event("2026-12-20-rapat-nanti", start="2026-12-20T09:00", end="2026-12-20T10:00")
    agenda = load(agenda_dir)
    assert agenda.config is not None
    found = agenda_report.open_checklists(agenda.events, agenda.config, NOW)
    assert [(c.event.id, c.missing, c.hours_left) for c in found] == [
        ("2026-12-09-rapat-besok", ("guests",), 24.0)
    ]


def test_kpis_of_conflicts_lead_time_and_notification(
    agenda_dir: Path, add_event: AddEvent
) -> None:
    published = [
        *HISTORY,
        {"status": "dipublikasikan", "by": "hendra.kurniawan", "at": "2026-12-09T20:00:00+07:00"},
    ]
    # Published only 13 h before it starts: not notified in time.
    add_event("2026-12-10-rapat-mendadak", status="dipublikasikan", history=published)
    add_event(
        "2026-12-10-rapat-bentrok",
        start="2026-12-10T10:00",
        end="2026-12-10T12:00",
        venue="gedung-dprd",
    )
    agenda = load(agenda_dir)
    assert agenda.config is not None
    figures = agenda_report.kpis(agenda.events, agenda.config, NOW)
    assert figures["conflicts"]["items_in_error_conflicts"] == 2
    assert figures["conflicts"]["percent_in_error_conflicts"] == round(100 * 2 / 8, 1)
    notice = figures["notification_compliance"]
    assert (notice["published"], notice["published_in_time"]) == (3, 2)
    lead = figures["submission_to_publication_hours"]
    # 25 h and 25.5 h for the example's published items; 2026-11-20 08:00 -> 12-09 20:00: 468 h.
    assert (lead["items"], lead["median"], lead["p95"]) == (3, 25.5, 468.0)


def test_the_command_prints_json(agenda_dir: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bangka_ops.cli.protocloud",
            "report",
            str(agenda_dir),
            "--now",
            "2026-11-30T09:00:00+07:00",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert [e["id"] for e in document["escalations"]][:1] == [
        "2026-12-08-dinas-luar-rakor-gubernur"
    ]
    assert document["open_checklists"][0]["missing"] == ["transport", "guests"]
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "bangka_ops.cli.protocloud",
            "report",
            str(agenda_dir),
            "--now",
            "2026-11-30T09:00",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert bad.returncode == 64 and "--now needs a UTC offset" in bad.stderr
