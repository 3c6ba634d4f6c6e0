"""The recovery drill's report: the facts recovery_drill.yml writes become a document judged
against the RTO (JSON to sign, HTML, PDF through real Chromium), signed with a real SSH key in
its own namespace, shown by the checklist (last drill, overdue after a year). Bad facts are
named by file and field; a report is never overwritten."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pypdfium2
import pytest

from bangka_ops import chromium
from bangka_ops.report import drill

SIGNER = "koordinator@bangka.go.id"


def cekat(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def facts(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "recovery_drill_facts",
        "client": "db01",
        "drill_host": "drill01",
        "operator": "budi",
        "started": "2026-11-20T02:00:00+00:00",
        "finished": "2026-11-20T02:41:10+00:00",
        "policies": [{"name": "aplikasi", "rto_hours": 4}, {"name": "dokumen", "rto_hours": 8}],
        "steps": [
            {"kind": "packages", "name": "postgresql-15 nginx", "seconds": 95.2, "ok": True},
            {"kind": "files", "policy": "aplikasi", "name": "/srv/aplikasi",
             "seconds": "0:02:03.500000", "ok": True, "detail": "db01-aplikasi-daily: 10 files"},
            {"kind": "database", "policy": "aplikasi", "name": "postgresql kepegawaian",
             "seconds": "0:20:00.25", "ok": True, "detail": "-> database kepegawaian"},
            {"kind": "files", "policy": "dokumen", "name": "/srv/dokumen", "seconds": 600,
             "ok": True},
            {"kind": "services", "name": "postgresql nginx", "seconds": 4.5, "ok": True,
             "detail": ""},
            {"kind": "smoke", "name": "halaman <b>aplikasi</b>", "seconds": 0.3, "ok": True,
             "detail": "HTTP 200 OK"},
        ],
    }  # fmt: skip
    data.update(changes)
    return data


def write(tmp_path: Path, data: dict[str, Any], name: str = "db01.facts.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=1))
    return path


def test_a_drill_within_the_rto_passes_and_every_step_is_reported(tmp_path: Path) -> None:
    doc = drill.document(drill.check_facts(facts()))
    kpis = doc["kpis"]
    assert kpis["status"] == "passed" and kpis["rto_met"] and kpis["reasons"] == []
    assert kpis["total_seconds"] == 41 * 60 + 10 and kpis["rto_hours"] == 4
    assert [p["restore_seconds"] for p in kpis["policies"]] == [123.5 + 1200.25, 600.0]
    assert [row["step"] for row in doc["rows"]] == [1, 2, 3, 4, 5, 6]
    assert kpis["seconds_by_kind"]["database"] == 1200.25


def test_a_failed_step_or_a_rebuild_longer_than_the_strictest_rto_fails() -> None:
    slow = drill.document(drill.check_facts(facts(finished="2026-11-20T06:00:01+00:00")))
    assert slow["kpis"]["status"] == "failed"
    assert slow["kpis"]["reasons"] == ["took 14401 s, more than the RTO of 4 h"]
    assert [p["rto_met"] for p in slow["kpis"]["policies"]] == [False, True]
    data = facts()
    data["steps"][5]["ok"] = False
    broken = drill.document(drill.check_facts(data))
    assert broken["kpis"]["status"] == "failed"
    assert broken["kpis"]["reasons"] == ["step failed: halaman <b>aplikasi</b>"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"kind": "backup_checklist"}, "kind"),
        ({"client": "../etc"}, "client"),
        ({"started": "2026-11-20T02:00:00"}, "started"),
        ({"finished": "2026-11-19T00:00:00+00:00"}, "finished"),
        ({"policies": []}, "policies"),
        ({"policies": [{"name": "aplikasi", "rto_hours": True}]}, "policies[0].rto_hours"),
        ({"steps": [{"kind": "reboot", "name": "x", "seconds": 1, "ok": True}]}, "steps[0].kind"),
        ({"steps": [{"kind": "files", "name": "x", "seconds": 1, "ok": True}]}, "steps[0].policy"),
        ({"steps": [{"kind": "files", "policy": "lain", "name": "x", "seconds": 1, "ok": True}]},
         "steps[0].policy"),
        ({"steps": [{"kind": "smoke", "name": "x", "seconds": float("nan"), "ok": True}]},
         "steps[0].seconds"),
        ({"steps": [{"kind": "smoke", "name": "x", "seconds": "soon", "ok": True}]},
         "steps[0].seconds"),
        ({"steps": [{"kind": "smoke", "name": "x", "seconds": 1, "ok": "yes"}]}, "steps[0].ok"),
        ({"steps": [{"kind": "files", "policy": ["aplikasi"], "name": "x", "seconds": 1,
                     "ok": True}]}, "steps[0].policy"),
        ({"steps": [{"kind": "smoke", "policy": {"a": 1}, "name": "x", "seconds": 1,
                     "ok": True}]}, "steps[0].policy"),
        ({"steps": [{"kind": "smoke", "name": "cek \ud800", "seconds": 1, "ok": True}]},
         "steps[0].name"),
        ({"operator": "\udcff"}, "operator"),
        ({"client": "db01\n"}, "client"),
        ({"steps": [{"kind": "smoke", "name": " " * 2000 + "cek", "seconds": 1, "ok": True}]},
         "steps[0].name"),
    ],
)  # fmt: skip
def test_bad_facts_are_named_by_file_and_field(
    tmp_path: Path, change: dict[str, Any], named: str
) -> None:
    path = write(tmp_path, facts(**change))
    proc = cekat("drill", "report", str(path), "--out", str(tmp_path / "out"), "--tanpa-pdf")
    assert proc.returncode == 64, proc.stdout
    assert f"{path}: {named}" in proc.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_a_drill_without_a_smoke_check_fails() -> None:
    data = facts()
    data["steps"] = [step for step in data["steps"] if step["kind"] != "smoke"]
    doc = drill.document(drill.check_facts(data))
    assert doc["kpis"]["status"] == "failed"
    assert doc["kpis"]["reasons"] == ["no smoke check ran"]


def test_a_page_that_cannot_be_written_leaves_no_report(tmp_path: Path) -> None:
    out = tmp_path / "drills"
    (out / "simulasi-db01-20261120T020000.html").mkdir(parents=True)  # in the page's way
    path = write(tmp_path, facts())
    proc = cekat("drill", "report", str(path), "--out", str(out), "--tanpa-pdf")
    assert proc.returncode == 64 and "simulasi-db01-20261120T020000.html" in proc.stderr
    assert not (out / "simulasi-db01-20261120T020000.json").exists()
    (out / "simulasi-db01-20261120T020000.html").rmdir()
    again = cekat("drill", "report", str(path), "--out", str(out), "--tanpa-pdf")
    assert again.returncode == 0, again.stderr  # the next run makes the whole report


def test_unreadable_facts_are_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.facts.json"
    path.write_text('{"kind": "recovery_drill_facts",\n "client": }')
    proc = cekat("drill", "report", str(path), "--out", str(tmp_path), "--tanpa-pdf")
    assert proc.returncode == 64 and f"{path}:2: invalid JSON" in proc.stderr


@pytest.mark.skipif(chromium.find() is None, reason="needs Debian's chromium")
def test_the_report_is_written_signed_and_shown_with_its_verified_signature(
    tmp_path: Path,
) -> None:
    out = tmp_path / "drills"
    proc = cekat("drill", "report", str(write(tmp_path, facts())), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "BERHASIL / PASSED" in proc.stdout
    report = out / "simulasi-db01-20261120T020000.json"
    page = report.with_suffix(".html").read_text()
    assert "halaman &lt;b&gt;aplikasi&lt;/b&gt;" in page  # data, escaped
    assert "Belum ditandatangani" in page
    pdf = pypdfium2.PdfDocument(report.with_suffix(".pdf"))
    width, height = pdf[0].get_size()
    assert (round(width / 72 * 25.4), round(height / 72 * 25.4)) == (210, 297)
    text = " ".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    assert "Laporan Simulasi Pemulihan" in text and "Recovery drill report" in text
    picture = pdf[0].render(scale=0.5).to_pil().convert("L")
    assert picture.getextrema()[0] < 64  # text is drawn: the page is not blank

    again = cekat("drill", "report", str(write(tmp_path, facts())), "--out", str(out))
    assert again.returncode == 3 and "never overwritten" in again.stderr

    key = tmp_path / "koordinator"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    public = (tmp_path / "koordinator.pub").read_text()
    signers = tmp_path / "allowed_signers"
    signers.write_text(f'{SIGNER} namespaces="bangka-ops-recovery-drill@bangka.go.id" {public}')
    unsigned = cekat("drill", "form", str(report), "--allowed-signers", str(signers),
                     "--tanpa-pdf")  # fmt: skip
    assert unsigned.returncode == 65 and "no sign-off yet" in unsigned.stderr
    signed = cekat("sign", str(report), "--key", str(key), "--signer", SIGNER)
    assert signed.returncode == 0, signed.stderr
    form = cekat("drill", "form", str(report), "--allowed-signers", str(signers), "--tanpa-pdf")
    assert form.returncode == 0, form.stderr
    assert SIGNER in report.with_suffix(".html").read_text()
    assert cekat("verify", str(report), "--allowed-signers", str(signers)).returncode == 0

    # The checklist's namespace cannot vouch for a drill, nor a drill's for a checklist.
    checklist_only = tmp_path / "checklist_signers"
    checklist_only.write_text(
        f'{SIGNER} namespaces="bangka-ops-backup-checklist@bangka.go.id" {public}'
    )
    wrong = cekat("drill", "form", str(report), "--allowed-signers", str(checklist_only),
                  "--tanpa-pdf")  # fmt: skip
    assert wrong.returncode == 65 and "does not verify" in wrong.stderr
    # A changed step after signing is caught.
    document = json.loads(report.read_text())
    document["rows"][2]["seconds"] = 1.0
    report.write_text(json.dumps(document))
    changed = cekat("verify", str(report), "--allowed-signers", str(signers))
    assert changed.returncode != 0 and "changed after it was signed" in changed.stderr


def test_the_checklist_shows_the_last_drill_and_flags_one_older_than_a_year(
    tmp_path: Path,
) -> None:
    out = tmp_path / "drills"
    empty = tmp_path / "collected"
    empty.mkdir()
    never = cekat("report", str(empty), "--drills", str(out), "--as-of",
                  "2026-12-01T00:00:00+00:00")  # fmt: skip
    shown = json.loads(never.stdout)["kpis"]["recovery_drill"]
    assert shown["last"] is None and shown["overdue"] is True
    for started in ("2025-10-01T02:00:00+00:00", "2026-11-20T02:00:00+00:00"):
        finished = (dt.datetime.fromisoformat(started) + dt.timedelta(hours=1)).isoformat()
        name = f"{started[:10]}.facts.json"
        path = write(tmp_path, facts(started=started, finished=finished), name)
        assert drill.write_report(path, out, pdf=False)["document"]["kpis"]["status"] == "passed"
    (out / "bukan-laporan.json").write_text('{"kind": "recovery_drill"}')
    recent = cekat("report", str(empty), "--drills", str(out), "--as-of",
                   "2026-12-01T00:00:00+00:00")  # fmt: skip
    shown = json.loads(recent.stdout)["kpis"]["recovery_drill"]
    assert shown["last"]["date"] == "2026-11-20" and shown["overdue"] is False
    assert any("bukan-laporan.json" in p for p in shown["problems"])
    late = cekat("report", str(empty), "--drills", str(out), "--as-of",
                 "2027-11-21T00:00:00+00:00", "--format", "html")  # fmt: skip
    assert "TERLAMBAT: lebih dari 12 bulan" in late.stdout
    prom = cekat("report", str(empty), "--drills", str(out), "--as-of",
                 "2027-11-21T00:00:00+00:00", "--format", "prom")  # fmt: skip
    assert "bangka_backup_recovery_drill_overdue 1" in prom.stdout
    assert 'bangka_backup_recovery_drill_last_passed{client="db01"} 1' in prom.stdout
    at = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC).timestamp()  # its start, 02:00
    assert (f'bangka_backup_recovery_drill_last_timestamp_seconds{{client="db01"}} {at}\n'
            in prom.stdout)  # fmt: skip

    # A report dated after the checklist's moment is named, not taken as the last drill.
    before = cekat("report", str(empty), "--drills", str(out), "--as-of",
                   "2026-11-01T00:00:00+00:00")  # fmt: skip
    shown = json.loads(before.stdout)["kpis"]["recovery_drill"]
    assert shown["last"]["date"] == "2025-10-01"
    assert any("kpis.started" in p and "is after" in p for p in shown["problems"])


def test_every_report_written_reads_back(tmp_path: Path) -> None:
    data = facts(operator=None)
    data["steps"][0]["name"] = "é🙂 " * 1000  # cut at 2000 characters, still text
    data["steps"][4]["detail"] = "x" * 5000
    data["policies"][0]["rto_hours"] = 0.1 + 0.2 + 4
    result = drill.write_report(write(tmp_path, data), tmp_path / "out", pdf=False)
    assert drill.load_document(Path(result["json"]))["kpis"]["operator"] == ""
    edited = json.loads(Path(result["json"]).read_text())
    edited["rows"][0]["step"] = True  # equal to 1 in Python, not a step number
    Path(result["json"]).write_text(json.dumps(edited))
    with pytest.raises(drill.DrillError, match=r"rows\[0\]\.step"):
        drill.load_document(Path(result["json"]))


def test_a_hand_edited_report_is_not_a_drill(tmp_path: Path) -> None:
    out = tmp_path / "drills"
    data = facts()
    data["steps"][5]["ok"] = False
    result = drill.write_report(write(tmp_path, data), out, pdf=False)
    report = Path(result["json"])
    edited = json.loads(report.read_text())
    assert edited["kpis"]["status"] == "failed"
    edited["kpis"]["status"], edited["kpis"]["reasons"] = "passed", []
    report.write_text(json.dumps(edited))
    empty = tmp_path / "collected"
    empty.mkdir()
    checklist = cekat("report", str(empty), "--drills", str(out), "--as-of",
                      "2026-12-01T00:00:00+00:00")  # fmt: skip
    shown = json.loads(checklist.stdout)["kpis"]["recovery_drill"]
    assert shown["last"] is None
    assert any("kpis.reasons, kpis.status: not what the rows give" in p for p in shown["problems"])
    form = cekat("drill", "form", str(report), "--allowed-signers", str(tmp_path / "x"),
                 "--tanpa-pdf")  # fmt: skip
    assert form.returncode == 64 and "not what the rows give" in form.stderr
    # A report missing what the page shows is named too (not a crash while rendering).
    del edited["kpis"]["policies"]
    report.write_text(json.dumps(edited))
    form = cekat("drill", "form", str(report), "--allowed-signers", str(tmp_path / "x"),
                 "--tanpa-pdf")  # fmt: skip
    assert form.returncode == 64 and "kpis.policies" in form.stderr
