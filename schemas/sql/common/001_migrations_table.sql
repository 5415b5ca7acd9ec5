-- The bookkeeping table itself is created by the migration runner before any file runs;
-- like every table the product creates, it is open to service_role only.
ALTER TABLE public.streamer_migrations ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS service_role_full_access ON public.streamer_migrations;
CREATE POLICY service_role_full_access ON public.streamer_migrations
  FOR ALL TO service_role USING (true) WITH CHECK (true);
