"""``cekat totp-new``: a new TOTP secret for an admin of the roles model, kept vault-encrypted in
the inventory (``<inventory>/totp/<id>.vault``, read by role admin_access through Ansible's file
lookup, which decrypts it) and handed to the admin once, as a QR code on this terminal.

Shown once: a second run for the same admin is refused; ``--rotate`` makes a new secret (the old
one stops working when playbooks/access.yml next runs).

Who can read a seed: whoever holds the password it is encrypted with. By default that is the
inventory's vault password (``--vault-password-file`` or ``$ANSIBLE_VAULT_PASSWORD_FILE``), so
everybody who can run the playbooks. With a vault id of its own (``<label>@prompt`` or
``<label>@<file>``, as ``ansible-vault --vault-id``), e.g. the admin's id, a seed is encrypted
with that password instead and labelled with it (``$ANSIBLE_VAULT;1.2;AES256;<label>``): the
inventory's password no longer opens it, and playbooks/access.yml needs that vault id too
(``--vault-id andi.pratama@prompt``). The vault id comes from ``vault_id`` or, when neither it nor
a password file is given, from the entry labelled with the admin's id in
``$ANSIBLE_VAULT_IDENTITY_LIST`` (Ansible's own list of vault ids, which ansible-playbook reads
too)."""

from __future__ import annotations

import getpass
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from bangka_ops.access import model, totp

ISSUER = "Kabupaten Bangka"
VAULT_ENV = "ANSIBLE_VAULT_PASSWORD_FILE"
VAULT_IDS_ENV = "ANSIBLE_VAULT_IDENTITY_LIST"
DEFAULT_LABEL = "default"


class EnrolError(Exception):
    pass


def admin_of(inventory: Path, person_id: str) -> dict[str, Any]:
    path = inventory / "group_vars" / "all" / "access.yml"
    try:
        people = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("access_people") or []
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        raise EnrolError(f"{path}: cannot read the roles model: {exc}") from None
    except RecursionError:
        raise EnrolError(f"{path}: cannot read the roles model: nested too deeply") from None
    problems = model.errors(people)
    if problems:
        raise EnrolError(f"{path}: {problems[0]}")
    person = next((p for p in people if p.get("id") == person_id), None)
    if person is None:
        raise EnrolError(f"{path}: nobody with id {person_id!r}")
    if "admin" not in person.get("roles", []) or person.get("second_factor", "totp") != "totp":
        raise EnrolError(f"{path}: {person_id} is not an admin with second_factor totp")
    return dict(person)


@dataclass(frozen=True)
class VaultKey:
    """The password a seed is encrypted with, and its vault id label."""

    label: str
    password: bytes


def _password_from(source: Path, label: str | None = None) -> bytes:
    """A vault password file read as ansible-vault reads it: an executable file is run (a
    password script or client script) and its output taken, any other file read."""
    from ansible.errors import AnsibleError  # noqa: PLC0415 (only when a password is needed)
    from ansible.parsing.dataloader import DataLoader  # noqa: PLC0415
    from ansible.parsing.vault import get_file_vault_secret  # noqa: PLC0415

    if not source.is_file():
        raise EnrolError(f"{source}: no such vault password file")
    try:
        secret = get_file_vault_secret(filename=str(source), vault_id=label, loader=DataLoader())
        secret.load()
    except AnsibleError as exc:
        raise EnrolError(f"{source}: {str(exc).splitlines()[0]}") from None
    password = secret.bytes
    if not password:
        raise EnrolError(f"{source}: empty vault password")
    return bytes(password)


def vault_password(password_file: Path | None) -> bytes:
    source = password_file or (Path(os.environ[VAULT_ENV]) if os.environ.get(VAULT_ENV) else None)
    if source is None:
        raise EnrolError(
            f"the inventory's vault password is needed: --vault-password-file or ${VAULT_ENV}"
        )
    return _password_from(source)


def parse_vault_id(vault_id: str, ask: Callable[[str], str] = getpass.getpass) -> VaultKey:
    """``<label>@prompt`` (asked twice) or ``<label>@<password file>``, as ansible-vault takes."""
    label, at, source = vault_id.partition("@")
    if not at:
        label, source = DEFAULT_LABEL, vault_id
    if not label or not source or any(c in label for c in ";\n\r "):
        raise EnrolError(f"vault id {vault_id!r}: expected <label>@prompt or <label>@<file>")
    if source != "prompt":
        return VaultKey(label, _password_from(Path(source), label))
    password = ask(f"New vault password ({label}): ")
    if not password:
        raise EnrolError(f"vault id {label}: empty vault password")
    if ask(f"Confirm new vault password ({label}): ") != password:
        raise EnrolError(f"vault id {label}: the passwords do not match")
    return VaultKey(label, password.encode())


def vault_key(
    person_id: str,
    *,
    vault_id: str | None = None,
    password_file: Path | None = None,
    ask: Callable[[str], str] = getpass.getpass,
) -> VaultKey:
    """The key a new seed is encrypted with: the vault id, else the password file, else the
    admin's entry in $ANSIBLE_VAULT_IDENTITY_LIST, else $ANSIBLE_VAULT_PASSWORD_FILE."""
    if vault_id:
        return parse_vault_id(vault_id, ask)
    if password_file is None:
        for entry in os.environ.get(VAULT_IDS_ENV, "").split(","):
            if entry.strip().partition("@")[0] == person_id and "@" in entry:
                return parse_vault_id(entry.strip(), ask)
    return VaultKey(DEFAULT_LABEL, vault_password(password_file))


def encrypt(secret: str, password: bytes, label: str = DEFAULT_LABEL) -> bytes:
    from ansible.parsing.vault import VaultLib, VaultSecret  # noqa: PLC0415

    vault = VaultLib([(label, VaultSecret(password))])
    encrypted: bytes = vault.encrypt(
        secret.encode(), vault_id=None if label == DEFAULT_LABEL else label
    )
    return encrypted


def decrypt(data: bytes, password: bytes, label: str = DEFAULT_LABEL) -> str:
    from ansible.parsing.vault import VaultLib, VaultSecret  # noqa: PLC0415

    vault = VaultLib([(label, VaultSecret(password))])
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
    vault_id: str | None = None,
    rotate: bool = False,
    out: TextIO = sys.stdout,
    ask: Callable[[str], str] = getpass.getpass,
) -> Path:
    person = admin_of(inventory, person_id)
    target = inventory / "totp" / f"{person_id}.vault"
    if target.exists() and not rotate:
        raise EnrolError(
            f"{target} exists: {person_id} is enrolled (the QR code is shown only once); "
            "--rotate makes a new secret"
        )
    key = vault_key(person_id, vault_id=vault_id, password_file=password_file, ask=ask)
    secret = totp.new_secret()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".totp-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(encrypt(secret, key.password, key.label))
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)
    show(secret, person, out)
    opened_by = (
        "the inventory's vault password"
        if key.label == DEFAULT_LABEL
        else f"vault id {key.label} only: give ansible-playbook --vault-id {key.label}@prompt"
    )
    print(
        f"tersimpan / kept (vault-encrypted, {opened_by}): {target}; then run playbooks/access.yml",
        file=out,
    )
    return target
