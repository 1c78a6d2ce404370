"""Message catalogues (English, Korean) and the choice of language for a request.

The catalogues are JSON files in ``catalogues/`` (msgid → text), read once at
start: no compile step. A msgid is the English text itself; the English
catalogue may reword it. Placeholders use ``{name}`` and are filled after
translation, so a translator may move them.

The language of a request: ``?lang=`` > the ``medhaven_lang`` cookie >
``Accept-Language`` > English.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources

LANGUAGES: tuple[str, ...] = ("en", "ko")
DEFAULT_LANGUAGE = "en"
LANG_COOKIE = "medhaven_lang"
LANGUAGE_NAMES = {"en": "English", "ko": "한국어"}

Translate = Callable[..., str]


@cache
def catalogue(lang: str) -> Mapping[str, str]:
    """The messages of one language (msgid → text)."""
    if lang not in LANGUAGES:
        raise KeyError(lang)
    text = resources.files("medhaven.web").joinpath("catalogues", f"{lang}.json").read_text("utf-8")
    data = json.loads(text)
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(f"catalogues/{lang}.json: not an object of strings")
    return data


def translator(lang: str) -> Translate:
    """``_(msgid, **values)`` for one language; a missing msgid falls back to itself."""
    messages = catalogue(lang)

    def _(msgid: str, **values: object) -> str:
        text = messages.get(msgid, msgid)
        return text.format(**values) if values else text

    return _


def parse_accept_language(header: str | None) -> str | None:
    """The supported language the browser prefers most, if any (``ko-KR`` counts as ``ko``)."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, index, primary))
    return min(ranked)[2] if ranked else None


def choose_language(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """``?lang=`` > cookie > ``Accept-Language`` > English; unknown values are ignored."""
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return str(candidate)
    return parse_accept_language(accept_language) or DEFAULT_LANGUAGE


__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "LANG_COOKIE",
    "Translate",
    "catalogue",
    "choose_language",
    "parse_accept_language",
    "translator",
]
