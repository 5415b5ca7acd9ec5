-- Which leads of an export job have landed or failed at the destination, as the sink reports
-- them. One row per (job, lead), so a redelivered batch is never counted twice; the job's
-- exported_leads / error_leads counters are kept equal to these rows.
CREATE TABLE IF NOT EXISTS public.gestao_scouter_export_job_leads (
  job_id      uuid NOT NULL REFERENCES public.gestao_scouter_export_jobs (id) ON DELETE CASCADE,
  lead_id     bigint NOT NULL,
  outcome     text NOT NULL CHECK (outcome IN ('landed', 'failed')),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, lead_id)
);
ALTER TABLE public.gestao_scouter_export_job_leads ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS service_role_full_access ON public.gestao_scouter_export_job_leads;
CREATE POLICY service_role_full_access ON public.gestao_scouter_export_job_leads
  FOR ALL TO service_role USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON public.gestao_scouter_export_job_leads TO service_role;
