"""Prefer parsing and the Preference-Applied header."""

from __future__ import annotations

from devserver.prefer import applied_header, parse_prefer


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
    assert applied_header(prefs, "create", resolution_applied=True) == (
        "resolution=ignore-duplicates, missing=default, return=minimal, count=exact, handling=lenient"
    )


def test_resolution_is_not_echoed_when_not_applied() -> None:
    """Without a PK or on_conflict the resolution is dropped from the header."""
    prefs = parse_prefer(["resolution=merge-duplicates"])
    assert applied_header(prefs, "create") is None


def test_tx_is_never_echoed() -> None:
    """tx=rollback is ignored under db-tx-end=commit, so it is not applied."""
    prefs = parse_prefer(["tx=rollback"])
    assert prefs.invalid == []
    assert applied_header(prefs, "create") is None


def test_missing_is_echoed_only_on_post_and_patch() -> None:
    """missing= applies to POST/PATCH only."""
    prefs = parse_prefer(["missing=default"])
    assert applied_header(prefs, "read") is None
    assert applied_header(prefs, "delete") is None
    assert applied_header(prefs, "update") == "missing=default"


def test_return_is_not_echoed_on_reads() -> None:
    """A GET echoes count and handling, never return= (Response.hs, read branch)."""
    prefs = parse_prefer(["return=representation, count=exact"])
    assert applied_header(prefs, "read") == "count=exact"


def test_max_affected_is_echoed_on_patch_and_delete_under_strict_only() -> None:
    """max-affected binds (and is echoed) only for PATCH/DELETE with handling=strict."""
    strict = parse_prefer(["handling=strict, max-affected=5"])
    assert applied_header(strict, "delete") == "handling=strict, max-affected=5"
    assert applied_header(strict, "update") == "handling=strict, max-affected=5"
    assert applied_header(strict, "create") == "handling=strict"
    assert applied_header(parse_prefer(["max-affected=5"]), "delete") is None


def test_max_affected_that_is_no_integer_is_ignored_not_invalid() -> None:
    """`max-affected=²` reads as nothing (readMaybe) and is never an invalid preference."""
    prefs = parse_prefer(["handling=strict, max-affected=²"])
    assert (prefs.max_affected, prefs.invalid) == (None, [])
