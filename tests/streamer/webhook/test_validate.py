"""The body, from JSON to change events: envelope, leads, echoes, field errors, mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from schemas.mapping import FieldMapping
from streamer.webhook.validate import (
    MAX_EXTRAS_BYTES,
    MAX_EXTRAS_DEPTH,
    MAX_UPDATED_AT_AHEAD,
    Accepted,
    InvalidBody,
    Rules,
    accept,
    epoch_ms,
    parse_json,
)
from tests.streamer.webhook.fakes import lead

RULES = Rules()


def refused(document: Any, rules: Rules = RULES) -> InvalidBody:
    with pytest.raises(InvalidBody) as caught:
        accept(document, rules)
    return caught.value


def test_one_lead_becomes_one_update_event_in_the_capture_envelope() -> None:
    """The seed's body gives an `op=u` webhook event keyed by the lead, tagged gestao_scouter."""
    accepted = accept({"lead": lead(7, age="31"), "source": "gestao_scouter"}, RULES)
    (event,) = accepted.events
    assert event.op == "u" and event.key_bytes() == b"7" and accepted.echoes == 0
    assert event.after == {"id": 7, "name": "Ana", "age": 31, "updated_at": "2025-03-01T12:00:00Z",
                           "sync_source": "gestao_scouter"}
    assert (event.source.connector, event.source.db, event.source.sync_source) == (
        "webhook", "gestao_scouter", "gestao_scouter")
    assert event.source.ts_ms == epoch_ms(datetime(2025, 3, 1, 12, tzinfo=UTC))


def test_insert_type_gives_a_create_event_and_a_batch_keeps_its_order() -> None:
    """`type: INSERT` (the trigger's TG_OP) gives `op=c`; a batch yields one event per lead in order."""
    accepted = accept({"leads": [lead(3), lead(1), lead(2)], "source": "gestao_scouter", "type": "INSERT"}, RULES)
    assert [(e.op, e.after["id"]) for e in accepted.events if e.after] == [("c", 3), ("c", 1), ("c", 2)]


def test_a_lead_written_by_tabuladormax_is_an_echo_and_dropped() -> None:
    """Leads whose sync_source is 'tabuladormax' are counted as echoes; the others go on."""
    accepted = accept({"leads": [lead(1, sync_source="tabuladormax"), lead(2)]}, RULES)
    assert accepted.echoes == 1 and [e.key() for e in accepted.events] == [2]


def test_a_body_whose_source_is_tabuladormax_is_all_echo() -> None:
    """An envelope `source: tabuladormax` drops every lead, even ones that would not validate."""
    assert accept({"leads": [lead(1), {"junk": True}], "source": "tabuladormax"}, RULES) == Accepted(echoes=2)


def test_wrong_types_give_pydantic_locations_and_messages_without_the_values() -> None:
    """A 422 names each bad field (loc/msg/type) and never echoes what was sent."""
    error = refused({"lead": lead(5, age="sixty-two-SECRETVALUE", estado="Paraná-SECRETVALUE")})
    assert error.status == 422
    locs = {tuple(d["loc"]) for d in error.body["details"]}
    assert locs == {("lead", "age"), ("lead", "estado")}
    assert b"SECRETVALUE" not in orjson.dumps(error.body)
    assert all(set(d) == {"loc", "msg", "type"} for d in error.body["details"])


def test_a_lead_without_id_or_updated_at_is_refused() -> None:
    """`id` (the key) and `updated_at` (the version) are both required."""
    error = refused({"leads": [{"name": "x", "updated_at": "2025-01-01T00:00:00Z"}, {"id": 9}]})
    assert {tuple(d["loc"]) for d in error.body["details"]} == {("leads", 0, "id"), ("leads", 1, "updated_at")}


def test_unknown_columns_and_out_of_range_integers_are_refused() -> None:
    """Columns TabuladorMax lacks, and integers its column types cannot hold, are field errors."""
    error = refused({"lead": lead(2**63, colour="red", tentativas_contato=2**31)})
    assert {tuple(d["loc"]) for d in error.body["details"]} == {("lead", "colour")}
    error = refused({"lead": lead(2**63, tentativas_contato=2**31)})
    assert {tuple(d["loc"]) for d in error.body["details"]} == {("lead", "id"), ("lead", "tentativas_contato")}


