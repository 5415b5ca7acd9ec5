"""The capture's CPU per change without any server: pgoutput bytes in, Kafka records out.

Builds `--changes` pgoutput v1 messages for realistic 49-column leads (devstack/demo/generator.py,
written as PostgreSQL's text output of each column type under DateStyle=ISO, TimeZone=UTC, as
the replication session gets them), in transactions of `--tx` inserts (what `scripts/bench_profile.py`
writes: one INSERT of 1,000 leads per transaction), plus `--updates` updates with the old row
(REPLICA IDENTITY FULL). Then times what the protocol reader does with them
(streamer/capture/protocol.py): decode, assemble, build the event, encode its records, and choose
each record's partition, per stage and in all. Runs whatever code is on the path, so
`--repo <checkout>` (or the same command in another worktree) gives a "before" figure.

    .venv/bin/python scripts/bench_capture_cpu.py --changes 20000
"""

from __future__ import annotations

import argparse
import gc
import random
import struct
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

# The leads table's columns in table order (schemas/sql/common/010_leads.sql) and their type OIDs.
_TEXT, _INT8, _INT4, _TSTZ, _DATE, _TIME, _BOOL, _NUMERIC, _TEXT_ARRAY, _JSONB, _VARCHAR = (
    25, 20, 23, 1184, 1082, 1083, 16, 1700, 1009, 3802, 1043)
COLUMNS: list[tuple[str, int]] = [
    ("id", _INT8), ("name", _TEXT), ("age", _INT4), ("address", _TEXT), ("celular", _TEXT),
    ("responsavel", _TEXT), ("criado", _TSTZ), ("updated_at", _TSTZ), ("sync_source", _TEXT), ("email", _TEXT),
    ("telefone_casa", _TEXT), ("telefone_trabalho", _TEXT), ("cpf", _TEXT), ("data_nascimento", _DATE),
    ("genero", _TEXT), ("cidade", _TEXT), ("estado", _VARCHAR), ("bairro", _TEXT), ("cep", _TEXT),
    ("scouter", _TEXT), ("supervisor", _TEXT), ("projeto", _TEXT), ("etapa", _TEXT), ("status_fluxo", _TEXT),
    ("fonte", _TEXT), ("local_abordagem", _TEXT), ("data_abordagem", _TSTZ), ("data_agendamento", _DATE),
    ("horario_agendamento", _TIME), ("data_confirmacao", _TSTZ), ("confirmado", _BOOL), ("compareceu", _BOOL),
    ("data_comparecimento", _TSTZ), ("valor_ficha", _NUMERIC), ("ficha_paga", _BOOL), ("altura_cm", _INT4),
    ("peso_kg", _NUMERIC), ("manequim", _TEXT), ("cor_olhos", _TEXT), ("cor_cabelo", _TEXT), ("foto_url", _TEXT),
    ("instagram", _TEXT), ("observacoes", _TEXT), ("tags", _TEXT_ARRAY), ("tentativas_contato", _INT4),
    ("ultimo_contato", _TSTZ), ("operador_telemarketing", _TEXT), ("motivo_perda", _TEXT),
    ("dados_extras", _JSONB),
]
RELID = 16_500


def pg_text(value: Any, oid: int) -> str | None:
    """A generator value as PostgreSQL's text output of the column's type."""
    if value is None:
        return None
    if oid == _TSTZ:
        moment = datetime.fromisoformat(value)
        text = moment.strftime("%Y-%m-%d %H:%M:%S")
        return text + (f".{moment.microsecond:06d}".rstrip("0") if moment.microsecond else "") + "+00"
    if oid == _BOOL:
        return "t" if value else "f"
    if oid == _TEXT_ARRAY:
        return "{" + ",".join(value) + "}"
    if oid == _JSONB:
        return orjson.dumps(value).decode().replace(":", ": ").replace(",", ", ")
    return str(value)


def relation_message() -> bytes:
    out = bytearray(b"R" + struct.pack(">I", RELID) + b"public\0leads\0f" + struct.pack(">h", len(COLUMNS)))
    for name, oid in COLUMNS:
        out += struct.pack(">B", 1 if name == "id" else 0) + name.encode() + b"\0" + struct.pack(">Ii", oid, -1)
    return bytes(out)


def tuple_data(row: dict[str, Any]) -> bytes:
    out = bytearray(struct.pack(">h", len(COLUMNS)))
    for name, oid in COLUMNS:
        text = pg_text(row.get(name), oid)
        if text is None:
            out += b"n"
        else:
            data = text.encode()
            out += b"t" + struct.pack(">i", len(data)) + data
    return bytes(out)


