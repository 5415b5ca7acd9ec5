"""The endpoint driven in-process: the status table, nothing published on refusal, metrics, logs."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import orjson
import pytest
from structlog.testing import capture_logs

from schemas.debezium import decode
from streamer.metrics import Metrics
from streamer.sections import WebhookSettings
from streamer.webhook.app import MAX_HEADER_BYTES, MAX_RECORD_BYTES
from streamer.webhook.auth import Keys
from streamer.webhook.errors import PublishRejected, PublishUnavailable
from streamer.webhook.keys import StaticKeys, parse_jwks
from streamer.webhook.openapi import documented_statuses, openapi_document
from tests.streamer.webhook.fakes import (
    PATH,
    SECRET,
    FakePublisher,
    auth,
    build_client,
    hs_token,
    jwk_of,
    lead,
    rsa_key,
    signed_token,
)

BODY = orjson.dumps({"lead": lead(), "source": "gestao_scouter"})


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(("headers", "body", "status", "reason"), [
    ({}, BODY, 401, "missing_token"),
    (auth(hs_token(secret="the-wrong-secret-but-long-enough-for-hs256")), BODY, 401, "bad_signature"),
    (auth(hs_token(exp_in=-3600)), BODY, 401, "expired"),
    (auth(hs_token(role="anon")), BODY, 401, "wrong_role"),
    ({"Authorization": "Token abc"}, BODY, 401, "malformed_token"),
    (auth(), b"x" * (1024 * 1024 + 1), 413, "too_large"),
    (auth(), b'{"lead": {"id": 1,', 400, "invalid_json"),
    (auth(), orjson.dumps({"lead": lead(age="old", confirmado="maybe")}), 422, "invalid_lead"),
    (auth(), orjson.dumps({"lead": {"name": "no id", "updated_at": "2025-01-01T00:00:00Z"}}), 422, "invalid_lead"),
])
async def test_each_refusal_gets_its_status_its_reason_and_publishes_nothing(
    headers: dict[str, str], body: bytes, status: int, reason: str,
) -> None:
    """No token, bad signature, expired, wrong role, oversize, bad JSON, wrong types, no id: refused."""
    publisher = FakePublisher()
    client, metrics = build_client(publisher)
    async with client:
        response = await client.post(PATH, content=body, headers=headers)
    assert response.status_code == status
    assert publisher.published == []
    assert sample(metrics, "streamer_webhook_rejected_total", reason=reason) == 1
    assert sample(metrics, "streamer_webhook_requests_total", status=str(status)) == 1
    if status == 401:
        # The claim at fault is named only once the signature is good (expired, wrong role).
        claim = {"expired": {"claim": "exp"}, "wrong_role": {"claim": "role"}}.get(reason, {})
        assert response.json() == {"error": "unauthorized", "field": "Authorization", **claim}
        assert response.headers["www-authenticate"] == "Bearer"
    elif status == 413:
        assert response.json() == {"error": "payload too large", "field": "body", "limit": 1024 * 1024}
    elif status == 400:
        assert response.json() == {"error": "invalid JSON", "field": "body"}


async def test_a_field_error_answer_lists_loc_and_msg_without_values() -> None:
    """422 carries pydantic's loc/msg per bad field and none of the values sent."""
    client, _ = build_client(FakePublisher())
    async with client:
        response = await client.post(PATH, content=orjson.dumps({"lead": lead(age="PII-Joana")}), headers=auth())
    assert response.status_code == 422
    assert response.json()["details"][0]["loc"] == ["lead", "age"]
    assert "PII-Joana" not in response.text


async def test_an_echo_from_tabuladormax_is_acknowledged_and_dropped() -> None:
    """A lead tagged tabuladormax gets 200 ignored, is counted, and is not published."""
    publisher = FakePublisher()
    client, metrics = build_client(publisher)
    async with client:
        response = await client.post(PATH, content=orjson.dumps({"lead": lead(sync_source="tabuladormax")}),
                                     headers=auth())
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    assert publisher.published == []
    assert sample(metrics, "streamer_webhook_echoes_dropped_total") == 1


async def test_a_valid_lead_is_published_keyed_by_id_then_answered_202() -> None:
    """202 comes with the event on the publisher: key `{"id": ...}`, Debezium's envelope, a
    sync_source header."""
    publisher = FakePublisher()
    client, metrics = build_client(publisher)
    async with client:
        response = await client.post(PATH, content=BODY, headers=auth())
    assert response.status_code == 202
    assert response.json() == {"status": "accepted", "published": 1, "ignored": 0}
    ((key, value, headers),) = publisher.records
    assert value is not None
    event = decode(value)
    assert key == b'{"id":4242}' and event.op == "u" and event.after is not None and event.after["id"] == 4242
    assert ("sync_source", b"gestao_scouter") in headers
    assert sample(metrics, "streamer_webhook_publish_seconds_count") == 1


