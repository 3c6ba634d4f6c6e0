"""One plain OpenSSH public key line, or a reason naming what is wrong (keys made at test time)."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest

from bangka_ops.access import sshkeys


def keygen(tmp_path: Path, kind: str, bits: str = "", comment: str = "uji@bangka") -> str:
    path = tmp_path / f"{kind}{bits}-{comment}"
    argv = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", comment, "-f", str(path)]
    subprocess.run([*argv, *(["-b", bits] if bits else [])], check=True, timeout=60)
    return path.with_suffix(".pub").read_text().strip()


def wire(*parts: bytes) -> str:
    return base64.b64encode(b"".join(len(p).to_bytes(4, "big") + p for p in parts)).decode()


def sk_ed25519() -> str:
    """A FIDO2 Ed25519 public key as ssh-keygen writes it (no hardware here to make one)."""
    kind = b"sk-ssh-ed25519@openssh.com"
    return f"{kind.decode()} {wire(kind, os.urandom(32), b'ssh:')} budi@yubikey"


def sk_ecdsa() -> str:
    kind = b"sk-ecdsa-sha2-nistp256@openssh.com"
    point = b"\x04" + os.urandom(64)
    return f"{kind.decode()} {wire(kind, b'nistp256', point, b'ssh:')} budi@yubikey"


@pytest.fixture(scope="module")
def ed25519(tmp_path_factory: pytest.TempPathFactory) -> str:
    return keygen(tmp_path_factory.mktemp("keys"), "ed25519")


@pytest.mark.parametrize(
    ("kind", "bits"),
    [("ed25519", ""), ("rsa", "3072"), ("ecdsa", "256"), ("ecdsa", "384"), ("ecdsa", "521")],
)
def test_keys_made_by_ssh_keygen_are_accepted(tmp_path: Path, kind: str, bits: str) -> None:
    key = keygen(tmp_path, kind, bits)
    assert sshkeys.problem(key) is None
    assert sshkeys.problem(" ".join(key.split()[:2])) is None  # no comment


def test_fido2_keys_are_accepted() -> None:
    assert sshkeys.problem(sk_ed25519()) is None
    assert sshkeys.problem(sk_ecdsa()) is None


def test_a_comment_may_have_spaces_and_any_printable_text(ed25519: str) -> None:
    assert sshkeys.problem(f'{ed25519} dan laptop kantor (lantai 2) "lama"') is None


def test_a_second_line_after_a_line_break_is_refused(ed25519: str) -> None:
    injected = f'{ed25519}\nrestrict,command="/bin/sh" {ed25519}'
    assert "more than one line" in str(sshkeys.problem(injected))
    assert "more than one line" in str(sshkeys.problem(ed25519 + "\r\n"))


def test_options_in_front_of_the_key_are_refused(ed25519: str) -> None:
    for options in (
        'restrict,command="borg serve --restrict-to-path /"',
        'from="10.0.0.1"',
        "no-pty",
        'command="borg serve"',
        'permitopen="host:22"',
    ):
        reason = str(sshkeys.problem(f"{options} {ed25519}"))
        assert reason.startswith("options in front of the key"), (options, reason)


def test_an_unknown_type_is_refused(ed25519: str) -> None:
    body = ed25519.split()[1]
    assert "unknown key type 'ssh-dss'" in str(sshkeys.problem(f"ssh-dss {body} lama"))


def test_a_declared_type_that_differs_from_the_body_is_refused(
    tmp_path: Path, ed25519: str
) -> None:
    rsa_body = keygen(tmp_path, "rsa", "2048").split()[1]
    reason = str(sshkeys.problem(f"ssh-ed25519 {rsa_body} x"))
    assert reason == "the line says ssh-ed25519 but the key body is 'ssh-rsa'"
    reason = str(sshkeys.problem(f"ecdsa-sha2-nistp256 {ed25519.split()[1]}"))
    assert "but the key body is 'ssh-ed25519'" in reason


def test_bad_base64_is_refused(ed25519: str) -> None:
    kind, body = ed25519.split()[:2]
    for bad in (body[:-1], body + "==", body.replace("A", "*", 1), body[:-4] + "!!!!"):
        assert "not base64" in str(sshkeys.problem(f"{kind} {bad}")), bad


def test_a_truncated_or_padded_body_is_refused(ed25519: str) -> None:
    kind, body = ed25519.split()[:2]
    raw = base64.b64decode(body)
    for data in (raw[:-3], raw + b"\0\0\0\0"):
        blob = base64.b64encode(data).decode()
        assert "truncated or malformed" in str(sshkeys.problem(f"{kind} {blob}"))
    assert "not an SSH public key" in str(sshkeys.problem(f"{kind} {wire(b'')[:4]}"))


def test_control_characters_in_the_comment_are_refused(ed25519: str) -> None:
    for char in ("\t", "\x1b", "\0", "\u2028"):
        assert "control character" in str(sshkeys.problem(f"{ed25519} a{char}b")), repr(char)


@pytest.mark.parametrize("value", ["", "ssh-ed25519", None, 42, ["ssh-ed25519 AAAA"]])
def test_anything_else_is_refused(value: object) -> None:
    assert sshkeys.problem(value)
