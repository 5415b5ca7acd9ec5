"""Assembling decoded pgoutput messages into per-transaction chunks, and the ack rule that
decides how far the slot may advance."""

from __future__ import annotations

import pytest

from connectors.postgres.assembler import AckTracker, TransactionAssembler, TxBatch
from connectors.postgres.errors import DecodeError
from connectors.postgres.pgoutput import (
    UNCHANGED_TOAST,
    Begin,
    Column,
    Commit,
    Delete,
    Insert,
    LogicalMessage,
    Origin,
    Relation,
    RowImage,
    Truncate,
    Update,
)

REL = Relation(16384, "public", "leads", "d", (Column(True, "id", 20, -1), Column(False, "notes", 25, -1)))


def _begin(xid: int, lsn: int) -> Begin:
    return Begin(final_lsn=lsn, commit_ts_us=1_000, xid=xid)


def _commit(lsn: int) -> Commit:
    return Commit(0, lsn, lsn + 0x30, 1_000)


def _feed(asm: TransactionAssembler, *messages) -> list[TxBatch]:
    return [batch for m in messages for batch in asm.feed(m)]


def test_small_transaction_is_one_batch_with_commit():
    """A transaction under the limit comes out as one batch carrying its Commit."""
    asm = TransactionAssembler(max_records=10)
    batches = _feed(
        asm,
        _begin(5, 100),
        REL,
        Insert(16384, ("1", "a")),
        Update(16384, None, None, ("1", UNCHANGED_TOAST)),
        Delete(16384, "K", ("1", None)),
        _commit(100),
    )
    assert len(batches) == 1
    (batch,) = batches
    assert batch.is_last and batch.end_lsn == 100 + 0x30 and batch.xid == 5
    assert [r.op for r in batch.records] == ["c", "u", "d"]
    assert [r.seq for r in batch.records] == [0, 1, 2]
    assert batch.records[0].new == RowImage({"id": "1", "notes": "a"})
    assert batch.records[1].new == RowImage({"id": "1"}, ("notes",))
    assert batch.records[2].old == RowImage({"id": "1", "notes": None}) and batch.records[2].new is None
    assert all(r.commit_lsn == 100 and r.commit_ts_us == 1_000 for r in batch.records)


def test_large_transaction_is_chunked_before_commit():
    """Past max_records, chunks without Commit come out before the transaction ends."""
    asm = TransactionAssembler(max_records=2)
    out: list[TxBatch] = []
    out += _feed(asm, _begin(6, 200), REL)
    for i in range(5):
        out += _feed(asm, Insert(16384, (str(i), None)))
    assert [len(b.records) for b in out] == [2, 2] and not any(b.is_last for b in out)
    assert all(b.end_lsn is None for b in out)
    out += _feed(asm, _commit(200))
    assert [len(b.records) for b in out] == [2, 2, 1]
    assert out[-1].is_last and [r.seq for b in out for r in b.records] == [0, 1, 2, 3, 4]


def test_commit_right_after_a_full_chunk_yields_an_empty_last_batch():
    """When the last chunk filled exactly, Commit still yields an (empty) batch to ack."""
    asm = TransactionAssembler(max_records=1)
    out = _feed(asm, _begin(7, 300), REL, Insert(16384, ("1", None)), _commit(300))
    assert [(len(b.records), b.is_last) for b in out] == [(1, False), (0, True)]


def test_heartbeat_only_transaction_gives_an_advanceable_batch():
    """A transaction with only a logical message yields a batch with its end LSN and message."""
    asm = TransactionAssembler()
    msg = LogicalMessage(True, 400, "streamer.heartbeat", b"now")
    (batch,) = _feed(asm, _begin(8, 400), msg, _commit(400))
    assert batch.records == () and batch.messages == (msg,) and batch.end_lsn == 400 + 0x30


def test_a_non_transactional_message_is_a_unit_the_slot_may_pass_at_its_lsn():
    """A non-transactional message (another tool's pg_logical_emit_message(false, ...)) yields a
    batch of its own with no rows, ending at the message's LSN: the end of its WAL record, which
    the server skips once the slot is confirmed there, and not one byte further (the next
    record, maybe a commit, starts right there)."""
    asm = TransactionAssembler()
    msg = LogicalMessage(False, 0x1000, "other.app", b"hi")
    (batch,) = _feed(asm, msg)
    assert batch.records == () and batch.messages == (msg,)
    assert batch.is_last and batch.end_lsn == 0x1000
    assert asm.skipped_messages == 0


