"""The debezium event format: what our records look like next to Debezium's PostgreSQL connector
with Kafka Connect's JsonConverter, and reading either format back (docs/event-format.md)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from schemas.debezium import (
    LEAD_KINDS,
    PLACEHOLDER,
    SNAPSHOT_VALUES,
    Column,
    Encoder,
    EncoderOptions,
    EventError,
    decode,
    decode_key,
    model_columns,
    partition_key,
    sequence,
)
from schemas.event import ChangeEvent, SourceInfo, from_row, header
from schemas.lead import Lead

# The leads table's columns as the catalog gives them (type OIDs of schemas/sql/common/010_leads.sql).
COLUMNS = (
    Column("id", 20, optional=False, key=True), Column("name", 25), Column("age", 23), Column("criado", 1184),
    Column("data_nascimento", 1082), Column("horario_agendamento", 1083), Column("confirmado", 16),
    Column("valor_ficha", 1700), Column("observacoes", 25), Column("tags", 1009), Column("dados_extras", 3802),
    Column("sync_source", 25),
)
ROW = {"id": 7, "name": "Ana", "age": 31, "criado": "2024-01-31T12:00:00.500000+00:00",
       "data_nascimento": "1990-05-17", "horario_agendamento": "14:30:00", "confirmado": True,
       "valor_ficha": "150.00", "observacoes": "long text", "tags": ["a", "b"],
       "dados_extras": {"lote": orjson.Fragment(b"18446744073709551617"), "nota": "x"},
       "sync_source": "tabuladormax"}
SOURCE = SourceInfo(connector="postgresql", db="crm", schema="public", table="leads", ts_ms=1_700_000_000_123,
                    ts_us=1_700_000_000_123_456, lsn=2_000, change_lsn=1_900, last_commit_lsn=1_500, tx_id=991,
                    sync_source="tabuladormax")
SOURCE_FIELDS = ["version", "connector", "name", "ts_ms", "snapshot", "db", "sequence", "ts_us", "ts_ns", "schema",
                 "table", "txId", "lsn", "xmin", "origin", "origin_lsn"]


def encoder(**options: Any) -> Encoder:
    return Encoder(EncoderOptions(name="tabuladormax", columns=COLUMNS, **options))


def update(**changes: Any) -> ChangeEvent:
    return ChangeEvent(op="u", before=None, after=ROW | changes, source=SOURCE, ts_ms=1_700_000_001_000)


def test_the_key_is_a_struct_of_the_id_as_debezium_writes_it() -> None:
    ((key, _, _),) = encoder().records(update())
    assert key == b'{"id":7}'
    assert decode_key(key) == 7 and decode_key(b"7") == 7  # the legacy key reads the same


def test_the_value_is_debeziums_envelope_with_its_source_block() -> None:
    ((_, value, _),) = encoder().records(update())
    assert value is not None
    envelope = orjson.loads(value)
    assert list(envelope) == ["before", "after", "source", "transaction", "op", "ts_ms", "ts_us", "ts_ns"]
    assert (envelope["op"], envelope["transaction"], envelope["before"]) == ("u", None, None)
    assert (envelope["ts_ms"], envelope["ts_us"], envelope["ts_ns"]) == (
        1_700_000_001_000, 1_700_000_001_000_000, 1_700_000_001_000_000_000)
    source = envelope["source"]
    assert list(source) == SOURCE_FIELDS
    assert source | {"version": None} == {
        "version": None, "connector": "postgresql", "name": "tabuladormax",
        "ts_ms": 1_700_000_000_123, "snapshot": "false", "db": "crm",
        "sequence": '["1500","1900"]',  # a JSON string: [last commit LSN, this change's LSN], as strings
        "ts_us": 1_700_000_000_123_456, "ts_ns": 1_700_000_000_123_456_000,
        "schema": "public", "table": "leads", "txId": 991, "lsn": 1_900, "xmin": None,
        "origin": None, "origin_lsn": None}
    assert isinstance(source["version"], str) and source["version"]
    assert "sync_source" not in source and "job_id" not in source and "unchanged_toast" not in envelope


def test_values_take_debeziums_representations_and_read_back_as_they_were() -> None:
    """date: days since the epoch; time: microseconds since midnight; json: the JSON text;
    numeric: a string (decimal.handling.mode=string); timestamptz: ISO 8601 with its offset."""
    ((_, value, _),) = encoder().records(update())
    assert value is not None
    after = orjson.loads(value)["after"]
    assert (after["data_nascimento"], after["horario_agendamento"]) == (7441, 52_200_000_000)
    assert after["dados_extras"] == '{"lote":18446744073709551617,"nota":"x"}'
    assert (after["valor_ficha"], after["criado"], after["tags"]) == ("150.00", ROW["criado"], ["a", "b"])
    back = decode(value, LEAD_KINDS).after
    assert back is not None and orjson.dumps(back) == orjson.dumps(ROW)


def test_a_delete_is_followed_by_a_tombstone_under_the_same_key() -> None:
    delete = ChangeEvent(op="d", before=ROW, after=None, source=SOURCE)
    (key, value, headers), (tomb_key, tomb_value, _) = encoder().records(delete)
    assert (tomb_key, tomb_value) == (key, None) == (b'{"id":7}', None)
    assert value is not None and orjson.loads(value)["after"] is None
    assert header(headers, "op") == "d"


def test_an_unchanged_toast_column_carries_debeziums_placeholder() -> None:
    """A text column gets the placeholder string, an array column a list holding it; reading it
    back takes the column out of `after` and names it, as the legacy `unchanged_toast` did."""
    after = {k: v for k, v in ROW.items() if k not in ("observacoes", "tags")}
    event = ChangeEvent(op="u", after=after, unchanged_toast=["observacoes", "tags"], source=SOURCE)
    ((_, value, _),) = encoder().records(event)
    assert value is not None
    written = orjson.loads(value)["after"]
    assert (written["observacoes"], written["tags"]) == (PLACEHOLDER, [PLACEHOLDER])
    change = decode(value, LEAD_KINDS)
    assert change.unchanged == ("observacoes", "tags")
    assert change.after is not None and "observacoes" not in change.after and "tags" not in change.after


def test_routing_data_rides_in_headers_not_in_the_value() -> None:
    event = from_row("r", None, ROW, connector="export", db="crm", table="leads", ts_ms=1, job_id="job-1",
                     snapshot=True)
    ((_, value, headers),) = encoder().records(event, [("job_generation", b"2")])
    assert [(n, header(headers, n)) for n in ("op", "sync_source", "job_id", "job_generation")] == [
        ("op", "r"), ("sync_source", "tabuladormax"), ("job_id", "job-1"), ("job_generation", "2")]
    assert value is not None and b"job-1" not in value


@pytest.mark.parametrize(("snapshot", "mark", "expected"), [
    (False, None, "false"), (True, None, "true"), (True, "first", "first"), (True, "last", "last")])
def test_snapshot_is_a_string_of_debeziums_values(snapshot: bool, mark: Any, expected: str) -> None:
    event = ChangeEvent(op="r", after=ROW, source=SOURCE.model_copy(update={"snapshot": snapshot,
                                                                            "snapshot_mark": mark}))
    ((_, value, _),) = encoder().records(event)
    assert value is not None and orjson.loads(value)["source"]["snapshot"] == expected
    assert expected in SNAPSHOT_VALUES


def test_an_export_row_is_an_incremental_snapshot_read_without_wal_position() -> None:
    event = from_row("r", None, ROW, connector="export", db="crm", table="leads", ts_ms=5, snapshot=True)
    ((_, value, _),) = encoder().records(event)
    assert value is not None
    source = orjson.loads(value)["source"]
    assert (source["snapshot"], source["txId"], source["lsn"], source["sequence"]) == ("incremental", None, None,
                                                                                          None)


def _conforms(value: Any, schema: dict[str, Any], where: str) -> None:
    """`value` is what JsonConverter accepts for the Connect `schema` (fails naming `where`)."""
    if value is None:
        assert schema["optional"] or "default" in schema, f"{where}: null but not optional"
        return
    kind = schema["type"]
    if kind == "struct":
        assert isinstance(value, dict), where
        names = [f["field"] for f in schema["fields"]]
        assert set(value) <= set(names), f"{where}: fields outside the schema {set(value) - set(names)}"
        for f in schema["fields"]:
            _conforms(value.get(f["field"]), f, f"{where}.{f['field']}")
    elif kind == "array":
        assert isinstance(value, list), where
        for item in value:
            _conforms(item, schema["items"], f"{where}[]")
    else:
        python = {"string": str, "boolean": bool, "int16": int, "int32": int, "int64": int, "float": float,
                  "double": float}[kind]
        assert isinstance(value, python) and (python is bool or not isinstance(value, bool)), \
            f"{where}: {type(value).__name__} for {kind}"


@pytest.mark.parametrize("op", ["c", "u", "d", "r"])
def test_with_schemas_the_payload_conforms_to_its_connect_schema(op: str) -> None:
    """What JsonConverter (schemas.enable=true) needs, and Debezium's JDBC sink reads."""
    event = (ChangeEvent(op="d", before=ROW, after=None, source=SOURCE) if op == "d"
             else ChangeEvent(op=op, after=ROW, source=SOURCE))  # type: ignore[arg-type]
    (key, value, _), *tombstone = encoder(schemas=True).records(event)
    assert value is not None
    document, key_document = orjson.loads(value), orjson.loads(key)
    assert set(document) == set(key_document) == {"schema", "payload"}
    assert key_document["payload"] == {"id": 7}
    _conforms(key_document["payload"], key_document["schema"], "key")
    _conforms(document["payload"], document["schema"], "value")
    schema = document["schema"]
    assert (schema["name"], schema["version"]) == ("tabuladormax.public.leads.Envelope", 2)
    after = {f["field"]: f for f in schema["fields"]}["after"]
    types = {f["field"]: (f["type"], f.get("name")) for f in after["fields"]}
    assert types == {
        "id": ("int64", None), "name": ("string", None), "age": ("int32", None),
        "criado": ("string", "io.debezium.time.ZonedTimestamp"), "data_nascimento": ("int32", "io.debezium.time.Date"),
        "horario_agendamento": ("int64", "io.debezium.time.MicroTime"), "confirmado": ("boolean", None),
        "valor_ficha": ("string", None), "observacoes": ("string", None), "tags": ("array", None),
        "dados_extras": ("string", "io.debezium.data.Json"), "sync_source": ("string", None)}
    assert tombstone == ([(key, None, tombstone[0][2])] if op == "d" else [])
    # Reading it back needs no kinds: the schema says which columns to turn back.
    change = decode(value)
    assert orjson.dumps(change.before if op == "d" else change.after) == orjson.dumps(ROW)


