"""The sign-off covers the whole checklist document: rows and KPIs are signed, `kind` and
`schema_version` are fixed, and any other top-level field makes verification (and signing)
fail. The HTML form shows "signed" only when the signature verifies against the data shown.
Real SSH keys, real `cekat` runs on a small collected tree."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.report.test_report_outputs_safe import PERIOD, host_tree, record

SIGNER = "budi.santoso@bangka.go.id"


def cekat(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture
def signed(tmp_path: Path) -> dict[str, Path]:
    """A collected tree, its checklist as JSON signed by the operator, the allowed signers."""
    root = tmp_path / "collected"
    host_tree(root, "fs01", "dokumen", [record("fs01", "dokumen", day) for day in (12, 13)])
    report = tmp_path / "checklist.json"
    made = cekat("report", str(root), *PERIOD, "--out", str(report))
    assert made.returncode == 0, made.stderr
    key = tmp_path / "operator"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "operator", "-f", str(key)],
        check=True,
    )
    signers = tmp_path / "allowed_signers"
    signers.write_text(
        f'{SIGNER} namespaces="bangka-ops-backup-checklist@bangka.go.id" '
        f"{(tmp_path / 'operator.pub').read_text()}"
    )
    proc = cekat("sign", str(report), "--key", str(key), "--signer", SIGNER)
    assert proc.returncode == 0, proc.stderr
    return {"root": root, "report": report, "signers": signers, "key": key}


def verify(files: dict[str, Path]) -> subprocess.CompletedProcess[str]:
    return cekat("verify", str(files["report"]), "--allowed-signers", str(files["signers"]))


def rewrite(path: Path, change: dict[str, Any]) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))


def test_the_signed_checklist_verifies(signed: dict[str, Path]) -> None:
    proc = verify(signed)
    assert proc.returncode == 0, proc.stderr
    assert f"signed by {SIGNER}" in proc.stdout


@pytest.mark.parametrize(
    "change",
    [
        {"catatan": "Disetujui Kepala Dinas Kominfo"},
        {"rows_extra": [{"host": "fs99", "status": "success"}]},
        {"schema_version": 2},
    ],
    ids=["a-note", "a-second-table", "another-schema-version"],
)
def test_a_top_level_change_after_signing_fails_verification(
    signed: dict[str, Path], change: dict[str, Any]
) -> None:
    rewrite(signed["report"], change)
    proc = verify(signed)
    assert proc.returncode == 1
    assert "TIDAK SAH / NOT VALID" in proc.stderr
    assert str(signed["report"]) in proc.stderr
    assert next(iter(change)) in proc.stderr


def test_a_checklist_with_a_field_the_signature_would_not_cover_is_not_signed(
    signed: dict[str, Path],
) -> None:
    signoff_file = signed["report"].with_name(signed["report"].name + ".signoff.json")
    signoff_file.unlink()
    rewrite(signed["report"], {"catatan": "Disetujui"})
    proc = cekat("sign", str(signed["report"]), "--key", str(signed["key"]), "--signer", SIGNER)
    assert proc.returncode == 1
    assert "'catatan'" in proc.stderr
    assert not signoff_file.exists()


def test_what_is_signed_is_still_the_rows_and_kpis_so_earlier_signoffs_verify(
    signed: dict[str, Path],
) -> None:
    """The hash is of the same bytes as before the top level was checked: sign-offs made
    before then still verify."""
    document = json.loads(signed["report"].read_text())
    kpis = {k: v for k, v in document["kpis"].items() if k != "generated"}
    canonical = json.dumps(
        {"rows": document["rows"], "kpis": kpis},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    signoff = json.loads(
        signed["report"].with_name(signed["report"].name + ".signoff.json").read_text()
    )
    assert signoff["data_sha256"] == hashlib.sha256(canonical).hexdigest()


def html(files: dict[str, Path], out: Path) -> subprocess.CompletedProcess[str]:
    return cekat(
        "report",
        str(files["root"]),
        *PERIOD,
        "--format",
        "html",
        "--lang",
        "en",
        "--out",
        str(out),
        "--signoff",
        f"{files['report']}.signoff.json",
        "--allowed-signers",
        str(files["signers"]),
    )


def test_the_form_shows_signed_only_for_the_data_it_shows(
    signed: dict[str, Path], tmp_path: Path
) -> None:
    page = tmp_path / "form.html"
    proc = html(signed, page)
    assert proc.returncode == 0, proc.stderr
    assert f"Electronically signed by <strong>{SIGNER}</strong>" in page.read_text()

    folder = signed["root"] / "fs01" / "records" / "dokumen"
    (folder / "late.json").write_text(json.dumps(record("fs01", "dokumen", 14)))
    proc = html(signed, page)
    assert proc.returncode == 65, proc.stderr  # written, but it says so and fails
    assert "Electronically signed" not in page.read_text()
    assert "Not signed yet" in page.read_text()
    assert "NOT SIGNED" in proc.stderr and "changed after it was signed" in proc.stderr


def test_the_signed_checklist_printed_later_is_still_signed(
    signed: dict[str, Path], tmp_path: Path
) -> None:
    """Rendered days later with only --signoff: the form takes the moment and period of the
    signed JSON, so it shows exactly the data that was signed (moment-dependent KPIs too)."""
    page = tmp_path / "later.html"
    proc = cekat(
        "report",
        str(signed["root"]),
        "--format",
        "html",
        "--lang",
        "en",
        "--out",
        str(page),
        "--signoff",
        f"{signed['report']}.signoff.json",
        "--allowed-signers",
        str(signed["signers"]),
    )
    assert proc.returncode == 0, proc.stderr
    # The data hash covers KPIs that depend on the moment (the age of the newest archive):
    # signed only because the form was rebuilt as of the signed JSON's moment, not now.
    assert f"Electronically signed by <strong>{SIGNER}</strong>" in page.read_text()
