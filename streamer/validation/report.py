"""One line of a diagnostic report: a status, what was seen, and the fix when it is not ok.

    Check("key", "fail", "the key's role is 'anon'", fix="use the service_role key ...")

`overall(checks)` is the exit code: 1 if any check failed, else 0 (warnings pass).
`run_check` turns a probe's exception into a failed line, so one broken part never hides others;
a probe ends itself with `streamer.errors.CheckFailed(detail, fix)`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from streamer.errors import CheckFailed
from streamer.texts import Said

Status = Literal["ok", "warn", "fail", "skip"]


@dataclass(frozen=True)
class Check:
    """`detail` and `fix` in English; `detail_said` / `fix_said` the same as codes with parameters
    (streamer/texts.py), for the console to show in the operator's language (None: English only)."""

    name: str
    status: Status
    detail: str
    fix: str = ""
    detail_said: Said | None = field(default=None, compare=False, repr=False)
    fix_said: Said | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, name: str, status: Status, detail: Said, fix: Said | None = None) -> Check:
        return cls(name, status, detail.english, fix.english if fix else "", detail, fix)

    @property
    def failed(self) -> bool:
        return self.status == "fail"


def overall(checks: Sequence[Check]) -> int:
    return 1 if any(c.failed for c in checks) else 0


async def run_check(name: str, probe: Awaitable[Check]) -> Check:
    """Await `probe`; a `CheckFailed` or any other exception becomes a failed `Check`."""
    try:
        return await probe
    except CheckFailed as exc:
        return Check(name, "fail", exc.detail, exc.fix, exc.detail_said, exc.fix_said)
    except Exception as exc:  # every failure becomes a line of the report
        return Check(name, "fail", f"{type(exc).__name__}: {exc}")
