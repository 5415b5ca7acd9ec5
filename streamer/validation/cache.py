"""A small file cache for `validate schema` results, as the seed cached a validated schema for
5 minutes.

Only passing reports are kept: after someone runs the fix SQL and validates again (the seed's
troubleshooting steps 5-6) the answer must be fresh, and `schema reload-cache` clears the file.
Entries are keyed by destination URL, tables, mapping and the fingerprint of both catalogs
(`cache_key`), so no pass outlives a change to either table; the file holds no secret.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from schemas.mapping import FieldMapping
from streamer.validation.schema import SchemaReport

FILE_NAME = "validate-schema.json"


def default_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "streamer"


def cache_key(destination_url: str, source_table: str, destination_table: str, mapping: FieldMapping,
              fingerprint: str) -> str:
    """A digest of what the result depends on (never of a key or DSN); `fingerprint` digests the
    catalogs compared, so a column added, dropped or retyped on either side is a miss."""
    material = "\n".join([destination_url, source_table, destination_table, mapping.to_json(), fingerprint])
    return hashlib.sha256(material.encode()).hexdigest()[:32]


class ResultCache:
    """`get(key)` → a report younger than `ttl` seconds, or None; `put(key, report)`; `clear()`."""

    def __init__(self, directory: Path | None, ttl: float, *, clock: Callable[[], float] = time.time) -> None:
        self.path = (directory or default_dir()) / FILE_NAME
        self.ttl = ttl
        self._now = clock

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> SchemaReport | None:
        entry = self._read().get(key)
        if not isinstance(entry, dict) or not _fresh(entry, self._now(), self.ttl):
            return None
        try:
            return SchemaReport.model_validate(entry.get("report"))
        except ValueError:
            return None

    def put(self, key: str, report: SchemaReport) -> None:
        if not report.ok or self.ttl <= 0:
            return
        now = self._now()
        entries = {k: v for k, v in self._read().items() if isinstance(v, dict) and _fresh(v, now, self.ttl)}
        entries[key] = {"at": now, "report": report.model_dump(mode="json")}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(entries), encoding="utf-8")
            tmp.replace(self.path)
        except OSError:
            pass  # a cache that cannot be written only costs a re-validation

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def _fresh(entry: dict[str, Any], now: float, ttl: float) -> bool:
    at = entry.get("at")
    return isinstance(at, int | float) and 0 <= now - at <= ttl
