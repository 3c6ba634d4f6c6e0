"""TOTP (RFC 6238, the variant Google Authenticator and pam_google_authenticator use: SHA-1,
6 digits, 30-second steps), secrets, enrolment URIs and the PAM module's secret file."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
import urllib.parse

STEP, DIGITS = 30, 6


def new_secret() -> str:
    """A random 160-bit secret, base32 without padding (what authenticator apps take)."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def code(secret: str, at: float | None = None) -> str:
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // STEP)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def uri(secret: str, account: str, issuer: str) -> str:
    label = urllib.parse.quote(f"{issuer}:{account}")
    query = urllib.parse.urlencode(
        {"secret": secret, "issuer": issuer, "digits": DIGITS, "period": STEP}
    )
    return f"otpauth://totp/{label}?{query}"


# The secret file's option lines. RATE_LIMIT (3 tries per 30 s) and DISALLOW_REUSE (a code is
# good once) make pam_google_authenticator keep state in the file: it rewrites it at every try,
# as root, through a 0400 temporary file renamed over it, so it stays root's and read-only.
OPTIONS = ('" TOTP_AUTH', '" WINDOW_SIZE 3', '" RATE_LIMIT 3 30', '" DISALLOW_REUSE')
# Option lines the module itself adds or extends with state, and how many words are settings.
STATE_WORDS = {"RATE_LIMIT": 3, "DISALLOW_REUSE": 1, "TIME_SKEW": 0, "RESETTING_TIME_SKEW": 0}


def pam_file(secret: str) -> str:
    """The file pam_google_authenticator reads: the secret, then the option lines."""
    return "\n".join((secret, *OPTIONS)) + "\n"


def _settings(line: str) -> str | None:
    """An option line without the state PAM keeps in it (None: a state-only line)."""
    words = line[2:].split()
    if not line.startswith('" ') or not words:
        return line
    keep = STATE_WORDS.get(words[0], len(words))
    return '" ' + " ".join(words[:keep]) if keep else None


def pam_file_is_current(current: str, secret: str) -> bool:
    """Whether the installed file *current* already holds *secret* and our options, whatever
    state PAM has written into it since (used codes, recent tries, clock skew): then the role
    leaves it alone, so a run neither reports a change nor wipes that state."""
    lines = current.splitlines()
    if not lines or lines[0] != secret.strip():
        return False
    settings = [s for s in map(_settings, lines[1:]) if s is not None]
    return sorted(settings) == sorted(OPTIONS)
