"""Interop (issue 16, docs/interop.md): Debezium's own JDBC sink connector, in Kafka Connect
standalone from Maven jars, lands a leads topic into a third PostgreSQL database, and after a
mixed workload (inserts, updates, a TOASTed value left unchanged, deletes, deleted keys inserted
again) the sink's table equals the source's, column for column.

The first test has the topic written by Debezium's own PostgreSQL connector: the reference, which
proves the worker, the jars and the sink's settings. The second has it written by our capture in
the Debezium event format, the contract users plug into."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.connect import ConnectWorker, running_worker
from devstack.interop import Run, interop
from devstack.stack import Endpoints
from tests.services import REPO

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def connect(services: Endpoints, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConnectWorker]:
    """One Kafka Connect worker for the module; its jars cached in the stack's folder."""
    cache = Path(os.environ.get("STREAMER_DEV__DIR", REPO / ".stack")).resolve() / "connect"
    with running_worker(cache, tmp_path_factory.mktemp("connect"), services.kafka_bootstrap) as worker:
        yield worker


def log_tails(folder: Path) -> str:
    return "".join(p.read_text()[-3000:] for p in folder.glob("capture-*.log"))


def new_run(services: Endpoints) -> Run:
    return Run(services.source_dsn, services.destination_dsn, services.kafka_bootstrap)


@pytest.mark.timeout(600)
async def test_the_jdbc_sink_lands_debezium_postgres_connector_topic(
    services: Endpoints, connect: ConnectWorker, tmp_path: Path,
) -> None:
    report = await interop(connect, new_run(services), "debezium", tmp_path)
    print(f"\n{report}")
    assert report.outcome.equal, f"{report}\nworker log: {connect.log}"
    assert report.workload.deletes > 0 and report.workload.unchanged_toast_updates > 0


@pytest.mark.timeout(600)
async def test_the_jdbc_sink_lands_our_capture_topic(
    services: Endpoints, connect: ConnectWorker, tmp_path: Path,
) -> None:
    report = await interop(connect, new_run(services), "streamer", tmp_path)
    print(f"\n{report}")
    assert report.outcome.equal, f"{report}\nworker log: {connect.log}\ncapture log tail:\n{log_tails(tmp_path)}"
    assert report.workload.deletes > 0 and report.workload.unchanged_toast_updates > 0