def test_the_legacy_format_writes_what_the_old_release_wrote() -> None:
    event = update()
    ((key, value, headers),) = encoder(format="legacy").records(event)
    assert (key, value) == (b"7", event.to_bytes())
    legacy = orjson.loads(value or b"")
    assert legacy["source"]["snapshot"] is False and legacy["source"]["sync_source"] == "tabuladormax"
    assert not {"ts_us", "change_lsn", "last_commit_lsn", "snapshot_mark"} & legacy["source"].keys()
    assert encoder(format="legacy").records(ChangeEvent(op="d", before=ROW, source=SOURCE))[-1][1] is not None


def test_a_legacy_value_reads_as_it_always_did() -> None:
    """Topics written by the release before keep working: bare key, `unchanged_toast`, boolean
    snapshot, routing fields in `source`."""
    after = {k: v for k, v in ROW.items() if k != "observacoes"}
    event = ChangeEvent(op="u", after=after, unchanged_toast=["observacoes"],
                        source=SOURCE.model_copy(update={"job_id": "j", "snapshot": True}))
    change = decode(event.to_bytes(), LEAD_KINDS)
    assert (change.format, change.op, change.unchanged, change.sync_source, change.job_id, change.snapshot) == (
        "legacy", "u", ("observacoes",), "tabuladormax", "j", "true")
    assert change.ts_ms == SOURCE.ts_ms and orjson.dumps(change.after) == orjson.dumps(after)


