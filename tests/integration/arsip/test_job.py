"""Scheduled archive jobs: a failure (and, for the intake, a row that needs staff) is notified
through a real webhook receiver; a good run is not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.arsip.helpers import CONFIG
from tests.integration.arsip.storage import stored_items
from tests.receivers import smtp_receiver, webhook_receiver


def tugas(settings: Path, job: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", "arsip", "tugas", job, "--pengaturan",
         str(settings)],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "BANGKA_AUDIT_LOG": str(settings.parent / "audit.jsonl")},
    )  # fmt: skip


def settings(tmp_path: Path, url: str, **extra: object) -> Path:
    path = tmp_path / "tugas.json"
    path.write_text(json.dumps({
        "arsip": str(tmp_path / "arsip"), "konfigurasi": str(CONFIG), "host": "arsip01",
        "notify": {"webhook_url": url}, **extra}))  # fmt: skip
    return path


def test_a_failed_job_is_notified_with_its_output(tmp_path: Path) -> None:
    stored_items(tmp_path / "arsip", 1)
    with webhook_receiver() as hook:
        # The example configuration has no cloud storage: the upload cannot run.
        done = tugas(settings(tmp_path, hook.url), "unggah")
    assert done.returncode == 2  # any failure of the job, a usage error included
    assert len(hook.received) == 1
    notice = hook.received[0]
    assert notice["text"].startswith("[SI CEKAT arsip] GAGAL / FAILED: unggah")
    assert notice["summary"] == {"host": "arsip01", "job": "unggah", "status": "failed",
                                 "exit_code": 64}  # fmt: skip


def test_an_intake_that_needs_staff_is_notified_and_a_good_run_is_not(tmp_path: Path) -> None:
    inbox = tmp_path / "masuk"
    inbox.mkdir()
    (inbox / "lembar.csv").write_text(
        "berkas,kode,jenis,nomor,tanggal,perihal,unit,halaman\n"
        "tidak-ada.pdf,UM.01.01,surat-masuk,1,2025-01-02,Surat,sekretariat,1\n"
    )
    with webhook_receiver() as hook:
        path = settings(tmp_path, hook.url, kotak_masuk=str(inbox), tunggu_tenang=0)
        done = tugas(path, "masuk")
        assert done.returncode == 1, done.stdout + done.stderr
        assert len(hook.received) == 1
        assert "PERLU TINDAKAN" in hook.received[0]["text"]
        (inbox / "lembar.csv").unlink()
        assert tugas(path, "masuk").returncode == 0  # an empty inbox: nothing to say
        assert tugas(path, "ringkasan").returncode == 0
    assert len(hook.received) == 1


def test_a_new_host_without_an_archive_yet_is_not_a_failure(tmp_path: Path) -> None:
    with webhook_receiver() as hook:
        runs = {job: tugas(settings(tmp_path, hook.url), job) for job in
                ("unggah", "verifikasi", "retensi", "ringkasan")}  # fmt: skip
    for job, done in runs.items():
        assert done.returncode == 0, (job, done.stdout, done.stderr)
        assert "belum ada arsip" in done.stdout
    assert hook.received == []


def test_broken_settings_are_named(tmp_path: Path) -> None:
    path = tmp_path / "tugas.json"
    path.write_text('{"arsip": 1}')
    done = tugas(path, "unggah")
    assert done.returncode == 64 and "arsip: an absolute path is required" in done.stderr


def test_notification_settings_are_checked_before_any_job_runs(tmp_path: Path) -> None:
    path = settings(tmp_path, "http://127.0.0.1:9/x")
    data = json.loads(path.read_text())
    data["notify"]["email"] = "ops@bangka.go.id"
    data["tunggu_tenang"] = "2 menit"
    path.write_text(json.dumps(data))
    done = tugas(path, "ringkasan")
    assert done.returncode == 64
    assert "notify.email: an object" in done.stderr and "tunggu_tenang" in done.stderr


def test_a_cloud_job_that_finds_the_lock_taken_is_skipped_quietly(tmp_path: Path) -> None:
    import fcntl  # noqa: PLC0415

    from tests.integration.arsip.storage import make_storage, write_config  # noqa: PLC0415

    server = make_storage(tmp_path)
    try:
        config = write_config(server, tmp_path / "etc")
        stored_items(tmp_path / "arsip", 1)
        with webhook_receiver() as hook, open(tmp_path / "arsip" / ".kunci-awan", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            path = settings(tmp_path, hook.url)
            data = json.loads(path.read_text())
            data.update(konfigurasi=str(config), tunggu_kunci=1)
            path.write_text(json.dumps(data))
            direct = subprocess.run(
                [sys.executable, "-m", "bangka_ops.cli", "arsip", "unggah", "--arsip",
                 str(tmp_path / "arsip"), "--konfigurasi", str(config)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            assert direct.returncode == 75 and "dilewati" in direct.stderr
            assert tugas(path, "verifikasi").returncode == 0
            assert tugas(path, "unggah").returncode == 0
        assert hook.received == []
    finally:
        server.stop()


def stopped(path: Path, job: str, **environ: str) -> subprocess.CompletedProcess[str]:
    """The unit's ExecStopPost as systemd runs it: its SERVICE_RESULT, EXIT_CODE, EXIT_STATUS."""
    return subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", "arsip", "tugas", job, "--terhenti",
         "--pengaturan", str(path)],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "BANGKA_AUDIT_LOG": str(path.parent / "audit.jsonl"), **environ},
    )  # fmt: skip


