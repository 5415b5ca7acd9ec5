"""The schema comparison on literal catalogs and OpenAPI documents, and the fix SQL it prints."""

from __future__ import annotations

from typing import Any

from schemas.mapping import FieldMapping
from streamer.destination.catalog import Column, columns_from_openapi
from streamer.validation.schema import Extent, SchemaReport, compare_schema, to_measure

IDENTITY = FieldMapping()
SOURCE = [
    Column.of("id", "bigint", nullable=False),
    Column.of("name", "text"),
    Column.of("estado", "character varying(2)"),
    Column.of("valor_ficha", "numeric(12,2)"),
    Column.of("criado", "timestamp with time zone", has_default=True),
    Column.of("sync_source", "text"),
]


def openapi_definition(**overrides: dict[str, Any] | None) -> dict[str, Any]:
    """A PostgREST table definition matching SOURCE, with properties replaced or (None) removed."""
    properties: dict[str, Any] = {
        "id": {"type": "integer", "format": "bigint", "description": "Note:\nThis is a Primary Key.<pk/>"},
        "name": {"type": "string", "format": "text"},
        "estado": {"type": "string", "format": "character varying", "maxLength": 2},
        "valor_ficha": {"type": "number", "format": "numeric"},
        "criado": {"type": "string", "format": "timestamp with time zone", "default": "now()"},
        "sync_source": {"type": "string", "format": "text"},
    }
    required = ["id"]
    for name, prop in overrides.items():
        if prop is None:
            properties.pop(name)
        else:
            properties[name] = prop
            if prop.pop("required", False):
                required.append(name)
    return {"type": "object", "required": required, "properties": properties}


def compare(
    definition: dict[str, Any], source: list[Column] = SOURCE, mapping: FieldMapping = IDENTITY,
) -> SchemaReport:
    return compare_schema(source, columns_from_openapi(definition), mapping, table="leads")


def test_identical_tables_give_no_findings_and_no_sql() -> None:
    """Same columns and types: ok, nothing to print."""
    report = compare(openapi_definition())
    assert report.ok and report.findings == () and report.fix_sql == ""


def test_missing_column_is_an_error_with_an_add_column_of_the_source_type() -> None:
    """A column the destination lacks is named, and the SQL adds it with the exact source type."""
    source = [*SOURCE, Column.of("apelido", "character varying(40)")]
    report = compare(openapi_definition(), source)
    assert not report.ok
    assert report.missing_columns == ["apelido"]
    assert report.fix_sql == (
        "-- Run in Gestão Scouter's SQL editor (fixes public.leads for the lead sync).\n"
        'ALTER TABLE public.leads ADD COLUMN IF NOT EXISTS "apelido" character varying(40);\n'
        "NOTIFY pgrst, 'reload schema';\n")


def test_mapping_renames_are_applied_before_comparing() -> None:
    """A mapped source column is looked up under its destination name."""
    mapping = FieldMapping(field_mappings={"name": "nome"})
    report = compare(openapi_definition(), mapping=mapping)
    assert report.missing_columns == ["nome"]
    assert "from source column 'name'" in report.findings[0].message
    assert '"nome" text;' in report.fix_sql


def test_dropped_columns_are_not_required_at_the_destination() -> None:
    """With unmappedColumns=drop, only mapped columns (and sync_source) must exist."""
    mapping = FieldMapping(field_mappings={"id": "id"}, unmapped_columns="drop")
    report = compare(openapi_definition(name=None, estado=None, valor_ficha=None, criado=None), mapping=mapping)
    assert report.ok and report.findings == ()


def test_sync_source_is_required_even_when_the_source_lacks_it() -> None:
    """The sink stamps sync_source on every row, so a destination without it is an error."""
    source = [c for c in SOURCE if c.name != "sync_source"]
    report = compare(openapi_definition(sync_source=None), source)
    assert report.missing_columns == ["sync_source"]
    assert '"sync_source" text;' in report.fix_sql


def test_type_mismatch_error_gets_a_commented_alter_type_suggestion() -> None:
    """bigint into integer is an error; the ALTER TYPE is suggested commented, not run."""
    report = compare(openapi_definition(id={"type": "integer", "format": "integer"}))
    [finding] = report.errors
    assert finding.kind == "type_mismatch" and finding.column == "id" and "overflow" in finding.message
    assert '-- ALTER TABLE public.leads ALTER COLUMN "id" TYPE bigint USING "id"::bigint;' in report.fix_sql
    assert "NOTIFY" not in report.fix_sql


def test_text_into_shorter_varchar_is_a_warning_and_still_ok() -> None:
    """Warnings alone pass (exit 0) and print no SQL."""
    report = compare(openapi_definition(name={"type": "string", "format": "character varying", "maxLength": 20}))
    assert report.ok and [f.kind for f in report.warnings] == ["type_mismatch"]
    assert "20 characters" in report.warnings[0].message
    assert report.fix_sql == ""


def test_timestamp_without_zone_at_the_destination_is_a_warning() -> None:
    """timestamptz into timestamp is flagged as a warning about the time zone."""
    report = compare(openapi_definition(criado={"type": "string", "format": "timestamp without time zone"}))
    assert report.ok and "time zone" in report.warnings[0].message