async def test_a_batch_with_an_echo_publishes_the_rest() -> None:
    """A batch answers 202 with the published and ignored counts."""
    publisher = FakePublisher()
    client, _ = build_client(publisher)
    body = orjson.dumps({"leads": [lead(1), lead(2, sync_source="tabuladormax"), lead(3)]})
    async with client:
        response = await client.post(PATH, content=body, headers=auth())
    assert response.json() == {"status": "accepted", "published": 2, "ignored": 1}
    assert [k for k, _, _ in publisher.records] == [b'{"id":1}', b'{"id":3}']


async def test_kafka_unavailable_is_503_with_retry_after_never_202() -> None:
    """When the publisher cannot get an acknowledgement, the caller is told to retry later."""
    client, metrics = build_client(FakePublisher(PublishUnavailable("down", retry_after=7)))
    async with client:
        response = await client.post(PATH, content=BODY, headers=auth())
    assert response.status_code == 503 and response.headers["retry-after"] == "7"
    assert sample(metrics, "streamer_webhook_rejected_total", reason="kafka_unavailable") == 1


async def test_kafka_refusing_the_records_is_500_and_counted() -> None:
    """A permanent refusal by Kafka is a server error, not an acceptance."""
    client, metrics = build_client(FakePublisher(PublishRejected("not authorised")))
    async with client:
        response = await client.post(PATH, content=BODY, headers=auth())
    assert response.status_code == 500
    assert sample(metrics, "streamer_webhook_rejected_total", reason="kafka_rejected") == 1


async def test_a_lead_whose_event_is_larger_than_a_kafka_record_is_a_413_naming_the_lead() -> None:
    """A body under the body limit whose lead makes an event over Kafka's record size: 413 with
    `field` lead and the limit; nothing published."""
    publisher = FakePublisher()
    client, metrics = build_client(publisher)
    async with client:
        response = await client.post(PATH, content=orjson.dumps({"lead": lead(name="x" * MAX_RECORD_BYTES)}),
                                     headers=auth())
    assert response.status_code == 413 and publisher.published == []
    assert response.json() == {"error": "payload too large", "field": "lead", "limit": MAX_RECORD_BYTES}
    assert sample(metrics, "streamer_webhook_rejected_total", reason="lead_too_large") == 1


async def test_an_oversized_stream_is_refused_without_being_read_to_the_end() -> None:
    """A chunked body without Content-Length is cut off once it passes the limit."""
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while True:
            sent += 64 * 1024
            yield b" " * (64 * 1024)

    publisher = FakePublisher()
    client, _ = build_client(publisher, settings=WebhookSettings(max_body_bytes=256 * 1024))
    async with client:
        response = await client.post(PATH, content=endless(), headers=auth())
    assert response.status_code == 413 and sent <= 6 * 64 * 1024 and publisher.published == []


async def test_an_rs256_caller_from_a_jwks_is_let_in(tmp_path: Path) -> None:
    """With JWKS keys only, an RS256 service_role token is accepted."""
    private = rsa_key()
    keys = StaticKeys(Keys(jwks=parse_jwks({"keys": [jwk_of(private, "k1")]})))
    publisher = FakePublisher()
    client, _ = build_client(publisher, keys=keys)
    async with client:
        ok = await client.post(PATH, content=BODY, headers=auth(signed_token(private, "k1")))
        hs = await client.post(PATH, content=BODY, headers=auth())
    assert (ok.status_code, hs.status_code) == (202, 401) and len(publisher.records) == 1


async def test_refusals_are_logged_with_the_reason_and_never_the_token() -> None:
    """The log line names the reason; the token is nowhere in it."""
    token = hs_token(role="anon")
    client, _ = build_client(FakePublisher())
    with capture_logs() as logs:
        async with client:
            await client.post(PATH, content=BODY, headers=auth(token))
    assert any(entry.get("reason") == "wrong_role" for entry in logs)
    assert token not in repr(logs) and token.split(".")[2] not in repr(logs)


async def test_the_openapi_document_is_served_and_lists_every_answer() -> None:
    """GET openapi.json returns the document describing the POST and its statuses."""
    client, _ = build_client(FakePublisher())
    async with client:
        response = await client.get("/functions/v1/openapi.json")
    document: dict[str, Any] = response.json()
    assert response.status_code == 200 and document == openapi_document(PATH)
    assert documented_statuses(document, PATH) == {200, 202, 400, 401, 413, 422, 431, 500, 503}
    assert set(document["components"]["schemas"]["Lead"]["properties"]) >= {"id", "updated_at", "sync_source"}


