"""Numbers in lead JSON (jsonb `dados_extras`) cross the pipeline exactly as PostgreSQL wrote them."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.postgres.pgtypes import JSONB, from_text
from schemas.event import ChangeEvent, SourceInfo
from schemas.json_exact import loads


@pytest.mark.parametrize("literal", [
    "18446744073709551617",        # beyond 64 bits: orjson would round it to a float
    "-9223372036854775809",
    "0.12345678901234567890123",   # more digits than a double holds
    "1e400",                       # beyond a double: orjson refuses the whole document
    "-2.5E-999",
    "123456789012345678901234567890.5",
    "9" * 5000,                    # beyond Python's int() digit limit
])
def test_numbers_a_double_cannot_carry_are_written_back_verbatim(literal: str) -> None:
    assert orjson.dumps(loads(f'{{"x": {literal}, "y": [{literal}]}}')) == f'{{"x":{literal},"y":[{literal}]}}'.encode()


def test_ordinary_numbers_stay_python_numbers_even_beside_an_exotic_one() -> None:
    """The key and the other columns keep their types when one value needs the exact path."""
    row = loads(b'{"id": 42, "age": 31, "score": 0.1, "flag": true, "extra": {"big": 1e400}}')
    assert (row["id"], row["age"], row["score"], row["flag"]) == (42, 31, 0.1, True)
    assert isinstance(row["id"], int) and isinstance(row["score"], float)


def test_digits_inside_strings_take_the_exact_path_and_change_nothing() -> None:
    assert loads('{"telefone": "5511987654321012345", "n": 7}') == {"telefone": "5511987654321012345", "n": 7}


@pytest.mark.parametrize("bad", [b'{"x": 1e400', b'{"x": NaN, "n": 12345678901234567}', b"[1e400,]"])
def test_invalid_json_raises_orjsons_error_on_both_paths(bad: bytes) -> None:
    """Callers catch orjson.JSONDecodeError (the sink files the record as poison)."""
    with pytest.raises(orjson.JSONDecodeError):
        loads(bad)


SCALARS = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text())


@given(st.recursive(SCALARS, lambda children: st.lists(children) | st.dictionaries(st.text(), children),
                    max_leaves=20))
def test_whatever_orjson_writes_reads_back_equal(value: object) -> None:
    text = orjson.dumps(value)
    assert orjson.dumps(loads(text)) == text


def test_a_jsonb_column_from_pgoutput_reaches_the_event_bytes_exactly() -> None:
    """pgoutput's jsonb text → the capture's row → the Kafka value → the sink's parse → the
    PostgREST body: the huge number is the same literal at every step."""
    extra = from_text(JSONB, '{"lote": 18446744073709551617, "peso": 1e400}')
    event = ChangeEvent(op="c", after={"id": 7, "dados_extras": extra},
                        source=SourceInfo(connector="postgresql", db="tabuladormax", schema_="public",
                                          table="leads", ts_ms=1))
    parsed = ChangeEvent.from_bytes(event.to_bytes())
    assert parsed.key() == 7
    assert orjson.dumps(parsed.after) == b'{"id":7,"dados_extras":{"lote":18446744073709551617,"peso":1e400}}'


@pytest.mark.parametrize("literal", ["12345678.123456789", "0.30000000000000004441", "-1234567.8901234567"])
def test_a_long_decimal_split_by_its_point_is_kept_too(literal: str) -> None:
    """Sixteen or more significant digits on both sides of the point: no single run of 16 digits,
    still more than a double holds."""
    assert orjson.dumps(loads(f'{{"x": {literal}}}')) == f'{{"x":{literal}}}'.encode()


def test_big_integers_alone_need_no_exact_path() -> None:
    """orjson reads integers up to 64 bits exactly: 19-digit timestamps (ts_ns) stay ints."""
    assert loads(b'{"ts_ns": 1700000000123456000, "lsn": 18446744073709551615}') == {
        "ts_ns": 1700000000123456000, "lsn": 18446744073709551615}
