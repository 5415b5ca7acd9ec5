"""pgoutput v1 decoding, on bytes built by hand from the manual's "Logical Replication Message
Formats" and on bytes captured from a PostgreSQL 15.18 server."""

from __future__ import annotations

import pytest

from connectors.postgres.errors import DecodeError
from connectors.postgres.lsn import parse_lsn
from connectors.postgres.pgoutput import (
    PG_EPOCH_OFFSET_US,
    UNCHANGED_TOAST,
    Begin,
    Column,
    Commit,
    Delete,
    Insert,
    LogicalMessage,
    Origin,
    Relation,
    RelationCache,
    RowImage,
    Truncate,
    Type,
    Update,
    decode,
    tuple_to_row,
)

# --- hand-built messages -----------------------------------------------------------------

BEGIN = (
    b"B"
    b"\x00\x00\x00\x00\x01\x52\x9b\x00"  # Int64 final LSN 0/1529B00
    b"\x00\x00\x00\x00\x00\x00\x00\x0a"  # Int64 commit time: 10 us after 2000-01-01
    b"\x00\x00\x02\xd6"  # Int32 xid 726
)
COMMIT = (
    b"C"
    b"\x00"  # Int8 flags (unused)
    b"\x00\x00\x00\x00\x01\x52\x9b\x00"  # Int64 commit LSN
    b"\x00\x00\x00\x00\x01\x52\x9b\x30"  # Int64 end LSN
    b"\x00\x00\x00\x00\x00\x00\x00\x0a"  # Int64 commit time
)
RELATION = (
    b"R"
    b"\x00\x00\x40\x00"  # Int32 relation OID 16384
    b"public\x00"  # String namespace
    b"leads\x00"  # String relation name
    b"d"  # Int8 replica identity: default
    b"\x00\x03"  # Int16 number of columns
    b"\x01id\x00\x00\x00\x00\x14\xff\xff\xff\xff"  # key column "id", int8 (20), typmod -1
    b"\x00name\x00\x00\x00\x00\x19\xff\xff\xff\xff"  # "name", text (25)
    b"\x00notes\x00\x00\x00\x00\x19\xff\xff\xff\xff"  # "notes", text (25)
)
INSERT = (
    b"I"
    b"\x00\x00\x40\x00"  # relation OID
    b"N"  # new tuple follows
    b"\x00\x03"  # TupleData: 3 columns
    b"t\x00\x00\x00\x017"  # 't', length 1, "7"
    b"t\x00\x00\x00\x05An\xc3\xa9s"  # 't', length 5, UTF-8 "Anés"
    b"n"  # NULL
)
UPDATE_TOAST = (
    b"U\x00\x00\x40\x00"
    b"N\x00\x03t\x00\x00\x00\x017t\x00\x00\x00\x03Bia"
    b"u"  # unchanged TOASTed value: no data follows
)
UPDATE_KEY = (
    b"U\x00\x00\x40\x00"
    b"K\x00\x03t\x00\x00\x00\x017nn"  # old key: id 7, other columns null
    b"N\x00\x03t\x00\x00\x00\x018t\x00\x00\x00\x03Biau"  # new row, notes unchanged TOAST
)
DELETE_FULL = b"D\x00\x00\x40\x00O\x00\x03t\x00\x00\x00\x017t\x00\x00\x00\x03Biat\x00\x00\x00\x01x"


def test_begin_fields_and_epoch():
    """Begin yields final LSN, xid and commit time shifted from the 2000 epoch to Unix."""
    assert decode(BEGIN) == Begin(final_lsn=0x1529B00, commit_ts_us=PG_EPOCH_OFFSET_US + 10, xid=726)


def test_commit_fields():
    """Commit yields flags, commit LSN, end LSN and commit time."""
    assert decode(COMMIT) == Commit(0, 0x1529B00, 0x1529B30, PG_EPOCH_OFFSET_US + 10)


def test_relation_columns_and_key_flag():
    """Relation lists columns with type OID, typmod and the replica-identity flag."""
    rel = decode(RELATION)
    assert isinstance(rel, Relation)
    assert (rel.relation_id, rel.namespace, rel.name, rel.replica_identity) == (16384, "public", "leads", "d")
    assert rel.columns[0] == Column(True, "id", 20, -1)
    assert rel.key_columns == ("id",)


