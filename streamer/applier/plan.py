"""Pure steps of the applier: from Kafka values to the rows of one upsert, and its SQL.

Events carry Gestão Scouter's column names (streamer/webhook/validate.py); `to_row` maps them
back with the inverse field mapping and re-validates them as a `Lead`, so what reaches the
database has TabuladorMax's names and types.

Last writer wins by `updated_at`, in SQL (`upsert_sql`). A batch must end as if its events had
been applied one at a time, in order, each against the stored row. One statement cannot touch a
row twice, so a batch holding several versions of one lead is written in rounds (`rounds`): the
first version of each lead, then the second, ... each round one statement of the same
transaction, which sees the rounds before it. Folding the versions into one row instead is
wrong for partial versions: a column only the older version carried would ride along under the
newer `updated_at` and could overwrite a stored value newer than the version it came from (stored
11:00 email='b'; v 10:00 email='a', v 12:00 name='x': folded, email became 'a'). Keeping the
newest version alone loses the older one's columns whenever the stored row predates both.

A partial update never creates a lead (README, Reverse path): laid over no stored row it would
insert a half lead, only the columns Gestão Scouter sent (as for a lead deleted in TabuladorMax
and then edited there). `Plan.update_only` marks the versions that may only change a stored
lead: updates (`op=u`) that do not carry the whole row. An insert (`op=c`, the trigger's TG_OP)
creates the lead as before, and so does a version carrying every column the field mapping brings
back (the seed's trigger posts whole rows without a type). The store leaves a marked version of
a lead it does not have unwritten, and the applier dead-letters it (`missing_lead`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from schemas.debezium import Kind, decode, headers_of, model_kinds
from schemas.event import Op
from schemas.lead import LEAD_COLUMNS, SYNC_SOURCE_LOCAL, Lead, version_of
from schemas.mapping import FieldMapping

Row = dict[str, Any]


class Poison(Exception):
    """An event the applier can never apply; `reason` is a short label (metric, dead letter)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass
class Plan:
    """What one polled batch becomes: rows to upsert (in order; a lead may have several, see
    `rounds`), for each whether it may only update a stored lead (`update_only`, aligned with
    `rows`), how many versions could never win, and the positions left out and why."""

    rows: list[Row] = field(default_factory=list)
    superseded: int = 0
    skipped: list[tuple[int, Poison]] = field(default_factory=list)
    update_only: list[bool] = field(default_factory=list)


def to_row(value: bytes | None, inverse: FieldMapping, echo_sources: Collection[str] = (SYNC_SOURCE_LOCAL,),
           headers: Sequence[tuple[str, bytes]] | None = None) -> Row:
    """The TabuladorMax row for one Kafka value, or Poison saying why there is none."""
    return _version(value, inverse, echo_sources, headers)[0]


def topic_kinds(inverse: FieldMapping) -> dict[str, Kind]:
    """The kinds of the reverse topic's columns (Gestão Scouter's names), for values written
    without a schema: the lead's kinds under the names the forward mapping gives them."""
    return model_kinds(Lead, inverse.inverse().destination_name)


def whole_row_columns(inverse: FieldMapping) -> frozenset[str]:
    """The TabuladorMax columns a whole Gestão Scouter row brings back through `inverse`: every
    column the forward mapping sends there."""
    forward = inverse.inverse()
    return frozenset(column for column in LEAD_COLUMNS if forward.destination_name(column) is not None)


def _version(value: bytes | None, inverse: FieldMapping, echo_sources: Collection[str],
             headers: Sequence[tuple[str, bytes]] | None = None,
             kinds: Mapping[str, Kind] | None = None) -> tuple[Row, Op]:
    """The row for one Kafka value (either event format, docs/event-format.md) and the event's
    op, or Poison."""
    if value is None:
        raise Poison("tombstone")
    try:
        event = decode(value, topic_kinds(inverse) if kinds is None else kinds)
    except ValueError as exc:  # orjson's errors and EventError are ValueErrors
        raise Poison("undecodable", type(exc).__name__) from None
    if event.op == "d" or event.after is None:
        raise Poison("delete_unsupported")  # the reverse path carries inserts and updates only
    sync_source, _ = headers_of(event, headers)
    if sync_source in echo_sources:
        raise Poison("echo")
    try:
        lead = Lead.model_validate(inverse.apply(event.after))
    except ValidationError as exc:
        fields = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
        raise Poison("invalid_lead", ", ".join(fields)) from None
    return lead.model_dump(mode="json", exclude_unset=True), event.op  # type: ignore[return-value]


def _newer(candidate: Row, current: Row) -> bool:
    new, old = version_of(candidate), version_of(current)
    return new is not None and (old is None or new > old)


