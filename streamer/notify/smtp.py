"""Sending one e-mail over SMTP: the standard library's smtplib, in a worker thread.

smtplib rather than an async client: e-mails are rare (rate-limited, a handful an hour at most),
so a blocking send in `asyncio.to_thread` costs nothing, and it needs no dependency in the image.
STARTTLS (verified against the system's CAs plus `smtp_ca_file`) comes before AUTH, so the
password never crosses the network in clear; it never reaches an error message either: a
failure is told by its SMTP code and kind.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from streamer.errors import StreamerError
from streamer.notify.message import Mail
from streamer.sections import NotifySettings


class NotifyError(StreamerError):
    """The relay could not be reached or refused the e-mail; `retriable` (it is tried again)."""

    retriable = True


def build(settings: NotifySettings, mail: Mail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2])
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to this
    message["X-Streamer-Notice"] = mail.kind
    message.set_content(mail.body, charset="utf-8")
    return message


def tls_context(settings: NotifySettings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.smtp_ca_file is not None:
        context.load_verify_locations(cafile=str(settings.smtp_ca_file))
    return context


def send_now(settings: NotifySettings, mail: Mail) -> None:
    """Deliver `mail` to the recipients (blocking), or raise NotifyError saying why."""
    assert settings.smtp_host is not None
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds) as smtp:
            smtp.ehlo()
            if settings.smtp_starttls:
                smtp.starttls(context=tls_context(settings))
                smtp.ehlo()
            if settings.smtp_username is not None and settings.smtp_password is not None:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            smtp.send_message(build(settings, mail))
    except smtplib.SMTPAuthenticationError as exc:
        raise NotifyError(f"SMTP relay {where} refused the login of {settings.smtp_username!r} (code {exc.smtp_code}):"
                          " check STREAMER_NOTIFY__SMTP_USERNAME and STREAMER_NOTIFY__SMTP_PASSWORD") from None
    except smtplib.SMTPNotSupportedError:
        raise NotifyError(f"SMTP relay {where} does not offer STARTTLS or AUTH as configured: check "
                          "STREAMER_NOTIFY__SMTP_STARTTLS and the relay's port (587 for STARTTLS)") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise NotifyError(f"SMTP relay {where} refused all {len(exc.recipients)} recipient(s)") from None
    except smtplib.SMTPResponseException as exc:
        raise NotifyError(f"SMTP relay {where} answered {exc.smtp_code} ({type(exc).__name__})") from None
    except ssl.SSLError as exc:
        raise NotifyError(f"SMTP relay {where}: TLS failed ({exc.reason or type(exc).__name__}); a private CA "
                          "goes in STREAMER_NOTIFY__SMTP_CA_FILE") from None
    except (smtplib.SMTPException, OSError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise NotifyError(f"SMTP relay {where} unreachable or closed the connection ({reason})") from None


async def send(settings: NotifySettings, mail: Mail) -> None:
    await asyncio.to_thread(send_now, settings, mail)
