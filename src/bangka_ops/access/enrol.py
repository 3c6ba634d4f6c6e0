"""``cekat totp-new``: a new TOTP secret for an admin of the roles model, kept vault-encrypted in
the inventory (``<inventory>/totp/<id>.vault``, read by role admin_access through Ansible's file
lookup, which decrypts it) and handed to the admin once, as a QR code on this terminal.

Shown once: a second run for the same admin is refused; ``--rotate`` makes a new secret (the old
one stops working when playbooks/access.yml next runs)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

import yaml

from bangka_ops.access import model, totp

ISSUER = "Kabupaten Bangka"
VAULT_ENV = "ANSIBLE_VAULT_PASSWORD_FILE"


class EnrolError(Exception):
    pass


def admin_of(inventory: Path, person_id: str) -> dict[str, Any]:
    path = inventory / "group_vars" / "all" / "access.yml"
    try:
        people = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("access_people") or []
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        raise EnrolError(f"{path}: cannot read the roles model: {exc}") from None
    problems = model.errors(people)
    if problems:
        raise EnrolError(f"{path}: {problems[0]}")
    person = next((p for p in people if p.get("id") == person_id), None)
    if person is None:
        raise EnrolError(f"{path}: nobody with id {person_id!r}")
    if "admin" not in person.get("roles", []) or person.get("second_factor", "totp") != "totp":
        raise EnrolError(f"{path}: {person_id} is not an admin with second_factor totp")
    return dict(person)


def vault_password(password_file: Path | None) -> bytes:
    source = password_file or (Path(os.environ[VAULT_ENV]) if os.environ.get(VAULT_ENV) else None)
    if source is None:
        raise EnrolError(
            f"the inventory's vault password is needed: --vault-password-file or ${VAULT_ENV}"
        )
    try:
        password = source.read_bytes().strip()
    except OSError as exc:
        raise EnrolError(f"{source}: {exc.strerror}") from None
    if not password:
        raise EnrolError(f"{source}: empty vault password")
    return password


def encrypt(secret: str, password: bytes) -> bytes:
    from ansible.parsing.vault import VaultLib, VaultSecret  # noqa: PLC0415

    vault = VaultLib([("default", VaultSecret(password))])
    encrypted: bytes = vault.encrypt(secret.encode())
    return encrypted


def decrypt(data: bytes, password: bytes) -> str:
    from ansible.parsing.vault import VaultLib, VaultSecret  # noqa: PLC0415

    vault = VaultLib([("default", VaultSecret(password))])
    return bytes(vault.decrypt(data)).decode()


def show(secret: str, person: dict[str, Any], out: TextIO) -> None:
    import qrcode  # noqa: PLC0415

    link = totp.uri(secret, person["email"], ISSUER)
    qr = qrcode.QRCode(border=2)
    qr.add_data(link)
    qr.make(fit=True)
    print(
        f"Pindai dengan aplikasi autentikator / scan with an authenticator app ({person['id']}):",
        file=out,
    )
    qr.print_ascii(out=out, invert=True)
    print(f"Atau masukkan kunci ini / or enter this key: {secret}", file=out)
    print("Kode ini hanya ditampilkan sekali / shown only this once.", file=out)


def new(
    inventory: Path,
    person_id: str,
    *,
    password_file: Path | None = None,
    rotate: bool = False,
    out: TextIO = sys.stdout,
) -> Path:
    person = admin_of(inventory, person_id)
    target = inventory / "totp" / f"{person_id}.vault"
    if target.exists() and not rotate:
        raise EnrolError(
            f"{target} exists: {person_id} is enrolled (the QR code is shown only once); "
            "--rotate makes a new secret"
        )
    password = vault_password(password_file)
    secret = totp.new_secret()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".totp-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(encrypt(secret, password))
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)
    show(secret, person, out)
    print(f"tersimpan / kept (vault-encrypted): {target}; then run playbooks/access.yml", file=out)
    return target