def test_a_non_transactional_message_inside_a_transaction_waits_for_its_commit():
    """Inside an open transaction (never with protocol 1) the message is counted, and the
    transaction's Commit, which lies past it, is what releases it."""
    asm = TransactionAssembler()
    out = _feed(asm, _begin(3, 800), LogicalMessage(False, 700, "x", b""), _commit(800))
    assert [b.end_lsn for b in out] == [800 + 0x30] and asm.skipped_messages == 1


def test_ack_tracker_passes_a_non_transactional_message_only_after_earlier_transactions():
    """The message's LSN is released only once every chunk sent before it is acknowledged."""
    asm, tracker = TransactionAssembler(), AckTracker()
    (tx,) = _feed(asm, _begin(4, 900), REL, Insert(16384, ("1", None)), _commit(900))
    (msg,) = _feed(asm, LogicalMessage(False, 2000, "other.app", b""))
    tx_token, msg_token = tracker.sent(tx), tracker.sent(msg)
    tracker.acked(msg_token)
    assert tracker.safe_lsn() is None
    tracker.acked(tx_token)
    assert tracker.safe_lsn() == 2000


def test_origin_and_truncate():
    """Origin is kept on the batch; a Truncate yields one 't' record per relation."""
    asm = TransactionAssembler()
    (batch,) = _feed(asm, _begin(9, 500), Origin(1, "node_b"), REL, Truncate((16384,), False, False), _commit(500))
    assert batch.origin == "node_b"
    assert [(r.op, r.relation.name, r.old, r.new) for r in batch.records] == [("t", "leads", None, None)]


def test_change_lsn_is_kept_when_given():
    """The reader may pass each change's own LSN; the record keeps it."""
    asm = TransactionAssembler()
    _feed(asm, _begin(1, 900), REL)
    assert list(asm.feed(Insert(16384, ("1", None)), lsn=850)) == []
    (batch,) = _feed(asm, _commit(900))
    assert batch.records[0].lsn == 850


@pytest.mark.parametrize(
    "messages",
    [
        [Insert(16384, ("1", None))],  # change outside a transaction
        [_commit(1)],  # commit without begin
        [_begin(1, 10), _begin(2, 20)],  # nested begin
        [_begin(1, 10), _commit(11)],  # commit LSN differs from Begin's final LSN
        [_begin(1, 10), Insert(99, ("1",))],  # relation never described
    ],
)
def test_protocol_violations_raise(messages):
    """Out-of-order or inconsistent messages raise DecodeError."""
    asm = TransactionAssembler()
    with pytest.raises(DecodeError):
        _feed(asm, REL, *messages)


def test_reset_drops_a_half_read_transaction():
    """After reset the assembler accepts a new Begin (the slot replays the transaction)."""
    asm = TransactionAssembler()
    _feed(asm, _begin(1, 10), REL, Insert(16384, ("1", None)))
    assert asm.in_transaction
    asm.reset()
    (batch,) = _feed(asm, _begin(1, 10), Insert(16384, ("1", None)), _commit(10))
    assert len(batch.records) == 1


def _batch(end_lsn: int | None) -> TxBatch:
    commit = None if end_lsn is None else Commit(0, end_lsn - 1, end_lsn, 0)
    return TxBatch(1, 0, 0, (), commit=commit)


def test_ack_tracker_waits_for_commit_and_all_chunks():
    """The safe LSN moves only past transactions whose Commit was seen and all chunks acked."""
    tracker = AckTracker()
    a1 = tracker.sent(_batch(None))  # chunk of tx A
    a2 = tracker.sent(_batch(100))  # last chunk of tx A
    b1 = tracker.sent(_batch(None))  # chunk of tx B, commit not seen yet
    tracker.acked(a2)
    assert tracker.safe_lsn() is None  # a1 still in flight
    tracker.acked(b1)
    assert tracker.safe_lsn() is None
    tracker.acked(a1)
    assert tracker.safe_lsn() == 100  # A done; B has no commit yet
    b2 = tracker.sent(_batch(200))
    tracker.acked(b2)
    assert tracker.safe_lsn() == 200 and tracker.pending == 0


def test_ack_tracker_rejects_unknown_tokens():
    """Acking a token twice (or one never issued) is a bug and raises KeyError."""
    tracker = AckTracker()
    token = tracker.sent(_batch(10))
    tracker.acked(token)
    with pytest.raises(KeyError):
        tracker.acked(token)


def test_assembler_rejects_non_positive_limit():
    """max_records below 1 is refused."""
    with pytest.raises(ValueError):
        TransactionAssembler(max_records=0)
