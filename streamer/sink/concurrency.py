"""How many batches the sink keeps in flight: a window that adapts to the destination (AIMD).

Additive increase while batches land, multiplicative decrease when the destination says it is
overloaded (429, 503) or does not answer in time (a timeout or a dropped connection), as TCP's
congestion control does:

    window = Window(maximum=32, initial=4)
    window.landed()           # slow start: +1 per batch landed, until the first decrease
    window.congested(now)     # halved (never below `minimum`), once per `cooldown` seconds
    window.landed()           # then +1/window per batch landed: about +1 per round of batches
    window.limit              # the whole number of batches that may be in flight now

The decrease happens at most once per `cooldown` seconds, because the batches in flight when the
destination starts refusing all report it, and that is one signal, not one per batch. A
slower destination needs no rule of its own: each batch in flight takes longer to land, so the
window grows more slowly in time, and the sink keeps more leads in flight per second of latency.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.postgrest.errors import PostgrestError

CONGESTION_STATUSES = frozenset({429, 503})


def is_congestion(error: PostgrestError) -> bool:
    """429 or 503, or no answer at all (timeout, connection refused or dropped)."""
    return error.status is None or error.status in CONGESTION_STATUSES


@dataclass
class Window:
    maximum: int
    minimum: int = 1
    initial: int = 4
    cooldown: float = 1.0
    decrease: float = 0.5

    def __post_init__(self) -> None:
        if not 1 <= self.minimum <= self.maximum:
            raise ValueError(f"need 1 <= minimum ({self.minimum}) <= maximum ({self.maximum})")
        self.size = float(min(max(self.initial, self.minimum), self.maximum))
        self.slow_start = True
        self._decreased_at: float | None = None

    @property
    def limit(self) -> int:
        return int(self.size)

    def landed(self) -> None:
        """A batch landed without the destination pushing back."""
        step = 1.0 if self.slow_start else 1.0 / self.size
        self.size = min(float(self.maximum), self.size + step)

    def congested(self, now: float) -> None:
        """The destination answered 429/503 or timed out, at `now` (seconds, monotonic)."""
        if self._decreased_at is not None and now - self._decreased_at < self.cooldown:
            return
        self._decreased_at = now
        self.slow_start = False
        self.size = max(float(self.minimum), self.size * self.decrease)