@pytest.mark.parametrize("document", [
    {}, {"lead": lead(), "leads": [lead()]}, {"leads": []}, {"lead": [1]}, [lead()], "lead", None,
    {"lead": lead(), "extra": 1}, {"lead": lead(), "type": "DELETE"},
])
def test_a_malformed_envelope_is_refused(document: Any) -> None:
    """Exactly one of lead/leads, objects only, known keys, INSERT or UPDATE."""
    assert refused(document).status == 422


def test_more_leads_than_allowed_are_refused() -> None:
    """`max_leads` bounds a batch."""
    assert refused({"leads": [lead(i) for i in range(1, 5)]}, Rules(max_leads=3)).status == 422


def test_invalid_json_is_a_400_without_the_parser_message() -> None:
    """Bytes that are not JSON give 400 and a fixed message."""
    with pytest.raises(InvalidBody) as caught:
        parse_json(b'{"lead": SECRET')
    assert caught.value.status == 400 and caught.value.body == {"error": "invalid JSON", "field": "body"}


def test_the_field_mapping_is_applied_inversely_for_validation_and_errors_use_sent_names() -> None:
    """With celular→phone, `phone` validates as celular, stays `phone` in the event, and errors say `phone`."""
    rules = Rules(mapping=FieldMapping(fieldMappings={"celular": "phone", "age": "idade"}))
    (event,) = accept({"lead": lead(1, phone="+55 11 9")}, rules).events
    assert event.after is not None and event.after["phone"] == "+55 11 9" and "celular" not in event.after
    error = refused({"lead": lead(1, idade="old")}, rules)
    assert [d["loc"] for d in error.body["details"]] == [["lead", "idade"]]


def test_naive_and_extreme_timestamps_convert_without_error() -> None:
    """Unix milliseconds of any valid datetime, naive counted as UTC."""
    assert epoch_ms(datetime(1970, 1, 1, 0, 0, 1)) == 1000
    assert epoch_ms(datetime.min) < 0 and epoch_ms(datetime.max.replace(tzinfo=UTC)) > 0


def test_a_naive_updated_at_is_taken_as_utc_and_marked_so_in_the_event() -> None:
    """No offset means UTC: the event carries the offset explicitly, so no consumer (nor
    PostgreSQL, in its session's zone) reads it another way; other naive timestamps too."""
    (event,) = accept({"lead": lead(7, updated_at="2025-03-01T12:00:00", criado="2025-02-01T08:30:00")},
                      RULES).events
    assert event.after is not None
    assert event.after["updated_at"] == "2025-03-01T12:00:00Z" and event.after["criado"] == "2025-02-01T08:30:00Z"
    assert event.source.ts_ms == epoch_ms(datetime(2025, 3, 1, 12, tzinfo=UTC))


def test_an_aware_updated_at_keeps_its_instant() -> None:
    """A value with an offset is left as the instant it names."""
    (event,) = accept({"lead": lead(7, updated_at="2025-03-01T09:00:00-03:00")}, RULES).events
    assert event.source.ts_ms == epoch_ms(datetime(2025, 3, 1, 12, tzinfo=UTC))


NOW_MS = epoch_ms(datetime(2025, 3, 1, 12, tzinfo=UTC))


@pytest.mark.parametrize("updated_at", ["9999-01-01T00:00:00Z", "2025-03-02T12:00:00.001Z", "2025-03-02T13:00:00"])
def test_an_updated_at_more_than_a_day_ahead_is_refused_naming_the_field(updated_at: str) -> None:
    """A version from the future would win over every later edit of the lead: 422 on updated_at."""
    with pytest.raises(InvalidBody) as caught:
        accept({"leads": [lead(1), lead(2, updated_at=updated_at)]}, RULES, received_ms=NOW_MS)
    (detail,) = caught.value.body["details"]
    assert caught.value.status == 422 and detail["loc"] == ["leads", 1, "updated_at"]
    assert detail["type"] == "too_far_in_future" and updated_at not in orjson.dumps(caught.value.body).decode()


def test_an_updated_at_up_to_a_day_ahead_is_accepted() -> None:
    """Clock skew between the two projects is tolerated, up to MAX_UPDATED_AT_AHEAD."""
    assert MAX_UPDATED_AT_AHEAD == timedelta(days=1)
    accepted = accept({"lead": lead(1, updated_at="2025-03-02T12:00:00Z")}, RULES, received_ms=NOW_MS)
    assert len(accepted.events) == 1


