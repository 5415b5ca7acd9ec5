"""Fault knobs and the request log, with an injected clock."""

from __future__ import annotations

import pytest

from devserver.faults import FaultSpecError, FaultState, fault_error
from devserver.request_log import LoggedRequest, RequestLog, ids_in_body


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_window_expires() -> None:
    """A forced status applies until `seconds` have passed."""
    clock = Clock()
    state = FaultState(clock)
    state.configure({"status": 503, "seconds": 30, "retry_after": 5})
    assert state.take("POST", "leads") is not None
    clock.now += 31
    assert state.take("POST", "leads") is None


def test_a_request_budget_runs_out() -> None:
    """`requests: 2` fails exactly two requests."""
    state = FaultState(Clock())
    state.configure({"status": 429, "requests": 2})
    assert [state.take("GET", None) is not None for _ in range(3)] == [True, True, False]


def test_faults_can_target_one_table() -> None:
    """A table-scoped fault leaves other tables alone."""
    state = FaultState(Clock())
    state.configure({"status": 500, "table": "a"})
    assert state.take("POST", "b") is None
    assert state.take("POST", "a") is not None


def test_bodies_mimic_postgrest_and_the_gateway() -> None:
    """503 is PGRST000 with Retry-After; 429 is a gateway body."""
    state = FaultState(Clock())
    state.configure({"status": 503, "retry_after": 7})
    assert state.fault is not None
    error = fault_error(state.fault)
    assert (error.code, error.headers["retry-after"]) == ("PGRST000", "7")
    state.configure({"status": 429})
    assert state.fault is not None
    assert fault_error(state.fault).code is None


def test_bad_specs_are_rejected() -> None:
    """Unknown fields and negative numbers are errors."""
    with pytest.raises(FaultSpecError):
        FaultState().configure({"stauts": 503})
    with pytest.raises(FaultSpecError):
        FaultState().configure({"latency_ms": -1})


def test_request_log_is_bounded_and_counts_everything() -> None:
    """The ring buffer keeps the last N entries; counters keep totals."""
    log = RequestLog(size=2)
    for i in range(3):
        log.record(LoggedRequest(0.0, "POST", "/rest/v1/leads", "leads", 201, 1, [i]))
    snapshot = log.snapshot()
    assert [r["ids"] for r in snapshot["requests"]] == [[1], [2]]
    assert snapshot["counts"] == {"POST leads": 3}


def test_ids_are_read_from_objects_and_arrays() -> None:
    """`id`s come from an object or each element of an array."""
    assert ids_in_body(b'[{"id":"a"},{"x":1},{"id":2}]') == ["a", 2]
    assert ids_in_body(b'{"id":5}') == [5]
    assert ids_in_body(b"[{") == []
