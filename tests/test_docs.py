"""Comments cite the project's own documents under docs/, and every citation resolves.

A citation is `docs/<name>.md`, optionally followed by section numbers (`docs/postgrest.md §1.3,
§2.2`), a point (`docs/cdc-failure-modes.md §2, point 8`) or, for the design, a section name
(`docs/design.md, Delivery`). Documents outside the repository are never cited.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# Where citations live; devserver/ and devstack/ once the development tools move out of streamer/.
CITING = ("streamer", "connectors", "schemas", "tests", "scripts", "devserver", "devstack", "monitoring", "docs",
          "README.md")
SKIPPED_DIRS = {".git", ".venv", ".stack", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache",
                "node_modules", "build", "dist"}

# `docs/x.md`, then section numbers joined by commas, slashes, "and", line breaks and comment marks.
CITATION = re.compile(
    r"docs/(?P<name>[\w-]+)\.md"
    r"(?P<sections>(?:(?:\s|[,/;#*]|--|and\b)*§\d+(?:\.\d+)*)*)"
    r"(?:,\s*point\s+(?P<point>\d+))?"
)
DESIGN_SECTION = re.compile(r"docs/design\.md,\s+(?P<title>[A-Z][A-Za-z ]*)")
SECTION_NUMBER = re.compile(r"§(\d+(?:\.\d+)*)")
HEADING = re.compile(r"^#+\s+(?P<title>.+?)\s*$", re.MULTILINE)
# Documents that are not in the repository, and citations of ours without their folder. The file
# names are matched with any path before them, which must be exactly `docs/` (lower case).
FOREIGN = re.compile(r"\.\./shared|shared/reference|cdc-anchors\.md|kafka-from-maven\.md")
UNFILED = re.compile(r"(?<![\w./-])(?P<path>[\w./-]*/)?(?P<name>DESIGN\.md|postgrest\.md)")


def headings(doc: Path) -> list[str]:
    return HEADING.findall(doc.read_text(encoding="utf-8"))


def broken_citations(text: str, docs: Path = DOCS) -> list[str]:
    """What in `text` cites a missing document, section number, point or design section."""
    problems = []
    for match in CITATION.finditer(text):
        cited = f"docs/{match['name']}.md"
        doc = docs / f"{match['name']}.md"
        if not doc.is_file():
            problems.append(f"{cited}: no such document")
            continue
        titles = headings(doc)
        numbers = {m[1] for title in titles if (m := re.match(r"§(\d+(?:\.\d+)*)(?![\d.])", title))}
        for number in SECTION_NUMBER.findall(match["sections"]):
            if number not in numbers:
                problems.append(f"{cited} §{number}: no such section heading")
        if match["point"] and not any(re.match(rf"Point {match['point']}\b", title) for title in titles):
            problems.append(f"{cited} point {match['point']}: no such point heading")
    for match in DESIGN_SECTION.finditer(text):
        titles = headings(docs / "design.md")
        if not any(match["title"] == t or match["title"].startswith(t + " ") for t in titles):
            problems.append(f"docs/design.md, {match['title']}: no such section heading")
    return problems


def stale_citations(text: str) -> list[str]:
    """What in `text` cites a document outside the repository, or one of ours without `docs/`."""
    found = [m[0] for m in FOREIGN.finditer(text)]
    found += [m[0] for m in UNFILED.finditer(text) if m["path"] != "docs/" or m["name"] == "DESIGN.md"]
    return found


def text_files(*roots: Path) -> Iterator[tuple[Path, str]]:
    for root in roots:
        paths = [root] if root.is_file() else sorted(root.rglob("*")) if root.is_dir() else []
        for path in paths:
            if not path.is_file() or SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts):
                continue
            if path == Path(__file__).resolve():
                continue  # this file names the forbidden patterns to look for them
            try:
                yield path, path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue  # images and other binary files cite nothing


def test_every_cited_document_and_section_exists() -> None:
    """Each `docs/<name>.md` cited in code, tests, scripts or the README exists, with the cited § heading."""
    problems = [f"{path.relative_to(ROOT)}: {problem}"
                for path, text in text_files(*(ROOT / name for name in CITING))
                for problem in broken_citations(text)]
    assert problems == []


def test_nothing_cites_documents_outside_the_repository() -> None:
    """No file cites ../shared, the old reference names, or DESIGN.md / postgrest.md without `docs/`."""
    problems = [f"{path.relative_to(ROOT)}: {cited}"
                for path, text in text_files(ROOT)
                for cited in stale_citations(text)]
    assert problems == []


def test_the_citations_in_the_code_are_found() -> None:
    """The citation pattern sees the forms the code uses, so the checks above check something."""
    cited = [(m["name"], SECTION_NUMBER.findall(m["sections"]), m["point"]) for m in CITATION.finditer(
        "(docs/postgrest.md §1.2,\n# §2.3 and §4) docs/postgrest.md §1.3/§1.4: "
        "(docs/cdc-failure-modes.md §2, point 8) docs/design.md, Delivery")]
    assert cited == [("postgrest", ["1.2", "2.3", "4"], None), ("postgrest", ["1.3", "1.4"], None),
                     ("cdc-failure-modes", ["2"], "8"), ("design", [], None)]


@pytest.mark.parametrize("text", [
    "see docs/postgrest.md §9.9",
    "see docs/postgrest.md §1.2, §1.99",
    "see docs/nowhere.md",
    "see docs/cdc-failure-modes.md §2, point 11",
    "(docs/design.md, Exactly once)",
])
def test_a_broken_citation_is_reported(text: str) -> None:
    """A missing document, section number, point or design section is reported."""
    assert broken_citations(text) != []


@pytest.mark.parametrize("text", [
    "(postgrest.md §4.2)", "DESIGN.md, Delivery", "docs/DESIGN.md", "see /work/shared/DESIGN.md",
    "../shared/reference/postgrest.md", "cdc-anchors.md §2", "reference/postgrest.md",
])
def test_a_stale_citation_is_reported(text: str) -> None:
    """A citation of a document outside the repository, or without `docs/`, is reported."""
    assert stale_citations(text) != []


# `scripts/<file>` named anywhere the citations live (a benchmark a figure comes from, a tool to run).
SCRIPT = re.compile(r"(?<![\w./-])scripts/(?P<path>[\w./-]*\w)")


def missing_scripts(text: str, root: Path = ROOT) -> list[str]:
    """The `scripts/...` paths named in `text` that are not in the repository."""
    return sorted({f"scripts/{m['path']}" for m in SCRIPT.finditer(text)
                   if not (root / "scripts" / m["path"]).exists()})


def test_every_named_script_exists() -> None:
    """A figure's source or a command the docs give names a script that is still there."""
    problems = [f"{path.relative_to(ROOT)}: {name}"
                for path, text in text_files(*(ROOT / name for name in CITING))
                for name in missing_scripts(text)]
    assert problems == []


def test_a_removed_script_is_reported() -> None:
    assert missing_scripts("from `scripts/bench_sink.py`; run scripts/bench --quick") == ["scripts/bench_sink.py"]
