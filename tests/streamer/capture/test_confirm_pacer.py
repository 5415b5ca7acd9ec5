"""The protocol reader's pacing (streamer/capture/protocol.py): `ConfirmPacer` sends the highest
released position at most once per interval, never one already sent, always when forced;
`polling` reads on a tick only while changes flow."""

from __future__ import annotations

from streamer.capture.protocol import POLL_WHILE, ConfirmPacer, polling


def test_the_first_release_is_due_at_once_and_the_next_only_after_the_interval() -> None:
    pacer = ConfirmPacer(1.0)
    pacer.release(100)
    assert pacer.due(10.0, confirmed=0) == 100
    pacer.sent(10.0)
    pacer.release(200)
    pacer.release(300)
    assert pacer.due(10.5, confirmed=100) is None
    assert pacer.due(11.0, confirmed=100) == 300  # the highest released, not each one


def test_a_lower_release_never_moves_the_position_back() -> None:
    pacer = ConfirmPacer(0.0)
    pacer.release(500)
    pacer.release(400)
    assert pacer.released == 500
    assert pacer.due(1.0, confirmed=500) is None  # already sent: nothing to send


def test_forced_sends_what_is_released_within_the_interval() -> None:
    pacer = ConfirmPacer(60.0)
    pacer.release(10)
    pacer.sent(0.0)
    pacer.release(20)
    assert pacer.due(1.0, confirmed=10) is None
    assert pacer.due(1.0, confirmed=10, force=True) == 20
    assert pacer.due(1.0, confirmed=20, force=True) is None


def test_interval_zero_sends_every_release() -> None:
    pacer = ConfirmPacer(0.0)
    for lsn in (1, 2, 3):
        pacer.release(lsn)
        assert pacer.due(5.0, confirmed=lsn - 1) == lsn
        pacer.sent(5.0)


def test_the_reader_polls_only_while_changes_flow() -> None:
    assert polling(last_data=10.0, now=10.0 + POLL_WHILE / 2, tick=0.01)  # changes a moment ago: read every tick
    assert not polling(last_data=10.0, now=10.0 + 2 * POLL_WHILE, tick=0.01)  # quiet: wait on the socket
    assert not polling(last_data=float("-inf"), now=0.0, tick=0.01)  # nothing read yet
    assert not polling(last_data=10.0, now=10.0 + POLL_WHILE / 2, tick=0.0)  # 0: always wait on the socket
