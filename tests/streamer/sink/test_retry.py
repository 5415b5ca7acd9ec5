"""Retry delays and the classification of PostgREST failures."""

from __future__ import annotations

import pytest

from connectors.postgrest.errors import (
    PostgrestAuthError,
    PostgrestBadResponse,
    PostgrestConfigError,
    PostgrestDestinationFault,
    PostgrestRejected,
    PostgrestSchemaDrift,
    PostgrestUnavailable,
)
from streamer.sections import SinkSettings
from streamer.sink.retry import Disposition, RetryPolicy, classify, destination_fix, everyone_refused_fix


def test_backoff_doubles_and_caps():
    """The un-jittered delay doubles from `initial` per attempt and stops at `max`."""
    policy = RetryPolicy(initial=0.5, max=3.0, jitter="none")
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_full_jitter_spans_zero_to_backoff():
    """Full jitter scales the backoff by the random draw."""
    policy = RetryPolicy(initial=1.0, max=10.0, jitter="full")
    assert policy.delay(3, rng=lambda: 0.0) == 0.0
    assert policy.delay(3, rng=lambda: 0.25) == 1.0


def test_equal_jitter_keeps_at_least_half():
    """Equal jitter waits between half the backoff and all of it."""
    policy = RetryPolicy(initial=1.0, max=10.0, jitter="equal")
    assert policy.delay(2, rng=lambda: 0.0) == 1.0
    assert policy.delay(2, rng=lambda: 1.0) == 2.0


def test_retry_after_is_a_floor():
    """A server's Retry-After is never undercut, even past the backoff cap."""
    policy = RetryPolicy(initial=0.5, max=2.0, jitter="full")
    assert policy.delay(1, retry_after=7.0, rng=lambda: 0.5) == 7.0
    assert policy.delay(5, retry_after=0.1, rng=lambda: 1.0) == 2.0


def test_retry_after_is_bounded():
    """An absurd Retry-After is bounded by `max_retry_after`."""
    policy = RetryPolicy(max_retry_after=60.0)
    assert policy.delay(1, retry_after=86_400.0) == 60.0


def test_huge_attempt_numbers_do_not_overflow():
    """Attempt 10,000 still yields the cap rather than an overflow."""
    assert RetryPolicy(max=30.0, jitter="none").delay(10_000) == 30.0


def test_attempts_count_from_one():
    """Attempt 0 is a caller bug."""
    with pytest.raises(ValueError):
        RetryPolicy().delay(0)


def test_exhausted_after_max_attempts():
    """The policy reports exhaustion once `max_attempts` tries have failed."""
    policy = RetryPolicy(max_attempts=3)
    assert [policy.exhausted(n) for n in (1, 2, 3)] == [False, False, True]


def test_from_settings_converts_milliseconds():
    """Settings in milliseconds become a policy in seconds."""
    policy = RetryPolicy.from_settings(SinkSettings(max_attempts=5, backoff_initial_ms=200, backoff_max_ms=4000))
    assert (policy.max_attempts, policy.initial, policy.max) == (5, 0.2, 4.0)


def test_invalid_policy_is_refused():
    """A policy whose initial delay exceeds its cap does not construct."""
    with pytest.raises(ValueError):
        RetryPolicy(initial=5.0, max=1.0)


@pytest.mark.parametrize(
    ("error", "disposition"),
    [
        (PostgrestUnavailable("x", status=503), Disposition.TRANSIENT),
        (PostgrestUnavailable("x"), Disposition.TRANSIENT),
        (PostgrestAuthError("x", status=401), Disposition.AUTH),
        (PostgrestSchemaDrift("x", status=400, code="PGRST204"), Disposition.SCHEMA_DRIFT),
        (PostgrestDestinationFault("x", status=405, code="25006"), Disposition.DESTINATION),
        (PostgrestRejected("x", status=409, code="23505"), Disposition.PERMANENT),
        (PostgrestBadResponse("x", status=200), Disposition.TRANSIENT),
        (PostgrestConfigError("x"), Disposition.FATAL),
    ],
)
def test_classify(error, disposition):
    """Each error class maps to what the sink does next."""
    assert classify(error) is disposition


@pytest.mark.parametrize(
    ("status", "code", "cause", "fix"),
    [
        (405, "25006", "read-only transaction", "disk"),
        (404, None, "HTTP 404", "STREAMER_DESTINATION__TABLE"),
        (404, "42P01", 'relation "public.leads" does not exist', "STREAMER_DESTINATION__TABLE"),
        (404, "42883", "function public.touch() does not exist", "triggers call"),
        (302, None, "HTTP 302", "STREAMER_DESTINATION__URL"),
        (400, "PGRST100", "failed to parse", "`streamer doctor`"),
        (414, None, "URI Too Long", "`streamer doctor`"),
    ],
)
def test_destination_fix_names_the_cause_and_the_fix(status: int, code: str | None, cause: str, fix: str):
    """The blocked message for a fault of the whole destination quotes what it said, says what
    to do, and that no lead was filed and the sink resumes by itself."""
    message = destination_fix(PostgrestDestinationFault(f"upserting 50 rows into leads: {cause}", status=status,
                                                        code=code))
    assert cause in message and fix in message
    assert "no lead was filed" in message and "resumes by itself" in message


def test_everyone_refused_fix_explains_the_safety_net():
    """The message for a batch whose every lead was refused alike counts them, quotes the answer,
    and gives the way out for leads that really are all bad."""
    message = everyone_refused_fix(50, PostgrestRejected("HTTP 400 P0001: writes are paused", status=400,
                                                         code="P0001"))
    assert "all 50 leads" in message and "writes are paused" in message
    assert "STREAMER_SINK__BATCH_SIZE=1" in message and "resumes by itself" in message
