"""Kafka records in Debezium's shape, and reading them back in either format. Pure: no I/O.

Two event formats share a topic's history (docs/event-format.md):

- ``debezium`` (the default): key and value as Debezium's PostgreSQL connector writes them with
  Kafka Connect's JsonConverter: key ``{"id": 7}``; value ``before``/``after``/``source``/
  ``transaction``/``op``/``ts_ms``/``ts_us``/``ts_ns`` with Debezium's ``source`` block; a
  tombstone (same key, no value) after each delete; Debezium's placeholder for an unchanged TOAST
  value. With ``schemas`` on, key and value are wrapped in ``{"schema": ..., "payload": ...}``,
  the schema derived from the table's columns (``Column``).
- ``legacy``: what the release before wrote (``ChangeEvent.to_bytes``): bare key ``7``, our
  ``unchanged_toast`` list, boolean ``snapshot``, routing fields in ``source``.

Either way the routing data (op, sync_source, job_id, job_generation) rides in Kafka headers.

``decode`` reads a value of either format (schema-enveloped or not) into a `Change`, parsing the
bytes once with orjson and building no pydantic model: the sink's hot path.

    enc = Encoder(EncoderOptions(name="tabuladormax"))
    [(key, value, headers), (key, None, _)] = enc.records(delete_event)
    change = decode(value)              # Change(op="d", before={...}, ...)
"""

from __future__ import annotations

import datetime as dt
import functools
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import orjson
from pydantic import BaseModel

from schemas import json_bytes
from schemas.event import (
    HEADER_JOB_ID,
    HEADER_SYNC_SOURCE,
    ChangeEvent,
    KafkaRecord,
)
from schemas.json_exact import has_float, may_lose
from schemas.json_exact import loads as loads_exact
from schemas.lead import Lead

EventFormat = Literal["debezium", "legacy"]
# Debezium's default `unavailable.value.placeholder`: what it writes for an unchanged TOAST value.
PLACEHOLDER = "__debezium_unavailable_value"
CONNECTOR = "postgresql"
# What `source.version` says: this program, in Debezium's `x.y.z.Qualifier` form; no consumer we
# know reads it, and it must not claim to be a Debezium release.
VERSION = "1.0.0.lead-sync-streamer"
SNAPSHOT_VALUES = ("true", "first", "first_in_data_collection", "last_in_data_collection", "last", "false",
                   "incremental")
_EPOCH_DAY = dt.date(1970, 1, 1).toordinal()

# ---------------------------------------------------------------------------------------------
# Column kinds: how a PostgreSQL type is written (Debezium with decimal.handling.mode=string and
# the default time.precision.mode=adaptive) and which Connect schema describes it.

Kind = Literal["boolean", "int16", "int32", "int64", "float32", "float64", "string", "decimal", "json",
               "uuid", "zoned_timestamp", "micro_timestamp", "date", "micro_time"]

# Built-in type OIDs (PostgreSQL's src/include/catalog/pg_type.dat) → kind.
_OID_KINDS: dict[int, Kind] = {
    16: "boolean", 21: "int16", 23: "int32", 20: "int64", 26: "int64", 700: "float32", 701: "float64",
    1700: "decimal", 114: "json", 3802: "json", 2950: "uuid", 1184: "zoned_timestamp",
    1114: "micro_timestamp", 1082: "date", 1083: "micro_time",
}
# Array type OID → element type OID.
_ARRAYS: dict[int, int] = {
    1000: 16, 1005: 21, 1007: 23, 1016: 20, 1021: 700, 1022: 701, 1009: 25, 1015: 1043, 1014: 1042,
    2951: 2950, 1231: 1700,
}
_CONNECT: dict[Kind, tuple[str, str | None]] = {  # kind → (Connect type, semantic name)
    "boolean": ("boolean", None), "int16": ("int16", None), "int32": ("int32", None),
    "int64": ("int64", None), "float32": ("float", None), "float64": ("double", None),
    "string": ("string", None), "decimal": ("string", None), "json": ("string", "io.debezium.data.Json"),
    "uuid": ("string", "io.debezium.data.Uuid"), "zoned_timestamp": ("string", "io.debezium.time.ZonedTimestamp"),
    "micro_timestamp": ("int64", "io.debezium.time.MicroTimestamp"), "date": ("int32", "io.debezium.time.Date"),
    "micro_time": ("int64", "io.debezium.time.MicroTime"),
}
_SEMANTIC_KINDS: dict[str, Kind] = {name: kind for kind, (_, name) in _CONNECT.items() if name}
# Kinds whose value is written differently from the row's JSON value (and read back).
_CONVERTED: frozenset[str] = frozenset({"json", "date", "micro_time", "micro_timestamp", "decimal"})


