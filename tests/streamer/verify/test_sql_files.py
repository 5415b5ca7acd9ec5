"""The verify functions are one file installed on both sides, so both hash with the same SQL."""

from __future__ import annotations

from schemas.sql_files import migration_files


def test_source_and_destination_install_the_same_verify_sql() -> None:
    """schemas/sql/source/060_verify.sql is a byte-for-byte copy of destination/040_verify_rpc.sql."""
    source = {f.name: f.sql for f in migration_files("source")}["source/060_verify.sql"]
    destination = {f.name: f.sql for f in migration_files("destination")}["destination/040_verify_rpc.sql"]
    assert source == destination
