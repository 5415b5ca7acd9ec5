"""The change event every producer builds: a Debezium-shaped envelope.

Field names follow Debezium's PostgreSQL connector value envelope (``before``, ``after``,
``op``, ``source`` with ``schema``/``table``/``lsn``/``txId``/``ts_ms``/``snapshot``, and the
event's own ``ts_ms``), plus our routing fields ``source.job_id`` and ``source.sync_source``.
An unchanged TOAST column is left out of ``after`` and named in ``unchanged_toast``, so no
consumer can mistake it for NULL.

How it is written to Kafka is the event format's business (``schemas/debezium.py``): the
``debezium`` format (Debezium's key, ``source`` block, tombstones and placeholder) or the
``legacy`` one, this model's own JSON (``to_bytes``), which the release before wrote.

    >>> ev = ChangeEvent(op="c", after={"id": 7, "name": "Ana"}, ts_ms=1,
    ...     source=SourceInfo(connector="postgresql", db="crm", schema="public",
    ...                       table="leads", ts_ms=1))
    >>> ev.key_bytes()
    b'7'
"""

from __future__ import annotations

import time
from typing import Any, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas import json_bytes
from schemas.json_exact import loads as loads_exact

Op = Literal["c", "u", "d", "r"]
_Model = TypeVar("_Model", bound=BaseModel)
Connector = Literal["postgresql", "outbox", "export", "webhook"]

# Kafka header names (values are ASCII/UTF-8 bytes).
HEADER_SYNC_SOURCE = "sync_source"
HEADER_JOB_ID = "job_id"
# The export job's generation (bumped by each reset) that produced the event, in decimal: the
# sink ignores the outcome of an event whose generation is no longer the job's.
HEADER_JOB_GENERATION = "job_generation"
HEADER_OP = "op"


def now_ms() -> int:
    """Milliseconds since the Unix epoch, the unit of every ``ts_ms``."""
    return time.time_ns() // 1_000_000


class SourceInfo(BaseModel):
    """Where and when a change happened (Debezium's ``source`` block)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    connector: Connector
    db: str
    schema_: str = Field(alias="schema")
    table: str
    lsn: int | None = None
    tx_id: int | None = Field(default=None, alias="txId")
    ts_ms: int = Field(description="commit time of the change at the source, Unix ms")
    snapshot: bool = False
    job_id: str | None = None
    sync_source: str | None = None
    # Written by the debezium format only (schemas/debezium.py), never by the legacy one:
    ts_us: int | None = Field(default=None, description="commit time in Unix microseconds, when known")
    change_lsn: int | None = Field(default=None, description="the change's own WAL position, when known")
    last_commit_lsn: int | None = Field(default=None, description="the commit before this transaction's")
    snapshot_mark: Literal["true", "first", "last", "incremental"] | None = None

    @classmethod
    def of_change(cls, *, db: str, schema: str, table: str, lsn: int, tx_id: int, ts_us: int,
                  sync_source: str | None, change_lsn: int | None, last_commit_lsn: int | None) -> SourceInfo:
        """A streamed change's source block (the capture's hot path), built without validation:
        every argument comes typed from the pgoutput decoder. Equal to validating the same
        fields (tests/schemas/test_event.py)."""
        if sync_source is not None and type(sync_source) is not str:
            raise ValueError(f"sync_source: a {type(sync_source).__name__}, not a string")
        return _unvalidated(cls, {
            "connector": "postgresql", "db": db, "schema_": schema, "table": table, "lsn": lsn, "tx_id": tx_id,
            "ts_ms": ts_us // 1000, "snapshot": False, "job_id": None, "sync_source": sync_source, "ts_us": ts_us,
            "change_lsn": change_lsn, "last_commit_lsn": last_commit_lsn, "snapshot_mark": None})


def _unvalidated(cls: type[_Model], fields: dict[str, Any]) -> _Model:
    """An instance holding `fields` (every field, in declaration order) as they are: what
    pydantic's `model_construct` makes, without its per-field loop in Python, which costs more
    than validating. Only for values built by our own code, already of the field's type."""
    instance = cls.__new__(cls)
    object.__setattr__(instance, "__dict__", fields)
    object.__setattr__(instance, "__pydantic_fields_set__", set(fields))
    object.__setattr__(instance, "__pydantic_extra__", None)
    object.__setattr__(instance, "__pydantic_private__", None)
    return instance


# SourceInfo fields the legacy format never wrote.
_NEW_SOURCE_FIELDS = {"ts_us", "change_lsn", "last_commit_lsn", "snapshot_mark"}


