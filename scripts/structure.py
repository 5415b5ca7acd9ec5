"""Draw the package structure: each unit of the layers contract in pyproject.toml and the units it
imports, top layer first, marking any import that runs back up (or sideways between independent
siblings) and any cycle. Exit status 1 when there is one of either, so it can gate like a test.

    .venv/bin/python scripts/structure.py

The import-linter contracts (`lint-imports`, run by .ci/run) enforce the same rules with indirect
imports too; this is the picture a person reads (docs/design.md, "Where code lives").
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections import defaultdict
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def layers_contract() -> tuple[list[str], list[list[tuple[str, ...]]]]:
    """The root packages and the layers (top first): each layer a list of groups of siblings;
    siblings joined by `|` are independent (one group each), by `:` they are not (one group)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["type"] == "layers")
    layers = []
    for line in contract["layers"]:
        if "|" in line:
            layers.append([(m.strip(),) for m in line.split("|")])
        else:
            layers.append([tuple(m.strip() for m in line.split(":"))])
    return config["root_packages"], layers


def unit_of(module: str, units: list[str]) -> str | None:
    """The longest unit that is `module` or one of its ancestors."""
    best = None
    for unit in units:
        if (module == unit or module.startswith(unit + ".")) and (best is None or len(unit) > len(best)):
            best = unit
    return best


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def main() -> int:
    roots, layers = layers_contract()
    sys.path.insert(0, str(ROOT))
    graph = grimp.build_graph(*roots)
    position: dict[str, tuple[int, int]] = {}  # unit -> (layer, independent group)
    for depth, groups in enumerate(layers):
        for g, group in enumerate(groups):
            for unit in group:
                position[unit] = (depth, g)
    units = list(position)
    edges: dict[str, set[str]] = defaultdict(set)
    for module in graph.modules:
        source = unit_of(module, units)
        if source is None:
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            target = unit_of(imported, units)
            if target is not None and target != source:
                edges[source].add(target)
    bad = 0
    for depth, groups in enumerate(layers):
        print(f"layer {depth}: " + " | ".join(" : ".join(g) for g in groups))
        for group in groups:
            for unit in group:
                marks = []
                for target in sorted(edges.get(unit, ())):
                    up = position[target][0] < depth or (
                        position[target][0] == depth and position[target][1] != position[unit][1])
                    bad += up
                    marks.append(f"{target}{'  <-- BACK UP' if up else ''}")
                print(f"  {unit:<24} -> " + (", ".join(marks) if marks else "(nothing of ours)"))
    loops = cycles(edges)
    for loop in loops:
        print("cycle: " + " -> ".join(loop))
    outside = sorted({m.split(".")[0] + "." + m.split(".")[1] for m in graph.modules
                      if m.count(".") >= 1 and unit_of(m, units) is None and not re.fullmatch(r"\w+\.__\w+__", m)})
    if outside:
        print("not in any layer: " + ", ".join(outside))
    print(f"{bad} import(s) back up, {len(loops)} cycle(s)")
    return 1 if bad or loops else 0


if __name__ == "__main__":
    sys.exit(main())
