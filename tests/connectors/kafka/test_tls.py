"""TLS to Kafka (security_protocol SSL / SASL_SSL): the context every client gets verifies the
broker against the configured CA and presents the client certificate, over a real TLS handshake
with a local server whose certificates conftest.py makes (docs/deployment.md, Kafka: an existing cluster)."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from connectors.kafka.client import Producer, common_options
from connectors.kafka.errors import KafkaRejected
from connectors.kafka.settings import KafkaSettings


async def handshake(pki: dict[str, Path], client_context: ssl.SSLContext, host: str = "localhost") -> str | None:
    """A TLS handshake with a local server holding the broker certificate; the client certificate's
    common name the server saw (None without one)."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(pki["broker"], pki["broker"].with_suffix(".key"))
    server_context.load_verify_locations(cafile=pki["ca"])
    server_context.verify_mode = ssl.CERT_OPTIONAL
    seen: list[str | None] = []

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert")
        seen.append(dict(pair[0] for pair in peer["subject"])["commonName"] if peer else None)
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(on_client, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=client_context, server_hostname=host), 10)
        assert await reader.read(2) == b"ok"
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
    return seen[0]


async def test_the_configured_ca_verifies_the_broker(pki: dict[str, Path]) -> None:
    settings = KafkaSettings(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", sasl_username="u",
                             ssl_cafile=pki["ca"])
    context = common_options(settings)["ssl_context"]
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert await handshake(pki, context) is None


async def test_without_the_ca_the_broker_is_refused(pki: dict[str, Path]) -> None:
    """No ssl_cafile: the system's CAs, which never signed this cluster's certificate."""
    context = common_options(KafkaSettings(security_protocol="SSL"))["ssl_context"]
    with pytest.raises(ssl.SSLCertVerificationError):
        await handshake(pki, context)


async def test_a_certificate_for_another_host_is_refused(pki: dict[str, Path]) -> None:
    context = common_options(KafkaSettings(security_protocol="SSL", ssl_cafile=pki["ca"]))["ssl_context"]
    with pytest.raises(ssl.SSLCertVerificationError, match="[Hh]ostname"):
        await handshake(pki, context, host="kafka.elsewhere.example")


async def test_mutual_tls_presents_the_client_certificate(pki: dict[str, Path]) -> None:
    settings = KafkaSettings(security_protocol="SSL", ssl_cafile=pki["ca"], ssl_certfile=pki["client"],
                             ssl_keyfile=pki["client"].with_suffix(".key"))
    assert await handshake(pki, common_options(settings)["ssl_context"]) == "lead-sync-streamer"


def test_plaintext_has_no_tls_context() -> None:
    assert "ssl_context" not in common_options(KafkaSettings())


async def test_a_sasl_ssl_producer_can_be_built() -> None:
    """aiokafka refuses SSL without a context ('ssl_context is mandatory'): every client gets one."""
    producer = Producer(KafkaSettings(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_username="u",
                                      sasl_password="p"))
    await producer.__aexit__(None, None, None)  # never started: nothing to flush


def test_an_unreadable_ca_file_names_the_setting(tmp_path: Path) -> None:
    missing = tmp_path / "absent.crt"
    with pytest.raises(KafkaRejected, match=r"STREAMER_KAFKA__SSL_CAFILE: cannot load .*absent\.crt \(No such file"):
        common_options(KafkaSettings(security_protocol="SSL", ssl_cafile=missing))
    garbage = tmp_path / "garbage.crt"
    garbage.write_text("not a certificate")
    with pytest.raises(KafkaRejected, match="STREAMER_KAFKA__SSL_CAFILE"):
        common_options(KafkaSettings(security_protocol="SSL", ssl_cafile=garbage))


def test_a_key_file_never_reaches_the_message(tmp_path: Path, pki: dict[str, Path]) -> None:
    """A certificate paired with the wrong key: the error names the files, never their content."""
    wrong_key = pki["broker"].with_suffix(".key")
    with pytest.raises(KafkaRejected, match="STREAMER_KAFKA__SSL_CERTFILE") as caught:
        common_options(KafkaSettings(security_protocol="SSL", ssl_certfile=pki["client"], ssl_keyfile=wrong_key))
    assert "PRIVATE KEY" not in str(caught.value)


@pytest.mark.parametrize(("fields", "problem"), [
    ({"security_protocol": "SSL", "ssl_certfile": "/c.crt"}, "go together"),
    ({"security_protocol": "PLAINTEXT", "ssl_cafile": "/ca.crt"}, "need security_protocol SSL or SASL_SSL"),
])
def test_tls_settings_that_cannot_work_are_refused(fields: dict[str, str], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        KafkaSettings(**fields)
