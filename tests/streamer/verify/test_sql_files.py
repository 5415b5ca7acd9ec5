"""The verify functions are one file installed on both sides, so both hash with the same SQL."""

from __future__ import annotations

from schemas.sql_files import migration_files


def test_source_and_destination_install_the_same_verify_sql() -> None:
    """schemas/sql/common/020_verify.sql is applied to the source and to the destination alike."""
    source = {f.name: f.sql for f in migration_files("source")}["common/020_verify.sql"]
    destination = {f.name: f.sql for f in migration_files("destination")}["common/020_verify.sql"]
    assert source == destination
