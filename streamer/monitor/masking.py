"""What the error drawer may show of a lead: the snapshot and the fields sent, with personal data
masked. Only columns known to carry no personal data are shown as they are (and even their text
goes through `mask_message`, which catches a stray phone or e-mail); every other column, and any
name a mapping made up, shows `***` when it has a value. Keys stay: they are what an operator
needs to see which field the destination refused."""

from __future__ import annotations

import re
from typing import Any

import orjson

from connectors.redaction import MASK, mask_message

# Columns of schemas/lead.py that say nothing about a person: ids, times, the funnel's codes,
# flags and counters. Names, contacts, documents, addresses, free text and photos are not here.
SHOWN = frozenset({
    "id", "criado", "updated_at", "sync_source", "genero", "cidade", "estado", "scouter", "supervisor", "projeto",
    "etapa", "status_fluxo", "fonte", "local_abordagem", "data_abordagem", "data_agendamento",
    "horario_agendamento", "data_confirmacao", "confirmado", "compareceu", "data_comparecimento", "valor_ficha",
    "ficha_paga", "altura_cm", "peso_kg", "manequim", "cor_olhos", "cor_cabelo", "tags", "tentativas_contato",
    "ultimo_contato", "operador_telemarketing", "motivo_perda",
})


def mask_value(value: Any) -> Any:
    """A shown column's value: text through `mask_message`, lists item by item, others as they are."""
    if isinstance(value, str):
        return mask_message(value)
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    if isinstance(value, dict):
        return MASK
    return value


def mask_lead(row: Any) -> Any:
    """`row` (a lead as stored in the error table) with personal data masked; None stays None.

    >>> mask_lead({"id": 7, "name": "Ana", "etapa": "novo", "email": None})
    {'id': 7, 'name': '***', 'etapa': 'novo', 'email': None}
    """
    if row is None:
        return None
    if not isinstance(row, dict):
        return MASK
    return {key: (mask_value(value) if key in SHOWN else (None if value is None else MASK))
            for key, value in row.items()}


# PostgreSQL's detail for a NOT NULL or CHECK violation quotes the whole row.
_FAILING_ROW = re.compile(r"(Failing row contains )\(.*\)", re.DOTALL)


def mask_text(text: str) -> str:
    return mask_message(_FAILING_ROW.sub(rf"\1({MASK})", text))


def mask_body(body: str | None) -> str | None:
    """The destination's response body for the drawer: a PostgREST error object keeps its code
    and has each text masked on its own (so `"message": "..."` is not taken for a quoted value);
    any other body is masked as a message.

    >>> mask_body('{"code": "23514", "details": "Failing row contains (7, Ana, 1199999888).", "hint": null}')
    '{"code":"23514","details":"Failing row contains (***).","hint":null}'
    """
    if not body:
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return mask_text(body)
    if not isinstance(data, dict):
        return mask_text(body)
    masked = {k: (mask_text(v) if isinstance(v, str) else v if v is None or isinstance(v, int | bool) else MASK)
              for k, v in data.items()}
    return orjson.dumps(masked).decode()
