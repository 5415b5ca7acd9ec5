"""A TRUNCATE of the captured table is reported, never propagated.

A TRUNCATE carries no rows: pgoutput sends one message naming the relation (manual 55.9), and
in notify mode a statement trigger writes one marker row to the outbox. Turning it into a
delete of every lead at Gestão Scouter would let a single statement, perhaps run by mistake or
as the first step of a reload, empty the destination. So both capture modes count it
(`streamer_capture_truncates_total`, alert `StreamerCaptureTruncateSeen`), log an error that
says what to do, and go on: the destination keeps the truncated leads until someone deletes
them there on purpose, or rebuilds it with an export job.
"""

from __future__ import annotations

from typing import Any

from streamer.metrics import Metrics

EVENT = "truncate not propagated"


def advice(table: str) -> str:
    """What the operator should do after a TRUNCATE of `table` (pure, for the log and tests)."""
    return (f"{table} was truncated at the source and the capture did not delete anything at "
            "Gestão Scouter, which still holds those leads: delete them there deliberately, or empty "
            "its leads table and rebuild it with an export job (streamer export start --from ... --to ...)")


def report_truncate(log: Any, metrics: Metrics, *, table: str, **context: Any) -> None:
    """Count a TRUNCATE of `table` and log it as an error; `context` (lsn, tx_id) locates it."""
    metrics.truncate_seen()
    log.error(EVENT, table=table, fix=advice(table), **context)