@pytest.mark.parametrize(("value", "message"), [
    (b"[1]", "value: a JSON array, not an object"),
    (b'{"op": "x", "source": {"ts_ms": 1}}', "op: must be one of c, u, d, r"),
    (b'{"op": "c", "after": {"id": 1}}', "source: missing or not an object"),
    (b'{"op": "c", "after": {"id": 1}, "source": {"ts_ms": "1"}}', "source.ts_ms: missing or not an integer"),
    (b'{"op": "c", "source": {"ts_ms": 1}}', "op 'c' needs 'after'"),
    (b'{"op": "d", "after": {"id": 1}, "source": {"ts_ms": 1}}', "a delete ('d') has 'before' and no 'after'"),
    (b'{"schema": {}, "payload": 3}', "payload: a JSON number, not an object"),
    (b'{"op": "u", "after": {"id": 1, "n": 2}, "unchanged_toast": ["n"], "source": {"ts_ms": 1}}',
     "unchanged TOAST columns must be left out of 'after'"),
])
def test_what_is_not_a_change_event_is_refused_with_the_reason(value: bytes, message: str) -> None:
    with pytest.raises(EventError) as refused:
        decode(value)
    assert str(refused.value) == message


def test_not_json_raises_orjsons_error() -> None:
    with pytest.raises(orjson.JSONDecodeError):
        decode(b'{"op": ')


