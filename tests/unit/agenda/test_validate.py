"""protocloud validate: schema and semantic rules, every error with file, line and field, all in
one run."""

from __future__ import annotations

from pathlib import Path

import pytest

from bangka_ops.agenda import repository
from tests.unit.agenda.conftest import EXAMPLE, HISTORY, AddEvent


def errors(agenda_dir: Path) -> list[str]:
    return [str(d) for d in repository.load(agenda_dir).diagnostics]


def test_the_example_agenda_is_valid_and_complete() -> None:
    agenda = repository.load(EXAMPLE)
    assert agenda.diagnostics == []
    assert len(agenda.events) == len(list((EXAMPLE / "events").rglob("*.yaml")))
    kinds = {(e.all_day, e.rrule is not None, e.status) for e in agenda.events}
    assert (True, False, "dikonfirmasi") in kinds  # an all-day item
    assert any(rrule for _, rrule, _ in kinds)  # a recurring one
    assert any(status == "dibatalkan" for _, _, status in kinds)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"end": "2026-12-10T08:00"}, "end: ends (2026-12-10T08:00) before it starts"),
        ({"start": "2026-12-10T09:00", "end": "2026-12-10T09:00"}, "end: ends"),
        ({"start": "2026-02-30T09:00"}, "start: not a real date or time"),
        ({"end": None}, "start: a timed event needs an end"),
        ({"venue": "stadion"}, "venue: unknown venue 'stadion' (venues.yaml)"),
        ({"leaders": ["bupati", "camat"]}, "leaders[1]: unknown leader 'camat' (people.yaml)"),
        ({"calendars": ["umum"]}, "calendars[0]: unknown calendar 'umum'"),
        ({"leaders": []}, "leaders: no leader and no calendar"),
        ({"category": "olahraga"}, "category: unknown category 'olahraga'"),
        ({"person_in_charge": "anon"}, "person_in_charge: unknown person 'anon'"),
        ({"timezone": "Asia/Bangka"}, "timezone: unknown time zone 'Asia/Bangka'"),
        (
            {"documents": [{"title": "Undangan", "url": "ftp://files/undangan.pdf"}]},
            "documents[0].url: 'ftp://files/undangan.pdf' is not a web address",
        ),
        ({"title": "Koordinasi Banjir"}, "title: 'Koordinasi Banjir' does not follow the naming"),
        ({"title": "Rapat " + "A" * 130}, "title: longer than 120 characters"),
        ({"room": "Aula; Sungailiat"}, None),  # fine: the venue's address completes the format
        ({"status": "dipublikasikan"}, "status: 'dipublikasikan' is not the last stage"),
        ({"all_day": True}, "start: an all-day event has dates"),
        (
            {"recurrence": {"rrule": "FREQ=SOMETIMES"}},
            "recurrence.rrule: 'FREQ=SOMETIMES' does not have the expected form",
        ),
        (
            {"recurrence": {"rrule": "FREQ=SECONDLY"}},
            "recurrence.rrule: 'FREQ=SECONDLY' does not have the expected form",
        ),
        (
            {"recurrence": {"rrule": "FREQ=WEEKLY;COUNT=5;UNTIL=20270101"}},
            "recurrence.rrule: not a valid RRULE: COUNT and UNTIL together are not allowed",
        ),
        (
            {"recurrence": {"rrule": "FREQ=DAILY;BYHOUR=9,14"}},
            "recurrence.rrule: not a valid RRULE: BYHOUR is not allowed",
        ),
        (
            {"recurrence": {"rrule": "FREQ=WEEKLY;BYDAY=FR"}},
            "recurrence.rrule: the start (2026-12-10T09:00) is not one of the rule's occurrences",
        ),
        (
            {"recurrence": {"rrule": "FREQ=WEEKLY", "exdates": ["2026-12-18T09:00"]}},
            "recurrence.exdates[0]: 2026-12-18T09:00 is not an occurrence of the rule",
        ),
        ({"end": "2026-12-10T09:00"}, "end: ends (2026-12-10T09:00) when it starts"),
        (
            {"timezone": "Europe/Berlin", "start": "2026-03-29T02:30", "end": "2026-03-29T04:00"},
            "start: 2026-03-29 02:30 does not exist in Europe/Berlin",
        ),
        (
            {"recurrence": {"rrule": "FREQ=WEEKLY", "exdates": ["2026-12-17"]}},
            "recurrence.exdates[0]: a date and time (the occurrence's start)",
        ),
        ({"colour": "red"}, "colour: unknown field 'colour'"),
        ({"contact": None}, "'contact' is required"),
        ({"status": "selesai"}, "status: 'selesai' is not one of"),
    ],
)
def test_each_rule_names_the_field(
    agenda_dir: Path, add_event: AddEvent, fields: dict[str, object], expected: str | None
) -> None:
    file = add_event("2026-12-10-rapat-banjir", **fields)
    found = errors(agenda_dir)
    if expected is None:
        assert found == []
        return
    name = file.relative_to(agenda_dir).as_posix()
    assert any(line.startswith(name + ":") and expected in line for line in found), found


