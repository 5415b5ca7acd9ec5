-- What the source's leads table needs for capture and loop prevention, on top of
-- common/010_leads.sql.

-- Unchanged TOASTed values are absent from pgoutput's new tuple unless the old row is logged
-- whole (docs/cdc-failure-modes.md §2, point 8): log it whole so events never carry a NULL for them.
ALTER TABLE public.leads REPLICA IDENTITY FULL;

-- Loop prevention (docs/design.md): every write is tagged with who made it. The reverse applier sets
-- `streamer.sync_source` for its transaction; every other writer is the call centre.
CREATE OR REPLACE FUNCTION public.leads_tag_write() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.sync_source := coalesce(nullif(current_setting('streamer.sync_source', true), ''), 'tabuladormax');
  IF TG_OP = 'INSERT' THEN
    NEW.criado := coalesce(NEW.criado, now());
    NEW.updated_at := coalesce(NEW.updated_at, now());
  ELSIF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
    -- An edit that did not set updated_at itself still moves it, so the stale-write guard
    -- downstream can order the versions of a lead.
    NEW.updated_at := clock_timestamp();
  END IF;
  RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS leads_tag_write ON public.leads;
CREATE TRIGGER leads_tag_write BEFORE INSERT OR UPDATE ON public.leads
  FOR EACH ROW EXECUTE FUNCTION public.leads_tag_write();
