"""A real SMTP server for the notification tests: aiosmtpd on a free port of this machine, with
STARTTLS (a self-signed certificate made here with `cryptography`) and AUTH PLAIN/LOGIN that
accepts one user and one password only. What it receives is parsed back into e-mail messages."""

from __future__ import annotations

import email
import email.policy
import gc
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from streamer.sections import NotifySettings
from tests.tls import self_signed

USER = "notifier"
PASSWORD = "smtp-Pa55word-never-in-mail"


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


class _Controller(Controller):
    """aiosmtpd's controller, counting the sessions open (so the server stops once they are closed)."""

    sessions = 0

    def factory(self) -> SMTP:
        controller = self

        class Session(SMTP):
            def connection_made(self, transport: Any) -> None:
                if self.transport is None:  # not the second call, after STARTTLS
                    controller.sessions += 1
                super().connection_made(transport)

            def connection_lost(self, error: Exception | None) -> None:
                super().connection_lost(error)  # closes the pre-TLS transport: a callback to come
                self.loop.call_soon(self.loop.call_soon, self._session_over)

            def _session_over(self) -> None:
                controller.sessions -= 1

        return Session(self.handler, **self.SMTP_kwargs)


@contextmanager
def smtp_server_on(directory: Path, port: int) -> Iterator[SmtpServer]:
    """An SMTP server on `port` requiring STARTTLS before AUTH, and AUTH before mail."""
    cert, key = self_signed(directory)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    inbox = Inbox()
    controller = _Controller(inbox, hostname="127.0.0.1", port=port, tls_context=tls, require_starttls=True,
                            authenticator=inbox.authenticate, auth_required=True, auth_require_tls=True,
                            server_hostname="localhost")
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", controller.port, cert, inbox)
    finally:
        # Stopping the server's loop while a session is still closing would leave its socket open
        # (aiosmtpd closes it in a callback the stopped loop never runs): wait for the last one.
        deadline = time.monotonic() + 10
        while controller.sessions and time.monotonic() < deadline:
            time.sleep(0.01)
        controller.stop()
        gc.collect()  # anything left open is reported in the test that made it


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server_on(tmp_path, free_port()) as server:
        yield server
