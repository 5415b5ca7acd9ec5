"""The field mapping: renaming, the unmapped-column policy, inverse, JSON files, OpenAPI check."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from schemas.mapping import FieldMapping, table_definition

SEED = '{"fieldMappings": {"name": "name", "age": "age", "address": "address", ' \
       '"celular": "phone", "responsavel": "responsible"}}'


def test_seed_file_loads_with_pass_policy():
    """The seed's JSON (fieldMappings only) parses, and unmapped columns default to `pass`."""
    mapping = FieldMapping.from_json(SEED)
    assert mapping.field_mappings["celular"] == "phone"
    assert mapping.unmapped_columns == "pass"


def test_apply_renames_and_passes_unmapped_columns():
    """Mapped columns are renamed and the others keep their names under `pass`."""
    mapping = FieldMapping(field_mappings={"celular": "phone"})
    assert mapping.apply({"id": 1, "celular": "9", "cidade": "SP"}) == {"id": 1, "phone": "9", "cidade": "SP"}


def test_apply_drops_unmapped_columns():
    """Under `drop` only the mapped columns are sent."""
    mapping = FieldMapping(field_mappings={"id": "id", "celular": "phone"}, unmapped_columns="drop")
    assert mapping.apply({"id": 1, "celular": "9", "cidade": "SP"}) == {"id": 1, "phone": "9"}


def test_explicit_mapping_owns_its_destination_name():
    """A passed-through column named like a mapping's target is left out, in any key order."""
    mapping = FieldMapping(field_mappings={"celular": "phone"})
    assert mapping.apply({"phone": "old", "celular": "new"}) == {"phone": "new"}
    assert mapping.apply({"celular": "new", "phone": "old"}) == {"phone": "new"}


def test_two_sources_for_one_destination_are_refused():
    """A mapping sending two source columns to one destination column does not validate."""
    with pytest.raises(pydantic.ValidationError, match="both map to"):
        FieldMapping(field_mappings={"celular": "phone", "telefone_casa": "phone"})


def test_unknown_keys_in_the_file_are_refused():
    """A typo in the file's top-level keys is an error, not silently ignored."""
    with pytest.raises(pydantic.ValidationError):
        FieldMapping.from_json('{"fieldMapping": {}}')


def test_inverse_swaps_names_and_keeps_policy():
    """The inverse maps destination names back to the source's, with the same policy."""
    mapping = FieldMapping(field_mappings={"celular": "phone"}, unmapped_columns="drop")
    inverse = mapping.inverse()
    assert inverse.field_mappings == {"phone": "celular"}
    assert inverse.unmapped_columns == "drop"
    assert inverse.apply(mapping.apply({"celular": "9"})) == {"celular": "9"}


def test_dump_and_load_round_trip(tmp_path: Path):
    """A mapping written to a file reads back equal, in the seed's camelCase keys."""
    mapping = FieldMapping(field_mappings={"celular": "phone"}, unmapped_columns="drop")
    path = tmp_path / "mapping.json"
    mapping.dump(path)
    assert '"fieldMappings"' in path.read_text()
    assert FieldMapping.load(path) == mapping


def test_with_policy_overrides_the_file():
    """The policy from settings can replace the one read from the file."""
    assert FieldMapping.from_json(SEED).with_policy("drop").unmapped_columns == "drop"


def test_check_against_lists_unknown_destination_columns():
    """Columns we would write that the destination's OpenAPI definition lacks are listed, sorted."""
    openapi = {"definitions": {"leads": {"properties": {"id": {}, "phone": {}, "name": {}}}}}
    mapping = FieldMapping(field_mappings={"celular": "phone"})
    unknown = mapping.check_against(table_definition(openapi, "leads"), ["id", "celular", "name", "cpf"])
    assert unknown == ["cpf", "sync_source"]


def test_check_against_with_drop_policy_ignores_unmapped_source_columns():
    """Under `drop`, source columns without a mapping are not expected at the destination."""
    definition = {"properties": {"id": {}, "phone": {}, "sync_source": {}}}
    mapping = FieldMapping(field_mappings={"id": "id", "celular": "phone"}, unmapped_columns="drop")
    assert mapping.check_against(definition, ["id", "celular", "cpf"]) == []


def test_table_definition_names_the_missing_table():
    """An OpenAPI document without the table raises an error naming it."""
    with pytest.raises(ValueError, match="'leads'"):
        table_definition({"definitions": {}}, "leads")
