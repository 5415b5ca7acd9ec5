"""How long to wait before trying a failed request again, and what a failure means for the sink.

    policy = RetryPolicy.from_settings(settings.sink)
    policy.delay(1)                      # after the first failure: within [initial/2, initial]
    policy.delay(3, retry_after=20.0)    # never shorter than the server asked for

`classify(error)` sorts a `PostgrestError` into what the sink does next (DESIGN.md, Failure):

| disposition  | raised as            | the sink                                                   |
|--------------|----------------------|------------------------------------------------------------|
| transient    | PostgrestUnavailable | waits `delay()` and sends the same request again; never skips |
| auth         | PostgrestAuthError   | stops consuming, reports unhealthy, says why               |
| schema_drift | PostgrestSchemaDrift | pauses the partition; nothing is filed as a lead's fault   |
| permanent    | PostgrestRejected    | bisects the batch to find the leads at fault (bisect.py)   |
| fatal        | any other, not retriable (PostgrestConfigError) | stops, like auth    |
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from connectors.postgrest.errors import (
    PostgrestAuthError,
    PostgrestError,
    PostgrestRejected,
    PostgrestSchemaDrift,
    PostgrestUnavailable,
)
from streamer.config import SinkSettings

Jitter = Literal["full", "equal", "none"]
# 2**63 × any sane `initial` is far past any cap; bounding the exponent avoids float overflow.
MAX_EXPONENT = 63


class Disposition(StrEnum):
    TRANSIENT = "transient"
    AUTH = "auth"
    SCHEMA_DRIFT = "schema_drift"
    PERMANENT = "permanent"
    FATAL = "fatal"


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter, in seconds.

    `max_attempts` is how many tries a request gets before the sink reports itself degraded;
    a transient failure keeps being retried at the cap after that (DESIGN.md: never skip).
    `max_retry_after` bounds how long a server's `Retry-After` can hold us."""

    max_attempts: int = 3
    initial: float = 0.5
    max: float = 30.0
    jitter: Jitter = "equal"
    max_retry_after: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 < self.initial <= self.max:
            raise ValueError("need 0 < initial <= max")
        if self.max_retry_after < 0:
            raise ValueError("max_retry_after must not be negative")

    @classmethod
    def from_settings(cls, settings: SinkSettings, *, jitter: Jitter = "equal") -> RetryPolicy:
        initial = settings.backoff_initial_ms / 1000
        return cls(max_attempts=settings.max_attempts, initial=initial,
                   max=max(initial, settings.backoff_max_ms / 1000), jitter=jitter)

    def backoff(self, attempt: int) -> float:
        """The un-jittered delay after failed try number `attempt` (1-based): initial·2^(n-1), capped."""
        if attempt < 1:
            raise ValueError("attempt counts from 1")
        return min(self.max, self.initial * 2.0 ** min(attempt - 1, MAX_EXPONENT))

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to wait after failed try number `attempt`.

        Full jitter draws from [0, backoff]; equal jitter from [backoff/2, backoff] (the AWS
        Architecture Blog's names). A `Retry-After` (postgrest.md §2.1: every 503 carries one)
        sets a floor, itself bounded by `max_retry_after`."""
        base = self.backoff(attempt)
        if self.jitter == "full":
            wait = base * rng()
        elif self.jitter == "equal":
            wait = base / 2 + base / 2 * rng()
        else:
            wait = base
        if retry_after is not None and retry_after > 0:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait

    def exhausted(self, attempts: int) -> bool:
        """True once `attempts` tries have failed: time to report the sink degraded."""
        return attempts >= self.max_attempts


def classify(error: PostgrestError) -> Disposition:
    """What a failed PostgREST call means for the sink (table in the module docstring)."""
    if isinstance(error, PostgrestAuthError):
        return Disposition.AUTH
    if isinstance(error, PostgrestSchemaDrift):
        return Disposition.SCHEMA_DRIFT
    if isinstance(error, PostgrestUnavailable):
        return Disposition.TRANSIENT
    if isinstance(error, PostgrestRejected):
        return Disposition.PERMANENT
    # A garbled 2xx (retriable) or a client built wrong (not): never blame the leads for these.
    return Disposition.TRANSIENT if error.retriable else Disposition.FATAL