def test_relation_empty_namespace_means_pg_catalog():
    """An empty namespace string stands for pg_catalog."""
    rel = decode(b"R\x00\x00\x00\x01\x00t\x00n\x00\x00")
    assert isinstance(rel, Relation) and rel.namespace == "pg_catalog" and rel.columns == ()


def test_insert_text_null_and_utf8():
    """Insert decodes text (UTF-8) columns as str and 'n' columns as None."""
    assert decode(INSERT) == Insert(16384, ("7", "Anés", None))


def test_update_without_old_tuple_and_unchanged_toast():
    """An update with no old tuple has old=None; a 'u' column is UNCHANGED_TOAST, not None."""
    msg = decode(UPDATE_TOAST)
    assert msg == Update(16384, None, None, ("7", "Bia", UNCHANGED_TOAST))
    assert isinstance(msg, Update) and msg.new[2] is not None


def test_update_with_old_key():
    """An update with 'K' carries the old key tuple before the new tuple."""
    assert decode(UPDATE_KEY) == Update(16384, "K", ("7", None, None), ("8", "Bia", UNCHANGED_TOAST))


def test_delete_with_full_old_row():
    """A delete under REPLICA IDENTITY FULL carries the whole old row ('O')."""
    assert decode(DELETE_FULL) == Delete(16384, "O", ("7", "Bia", "x"))


def test_binary_column():
    """A 'b' column keeps its raw bytes."""
    msg = decode(b"I\x00\x00\x00\x01N\x00\x01b\x00\x00\x00\x02\x00\x07")
    assert msg == Insert(1, (b"\x00\x07",))


def test_origin():
    """Origin yields the origin's commit LSN and name."""
    assert decode(b"O\x00\x00\x00\x00\x00\x00\x00\x05node_a\x00") == Origin(5, "node_a")


def test_type():
    """Type yields the type OID, namespace and name."""
    assert decode(b"Y\x00\x00\x60\x00public\x00mood\x00") == Type(0x6000, "public", "mood")


def test_truncate_options():
    """Truncate lists relation ids and decodes the CASCADE (1) and RESTART IDENTITY (2) bits."""
    msg = decode(b"T\x00\x00\x00\x02\x03\x00\x00\x40\x00\x00\x00\x40\x01")
    assert msg == Truncate((16384, 16385), cascade=True, restart_identity=True)


def test_logical_message():
    """Message yields the transactional flag, LSN, prefix and raw content."""
    data = b"M\x01\x00\x00\x00\x00\x00\x00\x00\x09hb\x00\x00\x00\x00\x03a\x00b"
    assert decode(data) == LogicalMessage(True, 9, "hb", b"a\x00b")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"Z\x00",  # unknown message type
        BEGIN[:-1],  # truncated fixed fields
        INSERT[:-3],  # tuple cut short
        b"I\x00\x00\x40\x00X\x00\x00",  # wrong tuple marker
        b"I\x00\x00\x40\x00N\x00\x01q",  # unknown column kind
        b"D\x00\x00\x40\x00N\x00\x00",  # delete without K/O
        b"R\x00\x00\x40\x00public",  # unterminated string
        b"I\x00\x00\x40\x00N\x00\x01t\x00\x00\x00\x01\xff",  # invalid UTF-8
        b"M\x00\x00\x00\x00\x00\x00\x00\x00\x09p\x00\x00\x00\x00\x05ab",  # content too short
    ],
)
def test_malformed_messages_raise_decode_error(data: bytes):
    """Truncated, unknown or malformed input raises DecodeError, never a bare struct error."""
    with pytest.raises(DecodeError):
        decode(data)


def test_tuple_to_row_leaves_unchanged_toast_out():
    """A row image maps names to values and lists unchanged-TOAST columns apart."""
    rel = decode(RELATION)
    assert isinstance(rel, Relation)
    row = tuple_to_row(rel, ("7", None, UNCHANGED_TOAST))
    assert row == RowImage({"id": "7", "name": None}, ("notes",))


