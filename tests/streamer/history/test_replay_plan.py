"""Replay offsets and progress on literal partitions."""

from __future__ import annotations

import pytest

from streamer.history.replay import from_json, parse_offsets, plan, progress, resolve, to_json, total_events


def test_parse_offsets_reads_partition_offset_pairs() -> None:
    """`--from-offsets 0:120,2:7` names two partitions."""
    assert parse_offsets("0:120, 2:7") == {0: 120, 2: 7}


@pytest.mark.parametrize("text", ["", "0", "0:", "a:1", "0:-1", "0:1,0:2", "1:2:3"])
def test_parse_offsets_refuses_malformed_text(text: str) -> None:
    """Anything but distinct non-negative partition:offset pairs is an error."""
    with pytest.raises(ValueError):
        parse_offsets(text)


def test_resolve_uses_the_end_where_no_event_is_that_recent() -> None:
    """offsets_for_times answers None past the last event: nothing to replay there."""
    assert resolve({0: 5, 1: None, 2: 50}, {0: 10, 1: 8, 2: 40}) == {0: 5, 1: 8, 2: 40}


def test_plan_clamps_given_starts_and_starts_unnamed_partitions_at_the_end() -> None:
    """Starts below the beginning or above the end are clamped; unnamed partitions replay nothing."""
    start, stop = plan({0: 100, 1: 50, 2: 10}, {0: 20, 1: 0, 2: 0}, {0: 5, 1: 70})
    assert start == {0: 20, 1: 50, 2: 10}
    assert stop == {0: 100, 1: 50, 2: 10}


def test_plan_stops_at_the_given_stop_offsets_never_before_the_start() -> None:
    """--to-time's offsets bound the replay; a stop below the start replays nothing there."""
    start, stop = plan({0: 100, 1: 50}, {}, {0: 10, 1: 40}, {0: 60, 1: 30})
    assert stop == {0: 60, 1: 40}
    assert total_events(start, stop) == 50


def test_plan_refuses_an_unknown_partition() -> None:
    """Naming a partition the topic lacks is an error, not a silent no-op."""
    with pytest.raises(ValueError, match="no partition 7"):
        plan({0: 1}, {0: 0}, {7: 0})


def test_progress_counts_committed_offsets_past_the_start_capped_at_the_stop() -> None:
    """Uncommitted partitions count nothing; a commit past the stop counts up to the stop."""
    start, stop = {0: 10, 1: 0, 2: 5}, {0: 20, 1: 8, 2: 5}
    assert progress(start, stop, {0: 15, 1: None, 2: 5}) == 5
    assert progress(start, stop, {0: 25, 1: 8, 2: 9}) == 18 == total_events(start, stop)


def test_offsets_round_trip_through_json_keys() -> None:
    """JSON object keys are strings; partitions come back as integers."""
    assert from_json(to_json({2: 5, 0: 1})) == {0: 1, 2: 5}
