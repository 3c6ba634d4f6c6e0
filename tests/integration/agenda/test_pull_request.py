"""protocloud on a real git repository, as the pull-request check runs it: the workflow against
the base branch, conflicts of the changed items, and the command-line contract."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.integration.agenda.conftest import commit_example, git, protocloud, write
from tests.unit.agenda.conftest import EXAMPLE, HISTORY, event

ITEM = "events/2026/12/2026-12-10-rapat-banjir.yaml"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The example agenda as the main branch, with one submitted item."""
    submitted = event("2026-12-10-rapat-banjir", status="diajukan", history=HISTORY[:1])
    root = commit_example(tmp_path / "agenda", (ITEM, submitted))
    git(root, "switch", "-q", "-c", "usulan")
    return root


def test_a_legal_step_by_a_person_holding_the_role_passes(repo: Path) -> None:
    write(repo, ITEM, event("2026-12-10-rapat-banjir", status="diverifikasi", history=HISTORY[:2]))
    proc = protocloud("validate", str(repo), "--base", "main")
    assert proc.returncode == 0, proc.stdout
    assert "0 kesalahan / errors" in proc.stdout


def test_a_role_granted_in_the_same_pull_request_is_refused(repo: Path) -> None:
    people = yaml.safe_load((repo / "people.yaml").read_text())
    people["people"]["rina.marlina"]["roles"].append("verifikator")
    write(repo, "people.yaml", people)
    step = {**HISTORY[1], "by": "rina.marlina"}
    write(
        repo,
        ITEM,
        event("2026-12-10-rapat-banjir", status="diverifikasi", history=[HISTORY[0], step]),
    )
    assert protocloud("validate", str(repo)).returncode == 0  # fine by the changed file...
    proc = protocloud("validate", str(repo), "--base", "main")
    assert proc.returncode == 1  # ...but not by the base branch's
    assert (
        f"{ITEM}:" in proc.stdout
        and "history[1].by: rina.marlina may not record diverifikasi: it needs the role "
        "verifikator (people.yaml at main)"
        in proc.stdout
    )


def test_a_wrong_transition_is_refused(repo: Path) -> None:
    jump = {"status": "dipublikasikan", "by": "hendra.kurniawan", "at": "2026-11-21T08:00:00+07:00"}
    write(
        repo,
        ITEM,
        event("2026-12-10-rapat-banjir", status="dipublikasikan", history=[HISTORY[0], jump]),
    )
    proc = protocloud("validate", str(repo), "--base", "main", "--format", "json")
    assert proc.returncode == 1
    (problem,) = json.loads(proc.stdout)["diagnostics"]
    assert problem["file"] == ITEM and problem["field"] == "history[1].status"
    assert problem["code"] == "workflow" and problem["line"] > 1
    assert "cannot go to dipublikasikan" in problem["message"]


def test_rewriting_history_is_refused(repo: Path) -> None:
    forged = [{**HISTORY[0], "by": "hendra.kurniawan"}, HISTORY[1]]
    write(repo, ITEM, event("2026-12-10-rapat-banjir", status="diverifikasi", history=forged))
    proc = protocloud("validate", str(repo), "--base", "main")
    assert proc.returncode == 1
    assert "history[0]: the history may only grow" in proc.stdout


def test_deleting_an_event_file_is_a_warning(repo: Path) -> None:
    (repo / ITEM).unlink()
    proc = protocloud("validate", str(repo), "--base", "main")
    assert proc.returncode == 0
    assert f"{ITEM}: peringatan/warning: event file deleted" in proc.stdout
    assert protocloud("validate", str(repo), "--base", "main", "--strict").returncode == 1


def test_an_unknown_base_is_a_git_error(repo: Path) -> None:
    proc = protocloud("validate", str(repo), "--base", "tidak-ada")
    assert proc.returncode == 2
    assert "base revision 'tidak-ada'" in proc.stderr


def test_conflicts_of_a_pull_request_in_markdown(repo: Path) -> None:
    git(repo, "switch", "-q", "main")
    write(
        repo,
        "events/2026/12/2026-12-10-rapat-lama.yaml",
        event(
            "2026-12-10-rapat-lama",
            start="2026-12-10T10:00",
            end="2026-12-10T12:00",
            venue="gedung-dprd",
        ),
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "older clash")
    git(repo, "switch", "-q", "-c", "baru")
    write(
        repo,
        "events/2026/12/2026-12-01-audiensi-kadin.yaml",
        event(
            "2026-12-01-audiensi-kadin",
            title="Audiensi Kamar Dagang dan Industri",
            category="audiensi",
            start="2026-12-01T11:30",
            end="2026-12-01T12:30",
            venue="kantor-bupati",
        ),
    )
    proc = protocloud(
        "conflicts",
        str(repo),
        "--changed-from",
        "main",
        "--today",
        "2026-11-24",
        "--format",
        "markdown",
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "**1 bentrok jadwal / schedule conflict(s)**" in proc.stdout
    assert (
        "`2026-12-01-rapat-paripurna-apbd-2027` (dipublikasikan), `2026-12-01-audiensi-kadin`"
        in (proc.stdout)
    )
    whole = protocloud("conflicts", str(repo), "--today", "2026-11-24", "--format", "json")
    kinds = [c["kind"] for c in json.loads(whole.stdout)["conflicts"]]
    assert kinds.count("leader") == 2  # the older clash is there when the whole agenda is asked


def test_the_cli_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    assert protocloud("validate", str(tmp_path / "tidak-ada")).returncode == 64
    assert protocloud("conflicts", str(tmp_path), "--today", "kemarin").returncode == 1
    shutil.copytree(EXAMPLE, tmp_path / "a")
    proc = protocloud("conflicts", str(tmp_path / "a"), "--today", "kemarin")
    assert proc.returncode == 64
    assert "--today" in proc.stderr
    (tmp_path / "a" / "venues.yaml").write_text("venues: [")
    out = tmp_path / "feeds"
    proc = protocloud("ics", str(tmp_path / "a"), "--out", str(out))
    assert proc.returncode == 1
    assert "venues.yaml:1:" in proc.stderr and "nothing written" in proc.stderr
    assert not out.exists()
    blocked = tmp_path / "berkas"
    blocked.write_text("bukan direktori")
    proc = protocloud("ics", str(EXAMPLE), "--out", str(blocked / "feeds"))
    assert proc.returncode == 1
    assert (
        proc.stderr.startswith(f"protocloud ics: {blocked / 'feeds'}: ")
        and "Traceback" not in proc.stderr
    )
