"""protocloud ics: one feed per calendar, read back with an independent parser (vobject),
byte-for-byte stable, SEQUENCE from the git history of what matters to attendees."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import vobject
import yaml

from tests.integration.agenda.conftest import git, protocloud

PARIPURNA = "events/2026/12/2026-12-01-rapat-paripurna-apbd-2027.yaml"


def read(path: Path) -> vobject.base.Component:
    return vobject.readOne(path.read_text(encoding="utf-8"))


def events(feed: vobject.base.Component) -> dict[str, vobject.base.Component]:
    return (
        {e.uid.value.split("@")[0]: e for e in feed.vevent_list}
        if hasattr(feed, "vevent_list")
        else {}
    )


@pytest.fixture
def repo(example_repo: Path) -> Path:
    return example_repo


def build(repo: Path, out: Path, *extra: str) -> dict[str, Path]:
    proc = protocloud("ics", str(repo), "--out", str(out), *extra)
    assert proc.returncode == 0, proc.stderr
    lines = [line.split(": ", 1) for line in proc.stdout.splitlines()]
    assert {state for state, _ in lines} <= {"written", "unchanged"}
    return {Path(path).stem: Path(path) for _, path in lines}


def test_feeds_parse_independently_with_what_was_published(repo: Path, tmp_path: Path) -> None:
    feeds = build(repo, tmp_path / "feeds")
    assert sorted(feeds) == ["bupati", "protokol-bersama", "sekda", "wakil-bupati"]
    bupati = events(read(feeds["bupati"]))
    # Published, or cancelled after being published; not the items still in the workflow.
    assert sorted(bupati) == ["2026-12-01-rapat-paripurna-apbd-2027"]
    paripurna = bupati["2026-12-01-rapat-paripurna-apbd-2027"]
    assert paripurna.dtstart.value == dt.datetime(
        2026, 12, 1, 9, 0, tzinfo=paripurna.dtstart.value.tzinfo
    )
    assert paripurna.dtstart.value.utcoffset() == dt.timedelta(hours=7)
    assert paripurna.status.value == "CONFIRMED"
    assert paripurna.location.value.startswith(
        "Ruang Rapat Paripurna, Gedung DPRD Kabupaten Bangka"
    )
    assert paripurna.sequence.value == "0"
    assert paripurna.dtstamp.value == dt.datetime(2026, 11, 21, 3, 0, tzinfo=dt.UTC)
    assert [a.trigger.value for a in paripurna.valarm_list] == [
        -dt.timedelta(hours=1),
        -dt.timedelta(days=1),
    ]
    assert paripurna.categories.value == ["Rapat"]
    sekda = read(feeds["sekda"])
    assert sekda.vtimezone.tzid.value == "Asia/Jakarta"
    weekly = events(sekda)["2026-11-02-rapat-staf-mingguan-setda"]
    assert weekly.rrule.value.startswith("FREQ=WEEKLY")
    occurrences = weekly.getrruleset().between(
        dt.datetime(2026, 12, 20, tzinfo=dt.UTC), dt.datetime(2027, 1, 6, tzinfo=dt.UTC)
    )
    assert [o.date().isoformat() for o in occurrences] == ["2026-12-21", "2027-01-04"]


def test_all_stages_for_the_protocol_office(repo: Path, tmp_path: Path) -> None:
    feeds = build(repo, tmp_path / "feeds", "--all-stages")
    bupati = events(read(feeds["bupati"]))
    assert bupati["2026-12-03-resepsi-hari-disabilitas"].status.value == "CONFIRMED"
    assert bupati["2026-12-04-audiensi-dinas-kesehatan"].status.value == "CANCELLED"
    away = bupati["2026-12-08-dinas-luar-rakor-gubernur"]
    assert away.dtstart.value == dt.date(2026, 12, 8)
    assert away.dtend.value == dt.date(2026, 12, 10)  # the last day inclusive -> exclusive end
    wakil = events(read(feeds["wakil-bupati"]))
    assert wakil["2026-12-02-kunjungan-kerja-pasar-sungailiat"].status.value == "TENTATIVE"


def test_two_builds_are_the_same_bytes(repo: Path, tmp_path: Path) -> None:
    first = build(repo, tmp_path / "a", "--all-stages")
    second = build(repo, tmp_path / "b", "--all-stages")
    for key, path in first.items():
        assert path.read_bytes() == second[key].read_bytes()
    again = protocloud("ics", str(repo), "--out", str(tmp_path / "a"), "--all-stages")
    assert again.stdout.count("unchanged: ") == len(first)  # nothing rewritten


def test_sequence_counts_changes_of_time_place_or_status(repo: Path, tmp_path: Path) -> None:
    def sequence() -> str:
        feeds = build(repo, tmp_path / "feeds")
        return str(
            events(read(feeds["bupati"]))["2026-12-01-rapat-paripurna-apbd-2027"].sequence.value
        )

    def change(**fields: object) -> None:
        path = repo / PARIPURNA
        data = yaml.safe_load(path.read_text())
        data.update(fields)
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))

    assert sequence() == "0"
    change(start="2026-12-01T10:00", end="2026-12-01T13:00")
    git(repo, "commit", "-qam", "moved an hour later")
    assert sequence() == "1"
    change(description="Pakaian Sipil Lengkap.")  # not what attendees must be told again
    git(repo, "commit", "-qam", "dress code")
    assert sequence() == "1"
    change(room="Ruang Rapat Badan Anggaran")  # the working copy counts before it is committed
    assert sequence() == "2"
