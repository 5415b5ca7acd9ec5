"""Property-based fuzzing of the endpoint through an ASGI transport: any body, any header, never a 5xx.

Each test has a fixed budget and is derandomized (the same examples on every run), so CI is
deterministic; the whole module runs in well under a minute."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.lead import LEAD_COLUMNS
from streamer.sections import WebhookSettings
from streamer.webhook.openapi import documented_statuses, openapi_document
from tests.streamer.webhook.fakes import (
    PATH,
    SECRET,
    UPDATED_AT,
    FakePublisher,
    build_app,
    client_of,
    hs_token,
    lead,
)

MARK = "QQmarkQQ"
DOCUMENTED = documented_statuses(openapi_document(PATH), PATH)
TOKEN = hs_token()

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=8)
# Values that carry a marker, so the test can see whether an answer ever echoes them.
marked = st.text(max_size=10).map(lambda t: MARK + t) | st.lists(st.text(max_size=5).map(lambda t: MARK + t),
                                                                  max_size=2)
lead_like = st.fixed_dictionaries(
    {},
    optional={**{column: json_values | marked for column in LEAD_COLUMNS},
              "id": st.integers(min_value=-5, max_value=2**64 - 1) | json_values,
              "updated_at": st.just(UPDATED_AT) | json_values | marked,
              "sync_source": st.sampled_from(["tabuladormax", "gestao_scouter", "supabase"]) | json_values},
)
envelopes = st.fixed_dictionaries(
    {},
    optional={"lead": lead_like | json_values, "leads": st.lists(lead_like, max_size=4) | json_values,
              "source": st.sampled_from(["gestao_scouter", "tabuladormax"]) | json_values,
              "type": st.sampled_from(["INSERT", "UPDATE", "DELETE"]) | json_values},
) | st.dictionaries(st.text(max_size=8), json_values, max_size=3)
bodies = (st.binary(max_size=300) | json_values.map(orjson.dumps)
          | envelopes.map(lambda e: orjson.dumps(e, option=orjson.OPT_NON_STR_KEYS)))
header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
authorizations = (st.just(f"Bearer {TOKEN}") | header_text | header_text.map(lambda t: f"Bearer {t}")
                  | st.just(f"Bearer {TOKEN[:-3]}abc"))


PUBLISHER = FakePublisher()
APP, _ = build_app(PUBLISHER)
AUTH_V1 = "https://abcdefgh.supabase.co/auth/v1"
# The same endpoint with the optional claim checks on, as a project accepting user tokens sets it.
STRICT_APP, _ = build_app(PUBLISHER, settings=WebhookSettings(
    audience="authenticated", issuer=AUTH_V1, allowed_roles=("service_role", "authenticated")))
FUZZ = settings(max_examples=300, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def post(body: bytes, authorization: str, app: Any = APP) -> tuple[int, str, int]:
    """Status, text and number of records published for one request."""
    PUBLISHER.published.clear()

    async def go() -> tuple[int, str]:
        async with client_of(app) as client:
            response = await client.post(PATH, content=body, headers={"Authorization": authorization})
        return response.status_code, response.text

    loop = asyncio.new_event_loop()
    try:
        status, text = loop.run_until_complete(go())
    finally:
        loop.close()
    return status, text, len(PUBLISHER.records)


def check(status: int, text: str, published: int) -> None:
    assert status < 500, text
    assert status in DOCUMENTED
    if status == 202:
        assert orjson.loads(text)["published"] == published > 0
    else:
        assert published == 0
    assert MARK not in text, "an answer echoed a value that was sent"


@FUZZ
@given(body=bodies, authorization=authorizations)
def test_no_input_gives_a_5xx_or_an_undocumented_status(body: bytes, authorization: str) -> None:
    """Whatever the body and Authorization header, the answer is documented, below 500, and
    publishes only with a 202."""
    check(*post(body, authorization))


@FUZZ
@given(document=envelopes)
def test_no_authenticated_json_body_gives_a_5xx_or_echoes_a_value(document: Any) -> None:
    """With a valid token, any JSON envelope is answered below 500 without echoing a value sent."""
    check(*post(orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS), f"Bearer {TOKEN}"))


# Hostile values: what an attacker tries first.
nul_text = st.text(max_size=8).map(lambda t: t + "\x00") | st.text(max_size=8).map(lambda t: "\x00" + t)
# Sizes and depths around each limit (dados_extras, the body, the record; the depth limit, the
# serialisers' ~255 levels, the parser's 1,024), since hypothesis favours small integers.
huge_text = (st.sampled_from([10_000, 262_000, 262_200, 600_000, 999_990, 1_048_600, 1_200_000])
             | st.integers(min_value=10_000, max_value=1_200_000)).map(lambda n: "x" * n)
odd_ids = (st.booleans() | st.floats(allow_nan=False, allow_infinity=False) | st.just(2.0**64)
           | st.integers(min_value=-(2**63), max_value=2**64 - 1)
           | st.text(alphabet="0123456789", min_size=1, max_size=20) | nul_text | st.none())
depths = st.sampled_from([31, 32, 33, 100, 253, 254, 255, 256, 300, 1000, 1020, 1021, 1022, 1023, 1100]) | st.integers(
    min_value=0, max_value=1100)


def nest(depth: int, leaf: Any, as_list: bool) -> bytes:
    """`leaf` wrapped in `depth` objects or arrays, as JSON text (no recursion, any depth)."""
    head, tail = (b"[", b"]") if as_list else (b'{"k":', b"}")
    return head * depth + orjson.dumps(leaf) + tail * depth


hostile_columns = st.fixed_dictionaries(
    {},
    optional={"name": nul_text | huge_text | st.text(max_size=10), "age": odd_ids,
              "tags": st.lists(nul_text | st.text(max_size=5), max_size=3),
              "updated_at": st.just(UPDATED_AT) | nul_text,
              "dados_extras": st.dictionaries(nul_text | st.text(max_size=5), nul_text | huge_text | odd_ids,
                                              max_size=3)},
)


ATTACKS = ["none", "id", "age", "nul_name", "nul_key", "nul_value", "nul_tag", "nul_source", "huge", "huge_extras",
           "deep_extras", "deep_extras", "deep_elsewhere", "mix"]


@st.composite
def hostile_bodies(draw: st.DrawFn) -> bytes:
    """One attack per body (or a mix of them) on an otherwise valid lead, as raw JSON text: an
    odd id or age, a NUL in a value, key or the envelope, a huge string, a deep nesting."""
    attack = draw(st.sampled_from(ATTACKS))
    columns: dict[str, Any] = {
        "id": {"id": draw(odd_ids)}, "age": {"age": draw(odd_ids)}, "nul_name": {"name": draw(nul_text)},
        "nul_key": {"dados_extras": {draw(nul_text): 1}}, "nul_value": {"dados_extras": {"k": [draw(nul_text)]}},
        "nul_tag": {"tags": ["a", draw(nul_text)]}, "huge": {"name": draw(huge_text)},
        "huge_extras": {"dados_extras": {"k": draw(huge_text)}}, "mix": draw(hostile_columns),
    }.get(attack, {})
    document = {"lead": {**lead(), **columns}, "type": draw(st.sampled_from(["INSERT", "UPDATE"])),
                "source": "gestao\x00scouter" if attack == "nul_source" else draw(st.sampled_from(
                    ["gestao_scouter", "gestao_scouter", "gestao_scouter", "tabuladormax"]))}
    if attack not in {"deep_extras", "deep_elsewhere"}:
        return orjson.dumps(document)
    where = "dados_extras" if attack == "deep_extras" else draw(st.sampled_from(["name", "tags", "deep"]))
    nested = nest(draw(depths), draw(st.none() | st.text(max_size=5)),
                  as_list=where != "dados_extras" and draw(st.booleans()))
    if where == "dados_extras":
        nested = b'{"k":' + nested + b"}"
    rest = orjson.dumps({**document, "lead": {k: v for k, v in document["lead"].items() if k != where}})
    return b'{"lead":{"' + where.encode() + b'":' + nested + b"," + rest[len(b'{"lead":{'):]


numbers = st.integers(min_value=-(2**40), max_value=2**40) | st.floats(allow_nan=False, allow_infinity=False)
odd_claim_values = (st.none() | st.booleans() | numbers | st.text(max_size=12) | st.integers().map(str)
                    | st.lists(st.text(max_size=5) | numbers, max_size=3)
                    | st.dictionaries(st.text(max_size=3), numbers, max_size=2))
GOOD_CLAIMS = {"exp": lambda: int(time.time()) + 3600, "nbf": lambda: 0, "iat": lambda: int(time.time()),
               "aud": lambda: "authenticated", "iss": lambda: AUTH_V1, "sub": lambda: "gs", "jti": lambda: "j1",
               "role": lambda: "service_role"}


@st.composite
def claim_sets(draw: st.DrawFn) -> dict[str, Any]:
    """Right claims (`exp` always, the others or not), then zero to two of them removed or
    replaced by any JSON value: a single odd claim in an otherwise passing token is common."""
    claims = {name: good() for name, good in GOOD_CLAIMS.items() if name == "exp" or draw(st.booleans())}
    for name in draw(st.lists(st.sampled_from(list(GOOD_CLAIMS)), max_size=2, unique=True)):
        if draw(st.integers(min_value=0, max_value=3)) == 0:
            claims.pop(name, None)
        else:
            claims[name] = draw(odd_claim_values | st.just(str(GOOD_CLAIMS[name]()))
                                | st.sampled_from(["another", "supabase"]))
    return claims


def admissible(claims: dict[str, Any], strict: bool) -> bool:
    """Whether RFC 7519 allows each claim's JSON type, and, under STRICT_APP, aud and iss match."""
    def number(name: str) -> bool:
        return type(claims[name]) in (int, float)

    def text(name: str) -> bool:
        return isinstance(claims[name], str)

    aud = claims.get("aud")
    typed = ("exp" in claims and all(number(n) for n in ("exp", "nbf", "iat") if n in claims)
             and all(text(n) for n in ("iss", "sub", "jti") if n in claims)
             and ("aud" not in claims or isinstance(aud, str) or (isinstance(aud, list)
                                                                  and all(isinstance(a, str) for a in aud))))
    if not strict:
        return typed
    return typed and claims.get("iss") == AUTH_V1 and (aud == "authenticated" or (
        isinstance(aud, list) and "authenticated" in aud))


