"""Sending over SMTP to a real server (tests/streamer/notify/conftest.py): STARTTLS verified
against the server's certificate, AUTH, then the e-mail; every failure a NotifyError that names
the problem and never the password."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.notify.message import Mail
from streamer.notify.smtp import NotifyError, send_now
from tests.streamer.notify.conftest import PASSWORD, SmtpServer, free_port, text
from tests.tls import self_signed

MAIL = Mail("job_failed", "[lead-sync] Job de exportação falhou: 0123abcd", "Um job falhou.\nAção: ça ã é\n")


def test_an_email_goes_through_starttls_and_auth_to_every_recipient(smtp_server: SmtpServer) -> None:
    """Delivered once, to both recipients, UTF-8 subject and body intact, after a successful login."""
    send_now(smtp_server.settings(), MAIL)
    [(sender, recipients, message)] = smtp_server.inbox.mails
    assert sender == "streamer@example.com"
    assert recipients == ["ops@example.com", "oncall@example.com"]
    assert message["Subject"] == MAIL.subject
    assert message["X-Streamer-Notice"] == "job_failed"
    assert text(message).endswith("\n\n" + MAIL.body)
    assert [ok for _, ok in smtp_server.inbox.logins] == [True]


def test_a_wrong_password_is_refused_and_the_error_does_not_quote_it(smtp_server: SmtpServer) -> None:
    wrong = "wrong-" + PASSWORD
    with pytest.raises(NotifyError) as caught:
        send_now(smtp_server.settings(smtp_password=wrong), MAIL)
    text = str(caught.value)
    assert "refused the login of 'notifier'" in text and "535" in text
    assert wrong not in text and PASSWORD not in text
    assert caught.value.retriable
    assert smtp_server.inbox.mails == []


def test_a_certificate_the_client_does_not_trust_fails_before_the_password_is_sent(
        smtp_server: SmtpServer, tmp_path: Path) -> None:
    """Another CA file (not the server's): TLS fails, so AUTH never happens."""
    (tmp_path / "other").mkdir()
    other_ca, _ = self_signed(tmp_path / "other")
    with pytest.raises(NotifyError, match="TLS failed"):
        send_now(smtp_server.settings(smtp_ca_file=other_ca), MAIL)
    assert smtp_server.inbox.logins == []


def test_without_starttls_the_server_refuses_auth_in_clear(smtp_server: SmtpServer) -> None:
    """STARTTLS off against a server that requires it: refused, nothing sent, the password unsaid."""
    with pytest.raises(NotifyError) as caught:
        send_now(smtp_server.settings(smtp_starttls=False), MAIL)
    assert PASSWORD not in str(caught.value)
    assert smtp_server.inbox.mails == [] and smtp_server.inbox.logins == []


def test_a_relay_that_is_not_there_is_a_retriable_error() -> None:
    from streamer.sections import NotifySettings

    settings = NotifySettings(smtp_host="127.0.0.1", smtp_port=free_port(), recipients=("ops@example.com",),
                              smtp_timeout_seconds=5)
    with pytest.raises(NotifyError, match="unreachable") as caught:
        send_now(settings, MAIL)
    assert caught.value.retriable
