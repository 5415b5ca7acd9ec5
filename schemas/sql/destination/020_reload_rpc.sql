-- `streamer schema reload-cache` without a database URL: PostgREST reloads its schema cache on
-- NOTIFY pgrst, 'reload schema' (docs/postgrest.md §4), which only a database session can send. This
-- function sends it for a caller of POST /rest/v1/rpc/streamer_reload_schema_cache. SECURITY
-- DEFINER so the caller needs no other right; EXECUTE for service_role only (PUBLIC loses the
-- default grant, so anon and authenticated cannot make the API reload at will).
CREATE OR REPLACE FUNCTION public.streamer_reload_schema_cache() RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
BEGIN
  NOTIFY pgrst, 'reload schema';
END
$$;
REVOKE ALL ON FUNCTION public.streamer_reload_schema_cache() FROM PUBLIC;
REVOKE ALL ON FUNCTION public.streamer_reload_schema_cache() FROM anon, authenticated;
GRANT EXECUTE ON FUNCTION public.streamer_reload_schema_cache() TO service_role;
