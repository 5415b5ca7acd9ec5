"""The one redaction module, on literal text: connector secrets scrubbed, log values redacted,
URLs masked for output, lead data masked out of error messages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from connectors.redaction import MASK, MAX_LENGTH, Redactor, mask_message, mask_url, mask_urls, masked_urls, scrub

ROOT = Path(__file__).resolve().parents[2]


def test_scrub_replaces_every_given_secret_and_ignores_empty_ones() -> None:
    """Each non-empty secret is replaced by the mask wherever it occurs; an empty one changes nothing."""
    assert scrub("key k-1 and k-1 again, other k-2", ("k-1", "", "k-2")) == "key *** and *** again, other ***"


def test_short_values_are_not_treated_as_secrets() -> None:
    """Secrets shorter than 4 characters are ignored, so they cannot mask ordinary text."""
    assert Redactor(["ab"]).mask_text("abc abd") == "abc abd"


def test_the_longest_secret_is_masked_whole() -> None:
    """A secret that contains another is masked as one, not left half visible."""
    assert Redactor(["pass", "pass-word-9"]).mask_text("x pass-word-9 y pass") == "x *** y ***"


@pytest.mark.parametrize(("url", "masked"), [
    ("https://user:pw-1@example.com/rest?apikey=k-2&x=3", "https://user:***@example.com/rest?apikey=***&x=***"),
    ("https://token-4@example.com", "https://***@example.com"),
    ("https://example.com/p#frag-5", "https://example.com/p#***"),
    ("http://127.0.0.1:54330", "http://127.0.0.1:54330"),
])
def test_mask_url_hides_user_info_passwords_query_values_and_fragments(url: str, masked: str) -> None:
    """What may hold a credential is masked; scheme, host, port and path stay readable."""
    assert mask_url(url) == masked
    assert mask_urls(f"GET {url}: refused") == f"GET {masked}: refused"


def test_masked_urls_walks_json_like_values() -> None:
    """Every URL string in nested dicts and lists is masked; other values are left as they are."""
    value = {"destination": {"url": "https://u:pw-6@h/?apikey=k-7", "timeout": 30}, "hosts": ["x://t-8@h", "plain"]}
    assert masked_urls(value) == {"destination": {"url": "https://u:***@h/?apikey=***", "timeout": 30},
                                  "hosts": ["x://***@h", "plain"]}


def test_masked_urls_masks_a_url_quoted_inside_a_text_where_it_stands() -> None:
    """A text's parameters (the console's coded findings) quote URLs inside sentences: each is
    masked in place, the sentence kept; a value that is one URL is masked whole, even when its
    password holds a space."""
    value = {"params": {"reason": "cannot reach https://u:pw-6@h/rest?apikey=k-7: refused", "n": 2},
             "dsn": "postgresql://u:pass word@h/db"}
    assert masked_urls(value) == {"params": {"reason": "cannot reach https://u:***@h/rest?apikey=***: refused",
                                             "n": 2},
                                  "dsn": "postgresql://u:***@h/db"}


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


def test_no_other_module_writes_the_mask() -> None:
    """The mask literal appears only in connectors/redaction.py: every other module imports its masking."""
    owners = []
    for package in ("streamer", "connectors", "schemas"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            if any(isinstance(node, ast.Constant) and isinstance(node.value, str) and MASK in node.value
                   for node in ast.walk(tree)):
                owners.append(path.relative_to(ROOT).as_posix())
    assert owners == ["connectors/redaction.py"]