def kind_of(type_oid: int) -> tuple[Kind, bool]:
    """(kind, is an array of it) for a PostgreSQL type OID; unknown types are strings."""
    element = _ARRAYS.get(type_oid)
    if element is not None:
        return _OID_KINDS.get(element, "string"), True
    return _OID_KINDS.get(type_oid, "string"), False


@dataclass(frozen=True, slots=True)
class Column:
    """A column of the captured table: from the catalog or a pgoutput RELATION message."""

    name: str
    type_oid: int
    optional: bool = True
    key: bool = False


def kinds_of(columns: Iterable[Column]) -> dict[str, Kind]:
    """Column name → kind, for the scalar columns whose value the format converts."""
    out: dict[str, Kind] = {}
    for column in columns:
        kind, array = kind_of(column.type_oid)
        if not array and kind in _CONVERTED:
            out[column.name] = kind
    return out


# A row model's field type → the PostgreSQL type OID it stands for (integers: bigint for the key,
# integer otherwise, as in the leads table).
_MODEL_OIDS: dict[Any, int] = {bool: 16, str: 25, dt.datetime: 1184, dt.date: 1082, dt.time: 1083, Decimal: 1700,
                               dict: 3802, list: 1009, float: 701}


def model_columns(model: type[BaseModel], rename: Callable[[str], str | None] = lambda name: name,
                  key_column: str = "id") -> tuple[Column, ...]:
    """The columns of a row model (the `Lead`), for a producer or consumer that has no catalog to
    read (the webhook and applier, whose topic carries Gestão Scouter's names). `rename` maps a
    field to the topic's name for it (None: not on the topic)."""
    out = []
    for name, info in model.model_fields.items():
        topic_name = rename(name)
        if topic_name is None:
            continue
        types = [typing.get_origin(t) or t for t in (typing.get_args(info.annotation) or (info.annotation,))]
        oid = 25
        for one in types:
            if one is int:
                oid = 20 if name == key_column else 23
            elif one in _MODEL_OIDS:
                oid = _MODEL_OIDS[one]
        out.append(Column(topic_name, oid, name != key_column, name == key_column))
    return tuple(out)


def model_kinds(model: type[BaseModel], rename: Callable[[str], str | None] = lambda name: name) -> dict[str, Kind]:
    """Column name → kind from a row model's field types: what a consumer reading values without
    a schema needs to turn them back."""
    return kinds_of(model_columns(model, rename))


LEAD_KINDS: Mapping[str, Kind] = model_kinds(Lead)
"""The kinds of the lead's columns, under TabuladorMax's names."""


# ---------------------------------------------------------------------------------------------
# Values: the row's JSON value (what pgtypes and row_to_json give) ↔ Debezium's.

def _to_days(value: Any) -> Any:
    return _days(value) if isinstance(value, str) else value


# Dates and times of day repeat across leads (appointments, birthdays, hours): remembered, as
# parsing them is most of what encoding those columns costs.
@functools.lru_cache(maxsize=4096)
def _days(value: str) -> Any:
    try:
        return dt.date.fromisoformat(value).toordinal() - _EPOCH_DAY
    except ValueError:
        return value  # infinity, BC: left as PostgreSQL wrote it


def _from_days(value: Any) -> Any:
    return _day_text(value) if type(value) is int else value


