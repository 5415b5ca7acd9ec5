"""The comparison, pure: id ranges summarised on both sides, split where they differ, listed where small.

    [lo, hi] ── summaries differ? ── no: equal, done
                      │ yes
          at most `leaf_size` rows on either side? ── yes: list both sides' (id, hash) rows, diff them
                      │ no
          split into `fanout` ranges of equal width, compare each again

A side answers two questions (`Side`): a (count, hash) summary per range, and the (id, hash)
rows of ranges. A row's hash is a signed 64-bit integer and a range's hash the sum of its rows'
modulo 2^64 (`fold`), so a side that can only list rows (the development server's API) adds
them up to the very number the SQL function returns (schemas/sql/common/020_verify.sql).

Ranges are walked depth first, `batch` at a time: what is held at once is bounded by the depth
(at most 16 levels of 16-way splits cover the bigint domain) times `batch` times `fanout`
summaries, plus one batch of leaves; the differences leave through `Differences.add` as each
leaf batch is diffed.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

MODULUS = 2**64
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True, order=True)
class Range:
    """The ids `lo` to `hi`, both included."""

    lo: int
    hi: int

    def __post_init__(self) -> None:
        if self.lo > self.hi:
            raise ValueError(f"an empty range: {self.lo} > {self.hi}")

    @property
    def width(self) -> int:
        return self.hi - self.lo + 1


@dataclass(frozen=True, slots=True)
class Summary:
    count: int
    hash: int  # 0 .. 2^64 - 1


EMPTY = Summary(0, 0)


def split(r: Range, parts: int) -> list[Range]:
    """`r` cut into at most `parts` ranges of equal width (the last may be narrower), in order.

    >>> split(Range(0, 9), 4)
    [Range(lo=0, hi=2), Range(lo=3, hi=5), Range(lo=6, hi=8), Range(lo=9, hi=9)]
    """
    if parts < 2:
        raise ValueError("split into 2 parts or more")
    step = -(-r.width // parts)  # ceiling division
    return [Range(lo, min(lo + step - 1, r.hi)) for lo in range(r.lo, r.hi + 1, step)]


def row_hash(lead_id: int, updated_at_micros: int | str | None) -> int:
    """A row's hash without chosen columns, as the SQL computes it: the first 64 bits of
    md5("<id>|<updated_at as epoch microseconds, `infinity`, or N for NULL>"), signed.

    >>> row_hash(1, 1704067200123456) == row_hash(1, 1704067200123456)
    True
    """
    text = f"{lead_id}|{'N' if updated_at_micros is None else updated_at_micros}"
    value = int(hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()[:16], 16)
    return value - MODULUS if value >= 2**63 else value


def fold(hashes: Sequence[int] | list[int]) -> Summary:
    """The summary of rows with these hashes: their count and their sum modulo 2^64."""
    return Summary(len(hashes), sum(hashes) % MODULUS)


class Side(Protocol):
    """One database's leads, as the comparison reads them."""

    async def bounds(self) -> Range | None:
        """The lowest and highest id, or None when there is no lead."""
        ...

    async def summaries(self, ranges: Sequence[Range]) -> list[Summary]:
        """One summary per range, in order."""
        ...

    async def rows(self, ranges: Sequence[Range]) -> list[tuple[int, int]]:
        """(id, hash) of every row in the ranges, by id."""
        ...


