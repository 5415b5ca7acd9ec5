"""The `Prefer` header (RFC 7240) as PostgREST reads it (docs/postgrest.md §1.3).

prefs = parse_prefer(["return=representation, resolution=merge-duplicates"])
applied_header(prefs, "create", resolution_applied=True)
# 'resolution=merge-duplicates, return=representation'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from devserver.params import read_integer

Action = Literal["read", "create", "update", "delete"]

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
    silently, neither echoing it nor flagging it under strict handling. `max-affected=` is never
    invalid; a value that is no integer is ignored (`readMaybe`, src v13.0.8:Preferences.hs).
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
        max_affected=read_integer(found["max-affected"]) if "max-affected" in found else None,
        invalid=invalid,
    )


def _recognised(name: str, value: str) -> bool:
    if name in _SINGLE_VALUED:
        return value in _SINGLE_VALUED[name]
    if name == "timezone":
        return bool(value)
    return name == "max-affected"


def applied_header(prefs: Preferences, action: Action, *, resolution_applied: bool = False) -> str | None:
    """`Preference-Applied` in PostgREST's fixed order; None when nothing was applied.

    What each action echoes follows src v13.0.8:Response.hs: resolution only on a POST where it
    took effect (a PK or `on_conflict`); `missing` on POST and PATCH; `return` on writes;
    `max-affected` on PATCH and DELETE, with strict handling (the only place it is enforced);
    `tx` never (db-tx-end=commit); `timezone` never (this server does not apply it).
    """
    items: list[str] = []
    if prefs.resolution and resolution_applied and action == "create":
        items.append(f"resolution={prefs.resolution}")
    if prefs.missing and action in ("create", "update"):
        items.append(f"missing={prefs.missing}")
    if prefs.return_ and action != "read":
        items.append(f"return={prefs.return_}")
    if prefs.count:
        items.append(f"count={prefs.count}")
    if prefs.handling:
        items.append(f"handling={prefs.handling}")
    if enforces_max_affected(prefs, action):
        items.append(f"max-affected={prefs.max_affected}")
    return ", ".join(items) or None


def enforces_max_affected(prefs: Preferences, action: Action) -> bool:
    """`max-affected` binds PATCH and DELETE under handling=strict (Query.hs `failExceedsMaxAffectedPref`)."""
    return prefs.max_affected is not None and prefs.strict and action in ("update", "delete")
