"""The field mapping between TabuladorMax's columns and Gestão Scouter's, in the seed's format.

    {"fieldMappings": {"celular": "phone", "responsavel": "responsible"}, "unmappedColumns": "pass"}

A mapped column is renamed; any other column is passed through under its own name (`pass`) or
left out (`drop`). `unmappedColumns` is our addition; a file without it (the seed's export) means
`pass`, and the CLI may override it with `STREAMER_SINK__UNMAPPED_COLUMNS`.

    >>> FieldMapping(field_mappings={"celular": "phone"}).apply({"id": 1, "celular": "9"})
    {'id': 1, 'phone': '9'}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.lead import LEAD_COLUMNS

UnmappedPolicy = Literal["pass", "drop"]
SYNC_SOURCE_COLUMN = "sync_source"


class FieldMapping(BaseModel):
    """Source column → destination column, plus what to do with the columns not listed."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    field_mappings: dict[str, str] = Field(default_factory=dict, alias="fieldMappings")
    unmapped_columns: UnmappedPolicy = Field(default="pass", alias="unmappedColumns")

    @model_validator(mode="after")
    def _one_source_per_destination(self) -> Self:
        seen: dict[str, str] = {}
        for source, target in self.field_mappings.items():
            if not source or not target:
                raise ValueError("column names in fieldMappings must not be empty")
            if target in seen:
                raise ValueError(f"columns {seen[target]!r} and {source!r} both map to {target!r}")
            seen[target] = source
        return self

    def apply(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The row under destination names. A passed-through column whose name is some mapping's
        target is left out: the explicit mapping owns that destination column."""
        out: dict[str, Any] = {}
        targets = set(self.field_mappings.values())
        for column, value in row.items():
            target = self.field_mappings.get(column)
            if target is not None:
                out[target] = value
            elif self.unmapped_columns == "pass" and column not in targets:
                out[column] = value
        return out

    def destination_name(self, column: str) -> str | None:
        """Where `column` lands, or None if the mapping drops it."""
        if column in self.field_mappings:
            return self.field_mappings[column]
        if self.unmapped_columns == "drop" or column in self.field_mappings.values():
            return None
        return column

    def destination_columns(self, source_columns: Iterable[str] = LEAD_COLUMNS) -> list[str]:
        """Every destination column the mapping writes for rows with `source_columns`."""
        names = (self.destination_name(c) for c in source_columns)
        return list(dict.fromkeys(n for n in names if n is not None))

    def inverse(self) -> FieldMapping:
        """The mapping for the reverse path (destination → source), with the same policy."""
        swapped = {target: source for source, target in self.field_mappings.items()}
        return FieldMapping(field_mappings=swapped, unmapped_columns=self.unmapped_columns)

    def with_policy(self, unmapped_columns: UnmappedPolicy) -> FieldMapping:
        return self.model_copy(update={"unmapped_columns": unmapped_columns})

    def check_against(
        self, definition: Mapping[str, Any], source_columns: Iterable[str] = LEAD_COLUMNS,
    ) -> list[str]:
        """Destination columns we would write that the table lacks, sorted.

        `definition` is the table's entry in the destination's OpenAPI document,
        `doc["definitions"]["leads"]` (docs/postgrest.md §5); `sync_source` is checked too, as the
        sink stamps it on every row. An empty list means every write names a known column."""
        properties = definition.get("properties")
        if not isinstance(properties, Mapping):
            raise ValueError("the OpenAPI table definition has no 'properties'")
        wanted = [*self.destination_columns(source_columns), SYNC_SOURCE_COLUMN]
        return sorted({name for name in wanted if name not in properties})

    @classmethod
    def from_json(cls, data: str | bytes) -> FieldMapping:
        return cls.model_validate_json(data)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2) + "\n"

    @classmethod
    def load(cls, path: Path) -> FieldMapping:
        """Read a mapping file (`streamer mapping import`); pydantic errors name the bad key."""
        return cls.from_json(path.read_bytes())

    def dump(self, path: Path) -> None:
        """Write the mapping file (`streamer mapping export`)."""
        path.write_text(self.to_json(), encoding="utf-8")


IDENTITY = FieldMapping()


def table_definition(openapi: Mapping[str, Any], table: str) -> Mapping[str, Any]:
    """`openapi["definitions"][table]`, or ValueError naming what is missing (under PostgREST's
    `follow-privileges` a table the key cannot touch is simply absent, docs/postgrest.md §5)."""
    definitions = openapi.get("definitions")
    if not isinstance(definitions, Mapping) or not isinstance(definitions.get(table), Mapping):
        raise ValueError(f"the destination's OpenAPI document has no definition for table {table!r}")
    found: Mapping[str, Any] = definitions[table]
    return found