def test_not_null_text_column_never_filled_is_an_error() -> None:
    """A required string column without a default that no source column fills fails every new lead."""
    report = compare(openapi_definition(origem={"type": "string", "format": "text", "required": True}))
    [finding] = report.errors
    assert finding.kind == "not_null_unfilled" and finding.column == "origem" and "23502" in finding.message
    assert '-- ALTER TABLE public.leads ALTER COLUMN "origem" DROP NOT NULL;' in report.fix_sql


def test_not_null_column_with_a_default_is_fine() -> None:
    """A default fills it, so nothing is reported."""
    report = compare(openapi_definition(origem={"type": "string", "format": "text", "default": "crm",
                                                "required": True}))
    assert report.findings == ()


def test_not_null_number_without_visible_default_is_only_a_warning() -> None:
    """OpenAPI hides expression defaults on numeric columns, so it cannot be sure: a warning."""
    report = compare(openapi_definition(seq={"type": "integer", "format": "bigint", "required": True}))
    assert report.ok and report.warnings[0].kind == "not_null_unfilled"


def test_nullable_source_into_not_null_destination_is_a_warning() -> None:
    """Leads with a NULL there would be refused; the report says so."""
    prop = {"type": "string", "format": "text", "required": True}
    report = compare(openapi_definition(name=prop))
    assert report.ok and report.warnings[0].kind == "null_into_not_null"


def test_mapping_naming_an_absent_source_column_is_an_error() -> None:
    """A typo in the mapping file fails validation: the destination column would never be filled."""
    mapping = FieldMapping(field_mappings={"celular": "phone"})
    report = compare(openapi_definition(), mapping=mapping)
    assert [(f.kind, f.severity) for f in report.findings] == [("unknown_source_column", "error")]
    assert not report.ok and "celular" in report.findings[0].message


def test_a_narrow_varchar_the_data_exceeds_is_an_error_with_a_widening_alter() -> None:
    """text into varchar(20) is a warning while the data fits, an error once a value is longer; the
    ALTER widens the column (to run as printed: no stored value changes) and reloads the cache."""
    narrow = openapi_definition(name={"type": "string", "format": "character varying", "maxLength": 20})
    source = [*SOURCE, Column.of("age", "integer")]
    destination = columns_from_openapi(narrow)
    assert to_measure(source, destination, IDENTITY) == {"name": "length"}
    fits = compare_schema(SOURCE, destination, IDENTITY, table="leads", extents={"name": Extent(max_length=20)})
    assert fits.ok and [f.kind for f in fits.warnings] == ["type_mismatch"]
    report = compare_schema(SOURCE, destination, IDENTITY, table="leads", extents={"name": Extent(max_length=21)})
    [finding] = report.errors
    assert finding.kind == "values_exceed" and "21 characters" in finding.message and "22001" in finding.message
    assert '\nALTER TABLE public.leads ALTER COLUMN "name" TYPE text;\nNOTIFY pgrst' in report.fix_sql


def test_a_narrow_numeric_the_data_exceeds_is_an_error_with_a_widening_alter() -> None:
    """numeric(12,2) into numeric(6,3): integer digits past 3 are refused, so the ALTER keeps both
    the source's 10 integer digits and the destination's 3 decimals."""
    definition = openapi_definition(valor_ficha={"type": "number", "format": "numeric"})
    destination = {**columns_from_openapi(definition), "valor_ficha": Column.of("valor_ficha", "numeric(6,3)")}
    assert to_measure(SOURCE, destination, IDENTITY) == {"valor_ficha": "digits"}
    fits = compare_schema(SOURCE, destination, IDENTITY, table="leads",
                          extents={"valor_ficha": Extent(integer_digits=3, scale=2)})
    assert fits.ok and fits.warnings
    report = compare_schema(SOURCE, destination, IDENTITY, table="leads",
                            extents={"valor_ficha": Extent(integer_digits=4, scale=2)})
    [finding] = report.errors
    assert finding.kind == "values_exceed" and "22003" in finding.message
    assert 'ALTER TABLE public.leads ALTER COLUMN "valor_ficha" TYPE numeric(13,3);' in report.fix_sql
    rounded = compare_schema(SOURCE, destination, IDENTITY, table="leads",
                             extents={"valor_ficha": Extent(integer_digits=1, scale=4)})
    assert not rounded.ok and "rounds" in rounded.errors[0].message


def test_errors_are_listed_before_warnings() -> None:
    """The report sorts errors first."""
    source = [*SOURCE, Column.of("apelido", "text")]
    report = compare(openapi_definition(name={"type": "string", "format": "character varying", "maxLength": 5}),
                     source)
    assert [f.severity for f in report.findings] == ["error", "warning"]


def test_report_survives_a_json_round_trip() -> None:
    """The cache stores reports as JSON; reading one back gives the same report."""
    report = compare(openapi_definition(), [*SOURCE, Column.of("apelido", "text")])
    assert type(report).model_validate_json(report.model_dump_json()) == report
