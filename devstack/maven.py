"""Copying a generated POM's runtime closure out of Maven Central into a folder of jars.

The broker (devstack/kafka.py) and Kafka Connect with its plugins (devstack/connect.py) are run
from such folders: no tarball, no Docker. Maven keeps its own cache in ~/.m2; a marker holding the
POM's digest makes a second call a no-op until the POM changes.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from pathlib import Path

from devstack.process import require_program, run

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


def copy_dependencies(pom: bytes, home: Path, libs: Path, *, what: str, options: Sequence[str] = ()) -> bool:
    """Copy the runtime closure of `pom` (written to `home`) into `libs`; True if Maven ran."""
    marker = libs / ".pom-sha256"
    digest = hashlib.sha256(pom + "\0".join(options).encode()).hexdigest()
    if marker.exists() and marker.read_text() == digest:
        return False
    mvn = require_program("mvn", "install Maven 3.8+ (apt-get install maven)")
    home.mkdir(parents=True, exist_ok=True)
    (home / "pom.xml").write_bytes(pom)
    if libs.exists():  # jars of an older POM would stay on the class path beside the new ones
        shutil.rmtree(libs)
    run([mvn, "-B", "-q", "-f", str(home / "pom.xml"), f"{DEPENDENCY_PLUGIN}:copy-dependencies",
         "-DincludeScope=runtime", "-DexcludeClassifiers=test", f"-DoutputDirectory={libs}", *options],
        what=what, timeout=900)
    marker.write_text(digest)
    return True
