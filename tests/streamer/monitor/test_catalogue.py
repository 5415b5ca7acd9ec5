"""The console's words: one catalogue per language with the same keys, and every key the page
uses (in its HTML, its scripts, and the keys it builds from a job's status or kind) in both; and
every text the server can send as a code (streamer/texts.py, found in the server's own code) in
both, the English one in the server's very words."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import orjson
import pytest

from streamer.state.jobs import OPERATOR_ACTIONS, STATUSES
from streamer.texts import ENGLISH, PLACEHOLDER

SERVER = Path(__file__).resolve().parents[3] / "streamer"
STATIC = SERVER / "monitor" / "static"
LANGS = ("pt-BR", "en")


def catalogue(lang: str) -> dict[str, str]:
    data: dict[str, str] = orjson.loads((STATIC / "i18n" / f"{lang}.json").read_bytes())
    return data


def used_keys() -> set[str]:
    html = (STATIC / "index.html").read_text()
    scripts = "".join((STATIC / name).read_text() for name in ("monitor.js", "charts.js", "i18n.js"))
    keys = set(re.findall(r'data-i18n(?:-placeholder|-title)?="([^"]+)"', html))
    keys |= set(re.findall(r'\bt\("([a-z_]+\.[a-z_0-9]+)"', scripts))
    keys |= set(re.findall(r'"(charts\.s_[a-z0-9]+)"', scripts))
    # Keys the page builds from data: statuses, kinds, actions, check and finding verdicts.
    keys |= {f"status.{s}" for s in STATUSES} | {f"kind.{k}" for k in ("export", "replay", "retry")}
    keys |= {f"action.{a}{suffix}" for a in (*OPERATOR_ACTIONS, "retry") for suffix in ("", "_hint")}
    keys |= {f"check.{s}" for s in ("ok", "warn", "fail", "skip")} | {"severity.error", "severity.warning"}
    keys |= {f"verify.{k}" for k in ("missing", "extra", "different")}
    return keys


def test_both_languages_have_the_same_keys() -> None:
    """pt-BR and English name exactly the same keys, none of them empty."""
    pt, en = catalogue("pt-BR"), catalogue("en")
    assert sorted(set(pt) ^ set(en)) == []
    assert [k for k, v in {**pt, **en}.items() if not v.strip()] == []


@pytest.mark.parametrize("lang", LANGS)
def test_every_key_the_page_uses_is_in_the_catalogue(lang: str) -> None:
    """No word of the page is missing from a catalogue (the page would show the bare key)."""
    assert sorted(used_keys() - set(catalogue(lang))) == []


@pytest.mark.parametrize("lang", LANGS)
def test_placeholders_agree_between_languages(lang: str) -> None:
    """A message's {placeholders} are the same in both languages, so no figure goes missing."""
    pt, other = catalogue("pt-BR"), catalogue(lang)
    names = re.compile(r"\{(\w+)\}")
    assert [k for k in pt if set(names.findall(pt[k])) != set(names.findall(other[k]))] == []


def test_the_page_writes_no_english_outside_the_catalogue() -> None:
    """Every visible text of the page's HTML is marked for translation (data-i18n), except names."""
    html = (STATIC / "index.html").read_text()
    body = html.split("<body>", 1)[1]
    texts = re.findall(r">([^<>]*[A-Za-zÀ-ú][^<>]*)<", body)
    fixed = {"Português (BR)", "English", "/metrics", "/readyz", "×"}
    untranslated = [text.strip() for text in texts if text.strip() and text.strip() not in fixed]
    marked = re.findall(r'data-i18n="[^"]+"[^>]*>([^<]*)<', body)
    assert sorted(set(untranslated) - {m.strip() for m in marked}) == []


def codes_said_in_the_server() -> dict[str, list[str]]:
    """Every code a `said(...)` call in streamer/ names, with where: read from the source, so a
    text added to the server is found without anyone listing it here."""
    found: dict[str, list[str]] = {}
    for path in sorted(SERVER.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "said"):
                continue
            first = node.args[0] if node.args else None
            # A literal, or a choice between literals: anything else could not be checked here.
            literals = [n.value for n in ast.walk(first) if isinstance(n, ast.Constant)] if first else []
            where = f"{path.relative_to(SERVER.parent)}:{node.lineno}"
            assert isinstance(first, ast.Constant | ast.IfExp) and literals and all(
                isinstance(v, str) for v in literals), f"{where}: said() needs a literal code"
            for code in literals:
                found.setdefault(code, []).append(where)
    return found


def test_every_code_the_server_says_has_english_words_and_no_text_is_unused() -> None:
    """Each `said("<code>")` in streamer/ names a text of streamer/texts.py, and each text there is said."""
    said = codes_said_in_the_server()
    assert {code: where for code, where in said.items() if code not in ENGLISH} == {}
    assert sorted(set(ENGLISH) - set(said)) == []


@pytest.mark.parametrize("lang", LANGS)
def test_every_text_the_server_sends_is_in_the_catalogue(lang: str) -> None:
    """`msg.<code>` for every code the server can send, with the server's placeholders, and no
    `msg.` key for a code it no longer sends."""
    words = catalogue(lang)
    server = {f"msg.{code}" for code in ENGLISH}
    assert sorted(server - set(words)) == []
    assert sorted(k for k in words if k.startswith("msg.") and k not in server) == []
    assert [code for code, text in ENGLISH.items()
            if set(PLACEHOLDER.findall(words[f"msg.{code}"])) != set(PLACEHOLDER.findall(text))] == []


def test_the_english_catalogue_says_what_the_server_says() -> None:
    """The console in English shows a server text in the CLI's very words."""
    en = catalogue("en")
    assert {code: en[f"msg.{code}"] for code in ENGLISH if en.get(f"msg.{code}") != ENGLISH[code]} == {}


def test_the_portuguese_catalogue_translates_the_server_texts() -> None:
    """A pt-BR entry is not the English left in place, unless the text has no words to translate
    (only placeholders, SQL and codes: `{code}: {reason}`, `ALTER TABLE ... {policy}`)."""
    pt = catalogue("pt-BR")
    has_words = re.compile(r"(?<![.\w])[a-z]{3,}(?![.\w])")  # a word, not a name such as public.
    assert sorted(code for code, text in ENGLISH.items()
                  if pt[f"msg.{code}"] == text and has_words.search(PLACEHOLDER.sub("", text))) == []