# Read back, the same few thousand days and appointment times cover most rows: their texts are
# remembered, like the parsed values above (a lookup costs a third of the conversion).
@functools.lru_cache(maxsize=4096)
def _day_text(value: int) -> str:
    return dt.date.fromordinal(value + _EPOCH_DAY).isoformat()


def _to_micro_time(value: Any) -> Any:
    return _micro_time(value) if isinstance(value, str) else value


@functools.lru_cache(maxsize=4096)
def _micro_time(value: str) -> Any:
    hms, _, fraction = value.partition(".")
    parts = hms.split(":")
    if len(parts) == 3 and all(p.isdigit() for p in parts) and (not fraction or fraction.isdigit()):
        h, m, s = map(int, parts)
        return ((h * 60 + m) * 60 + s) * 1_000_000 + int(fraction[:6].ljust(6, "0") if fraction else 0)
    return value


def _from_micro_time(value: Any) -> Any:
    return _time_text(value) if type(value) is int else value


@functools.lru_cache(maxsize=4096)
def _time_text(value: int) -> str:
    seconds, micros = divmod(value, 1_000_000)
    minutes, s = divmod(seconds, 60)
    h, m = divmod(minutes, 60)
    text = f"{h:02d}:{m:02d}:{s:02d}"
    return f"{text}.{micros:06d}" if micros else text


def _to_micro_timestamp(value: Any) -> Any:
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    return value


def _from_micro_timestamp(value: Any) -> Any:
    if type(value) is int:
        return (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=value)).isoformat()
    return value


def _to_decimal(value: Any) -> Any:
    if value is None or isinstance(value, str | bool):
        return value
    return orjson.dumps(value).decode()  # a number (or Fragment) as its literal


def _to_json(value: Any) -> Any:
    return None if value is None else orjson.dumps(value).decode()


def _from_json(value: Any) -> Any:
    return loads_exact(value) if isinstance(value, str) else value


_ENCODE = {"date": _to_days, "micro_time": _to_micro_time, "micro_timestamp": _to_micro_timestamp,
           "decimal": _to_decimal, "json": _to_json}
_DECODE = {"date": _from_days, "micro_time": _from_micro_time, "micro_timestamp": _from_micro_timestamp,
           "json": _from_json}  # decimal stays the string it was written as


def encode_row(row: Mapping[str, Any], kinds: Mapping[str, Kind], unchanged: Iterable[str] = (),
               arrays: frozenset[str] = frozenset()) -> dict[str, Any]:
    """`row` with each converted column in Debezium's representation, and the placeholder for each
    unchanged TOAST column (inside a list for an array column, as Debezium does)."""
    return _encode_row(row, tuple((name, _ENCODE[kind]) for name, kind in kinds.items()), unchanged, arrays)


def _encode_row(row: Mapping[str, Any], encoders: Sequence[tuple[str, Callable[[Any], Any]]],
                unchanged: Iterable[str], arrays: frozenset[str]) -> dict[str, Any]:
    """`encode_row` with each converted column's function looked up beforehand (`Encoder.learn`)."""
    out = dict(row)
    for name, encode in encoders:
        if name in out:
            out[name] = encode(out[name])
    for name in unchanged:
        out[name] = [PLACEHOLDER] if name in arrays else PLACEHOLDER
    return out


