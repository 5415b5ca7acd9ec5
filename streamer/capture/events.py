"""Pure: turn decoded pgoutput records into the one event envelope (schemas/event.py); rows read
as JSON (outbox, snapshot, export, webhook) go through `schemas.event.from_row`."""

from __future__ import annotations

from typing import Any

from connectors.postgres.assembler import ChangeRecord
from connectors.postgres.pgoutput import Relation
from connectors.postgres.pgtypes import convert_row
from schemas.debezium import Column
from schemas.event import ChangeEvent, SourceInfo

# Column name -> type oid, per relation message (the same object for every row the decoder
# reads until the relation is sent again): built once, not twice per event (a 49-entry dict).
# Keyed by id(), holding the relation so the id cannot be reused; bounded like the relations.
_OIDS: dict[int, tuple[Relation, dict[str, int]]] = {}
_OIDS_KEPT = 64


def _oids(relation: Relation) -> dict[str, int]:
    cached = _OIDS.get(id(relation))
    if cached is not None and cached[0] is relation:
        return cached[1]
    if len(_OIDS) >= _OIDS_KEPT:
        _OIDS.clear()
    oids = {c.name: c.type_oid for c in relation.columns}
    _OIDS[id(relation)] = (relation, oids)
    return oids


def relation_columns(relation: Relation) -> tuple[Column, ...]:
    """The table's columns as a RELATION message gives them (no nullability: all optional but
    the key; the encoder keeps what the catalog said)."""
    return tuple(Column(c.name, c.type_oid, not c.is_key, c.is_key) for c in relation.columns)


def _image(record: ChangeRecord, old: bool) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    image = record.old if old else record.new
    if image is None:
        return None, ()
    return convert_row(image.values, _oids(record.relation)), image.unchanged_toast


def from_pgoutput(record: ChangeRecord, *, db: str, last_commit_lsn: int | None = None) -> ChangeEvent | None:
    """An event for one row change; None for a TRUNCATE: it has no row to key on, and the
    capture reports it rather than deleting every lead downstream (truncate.py).
    `last_commit_lsn`: the commit before this transaction's, for Debezium's `source.sequence`."""
    if record.op == "t":
        return None
    before, _ = _image(record, old=True)
    after, unchanged = _image(record, old=False)
    if unchanged and before is not None and after is not None:
        # With REPLICA IDENTITY FULL the old tuple carries the value pgoutput left out of the
        # new one; fill it in rather than dropping the column (docs/cdc-failure-modes.md §2, point 8).
        for column in unchanged:
            if column in before:
                after[column] = before[column]
        unchanged = tuple(c for c in unchanged if c not in before)
    row = after if after is not None else before
    return ChangeEvent(
        op=record.op,
        before=before,
        after=after,
        unchanged_toast=list(unchanged),
        source=SourceInfo(
            connector="postgresql", db=db, schema_=record.relation.namespace, table=record.relation.name,
            lsn=record.commit_lsn, tx_id=record.xid, ts_ms=record.commit_ts_us // 1000,
            sync_source=(row or {}).get("sync_source"), ts_us=record.commit_ts_us, change_lsn=record.lsn,
            last_commit_lsn=last_commit_lsn,
        ),
    )


def split_key_change(event: ChangeEvent, key_column: str = "id") -> list[ChangeEvent]:
    """An update that changed the lead's id, as a delete of the old id then a create of the new.

    Events are keyed by lead id; sent as one update keyed by the new id, the old id's row would
    never be removed downstream (Debezium splits such an update the same way). Any other event
    is returned as it is."""
    if event.op != "u" or event.before is None or event.after is None:
        return [event]
    old, new = event.before.get(key_column), event.after.get(key_column)
    if old is None or old == new:
        return [event]
    return [ChangeEvent(op="d", before=event.before, after=None, source=event.source, ts_ms=event.ts_ms),
            ChangeEvent(op="c", before=None, after=event.after, source=event.source, ts_ms=event.ts_ms,
                        unchanged_toast=event.unchanged_toast)]
