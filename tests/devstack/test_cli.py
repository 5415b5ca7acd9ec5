"""`python -m devstack`: the local stack's commands and the demo, with the exit codes they had as
subcommands of the product's CLI. Only commands that start nothing run here: `up` and
`demo` run as the test session's stack (tests/services.py) and as `scripts/run`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from devstack.cli import app
from devstack.settings import DevStackSettings

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def invoke(*args: str, **env: str) -> Result:
    return runner.invoke(app, list(args), env=env)


def test_runs_from_the_repository_root_with_every_command() -> None:
    """Not an installed package: `python -m devstack` works from the repository's root."""
    result = subprocess.run([sys.executable, "-m", "devstack", "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    for command in ("up", "down", "status", "env", "demo"):
        assert f" {command} " in result.stdout


def test_status_of_a_stack_never_started_exits_1(tmp_path: Path) -> None:
    result = invoke("status", STREAMER_DEV__DIR=str(tmp_path))
    assert result.exit_code == 1, result.output
    assert "service" in result.output


def test_env_of_a_stack_never_started_says_how_to_start_it(tmp_path: Path) -> None:
    result = invoke("env", STREAMER_DEV__DIR=str(tmp_path))
    assert result.exit_code == 1
    assert "error: the local stack was never started: run `python -m devstack up`" in result.output


def test_down_of_a_stack_never_started_does_nothing(tmp_path: Path) -> None:
    result = invoke("down", STREAMER_DEV__DIR=str(tmp_path))
    assert result.exit_code == 0, result.output
    assert list(tmp_path.iterdir()) == []


def test_a_bad_stack_setting_is_a_config_line_and_exit_2(tmp_path: Path) -> None:
    result = invoke("status", STREAMER_DEV__DIR=str(tmp_path), STREAMER_DEV__KAFKA_HEAP_MB="100")
    assert result.exit_code == 2
    assert "config: STREAMER_DEV__KAFKA_HEAP_MB: Input should be greater than or equal to 256" in result.output


def test_settings_keep_their_environment_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`STREAMER_DEV__*`, as when they were the product's `dev` section (.ci/run sets the dir)."""
    monkeypatch.setenv("STREAMER_DEV__DIR", str(tmp_path))
    monkeypatch.setenv("STREAMER_DEV__KAFKA_PORT", "29092")
    settings = DevStackSettings()
    assert (settings.dir, settings.kafka_port, settings.source_port) == (tmp_path, 29092, 54321)
