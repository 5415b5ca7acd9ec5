"""PostgreSQL log sequence numbers (LSN): the ``"X/Y"`` text form and its 64-bit integer.

The text form is two hexadecimal 32-bit halves, as printed by ``pg_lsn``'s output function
(``%X/%X``, see src/backend/utils/adt/pg_lsn.c); pgoutput carries LSNs as plain Int64.

    >>> parse_lsn("0/16B3748")
    23803720
    >>> format_lsn(23803720)
    '0/16B3748'
"""

from __future__ import annotations

MAX_LSN = 0xFFFFFFFFFFFFFFFF


def parse_lsn(text: str) -> int:
    """Return the integer value of an LSN written as ``"X/Y"`` (hex halves)."""
    high, sep, low = text.strip().partition("/")
    if not sep or not high or not low or len(high) > 8 or len(low) > 8:
        raise ValueError(f"invalid LSN {text!r}: expected 'X/Y' with up to 8 hex digits each")
    try:
        return (int(high, 16) << 32) | int(low, 16)
    except ValueError:
        raise ValueError(f"invalid LSN {text!r}: not hexadecimal") from None


def format_lsn(value: int) -> str:
    """Return the ``"X/Y"`` text form of an integer LSN, upper-case like PostgreSQL."""
    if not 0 <= value <= MAX_LSN:
        raise ValueError(f"LSN {value} is out of the unsigned 64-bit range")
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"
