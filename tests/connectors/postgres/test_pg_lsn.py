"""LSN text ↔ integer conversion."""

from __future__ import annotations

import pytest

from connectors.postgres.lsn import format_lsn, parse_lsn


@pytest.mark.parametrize(
    ("text", "value"),
    [("0/0", 0), ("0/16B3748", 0x16B3748), ("1/0", 1 << 32), ("FFFFFFFF/FFFFFFFF", (1 << 64) - 1)],
)
def test_round_trip(text: str, value: int):
    """Text and integer forms convert both ways, upper-case like PostgreSQL prints them."""
    assert parse_lsn(text) == value
    assert format_lsn(value) == text


def test_parse_accepts_lower_case():
    """Lower-case hex parses too."""
    assert parse_lsn("a/b") == (10 << 32) | 11


@pytest.mark.parametrize("text", ["", "16B3748", "0/", "/1", "0/G", "123456789/0", "0/1/2"])
def test_parse_rejects_malformed(text: str):
    """Anything but two hex halves of up to 8 digits is a ValueError."""
    with pytest.raises(ValueError):
        parse_lsn(text)


@pytest.mark.parametrize("value", [-1, 1 << 64])
def test_format_rejects_out_of_range(value: int):
    """Values outside the unsigned 64-bit range are refused."""
    with pytest.raises(ValueError):
        format_lsn(value)
