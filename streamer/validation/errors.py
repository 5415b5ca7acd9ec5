"""Errors of the validation commands.

    ValidationError       a comparison could not be made; the message says what to fix first
"""

from __future__ import annotations

from streamer.errors import StreamerError


class ValidationError(StreamerError):
    """The inputs of a check are missing (no source table, no destination definition...)."""