def decode_row(row: dict[str, Any], kinds: Mapping[str, Kind], *, placeholders: bool = True
               ) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The inverse of `encode_row`: (row with our JSON values, the unchanged TOAST columns taken
    out of it). `placeholders=False`: the row is known to hold none (`scan_row`)."""
    unchanged: list[str] = []
    if placeholders:
        for name, value in row.items():
            if value == PLACEHOLDER or (type(value) is list and len(value) == 1 and value[0] == PLACEHOLDER):
                unchanged.append(name)
        for name in unchanged:
            del row[name]
    for name, kind in kinds.items():
        if name in row:
            decoder = _DECODE.get(kind)
            if decoder is not None:
                row[name] = decoder(row[name])
    return row, tuple(unchanged)


def scan_row(row: dict[str, Any]) -> tuple[bool, bool]:
    """(whether `row` holds a float anywhere, whether a value is Debezium's placeholder), in one
    pass: what decoding a row image needs to know before it converts anything (`_change`)."""
    floats = placeholder = False
    for value in row.values():
        kind = type(value)
        if kind is str:
            if value == PLACEHOLDER:
                placeholder = True
        elif kind is float:
            floats = True
        elif kind is list:
            if not floats and has_float(value):
                floats = True
            if len(value) == 1 and value[0] == PLACEHOLDER:
                placeholder = True
        elif kind is dict and not floats and has_float(value):
            floats = True
    return floats, placeholder


# ---------------------------------------------------------------------------------------------
# Connect schemas (what JsonConverter writes with schemas.enable=true).

def _field_schema(column: Column) -> dict[str, Any]:
    kind, array = kind_of(column.type_oid)
    connect, name = _CONNECT[kind]
    scalar: dict[str, Any] = {"type": connect, "optional": column.optional or array}
    if name:
        scalar["name"], scalar["version"] = name, 1
    if array:
        scalar["optional"] = True
        return {"type": "array", "items": scalar, "optional": column.optional, "field": column.name}
    return {**scalar, "field": column.name}


def row_schema(columns: Sequence[Column], name: str, *, field: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "struct", "fields": [_field_schema(c) for c in columns], "optional": True,
                           "name": name}
    if field is not None:
        out["field"] = field
    return out


def key_schema(columns: Sequence[Column], name: str) -> dict[str, Any]:
    fields = [{**_field_schema(c), "optional": False} for c in columns]
    return {"type": "struct", "fields": fields, "optional": False, "name": name}


def _opt(connect: str, name: str) -> dict[str, Any]:
    return {"type": connect, "optional": True, "field": name}


def _req(connect: str, name: str) -> dict[str, Any]:
    return {"type": connect, "optional": False, "field": name}


SOURCE_SCHEMA: dict[str, Any] = {
    "type": "struct", "optional": False, "name": "io.debezium.connector.postgresql.Source", "version": 1,
    "field": "source",
    "fields": [
        _req("string", "version"), _req("string", "connector"), _req("string", "name"), _req("int64", "ts_ms"),
        {"type": "string", "optional": True, "name": "io.debezium.data.Enum", "version": 1,
         "parameters": {"allowed": ",".join(SNAPSHOT_VALUES)}, "default": "false", "field": "snapshot"},
        _req("string", "db"), _opt("string", "sequence"), _opt("int64", "ts_us"), _opt("int64", "ts_ns"),
        _req("string", "schema"), _req("string", "table"), _opt("int64", "txId"), _opt("int64", "lsn"),
        _opt("int64", "xmin"), _opt("string", "origin"), _opt("int64", "origin_lsn"),
    ],
}
TRANSACTION_SCHEMA: dict[str, Any] = {
    "type": "struct", "optional": True, "name": "event.block", "version": 1, "field": "transaction",
    "fields": [_req("string", "id"), _req("int64", "total_order"), _req("int64", "data_collection_order")],
}


def value_schema(columns: Sequence[Column], topic: str) -> dict[str, Any]:
    """The envelope's Connect schema, Debezium's field for field; rows named `<topic>.Value`."""
    row_name = f"{topic}.Value"
    return {
        "type": "struct", "optional": False, "name": f"{topic}.Envelope", "version": 2,
        "fields": [
            row_schema(columns, row_name, field="before"), row_schema(columns, row_name, field="after"),
            SOURCE_SCHEMA, TRANSACTION_SCHEMA, _req("string", "op"),
            _opt("int64", "ts_ms"), _opt("int64", "ts_us"), _opt("int64", "ts_ns"),
        ],
    }


# ---------------------------------------------------------------------------------------------
# Encoding.

@dataclass(frozen=True)
class EncoderOptions:
    """How the producers write: the format, the schema envelope, Debezium's `source.name` (the
    topic prefix), and the table's columns (key columns first is not required)."""

    name: str
    format: EventFormat = "debezium"
    schemas: bool = False
    columns: tuple[Column, ...] = ()
    key_column: str = "id"
    topic: str | None = None  # for the schema names; `<name>.<schema>.<table>` when None


