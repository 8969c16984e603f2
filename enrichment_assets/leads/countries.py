"""Country names as exports write them, in any common language or form, to ISO 3166-1 alpha-2.

``US``, ``USA``, ``United States of America``, ``Estados Unidos``, ``España``, ``Deutschland``,
``Allemagne``, ``Países Bajos``: CRMs store whatever the rep or the form typed. Names come from pycountry
(ISO 3166 names, official names, common names) and from the ISO 3166 translations pycountry ships, in
the languages below; a few everyday forms that neither has (``UK``, ``Holland``, ``England``) are listed
here. Matching ignores case, accents and punctuation. A name that two countries share in different
languages is not guessed.
"""

from __future__ import annotations

import gettext
import re
import unicodedata
from functools import lru_cache

import pycountry

#: Languages whose country names are recognised (pycountry's iso3166-1 translations).
LANGUAGES: tuple[str, ...] = (
    "ar", "bg", "ca", "cs", "da", "de", "el", "es", "et", "fi", "fr", "ga", "he", "hi", "hr", "hu", "id", "is",
    "it", "ja", "ko", "lt", "lv", "ms", "mt", "nb_NO", "nl", "nn", "pl", "pt", "pt_BR", "ro", "ru", "sk", "sl",
    "sr", "sr@latin", "sv", "th", "tr", "uk", "vi", "zh_CN", "zh_HK", "zh_TW",
)

_EVERYDAY = {
    "uk": "GB", "u k": "GB", "england": "GB", "scotland": "GB", "wales": "GB", "great britain": "GB",
    "britain": "GB", "northern ireland": "GB",
    "usa": "US", "u s": "US", "u s a": "US", "america": "US", "united states of america": "US",
    "holland": "NL", "the netherlands": "NL", "south korea": "KR", "korea": "KR", "north korea": "KP",
    "russia": "RU", "uae": "AE", "czech republic": "CZ", "turkey": "TR", "ivory coast": "CI",
    "vietnam": "VN", "iran": "IR", "taiwan": "TW", "bolivia": "BO", "venezuela": "VE", "tanzania": "TZ",
    "syria": "SY", "laos": "LA", "moldova": "MD", "macedonia": "MK", "swaziland": "SZ", "burma": "MM",
    "cape verde": "CV", "vatican": "VA", "palestine": "PS", "hong kong sar": "HK", "macau": "MO",
    "republic of ireland": "IE", "eire": "IE", "россия": "RU", "schweiz suisse svizzera": "CH",
}


def country_key(text: str) -> str:
    """Casefold, drop accents, and reduce punctuation and spacing to single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^\w]+", " ", stripped).split())


def _english_names(country) -> list[str]:
    return [name for attr in ("name", "official_name", "common_name")
            if (name := getattr(country, attr, None))]


@lru_cache(maxsize=1)
def _names() -> dict[str, str | None]:
    """Every known name -> alpha-2, or None where languages disagree (never guessed)."""
    names: dict[str, str | None] = {}

    def add(name: str, code: str) -> None:
        key = country_key(name)
        if key and names.setdefault(key, code) != code:
            names[key] = None

    translations = []
    for language in LANGUAGES:
        try:
            translations.append(gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[language]))
        except OSError:
            continue  # a pycountry release without this language
    for country in pycountry.countries:
        for name in _english_names(country):
            add(name, country.alpha_2)
            for translation in translations:
                add(translation.gettext(name), country.alpha_2)
    return names


@lru_cache(maxsize=4_096)
def country_code(text: str) -> str | None:
    """ISO alpha-2 for a code (``de``, ``DEU``, ``276``) or a name in a known language; None if unknown."""
    key = country_key(text)
    if not key:
        return None
    if key in _EVERYDAY:
        return _EVERYDAY[key]
    try:
        return pycountry.countries.lookup(text.strip()).alpha_2
    except LookupError:
        pass
    code = _names().get(key)
    if code:
        return code
    bare = re.sub(r"^the ", "", key)
    return _names().get(bare) or _EVERYDAY.get(bare)
