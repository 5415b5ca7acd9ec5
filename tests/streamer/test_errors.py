"""The service's one error tree: every exception class the service defines descends from
`StreamerError`, and the drawing in streamer/errors.py names each of them."""

from __future__ import annotations

import ast
from pathlib import Path

import streamer.errors

STREAMER = Path(__file__).resolve().parents[2] / "streamer"
# Exceptions used as signals inside one module, never raised to a caller: not part of the tree.
SIGNALS = {"Abandoned", "Stopped", "_NothingToRetry", "Poison", "Unanswered", "NotWired"}


def exception_classes() -> dict[str, list[str]]:
    """Class name → base names, for every class of the streamer package that derives (directly or
    through another class found here) from an exception."""
    bases: dict[str, list[str]] = {}
    for path in STREAMER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases[node.name] = [b.id if isinstance(b, ast.Name) else ast.unparse(b) for b in node.bases]
    found: dict[str, list[str]] = {}
    changed = True
    while changed:
        changed = False
        for name, parents in bases.items():
            if name not in found and any(p in found or p.endswith(("Exception", "Error")) for p in parents):
                found[name] = parents
                changed = True
    return found


def test_every_service_error_descends_from_streamer_error() -> None:
    """Apart from module-local signals, no exception class of the service stands outside the tree."""
    classes = exception_classes()

    def rooted(name: str) -> bool:
        return name == "StreamerError" or any(p in classes and rooted(p) for p in classes.get(name, []))

    assert sorted(name for name in classes if name not in SIGNALS and not rooted(name)) == []


def test_the_tree_in_the_docstring_names_every_class() -> None:
    """streamer/errors.py draws every StreamerError subclass, wherever it is defined."""
    drawn = streamer.errors.__doc__ or ""
    classes = exception_classes()
    assert sorted(name for name in classes if name not in SIGNALS and name not in drawn) == []
