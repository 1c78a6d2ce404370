"""Message catalogues and the choice of language (fast: no browser)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import medhaven.web
from medhaven.web.i18n import (
    catalogue,
    catalogue_language,
    choose_language,
    parse_accept_language,
    translator,
)

WEB = Path(medhaven.web.__file__).parent
MSGID = re.compile(r'\b(?:_|N_)\(\s*"((?:[^"\\]|\\.)*)"')
# the same in both languages on purpose (a product name, a unit)
SAME_IN_KOREAN: set[str] = set()


def _used_msgids() -> set[str]:
    files = [*WEB.rglob("*.html"), *WEB.rglob("*.py")]
    found: set[str] = set()
    for f in files:
        found |= set(MSGID.findall(f.read_text("utf-8")))
    return found


def _catalogue(lang: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted((WEB / "catalogues").glob("*.json")):
        if catalogue_language(path.name) != lang:
            continue
        data = json.loads(path.read_text("utf-8"))
        assert isinstance(data, dict)
        for msgid, text in data.items():
            assert merged.get(msgid, text) == text, f"{path.name}: {msgid!r} differs"
            merged[msgid] = text
    return merged


def test_catalogue_parts_are_merged_and_named_by_language() -> None:
    assert catalogue_language("ko.json") == "ko"
    assert catalogue_language("admin.en.json") == "en"
    assert catalogue_language("admin.fr.json") is None
    assert catalogue_language("notes.txt") is None
    assert dict(catalogue("en")) == _catalogue("en")


def test_every_msgid_in_templates_and_code_is_in_both_catalogues() -> None:
    used = _used_msgids()
    assert len(used) > 100  # the extraction itself works
    for lang in ("en", "ko"):
        missing = sorted(used - set(_catalogue(lang)))
        assert missing == [], f"{lang}.json lacks {missing[:5]}"
        stale = sorted(set(_catalogue(lang)) - used)
        assert stale == [], f"{lang}.json has messages no page uses: {stale[:5]}"


def test_korean_catalogue_is_translated_and_keeps_placeholders() -> None:
    ko = _catalogue("ko")
    for msgid in _used_msgids() - SAME_IN_KOREAN:
        text = ko[msgid]
        assert text.strip() and text != msgid, f"not translated: {msgid!r}"
        assert re.search(r"[가-힣]", text), f"no Hangul in the translation of {msgid!r}"
        assert sorted(re.findall(r"\{\w+\}", text)) == sorted(re.findall(r"\{\w+\}", msgid)), msgid


def test_no_visible_english_string_outside_the_translation_function() -> None:
    # text between tags of a template that is not a Jinja expression and has letters
    leftovers = []
    for f in WEB.rglob("*.html"):
        text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|<script.*?</script>", "", f.read_text("utf-8"))
        for chunk in re.findall(r">([^<]+)<", text):
            words = set(re.findall(r"[A-Za-z]{3,}", chunk)) - {"MedHaven", "OMOP", "CDM"}
            if words:
                leftovers.append((f.name, chunk.strip()))
    assert leftovers == []


def test_translator_fills_placeholders_after_translation() -> None:
    assert translator("ko")("Request #{id}", id=7) == "신청 #7"
    assert translator("en")("Request #{id}", id=7) == "Request #7"
    assert translator("ko")("not in any catalogue") == "not in any catalogue"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", "ko"),
        ("en-GB,en;q=0.9,ko;q=0.8", "en"),
        ("fr-FR,fr;q=0.9,ko;q=0.5", "ko"),
        ("en;q=0.2, ko;q=0.8", "ko"),
        ("ko;q=0, en;q=0.1", "en"),
        ("de-DE", None),
        ("", None),
        (None, None),
        ("ko;q=abc", None),
    ],
)
def test_accept_language(header: str | None, expected: str | None) -> None:
    assert parse_accept_language(header) == expected


def test_precedence_query_then_cookie_then_header_then_english() -> None:
    assert choose_language("ko", "en", "en") == "ko"
    assert choose_language(None, "ko", "en") == "ko"
    assert choose_language("xx", "ko", "en") == "ko"  # an unknown ?lang= is ignored
    assert choose_language(None, None, "ko-KR") == "ko"
    assert choose_language(None, "de", "fr") == "en"


def test_signin_page_follows_accept_language(client: TestClient) -> None:
    r = client.get("/", headers={"Accept-Language": "ko-KR,ko;q=0.9"})
    assert r.status_code == 200
    assert '<html lang="ko">' in r.text
    assert "로그인" in r.text and "Sign in with the email" not in r.text


def test_lang_query_is_remembered_in_a_cookie(client: TestClient) -> None:
    r = client.get("/signin?lang=ko", headers={"Accept-Language": "en"})
    assert r.cookies.get("medhaven_lang") == "ko"
    assert "비밀번호" in r.text
    # the next page, without ?lang=, with an English browser: still Korean
    r = client.get("/signin", headers={"Accept-Language": "en"})
    assert '<html lang="ko">' in r.text
    r = client.get("/signin?lang=en")
    assert '<html lang="en">' in r.text and "Password" in r.text


def test_unknown_lang_query_does_not_set_a_cookie(client: TestClient) -> None:
    r = client.get("/signin?lang=xx")
    assert "medhaven_lang" not in r.cookies
    assert '<html lang="en">' in r.text
