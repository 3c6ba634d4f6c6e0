"""Operator sign-off of a checklist with an SSH key (``ssh-keygen -Y sign`` / ``-Y verify``).

What is signed is the checklist *data*, never its HTML: the period, every row and the KPIs of a
``cekat report --format json`` document, serialised canonically (sorted keys, no whitespace,
UTF-8) and hashed with SHA-256, together with the signer's name and the signing time. The
sign-off file (``<report>.signoff.json``) holds that payload and the SSH signature; anyone can
check it against the allowed-signers list kept in the inventory. Changing one byte of the data
after signing changes the hash, and verification fails.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

NAMESPACE = "bangka-ops-backup-checklist@bangka.go.id"
# Facts of the moment a report was made, not of the checklist: left out of what is signed.
UNSIGNED_KPI_KEYS = ("generated",)


class SignoffError(Exception):
    """Signing or verification could not be done, or failed; the message says why."""


def canonical(document: dict[str, Any]) -> bytes:
    if document.get("kind") != "backup_checklist":
        raise SignoffError("not a checklist (cekat report --format json)")
    kpis = {k: v for k, v in document.get("kpis", {}).items() if k not in UNSIGNED_KPI_KEYS}
    data = {"rows": document.get("rows", []), "kpis": kpis}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def payload(document: dict[str, Any], signer: str, signed_at: str) -> dict[str, Any]:
    return {
        "period": document.get("kpis", {}).get("period"),
        "data_sha256": hashlib.sha256(canonical(document)).hexdigest(),
        "signer": signer,
        "signed_at": signed_at,
    }


def payload_bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def load_report(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SignoffError(f"{path}: cannot read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise SignoffError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
    if not isinstance(document, dict):
        raise SignoffError(f"{path}: not a checklist")
    return document


def sign(report: Path, key: Path, signer: str, now: dt.datetime | None = None) -> Path:
    """Sign the report's data with the operator's SSH key; returns the sign-off file."""
    document = load_report(report)
    signed_at = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat()
    data = payload(document, signer, signed_at)
    with tempfile.TemporaryDirectory(prefix="cekat-sign-") as work:
        message = Path(work) / "payload"
        message.write_bytes(payload_bytes(data))
        proc = subprocess.run(
            ["ssh-keygen", "-q", "-Y", "sign", "-f", str(key), "-n", NAMESPACE, str(message)],
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            raise SignoffError(f"ssh-keygen could not sign with {key}: {proc.stderr.strip()}")
        signature = (Path(work) / "payload.sig").read_text(encoding="ascii")
    out = report.with_name(report.name + ".signoff.json")
    out.write_text(json.dumps({**data, "signature": signature}, indent=2) + "\n", encoding="utf-8")
    return out


def allowed_signers_from_inventory(inventory: Path) -> str:
    """The allowed-signers file text of an inventory directory: from the roles model
    (``group_vars/all/access.yml``: every key of every admin and backup operator) when it lists
    people, else from ``group_vars/all/signers.yml`` (``backup_checklist_signers``)."""
    from bangka_ops.access import model  # noqa: PLC0415

    access = inventory / "group_vars" / "all" / "access.yml"
    if access.is_file():
        people = read_yaml(access).get("access_people") or []
        problems = model.errors(people)
        if problems:
            raise SignoffError(f"{access}: {problems[0]}")
        if people:
            signers = model.allowed_signers(people)
            if not signers:
                raise SignoffError(f"{access}: no admin or backup operator has a key")
            return signer_lines(access, signers)
    path = inventory / "group_vars" / "all" / "signers.yml"
    listed = read_yaml(path).get("backup_checklist_signers")
    if not isinstance(listed, list) or not listed:
        raise SignoffError(f"{path}: backup_checklist_signers: a non-empty list is needed")
    return signer_lines(path, listed)


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise SignoffError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise SignoffError(f"{path}: invalid YAML: {exc}") from exc
    return data if isinstance(data, dict) else {}


def signer_lines(path: Path, signers: list[Any]) -> str:
    lines = []
    for index, entry in enumerate(signers):
        if not isinstance(entry, dict) or not entry.get("principal") or not entry.get("key"):
            raise SignoffError(
                f"{path}: backup_checklist_signers[{index}]: needs principal and key"
            )
        lines.append(f'{entry["principal"]} namespaces="{NAMESPACE}" {entry["key"]}')
    return "\n".join(lines) + "\n"


def verify(report: Path, allowed_signers: str) -> dict[str, Any]:
    """Check the sign-off of ``report``; returns who signed and when, or raises SignoffError."""
    return verify_document(
        load_report(report), report.with_name(report.name + ".signoff.json"), allowed_signers
    )


def verify_document(
    document: dict[str, Any], signoff_path: Path, allowed_signers: str
) -> dict[str, Any]:
    """Check a sign-off file against checklist data (e.g. freshly rebuilt for the HTML form)."""
    try:
        signoff = json.loads(signoff_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SignoffError(f"{signoff_path}: no readable sign-off: {exc}") from exc
    signer, signed_at = signoff.get("signer"), signoff.get("signed_at")
    if not isinstance(signer, str) or not isinstance(signed_at, str):
        raise SignoffError(f"{signoff_path}: signer and signed_at are missing")
    expected = payload(document, signer, signed_at)
    if expected["data_sha256"] != signoff.get("data_sha256"):
        raise SignoffError(
            f"{signoff_path}: the checklist data changed after it was signed by {signer} at "
            f"{signed_at}"
        )
    with tempfile.TemporaryDirectory(prefix="cekat-verify-") as work:
        signers = Path(work) / "allowed_signers"
        signers.write_text(allowed_signers, encoding="utf-8")
        signature = Path(work) / "payload.sig"
        signature.write_text(str(signoff.get("signature", "")), encoding="ascii")
        proc = subprocess.run(
            [
                "ssh-keygen",
                "-Y",
                "verify",
                "-f",
                str(signers),
                "-I",
                signer,
                "-n",
                NAMESPACE,
                "-s",
                str(signature),
            ],
            input=payload_bytes(expected),
            capture_output=True,
            check=False,
        )
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).decode(errors="replace").strip()
        raise SignoffError(f"{signoff_path}: signature of {signer} does not verify: {detail}")
    return {"signer": signer, "signed_at": signed_at, "period": expected["period"]}
