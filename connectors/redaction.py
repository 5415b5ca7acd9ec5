"""Every mask the project puts over secrets and lead data before showing or logging text, in one
place. It lives under `connectors/` because a connector needs it (the PostgREST client scrubs its
key out of errors) and connectors may not import the service; the service imports it from here.

    scrub(text, secrets)        each given secret replaced by `***` (connector error messages)
    Redactor(secrets)           the structlog processor: configured secrets anywhere, values under
                                secret-sounding keys, passwords inside URLs (streamer.logging)
    mask_url(url)               a URL's user-info password and query values (CLI output)
    mask_urls(text)             `mask_url` over every URL quoted in a text
    masked_urls(value)          `mask_url` over every URL string in a JSON-like value (`config show`)
    mask_message(message)       lead data (quoted values, e-mails, phones, documents) in an error
                                message, cut to MAX_LENGTH characters (the monitor page)

    >>> mask_url("https://user:pw@example.com/rest?apikey=abc&x=1")
    'https://user:***@example.com/rest?apikey=***&x=***'
    >>> mask_message('Key (celular)=(11999998888) already exists.')
    'Key (celular)=(***) already exists.'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "***"


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every non-empty secret replaced by `***`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


# --- logs ---------------------------------------------------------------------------------------

SECRET_KEYS = re.compile(r"(pass(word)?|secret|token|api_?key|service_key|authorization|dsn)", re.I)
URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@/\s]+)(?P<tail>@)", re.I)


class Redactor:
    """A structlog processor that masks secrets; `Redactor(["s3cret"])`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def mask_text(self, text: str) -> str:
        return URL_PASSWORD.sub(lambda m: m["head"] + MASK + m["tail"], scrub(text, self._secrets))

    def _mask(self, key: str | None, value: Any) -> Any:
        if key is not None and SECRET_KEYS.search(key) and value not in (None, ""):
            if isinstance(value, str) and value.startswith(("postgres://", "postgresql://")):
                return self.mask_text(value)
            return MASK
        if isinstance(value, str):
            return self.mask_text(value)
        if isinstance(value, dict):
            return {k: self._mask(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._mask(None, v) for v in value]
        if isinstance(value, BaseException):
            return self.mask_text(repr(value))
        return value

    def __call__(
        self, logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        return {k: self._mask(k if k != "event" else None, v) for k, v in event_dict.items()}


# --- URLs in output -----------------------------------------------------------------------------

_URL_IN_TEXT = re.compile(r"[a-z][a-z0-9+.-]*://[^\s'\"<>]+", re.IGNORECASE)


def mask_url(url: str) -> str:
    """`url` with the password of its user info (a lone user name too) and every query value
    masked, for output:

    >>> mask_url("https://user:pw@example.com/rest?apikey=abc&x=1")
    'https://user:***@example.com/rest?apikey=***&x=***'
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, host = netloc.rpartition("@")
            user, sep, _ = userinfo.partition(":")
            # A lone user name may be a token (https://<token>@host): masked as well.
            netloc = f"{user}:***@{host}" if sep else f"***@{host}"
        query = "&".join(f"{field.partition('=')[0]}=***" if "=" in field else "***"
                         for field in parts.query.split("&")) if parts.query else ""
        return urlunsplit((parts.scheme, netloc, parts.path, query, "***" if parts.fragment else ""))
    except ValueError:  # not parseable: show nothing of it
        return "<a URL that does not parse>"


def mask_urls(text: str) -> str:
    """`text` with every URL in it passed through `mask_url` (for details that quote a URL)."""
    def one(match: re.Match[str]) -> str:
        url = match[0].rstrip(".,;:!?)]}")  # punctuation after a URL in a sentence is not part of it
        return mask_url(url) + match[0][len(url):]

    return _URL_IN_TEXT.sub(one, text)


def masked_urls(value: Any) -> Any:
    """`value` (JSON-like) with every URL's password and query values masked, at any depth: a
    destination URL such as https://user:pw@host/?apikey=... is not a `SecretStr`. A string that
    is one URL is masked whole (`mask_url`: a password holding a space stays hidden); a text that
    quotes URLs has each masked where it stands (`mask_urls`)."""
    if isinstance(value, dict):
        return {k: masked_urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked_urls(v) for v in value]
    if not isinstance(value, str) or "://" not in value:
        return value
    return mask_url(value) if _URL_IN_TEXT.match(value) else mask_urls(value)


# --- lead data in error messages ----------------------------------------------------------------
# The error table keeps what the destination said, which can quote the lead's values (a phone in
# `Key (celular)=(11999998888) already exists`, a name in `invalid input syntax ...: "Ana"`). The
# monitor page shows the status and the message with those values masked; column and constraint
# names stay, since they are what an operator needs to fix a mapping.

MAX_LENGTH = 500
_LEAD_DATA = (
    (re.compile(r"[^\s@\"'(),;:<>]+@[^\s@\"'(),;:<>]+"), "***@***"),  # e-mail addresses
    (re.compile(r"=\((?:[^()]|\([^()]*\))*\)"), f"=({MASK})"),  # PostgreSQL's `Key (col)=(value)`
    (re.compile(r':\s*"(?:[^"\\]|\\.)*"'), f': "{MASK}"'),  # `invalid input syntax for type x: "value"`
    # Brazilian phone numbers as people write them: +55 (11) 99999-8888, 11 9999 8888, 11999998888.
    (re.compile(r"(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,3}\)\s?|\b\d{2,3}[\s.-]?)?\b\d{4,5}[\s.-]?\d{4}\b"), MASK),
    (re.compile(r"\b\d{3}\.?\d{3}\.?\d{3}-?\d{2}\b"), MASK),  # CPF
    (re.compile(r"\d{9,}"), MASK),  # any other long number (documents, card numbers)
)


def mask_message(message: str | None) -> str:
    """`message` with quoted lead values, e-mail addresses and long digit runs masked, cut to 500 characters."""
    if not message:
        return ""
    for pattern, replacement in _LEAD_DATA:
        message = pattern.sub(replacement, message)
    return message if len(message) <= MAX_LENGTH else message[: MAX_LENGTH - 1] + "…"
