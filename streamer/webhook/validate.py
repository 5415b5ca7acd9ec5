"""The webhook body, from bytes to change events. Pure: no I/O.

The body is the seed's `{"lead": {...}, "source": "gestao_scouter"}` or a batch
`{"leads": [...], "source": ...}`, optionally with `"type": "INSERT" | "UPDATE"` (what our
trigger sends, from TG_OP; without it an event is an update, `op="u"`, which the applier
upserts all the same).

The leads arrive under Gestão Scouter's column names. Each is validated as a TabuladorMax
`Lead` through the inverse field mapping, so a 422 can name the exact field; the event keeps
Gestão Scouter's names (the reverse topic records what happened there, as the forward topic
records TabuladorMax's rows) with the validated, normalised values, and the applier applies the
inverse mapping when it writes.

Timestamps without an offset are taken as UTC and marked so (`as_utc`): the versions are
ordered in UTC (`epoch_ms`, the applier's `drop_superseded`), and the event then says so
explicitly, instead of leaving each consumer to read it in its own zone (PostgreSQL would use the
session's TimeZone). An `updated_at` more than `MAX_UPDATED_AT_AHEAD` in the future is refused:
last writer wins by it, so such a version would block every later update of the lead.

What the Lead model's lax mode would let through but must not reach the table is refused here,
at its place (`strict_errors`, `nul_errors`): an integer column takes no `true` (which became
lead id 1) and no `5.0` or `1e19` (a float, which may have rounded), and the id no `"5"` either
(the other integer columns keep taking a decimal string, which the model normalises); no
string and no key anywhere in the body may hold U+0000 (PostgreSQL's text and jsonb cannot
store it: 22P05 at the applier); `dados_extras`, the one free-form column, nests at most
`MAX_EXTRAS_DEPTH` levels and takes at most `MAX_EXTRAS_BYTES` (a few hundred levels deep, the
event could not even be serialised).

    accepted = accept(parse_json(b'{"lead": {"id": 1, "updated_at": "..."}}'), rules)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.event import ChangeEvent, SourceInfo, now_ms
from schemas.lead import SYNC_SOURCE_REMOTE, Lead
from schemas.mapping import IDENTITY, FieldMapping
from streamer.webhook.errors import WebhookError

MAX_REPORTED_ERRORS = 50
TYPE_TO_OP: dict[str, Literal["c", "u"]] = {"INSERT": "c", "UPDATE": "u"}
Loc = tuple[int | str, ...]
# The integer columns' SQL types (schemas/sql/common/010_leads.sql): bigint id, integer others.
INT_COLUMNS = {"id": ("bigint", 1, 2**63 - 1), "age": ("integer", 0, 2**31 - 1),
               "altura_cm": ("integer", 0, 2**31 - 1), "tentativas_contato": ("integer", 0, 2**31 - 1)}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# How far ahead of the bridge's clock an `updated_at` may be: room for clock skew, not more.
MAX_UPDATED_AT_AHEAD = timedelta(days=1)
# The free-form JSON columns (jsonb): bounded so an event can always be serialised (pydantic and
# orjson stop at a few hundred levels) and one lead cannot fill a Kafka record by itself.
FREE_JSON_COLUMNS = ("dados_extras",)
MAX_EXTRAS_DEPTH = 32
MAX_EXTRAS_BYTES = 256 * 1024
NUL = "\x00"


class InvalidBody(WebhookError):
    """A body the bridge refuses: `status` (400, 422) and the JSON `body` to answer with."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status, self.body = status, body
        super().__init__(f"{status}: {body.get('error')}")


class Envelope(BaseModel):
    """The body around the leads; exactly one of `lead` and `leads`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead: dict[str, Any] | None = None
    leads: list[dict[str, Any]] | None = Field(default=None, min_length=1)
    source: str | None = None
    type: Literal["INSERT", "UPDATE"] | None = None

    def raw_leads(self) -> list[tuple[Loc, dict[str, Any]]]:
        if self.lead is not None:
            return [(("lead",), self.lead)]
        return [(("leads", i), lead) for i, lead in enumerate(self.leads or ())]


@dataclass(frozen=True)
class Rules:
    """What the bridge accepts (from settings.webhook and the field mapping)."""

    mapping: FieldMapping = IDENTITY
    echo_sources: frozenset[str] = frozenset({"tabuladormax"})
    max_leads: int = 1000
    table: str = "leads"


@dataclass(frozen=True)
class Accepted:
    """The events to publish and how many leads were dropped as our own echo."""

    events: list[ChangeEvent] = field(default_factory=list)
    echoes: int = 0


def parse_json(raw: bytes) -> Any:
    """The body as JSON, or InvalidBody(400); the parser's message is not echoed."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidBody(400, {"error": "invalid JSON", "field": "body"}) from None


