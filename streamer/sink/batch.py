"""Turn the records consumed from one partition into a `Plan`: what to upsert, what to delete.

    plan = build_plan(records, PlanOptions.from_settings(settings.sink, mapping))
    for request in plan.requests(max_rows=50):
        await client.upsert("leads", request.payload(), columns=request.columns)
    await client.delete("leads", plan.delete_ids(), key=plan.key_column)

Rules, in the order they apply to each record (offset order):

1. No value (a Kafka tombstone, which Debezium writes after a delete): skipped, `tombstone`.
2. A value that is not a change event (either event format, docs/event-format.md) with an
   integer lead id: a `Poison` for the dead-letter topic, never an exception. Each value is
   parsed once (`schemas.debezium.decode`: orjson, exact numbers, no pydantic model).
3. A delete when `delete_mode="ignore"`: skipped, `delete_ignored`, as if it never happened.
4. The lead's events fold into its latest state; the last event wins, delete or upsert, except
   that an upsert whose `updated_at` is older than the state it follows keeps that state: the
   destination's stale-write guard would refuse it across batches, so the fold refuses it within
   one. (An export page read before an update can reach the topic after the update's event.)
   PostgREST answers 500 / 21000 to a merge batch that repeats a key (docs/postgrest.md §2.2), and
   one lead's events share a partition (docs/design.md, Event), so one state per lead is enough.
   An event that left unchanged TOAST columns out of `after` keeps the values an earlier event
   of the batch gave them.
5. Loop filter (docs/design.md, Loop prevention): a lead all of whose events in the batch carry a
   `sync_source` (the record's header, the legacy format's `source.sync_source`, else the row's
   own column) in `skip_sync_sources` is not written; its events count as `echo:<source>`.
   A lead with at least one event of ours is written in its latest state even when that state
   came from an echo: the echo is the full source row, ours included, and writing an older
   state instead would undo the destination's own change.
6. Given the sink's `RecentDeletes` (`deleted.py`), every delete is remembered there, and an
   upsert of a lead whose `updated_at` is not newer than the version a delete removed is skipped,
   `predates_delete`: an export page read that raced the delete must not resurrect the lead.
   Checked before folding, so it holds within a batch and across batches.

Outgoing rows are mapped (`mapping.py`) and stamped `sync_source = 'tabuladormax'`, so the
destination's reverse trigger ignores them.

Key sets: PostgREST needs every object of a bulk body to have the same keys (400 PGRST102,
docs/postgrest.md §1.2), and with `columns=` it writes NULL for a missing key, also over an existing
row (§1.8), which would wipe a TOAST column we did not receive. So `requests()` groups rows by
their exact key set, one request per set (normally one: full rows), and sends that set as
`columns=`; no column is ever filled with NULL or a default on our side.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson

from schemas.debezium import LEAD_KINDS, Change, EventError, Kind, decode
from schemas.event import HEADER_SYNC_SOURCE
from schemas.lead import SYNC_SOURCE_LOCAL, version_of
from schemas.mapping import IDENTITY, SYNC_SOURCE_COLUMN, FieldMapping
from streamer.sections import SinkSettings
from streamer.sink.deleted import RecentDeletes

REASON_TOMBSTONE = "tombstone"
REASON_DELETE_IGNORED = "delete_ignored"
REASON_ECHO = "echo"  # counted as "echo:<sync_source>"
REASON_PREDATES_DELETE = "predates_delete"
MAX_REASON = 300


class RecordLike(Protocol):
    """What the plan reads from a consumed record; aiokafka's `ConsumerRecord` fits."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...
    @property
    def timestamp(self) -> int: ...


@dataclass(frozen=True)
class ConsumedRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()
    timestamp: int = 0


@dataclass(frozen=True)
class Poison:
    """A record that is not a usable change event; `reason` names no column value (no PII)."""

    offset: int
    key: bytes | None
    value: bytes | None
    reason: str


@dataclass(frozen=True)
class Upsert:
    lead_id: int
    row: Mapping[str, Any]  # destination column names, stamped
    source_ts_ms: int  # earliest source commit among our events folded in: for end-to-end latency
    offsets: tuple[int, ...]  # every record folded into this state, for the error table / DLQ


@dataclass(frozen=True)
class Delete:
    lead_id: int
    source_ts_ms: int
    offsets: tuple[int, ...]