class Encoder:
    """Turns `ChangeEvent`s into Kafka records in the configured format. `learn` takes a table's
    columns as a RELATION message announces them (the schema follows an ALTER TABLE)."""

    def __init__(self, options: EncoderOptions) -> None:
        self.options = options
        self._schemas: dict[tuple[str, str], tuple[bytes, bytes]] = {}
        self._columns: tuple[Column, ...] = ()
        self._kinds: dict[str, Kind] = {}
        self._encoders: tuple[tuple[str, Callable[[Any], Any]], ...] = ()
        self._arrays: frozenset[str] = frozenset()
        self.learn(options.columns)

    @property
    def columns(self) -> tuple[Column, ...]:
        return self._columns

    def learn(self, columns: Sequence[Column]) -> None:
        """Use `columns` from now on (a no-op when they are the ones in use). Nullability the
        catalog gave for a column of the same name and type is kept (pgoutput does not say)."""
        columns = tuple(columns)
        if columns == self._columns:
            return
        known = {(c.name, c.type_oid): c for c in self._columns}
        columns = tuple(
            Column(c.name, c.type_oid, known[(c.name, c.type_oid)].optional, c.key or known[(c.name, c.type_oid)].key)
            if (c.name, c.type_oid) in known else c
            for c in columns)
        if columns == self._columns:
            return
        self._columns = columns
        self._kinds = kinds_of(columns)
        self._encoders = tuple((name, _ENCODE[kind]) for name, kind in self._kinds.items())
        self._arrays = frozenset(c.name for c in columns if kind_of(c.type_oid)[1])
        self._schemas.clear()

    def records(self, event: ChangeEvent, headers: Sequence[tuple[str, bytes]] = ()) -> list[KafkaRecord]:
        """The record(s) for `event`: one, and in the debezium format a tombstone after a delete."""
        routing = [*event.headers(), *headers]
        if self.options.format == "legacy":
            return [(event.key_bytes(self.options.key_column), event.to_bytes(), routing)]
        key = self._key(event)
        value = self._value(event)
        out: list[KafkaRecord] = [(key, value, routing)]
        if event.op == "d":
            out.append((key, None, routing))  # the tombstone: compaction then drops the lead
        return out

    def _key(self, event: ChangeEvent) -> bytes:
        key_column = self.options.key_column
        payload = {key_column: event.key(key_column)}
        if not self.options.schemas:
            return json_bytes.dumps(payload)  # kept until Kafka acknowledges: exact size (json_bytes.py)
        key_schema_bytes, _ = self._schema_bytes(event)
        return b'{"schema":' + key_schema_bytes + b',"payload":' + orjson.dumps(payload) + b"}"

    def _value(self, event: ChangeEvent) -> bytes:
        source = event.source
        commit_us = source.ts_us if source.ts_us is not None else source.ts_ms * 1000
        before = None if event.before is None else _encode_row(event.before, self._encoders, (), self._arrays)
        after = None if event.after is None else _encode_row(event.after, self._encoders, event.unchanged_toast,
                                                             self._arrays)
        incremental = source.snapshot_mark == "incremental"
        payload = {
            "before": before,
            "after": after,
            "source": {
                "version": VERSION, "connector": CONNECTOR, "name": self.options.name, "ts_ms": commit_us // 1000,
                "snapshot": snapshot_of(source.snapshot, source.snapshot_mark), "db": source.db,
                "sequence": None if incremental else sequence(source.last_commit_lsn, source.change_lsn or source.lsn),
                "ts_us": commit_us, "ts_ns": commit_us * 1000,
                "schema": source.schema_, "table": source.table,
                "txId": None if incremental else source.tx_id,
                "lsn": None if incremental else (source.change_lsn or source.lsn),
                "xmin": None, "origin": None, "origin_lsn": None,
            },
            "transaction": None,
            "op": event.op,
            "ts_ms": event.ts_ms,
            "ts_us": event.ts_ms * 1000,
            "ts_ns": event.ts_ms * 1_000_000,
        }
        if not self.options.schemas:
            return json_bytes.dumps(payload)
        body = orjson.dumps(payload)
        _, value_schema_bytes = self._schema_bytes(event)
        return b'{"schema":' + value_schema_bytes + b',"payload":' + body + b"}"

    def _schema_bytes(self, event: ChangeEvent) -> tuple[bytes, bytes]:
        source = event.source
        cached = self._schemas.get((source.schema_, source.table))
        if cached is None:
            topic = self.options.topic or f"{self.options.name}.{source.schema_}.{source.table}"
            columns = self._columns or _guess_columns(event, self.options.key_column)
            keys = [c for c in columns if c.name == self.options.key_column]
            cached = (orjson.dumps(key_schema(keys, f"{topic}.Key")), orjson.dumps(value_schema(columns, topic)))
            if self._columns:
                self._schemas[(source.schema_, source.table)] = cached
        return cached