class ChangeEvent(BaseModel):
    """One row change: ``c`` create, ``u`` update, ``d`` delete, ``r`` read (snapshot/export).

    ``before`` and ``after`` map column name → JSON value. A delete's ``before`` may hold only
    the key columns unless the table has REPLICA IDENTITY FULL."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    op: Op
    source: SourceInfo
    ts_ms: int = Field(default_factory=now_ms, description="when this event was built, Unix ms")
    unchanged_toast: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_images(self) -> Self:
        if self.op == "d":
            if self.before is None or self.after is not None:
                raise ValueError("a delete ('d') has 'before' and no 'after'")
        elif self.after is None:
            raise ValueError(f"op {self.op!r} needs 'after'")
        if self.unchanged_toast:
            if self.after is None:
                raise ValueError("'unchanged_toast' only makes sense with an 'after' image")
            clash = sorted(set(self.unchanged_toast) & self.after.keys())
            if clash:
                raise ValueError(f"unchanged TOAST columns must be left out of 'after': {clash}")
        return self

    @classmethod
    def of_change(cls, op: Literal["c", "u", "d"], before: dict[str, Any] | None, after: dict[str, Any] | None,
                  unchanged_toast: list[str], source: SourceInfo) -> ChangeEvent:
        """A streamed change's event (the capture's hot path, streamer/capture/events.py), built
        without validating its rows again: they come from the pgoutput decoder. The rules the
        validator enforces on images are checked, cheaply: a bad one still raises."""
        if (op == "d") != (after is None) or (op == "d" and before is None):
            raise ValueError(f"op {op!r} with before={before is not None}, after={after is not None}")
        if unchanged_toast and (after is None or not after.keys().isdisjoint(unchanged_toast)):
            raise ValueError("unchanged TOAST columns must be left out of 'after'")
        return _unvalidated(cls, {"before": before, "after": after, "op": op, "source": source, "ts_ms": now_ms(),
                                  "unchanged_toast": unchanged_toast})

    def to_bytes(self) -> bytes:
        """Serialise to the JSON Kafka value, with Debezium's field names."""
        return json_bytes.dumps(self.model_dump(by_alias=True, exclude={"source": _NEW_SOURCE_FIELDS}))

    @classmethod
    def from_bytes(cls, data: bytes) -> ChangeEvent:
        """Parse a Kafka value written by ``to_bytes`` (or by Debezium, extra fields ignored);
        numbers stay exact (json_exact.py)."""
        return cls.model_validate(loads_exact(data))

    def key(self, key_column: str = "id") -> Any:
        """The row's key value: from ``after``, or from ``before`` for a delete."""
        image = self.after if self.after is not None else self.before
        if image is None or image.get(key_column) is None:
            raise ValueError(f"event has no {key_column!r} to key on")
        return image[key_column]

    def key_bytes(self, key_column: str = "id") -> bytes:
        """Kafka key: the lead id as ASCII bytes, so one lead's events share a partition."""
        return str(self.key(key_column)).encode("ascii")

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers for routing without parsing the value; absent values are left out."""
        out = [(HEADER_OP, self.op.encode("ascii"))]
        if self.source.sync_source is not None:
            out.append((HEADER_SYNC_SOURCE, self.source.sync_source.encode("utf-8")))
        if self.source.job_id is not None:
            out.append((HEADER_JOB_ID, self.source.job_id.encode("utf-8")))
        return out


def header(headers: list[tuple[str, bytes]] | None, name: str) -> str | None:
    """Return the first header called ``name`` decoded as UTF-8, or None."""
    for key, value in headers or ():
        if key == name:
            return value.decode("utf-8")
    return None


KafkaRecord = tuple[bytes, bytes | None, list[tuple[str, bytes]]]
"""(key, value, headers); value None is a tombstone."""


def from_row(op: Op, before: dict[str, Any] | None, after: dict[str, Any] | None, *, connector: Connector,
             db: str, table: str, ts_ms: int, tx_id: int | None = None, job_id: str | None = None,
             snapshot: bool = False, snapshot_mark: Literal["true", "first", "last", "incremental"] | None = None,
             schema_name: str = "public") -> ChangeEvent:
    """An event for a row read as JSON (outbox, snapshot, export, webhook). An export's rows are
    read on demand, outside the initial snapshot: what Debezium marks an "incremental" snapshot."""
    row = after if after is not None else before
    if snapshot_mark is None and snapshot and connector == "export":
        snapshot_mark = "incremental"
    return ChangeEvent(
        op=op, before=before, after=after,
        source=SourceInfo(connector=connector, db=db, schema_=schema_name, table=table, tx_id=tx_id, ts_ms=ts_ms,
                          snapshot=snapshot, job_id=job_id, sync_source=(row or {}).get("sync_source"),
                          snapshot_mark=snapshot_mark),
    )


def to_record(event: ChangeEvent) -> KafkaRecord:
    """(key, value, headers) in the legacy format: key = lead id, so a lead's events keep order.
    Producers write through `schemas.debezium.Encoder`, which picks the format."""
    return event.key_bytes(), event.to_bytes(), event.headers()
