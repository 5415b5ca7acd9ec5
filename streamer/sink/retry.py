"""How long to wait before trying a failed request again, and what a failure means for the sink.

    policy = RetryPolicy.from_settings(settings.sink)
    policy.delay(1)                      # after the first failure: within [initial/2, initial]
    policy.delay(3, retry_after=20.0)    # never shorter than the server asked for

`classify(error)` sorts a `PostgrestError` into what the sink does next (docs/design.md, Failure):

| disposition  | raised as            | the sink                                                   |
|--------------|----------------------|------------------------------------------------------------|
| transient    | PostgrestUnavailable | waits `delay()` and sends the same request again; never skips |
| auth         | PostgrestAuthError   | stops consuming, reports unhealthy, says why               |
| schema_drift | PostgrestSchemaDrift | pauses the partition; nothing is filed as a lead's fault   |
| destination  | PostgrestDestinationFault | stops, like auth; `destination_fix()` says what to do |
| permanent    | PostgrestRejected    | bisects the batch to find the leads at fault (bisect.py)   |
| fatal        | any other, not retriable (PostgrestConfigError) | stops, like auth    |

Every disposition but transient and permanent blocks: consuming stops, health turns blocked
with the cause and the fix, no lead is filed, and the request is re-sent every few seconds, so
the sink resumes by itself once the destination takes it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from connectors.postgrest.errors import (
    PostgrestAuthError,
    PostgrestDestinationFault,
    PostgrestError,
    PostgrestRejected,
    PostgrestSchemaDrift,
    PostgrestUnavailable,
)
from streamer.sections import SinkSettings

Jitter = Literal["full", "equal", "none"]
# 2**63 × any sane `initial` is far past any cap; bounding the exponent avoids float overflow.
MAX_EXPONENT = 63


class Disposition(StrEnum):
    TRANSIENT = "transient"
    AUTH = "auth"
    SCHEMA_DRIFT = "schema_drift"
    DESTINATION = "destination"
    PERMANENT = "permanent"
    FATAL = "fatal"


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter, in seconds.

    `max_attempts` is how many tries a request gets before the sink reports itself degraded;
    a transient failure keeps being retried at the cap after that (docs/design.md, Failure: never skip).
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
        Architecture Blog's names). A `Retry-After` (docs/postgrest.md §2.1: every 503 carries one)
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
    if isinstance(error, PostgrestDestinationFault):
        return Disposition.DESTINATION
    if isinstance(error, PostgrestUnavailable):
        return Disposition.TRANSIENT
    if isinstance(error, PostgrestRejected):
        return Disposition.PERMANENT
    # A garbled 2xx (retriable) or a client built wrong (not): never blame the leads for these.
    return Disposition.TRANSIENT if error.retriable else Disposition.FATAL


READ_ONLY_FIX = ("the destination database is read-only; Supabase switches a project to read-only mode when "
                 "its disk is nearly full: free space or grow the disk (dashboard: Project Settings, Compute "
                 "and Disk), then take the database out of read-only mode")
MISSING_TABLE_FIX = ("check that STREAMER_DESTINATION__URL is the project's URL and STREAMER_DESTINATION__TABLE "
                     "names a table the API exposes; create it with `streamer db migrate --target destination`, "
                     "then `streamer schema reload-cache`")
MISSING_FUNCTION_FIX = ("a function the destination table needs (usually one its triggers call) is missing: "
                        "re-create it (`streamer db migrate --target destination` for the sync's own), then "
                        "`streamer schema reload-cache`")
REDIRECT_FIX = ("the destination answered with a redirect: set STREAMER_DESTINATION__URL to the final https URL "
                "of the project (no proxy that redirects in between)")
REQUEST_FIX = ("the destination refused the form of our requests, not their data (a proxy in front of "
               "PostgREST, or an API that is not PostgREST): check STREAMER_DESTINATION__URL and run "
               "`streamer doctor`")
RESUMES = "no lead was filed; the sink re-checks every few seconds and resumes by itself"


def destination_fix(error: PostgrestError) -> str:
    """The health message for a `PostgrestDestinationFault`: what the destination said, why no
    lead is to blame, and what an operator does about it."""
    if error.code == "25006":
        fix = READ_ONLY_FIX
    elif error.code == "42883":
        fix = MISSING_FUNCTION_FIX
    elif error.code == "42P01" or error.status == 404:
        fix = MISSING_TABLE_FIX
    elif error.status is not None and 300 <= error.status < 400:
        fix = REDIRECT_FIX
    else:
        fix = REQUEST_FIX
    return f"{error} — {fix}; {RESUMES}"


def everyone_refused_fix(leads: int, error: PostgrestError) -> str:
    """The health message when every lead of a batch was refused alone with the same answer
    (bisect.py `uniform_failure`): the sink blocks rather than file them all."""
    return (f"all {leads} leads of a batch were refused one by one with the very same answer ({error}), which "
            "is what a fault of the whole destination looks like (a trigger or policy refusing every row, a "
            f"proxy): fix the destination; {RESUMES}. If these leads really are all invalid, set "
            "STREAMER_SINK__BATCH_SIZE=1 until they are filed (a batch of one lead is filed as usual)")
