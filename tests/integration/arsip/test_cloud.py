"""The archive's cloud copy (SOP steps 7-8) against a real storage server: ``rclone serve sftp``
on loopback, its own key and host key, reached by the real ``rclone`` through ``cekat arsip``."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bangka_ops.arsip import awan, verification
from bangka_ops.arsip import config as configs

from .storage import Storage, make_storage, pdf, stored_items, write_config

pytestmark = pytest.mark.skipif(
    not any((Path(d) / "rclone").exists() for d in os.environ["PATH"].split(":")),
    reason="rclone is installed by scripts/setup.sh",
)


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    server = make_storage(tmp_path)
    yield server
    server.stop()


def run(
    root: Path, config: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", "arsip", *args, "--arsip", str(root),
         "--konfigurasi", str(config)],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "BANGKA_AUDIT_LOG": str(root.parent / "audit.jsonl"), **(env or {})},
    )  # fmt: skip


def cloud_status(root: Path) -> dict[str, str]:
    with sqlite3.connect(root / "katalog.sqlite") as db:
        return dict(db.execute("SELECT path, status FROM awan").fetchall())


def test_upload_mirrors_the_naming_rule_and_marks_only_what_the_remote_holds(
    tmp_path: Path, storage: Storage
) -> None:
    config = write_config(storage, tmp_path / "etc")
    root = tmp_path / "arsip"
    items = stored_items(root, 3)
    done = run(root, config, "unggah")
    assert done.returncode == 0, done.stderr + done.stdout
    assert "6 dari/of 6" in done.stdout
    for item in items:
        for key in ("path", "asli"):
            local = root / "dokumen" / str(item[key])
            assert storage.file(str(item[key])).read_bytes() == local.read_bytes()
    assert set(cloud_status(root).values()) == {"tersimpan"}
    summary = json.loads((root / "laporan" / "ringkasan-arsip.json").read_text())
    assert summary["awan"] == {
        "diatur": True, "berkas": 6, "tersimpan": 6, "belum_diunggah": 0, "gagal": 0,
    }  # fmt: skip
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert any(a["action"] == "unggah" and a["result"] == "ok" for a in audit)
    # Nothing new: nothing copied, still exit 0.
    again = run(root, config, "unggah", "--json")
    assert again.returncode == 0
    assert json.loads(again.stdout)["diantrekan"] == 0


def test_storage_down_marks_nothing_and_the_next_run_uploads_it(
    tmp_path: Path, storage: Storage
) -> None:
    config = write_config(storage, tmp_path / "etc")
    root = tmp_path / "arsip"
    stored_items(root, 2)
    storage.stop()
    down = run(root, config, "unggah")
    assert down.returncode == 2
    assert "GAGAL" in down.stdout or "gagal" in down.stderr.lower()
    assert set(cloud_status(root).values()) <= {"belum"}
    summary = json.loads((root / "laporan" / "ringkasan-arsip.json").read_text())
    assert summary["awan"]["tersimpan"] == 0 and summary["awan"]["belum_diunggah"] == 4
    storage.start()
    up = run(root, config, "unggah")
    assert up.returncode == 0, up.stdout + up.stderr
    assert set(cloud_status(root).values()) == {"tersimpan"}


def test_an_interrupted_upload_is_finished_by_the_next_run(
    tmp_path: Path, storage: Storage
) -> None:
    """What an upload cut off midway leaves (a file half there, others missing) is completed:
    the half file is copied again, nothing is marked before the remote holds it whole."""
    config = write_config(storage, tmp_path / "etc")
    root = tmp_path / "arsip"
    items = stored_items(root, 2)
    half = storage.file(str(items[0]["path"]))
    half.parent.mkdir(parents=True)
    whole = (root / "dokumen" / str(items[0]["path"])).read_bytes()
    half.write_bytes(whole[: len(whole) // 2])
    done = run(root, config, "unggah")
    assert done.returncode == 0, done.stdout + done.stderr
    assert half.read_bytes() == whole
    assert set(cloud_status(root).values()) == {"tersimpan"}


def test_a_damaged_local_file_is_not_uploaded_and_is_named(
    tmp_path: Path, storage: Storage
) -> None:
    config = write_config(storage, tmp_path / "etc")
    root = tmp_path / "arsip"
    items = stored_items(root, 2)
    damaged = root / "dokumen" / str(items[1]["path"])
    damaged.write_bytes(damaged.read_bytes()[:-10])
    done = run(root, config, "unggah")
    assert done.returncode == 2
    assert "RUSAK" in done.stdout and str(items[1]["path"]) in done.stdout
    assert not storage.file(str(items[1]["path"])).exists()
    assert storage.file(str(items[0]["path"])).exists()


def test_outside_the_window_nothing_is_uploaded(tmp_path: Path, storage: Storage) -> None:
    now = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=7)))
    start = (now + dt.timedelta(hours=2)).strftime("%H:%M")
    end = (now + dt.timedelta(hours=3)).strftime("%H:%M")
    config = write_config(storage, tmp_path / "etc", f"  jendela: '{start}-{end}'\n")
    root = tmp_path / "arsip"
    stored_items(root, 1)
    done = run(root, config, "unggah")
    assert done.returncode == 0
    assert "luar jendela" in done.stdout
    assert not (storage.root / "arsip").exists()


def test_the_window_is_local_time_and_may_cross_midnight() -> None:
    cloud = configs.Cloud(
        "x:", Path("/dev/null"), window=(dt.time(18), dt.time(6)), timezone="Asia/Jakarta"
    )
    wib = dt.timezone(dt.timedelta(hours=7))
    assert awan.window_left(cloud, dt.datetime(2026, 12, 2, 12, 0, tzinfo=wib)) == 0
    assert awan.window_left(cloud, dt.datetime(2026, 12, 2, 23, 0, tzinfo=wib)) == 7 * 3600
    assert awan.window_left(cloud, dt.datetime(2026, 12, 3, 5, 30, tzinfo=wib)) == 1800
    assert awan.window_left(cloud, dt.datetime(2026, 12, 3, 6, 0, tzinfo=wib)) == 0
    # 11:00 UTC is 18:00 in Jakarta.
    assert awan.window_left(cloud, dt.datetime(2026, 12, 2, 11, 0, tzinfo=dt.UTC)) == 12 * 3600
    assert awan.window_left(configs.Cloud("x:", Path("/dev/null"))) is None


def test_verification_finds_altered_and_missing_files_and_uploads_them_again(
    tmp_path: Path, storage: Storage
) -> None:
    config = write_config(storage, tmp_path / "etc")
    root = tmp_path / "arsip"
    items = stored_items(root, 4)
    assert run(root, config, "unggah").returncode == 0
    good = run(root, config, "verifikasi", "--sampel", "3", "--json")
    assert good.returncode == 0, good.stdout + good.stderr
    result = json.loads(good.stdout)
    assert result["ok"] and result["cocok"] == 8 and result["sampel_ok"] == 3
    altered = storage.file(str(items[0]["path"]))
    data = bytearray(altered.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte different
    altered.write_bytes(bytes(data))
    storage.file(str(items[2]["asli"])).unlink()
    found = run(root, config, "verifikasi", "--sampel", "0")
    assert found.returncode == 0, found.stdout + found.stderr
    assert "berbeda dari yang tercatat" in found.stdout
    assert "tidak ada di penyimpanan awan" in found.stdout
    assert found.stdout.count("DIUNGGAH ULANG") == 2
    for item, key in ((items[0], "path"), (items[2], "asli")):
        local = root / "dokumen" / str(item[key])
        assert storage.file(str(item[key])).read_bytes() == local.read_bytes()
    assert set(cloud_status(root).values()) == {"tersimpan"}


def test_what_stays_wrong_after_one_upload_is_reported(tmp_path: Path, storage: Storage) -> None:
    """A remote that keeps losing a file (here: rclone's copy does nothing, as if the upload
    were silently dropped) and a local file damaged since: both reported, exit 2."""
    config = write_config(storage, tmp_path / "etc")
    root = tmp_path / "arsip"
    items = stored_items(root, 3)
    assert run(root, config, "unggah").returncode == 0
    storage.file(str(items[0]["path"])).unlink()
    storage.file(str(items[1]["path"])).unlink()
    local = root / "dokumen" / str(items[1]["path"])
    local.write_bytes(local.read_bytes()[:-20])
    dropping = tmp_path / "rclone-drops-copies"
    dropping.write_text(
        '#!/bin/sh\nfor a in "$@"; do [ "$a" = copy ] && exit 0; done\nexec rclone "$@"\n'
    )
    dropping.chmod(0o755)
    done = run(root, config, "verifikasi", "--sampel", "0", env={"BANGKA_RCLONE": str(dropping)})
    assert done.returncode == 2, done.stdout + done.stderr
    assert "tetap salah setelah diunggah ulang" in done.stdout
    assert "berkas lokal rusak" in done.stdout
    statuses = cloud_status(root)
    assert statuses[str(items[0]["path"])] == "gagal"
    assert statuses[str(items[1]["path"])] == "gagal"
    summary = json.loads((root / "laporan" / "ringkasan-arsip.json").read_text())
    assert summary["verifikasi"]["gagal"] == 2 and not summary["verifikasi"]["ok"]
    # The next upload tries the lost one again (the damaged one stays out).
    again = run(root, config, "unggah")
    assert storage.file(str(items[0]["path"])).exists()
    assert "RUSAK" in again.stdout and again.returncode == 2


def test_a_sampled_file_that_does_not_open_is_found(tmp_path: Path) -> None:
    broken = tmp_path / "rusak.pdf"
    pdf(broken, 2, "x")
    assert verification.opens(broken, 2) == ""
    assert "2 halaman, tercatat 3" in verification.opens(broken, 3)
    broken.write_bytes(broken.read_bytes()[:200])
    assert "tidak terbuka sebagai PDF" in verification.opens(broken, 2)


def test_credentials_readable_by_everyone_are_refused(tmp_path: Path, storage: Storage) -> None:
    config = write_config(storage, tmp_path / "etc")
    (tmp_path / "etc" / "rclone.conf").chmod(0o644)
    root = tmp_path / "arsip"
    stored_items(root, 1)
    done = run(root, config, "unggah")
    assert done.returncode == 2
    assert "0640" in done.stderr
    assert not (storage.root / "arsip").exists()


def test_without_an_awan_section_the_commands_say_so(tmp_path: Path) -> None:
    root = tmp_path / "arsip"
    stored_items(root, 1)
    from .helpers import CONFIG  # noqa: PLC0415

    done = run(root, CONFIG, "unggah")
    assert done.returncode == 64
    assert "tidak ada bagian 'awan'" in done.stderr


def test_a_file_changed_while_it_is_uploaded_is_not_marked(
    tmp_path: Path, storage: Storage
) -> None:
    """rclone checks what it read against the remote, not against the catalogue: a file damaged
    after it was hashed (here by a wrapper, just before rclone reads it) is named, not marked."""
    config = write_config(storage, tmp_path / "etc")
    root = tmp_path / "arsip"
    items = stored_items(root, 2)
    victim = root / "dokumen" / str(items[0]["path"])
    damaging = tmp_path / "rclone-damages"
    damaging.write_text(
        "#!/bin/sh\n"
        f'for a in "$@"; do [ "$a" = copy ] && printf x >> {shlex.quote(str(victim))}; done\n'
        'exec rclone "$@"\n'
    )
    damaging.chmod(0o755)
    done = run(root, config, "unggah", env={"BANGKA_RCLONE": str(damaging)})
    assert done.returncode == 2
    assert "berubah saat diunggah" in done.stdout
    statuses = cloud_status(root)
    assert statuses[str(items[0]["path"])] == "belum"
    assert statuses[str(items[1]["path"])] == "tersimpan"


def test_a_remote_not_in_the_rclone_configuration_is_named(
    tmp_path: Path, storage: Storage
) -> None:
    config = write_config(storage, tmp_path / "etc")
    config.write_text(config.read_text().replace("'penyimpanan:arsip'", "'drive:arsip'"))
    root = tmp_path / "arsip"
    stored_items(root, 1)
    done = run(root, config, "unggah")
    assert done.returncode == 2 and "no remote 'drive'" in done.stderr


def test_a_plain_path_as_remote_is_refused(tmp_path: Path, storage: Storage) -> None:
    config = write_config(storage, tmp_path / "etc")
    config.write_text(config.read_text().replace("'penyimpanan:arsip'", "'penyimpanan'"))
    with pytest.raises(configs.ConfigError, match=r"awan\.remote"):
        configs.read(config)


def test_a_remote_without_hashes_is_checked_by_download_and_an_outage_marks_nothing(
    tmp_path: Path, storage: Storage
) -> None:
    """rclone's crypt remote (over the SFTP server) reports no hash: files are confirmed by
    downloading them; a check that breaks off is an error, never 'every file different'."""
    config = write_config(storage, tmp_path / "etc")
    conf = tmp_path / "etc" / "rclone.conf"
    secret = subprocess.run(["rclone", "obscure", "-"], input="kata-sandi-uji", text=True,
                            capture_output=True, check=True).stdout.strip()  # fmt: skip
    conf.write_text(conf.read_text() + f"\n[rahasia]\ntype = crypt\nremote = penyimpanan:crypt\n"
                    f"password = {secret}\n")  # fmt: skip
    config.write_text(config.read_text().replace("'penyimpanan:arsip'", "'rahasia:'"))
    root = tmp_path / "arsip"
    stored_items(root, 2)
    assert run(root, config, "unggah").returncode == 0
    assert set(cloud_status(root).values()) == {"tersimpan"}
    good = json.loads(run(root, config, "verifikasi", "--sampel", "1", "--json").stdout)
    assert good["ok"] and good["cocok"] == 4
    failing = tmp_path / "rclone-check-fails"
    failing.write_text(
        '#!/bin/sh\nfor a in "$@"; do [ "$a" = check ] && exit 5; done\nexec rclone "$@"\n'
    )
    failing.chmod(0o755)
    broken = run(root, config, "verifikasi", "--sampel", "0", env={"BANGKA_RCLONE": str(failing)})
    assert broken.returncode == 2
    assert set(cloud_status(root).values()) == {"tersimpan"}


def test_an_unreadable_answer_from_the_remote_is_an_error_not_a_crash(
    tmp_path: Path, storage: Storage
) -> None:
    config = write_config(storage, tmp_path / "etc")
    root = tmp_path / "arsip"
    stored_items(root, 1)
    assert run(root, config, "unggah").returncode == 0
    lying = tmp_path / "rclone-lies"
    lying.write_text(
        '#!/bin/sh\nfor a in "$@"; do [ "$a" = lsjson ] && '
        '{ echo \'[{"Name": "x", "Size": "banyak"}]\'; exit 0; }; done\n'
        'exec rclone "$@"\n'
    )
    lying.chmod(0o755)
    done = run(root, config, "verifikasi", "--json", env={"BANGKA_RCLONE": str(lying)})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "unreadable answer" in json.loads(done.stdout)["galat"]
    assert set(cloud_status(root).values()) == {"tersimpan"}


def test_a_verification_that_cannot_start_is_recorded_and_the_summary_says_so(
    tmp_path: Path, storage: Storage
) -> None:
    """rclone unusable at the start (its remote gone from rclone.conf) is a failed verification
    in the catalogue and the summary the checklist reads, not the last good one shown on."""
    config = write_config(storage, tmp_path / "etc")
    root = tmp_path / "arsip"
    stored_items(root, 1)
    assert run(root, config, "unggah").returncode == 0
    assert run(root, config, "verifikasi").returncode == 0
    summary = root / "laporan" / "ringkasan-arsip.json"
    assert json.loads(summary.read_text())["verifikasi"]["ok"] is True
    conf = tmp_path / "etc" / "rclone.conf"
    conf.write_text(conf.read_text().replace("[penyimpanan]", "[lain]"))

    done = run(root, config, "verifikasi")

    assert done.returncode == 2 and "no remote 'penyimpanan'" in done.stdout + done.stderr
    after = json.loads(summary.read_text())["verifikasi"]
    assert after["ok"] is False and after["galat"] is True, after
    with sqlite3.connect(root / "katalog.sqlite") as db:
        assert db.execute("SELECT count(*) FROM verifikasi").fetchone()[0] == 2
