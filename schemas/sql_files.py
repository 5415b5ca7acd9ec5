"""The SQL shipped with the product, per target database, in the order it is applied."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Literal

Target = Literal["source", "destination"]
TARGETS: tuple[Target, ...] = ("source", "destination")


@dataclass(frozen=True)
class SqlFile:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migration_files(target: Target) -> list[SqlFile]:
    """`common/*` then `<target>/*`, each folder sorted by file name."""
    root = resources.files("schemas") / "sql"
    files: list[SqlFile] = []
    for folder in ("common", target):
        entries = sorted((e for e in (root / folder).iterdir() if e.name.endswith(".sql")),
                         key=lambda e: e.name)
        files.extend(SqlFile(f"{folder}/{e.name}", e.read_text(encoding="utf-8")) for e in entries)
    return files