def nested(depth: int) -> dict[str, Any]:
    """A `dados_extras` value `depth` containers deep (an object, then arrays and objects in turn)."""
    value: Any = "leaf"
    for level in range(depth - 1):
        value = [value] if level % 2 == 0 else {"k": value}
    return {"k": value}


@pytest.mark.parametrize("lead_id", [True, False, 5.0, 1e3, "5", 18446744073709551616.0])
def test_an_id_that_is_not_a_json_integer_is_refused_naming_the_field(lead_id: Any) -> None:
    """Booleans, floats (even whole ones) and numeric strings are not ids: 422 at ["lead", "id"]."""
    details = refused({"lead": lead(lead_id)}).body["details"]
    assert {"loc": ["lead", "id"], "msg": details[0]["msg"], "type": "int_type"} in details
    assert "integer" in details[0]["msg"]


@pytest.mark.parametrize("column", ["age", "altura_cm", "tentativas_contato"])
def test_an_integer_column_holding_a_boolean_or_a_float_is_refused(column: str) -> None:
    """`true` and `30.0` are not integers for any integer column either."""
    for bad in (True, 30.0):
        assert refused({"lead": lead(**{column: bad})}).body["details"][0]["loc"] == ["lead", column]


def test_a_strict_integer_error_uses_the_name_gestao_scouter_sent() -> None:
    """With age→idade on the sink, a boolean `idade` is reported as `idade`."""
    rules = Rules(mapping=FieldMapping(fieldMappings={"age": "idade"}))
    body = refused({"lead": {**lead(), "idade": True}}, rules).body
    assert body["details"][0]["loc"] == ["lead", "idade"]


@pytest.mark.parametrize(("document", "loc"), [
    ({"lead": lead(name="Ana\x00")}, ["lead", "name"]),
    ({"lead": lead(tags=["ok", "b\x00d"])}, ["lead", "tags", 1]),
    ({"lead": lead(dados_extras={"origem": "a\x00"})}, ["lead", "dados_extras", "origem"]),
    ({"lead": lead(dados_extras={"ch\x00ve": 1})}, ["lead", "dados_extras"]),
    ({"lead": lead(dados_extras={"a": [{"b": "\x00"}]})}, ["lead", "dados_extras", "a", 0, "b"]),
    ({"leads": [lead(1), lead(2, cidade="\x00")]}, ["leads", 1, "cidade"]),
    ({"lead": lead(), "source": "gestao\x00scouter"}, ["source"]),
])
def test_a_nul_character_anywhere_is_refused_naming_where(document: Any, loc: list[Any]) -> None:
    """PostgreSQL cannot store U+0000 in text or jsonb (22P05): refused at the door, at its place."""
    details = refused(document).body["details"]
    assert [d["loc"] for d in details] == [loc] and details[0]["type"] == "string_nul"


def test_a_nul_in_an_echo_is_refused_too() -> None:
    """No string with a NUL is acknowledged, even in a body that would be dropped as an echo."""
    assert refused({"lead": lead(name="\x00"), "source": "tabuladormax"}).status == 422


@pytest.mark.parametrize("depth", [MAX_EXTRAS_DEPTH + 1, 300, 1000])
def test_dados_extras_nested_deeper_than_the_limit_is_refused_naming_the_limit(depth: int) -> None:
    """Deeper than MAX_EXTRAS_DEPTH is a 422 at ["lead", "dados_extras"] whose message gives the limit."""
    (detail,) = refused({"lead": lead(dados_extras=nested(depth))}).body["details"]
    assert detail["loc"] == ["lead", "dados_extras"] and detail["type"] == "too_deep"
    assert str(MAX_EXTRAS_DEPTH) in detail["msg"]


def test_dados_extras_at_the_depth_limit_is_accepted_and_serialised() -> None:
    """Exactly MAX_EXTRAS_DEPTH levels is accepted and becomes an event that serialises."""
    (event,) = accept({"lead": lead(dados_extras=nested(MAX_EXTRAS_DEPTH))}, RULES).events
    assert event.to_bytes()


def test_dados_extras_larger_than_the_limit_is_refused_naming_the_limit() -> None:
    """More than MAX_EXTRAS_BYTES of JSON in dados_extras is a 422 whose message gives the limit."""
    (detail,) = refused({"lead": lead(dados_extras={"blob": "x" * MAX_EXTRAS_BYTES})}).body["details"]
    assert detail["loc"] == ["lead", "dados_extras"] and detail["type"] == "too_large"
    assert str(MAX_EXTRAS_BYTES) in detail["msg"]
