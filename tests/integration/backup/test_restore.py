"""Emergency restore (pemulihan cepat) against a real Borg repository."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bangka_ops.backup import restore, restore_test
from tests.conftest import BorgSetup

pytestmark = pytest.mark.borg


def restore_cmd(setup: BorgSetup, *args: str) -> subprocess.CompletedProcess[str]:
    setup.write_config()
    return subprocess.run(
        [
            sys.executable,
            restore.__file__,
            "--config",
            str(setup.config_path),
            "--policy",
            "docs",
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_chosen_paths_are_restored_into_an_empty_directory(
    borg_setup: BorgSetup, tmp_path: Path
) -> None:
    _, backup = borg_setup.run("docs", "daily")
    wanted = str(borg_setup.source / "surat")
    target = tmp_path / "pulih"

    proc = restore_cmd(borg_setup, "--path", wanted, "--target", str(target), "--json")

    assert proc.returncode == restore.EXIT_OK, proc.stdout + proc.stderr
    record = json.loads(proc.stdout)
    assert record["archive"] == backup["archive"]
    assert record["files_expected"] == record["files_restored"] == 1
    restored = target / wanted.lstrip("/") / "undangan.txt"
    assert restored.read_text() == (borg_setup.source / "surat" / "undangan.txt").read_text()
    assert not (target / str(borg_setup.source).lstrip("/") / "anggaran.csv").exists()
    assert Path(record["record_path"]).is_file()
    assert "/restores/docs/" in record["record_path"]


def test_existing_files_are_never_overwritten_unless_asked(
    borg_setup: BorgSetup, tmp_path: Path
) -> None:
    borg_setup.run("docs", "daily")
    target = tmp_path / "pulih"
    first = restore_cmd(borg_setup, "--target", str(target))
    assert first.returncode == restore.EXIT_OK, first.stderr
    restored = target / str(borg_setup.source).lstrip("/") / "anggaran.csv"
    restored.write_text("diubah setelah pemulihan\n")

    again = restore_cmd(borg_setup, "--target", str(target))

    assert again.returncode == restore.EXIT_REFUSED
    assert "already exist" in again.stdout and "nothing was restored" in again.stdout
    assert restored.read_text() == "diubah setelah pemulihan\n"

    forced = restore_cmd(borg_setup, "--target", str(target), "--overwrite")
    assert forced.returncode == restore.EXIT_OK, forced.stdout
    assert restored.read_text() == (borg_setup.source / "anggaran.csv").read_text()


def test_an_unknown_archive_or_path_is_a_clear_failure(
    borg_setup: BorgSetup, tmp_path: Path
) -> None:
    borg_setup.run("docs", "daily")
    target = tmp_path / "pulih"
    wrong = restore_cmd(borg_setup, "--archive", "web-01-docs-daily-1999", "--target", str(target))
    assert wrong.returncode == restore.EXIT_FAILED
    assert "is not an archive of web-01/docs" in wrong.stdout

    missing = restore_cmd(borg_setup, "--path", "/tidak/ada", "--target", str(target))
    assert missing.returncode == restore.EXIT_FAILED
    assert "none of the paths" in missing.stdout


def test_known_archives_nested_too_deeply_are_named_and_nothing_is_restored(
    borg_setup: BorgSetup, tmp_path: Path
) -> None:
    """The known archives come from the admin's collection: too deep for the parser is a
    configuration error naming the file (exit 64) before an archive is chosen, for files and
    for a database alike."""
    borg_setup.run("docs", "daily")
    state = Path(borg_setup.config["state_dir"])
    known = state / restore_test.KNOWN_DIR / f"{borg_setup.config['host']}.json"
    known.parent.mkdir(parents=True, exist_ok=True)
    known.write_text("[" * 100_000)
    target = tmp_path / "pulih"

    for how in (("--target", str(target)), ("--database", "kepegawaian")):
        proc = restore_cmd(borg_setup, *how, "--json")
        assert proc.returncode == restore.EXIT_USAGE, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
        assert f"{known}: invalid JSON: nested too deeply" in proc.stderr
        assert proc.stdout == ""
    assert not target.exists()


def test_list_shows_the_policys_archives(borg_setup: BorgSetup) -> None:
    _, backup = borg_setup.run("docs", "daily")
    proc = restore_cmd(borg_setup, "--list")
    assert proc.returncode == 0, proc.stderr
    assert backup["archive"] in proc.stdout