@dataclass
class Differences:
    """What the comparison found: counts, the first `keep` ids of each kind, and `on_leaf` called
    with every leaf's findings (for a repair that must see them all without holding them)."""

    keep: int = 20
    on_leaf: Callable[[list[int], list[int], list[int]], Awaitable[None]] | None = None
    missing: int = 0
    extra: int = 0
    different: int = 0
    first_missing: list[int] = field(default_factory=list)
    first_extra: list[int] = field(default_factory=list)
    first_different: list[int] = field(default_factory=list)
    ranges_compared: int = 0
    rows_listed: int = 0

    @property
    def total(self) -> int:
        return self.missing + self.extra + self.different

    async def add(self, missing: list[int], extra: list[int], different: list[int]) -> None:
        self.missing += len(missing)
        self.extra += len(extra)
        self.different += len(different)
        for found, first in ((missing, self.first_missing), (extra, self.first_extra),
                             (different, self.first_different)):
            first.extend(found[:max(0, self.keep - len(first))])
        if self.on_leaf is not None and (missing or extra or different):
            await self.on_leaf(missing, extra, different)


def diff_rows(source: Sequence[tuple[int, int]], destination: Sequence[tuple[int, int]]
              ) -> tuple[list[int], list[int], list[int]]:
    """(missing, extra, different) ids between two id-ordered (id, hash) listings.

    >>> diff_rows([(1, 10), (2, 20), (3, 30)], [(2, 20), (3, 31), (4, 40)])
    ([1], [4], [3])
    """
    src, dst = dict(source), dict(destination)
    missing = sorted(k for k in src if k not in dst)
    extra = sorted(k for k in dst if k not in src)
    different = sorted(k for k, h in src.items() if k in dst and dst[k] != h)
    return missing, extra, different


@dataclass(frozen=True)
class Plan:
    """How to walk: split `fanout` ways, list ranges of `leaf_size` rows or fewer, ask `batch`
    ranges per round trip."""

    fanout: int = 16
    leaf_size: int = 1000
    batch: int = 64
    # Rows listed per call, both leaves' rows together: PostgREST cuts longer answers at
    # db-max-rows (1000 on Supabase) without saying so.
    rows_per_call: int = 1000

    def __post_init__(self) -> None:
        if self.fanout < 2 or self.leaf_size < 1 or self.batch < 1:
            raise ValueError("fanout must be 2 or more, leaf_size and batch 1 or more")
        if self.rows_per_call < self.leaf_size:
            raise ValueError("rows_per_call must be at least leaf_size")


def span(a: Range | None, b: Range | None) -> Range | None:
    """The smallest range holding both (None when both sides are empty)."""
    if a is None or b is None:
        return a or b
    return Range(min(a.lo, b.lo), max(a.hi, b.hi))


async def compare(source: Side, destination: Side, plan: Plan, found: Differences) -> Differences:
    """Compare both sides' leads, reporting every difference to `found` (and returning it)."""
    top = span(*await asyncio.gather(source.bounds(), destination.bounds()))
    if top is None:
        return found
    # The top range's own summary would cost as much as its children's: start from those.
    pending: list[Range] = [top] if top.width == 1 else split(top, plan.fanout)[::-1]
    leaves: list[Range] = []
    leaf_rows = 0
    while pending:
        batch = [pending.pop() for _ in range(min(plan.batch, len(pending)))]
        src, dst = await asyncio.gather(source.summaries(batch), destination.summaries(batch))
        found.ranges_compared += len(batch)
        children: list[Range] = []
        for r, s, d in zip(batch, src, dst, strict=True):
            if s == d:
                continue
            rows = max(s.count, d.count)
            if rows <= plan.leaf_size:  # always so once width <= leaf_size
                if leaves and leaf_rows + rows > plan.rows_per_call:
                    await _diff_leaves(source, destination, leaves, found)
                    leaves, leaf_rows = [], 0
                leaves.append(r)
                leaf_rows += rows
            else:
                children.extend(split(r, plan.fanout))
        pending.extend(reversed(children))  # depth first, left to right
    if leaves:
        await _diff_leaves(source, destination, leaves, found)
    return found


async def _diff_leaves(source: Side, destination: Side, leaves: list[Range], found: Differences) -> None:
    leaves.sort()
    src, dst = await asyncio.gather(source.rows(leaves), destination.rows(leaves))
    found.rows_listed += len(src) + len(dst)
    await found.add(*diff_rows(src, dst))