def _guess_columns(event: ChangeEvent, key_column: str) -> tuple[Column, ...]:
    """Without the table's columns, the row's own: integers int64, the rest strings."""
    row = event.after if event.after is not None else event.before or {}
    return tuple(Column(name, 20 if type(value) is int else 25, name != key_column, name == key_column)
                 for name, value in row.items())


def snapshot_of(snapshot: bool, mark: str | None) -> str:
    """`source.snapshot` as Debezium writes it: a string, "false" for a streamed change."""
    if mark is not None:
        return mark
    return "true" if snapshot else "false"


def sequence(last_commit_lsn: int | None, lsn: int | None) -> str:
    """Debezium's `source.sequence`: a JSON array, as a string, of the last committed LSN before
    this event's and the event's own, each a decimal string or null."""
    # What orjson.dumps writes for that list, formatted directly (this runs for every event).
    first = "null" if last_commit_lsn is None else f'"{int(last_commit_lsn)}"'
    return f"[{first},null]" if lsn is None else f'[{first},"{int(lsn)}"]'


# ---------------------------------------------------------------------------------------------
# Decoding (either format).

class EventError(ValueError):
    """A Kafka value that is not a change event; the message names what is wrong, never a value."""


@dataclass(slots=True)
class Change:
    """One decoded change: our JSON values, unchanged TOAST columns taken out of `after`."""

    op: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    ts_ms: int  # the change's commit time at the source (source.ts_ms)
    unchanged: tuple[str, ...] = ()
    sync_source: str | None = None  # the legacy format's source.sync_source
    job_id: str | None = None  # the legacy format's source.job_id
    format: EventFormat = "debezium"
    snapshot: str = "false"

    def key(self, key_column: str = "id") -> Any:
        image = self.after if self.after is not None else self.before
        if image is None or image.get(key_column) is None:
            raise EventError(f"event has no {key_column!r} to key on")
        return image[key_column]


_OPS = frozenset({"c", "u", "d", "r"})


