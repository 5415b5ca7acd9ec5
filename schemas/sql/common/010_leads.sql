-- The leads table, the same 49 columns on both sides: TabuladorMax's (the source of truth) and
-- Gestão Scouter's copy. See schemas/lead.py; capture's extras are in source/010_leads_capture.sql.
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

ALTER TABLE public.leads ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS service_role_full_access_leads ON public.leads;
CREATE POLICY service_role_full_access_leads ON public.leads
  FOR ALL TO service_role USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON public.leads TO service_role;
