"""The job state machine on literal states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streamer.state.errors import InvalidTransition
from streamer.state.jobs import (
    OPERATOR_ACTIONS,
    RESET_COLUMNS,
    STATUSES,
    actions_from,
    eta,
    is_settled,
    is_stuck,
    next_status,
)

T0 = datetime(2024, 5, 2, 12, tzinfo=UTC)


@pytest.mark.parametrize(("status", "action", "target"), [
    ("pending", "claim", "running"),
    ("running", "claim", "running"),
    ("pending", "pause", "paused"),
    ("running", "pause", "paused"),
    ("paused", "resume", "running"),
    ("failed", "resume", "running"),
    ("pending", "cancel", "cancelled"),
    ("running", "cancel", "cancelled"),
    ("paused", "cancel", "cancelled"),
    ("running", "complete", "completed"),
    ("running", "fail", "failed"),
])
def test_allowed_transitions_lead_where_the_diagram_says(status: str, action: str, target: str) -> None:
    """Each allowed action moves the job to its documented status."""
    assert next_status(status, action) == target  # type: ignore[arg-type]


@pytest.mark.parametrize(("status", "action"), [
    ("completed", "pause"), ("cancelled", "resume"), ("running", "resume"), ("pending", "resume"),
    ("completed", "cancel"), ("failed", "cancel"), ("paused", "complete"), ("completed", "claim"),
    ("paused", "claim"), ("cancelled", "complete"),
])
def test_forbidden_transitions_raise_naming_status_and_action(status: str, action: str) -> None:
    """An action the status does not allow raises InvalidTransition with both names."""
    with pytest.raises(InvalidTransition) as info:
        next_status(status, action)  # type: ignore[arg-type]
    assert status in str(info.value) and action in str(info.value)


@pytest.mark.parametrize("status", STATUSES)
def test_reset_is_allowed_from_every_status_and_leads_to_pending(status: str) -> None:
    """Reset starts any job over, whatever its state."""
    assert next_status(status, "reset") == "pending"


def test_reset_clears_counters_cursor_and_dates() -> None:
    """Reset puts the counters to zero and the cursor, progress dates and timestamps to NULL."""
    assert {k for k, v in RESET_COLUMNS.items() if v == 0} == {
        "total_leads", "exported_leads", "error_leads", "produced_leads"}
    assert {"cursor", "processing_date", "last_completed_date", "started_at", "finished_at"} <= {
        k for k, v in RESET_COLUMNS.items() if v is None}


def test_actions_from_lists_only_operator_actions_allowed() -> None:
    """`jobs show` offers pause/cancel/reset for a running job and resume/cancel/reset for a paused one."""
    assert actions_from("running") == ["pause", "reset", "cancel"]
    assert actions_from("paused") == ["resume", "reset", "cancel"]
    assert actions_from("completed") == ["reset"]
    assert set(OPERATOR_ACTIONS) == {"pause", "resume", "reset", "cancel"}


def test_settled_when_landed_and_failed_reach_the_total() -> None:
    """The job completes once landed + failed covers the total, not before."""
    assert not is_settled(100, 98, 1)
    assert is_settled(100, 99, 1)
    assert is_settled(0, 0, 0)


def test_stuck_only_when_running_without_progress_for_the_threshold() -> None:
    """A running job idle for an hour is stuck; a paused one, or one that moved recently, is not."""
    hour = timedelta(hours=1)
    assert is_stuck("running", T0 - hour, T0, hour)
    assert not is_stuck("running", T0 - hour + timedelta(seconds=1), T0, hour)
    assert not is_stuck("paused", T0 - 5 * hour, T0, hour)
    assert not is_stuck("running", None, T0, hour)


def test_eta_from_rate_and_unknown_without_rate() -> None:
    """Time left is what remains over the rate; no rate, no estimate."""
    assert eta(1000, 400, 100.0) == timedelta(seconds=6)
    assert eta(1000, 1200, 100.0) == timedelta(0)
    assert eta(1000, 0, 0.0) is None