def test_tuple_to_row_pairs_a_whole_row_in_column_order():
    """Without unchanged-TOAST columns a row image is every column, in the relation's order."""
    rel = decode(RELATION)
    assert isinstance(rel, Relation)
    assert rel.names == ("id", "name", "notes")
    row = tuple_to_row(rel, ("7", None, "b"))
    assert row == RowImage({"id": "7", "name": None, "notes": "b"}) and list(row.values) == list(rel.names)


def test_tuple_to_row_rejects_column_count_mismatch():
    """A tuple whose width differs from the relation's is a DecodeError (missed Relation)."""
    rel = decode(RELATION)
    assert isinstance(rel, Relation)
    with pytest.raises(DecodeError, match="missed"):
        tuple_to_row(rel, ("7",))


def test_relation_cache_unknown_relation():
    """The cache raises DecodeError for a change whose Relation was never seen."""
    cache = RelationCache()
    with pytest.raises(DecodeError, match="before its Relation"):
        cache.row(16384, ("7",))
    rel = decode(RELATION)
    assert isinstance(rel, Relation)
    cache.add(rel)
    assert 16384 in cache and cache.row(16384, ("7", "a", "b")).values["notes"] == "b"


# --- captured from PostgreSQL 15.18 via pg_logical_slot_peek_binary_changes ----------------
# (lsn, xid, data hex) for: INSERT; UPDATE; DELETE; UPDATE leaving a TOASTed column
# unchanged; ALTER TABLE ... REPLICA IDENTITY FULL then INSERT, UPDATE, DELETE;
# pg_logical_emit_message(true, 'streamer.heartbeat', 'hb'); TRUNCATE.
# fmt: off
CAPTURED = [
    ("0/15299C0", 726, "420000000001529b000003045d9845ad8b000002d6"),
    ("0/15299C0", 726, "52000040007075626c6963006361705f6c65616473006400080169640000000014ffffffff006e616d650000000019ffffffff006163746976650000000010ffffffff0073636f726500000006a4000a0006007461677300000003f1ffffffff006d6574610000000edaffffffff00637265617465645f617400000004a0ffffffff006269670000000019ffffffff"),  # noqa: E501
    ("0/15299C0", 726, "49000040004e00087400000001317400000003416e61740000000174740000000531322e3530740000000e7b612c22622063222c4e554c4c7d74000000087b226b223a20317d7400000016323032342d30312d33312031323a30303a30302b30306e"),  # noqa: E501
    ("0/1529B30", 726, "43000000000001529b000000000001529b300003045d9845ad8b"),
    ("0/1529B30", 727, "420000000001529be00003045d9845b600000002d7"),
    ("0/1529B30", 727, "55000040004e00087400000001317400000005416e612042740000000174740000000531322e3530740000000e7b612c22622063222c4e554c4c7d74000000087b226b223a20317d7400000016323032342d30312d33312031323a30303a30302b30306e"),  # noqa: E501
    ("0/1529C10", 727, "43000000000001529be00000000001529c100003045d9845b600"),
    ("0/1529C10", 728, "420000000001529c580003045d9845b66a000002d8"),
    ("0/1529C10", 728, "44000040004b00087400000001316e6e6e6e6e6e6e"),
    ("0/1529C88", 728, "43000000000001529c580000000001529c880003045d9845b66a"),
    ("0/153A9E8", 730, "42000000000153aa700003045d9845c740000002da"),
    ("0/153A9E8", 730, "55000040004e0008740000000132740000000542696120437400000001666e74000000027b7d74000000025b5d7400000018323032342d30322d30312030303a30303a30302e352b303075"),  # noqa: E501
    ("0/153AAA0", 730, "4300000000000153aa70000000000153aaa00003045d9845c740"),
    ("0/153AC58", 732, "42000000000153ace00003045d9845c853000002dc"),
    ("0/153AC58", 732, "52000040007075626c6963006361705f6c65616473006600080169640000000014ffffffff016e616d650000000019ffffffff016163746976650000000010ffffffff0173636f726500000006a4000a0006017461677300000003f1ffffffff016d6574610000000edaffffffff01637265617465645f617400000004a0ffffffff016269670000000019ffffffff"),  # noqa: E501
    ("0/153AC58", 732, "49000040004e000874000000013374000000034369646e6e6e6e6e6e"),
    ("0/153AD10", 732, "4300000000000153ace0000000000153ad100003045d9845c853"),
    ("0/153AD10", 733, "42000000000153ad780003045d9845c87b000002dd"),
    ("0/153AD10", 733, "55000040004f000874000000013374000000034369646e6e6e6e6e6e4e0008740000000133740000000543696420446e6e6e6e6e6e"),  # noqa: E501
    ("0/153ADA8", 733, "4300000000000153ad78000000000153ada80003045d9845c87b"),
    ("0/153ADA8", 734, "42000000000153adf80003045d9845c894000002de"),
    ("0/153ADA8", 734, "44000040004f0008740000000133740000000543696420446e6e6e6e6e6e"),
    ("0/153AE28", 734, "4300000000000153adf8000000000153ae280003045d9845c894"),
    ("0/153AE70", 735, "42000000000153ae700003045d9845c8d1000002df"),
    ("0/153AE70", 735, "4d01000000000153ae7073747265616d65722e68656172746265617400000000026862"),
    ("0/153AEA0", 735, "4300000000000153ae70000000000153aea00003045d9845c8d1"),
    ("0/153BA00", 736, "42000000000153ba300003045d9845c9f9000002e0"),
    ("0/153BA00", 736, "54000000010000004000"),
    ("0/153BBA0", 736, "4300000000000153ba30000000000153bba00003045d9845c9f9"),
]
# fmt: on


