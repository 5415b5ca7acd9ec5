"""json_bytes.dumps: orjson's text in an object of its own size; the capture's records and the
sink's request bodies, which are kept a while, use it (schemas/json_bytes.py)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from schemas import json_bytes
from schemas.debezium import Encoder, EncoderOptions
from schemas.event import ChangeEvent, SourceInfo

# What a held bytes object may occupy beyond its text: CPython's header (33 bytes) and the
# allocator's rounding. orjson's own buffer is at least 4 KiB.
SLACK = 64
ROW = {"id": 7, "name": "Ana " * 40, "observacoes": "texto longo " * 60, "tags": ["a", "b"], "age": 31}
SOURCE = SourceInfo(connector="postgresql", db="crm", schema="public", table="leads", ts_ms=1_700_000_000_123,
                    lsn=2_000, tx_id=991, sync_source="tabuladormax")


def held(make: Callable[[], Any]) -> tuple[Any, int]:
    """What `make` returns and the bytes still allocated for it once it returned."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        value = make()
        return value, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("value", [{"id": 7}, ROW, [ROW] * 50, "x" * 10_000])
def test_the_text_is_orjsons_in_an_object_no_larger_than_it(value: Any) -> None:
    out, size = held(lambda: json_bytes.dumps(value))
    assert out == orjson.dumps(value)
    assert size <= len(out) + SLACK


def test_default_is_passed_on() -> None:
    assert json_bytes.dumps({"when": object}, default=lambda _: "x") == b'{"when":"x"}'


@pytest.mark.parametrize("event_format", ["debezium", "legacy"])
def test_the_capture_holds_records_no_larger_than_their_text(event_format: str) -> None:
    encoder = Encoder(EncoderOptions(name="tabuladormax", format=event_format))  # type: ignore[arg-type]
    event = ChangeEvent(op="c", after=ROW, source=SOURCE)
    records, size = held(lambda: encoder.records(event))
    (key, value, _), = records
    assert key is not None and value is not None
    # the list and its tuple are a few hundred bytes; without json_bytes the key alone is 4 KiB
    assert size <= len(key) + len(value) + 2 * SLACK + 512
