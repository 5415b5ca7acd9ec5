"""Texts as codes with parameters (streamer/texts.py): the English words come from the one list,
a code or a parameter it does not know is refused, a text inside a text is carried whole, and a
stored sentence without parameters finds its code again."""

from __future__ import annotations

import pytest

from streamer.texts import ENGLISH, PLACEHOLDER, code_of, said


def test_english_words_and_json_of_a_text_within_a_text() -> None:
    reason = said("type.may_overflow", source="bigint", dest="integer")
    text = said("schema.values_exceed", exceeded=said("schema.exceeds_length", length=300, dest="varchar(20)"),
                reason=reason)
    assert text.english == ("the source holds values of 300 characters, which varchar(20) refuses (22001): "
                            "bigint values may overflow integer")
    assert text.json() == {"code": "schema.values_exceed", "message": text.english, "params": {
        "exceeded": {"code": "schema.exceeds_length", "params": {"length": 300, "dest": "varchar(20)"},
                     "message": "the source holds values of 300 characters, which varchar(20) refuses (22001)"},
        "reason": {"code": "type.may_overflow", "params": {"source": "bigint", "dest": "integer"},
                   "message": "bigint values may overflow integer"}}}


def test_a_parameter_holding_braces_or_placeholders_is_kept_as_it_is() -> None:
    text = said("form.mapping_not_object", example='{"fieldMappings": {"x": "{column}"}}')
    assert text.english == 'mapping: expected the seed\'s JSON object, e.g. {"fieldMappings": {"x": "{column}"}}'


@pytest.mark.parametrize(("code", "params", "why"), [
    ("schema.no_such_text", {}, "no English text"),
    ("schema.missing_column", {}, "takes ['column']"),
    ("schema.missing_column", {"column": "a", "table": "b"}, "given ['column', 'table']"),
])
def test_an_unknown_code_or_the_wrong_parameters_are_refused(code: str, params: dict[str, str], why: str) -> None:
    with pytest.raises(KeyError, match=why.replace("[", r"\[")):
        said(code, **params)


def test_a_stored_sentence_finds_its_code_again() -> None:
    assert code_of("verify: missing at the destination") == "verify.missing_row"
    assert code_of("HTTP 400: some refusal") is None and code_of(None) is None


def test_every_template_uses_only_placeholders() -> None:
    """No brace outside a {name}: the page's catalogue would show it otherwise."""
    assert [code for code, text in ENGLISH.items() if "{" in PLACEHOLDER.sub("", text)
            or "}" in PLACEHOLDER.sub("", text)] == []