def messages(changes: int, tx: int, updates: int) -> list[tuple[int, bytes]]:
    """(lsn, pgoutput message) for `changes` inserts in transactions of `tx`, then `updates` updates."""
    from devstack.demo.generator import lead  # imported late: after --repo is on the path

    rng, now = random.Random(7), datetime(2026, 6, 1, 12, 30, 15, 250_000, tzinfo=UTC)
    rows = []
    for i in range(1, changes + 1):
        row = lead(i, rng, now=now)
        row["sync_source"] = "tabuladormax"
        rows.append(row)
    out: list[tuple[int, bytes]] = []
    lsn, xid, ts = 0x1_0000_0000, 1000, 850_000_000_000_000
    relation = relation_message()

    def transaction(bodies: list[bytes]) -> None:
        nonlocal lsn, xid, ts
        final = lsn + 1000 * (len(bodies) + 1)
        out.append((lsn, b"B" + struct.pack(">QqI", final, ts, xid)))
        out.append((lsn, relation))
        for body in bodies:
            lsn += 1000
            out.append((lsn, body))
        out.append((final, b"C" + struct.pack(">BQQq", 0, final, final + 100, ts)))
        lsn, xid, ts = final + 200, xid + 1, ts + 1000

    inserts = [b"I" + struct.pack(">I", RELID) + b"N" + tuple_data(row) for row in rows]
    for first in range(0, len(inserts), tx):
        transaction(inserts[first:first + tx])
    changed = []
    for row in rows[:updates]:
        new = {**row, "etapa": "contato", "tentativas_contato": row["tentativas_contato"] + 1}
        changed.append(b"U" + struct.pack(">I", RELID) + b"O" + tuple_data(row) + b"N" + tuple_data(new))
    for first in range(0, len(changed), tx):
        transaction(changed[first:first + tx])
    return out


def run(stream: list[tuple[int, bytes]]) -> dict[str, float]:
    """Seconds per stage over `stream`: the protocol reader's loop, stage by stage."""
    from connectors.kafka.client import lead_partitioner
    from connectors.postgres.assembler import TransactionAssembler
    from connectors.postgres.pgoutput import decode
    from schemas.debezium import Column, Encoder, EncoderOptions
    from streamer.capture.events import from_pgoutput, relation_columns

    columns = tuple(Column(name, oid, name != "id", name == "id") for name, oid in COLUMNS)
    encoder = Encoder(EncoderOptions(name="tabuladormax", columns=columns, topic="tabuladormax.public.leads"))
    partitions = list(range(6))
    clock = time.process_time
    times = dict.fromkeys(("decode", "assemble", "event", "encode", "partition"), 0.0)
    decoded = [(lsn, decode(data)) for lsn, data in stream[:2000]]  # warm up
    del decoded
    gc.collect()

    t0 = clock()
    decoded = [(lsn, decode(data)) for lsn, data in stream]
    t1 = clock()
    asm = TransactionAssembler(max_records=1000)
    units = [unit for lsn, message in decoded for unit in asm.feed(message, lsn)]
    t2 = clock()
    learned: object = None
    events = []
    for unit in units:
        for record in unit.records:
            if record.relation is not learned:
                learned = record.relation
                encoder.learn(relation_columns(record.relation))
            event = from_pgoutput(record, db="tabuladormax", last_commit_lsn=None)
            if event is not None:
                events.append(event)
    t3 = clock()
    records = [r for event in events for r in encoder.records(event)]
    t4 = clock()
    for key, _, _ in records:
        lead_partitioner(key, partitions, partitions)
    t5 = clock()
    times.update(decode=t1 - t0, assemble=t2 - t1, event=t3 - t2, encode=t4 - t3, partition=t5 - t4)
    times["changes"] = len(events)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=20_000, help="inserts")
    parser.add_argument("--updates", type=int, default=0, help="updates with the old row, after the inserts")
    parser.add_argument("--tx", type=int, default=1000, help="changes per transaction")
    parser.add_argument("--repeat", type=int, default=5, help="runs; each stage's fastest is shown")
    parser.add_argument("--repo", type=Path, default=None, help="time another checkout's code (default: this one)")
    args = parser.parse_args()
    sys.path.insert(0, str((args.repo or Path(__file__).resolve().parent.parent).resolve()))
    stream = messages(args.changes, args.tx, args.updates)
    runs = [run(stream) for _ in range(args.repeat)]
    n = runs[0].pop("changes")
    # Each stage's fastest run: on a shared machine the slow runs are the ones other work slowed.
    best = {stage: min(r[stage] for r in runs) for stage in runs[0] if stage != "changes"}
    total = sum(best.values())
    stages = ", ".join(f"{k} {1000 * v / n:.4f}" for k, v in best.items())
    print(f"{int(n):,} changes: {1000 * total / n:.4f} ms CPU per change ({stages})")


if __name__ == "__main__":
    main()
