"""Re-validation reuses the results of unchanged files and never hides a change."""

from __future__ import annotations

from pathlib import Path

import pytest

from bangka_ops.agenda import repository

ITEM = "events/2026/12/2026-12-03-resepsi-hari-disabilitas.yaml"


@pytest.fixture
def repo(example_repo: Path) -> Path:
    return example_repo


def summary(agenda: repository.Agenda) -> tuple[list[str], list[tuple[str, str, str]]]:
    return (
        [str(d) for d in agenda.diagnostics],
        sorted((e.id, e.start.isoformat(), e.status) for e in agenda.events),
    )


def test_a_warm_run_reads_only_the_changed_file(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "validation.pickle"
    cold = repository.load(repo, cache_file=cache)
    assert (cold.files, cold.cached) == (7, 0)
    assert cache.exists()
    warm = repository.load(repo, cache_file=cache)
    assert (warm.files, warm.cached) == (7, 7)
    assert summary(warm) == summary(cold)

    path = repo / ITEM
    path.write_text(path.read_text().replace("end: 2026-12-03T22:00", "end: 2026-12-03T18:00"))
    changed = repository.load(repo, cache_file=cache)
    assert changed.cached == 6
    assert [str(d) for d in changed.diagnostics] == [
        f"{ITEM}:5: galat/error: end: ends (2026-12-03T18:00) before it starts"
    ]
    assert summary(changed) == summary(repository.load(repo))  # same as without a cache


def test_a_configuration_change_checks_everything_again(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "validation.pickle"
    repository.load(repo, cache_file=cache)
    people = repo / "people.yaml"
    people.write_text(people.read_text().replace("roles: [verifikator]", "roles: [operator]"))
    again = repository.load(repo, cache_file=cache)
    assert again.cached == 0
    assert any("may not record diverifikasi" in str(d) for d in again.diagnostics)


def test_a_damaged_cache_is_ignored(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "validation.pickle"
    cache.parent.mkdir()
    cache.write_bytes(b"\x80\x05 bukan pickle")
    agenda = repository.load(repo, cache_file=cache)
    assert (agenda.cached, agenda.diagnostics) == (0, [])
    assert repository.load(repo, cache_file=cache).cached == 7


def test_untracked_files_are_keyed_by_their_content(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "validation.pickle"
    copy = repo / "events/2026/12/2026-12-09-resepsi-salinan.yaml"
    copy.write_text((repo / ITEM).read_text().replace("2026-12-03-resepsi", "2026-12-09-resepsi"))
    first = repository.load(repo, cache_file=cache)
    assert first.cached == 0 and first.files == 8
    second = repository.load(repo, cache_file=cache)
    assert second.cached == 7  # the untracked file is read and hashed, then found
    assert summary(second) == summary(first)


def test_a_few_changes_go_to_the_journal_and_a_damaged_journal_is_ignored(
    repo: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache" / "validation.pickle"
    repository.load(repo, cache_file=cache)
    whole = cache.read_bytes()
    copy = repo / "events/2026/12/2026-12-09-resepsi-salinan.yaml"
    copy.write_text((repo / ITEM).read_text().replace("2026-12-03-resepsi", "2026-12-09-resepsi"))
    first = repository.load(repo, cache_file=cache)
    assert (first.files, first.cached) == (8, 7)
    journal = cache.with_name(cache.name + ".journal")
    assert journal.exists()
    assert cache.read_bytes() == whole  # the whole cache was not written again
    kept = journal.read_bytes()
    again = repository.load(repo, cache_file=cache)  # the new file is found in the journal
    assert summary(again) == summary(first)
    assert (journal.read_bytes(), cache.read_bytes()) == (kept, whole)  # nothing to write
    journal.write_bytes(b"rusak")
    damaged = repository.load(repo, cache_file=cache)
    assert summary(damaged) == summary(first)
    assert journal.read_bytes() != b"rusak"  # its entry was checked afresh and kept again
