"""`devserver.launch`: the one way the stack, the tests and the benchmark start the dev server;
and the dev server stands alone (nothing from the product)."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from devserver import launch
from devstack.stack import Endpoints

ROOT = Path(__file__).resolve().parents[2]


def test_the_dev_server_imports_nothing_from_the_product() -> None:
    """Every devserver module imported, and not one `streamer` module came with them."""
    code = ("import pkgutil, importlib, sys, devserver\n"
            "for m in pkgutil.iter_modules(devserver.__path__):\n"
            "    if m.name != '__main__': importlib.import_module('devserver.' + m.name)\n"
            "print(sorted(n for n in sys.modules if n == 'streamer' or n.startswith('streamer.')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_environment_reaches_the_repository_from_any_directory() -> None:
    env = launch.environment(db_uri="postgresql://x@127.0.0.1/db", jwt_secret="s" * 32, port=4321)
    assert env["PYTHONPATH"].split(":")[0] == str(ROOT)
    assert (env["PGRST_SERVER_HOST"], env["PGRST_SERVER_PORT"]) == ("127.0.0.1", "4321")


def test_a_server_that_cannot_start_is_a_launch_error() -> None:
    """A setting it refuses: the child exits 2 at once (`devserver: PGRST_DB_MAX_ROWS is invalid`),
    and the launcher says so instead of waiting out its timeout."""
    with pytest.raises(launch.LaunchError, match="exited during start-up"), \
            launch.launched(db_uri="postgresql://x@127.0.0.1:1/db", jwt_secret="s" * 32,
                            extra={"PGRST_DB_MAX_ROWS": "0"}, timeout=30):
        pass


@pytest.mark.integration
def test_launched_serves_on_a_free_port_until_the_block_ends(services: Endpoints) -> None:
    with launch.launched(db_uri=services.destination_dsn, jwt_secret=services.jwt_secret) as server:
        with urllib.request.urlopen(server.base_url + "/_admin/ready", timeout=5) as response:
            assert response.status == 200
        assert server.rest_url == f"http://127.0.0.1:{server.port}/rest/v1"
    assert server.process.returncode is not None
    assert not launch.is_ready(server.base_url)
