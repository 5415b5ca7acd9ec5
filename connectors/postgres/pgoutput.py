"""A pure decoder of pgoutput logical replication messages, protocol version 1.

Formats follow the PostgreSQL 15 manual, section 55.9 "Logical Replication Message Formats",
and its writer, src/backend/replication/logical/proto.c. Protocol version 1 never streams
in-progress transactions, so no message carries the optional ``Int32 xid`` that versions 2+
add. Integers are big-endian; ``String`` is NUL-terminated; LSNs are Int64; timestamps are
Int64 microseconds since 2000-01-01 00:00 UTC, which we convert to the Unix epoch.

    >>> decode(bytes.fromhex("420000000001529b000003045d9845ad8b000002d6"))
    Begin(final_lsn=22190848, commit_ts_us=1795909763304843, xid=726)
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, TypeAlias

from connectors.postgres.errors import DecodeError

# Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01 UTC).
PG_EPOCH_OFFSET_US: Final = 946_684_800_000_000


class Unchanged(enum.Enum):
    """Marker for a column sent as 'u': an unchanged TOASTed value whose data was not sent."""

    TOAST = "u"

    def __repr__(self) -> str:
        return "UNCHANGED_TOAST"


UNCHANGED_TOAST: Final = Unchanged.TOAST

# One column of TupleData: None for 'n' (NULL), UNCHANGED_TOAST for 'u', str for 't' (text
# output of the type), bytes for 'b' (binary send format, only with the 'binary' option).
ColumnValue: TypeAlias = str | bytes | None | Unchanged


@dataclass(frozen=True, slots=True)
class Begin:
    """'B': a transaction starts; ``final_lsn`` is the LSN of its commit record."""

    final_lsn: int
    commit_ts_us: int
    xid: int


@dataclass(frozen=True, slots=True)
class Commit:
    """'C': the transaction committed; ``end_lsn`` is where the slot may be advanced to."""

    flags: int
    commit_lsn: int
    end_lsn: int
    commit_ts_us: int


@dataclass(frozen=True, slots=True)
class Origin:
    """'O': the transaction was replayed from another node's replication origin."""

    origin_lsn: int
    name: str


@dataclass(frozen=True, slots=True)
class Column:
    """A column of a Relation message; ``is_key`` when part of the replica identity."""

    is_key: bool
    name: str
    type_oid: int
    type_modifier: int


@dataclass(frozen=True, slots=True)
class Relation:
    """'R': the shape of a table, sent before its first change in each decoding session."""

    relation_id: int
    namespace: str
    name: str
    replica_identity: str  # 'd' default, 'n' nothing, 'f' full, 'i' index
    columns: tuple[Column, ...]
    # The column names in order, computed once: every change's row is paired with them.
    names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(c.name for c in self.columns))

    @property
    def key_columns(self) -> tuple[str, ...]:
        """Names of the replica identity columns."""
        return tuple(c.name for c in self.columns if c.is_key)


@dataclass(frozen=True, slots=True)
class Type:
    """'Y': a non-built-in data type used by a following Relation."""

    type_oid: int
    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class Insert:
    """'I': a new row."""

    relation_id: int
    new: tuple[ColumnValue, ...]


@dataclass(frozen=True, slots=True)
class Update:
    """'U': a changed row; ``old`` is the key ('K') or whole row ('O'), when sent at all."""

    relation_id: int
    old_kind: str | None  # 'K', 'O' or None
    old: tuple[ColumnValue, ...] | None
    new: tuple[ColumnValue, ...]


@dataclass(frozen=True, slots=True)
class Delete:
    """'D': a removed row; ``old`` is the key ('K') or whole row ('O')."""

    relation_id: int
    old_kind: str
    old: tuple[ColumnValue, ...]


@dataclass(frozen=True, slots=True)
class Truncate:
    """'T': one TRUNCATE over one or more relations."""

    relation_ids: tuple[int, ...]
    cascade: bool
    restart_identity: bool


@dataclass(frozen=True, slots=True)
class LogicalMessage:
    """'M': a ``pg_logical_emit_message`` payload (only with the 'messages' option)."""

    transactional: bool
    lsn: int
    prefix: str
    content: bytes


