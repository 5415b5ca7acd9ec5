-- `streamer verify` (README, Verify & repair): per id range a count and a hash of (id, updated_at
-- [, chosen columns]), and the (id, hash) rows of small ranges. Written once (common/), installed
-- on both sides, so the source and the destination hash with the same SQL. The destination
-- answers through PostgREST (POST /rpc/streamer_verify_ranges, /rpc/streamer_verify_leaf,
-- /rpc/streamer_verify_bounds), the source over asyncpg.
--
-- A row's hash: the first 64 bits of md5(id '|' updated_at [ '|' column ...]) as a signed bigint.
-- Timestamps are hashed as epoch microseconds, never as text (whose format follows the session's
-- TimeZone and DateStyle), dates as days since 1970-01-01, bytea as hex; NULL is `N`, a chosen
-- column's value `v<length>:<text>` so no two rows of values can run into the same string.
-- A range's hash is the sum of its rows' hashes modulo 2^64: order-free, so the development
-- server's path (rows read through the API, summed by the client) adds up to the same number.
-- SECURITY INVOKER: the caller needs SELECT on the table, as for any read.

CREATE OR REPLACE FUNCTION public.streamer_verify_canonical(value_sql text, type_oid oid) RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
  SELECT CASE
    WHEN type_oid IN ('timestamptz'::regtype, 'timestamp'::regtype) THEN
      format('CASE WHEN isfinite(%1$s) THEN (extract(epoch FROM %1$s) * 1000000)::bigint::text ELSE %1$s::text END',
             value_sql)
    WHEN type_oid = 'date'::regtype THEN
      format('CASE WHEN isfinite(%1$s) THEN (%1$s - DATE ''1970-01-01'')::text ELSE %1$s::text END', value_sql)
    WHEN type_oid = 'bytea'::regtype THEN format('encode(%s, ''hex'')', value_sql)
    ELSE format('%s::text', value_sql)
  END
$$;

-- The SQL expression of a row's hash, over the alias `t` of `rel`, with the chosen columns.
CREATE OR REPLACE FUNCTION public.streamer_verify_row_hash_sql(rel regclass, cols text[]) RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  expr text := 't.id::text || ''|'' || coalesce('
               || public.streamer_verify_canonical('t.updated_at', 'timestamptz'::regtype) || ', ''N'')';
  col text;
  type_oid oid;
  canonical text;
BEGIN
  FOREACH col IN ARRAY coalesce(cols, '{}'::text[]) LOOP
    SELECT a.atttypid INTO type_oid FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'column "%" of relation "%" does not exist', col, rel USING ERRCODE = '42703';
    END IF;
    canonical := public.streamer_verify_canonical(format('t.%I', col), type_oid);
    expr := expr || format(' || ''|'' || coalesce(''v'' || length(%1$s) || '':'' || %1$s, ''N'')', canonical);
  END LOOP;
  RETURN format('(''x'' || left(md5(%s), 16))::bit(64)::bigint', expr);
END
$$;

-- `tbl` as PostgREST names it (a bare table name, in the caller's search_path), or already quoted
-- and qualified (`"schema"."table"`, what the source side passes).
CREATE OR REPLACE FUNCTION public.streamer_verify_relation(tbl text) RETURNS regclass
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  rel regclass := to_regclass(CASE WHEN left(tbl, 1) = '"' THEN tbl ELSE quote_ident(tbl) END);
BEGIN
  IF rel IS NULL THEN
    RAISE EXCEPTION 'relation "%" does not exist', tbl USING ERRCODE = '42P01';
  END IF;
  RETURN rel;
END
$$;

-- The lowest and highest id of the table (NULLs when it is empty).
CREATE OR REPLACE FUNCTION public.streamer_verify_bounds(tbl text) RETURNS TABLE (lo bigint, hi bigint)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
  RETURN QUERY EXECUTE format('SELECT min(t.id), max(t.id) FROM %s t', public.streamer_verify_relation(tbl));
END
$$;

-- For each range i, ids lows[i] to highs[i] included: its row count and hash (decimal text, 0 to 2^64 - 1).
CREATE OR REPLACE FUNCTION public.streamer_verify_ranges(tbl text, lows bigint[], highs bigint[],
                                                         cols text[] DEFAULT '{}')
RETURNS TABLE (i integer, n bigint, h text)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  rel regclass := public.streamer_verify_relation(tbl);
BEGIN
  IF cardinality(lows) IS DISTINCT FROM cardinality(highs) THEN
    RAISE EXCEPTION 'lows and highs differ in length' USING ERRCODE = '22023';
  END IF;
  RETURN QUERY EXECUTE format(
    'SELECT r.i, a.n, ((a.s %% 18446744073709551616 + 18446744073709551616) %% 18446744073709551616)::text '
    'FROM generate_subscripts($1, 1) AS r(i) CROSS JOIN LATERAL ('
    '  SELECT count(*) AS n, coalesce(sum(%s), 0) AS s FROM %s t WHERE t.id BETWEEN $1[r.i] AND $2[r.i]) a '
    'ORDER BY r.i', public.streamer_verify_row_hash_sql(rel, cols), rel) USING lows, highs;
END
$$;

-- Every row of the ranges (lows[i] to highs[i], included) as (id, hash), by id.
CREATE OR REPLACE FUNCTION public.streamer_verify_leaf(tbl text, lows bigint[], highs bigint[],
                                                       cols text[] DEFAULT '{}')
RETURNS TABLE (id bigint, h bigint)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  rel regclass := public.streamer_verify_relation(tbl);
BEGIN
  IF cardinality(lows) IS DISTINCT FROM cardinality(highs) THEN
    RAISE EXCEPTION 'lows and highs differ in length' USING ERRCODE = '22023';
  END IF;
  RETURN QUERY EXECUTE format(
    'SELECT t.id, %s FROM generate_subscripts($1, 1) AS r(i) JOIN %s t ON t.id BETWEEN $1[r.i] AND $2[r.i] '
    'ORDER BY t.id', public.streamer_verify_row_hash_sql(rel, cols), rel) USING lows, highs;
END
$$;

DO $$
DECLARE f text;
BEGIN
  FOREACH f IN ARRAY ARRAY['streamer_verify_canonical(text, oid)', 'streamer_verify_row_hash_sql(regclass, text[])',
                           'streamer_verify_relation(text)', 'streamer_verify_bounds(text)',
                           'streamer_verify_ranges(text, bigint[], bigint[], text[])',
                           'streamer_verify_leaf(text, bigint[], bigint[], text[])'] LOOP
    EXECUTE format('REVOKE ALL ON FUNCTION public.%s FROM PUBLIC', f);
    EXECUTE format('REVOKE ALL ON FUNCTION public.%s FROM anon, authenticated', f);  -- common/000_roles.sql
    EXECUTE format('GRANT EXECUTE ON FUNCTION public.%s TO service_role', f);
  END LOOP;
END
$$;
