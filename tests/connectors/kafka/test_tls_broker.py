"""The Kafka clients over TLS against a real broker: a KRaft node of our own with an SSL listener
that requires a client certificate (the local stack's jars, free ports, a temp folder; stopped at
the end). The producer, consumer and admin reach it only through `common_options`' TLS context
(docs/deployment.md, Kafka: an existing cluster)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.kafka.client import Admin, Consumer, Producer
from connectors.kafka.errors import KafkaUnavailable
from connectors.kafka.settings import KafkaSettings
from devstack.process import stop_process
from devstack.settings import DevStackSettings
from devstack.stack import Endpoints

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller}
listeners=SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=SSL://localhost:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=SSL
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SSL:SSL
ssl.keystore.type=PEM
ssl.keystore.location={keystore}
ssl.truststore.type=PEM
ssl.truststore.location={truststore}
ssl.client.auth=required
log.dirs={data}
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def kafka_libs() -> Path | None:
    """The broker jars the local stack resolved with Maven (README, The local stack)."""
    folder = DevStackSettings().dir
    libs = (folder if folder.is_absolute() else REPO / folder) / "kafka" / "libs"
    return libs if any(libs.glob("kafka_*.jar")) else None


@pytest.fixture(scope="module")
def tls_broker(services: Endpoints, pki: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The broker's address; `services` first, so that the local stack (and its jars) is there."""
    libs, java = kafka_libs(), shutil.which("java")
    if libs is None or java is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the local stack's Kafka jars or java are missing in CI")
        pytest.skip("needs the local stack's Kafka jars (python -m devstack up) and java")
    home = tmp_path_factory.mktemp("tls-kafka")
    keystore = home / "broker.pem"  # the broker's key (PKCS#8) and certificate, as Kafka's PEM keystore takes them
    keystore.write_text(pki["broker"].with_suffix(".key").read_text() + pki["broker"].read_text())
    port, controller = free_port(), free_port()
    props = home / "server.properties"
    props.write_text(SERVER_PROPERTIES.format(port=port, controller=controller, keystore=keystore,
                                              truststore=pki["ca"], data=home / "data"))
    log4j = REPO / "devstack" / "files" / "kafka-log4j2.properties"
    base = [java, "-Xmx256m", f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{libs}/*"]
    cluster_id = subprocess.run([*base, "kafka.tools.StorageTool", "random-uuid"], capture_output=True,
                                text=True, check=True, timeout=120).stdout.strip().splitlines()[-1]
    subprocess.run([*base, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props), "--standalone"],
                   capture_output=True, text=True, check=True, timeout=120)
    log = (home / "broker.log").open("w")
    broker = subprocess.Popen([*base, "kafka.Kafka", str(props)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if broker.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the TLS broker did not start: {(home / 'broker.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(broker, timeout=30, kill_timeout=None)
        log.close()


def tls_settings(pki: dict[str, Path], bootstrap: str, *, client_cert: bool = True) -> KafkaSettings:
    cert = {"ssl_certfile": pki["client"], "ssl_keyfile": pki["client"].with_suffix(".key")} if client_cert else {}
    return KafkaSettings(bootstrap_servers=bootstrap, security_protocol="SSL", ssl_cafile=pki["ca"],
                         request_timeout_ms=10_000, **cert)


async def test_records_round_trip_over_mutual_tls(pki: dict[str, Path], tls_broker: str,
                                                  unique: str) -> None:
    """Admin, idempotent producer and consumer group, all over TLS with the client certificate."""
    settings = tls_settings(pki, tls_broker)
    topic = f"t.tls.{unique}"
    async with Admin(settings) as admin:
        assert await admin.ensure_topic(topic) is True
    async with Producer(settings) as producer:
        acks = await producer.send_batch(topic, [(f"{i}".encode(), f"v{i}".encode(), []) for i in range(20)])
    assert len(acks) == 20
    got: list[bytes] = []
    async with Consumer(settings, topic, group_id=f"g.{unique}") as consumer:
        for _ in range(40):
            batch = await consumer.getmany(timeout_ms=500)
            got += [r.value for rs in batch.values() for r in rs]
            if len(got) >= 20:
                break
    assert sorted(got) == sorted(f"v{i}".encode() for i in range(20))


async def test_a_client_without_its_certificate_is_turned_away(pki: dict[str, Path], tls_broker: str) -> None:
    """The broker requires a client certificate: the same settings without one cannot connect."""
    settings = tls_settings(pki, tls_broker, client_cert=False)
    with pytest.raises(KafkaUnavailable):
        async with Admin(settings) as admin:
            await admin.ensure_topic("t.tls.refused")
