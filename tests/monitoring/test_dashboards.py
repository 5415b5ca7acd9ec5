"""The Grafana dashboards as code: generated from monitoring/grafana/generate.py, provisioned by
docker compose, and querying only what the service exports or the tables the migrations create."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas.sql_files import migration_files
from streamer.metrics import Metrics
from streamer.monitor.catalogue import exposed_sample_names
from tests.monitoring.promql import PROMETHEUS_OWN, PROPOSED, metric_names

GRAFANA = Path(__file__).resolve().parents[2] / "monitoring" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def provisioned_datasources() -> dict[str, str]:
    found = {}
    for path in (GRAFANA / "provisioning" / "datasources").glob("*.yml"):
        for source in yaml.safe_load(path.read_text())["datasources"]:
            found[source["uid"]] = source["type"]
    return found


def test_the_four_dashboards_exist() -> None:
    """Pipeline overview, capture and slot, sink and destination, and jobs are shipped."""
    assert {p.name for p in DASHBOARDS} == {"overview.json", "capture.json", "sink.json", "jobs.json"}


def test_committed_json_matches_the_generator() -> None:
    """The JSON files are what generate.py writes, so the code stays the source of truth."""
    result = subprocess.run([sys.executable, str(GRAFANA / "generate.py"), "--check"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_prometheus_queries_name_only_exported_metrics(path: Path) -> None:
    """Every Prometheus query of every panel reads only sample names the service exposes."""
    known = exposed_sample_names(Metrics()) | PROMETHEUS_OWN | PROPOSED
    unknown = {}
    for panel in panels(load(path)):
        for target in panel.get("targets", []):
            if "expr" in target:
                names = metric_names(target["expr"])
                assert names, f"{panel['title']}: no metric found in {target['expr']!r}"
                if names - known:
                    unknown[panel["title"]] = sorted(names - known)
    assert unknown == {}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_sql_queries_read_only_tables_the_migrations_create(path: Path) -> None:
    """SQL panels read only the source's job and error tables, which the shipped migrations create."""
    created = {m for f in migration_files("source") for m in re.findall(
        r"CREATE TABLE IF NOT EXISTS public\.(\w+)", f.sql)}
    for panel in panels(load(path)):
        for target in panel.get("targets", []):
            if "rawSql" in target:
                tables = set(re.findall(r"\bFROM\s+(\w+)", target["rawSql"]))
                assert tables and tables <= created, (panel["title"], tables)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_is_well_formed(path: Path) -> None:
    """Unique uid and panel ids, every panel placed on the 24-column grid, every data source provisioned."""
    dashboard, sources = load(path), provisioned_datasources()
    assert dashboard["uid"].startswith("streamer-") and dashboard["title"]
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))
    for panel in panels(dashboard):
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
    # Provisioned by docker compose: each data-source variable finds a provisioned source of its type.
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "datasource":
            assert variable["query"] in sources.values(), variable["name"]


DATASOURCE_VARIABLE = re.compile(r"^\$\{(DS_[A-Z0-9_]+)\}$")


def datasource_refs(dashboard: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every data-source reference: each panel's and each target's, anywhere in the dashboard."""
    for panel in panels(dashboard):
        if "datasource" in panel:
            yield panel["title"], panel["datasource"]
        for target in panel.get("targets", []):
            if "datasource" in target:
                yield f"{panel['title']} / {target.get('refId')}", target["datasource"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_no_panel_hard_codes_a_data_source(path: Path) -> None:
    """Every panel and target names its data source through a `${DS_...}` variable that is both an
    `__inputs` entry (the import dialog) and a data-source template variable of the same type, so
    the dashboard imports into any Grafana whatever its data sources are called."""
    dashboard = load(path)
    inputs = {i["name"]: i for i in dashboard.get("__inputs", [])}
    variables = {v["name"]: v for v in dashboard["templating"]["list"] if v["type"] == "datasource"}
    refs = list(datasource_refs(dashboard))
    assert refs, "no data source referenced at all"
    used = set()
    for where, source in refs:
        assert isinstance(source, dict), (where, source)  # a bare name is a hard-coded data source
        match = DATASOURCE_VARIABLE.match(str(source.get("uid", "")))
        assert match, f"{where}: hard-coded data source {source}"
        name = match[1]
        used.add(name)
        assert inputs[name]["type"] == "datasource" and inputs[name]["pluginId"] == source["type"], where
        assert variables[name]["query"] == source["type"], where
    assert set(inputs) == set(variables) == used
    # Nothing else in the JSON names a data source uid or name either.
    text = path.read_text()
    for literal in ('"uid": "prometheus"', '"uid": "tabuladormax"', '"datasource": "Prometheus"',
                    '"datasource": "TabuladorMax"'):
        assert literal not in text


def test_dashboard_uids_are_unique() -> None:
    """Grafana's file provider refuses two dashboards with one uid."""
    uids = [load(p)["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids))


def test_compose_provisions_the_dashboards_and_data_sources() -> None:
    """docker compose mounts the provisioning and dashboard folders where the provider looks."""
    compose = yaml.safe_load((GRAFANA.parents[1] / "docker-compose.yml").read_text())
    volumes = compose["services"]["grafana"]["volumes"]
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "streamer.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert f"./monitoring/grafana/dashboards:{path}:ro" in volumes
    assert "./monitoring/grafana/provisioning:/etc/grafana/provisioning:ro" in volumes
    assert "PG_PASSWORD" in compose["services"]["grafana"]["environment"]
