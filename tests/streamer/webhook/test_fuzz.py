"""Property-based fuzzing of the endpoint through an ASGI transport: any body, any header, never a 5xx."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.lead import LEAD_COLUMNS
from streamer.webhook.openapi import documented_statuses, openapi_document
from tests.streamer.webhook.fakes import PATH, UPDATED_AT, FakePublisher, build_app, client_of, hs_token

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


def post(body: bytes, authorization: str) -> tuple[int, str, int]:
    """Status, text and number of records published for one request."""
    PUBLISHER.published.clear()

    async def go() -> tuple[int, str]:
        async with client_of(APP) as client:
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


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, authorization=authorizations)
def test_no_input_gives_a_5xx_or_an_undocumented_status(body: bytes, authorization: str) -> None:
    """Whatever the body and Authorization header, the answer is documented, below 500, and
    publishes only with a 202."""
    check(*post(body, authorization))


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=envelopes)
def test_no_authenticated_json_body_gives_a_5xx_or_echoes_a_value(document: Any) -> None:
    """With a valid token, any JSON envelope is answered below 500 without echoing a value sent."""
    check(*post(orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS), f"Bearer {TOKEN}"))