Message: TypeAlias = Begin | Commit | Origin | Relation | Type | Insert | Update | Delete | Truncate | LogicalMessage

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")
_U64 = struct.Struct(">Q")
_BEGIN = struct.Struct(">QqI")  # final LSN, commit timestamp, xid
_COMMIT = struct.Struct(">BQQq")  # flags, commit LSN, end LSN, commit timestamp
_MESSAGE_HEAD = struct.Struct(">BQ")  # flags, LSN
_TRUNCATE_HEAD = struct.Struct(">iB")  # number of relations, option bits


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(0, pos)
    return data[pos:end].decode("utf-8"), end + 1


def _tuple(data: bytes, pos: int) -> tuple[tuple[ColumnValue, ...], int]:
    """Read TupleData: Int16 column count, then per column a kind byte and maybe a value.

    The capture's hottest loop (one pass per column of every change): the text case comes
    first, and a truncated value shows as the position running past the end, checked once."""
    (ncols,) = _I16.unpack_from(data, pos)
    pos += 2
    values: list[ColumnValue] = []
    append = values.append
    unpack_len = _I32.unpack_from
    for _ in range(ncols):
        kind = data[pos]
        if kind == 0x74:  # 't': Int32 length, then the type's text output
            (n,) = unpack_len(data, pos + 1)
            pos += 5 + n
            append(data[pos - n : pos].decode("utf-8"))
        elif kind == 0x6E:  # 'n': NULL, no data follows
            pos += 1
            append(None)
        elif kind == 0x75:  # 'u': unchanged TOASTed value, no data follows
            pos += 1
            append(UNCHANGED_TOAST)
        elif kind == 0x62:  # 'b': Int32 length, then the type's binary send output
            (n,) = unpack_len(data, pos + 1)
            pos += 5 + n
            append(bytes(data[pos - n : pos]))
        else:
            raise DecodeError(f"unknown TupleData column kind {chr(kind)!r} at offset {pos}")
    if pos > len(data):
        raise DecodeError("TupleData runs past the end of the message")
    return tuple(values), pos


def _begin(data: bytes) -> Begin:
    final_lsn, ts, xid = _BEGIN.unpack_from(data, 1)
    return Begin(final_lsn, ts + PG_EPOCH_OFFSET_US, xid)


def _commit(data: bytes) -> Commit:
    flags, commit_lsn, end_lsn, ts = _COMMIT.unpack_from(data, 1)
    return Commit(flags, commit_lsn, end_lsn, ts + PG_EPOCH_OFFSET_US)


def _origin(data: bytes) -> Origin:
    (lsn,) = _U64.unpack_from(data, 1)
    name, _ = _cstring(data, 9)
    return Origin(lsn, name)


def _relation(data: bytes) -> Relation:
    (relid,) = _U32.unpack_from(data, 1)
    namespace, pos = _cstring(data, 5)
    name, pos = _cstring(data, pos)
    identity = chr(data[pos])
    (ncols,) = _I16.unpack_from(data, pos + 1)
    pos += 3
    columns = []
    for _ in range(ncols):
        flags = data[pos]
        col_name, pos = _cstring(data, pos + 1)
        (type_oid,) = _U32.unpack_from(data, pos)
        (typmod,) = _I32.unpack_from(data, pos + 4)
        pos += 8
        columns.append(Column(bool(flags & 1), col_name, type_oid, typmod))
    # An empty namespace stands for pg_catalog (logicalrep_write_namespace in proto.c).
    return Relation(relid, namespace or "pg_catalog", name, identity, tuple(columns))


def _type(data: bytes) -> Type:
    (oid,) = _U32.unpack_from(data, 1)
    namespace, pos = _cstring(data, 5)
    name, _ = _cstring(data, pos)
    return Type(oid, namespace or "pg_catalog", name)


def _insert(data: bytes) -> Insert:
    (relid,) = _U32.unpack_from(data, 1)
    if data[5] != 0x4E:  # 'N'
        raise DecodeError(f"Insert: expected 'N' before the new tuple, got {chr(data[5])!r}")
    new, _ = _tuple(data, 6)
    return Insert(relid, new)


def _update(data: bytes) -> Update:
    (relid,) = _U32.unpack_from(data, 1)
    kind = chr(data[5])
    old: tuple[ColumnValue, ...] | None = None
    old_kind: str | None = None
    pos = 6
    if kind in ("K", "O"):
        old_kind = kind
        old, pos = _tuple(data, pos)
        kind = chr(data[pos])
        pos += 1
    if kind != "N":
        raise DecodeError(f"Update: expected 'K', 'O' or 'N', got {kind!r}")
    new, _ = _tuple(data, pos)
    return Update(relid, old_kind, old, new)


