"""The lead: TabuladorMax's `leads` row, 49 columns, as a pydantic model.

The SQL in `schemas/sql/` defines the same columns; `tests/schemas/test_lead_sql.py` checks that
the migrated tables and this model agree column for column.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SYNC_SOURCE_LOCAL = "tabuladormax"
SYNC_SOURCE_REMOTE = "gestao_scouter"
# The sink names itself in this header on every write; Gestão Scouter's tagging trigger reads it
# from PostgREST's `request.headers` (streamer/webhook/trigger_sql.py).
SYNC_SOURCE_HEADER = "X-Sync-Source"


def version_of(row: Mapping[str, Any]) -> datetime | None:
    """The version of a lead's row: its `updated_at` as an instant (a naive timestamp read as
    UTC), None without one. Raises ValueError for a string that is not an ISO 8601 timestamp."""
    value = row.get("updated_at")
    if not isinstance(value, str):
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Lead(BaseModel):
    """One lead as the call centre records it. Only `id` is required."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The seed's columns.
    id: int = Field(gt=0)
    name: str | None = None
    age: int | None = Field(default=None, ge=0, le=150)
    address: str | None = None
    celular: str | None = None
    responsavel: str | None = None
    criado: datetime | None = None
    updated_at: datetime | None = None
    sync_source: str | None = None
    # Contact and identity.
    email: str | None = None
    telefone_casa: str | None = None
    telefone_trabalho: str | None = None
    cpf: str | None = None
    data_nascimento: date | None = None
    genero: str | None = None
    cidade: str | None = None
    estado: str | None = Field(default=None, max_length=2)
    bairro: str | None = None
    cep: str | None = None
    # The scouting funnel.
    scouter: str | None = None
    supervisor: str | None = None
    projeto: str | None = None
    etapa: str | None = None
    status_fluxo: str | None = None
    fonte: str | None = None
    local_abordagem: str | None = None
    data_abordagem: datetime | None = None
    data_agendamento: date | None = None
    horario_agendamento: time | None = None
    data_confirmacao: datetime | None = None
    confirmado: bool | None = None
    compareceu: bool | None = None
    data_comparecimento: datetime | None = None
    valor_ficha: Decimal | None = Field(default=None, max_digits=12, decimal_places=2)
    ficha_paga: bool | None = None
    # The model's profile.
    altura_cm: int | None = Field(default=None, ge=0, le=300)
    peso_kg: Decimal | None = Field(default=None, max_digits=5, decimal_places=2)
    manequim: str | None = None
    cor_olhos: str | None = None
    cor_cabelo: str | None = None
    foto_url: str | None = None
    instagram: str | None = None
    # Call-centre bookkeeping.
    observacoes: str | None = None
    tags: list[str] | None = None
    tentativas_contato: int | None = Field(default=None, ge=0)
    ultimo_contato: datetime | None = None
    operador_telemarketing: str | None = None
    motivo_perda: str | None = None
    dados_extras: dict[str, Any] | None = None


LEAD_COLUMNS: tuple[str, ...] = tuple(Lead.model_fields)
"""Column names in table order."""
