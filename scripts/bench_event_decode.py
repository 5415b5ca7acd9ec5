"""How fast the sink turns consumed records into a plan, per event format (pure Python, no I/O);
and how fast the producers encode events.

Builds `--records` realistic 49-column lead events (devstack/demo/generator.py) as Kafka values in
each event format (docs/event-format.md), then times `streamer.sink.batch.build_plan` over them in
batches of `--batch` (the sink's decode, fold and mapping), and the decode step alone. Runs
against whatever code is on the path, so the same command on an older checkout gives the
"before" figure for the formats that checkout knows (the legacy one always).

    .venv/bin/python scripts/bench_event_decode.py --records 20000
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from typing import Any

from devstack.demo.generator import lead
from schemas.event import ChangeEvent, SourceInfo
from streamer.sink.batch import ConsumedRecord, PlanOptions, build_plan

try:
    from schemas import debezium
except ImportError:  # a checkout from before the debezium format
    debezium = None  # type: ignore[assignment]

# The leads table's column types (schemas/sql/common/010_leads.sql) for the debezium encoder.
_OIDS = {"id": 20, "age": 23, "altura_cm": 23, "tentativas_contato": 23, "criado": 1184, "updated_at": 1184,
         "data_abordagem": 1184, "data_confirmacao": 1184, "data_comparecimento": 1184, "ultimo_contato": 1184,
         "data_nascimento": 1082, "data_agendamento": 1082, "horario_agendamento": 1083, "confirmado": 16,
         "compareceu": 16, "ficha_paga": 16, "valor_ficha": 1700, "peso_kg": 1700, "tags": 1009,
         "dados_extras": 3802}


def rows(count: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    out = []
    for i in range(1, count + 1):
        row = lead(i, rng)
        row["sync_source"] = "tabuladormax"
        row["dados_extras"] = {"campanha": "demo", "score": round(rng.random(), 3), "visitas": rng.randint(0, 9)}
        out.append(row)
    return out


def event(row: dict[str, Any]) -> ChangeEvent:
    source = SourceInfo(connector="postgresql", db="tabuladormax", schema="public", table="leads",
                        ts_ms=1_700_000_000_000, lsn=123_456_789, tx_id=4242, sync_source="tabuladormax")
    return ChangeEvent(op="u", after=row, source=source, ts_ms=1_700_000_000_100)


def encoders(events: list[ChangeEvent]) -> dict[str, Callable[[ChangeEvent], list[Any]]]:
    """Each format's encoding of one event into its records."""
    out: dict[str, Callable[[ChangeEvent], list[Any]]] = {
        "legacy": lambda e: [(e.key_bytes(), e.to_bytes(), e.headers())]}
    if debezium is not None:
        columns = tuple(debezium.Column(name, _OIDS.get(name, 25), name != "id", name == "id")
                        for name in events[0].after or {})
        for name, schemas in (("debezium", False), ("debezium+schemas", True)):
            encoder = debezium.Encoder(debezium.EncoderOptions(name="tabuladormax", schemas=schemas, columns=columns))
            out[name] = encoder.records
    return out


def timed(label: str, count: int, run: Callable[[], object], repeat: int) -> None:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()  # this process's CPU time: steadier than wall time on a shared machine
        run()
        best = min(best, time.process_time() - start)
    print(f"  {label:<28} {count / best:>10,.0f} records/s   ({best * 1e6 / count:.1f} µs/record)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    events = [event(r) for r in rows(args.records)]
    options = PlanOptions()
    for name, encode in encoders(events).items():
        records = [r for e in events for r in encode(e)]
        consumed = [ConsumedRecord("t", 0, offset, key, value, headers)
                    for offset, (key, value, headers) in enumerate(records)]
        size = sum(len(v or b"") for _, v, _ in records) / len(records)
        print(f"{name}: {len(records)} records, {size:,.0f} bytes/value on average")
        timed("encode (producers)", len(events), lambda f=encode: [f(e) for e in events], args.repeat)
        batches = [consumed[i:i + args.batch] for i in range(0, len(consumed), args.batch)]
        timed("build_plan (sink)", len(consumed), lambda b=batches: [build_plan(x, options) for x in b], args.repeat)
        if debezium is not None:
            values = [r.value for r in consumed if r.value is not None]
            timed("decode alone", len(values),
                  lambda v=values, k=debezium.LEAD_KINDS: [debezium.decode(x, k) for x in v], args.repeat)
        else:
            values = [r.value for r in consumed if r.value is not None]
            timed("ChangeEvent.from_bytes alone", len(values),
                  lambda v=values: [ChangeEvent.from_bytes(x) for x in v], args.repeat)


if __name__ == "__main__":
    main()
