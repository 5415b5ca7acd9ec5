"""What the console's buttons run that belongs to other features: the schema check and the cache
reload (validation), the connection test (validation), verification and repair (verify), and
installing a field mapping (the sink's `mapping import`). The monitor imports none of them
(features are independent, docs/design.md "Where code lives"): the command layer builds these
callables over the settings and passes them in (`streamer/cli/console.py`, wired in
`streamer/cli/components.py`), as history's `land=` is.

Each returns plain JSON-able data for the page, its sentences in English with their codes and
parameters beside them (streamer/texts.py: a finding's `code`/`params`, a check's
`detail_code`/`detail_params` and `fix_code`/`fix_params`, the reload's `how_code`/`how_params`);
a refusal the operator can act on is a `streamer.errors.StreamerError` whose message says what
is wrong (answered 422).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True)
class Operations:
    # {"ok", "schema_name", "table", "findings": [{severity, column, message, code, params, ...}], "fix_sql"}
    validate_schema: Callable[[], Awaitable[Json]]
    # {"ok", "how", "how_code", "how_params", "seconds", "missing": [...], "not_in_database": [...]}: one outcome
    reload_cache: Callable[[], Awaitable[Json]]
    # {"ok", "checks": [{name, status, detail, fix, detail_code, detail_params, fix_code, fix_params}]}
    test_connection: Callable[[], Awaitable[Json]]
    # {"missing", "extra", "different", "first_missing", ..., "seconds", "destination_read"}
    verify: Callable[[], Awaitable[Json]]
    # (actor, delete_extra) -> the verification's counts plus {"job_id", "filed", "deleted"}
    repair: Callable[[str, bool], Awaitable[Json]]
    # () -> {"mapping": the seed's JSON, "file": path or None}
    current_mapping: Callable[[], Awaitable[Json]]
    # (the seed's JSON as bytes, actor) -> the mapping installed; StreamerError when refused
    install_mapping: Callable[[bytes, str], Awaitable[Json]]
