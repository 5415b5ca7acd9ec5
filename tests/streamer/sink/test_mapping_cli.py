"""`streamer mapping show | export | import`: the seed's mapping format, checked and audited."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import orjson
import pytest

from devstack.stack import Endpoints

pytestmark = pytest.mark.integration


def mapping_cli(services: Endpoints, installed: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMER_")} | {
        "STREAMER_SOURCE__DSN": services.source_dsn, "STREAMER_DESTINATION__URL": services.destination_url,
        "STREAMER_DESTINATION__SERVICE_KEY": services.service_key,
        "STREAMER_SINK__MAPPING_FILE": str(installed), "STREAMER_HISTORY__OPERATOR": "mapping-test",
    }
    return subprocess.run([sys.executable, "-m", "streamer", "mapping", *args], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


async def test_import_refuses_unknown_columns_installs_good_ones_and_audits(
    services: Endpoints, tmp_path: Path, source_db: asyncpg.Connection
) -> None:
    """A mapping naming a column the destination lacks is refused with its name; a valid one is
    installed, shown back, exported, and recorded in the audit log."""
    installed = tmp_path / "installed.json"
    bad = tmp_path / "bad.json"
    bad.write_bytes(orjson.dumps({"fieldMappings": {"celular": "phone"}}))
    refused = mapping_cli(services, installed, "import", str(bad))
    assert refused.returncode == 2
    assert "phone" in refused.stderr and not installed.exists()

    good = tmp_path / "good.json"
    good.write_bytes(orjson.dumps({"fieldMappings": {"celular": "telefone_trabalho"}}))
    accepted = mapping_cli(services, installed, "import", str(good))
    assert accepted.returncode == 0, accepted.stderr
    assert orjson.loads(installed.read_bytes())["fieldMappings"] == {"celular": "telefone_trabalho"}
    shown = mapping_cli(services, installed, "show")
    assert '"celular": "telefone_trabalho"' in shown.stdout
    exported = tmp_path / "exported.json"
    assert mapping_cli(services, installed, "export", str(exported)).returncode == 0
    assert orjson.loads(exported.read_bytes())["fieldMappings"] == {"celular": "telefone_trabalho"}
    entry = await source_db.fetchrow(
        "SELECT actor, parameters FROM streamer_audit_log WHERE action = 'mapping.import' "
        "AND parameters->>'installed_as' = $1", str(installed))
    assert entry is not None and entry["actor"] == "mapping-test"
