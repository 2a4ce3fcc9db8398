"""Interface language: chosen by ?lang=, then the pm_lang cookie, then Accept-Language; English by default.

`Translator` looks strings up in `service.web.catalogue`, clinical-area names in the
vocabulary and country names in pycountry's own translations. A missing key shows the
English string (and the key itself as a last resort), never an error page.
"""
from __future__ import annotations

import gettext
from dataclasses import dataclass
from functools import lru_cache

from fastapi import Request

from service.web.catalogue import CATALOGUE

LANGS = ("en", "fr", "pt")
LANG_NAMES = {"en": "English", "fr": "Français", "pt": "Português"}  # each in its own language
LANG_COOKIE = "pm_lang"


def _from_accept_language(header: str) -> str | None:
    """The best of our languages in an Accept-Language header ('fr-SN,fr;q=0.9,en;q=0.5' -> 'fr')."""
    best: tuple[float, str] | None = None
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        code = tag.strip().lower()[:2]
        if code not in LANGS:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0 and (best is None or q > best[0]):
            best = (q - position * 1e-6, code)  # equal q: the earlier tag wins
    return best[1] if best else None


def choose_language(request: Request) -> tuple[str, bool]:
    """(language, whether it came from ?lang= and should be remembered in the cookie)."""
    asked = request.query_params.get("lang", "").lower()
    if asked in LANGS:
        return asked, True
    cookie = request.cookies.get(LANG_COOKIE, "")
    if cookie in LANGS:
        return cookie, False
    return _from_accept_language(request.headers.get("accept-language", "")) or "en", False


@lru_cache(maxsize=8)
def _country_names(lang: str) -> dict[str, str]:
    """ISO alpha-2 code -> country name in `lang` (pycountry's translations)."""
    import pycountry

    translate = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang], fallback=True).gettext
    names: dict[str, str] = {}
    for country in pycountry.countries:
        common = getattr(country, "common_name", None)
        name = translate(common) if common else None
        if not name or (name == common and lang != "en"):
            name = translate(country.name)
        names[country.alpha_2] = name
    return names


@lru_cache(maxsize=1)
def _area_names() -> dict[str, dict[str, str]]:
    from matcher.areas import load_vocabulary

    return load_vocabulary().names


@dataclass(frozen=True)
class Translator:
    """Strings of one language; call it with a catalogue key and placeholder values."""

    lang: str

    def __call__(self, key: str, **values: object) -> str:
        entry = CATALOGUE.get(key)
        if entry is None:
            return key
        text = entry[LANGS.index(self.lang)] or entry[0]
        return text.format(**values) if values else text

    def area(self, area_id: str) -> str:
        """A clinical area's name."""
        names = _area_names().get(area_id)
        return names.get(self.lang) or names["en"] if names else area_id

    def country(self, code: str | None) -> str:
        """A country's name from its ISO code (the code itself when unknown)."""
        return _country_names(self.lang).get((code or "").upper(), code or "")

    def countries(self) -> list[tuple[str, str]]:
        """Every (code, name), sorted by name in this language."""
        return sorted(_country_names(self.lang).items(), key=lambda kv: _fold(kv[1]))

    def language(self, code: str) -> str:
        """A language's name ('fr' -> 'French')."""
        return self(f"lang.{code}") if code in LANGS else code

    def modality(self, code: str) -> str:
        """A way of working's name."""
        return self(f"modality.{code}")


def _fold(text: str) -> str:
    """Lower-case, accents removed: 'Égypte' sorts with 'Egypte'."""
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if not unicodedata.combining(c))
