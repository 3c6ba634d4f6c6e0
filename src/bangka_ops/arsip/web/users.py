"""Who may log in to the archive's search page: ``pengguna.json``, written by role ``arsip``
from the roles model (``access.yml``: people with ``archive_viewer``, ``archive_officer`` or
``admin``) and each person's password hash from the vault (``cekat arsip sandi`` makes one).

::

    {"versi": 1, "pengguna": [{"id": "siti.aminah", "nama": "Siti Aminah",
      "peran": ["archive_officer"], "izin": "terbatas", "sandi": "scrypt$15$8$1$<salt>$<hash>"}]}

Every person needs one of the archive roles. ``izin`` is the highest security class the person
may see (``biasa`` < ``terbatas`` < ``rahasia``). The file is read again when it changes, so
removing a person or lowering a clearance takes effect at the next request of every open
session.

Passwords: scrypt (RFC 7914) with N = 2^15, r = 8, p = 1 (32 MiB and about 0.1 s per check
here); the parameters are kept in each hash, so they can be raised without breaking old ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bangka_ops.access.model import ARCHIVE_ROLES, CLEARANCES, clearance

LOG_N, R, P = 15, 8, 1
MAX_MEMORY = 64 * 1024**2
HASH = re.compile(
    r"^scrypt\$(1[0-9]|20)\$([1-9][0-9]?)\$([1-9])\$([A-Za-z0-9+/=]{16,64})\$([A-Za-z0-9+/=]{40,90})$"
)
ID = re.compile(r"^[a-z][a-z0-9._-]{0,31}$")
MIN_PASSWORD = 10


class UsersError(ValueError):
    """The users file cannot be used (named with the field)."""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UsersError(
            f"sandi minimal {MIN_PASSWORD} karakter / at least {MIN_PASSWORD} characters"
        )
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=2**LOG_N, r=R, p=P, maxmem=MAX_MEMORY, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${LOG_N}${R}${P}${b64(salt).decode()}${b64(digest).decode()}"


def decode(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    """A hash's parameters, salt and digest; None when it is not one this module can check
    (bad base64, or a cost beyond :data:`MAX_MEMORY` times 16)."""
    match = HASH.match(stored)
    if match is None:
        return None
    log_n, r, p = (int(match.group(i)) for i in (1, 2, 3))
    if 128 * r * 2**log_n * p > MAX_MEMORY * 16:
        return None
    try:
        salt = base64.b64decode(match.group(4), validate=True)
        expected = base64.b64decode(match.group(5), validate=True)
    except ValueError:
        return None
    if len(salt) < 8 or len(expected) < 16:
        return None
    return log_n, r, p, salt, expected


def check_password(password: str, stored: str) -> bool:
    decoded = decode(stored)
    if decoded is None:
        return False
    log_n, r, p, salt, expected = decoded
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=2**log_n, r=r, p=p, maxmem=MAX_MEMORY * 16,
        dklen=len(expected),
    )  # fmt: skip
    return hmac.compare_digest(digest, expected)


# Checked when the account does not exist, so a wrong name costs as long as a wrong password.
DUMMY = (
    "scrypt$15$8$1$"
    + base64.b64encode(b"0" * 16).decode()
    + "$"
    + base64.b64encode(b"0" * 32).decode()
)


@dataclass(frozen=True)
class User:
    id: str
    name: str
    roles: tuple[str, ...]
    clearance: str
    password: str

    @property
    def classes(self) -> tuple[str, ...]:
        """The security classes this person may see."""
        return CLEARANCES[: CLEARANCES.index(self.clearance) + 1]

    @property
    def officer(self) -> bool:
        return "archive_officer" in self.roles or "admin" in self.roles


def parse(data: Any, where: str) -> dict[str, User]:
    if not isinstance(data, dict) or data.get("versi") != 1:
        raise UsersError(f"{where}: versi: 1 expected")
    people = data.get("pengguna")
    if not isinstance(people, list):
        raise UsersError(f"{where}: pengguna: a list")
    users: dict[str, User] = {}
    for i, entry in enumerate(people):
        at = f"{where}: pengguna[{i}]"
        if not isinstance(entry, dict):
            raise UsersError(f"{at}: an object")
        unknown = set(entry) - {"id", "nama", "peran", "izin", "sandi"}
        if unknown:
            raise UsersError(f"{at}: unknown field {sorted(unknown)[0]}")
        uid = entry.get("id")
        if not isinstance(uid, str) or not ID.match(uid):
            raise UsersError(f"{at}.id: not an account name")
        if uid in users:
            raise UsersError(f"{at}.id: {uid} appears twice")
        if entry.get("izin") not in CLEARANCES:
            raise UsersError(f"{at}.izin: one of {', '.join(CLEARANCES)}")
        if not isinstance(entry.get("sandi"), str) or decode(entry["sandi"]) is None:
            raise UsersError(f"{at}.sandi: not a password hash (cekat arsip sandi)")
        roles = entry.get("peran", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise UsersError(f"{at}.peran: a list of roles")
        if not set(roles) & set(ARCHIVE_ROLES):
            raise UsersError(f"{at}.peran: none of {'/'.join(ARCHIVE_ROLES)}: no archive access")
        name = entry.get("nama", uid)
        if not isinstance(name, str) or len(name) > 200:
            raise UsersError(f"{at}.nama: a name")
        users[uid] = User(uid, name, tuple(roles), entry["izin"], entry["sandi"])
    return users


class Users:
    """The users file, read again when it changes (its size, time or inode)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._users: dict[str, User] = {}

    def current(self) -> dict[str, User]:
        """The people as the file says now. A file broken while the page runs keeps the last
        good list (said on standard error, so in the service's journal); at start it stops
        the start."""
        info = os.stat(self.path)
        stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
        with self._lock:
            if stamp != self._stamp:
                try:
                    self._users = self.read()
                except UsersError as exc:
                    if self._stamp is None:
                        raise
                    print(f"arsip web: {exc}; the previous list stays in use", file=sys.stderr)
                self._stamp = stamp
            return self._users

    def read(self) -> dict[str, User]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise UsersError(f"{self.path}: not JSON ({exc})") from None
        except RecursionError:
            raise UsersError(f"{self.path}: not JSON (nested too deeply)") from None
        return parse(data, str(self.path))

    def get(self, uid: str) -> User | None:
        return self.current().get(uid)

    def authenticate(self, uid: str, password: str) -> User | None:
        user = self.get(uid)
        ok = check_password(password, user.password if user else DUMMY)
        return user if ok and user is not None else None


