"""`bangka-backup archives` (what the admin's tamper check reads) names a record it cannot use,
skips it and exits 1, instead of dying with a traceback and announcing nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bangka_ops.backup import agent


def good_record(archive: str) -> dict[str, object]:
    return {
        "archive": archive,
        "end": "2026-11-02T01:10:00+07:00",
        "steps": {"create": {"exit_code": 0}},
    }


def archives(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "host": "fs01",
                "records_dir": str(tmp_path / "records"),
                "repository": {"location": str(tmp_path / "repo")},
                "policies": {"dokumen": {"sources": [str(tmp_path)]}},
            }
        )
    )
    return subprocess.run(
        [sys.executable, agent.__file__, "--config", str(config), "archives"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_records_that_are_not_run_records_are_named_skipped_and_exit_1(tmp_path: Path) -> None:
    policy = tmp_path / "records" / "dokumen"
    policy.mkdir(parents=True)
    (policy / "a-good.json").write_text(json.dumps(good_record("fs01-dokumen-daily-2026-11-02")))
    damaged = {
        "b-no-archive.json": json.dumps({"steps": {"create": {"exit_code": 0}}}),
        "c-number-archive.json": json.dumps({**good_record("x"), "archive": 42}),
        "d-list.json": json.dumps([good_record("fs01-dokumen-daily-2026-11-03")]),
        "e-string.json": json.dumps("fs01-dokumen-daily-2026-11-04"),
        "f-steps-list.json": json.dumps(
            {"archive": "fs01-dokumen-daily-2026-11-05", "steps": ["create"]}
        ),
        "g-create-list.json": json.dumps(
            {"archive": "fs01-dokumen-daily-2026-11-06", "steps": {"create": [0]}}
        ),
        "h-truncated.json": '{"archive": "fs01-dokumen-daily-2026-11-07", "st',
    }
    for name, text in damaged.items():
        (policy / name).write_text(text)

    proc = archives(tmp_path)

    assert proc.returncode == agent.EXIT_DATA == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    assert [a["archive"] for a in report["archives"]] == ["fs01-dokumen-daily-2026-11-02"]
    problems = proc.stderr.splitlines()
    assert len(problems) == len(damaged)
    for name, line in zip(sorted(damaged), problems, strict=True):
        assert line.startswith(f"bangka-backup archives: skipped {policy / name}: "), line


def test_clean_records_still_exit_0(tmp_path: Path) -> None:
    policy = tmp_path / "records" / "dokumen"
    policy.mkdir(parents=True)
    (policy / "a.json").write_text(json.dumps(good_record("fs01-dokumen-daily-2026-11-02")))
    failed = {**good_record("fs01-dokumen-daily-2026-11-03"), "steps": {"create": {"exit_code": 2}}}
    (policy / "b.json").write_text(json.dumps(failed))

    proc = archives(tmp_path)

    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert [a["archive"] for a in json.loads(proc.stdout)["archives"]] == [
        "fs01-dokumen-daily-2026-11-02"
    ]
