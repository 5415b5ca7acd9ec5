"""docker-compose.yml agrees with the settings model and the local stack, and a real Compose
loader accepts it with the `.env` that `scripts/compose-env` writes.

No Docker engine here: the loader is Debian's docker-compose 1.29 (`config` needs no engine; CI
installs it through `scripts/bootstrap --tests`, and there this test must run, not skip).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml

from devstack.settings import DevStackSettings
from streamer.cli.components import FACTORIES
from streamer.config import HttpSettings, Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DEFAULT = re.compile(r"\$\{(?P<name>\w+)(:-(?P<default>[^}]*)|:\?[^}]*)?\}")
STREAMER_IMAGE_SERVICES = {"migrate", "streamer"}
ONE_SHOT = {"migrate"}


def expand(value: str) -> str:
    """Compose's `${VAR:-default}` with defaults only, and a stand-in for required values."""
    return DEFAULT.sub(lambda m: m["default"] if m["default"] is not None else f"required-{m['name']}-" + "x" * 32,
                       value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No STREAMER_* variable of the caller's shell (e.g. a moved STREAMER_HTTP__PORT) reaches the settings."""
    for key in list(os.environ):
        if key.startswith("STREAMER_"):
            monkeypatch.delenv(key)


def host_port(service: dict[str, Any]) -> tuple[int, int]:
    (mapping,) = service["ports"]
    _, host, container = mapping.split(":")
    return int(host), int(container)


def test_compose_has_the_products_services(compose: dict[str, Any]) -> None:
    """Two PostgreSQL, Kafka, PostgREST, Prometheus, Alertmanager, Grafana, a mail catcher for the
    notifications, the migration job and the streamer."""
    assert set(compose["services"]) == {"source-db", "destination-db", "kafka", "postgrest", "prometheus",
                                        "alertmanager", "grafana", "mailpit", "migrate", "streamer"}
    images = {name: s.get("image", "build") for name, s in compose["services"].items()}
    assert images["kafka"].startswith("apache/kafka:4.")
    assert images["postgrest"].startswith("postgrest/postgrest:")
    assert "wal_level=logical" in compose["services"]["source-db"]["command"]
    alertmanager = compose["services"]["alertmanager"]
    assert "./monitoring/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro" in alertmanager["volumes"]
    scrape = yaml.safe_load((ROOT / "monitoring" / "prometheus.yml").read_text())
    assert scrape["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]


def test_the_streamer_image_is_built_once_and_reused(compose: dict[str, Any]) -> None:
    """One `build:`; every service running the streamer uses its image by name and never pulls it."""
    services = compose["services"]
    built = [name for name, s in services.items() if "build" in s]
    assert built == ["migrate"]
    image = services["migrate"]["image"]
    assert {name for name, s in services.items() if s.get("image") == image} == STREAMER_IMAGE_SERVICES
    assert services["streamer"]["pull_policy"] == "never"
    assert services["streamer"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_every_service_has_a_health_check_and_waits_for_healthy_dependencies(compose: dict[str, Any]) -> None:
    """Long-running services have health checks; a dependency is waited for until healthy (or, for
    the one-shot migration, until it completed)."""
    services = compose["services"]
    for name, service in services.items():
        if name in ONE_SHOT:
            assert "healthcheck" not in service
        else:
            assert service["healthcheck"]["test"], name
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for dependency, how in depends.items():
            expected = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert how == {"condition": expected}, (name, dependency)
    assert set(services["streamer"]["depends_on"]) == {"migrate", "kafka", "postgrest"}
    assert set(services["postgrest"]["depends_on"]) == {"migrate"}


def test_postgresql_is_the_local_stacks_major_version(compose: dict[str, Any]) -> None:
    """postgres:15 on both sides, as the local stack (Debian's PostgreSQL 15) and Grafana's data source."""
    services = compose["services"]
    majors = {services[name]["image"] for name in ("source-db", "destination-db")}
    assert majors == {"postgres:15"}
    installed = {p.name for p in Path("/usr/lib/postgresql").glob("*") if (p / "bin" / "initdb").exists()}
    if installed:
        assert "15" in installed, installed
    datasource = (ROOT / "monitoring" / "grafana" / "provisioning" / "datasources" / "tabuladormax.yml").read_text()
    assert "postgresVersion: 1500" in datasource


def test_every_streamer_variable_is_a_valid_setting(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch, clean_env: None,
) -> None:
    """The streamer's environment in compose loads into the settings model without an error, runs
    every component this version has, and configures what those components need."""
    env = compose["services"]["streamer"]["environment"]
    assert env == compose["services"]["migrate"]["environment"]
    for key, value in env.items():
        assert key.startswith("STREAMER_")
        monkeypatch.setenv(key, expand(str(value)))
    settings = Settings()
    assert settings.destination.rest_url == "http://postgrest:3000"
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert set(settings.run.components) == set(FACTORIES)
    assert len(settings.run.components) == len(FACTORIES)
    assert settings.webhook.jwt_secret is not None and settings.monitor.admin_token is not None
    assert settings.destination.service_key is not None
    assert settings.notify.problems() == [] and settings.notify.smtp_host == "mailpit"


def test_host_ports_match_the_local_stack(compose: dict[str, Any], clean_env: None) -> None:
    """Published ports equal the local stack's defaults (the models' defaults, whatever the caller's
    environment moved), so the same commands work on either."""
    # The stack's defaults, not this shell's STREAMER_DEV__* (model_construct reads no environment).
    dev, services = DevStackSettings.model_construct(), compose["services"]
    assert host_port(services["source-db"]) == (dev.source_port, 5432)
    assert host_port(services["destination-db"]) == (dev.destination_port, 5432)
    assert host_port(services["postgrest"])[0] == dev.postgrest_port
    assert host_port(services["kafka"])[0] == dev.kafka_port
    assert host_port(services["prometheus"])[0] == dev.prometheus_port
    port = HttpSettings().port
    assert host_port(services["streamer"]) == (port, port)
    assert services["streamer"]["environment"]["STREAMER_HTTP__PORT"] == str(port)


def test_host_ports_do_not_read_the_callers_environment(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A developer who moved STREAMER_HTTP__PORT (README, Troubleshooting) still passes."""
    monkeypatch.setenv("STREAMER_HTTP__PORT", "28080")
    monkeypatch.setenv("STREAMER_DEV__SOURCE_PORT", "64321")
    test_host_ports_match_the_local_stack(compose, None)


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


# --- scripts/compose-env and the real loader -------------------------------------------------


def compose_env(output: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """scripts/compose-env with this interpreter's `streamer` on PATH (CI's .venv, or a developer's)."""
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(ROOT), "PYTHON": sys.executable, "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run([str(ROOT / "scripts" / "compose-env"), "--output", str(output), *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def read_env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("compose") / ".env"
    proc = compose_env(output)
    assert proc.returncode == 0, proc.stderr
    return output


def test_compose_env_generates_secrets_and_issues_keys_with_them(env_file: Path) -> None:
    """One command: every variable compose requires, keys signed with the generated secret (the
    documented one-liner once issued them before the secret was exported, leaving them empty)."""
    values = read_env_file(env_file)
    assert set(values) == {"PG_PASSWORD", "JWT_SECRET", "SERVICE_KEY", "ANON_KEY", "MONITOR_TOKEN"}
    assert all(values.values())
    assert len(values["JWT_SECRET"]) >= 32 and len(values["MONITOR_TOKEN"]) >= 16
    assert re.fullmatch(r"[0-9a-f]+", values["PG_PASSWORD"])  # nothing to escape in a DSN
    for key, role in (("SERVICE_KEY", "service_role"), ("ANON_KEY", "anon")):
        claims = jwt.decode(values[key], values["JWT_SECRET"], algorithms=["HS256"])
        assert claims["role"] == role
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    smtp = env_file.parent / ".secrets" / "smtp_password"
    assert smtp.read_text() == ""
    assert stat.S_IMODE(smtp.parent.stat().st_mode) == 0o700


def test_compose_env_never_prints_a_secret_nor_replaces_an_env_file(env_file: Path) -> None:
    """A second run refuses to overwrite (the databases hold the first password); nothing secret is printed."""
    before = env_file.read_text()
    proc = compose_env(env_file)
    assert proc.returncode == 1 and "--force" in proc.stderr
    assert env_file.read_text() == before
    replaced = compose_env(env_file, "--force")
    assert replaced.returncode == 0, replaced.stderr
    for value in read_env_file(env_file).values():
        assert value not in replaced.stdout + replaced.stderr


def test_the_env_file_and_secrets_are_git_ignored() -> None:
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored and ".secrets/" in ignored


def docker_compose() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("docker-compose is missing in CI: scripts/bootstrap --tests installs it")
        pytest.skip("docker-compose not found: apt-get install docker-compose (scripts/bootstrap --tests)")
    return path


def loader(*args: str, env_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    """docker-compose with an environment of its own: nothing from the caller's shell is interpolated."""
    options = ["--env-file", str(env_file)] if env_file else []
    return subprocess.run([docker_compose(), "-f", str(COMPOSE), "--project-directory", str(ROOT), *options, *args],
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, capture_output=True, text=True,
                          timeout=120, check=False, cwd=ROOT)


def test_a_real_compose_loader_accepts_the_file_with_the_generated_env(env_file: Path) -> None:
    """`docker-compose config` (the Compose file loader, schema and interpolation) accepts it, and the
    loaded model runs every component with the generated secrets in place."""
    quiet = loader("config", "-q", env_file=env_file)
    assert quiet.returncode == 0, quiet.stderr
    loaded = yaml.safe_load(loader("config", env_file=env_file).stdout)
    values = read_env_file(env_file)
    streamer = loaded["services"]["streamer"]
    assert streamer["environment"]["STREAMER_DESTINATION__SERVICE_KEY"] == values["SERVICE_KEY"]
    assert streamer["environment"]["STREAMER_MONITOR__ADMIN_TOKEN"] == values["MONITOR_TOKEN"]
    assert streamer["environment"]["STREAMER_WEBHOOK__JWT_SECRET"] == values["JWT_SECRET"]
    assert loaded["services"]["postgrest"]["environment"]["PGRST_JWT_SECRET"] == values["JWT_SECRET"]
    assert f":{values['PG_PASSWORD']}@source-db:5432/" in streamer["environment"]["STREAMER_SOURCE__DSN"]
    assert streamer["depends_on"]["postgrest"] == {"condition": "service_healthy"}


def test_without_the_env_file_the_loader_names_the_command_to_run(tmp_path: Path) -> None:
    """Without .env, `docker compose up` stops at once and says to run scripts/compose-env."""
    empty = tmp_path / ".env"
    empty.write_text("")
    proc = loader("config", "-q", env_file=empty)
    assert proc.returncode != 0
    assert "scripts/compose-env" in proc.stderr