def _captured(i: int):
    return decode(bytes.fromhex(CAPTURED[i][2]))


def test_captured_stream_decodes_completely():
    """Every captured server message decodes, and Begin/Commit xids pair up in order."""
    kinds = "".join(type(decode(bytes.fromhex(h))).__name__[0] for _, _, h in CAPTURED)
    assert kinds == "BRICBUCBDCBUCBRICBUCBDCBLCBTC"


def test_captured_relation_and_insert():
    """The server's Relation and Insert give the 8 columns with their types and text values."""
    rel = _captured(1)
    assert isinstance(rel, Relation)
    assert [(c.name, c.type_oid) for c in rel.columns] == [
        ("id", 20), ("name", 25), ("active", 16), ("score", 1700),
        ("tags", 1009), ("meta", 3802), ("created_at", 1184), ("big", 25),
    ]  # fmt: skip
    assert rel.columns[3].type_modifier == (10 << 16 | 2) + 4  # numeric(10,2): VARHDRSZ + p<<16|s
    assert _captured(2) == Insert(
        16384, ("1", "Ana", "t", "12.50", '{a,"b c",NULL}', '{"k": 1}', "2024-01-31 12:00:00+00", None)
    )


def test_captured_commit_end_lsn_is_the_row_lsn():
    """The peeked row LSN of a Commit is its end LSN, which is where the slot may advance to."""
    commit = _captured(3)
    assert isinstance(commit, Commit)
    assert commit.end_lsn == parse_lsn(CAPTURED[3][0])
    begin = _captured(0)
    assert isinstance(begin, Begin) and begin.final_lsn == commit.commit_lsn and begin.xid == CAPTURED[0][1]


def test_captured_delete_key_only():
    """Under the default replica identity a delete sends the key and NULLs elsewhere ('K')."""
    assert _captured(8) == Delete(16384, "K", ("1", None, None, None, None, None, None, None))


def test_captured_update_with_unchanged_toast():
    """An update that leaves a TOASTed column alone sends 'u' for it."""
    msg = _captured(11)
    assert isinstance(msg, Update) and msg.old is None and msg.new[-1] is UNCHANGED_TOAST


def test_captured_replica_identity_full():
    """After REPLICA IDENTITY FULL, Relation marks all columns as key and updates carry 'O'."""
    rel = _captured(14)
    assert isinstance(rel, Relation) and rel.replica_identity == "f"
    assert all(c.is_key for c in rel.columns)
    msg = _captured(18)
    assert isinstance(msg, Update) and msg.old_kind == "O"
    assert msg.old is not None and msg.old[1] == "Cid" and msg.new[1] == "Cid D"


def test_captured_heartbeat_message_and_truncate():
    """The heartbeat arrives as a transactional Message; TRUNCATE names the relation."""
    assert _captured(24) == LogicalMessage(True, parse_lsn("0/153AE70"), "streamer.heartbeat", b"hb")
    assert _captured(27) == Truncate((16384,), cascade=False, restart_identity=False)