def from_access(
    people: list[dict[str, Any]], passwords: dict[str, str]
) -> tuple[dict[str, Any], list[str], list[str]]:
    """The users file from the roles model (``access_people``) and the vault's password hashes
    (role ``arsip``): everyone with an archive role and a usable hash, with their clearance.
    Also the people with an archive role but no hash yet (they cannot log in; the role names
    them), and the problems: a person whose id or name is unusable, two entries with the same
    id, a hash that is not one, a hash for nobody with an archive role. A problem never stops the
    file: whoever it concerns is left out of it (removing a person from the model always takes
    their login away), and the role names the problems after writing the file."""
    entries: list[dict[str, Any]] = []
    missing: list[str] = []
    problems: list[str] = []
    known: set[str] = set()
    doubled: set[str] = set()
    for n, person in enumerate(people or []):
        level = clearance(person)
        if level is None:
            continue
        uid = person.get("id")
        if not isinstance(uid, str) or not ID.match(uid):
            problems.append(f"access_people[{n}].id: {uid!r} is not an account name")
            continue
        if uid in known:  # which entry is meant is unknown: none of them logs in
            problems.append(f"access_people[{n}].id: {uid} appears twice (both left out)")
            doubled.add(uid)
            continue
        known.add(uid)
        name = person.get("name", uid)
        if not isinstance(name, str) or len(name) > 200:
            problems.append(f"access_people[{n}].name ({uid}): a name of at most 200 characters")
            continue
        stored = (passwords or {}).get(uid)
        if stored is None:
            missing.append(uid)
            continue
        if not isinstance(stored, str) or decode(stored.strip()) is None:
            problems.append(f"arsip_web_passwords.{uid}: not a password hash (cekat arsip sandi)")
            continue
        roles = [r for r in person.get("roles", []) if r in ARCHIVE_ROLES]
        entries.append(
            {"id": uid, "nama": name, "peran": roles, "izin": level, "sandi": stored.strip()}
        )
    problems.extend(
        f"arsip_web_passwords.{stray}: nobody with an archive role "
        f"({'/'.join(ARCHIVE_ROLES)}) in access_people has this id (left out)"
        for stray in sorted(set(passwords or {}) - known)
    )
    entries = [e for e in entries if e["id"] not in doubled]
    missing = [uid for uid in missing if uid not in doubled]
    data = {"versi": 1, "pengguna": entries}
    parse(data, "arsip_web_passwords")  # what the page will accept, checked before it is written
    return data, missing, problems
