"""A real SMTP server for the notification tests: aiosmtpd on a free port of this machine, with
STARTTLS (a self-signed certificate made here with `cryptography`) and AUTH PLAIN/LOGIN that
accepts one user and one password only. What it receives is parsed back into e-mail messages."""

from __future__ import annotations

import datetime
import email
import email.policy
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from streamer.sections import NotifySettings

USER = "notifier"
PASSWORD = "smtp-Pa55word-never-in-mail"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1, and its key, written under `directory`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "smtp.crt", directory / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@dataclass
class Inbox:
    """What the server accepted: (envelope sender, recipients, message) per e-mail; the logins tried."""

    mails: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    logins: list[tuple[str, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
              and auth_data.password == PASSWORD.encode())
        with self.lock:
            self.logins.append((mechanism, ok))
        return AuthResult(success=ok, handled=False)

    def messages(self, kind: str | None = None) -> list[EmailMessage]:
        with self.lock:
            return [m for _, _, m in self.mails if kind is None or m["X-Streamer-Notice"] == kind]


@dataclass
class SmtpServer:
    host: str
    port: int
    ca_file: Path
    inbox: Inbox

    def settings(self, **overrides: Any) -> NotifySettings:
        values: dict[str, Any] = {
            "smtp_host": "localhost", "smtp_port": self.port, "smtp_starttls": True, "smtp_ca_file": self.ca_file,
            "smtp_username": USER, "smtp_password": PASSWORD, "sender": "streamer@example.com",
            "recipients": ("ops@example.com", "oncall@example.com"), "poll_seconds": 0.1, **overrides}
        return NotifySettings(**values)


def text(message: EmailMessage) -> str:
    """Every header and the body of a received e-mail, decoded, lines ending in \\n."""
    headers = "".join(f"{k}: {v}\n" for k, v in message.items())
    return headers + "\n" + str(message.get_content()).replace("\r\n", "\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    """An SMTP server requiring STARTTLS before AUTH, and AUTH before mail."""
    cert, key = self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=tls, require_starttls=True,
                            authenticator=inbox.authenticate, auth_required=True, auth_require_tls=True,
                            server_hostname="localhost")
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", controller.port, cert, inbox)
    finally:
        controller.stop()