def test_a_lead_keeps_its_partition_whichever_format_keyed_it() -> None:
    enveloped = encoder(schemas=True).records(update())[0][0]
    assert partition_key(b'{"id":7}') == partition_key(enveloped) == partition_key(b"7") == b"7"
    assert partition_key(None) is None and partition_key(b"not json {") == b"not json {"


def test_a_topic_under_the_other_sides_names_gets_their_kinds() -> None:
    """The webhook writes Gestão Scouter's names: the columns follow the field mapping."""
    columns = {c.name: c for c in model_columns(Lead, lambda name: None if name == "age" else f"gs_{name}")}
    assert "gs_age" not in columns and columns["gs_id"] == Column("gs_id", 20, optional=False, key=True)
    assert (columns["gs_dados_extras"].type_oid, columns["gs_data_nascimento"].type_oid) == (3802, 1082)


def test_a_schema_enveloped_value_reads_the_same_whatever_its_layout() -> None:
    """The schema is read once per distinct schema (cached by its bytes); a value laid out
    otherwise (spaces, payload first) or with a column named "payload" is parsed whole, same result."""
    columns = (*COLUMNS, Column("payload", 25))
    enc = Encoder(EncoderOptions(name="tabuladormax", columns=columns, schemas=True))
    ((_, value, _),) = enc.records(update(payload=',"payload":{"x":1}'))
    assert value is not None
    document = orjson.loads(value)
    relaid = orjson.dumps({"payload": document["payload"], "schema": document["schema"]},
                          option=orjson.OPT_INDENT_2)
    changes = [decode(value), decode(value), decode(relaid)]
    assert all(orjson.dumps(c.after) == orjson.dumps(ROW | {"payload": ',"payload":{"x":1}'}) for c in changes)