def _delete(data: bytes) -> Delete:
    (relid,) = _U32.unpack_from(data, 1)
    kind = chr(data[5])
    if kind not in ("K", "O"):
        raise DecodeError(f"Delete: expected 'K' or 'O', got {kind!r}")
    old, _ = _tuple(data, 6)
    return Delete(relid, kind, old)


def _truncate(data: bytes) -> Truncate:
    nrels, options = _TRUNCATE_HEAD.unpack_from(data, 1)
    relids = struct.unpack_from(f">{nrels}I", data, 6)
    # Option bits: 1 = CASCADE, 2 = RESTART IDENTITY.
    return Truncate(tuple(relids), bool(options & 1), bool(options & 2))


def _message(data: bytes) -> LogicalMessage:
    flags, lsn = _MESSAGE_HEAD.unpack_from(data, 1)
    prefix, pos = _cstring(data, 10)
    (n,) = _I32.unpack_from(data, pos)
    content = bytes(data[pos + 4 : pos + 4 + n])
    if len(content) != n:
        raise DecodeError("Message: content shorter than its declared length")
    return LogicalMessage(bool(flags & 1), lsn, prefix, content)


_DECODERS: dict[int, Callable[[bytes], Message]] = {
    ord("B"): _begin,
    ord("C"): _commit,
    ord("O"): _origin,
    ord("R"): _relation,
    ord("Y"): _type,
    ord("I"): _insert,
    ord("U"): _update,
    ord("D"): _delete,
    ord("T"): _truncate,
    ord("M"): _message,
}


def decode(data: bytes) -> Message:
    """Decode one pgoutput message (one ``data`` row of the slot); raise ``DecodeError``."""
    if not data:
        raise DecodeError("empty pgoutput message")
    decoder = _DECODERS.get(data[0])
    if decoder is None:
        raise DecodeError(f"unsupported pgoutput message type {chr(data[0])!r} (protocol version 1 only)")
    try:
        return decoder(data)
    except (struct.error, IndexError, ValueError) as exc:
        # ValueError covers a missing NUL (bytes.index) and invalid UTF-8 (a subclass).
        raise DecodeError(f"truncated or malformed {chr(data[0])!r} message: {exc}") from exc


@dataclass(frozen=True, slots=True)
class RowImage:
    """A row as column name → value, unchanged-TOAST columns left out and named apart."""

    values: dict[str, str | bytes | None]
    unchanged_toast: tuple[str, ...] = ()


def tuple_to_row(relation: Relation, values: tuple[ColumnValue, ...]) -> RowImage:
    """Pair TupleData with the relation's columns (the server sends them in the same order)."""
    names = relation.names
    if len(values) != len(names):
        raise DecodeError(
            f"{relation.namespace}.{relation.name}: tuple has {len(values)} columns, "
            f"relation has {len(names)}; was a Relation message missed?"
        )
    if UNCHANGED_TOAST not in values:  # the usual case, paired in one C-level pass
        return RowImage(dict(zip(names, values, strict=True)))  # type: ignore[arg-type]
    out: dict[str, str | bytes | None] = {}
    unchanged: list[str] = []
    for name, value in zip(names, values, strict=True):
        if value is UNCHANGED_TOAST:
            unchanged.append(name)
        else:
            out[name] = value
    return RowImage(out, tuple(unchanged))


class RelationCache:
    """The Relation messages seen so far, by relation id; the server sends each one once
    per decoding session before the first change to that table, and again after DDL."""

    def __init__(self) -> None:
        self._relations: dict[int, Relation] = {}

    def add(self, relation: Relation) -> None:
        """Remember (or replace) a relation's shape."""
        self._relations[relation.relation_id] = relation

    def get(self, relation_id: int) -> Relation:
        """Return the relation, or raise ``DecodeError`` when its Relation was never seen."""
        try:
            return self._relations[relation_id]
        except KeyError:
            raise DecodeError(f"change for relation {relation_id} before its Relation message") from None

    def row(self, relation_id: int, values: tuple[ColumnValue, ...]) -> RowImage:
        """Turn a change's TupleData into a ``RowImage`` with the cached column names."""
        return tuple_to_row(self.get(relation_id), values)

    def __contains__(self, relation_id: object) -> bool:
        return relation_id in self._relations

    def __len__(self) -> int:
        return len(self._relations)
