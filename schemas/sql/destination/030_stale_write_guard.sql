-- The stale-write guard (docs/design.md, Delivery): a replayed or redelivered older version of a lead
-- never overwrites a newer one. PostgREST's merge upsert is INSERT ... ON CONFLICT DO UPDATE; a
-- BEFORE UPDATE trigger that returns NULL skips that row's update without failing the batch.
-- Equal timestamps pass, so re-applying the same version stays idempotent.
CREATE OR REPLACE FUNCTION public.leads_skip_stale_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.updated_at IS NOT NULL AND OLD.updated_at IS NOT NULL AND NEW.updated_at < OLD.updated_at THEN
    RETURN NULL;
  END IF;
  RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS leads_skip_stale_update ON public.leads;
CREATE TRIGGER leads_skip_stale_update BEFORE UPDATE ON public.leads
  FOR EACH ROW EXECUTE FUNCTION public.leads_skip_stale_update();
