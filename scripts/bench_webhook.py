"""Benchmark: webhook requests per second and latency, each answered only after Kafka's
acknowledgement (acks=all), on the real broker.

    eval "$(.venv/bin/python -m devstack env)"
    .venv/bin/python scripts/bench_webhook.py                       # `streamer run` on loopback
    .venv/bin/python scripts/bench_webhook.py --mode asgi           # in-process, httpx ASGITransport
    .venv/bin/python scripts/bench_webhook.py --requests 5000 --concurrency 32 --leads 10

`process` mode starts `python -m streamer run` with only the webhook component on a free port (a
separate process, so client and server do not share an event loop) and posts over HTTP; `asgi`
mode drives the same handler in this process. Each run uses its own reverse topic (deleted at
the end). Needs STREAMER_KAFKA__BOOTSTRAP_SERVERS (the local stack's, by default).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.kafka.client import Admin  # noqa: E402
from connectors.kafka.settings import KafkaSettings  # noqa: E402
from streamer.config import Settings  # noqa: E402
from streamer.metrics import Metrics  # noqa: E402
from streamer.sections import WebhookSettings  # noqa: E402

PATH = "/functions/v1/sync-from-gestao-scouter"
SECRET = "bench-secret-" + "x" * 40


def full_lead(lead_id: int) -> dict[str, Any]:
    """A lead with every one of the 49 columns filled, as Gestão Scouter's row_to_json would send it."""
    return {
        "id": lead_id, "name": f"Lead {lead_id}", "age": 24, "address": "Rua das Flores, 100",
        "celular": "+55 11 99999-0000",
        "responsavel": "Maria", "criado": "2025-01-01T10:00:00+00:00", "updated_at": "2025-03-01T12:00:00.123456+00:00",
        "sync_source": "gestao_scouter", "email": "lead@example.com", "telefone_casa": "+55 11 3333-0000",
        "telefone_trabalho": None, "cpf": "123.456.789-00", "data_nascimento": "2001-05-04", "genero": "F",
        "cidade": "São Paulo", "estado": "SP", "bairro": "Centro", "cep": "01000-000", "scouter": "João",
        "supervisor": "Ana", "projeto": "Verão", "etapa": "agendado", "status_fluxo": "ativo", "fonte": "instagram",
        "local_abordagem": "Shopping", "data_abordagem": "2025-02-01T15:00:00+00:00", "data_agendamento": "2025-03-10",
        "horario_agendamento": "14:30:00", "data_confirmacao": None, "confirmado": True, "compareceu": None,
        "data_comparecimento": None, "valor_ficha": "150.00", "ficha_paga": False, "altura_cm": 172, "peso_kg": "58.50",
        "manequim": "38", "cor_olhos": "castanhos", "cor_cabelo": "preto", "foto_url": "https://cdn.example.com/p.jpg",
        "instagram": "@lead", "observacoes": "Ligar à tarde", "tags": ["vip", "retorno"], "tentativas_contato": 2,
        "ultimo_contato": "2025-02-20T09:00:00+00:00", "operador_telemarketing": "op7", "motivo_perda": None,
        "dados_extras": {"origem": "campanha-7"},
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def process_target(kafka: KafkaSettings, prefix: str) -> AsyncIterator[httpx.AsyncClient]:
    port = free_port()
    env = {**os.environ, "STREAMER_RUN__COMPONENTS": '["webhook"]', "STREAMER_HTTP__PORT": str(port),
           "STREAMER_WEBHOOK__JWT_SECRET": SECRET, "STREAMER_KAFKA__REVERSE_TOPIC_PREFIX": prefix,
           "STREAMER_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "STREAMER_LOG__LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "streamer", "run"], env=env)  # noqa: ASYNC220 - started once
    base = f"http://127.0.0.1:{port}"
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    try:
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
            for _ in range(300):
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise SystemExit("the webhook never became ready")
            yield client
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 30)


@asynccontextmanager
async def asgi_target(kafka: KafkaSettings, prefix: str) -> AsyncIterator[httpx.AsyncClient]:
    from starlette.applications import Starlette

    from streamer.logging import configure_logging
    from streamer.webhook.component import WebhookBridge

    configure_logging(level="WARNING")
    settings = Settings(kafka=kafka.model_copy(update={"reverse_topic_prefix": prefix}),
                        webhook=WebhookSettings(jwt_secret=SECRET))  # type: ignore[arg-type]
    bridge = WebhookBridge(settings, Metrics())
    stopping = asyncio.Event()
    task = asyncio.create_task(bridge.run(stopping))
    while not bridge.ready():  # noqa: ASYNC110 - the component offers a flag, not an event
        await asyncio.sleep(0.05)
    transport = httpx.ASGITransport(app=Starlette(routes=bridge.http_routes()))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            yield client
    finally:
        stopping.set()
        await task


async def hammer(client: httpx.AsyncClient, requests: int, concurrency: int, body: Callable[[int], bytes],
                 token: str) -> tuple[list[float], dict[int, int]]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(requests))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def worker() -> None:
        for n in counter:
            started = time.perf_counter()
            response = await client.post(PATH, content=body(n), headers=headers)
            latencies.append(time.perf_counter() - started)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, statuses


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def main(args: argparse.Namespace) -> None:
    kafka = KafkaSettings(bootstrap_servers=os.environ.get("STREAMER_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:19092"))
    prefix = f"bench_{uuid.uuid4().hex[:8]}"
    topic = kafka.topic_for(prefix, "leads")
    token = jwt.encode({"role": "service_role", "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")
    bodies = [orjson.dumps({"leads": [full_lead(10**12 + n * args.leads + i) for i in range(args.leads)],
                            "source": "gestao_scouter"}) for n in range(1000)]
    target = process_target if args.mode == "process" else asgi_target
    try:
        async with target(kafka, prefix) as client:
            await hammer(client, min(200, args.requests), args.concurrency, lambda n: bodies[n % 1000], token)
            started = time.perf_counter()
            latencies, statuses = await hammer(client, args.requests, args.concurrency,
                                               lambda n: bodies[n % 1000], token)
            elapsed = time.perf_counter() - started
    finally:
        async with Admin(kafka) as admin:
            await admin.delete_topics([topic])
    print(f"mode={args.mode} requests={args.requests} concurrency={args.concurrency} leads/request={args.leads} "
          f"body={len(bodies[0])} B statuses={statuses}")
    print(f"  {args.requests / elapsed:,.0f} requests/s ({args.requests * args.leads / elapsed:,.0f} leads/s), "
          f"p50 {percentile(latencies, 50) * 1000:.1f} ms, p99 {percentile(latencies, 99) * 1000:.1f} ms, "
          f"max {max(latencies) * 1000:.1f} ms (each 202 after acks=all)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["process", "asgi"], default="process")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--leads", type=int, default=1, help="leads per request")
    asyncio.run(main(parser.parse_args()))