@dataclass(frozen=True)
class UpsertRequest:
    """Rows sharing one key set, to send as one bulk upsert with `columns=` = that set."""

    columns: tuple[str, ...]
    rows: tuple[Upsert, ...]

    def payload(self) -> list[dict[str, Any]]:
        return [dict(u.row) for u in self.rows]


@dataclass(frozen=True)
class Plan:
    topic: str
    partition: int
    first_offset: int
    last_offset: int
    key_column: str  # the destination's name for the lead id
    upserts: tuple[Upsert, ...]
    deletes: tuple[Delete, ...]
    poison: tuple[Poison, ...]
    skipped: Mapping[str, int]  # reason -> records
    superseded: int  # events folded away by a later event of the same lead

    @property
    def commit_offset(self) -> int:
        """The offset to commit once this plan has landed: Kafka's next offset to read."""
        return self.last_offset + 1

    def requests(self, max_rows: int = 50) -> list[UpsertRequest]:
        """The upserts grouped by key set, each group cut into requests of at most `max_rows`."""
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        groups: dict[frozenset[str], list[Upsert]] = {}
        for upsert in self.upserts:
            groups.setdefault(frozenset(upsert.row), []).append(upsert)
        out = []
        for rows in groups.values():
            columns = tuple(rows[0].row)
            out += [UpsertRequest(columns, tuple(rows[i:i + max_rows])) for i in range(0, len(rows), max_rows)]
        return out

    def delete_ids(self) -> list[int]:
        return [d.lead_id for d in self.deletes]


@dataclass(frozen=True)
class PlanOptions:
    mapping: FieldMapping = IDENTITY
    skip_sync_sources: frozenset[str] = frozenset({"gestao_scouter", "supabase"})
    delete_mode: Literal["propagate", "ignore"] = "propagate"
    key_column: str = "id"  # the source's name; events are keyed on it
    stamp: str = SYNC_SOURCE_LOCAL
    kinds: Mapping[str, Kind] = field(default_factory=lambda: LEAD_KINDS, hash=False)  # schemaless values

    def __post_init__(self) -> None:
        if self.mapping.destination_name(self.key_column) is None:
            raise ValueError(f"the field mapping drops the key column {self.key_column!r}")

    @classmethod
    def from_settings(cls, settings: SinkSettings, mapping: FieldMapping = IDENTITY) -> PlanOptions:
        return cls(mapping=mapping, skip_sync_sources=frozenset(settings.skip_sync_sources),
                   delete_mode=settings.delete_mode)


@dataclass
class _Lead:
    """One lead's state while folding: `after` is None for a delete."""

    after: dict[str, Any] | None
    source_ts_ms: int | None = None
    offsets: list[int] = field(default_factory=list)
    echoes: Counter[str] | None = None  # made for the first echo only: most leads have none


def build_plan(records: Sequence[RecordLike], options: PlanOptions = PlanOptions(),
               deleted: RecentDeletes | None = None) -> Plan:
    """The plan for `records`, all from one partition of one topic (not empty). `deleted`, when
    given, is read and updated (rule 6)."""
    if not records:
        raise ValueError("no records to plan")
    ordered = sorted(records, key=lambda r: r.offset)
    if len({(r.topic, r.partition) for r in ordered}) != 1:
        raise ValueError("records must all come from one partition of one topic")
    skipped: Counter[str] = Counter()
    poison: list[Poison] = []
    leads: dict[int, _Lead] = {}
    superseded = 0
    for record in ordered:
        decoded = _decode(record, options.kinds)
        if isinstance(decoded, Poison):
            poison.append(decoded)
        elif decoded is None:
            skipped[REASON_TOMBSTONE] += 1
        elif decoded[1].op == "d" and options.delete_mode == "ignore":
            skipped[REASON_DELETE_IGNORED] += 1
        else:
            lead_id, event = decoded
            if deleted is not None:
                if event.op == "d":
                    deleted.record(lead_id, event.before)
                elif deleted.predates_delete(lead_id, event.after):
                    skipped[REASON_PREDATES_DELETE] += 1
                    continue
            if lead_id in leads:
                superseded += 1
            leads[lead_id] = _fold(leads.get(lead_id), event, record.offset, options)
    upserts, deletes = _emit(leads, options, skipped)
    first = ordered[0]
    return Plan(
        topic=first.topic, partition=first.partition, first_offset=first.offset,
        last_offset=ordered[-1].offset, key_column=_destination_key(options),
        upserts=upserts, deletes=deletes, poison=tuple(poison), skipped=dict(skipped), superseded=superseded,
    )