def test_a_job_systemd_stopped_is_notified_once_and_one_that_ended_by_itself_is_not(
    tmp_path: Path,
) -> None:
    with webhook_receiver() as hook, smtp_receiver() as mailbox:
        path = settings(tmp_path, hook.url)
        data = json.loads(path.read_text())
        data["notify"]["email"] = {"to": ["arsip@bangka.go.id"], "smtp_host": "127.0.0.1",
                                   "smtp_port": mailbox.port}  # fmt: skip
        path.write_text(json.dumps(data))
        # Ended by itself: a success, or a failure run() already notified.
        for result, how, status in (("success", "exited", "0"), ("exit-code", "exited", "2")):
            done = stopped(path, "verifikasi", SERVICE_RESULT=result, EXIT_CODE=how,
                           EXIT_STATUS=status)  # fmt: skip
            assert done.returncode == 0, done.stderr
        assert hook.received == [] and mailbox.messages == []
        # Past TimeoutStartSec (systemd then kills it), and killed by hand.
        timed_out = stopped(path, "verifikasi", SERVICE_RESULT="timeout", EXIT_CODE="killed",
                            EXIT_STATUS="TERM")  # fmt: skip
        killed = stopped(path, "masuk", SERVICE_RESULT="signal", EXIT_CODE="killed",
                         EXIT_STATUS="KILL")  # fmt: skip
    assert timed_out.returncode == killed.returncode == 0
    assert [n["summary"]["job"] for n in hook.received] == ["verifikasi", "masuk"]
    first, second = hook.received
    assert first["text"].startswith("[SI CEKAT arsip] TERHENTI / STOPPED (timeout): verifikasi")
    mail = mailbox.messages[0].get_payload()
    assert "melewati batas waktu" in mail and "SIGTERM" in mail
    assert "journalctl -u bangka-arsip@verifikasi.service" in mail
    assert second["summary"] == {"host": "arsip01", "job": "masuk", "status": "stopped",
                                 "service_result": "signal", "exit_code": "killed",
                                 "exit_status": "KILL"}  # fmt: skip
    lines = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(x["action"], x["result"]) for x in lines] == [
        ("tugas verifikasi", "failed"), ("tugas masuk", "failed"),
    ]  # fmt: skip
