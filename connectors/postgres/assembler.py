"""Turn a stream of decoded pgoutput messages into per-transaction batches, and decide which
slot position is safe to confirm. Pure: no I/O, no clock.

pgoutput sends each committed transaction as Begin, its changes (with Relation/Type/Origin
messages interleaved), then Commit (manual 55.9). Begin already carries the commit record's
LSN (``final_lsn``) and commit time, so every record knows them; only Commit's ``end_lsn`` --
the position a slot may be advanced to -- comes at the end.

A transaction larger than ``max_records`` is cut into chunks: every chunk but the last has
``commit is None`` and may be produced to Kafka right away, bounding memory. The slot may only
move past a transaction once its Commit was seen *and* every chunk of it was acknowledged;
``AckTracker`` keeps that rule:

    tracker = AckTracker()
    for batch in assembler.feed(message):
        token = tracker.sent(batch)            # before producing its rows
        ...produce rows, on delivery: tracker.acked(token)
    lsn = tracker.safe_lsn()                   # advance the slot to this, when not None

A non-transactional logical message (``pg_logical_emit_message(false, ...)``, written by other
tools) is decoded on its own, outside any transaction, and yields a batch of its own: nothing to
produce, but a unit the slot may pass once everything before it is acknowledged. Without it, a
message at the end of WAL would be read again on every peek and the slot would never move.

If the capture stops mid-transaction, the server replays the whole transaction on the next
read (the slot never moved past it), so chunks already produced are produced again:
at-least-once, with ``(commit_lsn, seq)`` as a stable idempotency key.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from connectors.postgres.errors import DecodeError
from connectors.postgres.pgoutput import (
    Begin,
    Commit,
    Delete,
    Insert,
    LogicalMessage,
    Message,
    Origin,
    Relation,
    RelationCache,
    RowImage,
    Truncate,
    Type,
    Update,
    tuple_to_row,
)

ChangeOp = Literal["c", "u", "d", "t"]


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """One row change (or one truncated relation, op 't') inside a transaction."""

    relation: Relation
    op: ChangeOp
    old: RowImage | None
    new: RowImage | None
    xid: int
    seq: int  # 0-based position in the transaction: (commit_lsn, seq) is unique
    commit_lsn: int  # LSN of the commit record, announced by Begin
    commit_ts_us: int  # commit time, Unix microseconds
    lsn: int | None = None  # the change's own LSN, when the reader knows it


@dataclass(frozen=True, slots=True)
class TxBatch:
    """A chunk of one transaction's changes; the last chunk carries the Commit.

    Also the unit for a non-transactional logical message (``standalone``), see ``for_message``."""

    xid: int
    commit_lsn: int
    commit_ts_us: int
    records: tuple[ChangeRecord, ...]
    messages: tuple[LogicalMessage, ...] = ()
    origin: str | None = None
    commit: Commit | None = None
    standalone: bool = False

    @classmethod
    def for_message(cls, message: LogicalMessage) -> TxBatch:
        """The unit of a non-transactional message: no rows, and the slot may go to its LSN.

        The LSN pgoutput gives a message is the *end* of its WAL record (decode.c queues it with
        ``buf->endptr``), and the server skips a non-transactional message whose record starts
        before the confirmed position (``SnapBuildXactNeedsSkip(origptr)``). So confirming exactly
        that LSN passes the message and nothing after it: the next record, a commit perhaps,
        starts there, and a commit is skipped only when it starts *before* the confirmed position.
        One byte further could skip that commit."""
        return cls(0, message.lsn, 0, (), (message,), standalone=True)

    @property
    def is_last(self) -> bool:
        """True when this chunk ends its unit (its transaction, or a standalone message)."""
        return self.commit is not None or self.standalone

    @property
    def end_lsn(self) -> int | None:
        """Where the slot may go once this and all earlier chunks are acked (last chunk only)."""
        if self.commit is not None:
            return self.commit.end_lsn
        return self.commit_lsn if self.standalone else None


@dataclass
class _OpenTx:
    begin: Begin
    records: list[ChangeRecord] = field(default_factory=list)
    messages: list[LogicalMessage] = field(default_factory=list)
    origin: str | None = None
    seq: int = 0


class TransactionAssembler:
    """Feed decoded messages in order; get ``TxBatch`` chunks of at most ``max_records``."""

    def __init__(self, max_records: int = 1000) -> None:
        if max_records < 1:
            raise ValueError("max_records must be at least 1")
        self.max_records = max_records
        self.relations = RelationCache()
        self.types: dict[int, Type] = {}
        self.skipped_messages = 0  # non-transactional messages inside a transaction (see feed)
        self._tx: _OpenTx | None = None

    @property
    def in_transaction(self) -> bool:
        """True between a Begin and its Commit."""
        return self._tx is not None

    def reset(self) -> None:
        """Forget a half-read transaction (the reader restarts from the slot's position)."""
        self._tx = None

    def feed(self, message: Message, lsn: int | None = None) -> Iterator[TxBatch]:
        """Consume one message; yield a chunk when it fills up or the transaction commits."""
        if isinstance(message, Insert | Update | Delete | Truncate):  # the most frequent, tested first
            yield from self._change(message, lsn)
        elif isinstance(message, Relation):
            self.relations.add(message)
        elif isinstance(message, Type):
            self.types[message.type_oid] = message
        elif isinstance(message, Begin):
            if self._tx is not None:
                raise DecodeError(f"Begin of xid {message.xid} inside open xid {self._tx.begin.xid}")
            self._tx = _OpenTx(message)
        elif isinstance(message, Commit):
            tx = self._open("Commit")
            if message.commit_lsn != tx.begin.final_lsn:
                raise DecodeError(f"Commit LSN {message.commit_lsn} does not match Begin's {tx.begin.final_lsn}")
            self._tx = None
            yield self._chunk(tx, message)
        elif isinstance(message, Origin):
            self._open("Origin").origin = message.name
        elif isinstance(message, LogicalMessage):
            if message.transactional:
                self._open("transactional Message").messages.append(message)
            elif self._tx is None:
                yield TxBatch.for_message(message)
            else:
                # Protocol 1 sends a transaction whole at its commit, so this does not happen; if
                # it did, the open transaction's Commit lies past the message and releases it.
                self.skipped_messages += 1

    def _open(self, what: str) -> _OpenTx:
        if self._tx is None:
            raise DecodeError(f"{what} outside a transaction")
        return self._tx

    def _change(self, message: Insert | Update | Delete | Truncate, lsn: int | None) -> Iterator[TxBatch]:
        tx = self._open(type(message).__name__)
        if isinstance(message, Truncate):
            for relid in message.relation_ids:
                self._append(tx, self.relations.get(relid), "t", None, None, lsn)
        else:
            relation = self.relations.get(message.relation_id)
            if isinstance(message, Insert):
                self._append(tx, relation, "c", None, tuple_to_row(relation, message.new), lsn)
            elif isinstance(message, Update):
                old = tuple_to_row(relation, message.old) if message.old is not None else None
                self._append(tx, relation, "u", old, tuple_to_row(relation, message.new), lsn)
            else:
                self._append(tx, relation, "d", tuple_to_row(relation, message.old), None, lsn)
        if len(tx.records) >= self.max_records:
            yield self._chunk(tx, None)

    @staticmethod
    def _append(
        tx: _OpenTx,
        relation: Relation,
        op: ChangeOp,
        old: RowImage | None,
        new: RowImage | None,
        lsn: int | None,
    ) -> None:
        begin = tx.begin
        tx.records.append(
            ChangeRecord(relation, op, old, new, begin.xid, tx.seq, begin.final_lsn, begin.commit_ts_us, lsn)
        )
        tx.seq += 1

    @staticmethod
    def _chunk(tx: _OpenTx, commit: Commit | None) -> TxBatch:
        begin = tx.begin
        batch = TxBatch(
            begin.xid,
            begin.final_lsn,
            begin.commit_ts_us,
            tuple(tx.records),
            tuple(tx.messages),
            tx.origin,
            commit,
        )
        tx.records.clear()
        tx.messages.clear()
        return batch


@dataclass(slots=True)
class _Sent:
    end_lsn: int | None
    acked: bool = False


class AckTracker:
    """Which slot LSN is safe to confirm: the ``end_lsn`` of the latest transaction whose
    chunks, and all chunks sent before them, are acknowledged. Acks may arrive in any order."""

    def __init__(self) -> None:
        self._pending: deque[_Sent] = deque()
        self._by_token: dict[int, _Sent] = {}
        self._next = 0
        self._safe: int | None = None

    def sent(self, batch: TxBatch) -> int:
        """Register a chunk before producing it; return the token to ack it with."""
        token = self._next
        self._next += 1
        entry = _Sent(batch.end_lsn)
        self._pending.append(entry)
        self._by_token[token] = entry
        return token

    def acked(self, token: int) -> None:
        """Mark a chunk as durably accepted downstream (all of its rows)."""
        entry = self._by_token.pop(token, None)
        if entry is None:
            raise KeyError(f"unknown or already acked token {token}")
        entry.acked = True
        while self._pending and self._pending[0].acked:
            end_lsn = self._pending.popleft().end_lsn
            if end_lsn is not None:
                self._safe = end_lsn if self._safe is None else max(self._safe, end_lsn)

    def safe_lsn(self) -> int | None:
        """The highest commit end LSN the slot may be advanced to, or None if none yet."""
        return self._safe

    @property
    def pending(self) -> int:
        """Chunks sent and not yet released by acks."""
        return len(self._pending)
