"""Notifications over TLS: a real SMTP server on loopback that requires STARTTLS with a
certificate of the office's own CA; the notice goes through only when that CA is configured,
and never to a server whose certificate cannot be verified."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bangka_ops.backup import agent
from tests.receivers import closed_port


def certificate(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.bangka.go.id")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "ca.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_starttls_is_verified_against_the_configured_ca(tmp_path: Path) -> None:
    cert_file, key_file = certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope.content)
            return "250 OK"

    port = closed_port()
    controller = Controller(
        Handler(), hostname="localhost", port=port, tls_context=context, require_starttls=True
    )
    controller.start()
    try:
        email = {
            "to": ["tim-it@bangka.go.id"],
            "from": "si-cekat@bangka.go.id",
            "smtp_host": "localhost",
            "smtp_port": port,
            "starttls": True,
        }
        summary = {"status": "failed"}
        trusted = agent.send_notifications(
            {"email": email, "ca_file": str(cert_file)}, "[SI CEKAT] FAILED", "isi", summary
        )
        untrusted = agent.send_notifications({"email": email}, "[SI CEKAT] FAILED", "isi", summary)
    finally:
        controller.stop()
    assert trusted == [
        {"channel": "email", "target": f"localhost:{port}", "delivered": True, "detail": "accepted"}
    ]
    assert untrusted[0]["delivered"] is False
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted[0]["detail"]
    assert len(received) == 1 and b"[SI CEKAT] FAILED" in received[0]
