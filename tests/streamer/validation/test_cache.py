"""The 5-minute result cache of `validate schema`."""

from __future__ import annotations

from pathlib import Path

from schemas.mapping import FieldMapping
from streamer.destination.catalog import Column
from streamer.validation.cache import ResultCache, cache_key
from streamer.validation.schema import Finding, SchemaReport
from streamer.validation.schema_check import fingerprint

PASSING = SchemaReport(schema_name="public", table="leads")
FAILING = SchemaReport(schema_name="public", table="leads", findings=(
    Finding(severity="error", kind="missing_column", column="x", message="missing"),))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_passing_report_is_served_until_it_expires(tmp_path: Path) -> None:
    """Fresh for ttl seconds, then gone."""
    clock = Clock()
    cache = ResultCache(tmp_path, 300, clock=clock)
    cache.put("k", PASSING)
    clock.now += 299
    assert cache.get("k") == PASSING
    clock.now += 2
    assert cache.get("k") is None


def test_a_failing_report_is_never_cached(tmp_path: Path) -> None:
    """After someone applies the fix, validating again must compare afresh."""
    cache = ResultCache(tmp_path, 300)
    cache.put("k", FAILING)
    assert cache.get("k") is None


def test_clear_and_a_corrupt_file_both_mean_no_hit(tmp_path: Path) -> None:
    """clear() removes the file; garbage in it is ignored."""
    cache = ResultCache(tmp_path, 300)
    cache.put("k", PASSING)
    cache.clear()
    assert cache.get("k") is None
    cache.path.write_text("{not json", encoding="utf-8")
    assert cache.get("k") is None


def test_the_key_depends_on_url_tables_mapping_and_the_catalogs() -> None:
    """A different mapping, destination or catalog (a column dropped, retyped) never reuses another's result."""
    base = cache_key("https://a.supabase.co", "public.leads", "leads", FieldMapping(), "f1")
    assert base == cache_key("https://a.supabase.co", "public.leads", "leads", FieldMapping(), "f1")
    assert base != cache_key("https://b.supabase.co", "public.leads", "leads", FieldMapping(), "f1")
    assert base != cache_key("https://a.supabase.co", "public.leads", "leads_x", FieldMapping(), "f1")
    assert base != cache_key("https://a.supabase.co", "public.leads", "leads",
                             FieldMapping(field_mappings={"celular": "phone"}), "f1")
    assert base != cache_key("https://a.supabase.co", "public.leads", "leads", FieldMapping(), "f2")


def test_the_fingerprint_changes_with_either_catalog() -> None:
    """A dropped destination column or a retyped source column changes the fingerprint."""
    source = [Column.of("id", "bigint", nullable=False), Column.of("cidade", "text")]
    destination = {c.name: c for c in source}
    base = fingerprint(source, destination)
    assert base == fingerprint(list(source), dict(destination))
    assert base != fingerprint(source, {"id": destination["id"]})
    assert base != fingerprint([source[0], Column.of("cidade", "character varying(2)")], destination)
