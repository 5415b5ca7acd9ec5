"""Pure: turn decoded pgoutput records into the one event envelope (schemas/event.py); rows read
as JSON (outbox, snapshot, export, webhook) go through `schemas.event.from_row`."""

from __future__ import annotations

from typing import Any

from connectors.postgres.assembler import ChangeRecord
from connectors.postgres.pgoutput import Relation
from connectors.postgres.pgtypes import RowConverter
from schemas.debezium import Column
from schemas.event import ChangeEvent, SourceInfo

# The row converter per relation message (the same object for every row the decoder reads
# until the relation is sent again): compiled once, not per event. Keyed by id(), holding the
# relation so the id cannot be reused; bounded like the relations.
_CONVERTERS: dict[int, tuple[Relation, RowConverter]] = {}
_CONVERTERS_KEPT = 64


def _converter(relation: Relation) -> RowConverter:
    cached = _CONVERTERS.get(id(relation))
    if cached is not None and cached[0] is relation:
        return cached[1]
    if len(_CONVERTERS) >= _CONVERTERS_KEPT:
        _CONVERTERS.clear()
    converter = RowConverter((c.name, c.type_oid) for c in relation.columns)
    _CONVERTERS[id(relation)] = (relation, converter)
    return converter


def relation_columns(relation: Relation) -> tuple[Column, ...]:
    """The table's columns as a RELATION message gives them (no nullability: all optional but
    the key; the encoder keeps what the catalog said)."""
    return tuple(Column(c.name, c.type_oid, not c.is_key, c.is_key) for c in relation.columns)


def _image(record: ChangeRecord, old: bool) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    image = record.old if old else record.new
    if image is None:
        return None, ()
    return _converter(record.relation)(image.values), image.unchanged_toast


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
    relation = record.relation
    source = SourceInfo.of_change(
        db=db, schema=relation.namespace, table=relation.name, lsn=record.commit_lsn, tx_id=record.xid,
        ts_us=record.commit_ts_us, sync_source=(row or {}).get("sync_source"), change_lsn=record.lsn,
        last_commit_lsn=last_commit_lsn)
    return ChangeEvent.of_change(record.op, before, after, list(unchanged), source)


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
