"""Operator sign-off of a checklist with an SSH key (``ssh-keygen -Y sign`` / ``-Y verify``).

What is signed is the checklist *data*, never its HTML: the period, every row and the KPIs of a
``cekat report --format json`` document, serialised canonically (sorted keys, no whitespace,
UTF-8) and hashed with SHA-256, together with the signer's name and the signing time. The
sign-off file (``<report>.signoff.json``) holds that payload and the SSH signature; anyone can
check it against the allowed-signers list kept in the inventory. Changing one byte of the data
after signing changes the hash, and verification fails; so does any top-level field besides
the signed ones and the two constants (see :data:`TOP_LEVEL`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

NAMESPACE = "bangka-ops-backup-checklist@bangka.go.id"
# The documents an operator signs, each kind in its own SSH signature namespace, so a signature
# of one kind can never pass as one of another (the same signers may sign both).
DRILL_NAMESPACE = "bangka-ops-recovery-drill@bangka.go.id"
NAMESPACES = {"backup_checklist": NAMESPACE, "recovery_drill": DRILL_NAMESPACE}
# Facts of the moment a report was made, not of the checklist: left out of what is signed.
UNSIGNED_KPI_KEYS = ("generated",)
# The whole top level of a checklist (``cekat report --format json`` writes exactly these):
# ``rows`` and ``kpis`` are signed, ``schema_version`` and ``kind`` must have these values, and
# a document with any other top-level field is refused, by sign and by verify alike. Refusing
# rather than signing every field: a field added after signing (a note saying "disetujui", a
# second table) can never pass as signed, while the sign-offs already made, whose hash covers
# rows and KPIs, stay valid; a new field in a future format must be a decision about what is
# signed, not something a signature covers by accident.
SIGNED_FIELDS = ("rows", "kpis")
FIXED_FIELDS: dict[str, Any] = {"schema_version": 1, "kind": "backup_checklist"}
TOP_LEVEL = (*FIXED_FIELDS, *SIGNED_FIELDS)


class SignoffError(Exception):
    """Signing or verification could not be done, or failed; the message says why."""


def check_document(document: dict[str, Any]) -> None:
    """A checklist's (or a recovery drill report's) top level as :data:`TOP_LEVEL` says, or
    SignoffError saying what is not."""
    if document.get("kind") not in NAMESPACES:
        raise SignoffError(
            "not a checklist (cekat report --format json) or a recovery drill report "
            "(cekat drill report)"
        )
    unknown = sorted(set(document) - set(TOP_LEVEL))
    if unknown:
        raise SignoffError(
            f"top-level field(s) {', '.join(map(repr, unknown))} are not part of a checklist "
            f"and would not be covered by the signature (expected: {', '.join(TOP_LEVEL)})"
        )
    if document.get("schema_version") != FIXED_FIELDS["schema_version"]:
        raise SignoffError(f"schema_version {document.get('schema_version')!r}: expected 1")
    if not isinstance(document.get("rows"), list) or not isinstance(document.get("kpis"), dict):
        raise SignoffError("not a checklist: rows (a list) and kpis (an object) are needed")


def canonical_sha256(rows: Iterable[dict[str, Any]], kpis: dict[str, Any]) -> str:
    """SHA-256 of the signed data's canonical JSON (:func:`serialised` of ``{"rows": rows,
    "kpis": kpis}`` without the unsigned KPIs), made one row at a time: the HTML form streams a
    month of rows from disk and never holds them all. (Canonical JSON sorts the keys, so
    ``kpis`` comes before ``rows``.)"""
    digest = hashlib.sha256()
    signed = {k: v for k, v in kpis.items() if k not in UNSIGNED_KPI_KEYS}
    digest.update(b'{"kpis":' + serialised(signed) + b',"rows":[')
    first = True
    for row in rows:
        digest.update(serialised(row) if first else b"," + serialised(row))
        first = False
    digest.update(b"]}")
    return digest.hexdigest()


def payload(document: dict[str, Any], signer: str, signed_at: str) -> dict[str, Any]:
    check_document(document)
    return payload_of(document["rows"], document["kpis"], signer, signed_at)


def payload_of(
    rows: Iterable[dict[str, Any]], kpis: dict[str, Any], signer: str, signed_at: str
) -> dict[str, Any]:
    return {
        "period": kpis.get("period"),
        "data_sha256": canonical_sha256(rows, kpis),
        "signer": signer,
        "signed_at": signed_at,
    }


def payload_bytes(data: dict[str, Any]) -> bytes:
    return serialised(data)


def serialised(data: Any) -> bytes:
    """Canonical JSON. A lone surrogate (possible in a JSON file, never in what cekat writes)
    is kept as its own bytes rather than failing: one text, one serialisation, either way."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "surrogatepass")


