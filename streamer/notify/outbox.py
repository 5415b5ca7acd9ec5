"""When to mail, pure: at most one e-mail per kind every `min_interval` seconds; what comes in
meanwhile waits and goes into the next e-mail of its kind, which says how many notices it folds
in; an e-mail the relay refused is tried again `retry` seconds later, with what came since."""

from __future__ import annotations

from dataclasses import dataclass, field

from streamer.notify.message import Item, Kind


@dataclass
class _Waiting:
    items: list[Item] = field(default_factory=list)
    notices: int = 0  # notices gathered since the last e-mail of the kind: all but one are "suppressed"
    last_sent: float | None = None
    not_before: float = 0.0


class Outbox:
    def __init__(self, min_interval: float, retry: float) -> None:
        self.min_interval, self.retry = min_interval, retry
        self._kinds: dict[Kind, _Waiting] = {}

    def add(self, kind: Kind, items: list[Item]) -> bool:
        """Gather one notice (its items); True when it joins one already waiting (it will not
        have an e-mail of its own: a suppressed notice)."""
        if not items:
            return False
        waiting = self._kinds.setdefault(kind, _Waiting())
        joined = waiting.notices > 0
        waiting.items.extend(items)
        waiting.notices += 1
        return joined

    def due(self, now: float) -> list[tuple[Kind, list[Item], int]]:
        """The kinds to mail now: (kind, items, notices suppressed into this e-mail)."""
        ready = []
        for kind, w in self._kinds.items():
            if not w.notices or now < w.not_before:
                continue
            if w.last_sent is not None and now - w.last_sent < self.min_interval:
                continue
            ready.append((kind, list(w.items), w.notices - 1))
        return ready

    def sent(self, kind: Kind, now: float) -> None:
        w = self._kinds[kind]
        w.items, w.notices, w.last_sent, w.not_before = [], 0, now, 0.0

    def failed(self, kind: Kind, now: float) -> None:
        self._kinds[kind].not_before = now + self.retry

    def waiting(self, kind: Kind) -> int:
        """Notices of `kind` not mailed yet."""
        w = self._kinds.get(kind)
        return w.notices if w else 0
