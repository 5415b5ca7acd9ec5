"""The sink's health as operators see it: ok, degraded (retrying), or blocked (auth, drift).

Transitions are logged once each, so an outage of any length gives two lines, not thousands.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from streamer.logging import get_logger

State = Literal["ok", "degraded", "blocked"]

AUTH_FIX = ("the destination refused the service key: check STREAMER_DESTINATION__URL is Gestão Scouter's "
            "project URL, that STREAMER_DESTINATION__SERVICE_KEY is its service_role key (not the anon key), "
            "and that leads has a policy for service_role (SELECT * FROM pg_policies WHERE tablename = 'leads')")
DRIFT_FIX = ("the destination does not know a column we send: run `streamer validate schema`, apply the SQL it "
             "prints in Gestão Scouter's SQL editor, then `streamer schema reload-cache`; the sink resumes by itself")
FATAL_FIX = ("the sink cannot talk to the destination as configured (see the error): check the STREAMER_DESTINATION__ "
             "settings with `streamer validate config`; the sink re-checks every few seconds and resumes by itself")

log = get_logger(__name__)


@dataclass
class SinkHealth:
    state: State = "ok"
    reason: str = ""
    detail: str = ""
    since: float = 0.0
    # Requests sent to the destination and not answered yet, by ticket: when each was sent. A
    # destination that hangs (timeouts) gives no error to count for as long as the client waits.
    _waiting: dict[int, float] = field(default_factory=dict)
    _tickets: Iterator[int] = field(default_factory=itertools.count)

    def _move(self, state: State, reason: str, detail: str) -> None:
        if (state, reason) == (self.state, self.reason):
            return
        self.state, self.reason, self.detail, self.since = state, reason, detail, time.monotonic()
        if state == "ok":
            log.info("sink healthy again")
        elif state == "blocked":
            log.error("sink blocked: consuming stopped", reason=reason, fix=detail)
        else:
            log.warning("sink degraded: retrying", reason=reason, detail=detail)

    def ok(self) -> None:
        self._move("ok", "", "")

    def degraded(self, reason: str, detail: str = "") -> None:
        if self.state != "blocked":
            self._move("degraded", reason, detail)

    def blocked(self, reason: str, detail: str) -> None:
        self._move("blocked", reason, detail)

    def degraded_longer_than(self, seconds: float) -> bool:
        """Retrying the destination for more than `seconds` (readiness turns false then)."""
        return self.state == "degraded" and time.monotonic() - self.since > seconds

    @contextmanager
    def awaiting_answer(self) -> Iterator[None]:
        """Around one request to the destination: counted as waiting until it answers or fails."""
        ticket = next(self._tickets)
        self._waiting[ticket] = time.monotonic()
        try:
            yield
        finally:
            del self._waiting[ticket]

    def waiting_longer_than(self, seconds: float) -> bool:
        """A request has waited more than `seconds` for an answer (readiness turns false then,
        long before the client's timeout makes it a retry)."""
        now = time.monotonic()
        return any(now - sent > seconds for sent in self._waiting.values())

    @property
    def is_blocked(self) -> bool:
        return self.state == "blocked"