def load_report(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SignoffError(f"{path}: cannot read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise SignoffError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
    except RecursionError as exc:
        raise SignoffError(f"{path}: invalid JSON: nested too deeply") from exc
    if not isinstance(document, dict):
        raise SignoffError(f"{path}: not a checklist")
    try:
        check_document(document)
    except SignoffError as exc:
        raise SignoffError(f"{path}: {exc}") from None
    return document


def sign(report: Path, key: Path, signer: str, now: dt.datetime | None = None) -> Path:
    """Sign the report's data with the operator's SSH key; returns the sign-off file."""
    document = load_report(report)
    signed_at = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat()
    data = payload(document, signer, signed_at)
    namespace = NAMESPACES[document["kind"]]
    with tempfile.TemporaryDirectory(prefix="cekat-sign-") as work:
        message = Path(work) / "payload"
        message.write_bytes(payload_bytes(data))
        proc = subprocess.run(
            ["ssh-keygen", "-q", "-Y", "sign", "-f", str(key), "-n", namespace, str(message)],
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


def allowed_signers(listed: Path | None, inventory: Path | None) -> str:
    """The allowed-signers file text: the file given (``--allowed-signers``), else the
    inventory's (:func:`allowed_signers_from_inventory`)."""
    if listed is not None:
        try:
            return listed.read_text(encoding="utf-8")
        except OSError as exc:
            raise SignoffError(f"{listed}: cannot read: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise SignoffError(f"{listed}: not an allowed-signers file (not UTF-8)") from exc
    if inventory is None:
        raise SignoffError("no allowed signers: give --allowed-signers FILE or -i INVENTORY")
    return allowed_signers_from_inventory(inventory)


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
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        raise SignoffError(f"{path}: invalid YAML: {exc}") from exc
    return data if isinstance(data, dict) else {}


def signer_lines(path: Path, signers: list[Any]) -> str:
    lines = []
    for index, entry in enumerate(signers):
        if not isinstance(entry, dict) or not entry.get("principal") or not entry.get("key"):
            raise SignoffError(
                f"{path}: backup_checklist_signers[{index}]: needs principal and key"
            )
        namespaces = ",".join(NAMESPACES.values())
        lines.append(f'{entry["principal"]} namespaces="{namespaces}" {entry["key"]}')
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
    check_document(document)
    return verify_checklist(
        document["rows"],
        document["kpis"],
        signoff_path,
        allowed_signers,
        namespace=NAMESPACES[document["kind"]],
    )


def verify_checklist(
    rows: Iterable[dict[str, Any]],
    kpis: dict[str, Any],
    signoff_path: Path,
    allowed_signers: str,
    *,
    namespace: str = NAMESPACE,
) -> dict[str, Any]:
    """:func:`verify_document` for rows given one at a time (the HTML form's spool)."""
    try:
        signoff = json.loads(signoff_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: not UTF-8, not JSON
        raise SignoffError(f"{signoff_path}: no readable sign-off: {exc}") from exc
    if not isinstance(signoff, dict):
        raise SignoffError(f"{signoff_path}: not a sign-off (a JSON object is expected)")
    signer, signed_at = signoff.get("signer"), signoff.get("signed_at")
    if not isinstance(signer, str) or not isinstance(signed_at, str):
        raise SignoffError(f"{signoff_path}: signer and signed_at are missing")
    if not (signer.isprintable() and signed_at.isprintable()):
        raise SignoffError(f"{signoff_path}: signer and signed_at must be printable text")
    signature_text = signoff.get("signature")
    if not isinstance(signature_text, str) or not signature_text.isascii():
        raise SignoffError(f"{signoff_path}: signature: not an SSH signature")
    expected = payload_of(rows, kpis, signer, signed_at)
    if expected["data_sha256"] != signoff.get("data_sha256"):
        raise SignoffError(
            f"{signoff_path}: the checklist data changed after it was signed by {signer} at "
            f"{signed_at}"
        )
    with tempfile.TemporaryDirectory(prefix="cekat-verify-") as work:
        signers = Path(work) / "allowed_signers"
        signers.write_text(allowed_signers, encoding="utf-8")
        signature = Path(work) / "payload.sig"
        signature.write_text(signature_text, encoding="ascii")
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
                namespace,
                "-s",
                str(signature),
            ],
            input=payload_bytes(expected),
            capture_output=True,
            check=False,
        )
    if proc.returncode != 0:
        output = (proc.stderr or proc.stdout).decode(errors="replace")
        detail = "; ".join(line.strip() for line in output.splitlines() if line.strip())
        raise SignoffError(f"{signoff_path}: signature of {signer} does not verify: {detail}")
    return {"signer": signer, "signed_at": signed_at, "period": expected["period"]}
