"""Masking lead data out of the error messages the monitor page shows.

The error table keeps what the destination said, which can quote the lead's values (a phone in
`Key (celular)=(11999998888) already exists`, a name in `invalid input syntax ...: "Ana"`). The
page shows the status and the message with those values masked; column and constraint names
stay, since they are what an operator needs to fix a mapping.

    >>> mask_message('Key (celular)=(11999998888) already exists.')
    'Key (celular)=(***) already exists.'
"""

from __future__ import annotations

import re

MASK = "***"
MAX_LENGTH = 500
_RULES = (
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
    for pattern, replacement in _RULES:
        message = pattern.sub(replacement, message)
    return message if len(message) <= MAX_LENGTH else message[: MAX_LENGTH - 1] + "…"
