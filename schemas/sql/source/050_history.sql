-- Issue 7: what export, replay and retry jobs need beyond the seed's columns, and the audit log.
ALTER TABLE public.gestao_scouter_export_jobs
  -- Bumped by every reset: a runner still holding the old generation can no longer write.
  ADD COLUMN IF NOT EXISTS generation      integer NOT NULL DEFAULT 0,
  -- Rows produced to Kafka (acknowledged), saved with the cursor in one statement.
  ADD COLUMN IF NOT EXISTS produced_leads  integer NOT NULL DEFAULT 0,
  -- Set once every row is produced; the job then waits for the sink's counters to reach the total.
  ADD COLUMN IF NOT EXISTS produced_at     timestamptz,
  -- Replay offsets, retry details: whatever a kind needs that the seed's columns do not hold.
  ADD COLUMN IF NOT EXISTS options         jsonb,
  -- The cron expression and fire time of a scheduled job (NULL for a manual one).
  ADD COLUMN IF NOT EXISTS schedule        text,
  ADD COLUMN IF NOT EXISTS scheduled_for   timestamptz;

-- One job per fire time, however many exporters run the schedule.
CREATE UNIQUE INDEX IF NOT EXISTS gestao_scouter_export_jobs_scheduled_idx
  ON public.gestao_scouter_export_jobs (scheduled_for) WHERE scheduled_for IS NOT NULL;

ALTER TABLE public.gestao_scouter_export_jobs DROP CONSTRAINT IF EXISTS gestao_scouter_export_jobs_kind_check;
ALTER TABLE public.gestao_scouter_export_jobs ADD CONSTRAINT gestao_scouter_export_jobs_kind_check
  CHECK (kind IN ('export', 'replay', 'retry'));

-- Which retry job re-sent this failed lead; the error row is deleted once that job lands it.
ALTER TABLE public.gestao_scouter_export_errors
  ADD COLUMN IF NOT EXISTS retry_job_id uuid
  REFERENCES public.gestao_scouter_export_jobs (id) ON DELETE SET NULL;
CREATE INDEX IF NOT EXISTS gestao_scouter_export_errors_retry_idx
  ON public.gestao_scouter_export_errors (retry_job_id) WHERE retry_job_id IS NOT NULL;

-- Who did what to which job, and with what parameters (no foreign key: the log outlives jobs).
CREATE TABLE IF NOT EXISTS public.streamer_audit_log (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  actor       text NOT NULL,
  action      text NOT NULL,
  job_id      uuid,
  parameters  jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS streamer_audit_log_job_idx ON public.streamer_audit_log (job_id, at);
CREATE INDEX IF NOT EXISTS streamer_audit_log_at_idx ON public.streamer_audit_log (at);

ALTER TABLE public.streamer_audit_log ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS service_role_full_access ON public.streamer_audit_log;
CREATE POLICY service_role_full_access ON public.streamer_audit_log
  FOR ALL TO service_role USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON public.streamer_audit_log TO service_role;