def accept(document: Any, rules: Rules, *, received_ms: int | None = None) -> Accepted:
    """Validate a parsed body; return the events to publish or raise InvalidBody(422)."""
    if nul := nul_errors(document):
        raise _unprocessable(nul)
    try:
        envelope = Envelope.model_validate(document)
    except ValidationError as exc:
        raise _unprocessable(field_errors(exc)) from None
    raw = envelope.raw_leads()
    if (envelope.lead is not None and envelope.leads is not None) or not raw:
        raise _unprocessable([{"loc": [], "msg": "expected exactly one of 'lead' and 'leads'", "type": "envelope"}])
    if len(raw) > rules.max_leads:
        raise _unprocessable([{"loc": ["leads"], "msg": f"at most {rules.max_leads} leads per request",
                               "type": "too_long"}])
    if envelope.source in rules.echo_sources:
        return Accepted(echoes=len(raw))
    inverse = rules.mapping.inverse()
    now = datetime.fromtimestamp((received_ms if received_ms is not None else now_ms()) / 1000, UTC)
    leads: list[Lead] = []
    errors: list[dict[str, Any]] = []
    echoes = 0
    for loc, lead in raw:
        row = inverse.apply(lead)
        tag = row.get("sync_source")
        if isinstance(tag, str) and tag in rules.echo_sources:
            echoes += 1
            continue
        strict = strict_errors(row, loc, rules.mapping)
        try:
            checked = _check_columns(as_utc(Lead.model_validate(row)), loc, now)
        except ValidationError as exc:
            errors.extend(_merged(strict, field_errors(exc, loc, rules.mapping)))
        except InvalidBody as exc:
            errors.extend(_merged(strict, exc.body["details"]))
        else:
            if strict:
                errors.extend(strict)
            else:
                leads.append(checked)
    if errors:
        raise _unprocessable(errors)
    op = TYPE_TO_OP[envelope.type or "UPDATE"]
    return Accepted([to_event(lead, op, rules, received_ms) for lead in leads], echoes)


def as_utc(lead: Lead) -> Lead:
    """`lead` with each naive timestamp it carries marked UTC (see the module's docstring)."""
    naive = {name: value.replace(tzinfo=UTC) for name in lead.model_fields_set
             if isinstance(value := getattr(lead, name), datetime) and value.tzinfo is None}
    return lead.model_copy(update=naive) if naive else lead


def _check_columns(lead: Lead, loc: Loc, now: datetime) -> Lead:
    """What the model leaves to the table: integer ranges, and an `updated_at` to order by."""
    errors = [{"loc": [*loc, name], "msg": f"Input should fit a PostgreSQL {kind}", "type": "int_range"}
              for name, (kind, low, high) in INT_COLUMNS.items()
              if (value := getattr(lead, name)) is not None and not low <= value <= high]
    # Last writer wins by updated_at (docs/design.md, Delivery): a version without one cannot be ordered, and
    # one from the future would win over every real edit until that day.
    if lead.updated_at is None:
        errors.append({"loc": [*loc, "updated_at"], "msg": "Field required (versions are ordered by it)",
                       "type": "missing"})
    elif too_far_ahead(lead.updated_at, now):
        errors.append({"loc": [*loc, "updated_at"], "type": "too_far_in_future",
                       "msg": f"Input should be at most {MAX_UPDATED_AT_AHEAD // timedelta(hours=1)} hours "
                              "ahead of now "
                              "(a version from the future would block every later update of the lead)"})
    if errors:
        raise _unprocessable(errors)
    return lead


def nul_errors(document: Any) -> list[dict[str, Any]]:
    """Where the body holds U+0000, in a string or in a key, in document order.

    Walked without recursion: the parser allows 1,024 levels, more than Python's stack would."""
    errors: list[dict[str, Any]] = []
    stack: list[tuple[Loc, Any]] = [((), document)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, str):
            if NUL in value:
                errors.append({"loc": list(loc), "type": "string_nul", "msg": "String should not contain a NUL "
                               "character (\\u0000): PostgreSQL cannot store it"})
        elif isinstance(value, dict):
            if any(NUL in key for key in value):  # the loc stops at the object: the key is unsayable
                errors.append({"loc": list(loc), "type": "string_nul", "msg": "Keys should not contain a NUL "
                               "character (\\u0000): PostgreSQL cannot store it"})
            stack.extend(reversed([((*loc, key), item) for key, item in value.items() if NUL not in key]))
        elif isinstance(value, list):
            stack.extend(reversed([((*loc, i), item) for i, item in enumerate(value)]))
    return errors


