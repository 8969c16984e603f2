"""What makes two requests the same question, for vendors that match people by name and company.

Pronto and Lantern find a person by first and last name with the company (and domain); their matching is not
case- or punctuation-sensitive, and a legal form is not part of a company's name to them. A request fingerprint
built from the raw text would make "Acme Inc" / "ANN" and "ACME, Inc." / "Ann" two questions and pay twice for
one LinkedIn profile. The fingerprint is built from these keys instead; what is *sent* stays the lead's own text
(the vendor's matching gets everything it was given). Which fields each vendor normalizes: docs/vendors.md.

Accents are kept (a vendor may tell "Müller" from "Muller"); only case, punctuation, spacing and, for
companies, a leading "the" and trailing legal forms are dropped.
"""

from __future__ import annotations

import re
import unicodedata

from enrichment_assets.phones.companies import LEGAL_SUFFIXES

#: Bumped when the keys below change (a new fingerprint for every question: older ones stay readable through
#: each client's ``legacy_fingerprints``).
IDENTITY_VERSION = 2

_DROPPED = re.compile(r"['’`.]")  # O'Brien -> obrien, J.P. -> jp
_SEPARATORS = re.compile(r"[^\w]+|_")


def _words(text: str) -> list[str]:
    text = unicodedata.normalize("NFKC", text).casefold().replace("&", " and ").replace("+", " and ")
    return [w for w in _SEPARATORS.split(_DROPPED.sub("", text)) if w]


def name_key(text: str | None) -> str | None:
    """``" Jean-Pierre "`` -> ``"jean pierre"``; ``"O'BRIEN"`` -> ``"obrien"``; ``None`` when nothing is left."""
    if not isinstance(text, str):
        return None
    return " ".join(_words(text)) or None


def company_key(text: str | None) -> str | None:
    """``"ACME, Inc."`` and ``"Acme Inc"`` -> ``"acme"``; ``"The Acme & Sons GmbH"`` -> ``"acme and sons"``."""
    if not isinstance(text, str):
        return None
    words = _words(text)
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words) or None


def domain_key(text: str | None) -> str | None:
    """``"https://WWW.Acme.io/"`` -> ``"acme.io"``."""
    if not isinstance(text, str) or not text.strip():
        return None
    host = text.strip().casefold()
    for prefix in ("https://", "http://"):
        if host.startswith(prefix):
            host = host[len(prefix):]
    host = host.split("/", 1)[0].rstrip(".")
    return host.removeprefix("www.") or None