def _decode(record: RecordLike, kinds: Mapping[str, Kind] = LEAD_KINDS) -> tuple[int, Change] | Poison | None:
    """The lead id and change, None for a tombstone, or a Poison saying what is wrong (never a
    value of the lead's: the reason reaches logs)."""
    if record.value is None:
        return None
    try:
        event = decode(record.value, kinds)
    except orjson.JSONDecodeError as exc:
        return _poison(record, f"not JSON: {exc}")
    except EventError as exc:
        return _poison(record, f"not a change event: {exc}")
    except ValueError as exc:  # a converted column (date, time, json) that does not convert
        return _poison(record, f"not a change event: a column value does not convert ({type(exc).__name__})")
    try:
        lead_id = event.key()
    except ValueError as exc:
        return _poison(record, str(exc))
    if type(lead_id) is not int:
        return _poison(record, f"the lead id is a {type(lead_id).__name__}, not an integer")
    if event.sync_source is None:
        for name, value in record.headers or ():
            if name == HEADER_SYNC_SOURCE:
                event.sync_source = value.decode("utf-8", "replace")
                break
    return lead_id, event


def _poison(record: RecordLike, reason: str) -> Poison:
    return Poison(record.offset, record.key, record.value, reason[:MAX_REASON])


def _fold(previous: _Lead | None, event: Change, offset: int, options: PlanOptions) -> _Lead:
    """`previous` (the lead's state so far in the batch) updated with `event`."""
    if event.op == "d":
        after = None
    else:
        assert event.after is not None  # decode guarantees an image for c/u/r
        after = event.after  # decoded for this plan alone: no copy needed
        if previous is not None and previous.after is not None:
            if _older(after, previous.after):
                after = previous.after
            else:
                for column in event.unchanged:
                    if column in previous.after:
                        after[column] = previous.after[column]
    lead = _Lead(after) if previous is None else previous
    lead.after = after
    lead.offsets.append(offset)
    origin = _origin(event)
    if origin is not None and origin in options.skip_sync_sources:
        if lead.echoes is None:
            lead.echoes = Counter()
        lead.echoes[origin] += 1
    else:
        ts = event.ts_ms
        lead.source_ts_ms = ts if lead.source_ts_ms is None else min(lead.source_ts_ms, ts)
    return lead


def _older(after: Mapping[str, Any], before: Mapping[str, Any]) -> bool:
    """Whether the row `after` is a version older than `before` (rule 4); False when either has
    no readable `updated_at`, as the destination's guard lets those through."""
    try:
        new, old = version_of(after), version_of(before)
    except ValueError:
        return False
    return new is not None and old is not None and new < old


def _origin(event: Change) -> str | None:
    """Who wrote the row: the routing header (or the legacy envelope's field), else the row
    image's own column."""
    if event.sync_source is not None:
        return event.sync_source
    image = event.after if event.after is not None else event.before
    value = (image or {}).get(SYNC_SOURCE_COLUMN)
    return value if isinstance(value, str) else None


def _emit(
    leads: Mapping[int, _Lead], options: PlanOptions, skipped: Counter[str],
) -> tuple[tuple[Upsert, ...], tuple[Delete, ...]]:
    upserts: list[Upsert] = []
    deletes: list[Delete] = []
    # The identity mapping (the default) would only copy the row again: `_fold` made it ours.
    mapping = options.mapping
    identity = not mapping.field_mappings and mapping.unmapped_columns == "pass"
    # Ordered by each lead's last event, so a plan reads in the order things happened.
    for lead_id, lead in sorted(leads.items(), key=lambda item: item[1].offsets[-1]):
        if lead.source_ts_ms is None:  # set by the first event of ours, so: only echoes
            for origin, count in (lead.echoes or {}).items():
                skipped[f"{REASON_ECHO}:{origin}"] += count
            continue
        offsets = tuple(lead.offsets)
        if lead.after is None:
            deletes.append(Delete(lead_id, lead.source_ts_ms, offsets))
        else:
            row = lead.after if identity else mapping.apply(lead.after)
            row[SYNC_SOURCE_COLUMN] = options.stamp
            upserts.append(Upsert(lead_id, row, lead.source_ts_ms, offsets))
    return tuple(upserts), tuple(deletes)


def _destination_key(options: PlanOptions) -> str:
    name = options.mapping.destination_name(options.key_column)
    assert name is not None  # checked by PlanOptions
    return name
