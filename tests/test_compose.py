"""docker-compose.yml agrees with the settings model and the local stack's ports.

It cannot run here (no Docker engine); this checks what can be checked without one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.settings import DevStackSettings
from streamer.config import Settings

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"
DEFAULT = re.compile(r"\$\{(?P<name>\w+)(:-(?P<default>[^}]*)|:\?[^}]*)?\}")


def expand(value: str) -> str:
    """Compose's `${VAR:-default}` with defaults only, and a stand-in for required values."""
    return DEFAULT.sub(lambda m: m["default"] if m["default"] is not None else f"required-{m['name']}", value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def host_port(service: dict[str, Any]) -> tuple[int, int]:
    (mapping,) = service["ports"]
    _, host, container = mapping.split(":")
    return int(host), int(container)


def test_compose_has_the_products_services(compose: dict[str, Any]) -> None:
    """Two PostgreSQL, Kafka, PostgREST, Prometheus, Grafana, the migration job and the streamer."""
    assert set(compose["services"]) == {"source-db", "destination-db", "kafka", "postgrest", "prometheus",
                                        "grafana", "migrate", "streamer"}
    images = {name: s.get("image", "build") for name, s in compose["services"].items()}
    assert images["kafka"].startswith("apache/kafka:4.")
    assert images["postgrest"].startswith("postgrest/postgrest:")
    assert "wal_level=logical" in compose["services"]["source-db"]["command"]


def test_every_streamer_variable_is_a_valid_setting(compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The streamer's environment in compose loads into the settings model without an error."""
    env = compose["services"]["streamer"]["environment"]
    assert env == compose["services"]["migrate"]["environment"]
    for key, value in env.items():
        assert key.startswith("STREAMER_")
        monkeypatch.setenv(key, expand(str(value)))
    settings = Settings()
    assert settings.destination.rest_url == "http://postgrest:3000"
    assert settings.kafka.bootstrap_servers == "kafka:9092"


def test_host_ports_match_the_local_stack(compose: dict[str, Any]) -> None:
    """Published ports equal the local stack's defaults, so the same commands work on either."""
    # The stack's defaults, not this shell's STREAMER_DEV__* (model_construct reads no environment).
    dev, services = DevStackSettings.model_construct(), compose["services"]
    assert host_port(services["source-db"]) == (dev.source_port, 5432)
    assert host_port(services["destination-db"]) == (dev.destination_port, 5432)
    assert host_port(services["postgrest"])[0] == dev.postgrest_port
    assert host_port(services["kafka"])[0] == dev.kafka_port
    assert host_port(services["prometheus"])[0] == dev.prometheus_port
    assert host_port(services["streamer"]) == (Settings().http.port, Settings().http.port)


def test_services_point_at_each_other(compose: dict[str, Any]) -> None:
    """PostgREST serves the destination database, and the streamer talks to PostgREST and Kafka."""
    services = compose["services"]
    env = {k: expand(str(v)) for k, v in services["streamer"]["environment"].items()}
    assert "@destination-db:5432/" in expand(services["postgrest"]["environment"]["PGRST_DB_URI"])
    assert "@source-db:5432/" in env["STREAMER_SOURCE__DSN"]
    port = services["postgrest"]["environment"]["PGRST_SERVER_PORT"]
    assert env["STREAMER_DESTINATION__URL"] == f"http://postgrest:{port}"
    advertised = services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert f"//{env['STREAMER_KAFKA__BOOTSTRAP_SERVERS']}" in advertised
    scrape = (COMPOSE.parent / "monitoring" / "prometheus.yml").read_text()
    assert f"streamer:{env['STREAMER_HTTP__PORT']}" in scrape