def test_the_schema_follows_the_columns_a_relation_announces_keeping_the_catalogs_nullability() -> None:
    """pgoutput's RELATION says nothing of NOT NULL: a column the catalog knew keeps what it said;
    a column added since (ALTER TABLE) appears in the next record's schema."""
    enc = Encoder(EncoderOptions(name="t", schemas=True, columns=(Column("id", 20, False, True),
                                                                    Column("name", 25, optional=False))))
    enc.learn([Column("id", 20, False, True), Column("name", 25), Column("nota", 23)])
    assert enc.columns == (Column("id", 20, False, True), Column("name", 25, optional=False), Column("nota", 23))
    ((_, value, _),) = enc.records(ChangeEvent(op="c", after={"id": 1, "name": "a", "nota": 3}, source=SOURCE))
    after = {f["field"]: f for f in orjson.loads(value or b"")["schema"]["fields"]}["after"]
    assert [(f["field"], f["type"], f["optional"]) for f in after["fields"]] == [
        ("id", "int64", False), ("name", "string", False), ("nota", "int32", True)]


@pytest.mark.parametrize(("text", "micros"), [
    ("14:30:00", 52_200_000_000), ("00:00:00", 0), ("24:00:00", 86_400_000_000),
    ("23:59:59.5", 86_399_500_000), ("08:01:02.000123", 28_862_000_123), ("allballs", "allballs")])
def test_a_time_column_is_microseconds_since_midnight(text: str, micros: Any) -> None:
    """PostgreSQL's `time` output, with or without a fraction, as Debezium's MicroTime; what is not
    a time of day stays as it was written."""
    ((_, value, _),) = encoder().records(update(horario_agendamento=text))
    assert orjson.loads(value)["after"]["horario_agendamento"] == micros


@pytest.mark.parametrize(("last", "lsn", "expected"), [
    (1_500, 1_900, '["1500","1900"]'), (None, 1_900, '[null,"1900"]'), (None, None, "[null,null]"),
    (2**64 - 1, 0, f'["{2**64 - 1}","0"]')])
def test_the_sequence_is_a_json_array_of_decimal_strings(last: int | None, lsn: int | None, expected: str) -> None:
    """`source.sequence` as Debezium writes it, a JSON array as a string, and parseable as one."""
    assert sequence(last, lsn) == expected
    assert orjson.loads(sequence(last, lsn)) == [None if v is None else str(v) for v in (last, lsn)]


@pytest.mark.parametrize("enveloped", [False, True])
@pytest.mark.parametrize("image", ["after", "before"])
def test_a_number_of_a_row_image_that_a_double_cannot_hold_reads_back_exactly(enveloped: bool, image: str) -> None:
    """Only the row images are looked at for a float orjson may have rounded; such a value is read
    again exactly, whatever else the value holds (here a long float in `source` too)."""
    op, other = ("u", "before") if image == "after" else ("d", "after")
    row = b'{"id":7,"peso":0.12345678901234567890123,"nota":2.5,"tags":[1.000000000000000000001],"x":"a"}'
    value = (b'{"before":' + (row if image == "before" else b"null") + b',"after":'
             + (row if image == "after" else b"null") + b',"source":{"version":"1","ts_ms":1,"xmin":'
             b'0.99999999999999999999},"op":"' + op.encode() + b'","ts_ms":2}')
    if enveloped:
        value = b'{"schema":{"type":"struct","fields":[]},"payload":' + value + b"}"
    change = decode(value, LEAD_KINDS)
    read = getattr(change, image)
    assert getattr(change, other) is None and read is not None
    assert orjson.dumps(read) == row  # every literal as written
    assert read["nota"] == 2.5 and type(read["peso"]) is orjson.Fragment


def test_a_float_that_a_double_holds_stays_a_float_and_placeholders_go_in_every_image() -> None:
    value = (b'{"before":{"id":7,"t":"__debezium_unavailable_value"},"after":{"id":7,"n":0.5,'
             b'"t":"__debezium_unavailable_value","a":["__debezium_unavailable_value"],"s":"x"},'
             b'"source":{"version":"1","ts_ms":1},"op":"u","ts_ms":2}')
    change = decode(value)
    assert change.after == {"id": 7, "n": 0.5, "s": "x"} and change.unchanged == ("t", "a")
    assert change.before == {"id": 7}
