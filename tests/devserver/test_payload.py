"""Body rules: key sets, scalars, `columns=` pass-through."""

from __future__ import annotations

import pytest

from devserver.errors import ApiError
from devserver.payload import check_content_type, parse_payload


def test_array_columns_come_from_the_first_element() -> None:
    """The insert columns are element 0's keys, in its order; ids are collected."""
    payload = parse_payload(b'[{"id":1,"b":2},{"b":3,"id":4}]', None)
    assert (payload.columns, payload.is_array, payload.ids) == (("id", "b"), True, [1, 4])


def test_differing_keys_are_rejected() -> None:
    """A different key set anywhere in the array is PGRST102."""
    with pytest.raises(ApiError) as caught:
        parse_payload(b'[{"a":1},{"a":1,"b":2}]', None)
    assert caught.value.message == "All object keys must match"


def test_invalid_json_is_rejected() -> None:
    """Unparsable JSON is PGRST102 "Empty or invalid json"."""
    with pytest.raises(ApiError) as caught:
        parse_payload(b"", None)
    assert caught.value.message == "Empty or invalid json"


def test_scalar_body_is_an_empty_array() -> None:
    """A scalar body is silently treated as []."""
    payload = parse_payload(b"1", None)
    assert (payload.text, payload.columns) == ("[]", ())


def test_columns_mode_passes_the_body_through() -> None:
    """With `columns=` the text is kept verbatim and keys are not checked."""
    body = b' {"a":1,"zzz":2}'
    payload = parse_payload(body, ("a",))
    assert (payload.text, payload.columns, payload.is_array) == (body.decode(), ("a",), False)


def test_only_json_is_accepted() -> None:
    """A non-JSON Content-Type is PGRST102; charset parameters are fine."""
    check_content_type("application/json; charset=utf-8")
    with pytest.raises(ApiError):
        check_content_type("text/plain")
