-- The capture's own state: the initial snapshot's keyset cursor, so a crashed snapshot resumes.
CREATE TABLE IF NOT EXISTS public.streamer_capture_state (
  name                  text PRIMARY KEY,           -- the slot (replication) or outbox name
  snapshot_status       text NOT NULL DEFAULT 'pending'
                        CHECK (snapshot_status IN ('pending', 'running', 'done')),
  snapshot_cursor       bigint,                      -- last lead id produced and acknowledged
  snapshot_started_at   timestamptz,
  snapshot_finished_at  timestamptz,
  updated_at            timestamptz NOT NULL DEFAULT now()
);

-- Capture mode `notify`, for databases where logical replication is not allowed: a trigger
-- writes every change of leads here and wakes the capture with NOTIFY. Rows are deleted only
-- after Kafka acknowledged them. For one lead, outbox ids follow commit order: a second writer
-- of the same row waits for the first one's row lock, so its AFTER trigger runs after that commit.
-- A TRUNCATE fires no row trigger: a statement trigger writes a marker row instead (op 't', no
-- lead), which the capture reports and does not propagate (streamer/capture/truncate.py).
CREATE TABLE IF NOT EXISTS public.streamer_outbox (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tx_id       bigint NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
  op          char(1) NOT NULL CONSTRAINT streamer_outbox_op_check CHECK (op IN ('c', 'u', 'd', 't')),
  lead_id     bigint,                                   -- NULL on a TRUNCATE marker, and only there
  old_row     jsonb,
  new_row     jsonb,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT streamer_outbox_lead_id_check CHECK ((op = 't') = (lead_id IS NULL))
);

-- An outbox created before TRUNCATE markers (op in c/u/d, lead_id NOT NULL): widen it once. The
-- second constraint's presence says it is done, so a re-run neither locks nor rescans the table.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint
                  WHERE conrelid = 'public.streamer_outbox'::regclass
                    AND conname = 'streamer_outbox_lead_id_check') THEN
    ALTER TABLE public.streamer_outbox
      DROP CONSTRAINT IF EXISTS streamer_outbox_op_check,
      ADD CONSTRAINT streamer_outbox_op_check CHECK (op IN ('c', 'u', 'd', 't')),
      ALTER COLUMN lead_id DROP NOT NULL,
      ADD CONSTRAINT streamer_outbox_lead_id_check CHECK ((op = 't') = (lead_id IS NULL));
  END IF;
END
$$;

-- SECURITY DEFINER: the trigger runs as whoever writes leads (service_role, an app role), and
-- those roles have no business with the outbox; the function writes it as its owner instead.
-- A pinned search_path, pg_temp last, so no object of the writer's can stand in for a built-in
-- (manual, CREATE FUNCTION, "Writing SECURITY DEFINER Functions Safely").
CREATE OR REPLACE FUNCTION public.streamer_outbox_capture() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO public.streamer_outbox (op, lead_id, new_row) VALUES ('c', NEW.id, to_jsonb(NEW));
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO public.streamer_outbox (op, lead_id, old_row, new_row)
      VALUES ('u', NEW.id, to_jsonb(OLD), to_jsonb(NEW));
  ELSE
    INSERT INTO public.streamer_outbox (op, lead_id, old_row) VALUES ('d', OLD.id, to_jsonb(OLD));
  END IF;
  -- Identical notifications in one transaction are folded into one (NOTIFY's documented rule).
  PERFORM pg_notify('streamer_outbox', '');
  RETURN NULL;
END
$$;

-- The TRUNCATE marker, for an AFTER TRUNCATE ... FOR EACH STATEMENT trigger. The capture
-- installs both triggers on the table it captures (CREATE OR REPLACE TRIGGER, at every start,
-- streamer/capture/outbox.py), so they exist only where notify mode runs: in replication mode
-- nothing would drain the markers.
CREATE OR REPLACE FUNCTION public.streamer_outbox_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
  INSERT INTO public.streamer_outbox (op) VALUES ('t');
  PERFORM pg_notify('streamer_outbox', '');
  RETURN NULL;
END
$$;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['streamer_capture_state', 'streamer_outbox'] LOOP
    EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('DROP POLICY IF EXISTS service_role_full_access ON public.%I', t);
    EXECUTE format('CREATE POLICY service_role_full_access ON public.%I FOR ALL TO service_role '
                   'USING (true) WITH CHECK (true)', t);
  END LOOP;
END
$$;
