"""Pure steps of the applier: from Kafka values to the rows of one upsert, and its SQL.

Events carry Gestão Scouter's column names (streamer/webhook/validate.py); `to_row` maps them
back with the inverse field mapping and re-validates them as a `Lead`, so what reaches the
database has TabuladorMax's names and types.

Last writer wins by `updated_at`, in SQL (`upsert_sql`). One statement cannot touch a row twice,
so `merge_versions` first folds a batch's versions of one lead into one, in `updated_at` order.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from schemas.event import ChangeEvent
from schemas.lead import LEAD_COLUMNS, SYNC_SOURCE_LOCAL, Lead
from streamer.sink.mapping import FieldMapping

Row = dict[str, Any]


class Poison(Exception):
    """An event the applier can never apply; `reason` is a short label (metric, dead letter)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass
class Plan:
    """What one polled batch becomes: rows to upsert, and the positions left out and why."""

    rows: list[Row] = field(default_factory=list)
    superseded: int = 0
    skipped: list[tuple[int, Poison]] = field(default_factory=list)


def to_row(value: bytes | None, inverse: FieldMapping, echo_sources: Collection[str] = (SYNC_SOURCE_LOCAL,)) -> Row:
    """The TabuladorMax row for one Kafka value, or Poison saying why there is none."""
    if value is None:
        raise Poison("tombstone")
    try:
        event = ChangeEvent.from_bytes(value)
    except ValueError as exc:  # orjson's and pydantic's errors are ValueErrors
        raise Poison("undecodable", type(exc).__name__) from None
    if event.op == "d" or event.after is None:
        raise Poison("delete_unsupported")  # the reverse path carries inserts and updates only
    if event.source.sync_source in echo_sources:
        raise Poison("echo")
    try:
        lead = Lead.model_validate(inverse.apply(event.after))
    except ValidationError as exc:
        fields = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
        raise Poison("invalid_lead", ", ".join(fields)) from None
    return lead.model_dump(mode="json", exclude_unset=True)


def _version(row: Row) -> datetime | None:
    value = row.get("updated_at")
    if not isinstance(value, str):
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # naive: ordered as UTC


def _newer(candidate: Row, current: Row) -> bool:
    new, old = _version(candidate), _version(current)
    return new is not None and (old is None or new > old)


def merge_versions(rows: Sequence[Row]) -> tuple[list[Row], int]:
    """One row per lead id, keeping first-seen order, and how many versions were folded away.

    A newer version's columns replace an older one's (columns it lacks are kept); an older or
    equal version is dropped, as the database would drop it after the newer one."""
    merged: dict[Any, Row] = {}
    folded = 0
    for row in rows:
        current = merged.get(row["id"])
        if current is None:
            merged[row["id"]] = row
            continue
        folded += 1
        if _newer(row, current):
            merged[row["id"]] = {**current, **row}
    return list(merged.values()), folded


def plan_batch(values: Sequence[bytes | None], inverse: FieldMapping,
               echo_sources: Iterable[str] = (SYNC_SOURCE_LOCAL,)) -> Plan:
    """The rows for a polled batch (in order), with each unusable position and its reason."""
    plan = Plan()
    rows: list[Row] = []
    echoes = tuple(echo_sources)
    for position, value in enumerate(values):
        try:
            rows.append(to_row(value, inverse, echoes))
        except Poison as exc:
            plan.skipped.append((position, exc))
    plan.rows, plan.superseded = merge_versions(rows)
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
