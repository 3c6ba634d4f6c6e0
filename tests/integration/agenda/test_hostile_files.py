"""What one added file can do to the pull request's check, run as the `protocloud` process:
nothing outside the repository is read or shown, nothing hangs, the output stays bounded, the
cache follows renames, and feeds are the same bytes whatever the hash seed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.integration.agenda.conftest import git, protocloud, write
from tests.unit.agenda.conftest import event

MARKER = "isi-berkas-di-luar-repositori"


def test_a_symbolic_link_in_events_is_refused_and_its_target_never_shown(
    example_repo: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text(yaml.safe_dump(event("2026-12-10-rahasia", title=MARKER, venue=MARKER)))
    folder = example_repo / "events" / "2026" / "12"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "2026-12-10-tautan.yaml").symlink_to(outside)
    (example_repo / "events" / "2027").symlink_to(tmp_path, target_is_directory=True)
    done = protocloud("validate", str(example_repo), "--no-cache")
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert MARKER not in output
    assert "events/2026/12/2026-12-10-tautan.yaml" in output
    assert "symbolic link" in output
    assert "events/2027" in output  # a linked directory is named, not walked


def test_a_link_to_an_endless_device_is_not_read(example_repo: Path) -> None:
    folder = example_repo / "events" / "2026" / "12"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "2026-12-10-nol.yaml").symlink_to("/dev/zero")
    os.mkfifo(folder / "2026-12-11-pipa.yaml")  # a reader of a pipe would wait forever
    started = time.monotonic()
    done = protocloud("validate", str(example_repo), "--no-cache")
    assert time.monotonic() - started < 60
    assert done.returncode != 0
    assert "2026-12-10-nol.yaml: galat/error: not read:" in done.stdout + done.stderr
    assert "2026-12-11-pipa.yaml: galat/error: not read: a named pipe" in done.stdout + done.stderr


def test_an_oversized_file_is_refused_before_it_is_read(example_repo: Path) -> None:
    big = example_repo / "events" / "2026" / "12" / "2026-12-10-besar.yaml"
    big.parent.mkdir(parents=True, exist_ok=True)
    with open(big, "wb") as handle:
        handle.truncate(2 * 1024**3)  # a sparse 2 GiB file: reading it would take the memory
    done = protocloud("validate", str(example_repo), "--no-cache")
    assert done.returncode != 0
    assert "2026-12-10-besar.yaml: galat/error: not read: larger than 256 KiB" in done.stdout


def test_one_file_cannot_flood_the_report(example_repo: Path) -> None:
    lines = [f"unknown_{n}: x" for n in range(5000)]
    name = example_repo / "events" / "2026" / "12" / "2026-12-10-banjir.yaml"
    name.parent.mkdir(parents=True, exist_ok=True)
    name.write_text("\n".join(lines) + "\n")
    done = protocloud("validate", str(example_repo), "--no-cache")
    reported = [line for line in done.stdout.splitlines() if "2026-12-10-banjir.yaml" in line]
    assert 2 <= len(reported) <= 30, len(reported)
    assert any("more problems in this file not shown" in line for line in reported)


def test_a_huge_integer_is_reported_on_its_line(example_repo: Path) -> None:
    name = example_repo / "events" / "2026" / "12" / "2026-12-10-angka.yaml"
    name.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(event("2026-12-10-rapat-angka"), sort_keys=False)
    name.write_text(text + "contact: " + "9" * 5000 + "\n")
    done = protocloud("validate", str(example_repo), "--no-cache")
    line = text.count("\n") + 1
    assert f"events/2026/12/2026-12-10-angka.yaml:{line}: galat/error:" in done.stdout


def test_a_long_value_is_quoted_only_in_an_excerpt(example_repo: Path) -> None:
    write(
        example_repo,
        "events/2026/12/2026-12-10-rapat-panjang.yaml",
        event("2026-12-10-rapat-panjang", venue="gedung-" + MARKER * 20),
    )
    done = protocloud("validate", str(example_repo), "--no-cache")
    assert "unknown venue 'gedung-" in done.stdout
    assert MARKER * 2 not in done.stdout


def test_a_renamed_file_is_checked_again(example_repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    old = "events/2026/12/2026-12-10-rapat-banjir.yaml"
    write(example_repo, old, event("2026-12-10-rapat-banjir"))
    git(example_repo, "add", "-A")
    git(example_repo, "commit", "-q", "-m", "rapat")
    first = protocloud("validate", str(example_repo), "--strict", "--cache", str(cache))
    assert first.returncode == 0, first.stdout + first.stderr
    new = "events/2026/12/2026-12-25-rapat-banjir.yaml"  # the file's date is no longer the start's
    git(example_repo, "mv", old, new)
    again = protocloud("validate", str(example_repo), "--strict", "--cache", str(cache))
    assert again.returncode != 0
    assert f"{new}:" in again.stdout
    assert "is not the start's date" in again.stdout
    assert old not in again.stdout


def test_feeds_are_the_same_bytes_whatever_the_hash_seed(
    example_repo: Path, tmp_path: Path
) -> None:
    for zone, day in (("Asia/Makassar", "11"), ("Asia/Jayapura", "12"), ("Europe/Berlin", "13")):
        write(
            example_repo,
            f"events/2026/12/2026-12-{day}-kunjungan-{day}.yaml",
            event(
                f"2026-12-{day}-kunjungan-kerja-{day}",
                start=f"2026-12-{day}T09:00",
                end=f"2026-12-{day}T10:00",
                timezone=zone,
                status="dipublikasikan",
                history=[
                    *event("x")["history"],
                    {
                        "status": "dipublikasikan",
                        "by": "hendra.kurniawan",
                        "at": "2026-11-21T08:00:00+07:00",
                    },
                ],
            ),
        )
    git(example_repo, "add", "-A")
    git(example_repo, "commit", "-q", "-m", "zona")
    outputs = set()
    for seed in ("0", "1", "2", "3", "4", "5"):
        out = tmp_path / f"feeds-{seed}"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bangka_ops.cli.protocloud",
                "ics",
                str(example_repo),
                "--out",
                str(out),
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            timeout=120,
        )
        outputs.add((out / "bupati.ics").read_bytes())
    assert len(outputs) == 1
    (feed,) = outputs
    assert feed.count(b"BEGIN:VTIMEZONE") >= 4


def test_the_feed_of_a_removed_calendar_is_removed(example_repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "feeds"
    (out).mkdir()
    (out / "catatan.txt").write_text("bukan feed\n")
    first = protocloud("ics", str(example_repo), "--out", str(out))
    assert first.returncode == 0, first.stderr
    assert (out / "protokol-bersama.ics").exists()
    calendars = yaml.safe_load((example_repo / "calendars.yaml").read_text())
    del calendars["calendars"]["protokol-bersama"]
    for path in (example_repo / "events").rglob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        if "protokol-bersama" in data.get("calendars", []):
            data["calendars"].remove("protokol-bersama")
            path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    (example_repo / "calendars.yaml").write_text(yaml.safe_dump(calendars, sort_keys=False))
    again = protocloud("ics", str(example_repo), "--out", str(out))
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"removed: {out / 'protokol-bersama.ics'}" in again.stdout
    assert not (out / "protokol-bersama.ics").exists()
    assert (out / "bupati.ics").exists()
    assert (out / "catatan.txt").exists()  # what the command did not write is left alone


def test_the_pull_request_comment_cannot_be_given_links_html_or_mentions(
    example_repo: Path,
) -> None:
    write(
        example_repo,
        "events/2026/12/2026-12-10-rapat-tautan.yaml",
        event("2026-12-10-rapat-tautan", venue="![x](https://x.example/p.png)<b>@bupati|"),
    )
    done = protocloud("validate", str(example_repo), "--no-cache", "--format", "markdown")
    row = next(line for line in done.stdout.splitlines() if "rapat-tautan" in line)
    assert "unknown venue" in row
    assert "](" not in row.replace("\\](", "")
    assert "<b>" not in row
    assert "@bupati" not in row  # no mention: a zero-width space follows the @
    assert row.count(" | ") == 4  # the table's five cells, nothing more


def test_a_sparse_counted_rule_with_many_exdates_does_not_stall_the_check(
    example_repo: Path,
) -> None:
    # Feb 29 only, counted from 1904: each EXDATE check used to walk two centuries of days.
    exdates = [f"2199-01-{d:02d}T08:00" for d in range(1, 29)] * 70  # 1,960 EXDATEs
    write(
        example_repo,
        "events/1904/02/1904-02-29-rapat-kabisat.yaml",
        event(
            "1904-02-29-rapat-kabisat",
            start="1904-02-29T08:00",
            end="1904-02-29T09:00",
            recurrence={
                "rrule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;COUNT=1000",
                "exdates": exdates,
            },
        ),
    )
    done = protocloud("validate", str(example_repo), "--no-cache")  # within its 120 s timeout
    assert "is not an occurrence of the rule" in done.stdout
    assert "more problems in this file not shown" in done.stdout


def test_a_linked_events_folder_is_named_and_nothing_in_it_listed(
    example_repo: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "rahasia"
    (secret / "sub").mkdir(parents=True)
    (secret / "sub" / "prod-db-password.yaml").write_text("x: 1\n")
    shutil.rmtree(example_repo / "events")
    (example_repo / "events").symlink_to(secret, target_is_directory=True)
    done = protocloud("validate", str(example_repo), "--no-cache", "--format", "markdown")
    assert done.returncode != 0
    assert "prod-db-password" not in done.stdout + done.stderr
    assert "symbolic link" in done.stdout


def test_a_committed_link_with_a_files_content_as_target_is_not_taken_from_the_cache(
    example_repo: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    name = "events/2026/12/2026-12-03-resepsi-hari-disabilitas.yaml"
    path = example_repo / name
    assert protocloud("validate", str(example_repo), "--cache", str(cache)).returncode == 0
    content = path.read_text()
    path.unlink()
    os.symlink(content, path)  # same bytes as the file had: the same git blob id
    git(example_repo, "add", "-A")
    git(example_repo, "commit", "-q", "-m", "tautan")
    done = protocloud("validate", str(example_repo), "--cache", str(cache))
    assert done.returncode != 0
    assert f"{name}: galat/error: not read:" in done.stdout


def test_the_base_check_is_capped_per_file_too(example_repo: Path) -> None:
    name = "events/2026/12/2026-12-03-resepsi-hari-disabilitas.yaml"
    data = yaml.safe_load((example_repo / name).read_text())
    data["history"] += [
        {"status": "diajukan", "by": f"orang{n}", "at": "2026-11-30T08:00:00+07:00"}
        for n in range(3000)
    ]
    (example_repo / name).write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    done = protocloud("validate", str(example_repo), "--no-cache", "--base", "HEAD")
    assert len([line for line in done.stdout.splitlines() if name in line]) <= 60


def test_the_pull_request_comment_shows_zones_and_no_bare_links(example_repo: Path) -> None:
    write(
        example_repo,
        "events/2026/12/2026-12-10-rapat-pertama.yaml",
        event("2026-12-10-rapat-pertama"),
    )
    write(
        example_repo,
        "events/2026/12/2026-12-10-rapat-kedua.yaml",
        event(
            "2026-12-10-rapat-kedua",
            start="2026-12-10T10:30",
            end="2026-12-10T11:30",
            timezone="Asia/Makassar",
        ),
    )
    write(
        example_repo,
        "events/2026/12/2026-12-10-rapat-tautan.yaml",
        event("2026-12-10-rapat-tautan", venue="https://evil.example/login"),
    )
    done = protocloud("check", str(example_repo), "--today", "2026-11-24", "--format", "markdown")
    assert "09:00-11:00 WIB" in done.stdout
    assert "10:30-11:30 WITA" in done.stdout
    assert "https://evil" not in done.stdout


def test_an_oversized_or_linked_file_in_the_base_revision_is_not_read(example_repo: Path) -> None:
    big = "events/2026/12/2026-12-10-besar.yaml"
    (example_repo / big).write_bytes(b"# " + b"x" * (300 * 1024) + b"\n")
    (example_repo / "events/2026/12/2026-12-11-tautan.yaml").symlink_to("/etc/passwd")
    git(example_repo, "add", "-A")
    git(example_repo, "commit", "-q", "-m", "base")
    write(example_repo, big, event("2026-12-10-rapat-besar"))  # replaced by a good file
    done = protocloud("validate", str(example_repo), "--no-cache", "--base", "HEAD")
    assert "Traceback" not in done.stderr
    assert "root:" not in done.stdout + done.stderr
    assert "2026-12-11-tautan.yaml: galat/error: not read:" in done.stdout
