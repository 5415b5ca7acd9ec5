-- TabuladorMax's leads: the source of truth. 49 columns; see schemas/lead.py.
CREATE TABLE IF NOT EXISTS public.leads (
  id                      bigint PRIMARY KEY,
  name                    text,
  age                     integer,
  address                 text,
  celular                 text,
  responsavel             text,
  criado                  timestamptz DEFAULT now(),
  updated_at              timestamptz DEFAULT now(),
  sync_source             text,
  email                   text,
  telefone_casa           text,
  telefone_trabalho       text,
  cpf                     text,
  data_nascimento         date,
  genero                  text,
  cidade                  text,
  estado                  varchar(2),
  bairro                  text,
  cep                     text,
  scouter                 text,
  supervisor              text,
  projeto                 text,
  etapa                   text,
  status_fluxo            text,
  fonte                   text,
  local_abordagem         text,
  data_abordagem          timestamptz,
  data_agendamento        date,
  horario_agendamento     time,
  data_confirmacao        timestamptz,
  confirmado              boolean,
  compareceu              boolean,
  data_comparecimento     timestamptz,
  valor_ficha             numeric(12,2),
  ficha_paga              boolean,
  altura_cm               integer,
  peso_kg                 numeric(5,2),
  manequim                text,
  cor_olhos               text,
  cor_cabelo              text,
  foto_url                text,
  instagram               text,
  observacoes             text,
  tags                    text[],
  tentativas_contato      integer,
  ultimo_contato          timestamptz,
  operador_telemarketing  text,
  motivo_perda            text,
  dados_extras            jsonb
);

-- The seed's date queries (export by range) use these.
CREATE INDEX IF NOT EXISTS leads_updated_at_idx ON public.leads (updated_at, id);
CREATE INDEX IF NOT EXISTS leads_criado_idx ON public.leads (criado, id);

-- Unchanged TOASTed values are absent from pgoutput's new tuple unless the old row is logged
-- whole (cdc-anchors.md §2, pain point 8): log it whole so events never carry a NULL for them.
ALTER TABLE public.leads REPLICA IDENTITY FULL;

ALTER TABLE public.leads ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS service_role_full_access_leads ON public.leads;
CREATE POLICY service_role_full_access_leads ON public.leads
  FOR ALL TO service_role USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON public.leads TO service_role;

-- Loop prevention (DESIGN.md): every write is tagged with who made it. The reverse applier sets
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