def drop_superseded(rows: Sequence[Row]) -> tuple[list[Row], int]:
    """The versions worth writing, in arrival order, and how many were dropped.

    A version not newer than the last kept version of its lead is dropped: once that one is
    applied (or found stale) the stored `updated_at` is at least as new, so the upsert's guard
    would skip it anyway. What is kept is, per lead, strictly newer at each step.

    >>> drop_superseded([{"id": 1, "updated_at": "2025-01-02"}, {"id": 1, "updated_at": "2025-01-01"}])
    ([{'id': 1, 'updated_at': '2025-01-02'}], 1)
    """
    kept = _kept_positions(rows)
    return [rows[i] for i in kept], len(rows) - len(kept)


def _kept_positions(rows: Sequence[Row]) -> list[int]:
    last: dict[Any, Row] = {}
    kept: list[int] = []
    for position, row in enumerate(rows):
        previous = last.get(row["id"])
        if previous is not None and not _newer(row, previous):
            continue
        last[row["id"]] = row
        kept.append(position)
    return kept


def rounds(rows: Sequence[Row]) -> list[list[Row]]:
    """`rows` split into statements that touch each lead at most once, keeping each lead's order:
    round k holds the k-th version of every lead that has one.

    >>> rounds([{"id": 1, "v": 1}, {"id": 2, "v": 1}, {"id": 1, "v": 2}])
    [[{'id': 1, 'v': 1}, {'id': 2, 'v': 1}], [{'id': 1, 'v': 2}]]
    """
    return [[rows[i] for i in positions] for positions in round_positions(rows)]


def round_positions(rows: Sequence[Row]) -> list[list[int]]:
    """`rounds`, as positions in `rows`."""
    out: list[list[int]] = []
    seen: dict[Any, int] = {}
    for position, row in enumerate(rows):
        k = seen.get(row["id"], 0)
        seen[row["id"]] = k + 1
        if k == len(out):
            out.append([])
        out[k].append(position)
    return out


def plan_batch(values: Sequence[bytes | None], inverse: FieldMapping,
               echo_sources: Iterable[str] = (SYNC_SOURCE_LOCAL,),
               headers: Sequence[Sequence[tuple[str, bytes]] | None] | None = None) -> Plan:
    """The rows for a polled batch (in order), with each unusable position and its reason.
    `headers`, aligned with `values`, carry the debezium format's routing (sync_source)."""
    plan = Plan()
    rows: list[Row] = []
    update_only: list[bool] = []
    echoes, whole, kinds = tuple(echo_sources), whole_row_columns(inverse), topic_kinds(inverse)
    for position, value in enumerate(values):
        try:
            row, op = _version(value, inverse, echoes, headers[position] if headers else None, kinds)
        except Poison as exc:
            plan.skipped.append((position, exc))
            continue
        rows.append(row)
        update_only.append(op != "c" and not whole <= row.keys())
    kept = _kept_positions(rows)
    plan.rows, plan.update_only = [rows[i] for i in kept], [update_only[i] for i in kept]
    plan.superseded = len(rows) - len(kept)
    return plan


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def upsert_sql(columns: Sequence[str] = LEAD_COLUMNS, table: str = "public.leads") -> str:
    """The batch upsert: `$1` is a JSON array of rows; returns the ids actually written.

    Each incoming row is laid over the stored one (`jsonb_populate_record(cur, doc)`), so a
    column the event lacks keeps its value instead of becoming NULL; the update happens only
    when the incoming `updated_at` is newer (last writer wins; a duplicate is not newer)."""
    cols = ", ".join(_ident(c) for c in columns)
    picked = ", ".join(f"r.{_ident(c)}" for c in columns)
    updates = ", ".join(f"{_ident(c)} = EXCLUDED.{_ident(c)}" for c in columns if c != "id")
    return (
        f"INSERT INTO {table} AS t ({cols})\n"
        f"SELECT {picked}\n"
        f"FROM jsonb_array_elements($1::jsonb) AS i(doc)\n"
        f"LEFT JOIN {table} AS cur ON cur.id = (i.doc->>'id')::bigint\n"
        f"CROSS JOIN LATERAL jsonb_populate_record(cur, i.doc) AS r\n"
        f"ON CONFLICT (id) DO UPDATE SET {updates}\n"
        f"WHERE t.updated_at IS NULL OR EXCLUDED.updated_at > t.updated_at\n"
        f"RETURNING t.id"
    )


def lock_sql(table: str = "public.leads") -> str:
    """Lock the batch's stored rows in id order first: the merge reads them, and a fixed order
    keeps two appliers from deadlocking."""
    return f"SELECT id FROM {table} WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE"
