"""The endpoint's OpenAPI 3.1 description, served at `<path's folder>/openapi.json`.

The lead's schema is pydantic's JSON Schema of `schemas.lead.Lead`, so the document cannot drift
from what the endpoint validates; the responses listed are every status the endpoint answers
with (the fuzz test checks that no other status ever comes back).
"""

from __future__ import annotations

from typing import Any

from schemas.lead import Lead


def _error(description: str, example: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}, "example": example}}}


def _responses() -> dict[str, Any]:
    return {
        "200": _error("Every lead was TabuladorMax's own echo: acknowledged and dropped",
                      {"status": "ignored", "ignored": 1}),
        "202": _error("Published; Kafka acknowledged every event (acks=all)",
                      {"status": "accepted", "published": 1, "ignored": 0}),
        "400": _error("The body is not JSON", {"error": "invalid JSON", "field": "body"}),
        "401": _error("Missing, invalid or expired token, a claim of the wrong JSON type, a role not allowed, or "
                      "(when configured) another audience or issuer. `field` is the header; `claim` names the claim "
                      "at fault once the signature is good",
                      {"error": "unauthorized", "field": "Authorization", "claim": "exp"}),
        "413": _error("The body (`field` body) or one lead's event (`field` lead) is larger than `limit` bytes",
                      {"error": "payload too large", "field": "body", "limit": 1048576}),
        "422": _error("A lead or the envelope does not validate (a non-integer id, a NUL character anywhere, a "
                      "dados_extras too deep or too large, ...); `details` has each loc/msg/type",
                      {"error": "invalid lead", "details": [{"loc": ["lead", "id"], "msg": "Field required",
                                                             "type": "missing"}]}),
        "431": _error("The request's headers together are larger than allowed; `field` names the largest",
                      {"error": "request header fields too large", "field": "Authorization", "limit": 16384}),
        "500": _error("Kafka refused the events (not a transient failure): the request is not accepted. Some of "
                      "its leads may have been published before the refusal; sending it again is safe (a lead "
                      "applied twice changes nothing)",
                      {"error": "publish failed"}),
        "503": {**_error("Kafka (or the JWKS) is unavailable: the request is not accepted; retry after "
                         "`Retry-After` (safe even if some of its leads were published: a repeat changes nothing)",
                         {"error": "unavailable"}),
                "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}},
    }


def openapi_document(path: str) -> dict[str, Any]:
    """The OpenAPI document for the webhook mounted at `path`."""
    lead_schema = Lead.model_json_schema(ref_template="#/components/schemas/{model}")
    lead_schema.pop("$defs", None)
    envelope = {
        "type": "object", "additionalProperties": False,
        "properties": {
            "lead": {"$ref": "#/components/schemas/Lead"},
            "leads": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Lead"}},
            "source": {"type": "string", "examples": ["gestao_scouter"]},
            "type": {"enum": ["INSERT", "UPDATE"], "description": "the trigger's TG_OP; default UPDATE"},
        },
        "oneOf": [{"required": ["lead"]}, {"required": ["leads"]}],
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "sync-from-gestao-scouter", "version": "1",
                 "description": "Gestão Scouter's trigger posts changed leads here; they reach TabuladorMax "
                                "through Kafka. `updated_at` is required: the last writer wins by it."},
        "paths": {path: {"post": {
            "operationId": "syncFromGestaoScouter",
            "security": [{"bearer": []}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Envelope"}}}},
            "responses": _responses(),
        }}},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {"Lead": lead_schema, "Envelope": envelope,
                        "Error": {"type": "object", "additionalProperties": True}},
        },
    }


def documented_statuses(document: dict[str, Any], path: str) -> set[int]:
    """The statuses `document` lists for POST `path`."""
    return {int(code) for code in document["paths"][path]["post"]["responses"]}
