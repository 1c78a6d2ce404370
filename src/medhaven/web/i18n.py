"""Message catalogues (English, Korean) and the choice of language for a request.

The catalogues are JSON files in ``catalogues/`` (msgid → text), read once at
start: no compile step. A language's catalogue is ``{lang}.json`` merged with
its parts ``{part}.{lang}.json`` (one part per group of pages). A msgid is the English text itself; the English
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
    merged: dict[str, str] = {}
    folder = resources.files("medhaven.web").joinpath("catalogues")
    names = sorted(p.name for p in folder.iterdir() if catalogue_language(p.name) == lang)
    for name in names:
        data = json.loads(folder.joinpath(name).read_text("utf-8"))
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise ValueError(f"catalogues/{name}: not an object of strings")
        for msgid, text in data.items():
            if merged.get(msgid, text) != text:
                raise ValueError(f"catalogues/{name}: {msgid!r} translated twice, differently")
            merged[msgid] = text
    return merged


def catalogue_language(filename: str) -> str | None:
    """The language of a catalogue file: ``ko.json`` or a part such as ``admin.ko.json``."""
    parts = filename.split(".")
    if len(parts) < 2 or parts[-1] != "json" or parts[-2] not in LANGUAGES:
        return None
    return parts[-2]


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
    "catalogue_language",
    "choose_language",
    "parse_accept_language",
    "translator",
]
