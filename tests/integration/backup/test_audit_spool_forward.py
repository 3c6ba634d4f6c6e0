"""The root side of the agenda job's audit trail: lines an unprivileged account spooled are moved
into the root-owned log with the host and actor root knows; malformed lines are kept and named;
a spool that is not the account's plain file is not read. Real files; the spool belongs to
`nobody` (the tests run as root, like the forwarder)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bangka_ops.backup import audit as audit_log

NOBODY = "nobody"
NOBODY_UID = 65534


@pytest.fixture(autouse=True)
def as_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("the forwarder runs as root and reads another account's spool")


def spool_of_nobody(tmp_path: Path, *lines: bytes) -> Path:
    spool = tmp_path / "spool.jsonl"
    spool.write_bytes(b"".join(lines))
    os.chown(spool, NOBODY_UID, NOBODY_UID)
    return spool


def entry(**fields: object) -> bytes:
    line = {
        "time": "2026-11-02T01:00:00+00:00",
        "host": "ops01.bangka.go.id",
        "actor": NOBODY,
        "kind": "agenda_sync",
        "action": "/var/lib/protocloud/agenda",
        "result": "ok",
        **fields,
    }
    return (json.dumps({k: v for k, v in line.items() if v is not None}) + "\n").encode()


def forward(tmp_path: Path, spool: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "bangka_ops.backup.audit",
            "forward",
            "--spool",
            str(spool),
            "--log",
            str(tmp_path / "protocloud.jsonl"),
            "--rejects",
            str(tmp_path / "protocloud.jsonl.rejected"),
            "--host",
            "ops01.bangka.go.id",
            "--actor",
            NOBODY,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def log_lines(tmp_path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in (tmp_path / "protocloud.jsonl").read_text().splitlines()]


def test_lines_the_writer_spooled_reach_the_log_and_leave_the_spool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = spool_of_nobody(tmp_path)
    monkeypatch.setenv(audit_log.AUDIT_ENV, str(spool))
    monkeypatch.setenv("USER", NOBODY)
    assert audit_log.audit("agenda_validate", "/srv/agenda", "ok", errors=0)
    assert audit_log.audit("agenda_sync", "/srv/agenda", "ok", host="ops01.bangka.go.id")

    proc = forward(tmp_path, spool)

    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["forwarded"] == 2
    lines = log_lines(tmp_path)
    assert [(x["kind"], x["host"], x["actor"]) for x in lines] == [
        ("agenda_validate", "ops01.bangka.go.id", NOBODY),
        ("agenda_sync", "ops01.bangka.go.id", NOBODY),
    ]
    assert lines[0]["details"] == {"errors": 0, "claimed": {"host": audit_log.audit_host()}}
    assert "details" not in lines[1]  # nothing claimed but the truth
    assert spool.read_bytes() == b""
    assert spool.stat().st_uid == NOBODY_UID  # still the account's, emptied in place
    assert forward(tmp_path, spool).returncode == 0
    assert len(log_lines(tmp_path)) == 2  # nothing twice


def test_a_line_claiming_another_host_and_actor_is_recorded_with_the_true_ones(
    tmp_path: Path,
) -> None:
    forged = entry(host="admin01.bangka.go.id", actor="andi.pratama", action="palsu")
    spool = spool_of_nobody(tmp_path, forged, entry(host=None, actor=None, action="tanpa"))

    proc = forward(tmp_path, spool)

    assert proc.returncode == 0, proc.stderr
    first, second = log_lines(tmp_path)
    assert (first["host"], first["actor"], first["action"]) == (
        "ops01.bangka.go.id",
        NOBODY,
        "palsu",
    )
    assert first["details"] == {
        "claimed": {"host": "admin01.bangka.go.id", "actor": "andi.pratama"}
    }
    assert (second["host"], second["actor"]) == ("ops01.bangka.go.id", NOBODY)


def test_malformed_lines_are_kept_named_and_the_forward_exits_1(tmp_path: Path) -> None:
    bad = [
        b"not json at all\n",
        b'["a", "list"]\n',
        entry(kind="audit_spool"),  # the forwarder's own kind
        entry(extra="field"),
        entry(time="kemarin"),
        entry(time="2026-11-02T01:00:00"),  # no time zone
        entry(result=None),
        entry(details=["not", "an", "object"]),
        entry(details={"claimed": {"host": "ops01.bangka.go.id"}}),
        b"\xff\xfe binary\n",
        b"x" * (audit_log.MAX_LINE_BYTES + 1) + b"\n",
        b"[" * 60_000 + b"\n",  # nested too deep for the parser (RecursionError)
        entry(details={"n": float("nan")}),  # NaN is not JSON
    ]
    good = entry(action="baik")
    unfinished = b'{"time": "2026-11-02T01:00:00+00:00", "kind": "agen'
    spool = spool_of_nobody(tmp_path, good, *bad, unfinished)

    proc = forward(tmp_path, spool)

    assert proc.returncode == 1
    lines = log_lines(tmp_path)
    assert lines[0]["action"] == "baik"
    refusals = lines[1:]
    assert len(refusals) == len(bad) + 1
    assert {x["kind"] for x in refusals} == {"audit_spool"}
    assert {x["result"] for x in refusals} == {"rejected"}
    assert [x["action"] for x in refusals] == [f"{spool}:{n}" for n in range(2, len(bad) + 3)]
    kept = (tmp_path / "protocloud.jsonl.rejected").read_bytes()
    limit = audit_log.KEPT_LINE_BYTES  # each kept line's first bytes; sha256 covers it whole
    assert kept == b"".join(b[:-1][:limit] + b"\n" for b in bad) + unfinished + b"\n"
    for raw, refusal in zip([*bad, unfinished + b"\n"], refusals, strict=True):
        details = refusal["details"]
        assert isinstance(details, dict)
        assert details["sha256"] == hashlib.sha256(raw[:-1]).hexdigest()
        assert details["kept_in"] == str(tmp_path / "protocloud.jsonl.rejected")
    assert len(proc.stderr.splitlines()) == len(bad) + 1
    assert f"{spool}:2: not JSON" in proc.stderr
    assert spool.read_bytes() == b""


@pytest.mark.parametrize("kind", ["symlink", "other owner", "hard link", "fifo"])
def test_a_spool_that_is_not_the_accounts_plain_file_is_not_read(tmp_path: Path, kind: str) -> None:
    secret = tmp_path / "root-only"
    secret.write_text(entry(action="rahasia root").decode())
    secret.chmod(0o600)
    spool = tmp_path / "spool.jsonl"
    if kind == "symlink":
        spool.symlink_to(secret)
    elif kind == "other owner":
        spool.write_bytes(entry(action="milik root"))
    elif kind == "hard link":
        spool = spool_of_nobody(tmp_path, entry(action="dua nama"))
        os.link(spool, tmp_path / "second-name")
    else:
        os.mkfifo(spool)
        os.chown(spool, NOBODY_UID, NOBODY_UID)

    proc = forward(tmp_path, spool)

    assert proc.returncode == 1
    (line,) = log_lines(tmp_path)
    assert (line["kind"], line["result"], line["host"], line["actor"]) == (
        "audit_spool",
        "refused",
        "ops01.bangka.go.id",
        NOBODY,
    )
    assert "rahasia" not in (tmp_path / "protocloud.jsonl").read_text()
    assert not (tmp_path / "protocloud.jsonl.rejected").exists()
    assert secret.read_text() == entry(action="rahasia root").decode()


def test_a_spool_held_by_its_writer_is_left_for_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = spool_of_nobody(tmp_path, entry(action="nanti"))
    monkeypatch.setattr(audit_log, "FORWARD_LOCK_SECONDS", 0.2)
    with spool.open("ab") as writer:
        fcntl.flock(writer, fcntl.LOCK_EX)
        result = audit_log.forward_spool(
            spool, tmp_path / "log.jsonl", tmp_path / "rej", "ops01", NOBODY
        )
    assert result["busy"] is True
    assert spool.read_bytes() == entry(action="nanti")
    (busy,) = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert (busy["kind"], busy["result"]) == ("audit_spool", "busy")  # said, and a failure


def test_an_unknown_account_is_a_usage_error(tmp_path: Path) -> None:
    spool = spool_of_nobody(tmp_path, entry())
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bangka_ops.backup.audit",
            "forward",
            "--spool",
            str(spool),
            "--log",
            str(tmp_path / "log"),
            "--rejects",
            str(tmp_path / "rej"),
            "--host",
            "ops01",
            "--actor",
            "tidak-ada-akun-ini",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 64
    assert "no account 'tidak-ada-akun-ini'" in proc.stderr
    assert spool.read_bytes() == entry()


def test_a_spool_too_large_for_a_job_is_refused_unread(tmp_path: Path) -> None:
    """A sparse 64 GB spool would have been read into root's memory and copied into /var/log."""
    spool = spool_of_nobody(tmp_path, entry())
    os.truncate(spool, 64 * 1024**3)
    proc = forward(tmp_path, spool)
    assert proc.returncode == 1
    (refusal,) = log_lines(tmp_path)
    assert refusal["result"] == "refused"
    assert "bytes, more than" in str(refusal["details"])
    assert not (tmp_path / "protocloud.jsonl.rejected").exists()


def test_a_flood_of_bad_lines_is_kept_and_named_only_so_far(tmp_path: Path) -> None:
    spool = spool_of_nobody(tmp_path, b"x\n" * 5000)
    proc = forward(tmp_path, spool)
    assert proc.returncode == 1
    lines = log_lines(tmp_path)
    assert len(lines) == audit_log.MAX_REJECTED_LINES + 1
    assert lines[-1]["details"] == {"more_lines_rejected": 5000 - audit_log.MAX_REJECTED_LINES}
    kept = (tmp_path / "protocloud.jsonl.rejected").read_bytes()
    assert kept == b"x\n" * audit_log.MAX_REJECTED_LINES
    assert spool.read_bytes() == b""
