"""The `Prefer` header (RFC 7240) as PostgREST reads it (reference §1.3).

prefs = parse_prefer(["return=representation, resolution=merge-duplicates"])
applied_header(prefs, resolution_applied=True, is_write=True)
# 'resolution=merge-duplicates, return=representation'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

_SINGLE_VALUED = {
    "resolution": ("merge-duplicates", "ignore-duplicates"),
    "return": ("minimal", "headers-only", "representation"),
    "count": ("exact", "planned", "estimated"),
    "missing": ("default", "null"),
    "tx": ("commit", "rollback"),
    "handling": ("strict", "lenient"),
}


@dataclass(frozen=True)
class Preferences:
    """The recognised preferences; `invalid` lists the raw items that were not recognised."""

    resolution: str | None = None
    return_: str | None = None
    count: str | None = None
    missing: str | None = None
    tx: str | None = None
    handling: str | None = None
    timezone: str | None = None
    max_affected: int | None = None
    invalid: list[str] = field(default_factory=list)

    @property
    def strict(self) -> bool:
        return self.handling == "strict"


def parse_prefer(headers: Iterable[str]) -> Preferences:
    """Parse every `Prefer` header value; the first occurrence of each preference wins.

    `tx=` is recognised but never applied: with Supabase's `db-tx-end=commit` PostgREST drops it
    silently, neither echoing it nor flagging it under strict handling.
    """
    found: dict[str, str] = {}
    invalid: list[str] = []
    for header in headers:
        for raw in header.split(","):
            item = raw.strip()
            if not item:
                continue
            name, _, value = item.partition("=")
            name, value = name.strip(), value.strip()
            if not _recognised(name, value):
                invalid.append(item)
            elif name not in found:
                found[name] = value
    return Preferences(
        resolution=found.get("resolution"),
        return_=found.get("return"),
        count=found.get("count"),
        missing=found.get("missing"),
        tx=found.get("tx"),
        handling=found.get("handling"),
        timezone=found.get("timezone"),
        max_affected=int(found["max-affected"]) if "max-affected" in found else None,
        invalid=invalid,
    )


def _recognised(name: str, value: str) -> bool:
    if name in _SINGLE_VALUED:
        return value in _SINGLE_VALUED[name]
    if name == "timezone":
        return bool(value)
    if name == "max-affected":
        return value.isdigit()
    return False


def applied_header(prefs: Preferences, *, resolution_applied: bool, is_write: bool) -> str | None:
    """`Preference-Applied` in PostgREST's fixed order; None when nothing was applied.

    Resolution is echoed only if it took effect (a PK or `on_conflict`); `missing` only on writes;
    `tx` never (db-tx-end=commit); `timezone` never (this server does not apply
    it); `max-affected` only with strict handling.
    """
    items: list[str] = []
    if prefs.resolution and resolution_applied:
        items.append(f"resolution={prefs.resolution}")
    if prefs.missing and is_write:
        items.append(f"missing={prefs.missing}")
    if prefs.return_:
        items.append(f"return={prefs.return_}")
    if prefs.count:
        items.append(f"count={prefs.count}")
    if prefs.handling:
        items.append(f"handling={prefs.handling}")
    if prefs.max_affected is not None and prefs.strict:
        items.append(f"max-affected={prefs.max_affected}")
    return ", ".join(items) or None
