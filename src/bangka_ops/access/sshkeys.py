"""OpenSSH public keys that may reach an ``authorized_keys`` file.

Every key the roles write — the repository server's client, admin and restore keys
(role borg_server), the people's keys and the automation key (role admin_access) — must be exactly
one plain key line: a known type, a base64 body that decodes to a key of that same type, an
optional comment without control characters, and **no options**: the roles write the options
(``restrict``, ``command=``, ``from=``) themselves, and a key that brings its own, or a line break
followed by a second line, would give its holder a different or an unrestricted login.

``problem(key)`` says what is wrong with one key (``None`` when nothing is); the roles call it
through their filter plugins before anything is written, and name the host and the key's source.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Callable
from typing import Any

KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
LINE = re.compile(r"^(?P<type>\S+) +(?P<body>\S+)(?: +(?P<comment>.*))?$")
# Options a key line may carry in front of the key (sshd(8), AUTHORIZED_KEYS FILE FORMAT).
OPTION = re.compile(
    r"^(agent-forwarding|cert-authority|command=|environment=|expiry-time=|from=|no-|permit|"
    r"port-forwarding|principals=|pty|restrict|tunnel=|user-rc|verify-required|x11-forwarding)",
    re.IGNORECASE,
)
SHOWN = 40


class _Blob:
    """Reads the SSH wire format (RFC 4251): uint32 length-prefixed strings."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def string(self) -> bytes:
        if self.pos + 4 > len(self.data):
            raise ValueError("ends early")
        size = int.from_bytes(self.data[self.pos : self.pos + 4], "big")
        start, self.pos = self.pos + 4, self.pos + 4 + size
        if self.pos > len(self.data):
            raise ValueError("ends early")
        return self.data[start : self.pos]

    def done(self) -> None:
        if self.pos != len(self.data):
            raise ValueError(f"{len(self.data) - self.pos} bytes too many")


def _ed25519(blob: _Blob, *, sk: bool = False) -> None:
    if len(blob.string()) != 32:
        raise ValueError("an Ed25519 key is 32 bytes")
    if sk:
        blob.string()  # the application, "ssh:" by default


def _rsa(blob: _Blob) -> None:
    exponent, modulus = blob.string(), blob.string()
    if not exponent or not modulus:
        raise ValueError("no exponent or modulus")


def _ecdsa(curve: str, *, sk: bool = False) -> Callable[[_Blob], None]:
    def check(blob: _Blob) -> None:
        if blob.string() != curve.encode():
            raise ValueError(f"not on curve {curve}")
        point = blob.string()
        if not point or point[0] != 4:
            raise ValueError("not an uncompressed curve point")
        if sk:
            blob.string()

    return check


BODIES: dict[str, Callable[[_Blob], None]] = {
    "ssh-ed25519": _ed25519,
    "sk-ssh-ed25519@openssh.com": lambda blob: _ed25519(blob, sk=True),
    "ssh-rsa": _rsa,
    "ecdsa-sha2-nistp256": _ecdsa("nistp256"),
    "ecdsa-sha2-nistp384": _ecdsa("nistp384"),
    "ecdsa-sha2-nistp521": _ecdsa("nistp521"),
    "sk-ecdsa-sha2-nistp256@openssh.com": _ecdsa("nistp256", sk=True),
}


def _shown(text: str) -> str:
    return repr(text if len(text) <= SHOWN else text[:SHOWN] + "...")


def _control(text: str) -> str | None:
    for char in text:
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            return f"U+{ord(char):04X}"
    return None


def problem(key: Any) -> str | None:
    """What keeps *key* from being one plain OpenSSH public key line, or ``None``."""
    if not isinstance(key, str):
        return f"not a public key line but {type(key).__name__}"
    match = LINE.match(key)
    reason = _line_problem(key)
    if reason or match is None:
        return reason
    return _body_problem(match["type"], match["body"])


def _line_problem(key: str) -> str | None:
    if "\n" in key or "\r" in key:
        return (
            "more than one line: a line break inside the key would make what follows it a "
            "line of its own in authorized_keys"
        )
    control = _control(key)
    if control:
        return f"a control character ({control}) in the key line"
    match = LINE.match(key)
    if not match:
        return "not a public key line (type, base64 body, optional comment)"
    declared = match["type"]
    if declared in KEY_TYPES:
        return None
    if OPTION.match(declared) or any(word in KEY_TYPES for word in key.split(" ")[1:]):
        return (
            f"options in front of the key ({_shown(declared)}): not allowed, the role "
            "writes the key's options itself"
        )
    return f"unknown key type {_shown(declared)} (known: {', '.join(KEY_TYPES)})"


def _decoded(body: str) -> bytes | None:
    """The canonical base64 *body* decoded, or None."""
    try:
        data = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if base64.b64encode(data).decode() == body else None


def _body_problem(declared: str, body: str) -> str | None:
    data = _decoded(body)
    if data is None:
        return f"the key body is not base64 ({_shown(body)})"
    blob = _Blob(data)
    try:
        embedded = blob.string().decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return "the key body is not an SSH public key"
    if embedded != declared:
        return f"the line says {declared} but the key body is {_shown(embedded)}"
    try:
        BODIES[declared](blob)
        blob.done()
    except ValueError as exc:
        return f"the {declared} key body is truncated or malformed ({exc})"
    return None
