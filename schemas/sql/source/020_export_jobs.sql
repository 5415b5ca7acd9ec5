-- The seed's job and per-lead error tables, with all their columns.
CREATE TABLE IF NOT EXISTS public.gestao_scouter_export_jobs (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  status               text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'running', 'paused', 'completed', 'failed', 'cancelled')),
  kind                 text NOT NULL DEFAULT 'export' CHECK (kind IN ('export', 'replay')),
  start_date           date,
  end_date             date,
  date_field           text NOT NULL DEFAULT 'criado' CHECK (date_field IN ('criado', 'updated_at')),
  total_leads          integer NOT NULL DEFAULT 0,
  exported_leads       integer NOT NULL DEFAULT 0,
  error_leads          integer NOT NULL DEFAULT 0,
  processing_date      date,
  last_completed_date  date,
  cursor               jsonb,
  field_mappings       jsonb,
  error_message        text,
  created_by           text,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  started_at           timestamptz,
  paused_at            timestamptz,
  finished_at          timestamptz
);
CREATE INDEX IF NOT EXISTS gestao_scouter_export_jobs_status_idx
  ON public.gestao_scouter_export_jobs (status, started_at);

CREATE TABLE IF NOT EXISTS public.gestao_scouter_export_errors (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id           uuid REFERENCES public.gestao_scouter_export_jobs (id) ON DELETE CASCADE,
  lead_id          bigint NOT NULL,
  error_message    text NOT NULL,
  response_status  integer,
  response_body    text,
  lead_snapshot    jsonb,
  fields_sent      jsonb,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS gestao_scouter_export_errors_job_idx
  ON public.gestao_scouter_export_errors (job_id, lead_id);
CREATE INDEX IF NOT EXISTS gestao_scouter_export_errors_created_idx
  ON public.gestao_scouter_export_errors (created_at);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['gestao_scouter_export_jobs', 'gestao_scouter_export_errors'] LOOP
    EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('DROP POLICY IF EXISTS service_role_full_access ON public.%I', t);
    EXECUTE format('CREATE POLICY service_role_full_access ON public.%I FOR ALL TO service_role '
                   'USING (true) WITH CHECK (true)', t);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON public.%I TO service_role', t);
  END LOOP;
END
$$;