@FUZZ
@given(body=hostile_bodies())
def test_hostile_bodies_are_refused_below_500_and_publish_nothing(body: bytes) -> None:
    """Deep nesting (up to past the parser's limit), NULs, booleans/floats/strings as ids and huge
    strings: never a 5xx, nothing published unless the answer is 202, and nothing published
    holds a NUL or a non-integer id."""
    status, text, published = post(body, f"Bearer {TOKEN}")
    check(status, text, published)
    for _, value, _ in PUBLISHER.records:
        after = orjson.loads(value)["after"]
        assert b"\\u0000" not in value, "a string holding NUL was published"
        assert type(after["id"]) is int, "a non-integer id was published"


@FUZZ
@given(claims=claim_sets(), strict=st.booleans())
def test_tokens_with_odd_claim_types_are_refused_below_500_and_publish_nothing(
    claims: dict[str, Any], strict: bool,
) -> None:
    """A validly signed token whose registered claims have any JSON type, with and without the
    audience/issuer checks: the answer is documented and below 500, a 401 publishes nothing, and
    only a token whose claims all have their RFC 7519 types (and the configured aud/iss) gets in."""
    token = jwt.PyJWS().encode(orjson.dumps(claims), SECRET, algorithm="HS256")  # any claim type, even iss
    status, text, published = post(orjson.dumps({"lead": lead()}), f"Bearer {token}", STRICT_APP if strict else APP)
    check(status, text, published)
    if status != 401:
        assert admissible(claims, strict), f"let in with {claims}"
