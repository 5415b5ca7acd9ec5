"""The lock files cover pyproject.toml: every dependency it names (runtime and the dev extra, and
the packages of the extras it asks for) is pinned, at a version its specifier allows, with hashes;
and the installs use them (scripts/bootstrap, the Dockerfile). Adding or raising a dependency in
pyproject.toml without running scripts/lock fails here."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
RUNTIME, DEV = ROOT / "requirements.lock", ROOT / "requirements-dev.lock"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)")


@dataclass
class Pin:
    version: Version
    hashes: list[str] = field(default_factory=list)


def read_lock(text: str) -> dict[str, Pin]:
    """name → its pin and hashes, from a `uv pip compile --generate-hashes` file."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = PIN.match(line)
        if match:
            current = pins[canonicalize_name(match["name"])] = Pin(Version(match["version"]))
        elif stripped.startswith("--hash=") and current is not None:
            current.hashes.append(stripped.split("=", 1)[1].rstrip(" \\"))
    return pins


def requirements(pyproject: str, *extras: str) -> list[Requirement]:
    project = tomllib.loads(pyproject)["project"]
    names = list(project["dependencies"])
    for extra in extras:
        names += project["optional-dependencies"][extra]
    return [Requirement(name) for name in names]


def extra_packages(requirement: Requirement) -> set[str]:
    """The packages an extra such as PyJWT[crypto] adds (from the installed distribution's metadata)."""
    found = set()
    for extra in requirement.extras:
        for text in metadata.requires(requirement.name) or []:
            needed = Requirement(text)
            if needed.marker is not None and needed.marker.evaluate({"extra": extra}) and \
                    not needed.marker.evaluate({"extra": ""}):
                found.add(canonicalize_name(needed.name))
    return found


def problems(pyproject: str, lock: str, *extras: str) -> list[str]:
    """What the lock lacks for pyproject's dependencies (empty when it covers them)."""
    pins, found = read_lock(lock), []
    for requirement in requirements(pyproject, *extras):
        name = canonicalize_name(requirement.name)
        pin = pins.get(name)
        if pin is None:
            found.append(f"{requirement.name} is not pinned: run scripts/lock")
            continue
        if not requirement.specifier.contains(pin.version, prereleases=True):
            found.append(f"{requirement.name}=={pin.version} does not satisfy {requirement}: run scripts/lock")
        found += [f"{requirement.name}[{','.join(requirement.extras)}] needs {extra}, not pinned: run scripts/lock"
                  for extra in sorted(extra_packages(requirement) - set(pins))]
    return found


PYPROJECT = (ROOT / "pyproject.toml").read_text()


@pytest.mark.parametrize(("lock", "extras"), [(RUNTIME, ()), (DEV, ("dev",))], ids=["runtime", "dev"])
def test_the_lock_pins_every_dependency_pyproject_names(lock: Path, extras: tuple[str, ...]) -> None:
    assert problems(PYPROJECT, lock.read_text(), *extras) == []


def test_a_dependency_added_without_relocking_is_caught() -> None:
    """The check itself: a new package, or a raised minimum, that the lock does not satisfy."""
    added = PYPROJECT.replace('"croniter>=2",', '"croniter>=2",\n  "left-pad-for-python>=1",')
    raised = PYPROJECT.replace('"httpx>=0.27"', '"httpx>=999"')
    assert added != PYPROJECT and raised != PYPROJECT
    assert problems(added, RUNTIME.read_text()) == ["left-pad-for-python is not pinned: run scripts/lock"]
    assert [p.split("==")[0] for p in problems(raised, RUNTIME.read_text())] == ["httpx"]


def test_every_pin_has_hashes_and_the_dev_lock_agrees_with_the_runtime_one() -> None:
    """pip's --require-hashes needs a hash for every pin; the image and the venv run the same versions."""
    runtime, dev = read_lock(RUNTIME.read_text()), read_lock(DEV.read_text())
    assert runtime and all(pin.hashes for pin in [*runtime.values(), *dev.values()])
    assert {name: pin.version for name, pin in runtime.items()} == {name: dev[name].version for name in runtime}
    assert "lead-sync-streamer" not in runtime | dev  # the project installs from its source, --no-deps


def test_the_installs_use_the_locks() -> None:
    """scripts/bootstrap installs the dev lock then the project --no-deps, again when either changes;
    the Dockerfile installs the runtime lock then the project --no-deps."""
    bootstrap = (ROOT / "scripts" / "bootstrap").read_text()
    assert "pip install -q --require-hashes -r requirements-dev.lock" in bootstrap
    assert "pip install -q --no-deps -e ." in bootstrap
    assert re.search(r"stamp=\$\(cat pyproject\.toml requirements-dev\.lock \| sha256sum", bootstrap)
    assert "'.[dev]'" not in bootstrap
    (run,) = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if "pip install" in line]
    assert "--require-hashes -r /tmp/requirements.lock" in run and "source=requirements.lock" in run
    assert run.endswith("pip install --no-cache-dir --no-deps .")