def test_an_unknown_field_is_reported_on_its_line(agenda_dir: Path, add_event: AddEvent) -> None:
    file = add_event("2026-12-10-rapat-banjir")
    text = file.read_text().replace("venue: kantor-bupati\n", "venue: kantor-bupati\nruang: Aula\n")
    file.write_text(text)
    line = text.splitlines().index("ruang: Aula") + 1
    (problem,) = errors(agenda_dir)
    assert problem.startswith(f"events/2026/12/2026-12-10-rapat-banjir.yaml:{line}: galat/error:")
    assert "ruang: unknown field 'ruang' (known fields: all_day, busy, calendars," in problem


def test_a_location_breaking_the_format_is_refused(agenda_dir: Path, add_event: AddEvent) -> None:
    venues = agenda_dir / "venues.yaml"
    venues.write_text(venues.read_text().replace("Kelurahan Kuto Panji, Belinyu, ", "Belinyu "))
    found = errors(agenda_dir)
    assert any(
        line.startswith("venues.yaml:")
        and "venues.pelabuhan-belinyu.address" in line
        and "does not follow the location format" in line
        for line in found
    ), found


def test_a_duplicate_id_is_reported_on_both_files(agenda_dir: Path, add_event: AddEvent) -> None:
    first = add_event("2026-12-10-rapat-banjir")
    second = add_event("2026-12-10-rapat-banjir", path="events/2026/12/2026-12-10-rapat-lagi.yaml")
    found = errors(agenda_dir)
    for mine, other in ((first, second), (second, first)):
        name, other_name = (p.relative_to(agenda_dir).as_posix() for p in (mine, other))
        assert (
            f"{name}:1: galat/error: id: id '2026-12-10-rapat-banjir' is also used by {other_name}"
            in found
        )


def test_a_wrong_transition_and_a_missing_role(agenda_dir: Path, add_event: AddEvent) -> None:
    skipped = [HISTORY[0], {**HISTORY[2], "at": "2026-11-20T09:30:00+07:00"}]
    add_event("2026-12-10-rapat-banjir", history=skipped, status="diinput")
    no_role = [HISTORY[0], {**HISTORY[1], "by": "rina.marlina"}]
    add_event(
        "2026-12-11-rapat-dua",
        start="2026-12-11T09:00",
        end="2026-12-11T10:00",
        history=no_role,
        status="diverifikasi",
    )
    backwards = [HISTORY[0], {**HISTORY[1], "at": "2026-11-19T09:00:00+07:00"}]
    add_event(
        "2026-12-12-rapat-tiga",
        start="2026-12-12T09:00",
        end="2026-12-12T10:00",
        history=backwards,
        status="diverifikasi",
    )
    found = "\n".join(errors(agenda_dir))
    assert (
        "2026-12-10-rapat-banjir.yaml:" in found
        and "history[1].status: diajukan (submitted) cannot go to diinput (entered); "
        "next may be dibatalkan or diverifikasi"
        in found
    )
    assert (
        "history[1].by: rina.marlina may not record diverifikasi: it needs the role "
        "verifikator (people.yaml)" in found
    )
    assert "history[1].at: earlier than the entry before it" in found


def test_every_error_of_every_file_in_one_run(agenda_dir: Path, add_event: AddEvent) -> None:
    add_event("2026-12-10-rapat-banjir", venue="stadion", category="olahraga")
    broken = agenda_dir / "events/2026/12/2026-12-11-rusak.yaml"
    broken.write_text("id: rusak\ntitle: [Rapat\n")
    found = errors(agenda_dir)
    assert sum("unknown venue" in line for line in found) == 1
    assert sum("unknown category" in line for line in found) == 1
    assert sum(line.startswith("events/2026/12/2026-12-11-rusak.yaml:") for line in found) == 1


def test_a_file_misnamed_or_misdated_is_a_warning(agenda_dir: Path, add_event: AddEvent) -> None:
    add_event("2026-12-10-rapat-banjir", path="events/2026/12/2026-12-09-rapat-banjir.yaml")
    add_event(
        "2026-12-11-rapat-dua",
        start="2026-12-11T09:00",
        end="2026-12-11T10:00",
        path="events/rapat-dua.yaml",
    )
    agenda = repository.load(agenda_dir)
    assert {d.severity for d in agenda.diagnostics} == {"warning"}
    assert len(agenda.diagnostics) == 2
    assert len(agenda.events) == 9  # warnings do not keep an event out


def test_a_broken_configuration_file_is_named(agenda_dir: Path) -> None:
    (agenda_dir / "people.yaml").write_text("leaders: {}\npeople:\n  x: {name: X}\n")
    found = errors(agenda_dir)
    assert any(line.startswith("people.yaml:1:") and "leaders" in line for line in found), found
    assert any(
        line.startswith("people.yaml:3:") and "'email' is required" in line for line in found
    )


def test_every_schema_field_has_a_description_and_an_example() -> None:
    from bangka_ops.agenda import schema  # noqa: PLC0415

    missing = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for name, child in (node.get("properties") or {}).items():
                documented = (
                    not isinstance(child, dict)
                    or "$ref" in child
                    or (child.get("description") and child.get("examples"))
                )
                if not documented:
                    missing.append(f"{where}.{name}")
            for key, child in node.items():
                walk(child, f"{where}.{key}" if key not in ("properties",) else where)
        elif isinstance(node, list):
            for item in node:
                walk(item, where)

    for name in (schema.EVENT, schema.CONFIG):
        walk(schema.load(name), name)
    assert missing == []