def parse(data: bytes) -> Any:
    """Parse a Kafka value once: orjson, and the exact parser only when orjson may have rounded
    a number (schemas/json_exact.py)."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return loads_exact(data)  # raises when it is not JSON
    if has_float(value) and may_lose(data):
        return loads_exact(data)
    return value


class _Inexact(Exception):
    """orjson may have rounded a number of a row image: decode again with the exact parser."""


def decode(data: bytes, kinds: Mapping[str, Kind] | None = None) -> Change:
    """A Kafka value of either format, with or without the schema envelope, as a `Change`.

    `kinds` says which columns hold converted values (date, time, json...) when the value carries
    no schema; with a schema, the schema says. Raises `orjson.JSONDecodeError` for bytes that are
    not JSON and `EventError` for JSON that is not a change event.

    Parsed once with orjson; only the row images are then looked at for a float orjson may have
    rounded (`_change`), the one part of the value that reaches the destination as it is: in
    `source` and the envelope's own fields a number is an integer or the value is refused either
    way. Then, and only then, the value is parsed again with the exact parser (json_exact.py)."""
    try:
        return _decode(data, kinds, exact=False)
    except _Inexact:
        return _decode(data, kinds, exact=True)


def _decode(data: bytes, kinds: Mapping[str, Kind] | None, *, exact: bool) -> Change:
    split = _enveloped(data, exact=exact)
    if split is not None:
        return _change(split[1], split[0], split[2])
    document, raw = _load(data, exact=exact)
    if type(document) is not dict:
        raise EventError(f"value: a JSON {_json_type(document)}, not an object")
    if "payload" in document and "schema" in document and "op" not in document:
        payload = document["payload"]
        schema = document["schema"]
        if type(payload) is not dict:
            raise EventError(f"payload: a JSON {_json_type(payload)}, not an object")
        kinds = kinds_from_schema(schema) if type(schema) is dict else kinds
        document = payload
    return _change(document, kinds or {}, raw)


def _load(data: bytes, *, exact: bool) -> tuple[Any, bytes | None]:
    """(parsed, the bytes orjson parsed) or (parsed exactly, None)."""
    if not exact:
        try:
            return orjson.loads(data), data
        except orjson.JSONDecodeError:
            pass  # 1e400, or not JSON at all: the exact parser tells
    return loads_exact(data), None


_SCHEMA_HEAD, _PAYLOAD_KEY = b'{"schema":', b',"payload":'
_schema_kinds: dict[bytes, dict[str, Kind]] = {}  # a topic has one schema, or a few over time
_SCHEMA_CACHE_SIZE = 32


def _enveloped(data: bytes, *, exact: bool = False
               ) -> tuple[dict[str, Kind], dict[str, Any], bytes | None] | None:
    """(kinds, payload, the payload's bytes orjson parsed or None) of a schema-enveloped value as
    JsonConverter writes it (compact, schema first), the schema's kinds cached by its bytes: the
    schema is most of the value and the same on every record. None for anything else, which is
    then parsed whole. The first `,"payload":` after the schema is the envelope's own member:
    inside a JSON string the quotes are escaped, and a schema has no key named "payload"; a wrong
    split would not parse and falls back."""
    if not data.startswith(_SCHEMA_HEAD) or data[-1:] != b"}":
        return None
    cut = data.find(_PAYLOAD_KEY)
    if cut < 0:
        return None
    schema_bytes = data[len(_SCHEMA_HEAD):cut]
    kinds = _schema_kinds.get(schema_bytes)
    try:
        if kinds is None:
            schema = orjson.loads(schema_bytes)
            if type(schema) is not dict:
                return None
            kinds = kinds_from_schema(schema)
            if len(_schema_kinds) >= _SCHEMA_CACHE_SIZE:
                _schema_kinds.clear()
            _schema_kinds[schema_bytes] = kinds
        payload, raw = _load(data[cut + len(_PAYLOAD_KEY):-1], exact=exact)
    except orjson.JSONDecodeError:
        return None
    return (kinds, payload, raw) if type(payload) is dict else None


def _change(document: dict[str, Any], kinds: Mapping[str, Kind], raw: bytes | None = None) -> Change:
    """The change `document` holds; `raw`: the bytes orjson parsed it from (None: parsed exactly)."""
    op = document.get("op")
    if op not in _OPS:
        raise EventError("op: must be one of c, u, d, r")
    source = document.get("source")
    if type(source) is not dict:
        raise EventError("source: missing or not an object")
    ts = source.get("ts_ms")
    if type(ts) is not int:
        raise EventError("source.ts_ms: missing or not an integer")
    before, after = document.get("before"), document.get("after")
    if before is not None and type(before) is not dict:
        raise EventError("before: not an object")
    if after is not None and type(after) is not dict:
        raise EventError("after: not an object")
    if op == "d":
        if before is None or after is not None:
            raise EventError("a delete ('d') has 'before' and no 'after'")
    elif after is None:
        raise EventError(f"op {op!r} needs 'after'")
    if "version" in source or "name" in source:  # the debezium format
        floats, in_after = scan_row(after) if after is not None else (False, False)
        floats_before, in_before = scan_row(before) if before is not None else (False, False)
        if raw is not None and (floats or floats_before) and may_lose(raw):
            raise _Inexact()
        unchanged: tuple[str, ...] = ()
        if after is not None:
            after, unchanged = decode_row(after, kinds, placeholders=in_after)
        if before is not None:
            before, _ = decode_row(before, kinds, placeholders=in_before)
        snapshot = source.get("snapshot")
        return Change(op, before, after, ts, unchanged, None, None, "debezium",
                      snapshot if isinstance(snapshot, str) else "false")
    if raw is not None and (has_float(after) or has_float(before)) and may_lose(raw):
        raise _Inexact()
    unchanged_toast = document.get("unchanged_toast") or []
    if type(unchanged_toast) is not list or not all(type(c) is str for c in unchanged_toast):
        raise EventError("unchanged_toast: not a list of column names")
    if unchanged_toast and after is not None and any(c in after for c in unchanged_toast):
        raise EventError("unchanged TOAST columns must be left out of 'after'")
    sync_source, job_id = source.get("sync_source"), source.get("job_id")
    return Change(op, before, after, ts, tuple(unchanged_toast),
                  sync_source if isinstance(sync_source, str) else None,
                  job_id if isinstance(job_id, str) else None, "legacy",
                  "true" if source.get("snapshot") is True else "false")


def kinds_from_schema(schema: Mapping[str, Any]) -> dict[str, Kind]:
    """Column name → kind, read from an envelope's Connect schema (its `after` struct)."""
    out: dict[str, Kind] = {}
    for envelope_field in schema.get("fields") or ():
        if isinstance(envelope_field, dict) and envelope_field.get("field") == "after":
            for column in envelope_field.get("fields") or ():
                if not isinstance(column, dict):
                    continue
                name, semantic = column.get("field"), column.get("name")
                kind = _SEMANTIC_KINDS.get(semantic) if isinstance(semantic, str) else None
                if isinstance(name, str) and kind is not None and kind in _CONVERTED:
                    out[name] = kind
    return out


def decode_key(data: bytes | None, key_column: str = "id") -> Any:
    """The lead id from a Kafka key of either format (`7`, `{"id": 7}`, or schema-enveloped)."""
    if data is None:
        raise EventError("record has no key")
    key = parse(data)
    if type(key) is dict and "payload" in key and "schema" in key:
        key = key["payload"]
    if type(key) is dict:
        if key_column not in key:
            raise EventError(f"key: no {key_column!r}")
        return key[key_column]
    return key


def partition_key(key: bytes | None) -> bytes | None:
    """The bytes a record's partition is chosen by: for a debezium key (`{"id": 7}`, or
    schema-enveloped) the lead id as the legacy format's key was (`7`), so one lead's events stay
    on one partition, in order, across the switch from the legacy format (docs/event-format.md);
    any other key as it is."""
    if not key or key[:1] != b"{":
        return key
    try:
        document = orjson.loads(key)
    except orjson.JSONDecodeError:
        return key
    if type(document) is dict and "payload" in document and "schema" in document:
        document = document["payload"]
    if type(document) is dict and len(document) == 1:
        (value,) = document.values()
        if type(value) is int or type(value) is str:
            return str(value).encode()
    return key


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")


def headers_of(change: Change, headers: Sequence[tuple[str, bytes]] | None) -> tuple[str | None, str | None]:
    """(sync_source, job_id) of a record: the headers, else the legacy format's `source` fields."""
    sync_source, job_id = change.sync_source, change.job_id
    for name, value in headers or ():
        if name == HEADER_SYNC_SOURCE and sync_source is None:
            sync_source = value.decode("utf-8", "replace")
        elif name == HEADER_JOB_ID and job_id is None:
            job_id = value.decode("utf-8", "replace")
    return sync_source, job_id
