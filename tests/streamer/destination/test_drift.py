"""The drift helper the sink calls: what the destination lacks, and the SQL that adds it."""

from __future__ import annotations

from typing import Any

import httpx

from connectors.postgrest.client import PostgrestClient
from schemas.mapping import FieldMapping
from streamer.destination.catalog import Column
from streamer.destination.drift import destination_drift, drift_from_openapi

DOC: dict[str, Any] = {"definitions": {"leads": {"properties": {
    "id": {"format": "bigint"}, "name": {"format": "text"}, "sync_source": {"format": "text"}}}}}
IDENTITY = FieldMapping()


def test_no_drift_when_every_written_column_is_known() -> None:
    """None means: resume."""
    assert drift_from_openapi(DOC, IDENTITY, ["id", "name"]) is None


def test_missing_columns_with_types_give_a_runnable_fix() -> None:
    """Typed source columns produce the exact ALTER and the reload notification."""
    columns = [Column.of("id", "bigint"), Column.of("apelido", "character varying(40)")]
    report = drift_from_openapi(DOC, IDENTITY, columns)
    assert report is not None and report.missing == ("apelido",)
    assert 'ALTER TABLE public.leads ADD COLUMN IF NOT EXISTS "apelido" character varying(40);' in report.fix_sql
    assert "streamer schema reload-cache" in report.message and "apelido" in report.message


def test_names_only_give_a_commented_fix_to_complete() -> None:
    """Plain names (from the sink's rows) cannot guess a type; the statement is left commented."""
    report = drift_from_openapi(DOC, IDENTITY, ["id", "apelido"])
    assert report is not None and report.missing == ("apelido",)
    assert '-- ALTER TABLE public.leads ADD COLUMN IF NOT EXISTS "apelido" <type>;' in report.fix_sql


def test_mapping_decides_the_destination_names() -> None:
    """A renamed column is reported under its destination name; dropped columns never drift."""
    mapping = FieldMapping(field_mappings={"celular": "phone"})
    report = drift_from_openapi(DOC, mapping, ["id", "celular"])
    assert report is not None and report.missing == ("phone",)
    dropping = FieldMapping(field_mappings={"id": "id"}, unmapped_columns="drop")
    assert drift_from_openapi(DOC, dropping, ["id", "apelido"]) is None


def test_a_missing_table_is_reported_as_such() -> None:
    """An absent definition means the table (not a column) is missing, with the migrate fix."""
    report = drift_from_openapi(DOC, IDENTITY, ["id"], table="other")
    assert report is not None and report.table_missing
    assert "streamer db migrate --target destination" in report.message


async def test_destination_drift_reads_the_openapi_document_through_the_client() -> None:
    """The I/O part asks the client for the document and returns the pure verdict."""
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/rest/v1/"
        return httpx.Response(200, json=DOC)

    async with PostgrestClient("http://127.0.0.1:1/rest/v1", "key", transport=httpx.MockTransport(handler)) as client:
        report = await destination_drift(client, IDENTITY, ["id", "apelido"])
        assert report is not None and report.missing == ("apelido",)
        assert await destination_drift(client, IDENTITY, ["id"]) is None
