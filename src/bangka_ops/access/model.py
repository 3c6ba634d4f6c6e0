"""The roles model: ``access_people`` in ``group_vars/all/access.yml`` of an inventory.

Each person::

    - id: andi.pratama                 # the account name on the servers
      name: Andi Pratama
      email: andi.pratama@bangka.go.id
      roles: [admin]                   # admin, backup_operator, protocol_coordinator,
                                       # protocol_operator, viewer, archive_viewer,
                                       # archive_officer
      clearance: terbatas              # the archive's security classes this person may see:
                                       # biasa, terbatas or rahasia (default: by role)
      ssh_keys: ["ssh-ed25519 AAAA... andi@laptop"]
      second_factor: totp              # admins: totp (default) or fido2 (sk- keys only)
      hosts: [all]                     # inventory groups or hosts with an account (default all)

From it come the server accounts (admins and backup operators only), the allowed signers of the
backup checklist, and the people allowed to write to the agenda's calendars. The checks here
name the person and the field of every problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from bangka_ops.access import sshkeys

ROLES = (
    "admin",
    "backup_operator",
    "protocol_coordinator",
    "protocol_operator",
    "viewer",
    "archive_viewer",
    "archive_officer",
)
# The archive's search page: who may log in, and the security classes each may see. A class
# includes the ones before it; ``rahasia`` is never a role's default, only a person's
# ``clearance``.
ARCHIVE_ROLES = ("archive_viewer", "archive_officer", "admin")
CLEARANCES = ("biasa", "terbatas", "rahasia")
ROLE_CLEARANCE = {"archive_viewer": "biasa", "admin": "biasa", "archive_officer": "terbatas"}
ACCOUNT_ROLES = ("admin", "backup_operator")
SIGNER_ROLES = ("admin", "backup_operator")
CALENDAR_WRITER_ROLES = ("admin", "protocol_coordinator", "protocol_operator")
FACTORS = ("totp", "fido2")
ACCOUNT = re.compile(r"^[a-z][a-z0-9._-]{0,31}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
RESERVED = {"root", "borg", "protocloud", "daemon", "bin", "sys", "nobody", "sshd"}


def is_sk(key: str) -> bool:
    parts = key.split(maxsplit=1)
    return bool(parts) and parts[0].startswith("sk-")


def errors(people: Any, reserved: Iterable[str] = ()) -> list[str]:
    """Every problem of the model, as messages naming the person and the field."""
    if people in (None, []):
        return []
    if not isinstance(people, list):
        return ["access_people: must be a list of people"]
    problems: list[str] = []
    seen: dict[str, int] = {}
    taken = RESERVED | set(reserved)
    for index, person in enumerate(people):
        where = f"access_people[{index}]"
        if not isinstance(person, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        pid = person.get("id")
        if not isinstance(pid, str) or not ACCOUNT.match(pid):
            problems.append(f"{where}.id: {pid!r} is not an account name (a-z, 0-9, . _ -)")
            continue
        where = f"access_people[{index}] ({pid})"
        if pid in taken:
            problems.append(f"{where}.id: {pid!r} is a system account")
        if pid in seen:
            problems.append(f"{where}.id: also used by access_people[{seen[pid]}]")
        seen[pid] = index
        problems += person_errors(where, person)
    return problems


def person_errors(where: str, person: dict[str, Any]) -> list[str]:
    problems = [
        f"{where}.{key}: unknown field"
        for key in sorted(
            set(person)
            - {"id", "name", "email", "roles", "ssh_keys", "second_factor", "hosts", "clearance"}
        )
    ]
    if not isinstance(person.get("email"), str) or not EMAIL.match(person["email"]):
        problems.append(f"{where}.email: an e-mail address is required")
    roles = person.get("roles")
    if not isinstance(roles, list) or not roles:
        problems.append(f"{where}.roles: at least one of {', '.join(ROLES)}")
        roles = []
    problems += [
        f"{where}.roles: unknown role {role!r} (known: {', '.join(ROLES)})"
        for role in roles
        if role not in ROLES
    ]
    keys = person.get("ssh_keys", [])
    if not isinstance(keys, list):
        problems.append(f"{where}.ssh_keys: must be a list of public keys")
        keys = []
    problems += key_errors(where, keys)
    if set(roles) & set(ACCOUNT_ROLES) and not keys:
        problems.append(f"{where}.ssh_keys: an account ({'/'.join(ACCOUNT_ROLES)}) needs a key")
    factor = person.get("second_factor", "totp")
    if factor not in FACTORS:
        problems.append(f"{where}.second_factor: totp or fido2, not {factor!r}")
    elif "admin" in roles and factor == "fido2":
        plain = [k for k in keys if isinstance(k, str) and not is_sk(k)]
        if plain:
            problems.append(
                f"{where}.ssh_keys: second_factor fido2 accepts only sk- (FIDO2) keys; "
                f"{len(plain)} other key(s) listed"
            )
    if "clearance" in person and person["clearance"] not in CLEARANCES:
        problems.append(f"{where}.clearance: one of {', '.join(CLEARANCES)}")
    elif "clearance" in person and not set(roles) & set(ARCHIVE_ROLES):
        problems.append(f"{where}.clearance: only for {'/'.join(ARCHIVE_ROLES)}")
    hosts = person.get("hosts", ["all"])
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        problems.append(f"{where}.hosts: a list of inventory groups or hosts")
    return problems


def key_errors(where: str, keys: list[Any]) -> list[str]:
    """Each key must be one plain OpenSSH public key line (:func:`sshkeys.problem`): the same
    check as every other key that reaches an authorized_keys or allowed_signers file."""
    problems = []
    for k, key in enumerate(keys):
        if isinstance(key, str) and "PRIVATE KEY" in key:
            reason: str | None = "a private key, never put it here"
        else:
            reason = sshkeys.problem(key)
        if reason:
            problems.append(f"{where}.ssh_keys[{k}]: {reason}")
    return problems


def accounts(
    people: list[dict[str, Any]], host: str, groups: Iterable[str]
) -> list[dict[str, Any]]:
    """The accounts this host gets: people with an account role whose ``hosts`` include it."""
    here = {host, "all", *groups}
    out = []
    for person in people or []:
        roles = set(person.get("roles", []))
        if not roles & set(ACCOUNT_ROLES) or not here & set(person.get("hosts", ["all"])):
            continue
        admin = "admin" in roles
        out.append(
            {
                "id": person["id"],
                "name": person.get("name", person["id"]),
                "email": person["email"],
                "ssh_keys": list(person.get("ssh_keys", [])),
                "admin": admin,
                "operator": "backup_operator" in roles,
                "second_factor": person.get("second_factor", "totp") if admin else "none",
            }
        )
    return sorted(out, key=lambda a: a["id"])


def allowed_signers(people: list[dict[str, Any]]) -> list[dict[str, str]]:
    """``backup_checklist_signers``: every key of every admin and backup operator."""
    return [
        {"principal": person["email"], "key": key}
        for person in people or []
        if set(person.get("roles", [])) & set(SIGNER_ROLES)
        for key in person.get("ssh_keys", [])
    ]


def emails_with(people: list[dict[str, Any]], roles: Iterable[str]) -> list[str]:
    wanted = set(roles)
    return sorted(
        {p["email"] for p in people or [] if wanted & set(p.get("roles", [])) and p.get("email")}
    )


def clearance(person: dict[str, Any]) -> str | None:
    """The archive classes a person may see, as the highest one (None: no archive access)."""
    roles = [r for r in person.get("roles", []) if r in ROLE_CLEARANCE]
    if not roles:
        return None
    if "clearance" in person:
        return str(person["clearance"])
    return max((ROLE_CLEARANCE[r] for r in roles), key=CLEARANCES.index)
