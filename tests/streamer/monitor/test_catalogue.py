"""The console's words: one catalogue per language with the same keys, and every key the page
uses (in its HTML, its scripts, and the keys it builds from a job's status or kind) in both."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from streamer.state.jobs import OPERATOR_ACTIONS, STATUSES

STATIC = Path(__file__).resolve().parents[3] / "streamer" / "monitor" / "static"
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
