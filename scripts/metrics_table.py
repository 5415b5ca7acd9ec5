#!/usr/bin/env python3
"""Regenerate the metrics table in docs/metrics.md and README.md from the live registry (`Metrics()`).

    .venv/bin/python scripts/metrics_table.py           # rewrite the table in place
    .venv/bin/python scripts/metrics_table.py --check   # exit 1 if the table is out of date
    .venv/bin/python scripts/metrics_table.py --print   # the table alone, on stdout

Only the part between the two markers is generated; the prose around it is written by hand.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamer.metrics import Metrics  # noqa: E402 - after the path set-up, to run from a checkout
from streamer.monitor.catalogue import catalogue, markdown_table  # noqa: E402

DOCS = (ROOT / "docs" / "metrics.md", ROOT / "README.md")
START, END = "<!-- metrics-table:start -->", "<!-- metrics-table:end -->"


def render(doc: str, table: str, name: str = "the document") -> str:
    """`doc` with the text between the markers replaced by `table`."""
    head, found, rest = doc.partition(START)
    _, found_end, tail = rest.partition(END)
    if not (found and found_end):
        raise SystemExit(f"{name}: markers {START} ... {END} not found")
    return f"{head}{START}\n{table}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if a document's table is out of date")
    mode.add_argument("--print", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    table = markdown_table(catalogue(Metrics()))
    if args.print:
        sys.stdout.write(table)
        return 0
    stale = []
    for doc in DOCS:
        current = doc.read_text()
        wanted = render(current, table, str(doc.relative_to(ROOT)))
        if current == wanted:
            continue
        stale.append(str(doc.relative_to(ROOT)))
        if not args.check:
            doc.write_text(wanted)
            print(f"updated {doc.relative_to(ROOT)}")
    if args.check and stale:
        print(f"{', '.join(stale)} out of date: run scripts/metrics_table.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
