"""What the sink reports about leads that carried an export job's id: landed or failed.

Idempotent by (job, lead): a batch delivered twice, or a failed lead landed later by a retry,
leaves the counters equal to the number of distinct leads in each state.

A report names the job's generation when its events carried one (`job_generation` header): a
reset bumps the generation and deletes the job's outcome rows, so a late report of the previous
run is dropped instead of counting toward the new one. A report without a generation (events
produced before generations were carried) counts toward whatever run is current.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

UPSERT_OUTCOMES = """
INSERT INTO public.gestao_scouter_export_job_leads AS l (job_id, lead_id, outcome)
SELECT $1::uuid, lead_id, outcome FROM unnest($2::bigint[], $3::text[]) AS t (lead_id, outcome)
ON CONFLICT (job_id, lead_id) DO UPDATE SET outcome = EXCLUDED.outcome, updated_at = now()
  WHERE l.outcome <> EXCLUDED.outcome AND EXCLUDED.outcome = 'landed'
"""
# Locks the job row and says whether the report is of its current generation (NULL: no job). The
# lock is held until the outcomes are written, so a reset cannot slip in between (it updates the
# row, so it waits, and then deletes what was written; or it went first, and the check fails).
LOCK_JOB = """
SELECT $2::integer IS NULL OR generation = $2::integer
  FROM public.gestao_scouter_export_jobs WHERE id = $1::uuid FOR UPDATE
"""
# A separate statement: a data-modifying CTE's rows are not visible to its own statement.
REFRESH_COUNTERS = """
UPDATE public.gestao_scouter_export_jobs j
   SET exported_leads = c.landed, error_leads = c.failed, updated_at = now()
  FROM (SELECT count(*) FILTER (WHERE outcome = 'landed') AS landed,
               count(*) FILTER (WHERE outcome = 'failed') AS failed
          FROM public.gestao_scouter_export_job_leads WHERE job_id = $1::uuid) c
 WHERE j.id = $1::uuid
"""


Conn: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any]"


async def record_outcomes(conn: Conn, job_id: str, *, landed: Sequence[int] = (),
                          failed: Sequence[int] = (), generation: int | None = None) -> bool:
    """Record leads of `job_id` as landed or failed and refresh the job's counters; False (and
    nothing written) when `generation` is given and is no longer the job's.

    A lead once landed stays landed; a failed one becomes landed when a retry lands it."""
    # One row per lead (a statement may not upsert a row twice); a lead reported both ways landed.
    outcome = {lead: "failed" for lead in failed} | {lead: "landed" for lead in landed}
    if not outcome:
        return True
    ids, outcomes = list(outcome), list(outcome.values())
    async with conn.transaction():
        # Lock the job row first: two batches of one job landing at once (two partitions) would
        # otherwise each count only its own new rows and the later UPDATE would win with too few.
        # A job deleted meanwhile (no row) goes on to the upsert, whose foreign key says so.
        if await conn.fetchval(LOCK_JOB, job_id, generation) is False:
            return False
        await conn.execute(UPSERT_OUTCOMES, job_id, ids, outcomes)
        await conn.execute(REFRESH_COUNTERS, job_id)
    return True
