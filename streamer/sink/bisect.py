"""Find the rows that sink a batch: a bisection planner the I/O loop drives, with no I/O of its own.

A PostgREST bulk upsert is one statement, so one bad row fails all of them and only that one
error comes back (docs/postgrest.md §1.6). After a permanent 4xx, the loop splits the batch in halves
and resends, recursing into the halves that fail, until single rows: a row that fails alone is a
culprit; everything else lands. With k bad rows among n this costs about 2·k·log2(n) requests.

    bisection = Bisection(rows, first_error)
    while (chunk := bisection.next()) is not None:
        try:
            await client.upsert("leads", chunk)
        except PostgrestRejected as exc:
            bisection.rejected(exc)
        else:
            bisection.landed()
        # a transient error: call neither; next() hands back the same chunk to retry
    bisection.result.culprits   # [(row, its own error), ...] for the error table and the DLQ

One shortcut: when the left half of a failed chunk lands, the right half must hold the fault,
so it is split at once without being sent whole. A single row is always sent alone before it
is called a culprit, so rows that only fail together (say, a unique column repeated inside the
batch) land one by one instead of being misfiled. And one safety net: `uniform_failure` tells
when every row failed alone the same way, which is what a fault of the destination looks like.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

T = TypeVar("T")
E = TypeVar("E")


class _State(Enum):
    UNKNOWN = "unknown"  # must be sent to learn its fate
    FAILED = "failed"  # failed when sent exactly as it is
    INFERRED = "inferred"  # not sent, but its sibling landed, so it holds the fault


@dataclass
class _Chunk(Generic[T, E]):
    items: tuple[T, ...]
    state: _State
    error: E
    sibling: _Chunk[T, E] | None = None  # the right half waiting on this (left) half


@dataclass(frozen=True)
class Culprit(Generic[T, E]):
    item: T
    error: E  # the error this item got when sent alone


@dataclass(frozen=True)
class BisectResult(Generic[T, E]):
    landed: tuple[T, ...]
    culprits: tuple[Culprit[T, E], ...]
    requests: int  # requests the bisection asked for, retries of a transient failure not counted


@dataclass
class Bisection(Generic[T, E]):
    """Bisect `items`, which already failed together with `error`. Call `next()` for the chunk to
    send, then `landed()` or `rejected(error)`; `next()` returns None when done."""

    items: Sequence[T]
    error: E
    _stack: list[_Chunk[T, E]] = field(init=False)
    _outstanding: _Chunk[T, E] | None = field(init=False, default=None)
    _landed: list[T] = field(init=False, default_factory=list)
    _culprits: list[Culprit[T, E]] = field(init=False, default_factory=list)
    _requests: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if not self.items:
            raise ValueError("nothing to bisect")
        self._stack = [_Chunk(tuple(self.items), _State.FAILED, self.error)]

    def next(self) -> Sequence[T] | None:
        """The chunk to send now, the same one again until its outcome is reported; None when done."""
        if self._outstanding is not None:
            return self._outstanding.items
        while self._stack:
            chunk = self._stack[-1]
            if chunk.state is _State.UNKNOWN:
                return self._send(chunk)
            if len(chunk.items) == 1:
                if chunk.state is _State.INFERRED:
                    chunk.state = _State.UNKNOWN  # confirm alone before blaming it
                    return self._send(chunk)
                self._stack.pop()
                self._culprits.append(Culprit(chunk.items[0], chunk.error))
                continue
            self._stack.pop()
            middle = len(chunk.items) // 2
            right = _Chunk(chunk.items[middle:], _State.UNKNOWN, chunk.error)
            left = _Chunk(chunk.items[:middle], _State.UNKNOWN, chunk.error, sibling=right)
            self._stack += [right, left]
        return None

    def landed(self) -> None:
        """The chunk from `next()` landed."""
        chunk = self._take()
        self._stack.pop()
        self._landed.extend(chunk.items)
        if chunk.sibling is not None and chunk.sibling.state is _State.UNKNOWN:
            chunk.sibling.state = _State.INFERRED

    def rejected(self, error: E) -> None:
        """The chunk from `next()` failed permanently with `error`."""
        chunk = self._take()
        chunk.state, chunk.error, chunk.sibling = _State.FAILED, error, None

    @property
    def done(self) -> bool:
        return self._outstanding is None and not self._stack

    @property
    def result(self) -> BisectResult[T, E]:
        if not self.done:
            raise RuntimeError("the bisection is not finished")
        return BisectResult(tuple(self._landed), tuple(self._culprits), self._requests)

    def _send(self, chunk: _Chunk[T, E]) -> tuple[T, ...]:
        self._outstanding = chunk
        self._requests += 1
        return chunk.items

    def _take(self) -> _Chunk[T, E]:
        chunk = self._outstanding
        if chunk is None:
            raise RuntimeError("no chunk is awaiting an outcome; call next() first")
        self._outstanding = None
        return chunk


def bisect(items: Sequence[T], error: E, send: Callable[[Sequence[T]], E | None]) -> BisectResult[T, E]:
    """Run a bisection with a synchronous `send` that returns None on success or the error:
    for tests, and for callers whose I/O is not async."""
    bisection: Bisection[T, E] = Bisection(items, error)
    while (chunk := bisection.next()) is not None:
        outcome = send(chunk)
        if outcome is None:
            bisection.landed()
        else:
            bisection.rejected(outcome)
    return bisection.result


def uniform_failure(result: BisectResult[T, E], key: Callable[[E], Hashable], *, at_least: int = 2) -> E | None:
    """The error shared by every item when nothing landed and `at_least` items (two or more) each
    failed alone with the same `key` (for PostgREST: status, code, message, details); else None.

    Bisection blames a row that fails alone. When the fault is the destination's instead (a
    trigger or policy refusing every row, read-only storage behind an unusual status, a proxy
    answering every request alike), every row fails alone too, and "everyone is bad" would file
    a whole batch of good leads and commit past them. A batch of really bad leads that all fail
    with the very same error is rare by comparison, and waiting on it loses nothing, so the
    caller blocks on this outcome instead of filing. One item alone proves nothing either way:
    it stays an ordinary culprit; a caller can ask for more (`at_least`), so that a few bad leads
    refused in the same words (22001 "value too long" quotes no row) are filed, not waited on."""
    if result.landed or len(result.culprits) < max(2, at_least):
        return None
    first = result.culprits[0].error
    if any(key(c.error) != key(first) for c in result.culprits[1:]):
        return None
    return first
