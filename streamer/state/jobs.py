"""The job state machine, pure: which action is allowed from which state, and where it leads.

    pending ──claim──► running ──complete──► completed
       │                │  ▲ │
       │             pause│  │resume        fail ──► failed ──resume──► running
       └──pause──► paused ─┘  └──────────────────────────────────────────────┘
    cancel: from pending, running or paused ──► cancelled
    reset:  from any state ──► pending (counters, cursor and the job's error rows cleared, and the
            generation bumped: the sink drops late outcomes of the replaced run, `progress.py`)

`claim` is what a runner does when it takes a pending job; `complete` and `fail` are the
runner's too. The operator's actions are pause, resume, reset and cancel (`OPERATOR_ACTIONS`).
A job is "stuck" when it runs and has shown no progress for `stuck_after`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal, get_args

from streamer.state.errors import InvalidTransition

Status = Literal["pending", "running", "paused", "completed", "failed", "cancelled"]
Kind = Literal["export", "replay", "retry"]
Action = Literal["claim", "pause", "resume", "reset", "cancel", "complete", "fail"]

STATUSES: tuple[Status, ...] = get_args(Status)
OPERATOR_ACTIONS: tuple[Action, ...] = ("pause", "resume", "reset", "cancel")
TERMINAL: frozenset[Status] = frozenset({"completed", "failed", "cancelled"})
# Statuses a runner takes up: a `running` job whose runner died continues where it stopped.
RUNNABLE: frozenset[Status] = frozenset({"pending", "running"})

_ALL: frozenset[Status] = frozenset(STATUSES)
TRANSITIONS: dict[Action, tuple[frozenset[Status], Status]] = {
    "claim": (frozenset({"pending", "running"}), "running"),
    "pause": (frozenset({"pending", "running"}), "paused"),
    "resume": (frozenset({"paused", "failed"}), "running"),
    "cancel": (frozenset({"pending", "running", "paused"}), "cancelled"),
    "reset": (_ALL, "pending"),
    "complete": (frozenset({"running"}), "completed"),
    "fail": (frozenset({"pending", "running"}), "failed"),
}

# What a reset puts back to its initial value (the job's error and progress rows are deleted too).
# The total too: a runner counts it again when it starts (an export its range, `store.set_total`;
# a replay from the offsets it holds, `replay.run_replay`).
RESET_COLUMNS: dict[str, object] = {
    "total_leads": 0, "exported_leads": 0, "error_leads": 0, "produced_leads": 0,
    "cursor": None, "processing_date": None, "last_completed_date": None, "produced_at": None,
    "error_message": None, "started_at": None, "paused_at": None, "finished_at": None,
}


def allowed_from(action: Action) -> frozenset[Status]:
    """The statuses from which `action` may be taken."""
    return TRANSITIONS[action][0]


def next_status(status: str, action: Action) -> Status:
    """The status after `action`, or InvalidTransition when `status` does not allow it.

    >>> next_status("running", "pause")
    'paused'
    """
    sources, target = TRANSITIONS[action]
    if status not in sources:
        raise InvalidTransition(status, action)
    return target


def actions_from(status: str) -> list[Action]:
    """The operator actions a job in `status` accepts (for `jobs show`)."""
    return [a for a in OPERATOR_ACTIONS if status in TRANSITIONS[a][0]]


def is_settled(total: int, landed: int, failed: int) -> bool:
    """Whether the sink has reported on every produced lead (landed or failed)."""
    return landed + failed >= total


def is_stuck(status: str, last_progress: datetime | None, now: datetime, stuck_after: timedelta) -> bool:
    """Running and no progress (cursor moved, counters changed) for `stuck_after` or more."""
    return status == "running" and last_progress is not None and now - last_progress >= stuck_after


def eta(total: int, done: int, rate_per_second: float) -> timedelta | None:
    """Time left at the current rate, or None when the rate is unknown (zero)."""
    if rate_per_second <= 0:
        return None
    return timedelta(seconds=max(0, total - done) / rate_per_second)


# What a job runner returns (history/runner.py): why it stopped running the job here.
Outcome = Literal["completed", "produced", "paused", "cancelled", "reset", "stopped", "busy", "failed", "finished"]
