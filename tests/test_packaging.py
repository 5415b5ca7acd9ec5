"""What ships: the wheel (which the Dockerfile installs with `pip install .`) and the image hold
the product's packages and their data files, and none of the development tools.

The wheel is built for real (`pip wheel --no-build-isolation`, from a copy of the repository so
no build files land in it) and listed; a wrong `[tool.setuptools]` section fails these tests.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("streamer", "connectors", "schemas")
DEV_TOOLS = ("devserver", "devstack")
# Data files read at run time: the migrations' SQL and the monitor page.
DATA = ("schemas/sql/**/*.sql", "streamer/monitor/static/*", "streamer/monitor/static/vendor/*",
        "streamer/monitor/static/i18n/*")
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", ".stack", "build", "dist", "*.egg-info", "__pycache__",
                                    ".mypy_cache", ".ruff_cache", ".pytest_cache")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this checkout."""
    source, out = tmp_path_factory.mktemp("source") / "repo", tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, source, ignore=NOT_COPIED)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "-q", "-w", str(out)],
        capture_output=True, text=True, timeout=240, check=False)
    assert build.returncode == 0, f"pip wheel failed:\n{build.stdout}\n{build.stderr}"
    (path,) = out.glob("*.whl")
    return path


@pytest.fixture(scope="module")
def wheel(built: Path) -> list[str]:
    """The file names inside the wheel."""
    with zipfile.ZipFile(built) as archive:
        return archive.namelist()


def _tracked(pattern: str) -> list[str]:
    return sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob(pattern)
                  if p.is_file() and "__pycache__" not in p.parts)


def test_no_development_tool_is_in_the_wheel(wheel: list[str]) -> None:
    """Neither the dev server, the dev stack nor the demo: only the product and its metadata."""
    top_level = {name.split("/")[0] for name in wheel if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == set(SHIPPED)
    dev = [name for name in wheel if any(tool in name for tool in (*DEV_TOOLS, "demo", "tests/"))]
    assert dev == []


def test_every_product_module_is_in_the_wheel(wheel: list[str]) -> None:
    modules = [m for package in SHIPPED for m in _tracked(f"{package}/**/*.py")]
    assert len(modules) > 50
    assert sorted(set(modules) - set(wheel)) == []


@pytest.mark.parametrize("pattern", DATA)
def test_the_products_data_files_are_in_the_wheel(wheel: list[str], pattern: str) -> None:
    """The SQL the migrations apply and the monitor page's static files (index.html, css, js)."""
    files = _tracked(pattern)
    assert files, f"no file matches {pattern}"
    assert sorted(set(files) - set(wheel)) == []


def test_the_wheel_installs_the_streamer_command(built: Path, wheel: list[str]) -> None:
    (name,) = [n for n in wheel if n.endswith(".dist-info/entry_points.txt")]
    with zipfile.ZipFile(built) as archive:
        entry_points = archive.read(name).decode()
    assert "streamer = streamer.cli.app:main" in entry_points


def test_the_dockerfile_copies_only_the_shipped_packages() -> None:
    """The image gets what the wheel is built from, never the dev tools, tests or scripts."""
    copies = [line.split()[1:] for line in (ROOT / "Dockerfile").read_text().splitlines()
              if re.match(r"COPY\s", line)]
    sources = {Path(s).as_posix().rstrip("/") for args in copies for s in args[:-1] if not s.startswith("--")}
    assert sources == {"pyproject.toml", "README.md", *SHIPPED}
