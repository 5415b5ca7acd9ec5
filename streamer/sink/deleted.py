"""Leads the sink saw deleted, so a version read before the delete cannot bring them back.

The race: an export or retry job's page reads a lead while the capture streams, the call centre
then deletes it, and the capture's delete event reaches the topic before the page's `op=r` event of
the lead. Both are keyed by the lead, so they share a partition, in the order they were produced.
Applied in that order, the destination deletes the lead and then re-creates it from the stale
read. The destination's stale-write guard cannot help: it is a BEFORE UPDATE trigger, and the row
is gone, so the upsert inserts.

So the sink remembers, per lead, the `updated_at` of the version a delete removed (the delete's
`before` image, whole thanks to REPLICA IDENTITY FULL) and drops a later upsert whose `updated_at`
is not newer: that version existed before the delete. A lead re-created under the same id carries
a newer `updated_at` and passes.

The memory is bounded (the oldest deletes are forgotten first) and lost on restart: the race
lasts the seconds between a page read and its production. A tombstone table at the destination
would survive restarts, but would also refuse a deliberate re-export after someone emptied the
destination's table, and writes nothing the source could not give again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from schemas.lead import version_of

DEFAULT_CAPACITY = 100_000  # leads; 18.5 MB when full (tracemalloc: an OrderedDict of int -> datetime)


class RecentDeletes:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._versions: OrderedDict[int, datetime] = OrderedDict()

    def __len__(self) -> int:
        return len(self._versions)

    def record(self, lead_id: int, before: Mapping[str, Any] | None) -> None:
        """A delete of `lead_id` whose removed row was `before` (None or no `updated_at`: unknown,
        nothing is remembered, and later upserts pass as they did before)."""
        version = _version(before)
        if version is None:
            return
        self._versions[lead_id] = version
        self._versions.move_to_end(lead_id)
        while len(self._versions) > self.capacity:
            self._versions.popitem(last=False)

    def predates_delete(self, lead_id: int, after: Mapping[str, Any] | None) -> bool:
        """Whether the upsert `after` of `lead_id` is a version from before a delete seen here."""
        deleted = self._versions.get(lead_id)
        if deleted is None:
            return False
        version = _version(after)
        return version is not None and version <= deleted


def _version(image: Mapping[str, Any] | None) -> datetime | None:
    """The image's version; None when it has none or an unreadable one (nothing to compare)."""
    try:
        return version_of(image or {})
    except ValueError:
        return None
