"""Key-ordered concurrency: which buffered records of a partition may leave in the next batch.

Records of one partition wait in offset order. A batch takes them from the front, skipping every
record whose key (the lead id) is in a batch still in flight, and every later record of a key
skipped once, so a lead's later change never lands before its earlier one, while leads with
other ids go ahead (as Confluent's parallel consumer does). Batches in flight of one partition
therefore never share a key.

    busy = {b"7"}                                  # lead 7 is in a batch in flight
    taken, kept = select([r7a, r8, r7b, r9], busy, limit=50)
    # taken = [r8, r9]; kept = [r7a, r7b], in offset order, for after lead 7's batch landed

`Nagle`-like adaptive linger (component.py): a batch that is not full leaves at once unless a
partial batch of its partition is already in flight; then it waits until it fills, that batch
lands, or `linger_ms` passed. A lone change is sent at once, and under load batches fill up.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from typing import Protocol, TypeVar


class Keyed(Protocol):
    @property
    def key(self) -> bytes | None: ...


R = TypeVar("R", bound=Keyed)


def select(buffer: Iterable[R], busy: Set[bytes | None], limit: int) -> tuple[list[R], list[R]]:
    """Up to `limit` records of `buffer` that may leave now, and the others, both in order.

    `busy` holds the keys of the partition's batches in flight; a record without a key (a
    tombstone that lost it, a poison record) is ordered under the key None."""
    taken: list[R] = []
    kept: list[R] = []
    held: set[bytes | None] = set()
    it = iter(buffer)
    for record in it:
        if len(taken) >= limit:
            kept.append(record)
            kept.extend(it)
            break
        key = record.key
        if key in busy or key in held:
            held.add(key)
            kept.append(record)
        else:
            taken.append(record)
    return taken, kept
