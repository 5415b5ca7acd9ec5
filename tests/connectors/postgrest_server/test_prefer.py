"""Prefer parsing and the Preference-Applied header."""

from __future__ import annotations

from connectors.postgrest.server.prefer import applied_header, parse_prefer


def test_comma_lists_and_several_headers_are_merged() -> None:
    """Values from several headers and comma lists are all read, whitespace stripped."""
    prefs = parse_prefer(["return=representation ,count=exact", "resolution=merge-duplicates"])
    assert (prefs.return_, prefs.count, prefs.resolution) == ("representation", "exact", "merge-duplicates")


def test_first_occurrence_wins() -> None:
    """A repeated preference keeps its first value."""
    assert parse_prefer(["return=minimal, return=representation"]).return_ == "minimal"


def test_unknown_values_are_collected_as_invalid() -> None:
    """Unknown names and values are kept for handling=strict."""
    prefs = parse_prefer(["foo=bar, return=everything, handling=strict"])
    assert prefs.invalid == ["foo=bar", "return=everything"]
    assert prefs.strict


def test_applied_header_uses_the_canonical_order() -> None:
    """resolution, missing, return, count, handling — whatever the request order."""
    prefs = parse_prefer(
        ["handling=lenient, count=exact, return=minimal, missing=default, resolution=ignore-duplicates"]
    )
    assert applied_header(prefs, resolution_applied=True, is_write=True) == (
        "resolution=ignore-duplicates, missing=default, return=minimal, count=exact, handling=lenient"
    )


def test_resolution_is_not_echoed_when_not_applied() -> None:
    """Without a PK or on_conflict the resolution is dropped from the header."""
    prefs = parse_prefer(["resolution=merge-duplicates"])
    assert applied_header(prefs, resolution_applied=False, is_write=True) is None


def test_tx_is_never_echoed() -> None:
    """tx=rollback is ignored under db-tx-end=commit, so it is not applied."""
    prefs = parse_prefer(["tx=rollback"])
    assert prefs.invalid == []
    assert applied_header(prefs, resolution_applied=False, is_write=True) is None


def test_missing_is_echoed_only_on_writes() -> None:
    """missing= applies to POST/PATCH only."""
    prefs = parse_prefer(["missing=default"])
    assert applied_header(prefs, resolution_applied=False, is_write=False) is None