def deep_body(depth: int) -> bytes:
    """A lead whose dados_extras is `depth` objects deep, written as raw JSON text."""
    extras = b'{"k":' * (depth - 1) + b"{}" + b"}" * (depth - 1)
    return b'{"lead":' + orjson.dumps(lead())[:-1] + b',"dados_extras":' + extras + b'},"source":"gestao_scouter"}'


AUTH_V1 = "https://abcdefgh.supabase.co/auth/v1"
STRICT = WebhookSettings(audience="authenticated", issuer=AUTH_V1)
NUMERIC_STRING_EXP = jwt.encode({"role": "service_role", "exp": str(int(time.time()) + 3600)}, SECRET,
                                algorithm="HS256")


@pytest.mark.parametrize(("settings", "headers", "body", "status", "named"), [
    (None, auth(), orjson.dumps({"lead": lead(True)}), 422, ["lead", "id"]),
    (None, auth(), orjson.dumps({"lead": lead(4.0)}), 422, ["lead", "id"]),
    (None, auth(), orjson.dumps({"lead": lead(name="A\x00na")}), 422, ["lead", "name"]),
    (None, auth(), orjson.dumps({"lead": lead(dados_extras={"c\x00": "v"})}), 422, ["lead", "dados_extras"]),
    (None, auth(), orjson.dumps({"lead": lead(dados_extras={"c": "v\x00"})}), 422, ["lead", "dados_extras", "c"]),
    (None, auth(), deep_body(300), 422, ["lead", "dados_extras"]),
    (None, auth(), deep_body(1000), 422, ["lead", "dados_extras"]),
    (None, {"Authorization": "Bearer " + "a" * 100_000}, BODY, 431, "Authorization"),
    (None, auth(NUMERIC_STRING_EXP), BODY, 401, "exp"),
    (STRICT, auth(hs_token(aud="authenticated")), BODY, 401, "iss"),
    (STRICT, auth(hs_token(aud="another-project", iss=AUTH_V1)), BODY, 401, "aud"),
])
async def test_each_strict_refusal_is_a_4xx_naming_the_field_and_publishes_nothing(
    settings: WebhookSettings | None, headers: dict[str, str], body: bytes, status: int, named: Any,
) -> None:
    """Non-integer ids, NULs, too-deep dados_extras, an oversized header, a numeric-string exp and
    a token for another issuer or audience: a 4xx whose JSON body names the field; nothing published."""
    publisher = FakePublisher()
    client, _ = build_client(publisher, settings=settings)
    async with client:
        response = await client.post(PATH, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert publisher.published == []
    answer = response.json()
    if status == 422:
        assert named in [d["loc"] for d in answer["details"]]
    elif status == 431:
        assert answer["field"] == named and answer["limit"] == MAX_HEADER_BYTES
    else:
        assert answer == {"error": "unauthorized", "field": "Authorization", "claim": named}


async def test_a_token_for_the_configured_audience_and_issuer_is_let_in() -> None:
    """A user-style token with aud=authenticated and the project's issuer passes STRICT settings."""
    settings = STRICT.model_copy(update={"allowed_roles": ("service_role", "authenticated")})
    publisher = FakePublisher()
    client, _ = build_client(publisher, settings=settings)
    async with client:
        response = await client.post(PATH, content=BODY, headers=auth(
            hs_token(role="authenticated", aud="authenticated", iss=AUTH_V1)))
    assert response.status_code == 202 and len(publisher.records) == 1


async def test_headers_up_to_the_limit_are_processed() -> None:
    """Just under MAX_HEADER_BYTES of headers the request is handled as usual."""
    publisher = FakePublisher()
    client, _ = build_client(publisher)
    async with client:
        response = await client.post(PATH, content=BODY, headers={**auth(), "X-Pad": "p" * (MAX_HEADER_BYTES - 2048)})
    assert response.status_code == 202


async def test_the_new_refusals_log_and_answer_without_the_token() -> None:
    """A 431 and a claim-type 401 log their reason; neither the log nor the answer holds the token."""
    huge = "h" * 100_000
    client, metrics = build_client(FakePublisher())
    with capture_logs() as logs:
        async with client:
            too_large = await client.post(PATH, content=BODY, headers={"Authorization": f"Bearer {huge}"})
            bad_claim = await client.post(PATH, content=BODY, headers=auth(NUMERIC_STRING_EXP))
    assert sample(metrics, "streamer_webhook_rejected_total", reason="header_too_large") == 1
    assert sample(metrics, "streamer_webhook_rejected_total", reason="invalid_claims") == 1
    for token in (huge[:64], NUMERIC_STRING_EXP, NUMERIC_STRING_EXP.split(".")[2]):
        assert token not in repr(logs) and token not in too_large.text + bad_claim.text
