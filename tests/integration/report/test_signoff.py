"""Sign-off round trip with real SSH keys (ssh-keygen -Y sign / verify)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bangka_ops.report import signoff


def keypair(folder: Path, name: str) -> tuple[Path, str]:
    key = folder / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True
    )
    return key, (folder / f"{name}.pub").read_text().strip()


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Path]:
    report = tmp_path / "checklist-2025-05.json"
    report.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "kind": "backup_checklist",
                "rows": [
                    {
                        "host": "fs01",
                        "policy": "dokumen",
                        "status": "success",
                        "original_bytes": 1234,
                    }
                ],
                "kpis": {
                    "period": "2025-05-01..2025-05-31",
                    "generated": "2025-06-01T08:00:00+07:00",
                },
            }
        )
    )
    key, public = keypair(tmp_path, "operator")
    inventory = tmp_path / "inventory"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "group_vars" / "all" / "signers.yml").write_text(
        f"backup_checklist_signers:\n  - principal: budi@bangka.go.id\n    key: {public}\n"
    )
    out = signoff.sign(report, key, "budi@bangka.go.id")
    assert out.name == "checklist-2025-05.json.signoff.json"
    return report, inventory


def cekat(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bangka_ops.cli", *args], capture_output=True, text=True, check=False
    )


def test_the_signature_verifies_and_names_signer_and_time(signed: tuple[Path, Path]) -> None:
    report, inventory = signed
    proc = cekat("verify", str(report), "-i", str(inventory))
    assert proc.returncode == 0, proc.stderr
    assert "signed by budi@bangka.go.id at " in proc.stdout
    assert "2025-05-01..2025-05-31" in proc.stdout


def test_a_changed_byte_of_the_data_fails(signed: tuple[Path, Path]) -> None:
    report, inventory = signed
    report.write_text(report.read_text().replace("1234", "1235"))
    proc = cekat("verify", str(report), "-i", str(inventory))
    assert proc.returncode == 1
    assert "changed after it was signed by budi@bangka.go.id" in proc.stderr


def test_regenerating_the_same_data_later_still_verifies(signed: tuple[Path, Path]) -> None:
    report, inventory = signed
    report.write_text(report.read_text().replace("2025-06-01T08:00:00", "2025-06-02T09:00:00"))
    assert cekat("verify", str(report), "-i", str(inventory)).returncode == 0


def test_a_forged_signoff_or_an_unlisted_key_fails(
    signed: tuple[Path, Path], tmp_path: Path
) -> None:
    report, inventory = signed
    intruder, _ = keypair(tmp_path, "intruder")
    signoff.sign(report, intruder, "budi@bangka.go.id")  # claims to be Budi
    proc = cekat("verify", str(report), "-i", str(inventory))
    assert proc.returncode == 1
    assert "does not verify" in proc.stderr

    signoff_file = report.with_name(report.name + ".signoff.json")
    forged = json.loads(signoff_file.read_text())
    forged["signed_at"] = "2020-01-01T00:00:00+00:00"
    signoff_file.write_text(json.dumps(forged))
    assert cekat("verify", str(report), "-i", str(inventory)).returncode == 1


def test_cekat_sign_with_a_missing_key_is_a_clear_error(
    tmp_path: Path, signed: tuple[Path, Path]
) -> None:
    report, _ = signed
    proc = cekat("sign", str(report), "--key", str(tmp_path / "tidak-ada"), "--signer", "budi")
    assert proc.returncode == 1
    assert "could not sign" in proc.stderr