def strict_errors(row: dict[str, Any], loc: Loc, mapping: FieldMapping = IDENTITY) -> list[dict[str, Any]]:
    """What the Lead model's lax mode would accept but the table must not get: non-integers in
    an integer column, and free-form JSON past its depth or size. `row` has TabuladorMax's
    names; the locations use the names as sent."""
    errors: list[dict[str, Any]] = []

    def error(name: str, kind: str, msg: str) -> None:
        errors.append({"loc": [*loc, mapping.destination_name(name) or name], "msg": msg, "type": kind})

    for name in INT_COLUMNS:
        value = row.get(name)
        if isinstance(value, bool | float) or (name == "id" and value is not None and not isinstance(value, int)):
            error(name, "int_type", "Input should be a JSON integer (not a boolean, nor a number written with a "
                  "fraction or an exponent" + (", nor a string)" if name == "id" else ")"))
    for name in FREE_JSON_COLUMNS:
        value = row.get(name)
        if value is None:
            continue
        if json_depth(value, MAX_EXTRAS_DEPTH) > MAX_EXTRAS_DEPTH:
            error(name, "too_deep", f"Input should nest at most {MAX_EXTRAS_DEPTH} levels of objects and arrays")
            continue
        try:
            size = len(orjson.dumps(value))
        except orjson.JSONEncodeError:
            error(name, "json_type", "Input should be plain JSON (integers within 64 bits)")
            continue
        if size > MAX_EXTRAS_BYTES:
            error(name, "too_large", f"Input should be at most {MAX_EXTRAS_BYTES} bytes as JSON")
    return errors


def json_depth(value: Any, limit: int) -> int:
    """How many objects and arrays deep `value` nests (a scalar is 0), counted up to `limit` + 1."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _merged(first: list[dict[str, Any]], more: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """`first`, then the errors of `more` at a location `first` does not already name."""
    named = [e["loc"] for e in first]
    return [*first, *(e for e in more if e["loc"] not in named)]


def too_far_ahead(moment: datetime, now: datetime) -> bool:
    """Whether `moment` is more than `MAX_UPDATED_AT_AHEAD` after `now` (naive counts as UTC)."""
    return epoch_ms(moment) > epoch_ms(now) + MAX_UPDATED_AT_AHEAD // timedelta(milliseconds=1)


def to_event(lead: Lead, op: Literal["c", "u"], rules: Rules, received_ms: int | None = None) -> ChangeEvent:
    """The change event for one accepted lead: Gestão Scouter's column names, JSON values."""
    after = rules.mapping.apply(lead.model_dump(mode="json", exclude_unset=True))
    ts = epoch_ms(lead.updated_at) if lead.updated_at else (received_ms or now_ms())
    return ChangeEvent(op=op, after=after, source=SourceInfo(
        connector="webhook", db=SYNC_SOURCE_REMOTE, schema_="public", table=rules.table, ts_ms=ts,
        sync_source=SYNC_SOURCE_REMOTE))


def epoch_ms(moment: datetime) -> int:
    """Unix milliseconds; a naive time counts as UTC (and no year is out of range)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return (aware - EPOCH) // timedelta(milliseconds=1)


def field_errors(exc: ValidationError, prefix: Loc = (), mapping: FieldMapping = IDENTITY) -> list[dict[str, Any]]:
    """pydantic's errors as `{loc, msg, type}`: no input values echoed, field names as sent."""
    out = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = list(error["loc"])
        if prefix and loc and isinstance(loc[0], str):
            loc[0] = mapping.destination_name(loc[0]) or loc[0]
        out.append({"loc": [*prefix, *loc], "msg": error["msg"], "type": error["type"]})
    return out


def _unprocessable(errors: Sequence[dict[str, Any]]) -> InvalidBody:
    shown = list(errors[:MAX_REPORTED_ERRORS])
    body: dict[str, Any] = {"error": "invalid lead", "details": shown}
    if len(errors) > len(shown):
        body["truncated"] = len(errors) - len(shown)
    return InvalidBody(422, body)
