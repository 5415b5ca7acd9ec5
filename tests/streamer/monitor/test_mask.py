"""Lead data masked out of error messages, on literal messages."""

from __future__ import annotations

import pytest

from streamer.monitor.mask import MAX_LENGTH, mask_message


@pytest.mark.parametrize(("message", "masked"), [
    ("Key (celular)=(11999998888) already exists.", "Key (celular)=(***) already exists."),
    ('invalid input syntax for type integer: "Ana Souza"', 'invalid input syntax for type integer: "***"'),
    ("lead ana.souza@example.com rejected", "lead ***@*** rejected"),
    ("telefone +55 (11) 99999-8888 inválido", "telefone *** inválido"),
    ("Key (id, name)=(5, (x)) dup", "Key (id, name)=(***) dup"),
    ("celular 11 9999 8888, cpf 123.456.789-09", "celular ***, cpf ***"),
    ("document 123456789012 refused", "document *** refused"),
])
def test_lead_values_are_masked(message: str, masked: str) -> None:
    """Quoted values, key values, e-mail addresses and phone numbers are replaced by ***."""
    assert mask_message(message) == masked


@pytest.mark.parametrize("message", [
    'column "observacoes" of relation "leads" does not exist',
    "HTTP 400: value too long for type character varying(20)",
    'new row violates row-level security policy for table "leads"',
    "status 409 for 3 leads",
    'HTTP 400 23514: new row for relation "leads" violates check constraint "no_bad_city"',
    "at 2026-11-29 00:30:24 (attempt 3)",
])
def test_what_an_operator_needs_to_fix_a_mapping_stays(message: str) -> None:
    """Column, table, type and constraint names and small numbers are kept as they are."""
    assert mask_message(message) == message


def test_empty_and_long_messages() -> None:
    """None becomes an empty string; a long message is cut to MAX_LENGTH characters."""
    assert mask_message(None) == ""
    cut = mask_message("x" * 2000)
    assert len(cut) == MAX_LENGTH and cut.endswith("…")
