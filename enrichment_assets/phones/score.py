"""How a contact's phone numbers are scored and how the best one is chosen.

Every number any provider returned for a person becomes one row of
``contact_phones`` (one row per distinct E.164 number). Each row gets a
line type, a score, and a yes/no "personal mobile" verdict, by these rules:

1. **Parsing.** Numbers are parsed with libphonenumber (Google's phone number
   library): international numbers as written, others with the lead's
   country, then the company domain's country, as the region. A number
   libphonenumber rejects is kept with type ``invalid`` and score
   ``INVALID_SCORE`` (-100): it is stored, never chosen.

2. **Mobile evidence.**

   * *Strong:* libphonenumber says the number is in a mobile range
     (``MOBILE``). It is a mobile, whatever a vendor says.
   * *Medium:* a vendor says it is a mobile. LeadMagic's endpoint only returns
     mobiles, so every LeadMagic number counts as a mobile claim; Pronto's
     ``type`` counts when it says mobile. If vendors disagree, the claim counts
     only when more providers say mobile than say a landline type (landline,
     fixed line, office, switchboard, main line, toll-free, VoIP, fax, pager).
     Words like "work" or "direct" are recorded but count neither way.
   * *Cannot tell:* in the US, Canada and the other +1 (NANP) countries, and in
     a few others, libphonenumber cannot tell mobiles from landlines and says
     ``FIXED_LINE_OR_MOBILE``. We never call such a number a mobile on
     libphonenumber's word alone. It is a personal mobile only when a vendor
     claims so; its reported ``number_type`` is then ``mobile`` (the type column
     reflects the combined evidence), otherwise it stays
     ``fixed_line_or_mobile``.
   * *Contradiction:* when libphonenumber says the number is a landline
     (``FIXED_LINE``), or any other non-mobile type (toll-free, VoIP, ...), a
     vendor's mobile claim is wrong: the number is not a mobile and keeps
     libphonenumber's type.

3. **Switchboards.** A number returned for two or more different people of
   the same company (same company domain, or same company name without legal
   suffixes) is a switchboard or office line: never a personal mobile, and it
   takes ``SHARED_PENALTY`` (-20), which puts it below every valid number that
   is not shared. A vendor's mobile claim on a shared number is ignored.
   A number written with an extension (``x12``) is an office line too: not a
   personal mobile, ``EXTENSION_PENALTY`` (-2).
   Enrich Layer lists a person's numbers unranked with the company's
   switchboard and office lines among them (usually first): a number that
   only Enrich Layer returned, and that is not known to be a mobile, takes
   ``COMPANY_LINE_SOURCE_PENALTY`` (-0.5),
   so when nothing else tells two numbers apart, the one another provider
   returned as the person's number wins.

4. **Score** of a valid number =
   ``BASE_VALID`` (1)
   + ``AGREEMENT_BONUS`` (1) for each provider beyond the first that returned
   the same number
   + ``LIB_MOBILE_WEIGHT`` (3) if libphonenumber says mobile
   + ``VENDOR_MOBILE_WEIGHT`` (2) if the vendor mobile claim counts (rule 2)
   + ``TYPE_ADJUSTMENT`` for other types: fixed line 0, fixed-line-or-mobile 0,
   personal number 0, VoIP -1, unknown -1, toll-free -2, shared-cost -2,
   UAN (company "universal access" number) -2, pager -2, premium-rate -3,
   voicemail -3
   + the switchboard, extension and Enrich-Layer-only penalties of rule 3.

5. **Suppression.** A number on the do-not-contact list keeps its score and is
   flagged ``suppressed``; it is never chosen.

6. **Best phone** = among valid, non-suppressed numbers not shared with
   colleagues: the personal mobile with the highest score; if there is none,
   the best other number. A number shared with colleagues (rule 3) is never
   chosen: a contact whose only numbers are switchboards has no best phone
   (its ``contact_phones`` rows keep them). Ties are broken by score, then the number of providers that returned it,
   then the provider priority order (the waterfall order by default), then
   the E.164 string, so the result never depends on the order in which
   vendors answered.

7. **Contact status** (``contacts/rows.py``, ``contact_status``): ``suppressed``
   when the lead is on the do-not-contact list; else ``mobile_found`` when the
   best phone is a personal mobile; else ``pending`` when a provider that could
   still have answered did not (out of credits, over budget, failing: a rerun
   finishes it); else ``phone_found`` when there is another best phone, and
   ``not_found`` when there is none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from enrichment_assets.phones.model import ContactPhone

__all__ = [
    "AGREEMENT_BONUS",
    "BASE_VALID",
    "COMPANY_LINE_SOURCES",
    "COMPANY_LINE_SOURCE_PENALTY",
    "DEFAULT_PROVIDER_PRIORITY",
    "EXTENSION_PENALTY",
    "INVALID_SCORE",
    "LIB_MOBILE_WEIGHT",
    "SHARED_PENALTY",
    "TYPE_ADJUSTMENT",
    "VENDOR_MOBILE_WEIGHT",
    "choose_best",
    "evaluate",
    "rank_phones",
]

# --------------------------------------------------------------------------- #
# The rules, as constants
# --------------------------------------------------------------------------- #

#: Every valid number starts from this.
BASE_VALID = 1.0
#: Added for each provider beyond the first that returned the same number.
AGREEMENT_BONUS = 1.0
#: libphonenumber says MOBILE (strong evidence).
LIB_MOBILE_WEIGHT = 3.0
#: A vendor claims mobile and the claim is not contradicted (medium evidence).
VENDOR_MOBILE_WEIGHT = 2.0
#: Returned for other people of the same company: a switchboard / office line.
SHARED_PENALTY = -20.0
#: Written with an extension: an office line behind a PBX.
EXTENSION_PENALTY = -2.0
#: Returned only by providers that mix company lines into a person's numbers (see rule 3).
COMPANY_LINE_SOURCE_PENALTY = -0.5
COMPANY_LINE_SOURCES: frozenset[str] = frozenset({"enrichlayer"})
#: Score of a number libphonenumber rejects (kept, never chosen).
INVALID_SCORE = -100.0

#: Score adjustment for line types that are not mobiles.
TYPE_ADJUSTMENT: dict[str, float] = {
    "fixed_line": 0.0,
    "fixed_line_or_mobile": 0.0,
    "personal_number": 0.0,
    "voip": -1.0,
    "unknown": -1.0,
    "toll_free": -2.0,
    "shared_cost": -2.0,
    "uan": -2.0,
    "pager": -2.0,
    "premium_rate": -3.0,
    "voicemail": -3.0,
}

#: libphonenumber types under which a vendor's mobile claim is believed.
#: ``mobile`` needs no claim; ``fixed_line_or_mobile`` (NANP) cannot tell.
CLAIM_UPGRADABLE_TYPES: frozenset[str] = frozenset({"fixed_line_or_mobile"})

#: Tie-break order when no provider priority is given: the default waterfall.
DEFAULT_PROVIDER_PRIORITY: tuple[str, ...] = (
    "leadmagic",
    "pronto",
    "enrichlayer",
    "lantern",
    "crustdata",
)

# Ranking tiers (lower is better).
_TIER_PERSONAL_MOBILE = 0
_TIER_OTHER = 1
_TIER_SHARED = 2
_TIER_UNCHOOSABLE = 3


def evaluate(
    *,
    lib_type: str,
    valid: bool,
    source_count: int,
    vendor_claims_mobile: bool,
    shared_with_others: bool,
    has_extension: bool = False,
    only_company_line_sources: bool = False,
) -> tuple[str, float, bool]:
    """Apply the rules to one number's evidence.

    ``lib_type`` is libphonenumber's type as a ``number_type`` string;
    ``vendor_claims_mobile`` is the outcome of the vendor-claim vote (rule 2).
    Returns ``(number_type, score, is_personal_mobile)``; ``number_type``
    reflects the combined evidence (``fixed_line_or_mobile`` becomes
    ``mobile`` when a vendor's mobile claim counts).
    """
    if not valid or lib_type == "invalid":
        return "invalid", INVALID_SCORE, False

    score = BASE_VALID + AGREEMENT_BONUS * max(source_count - 1, 0)
    claim_counts = vendor_claims_mobile and not shared_with_others

    if lib_type == "mobile":
        number_type = "mobile"
        mobile = True
        score += LIB_MOBILE_WEIGHT
        if claim_counts:
            score += VENDOR_MOBILE_WEIGHT
    elif lib_type in CLAIM_UPGRADABLE_TYPES and claim_counts:
        number_type = "mobile"
        mobile = True
        score += VENDOR_MOBILE_WEIGHT
    else:
        number_type = lib_type
        mobile = False
        score += TYPE_ADJUSTMENT.get(lib_type, TYPE_ADJUSTMENT["unknown"])

    if has_extension:
        score += EXTENSION_PENALTY
        mobile = False
    if only_company_line_sources and not mobile:
        score += COMPANY_LINE_SOURCE_PENALTY
    if shared_with_others:
        score += SHARED_PENALTY
        mobile = False
    return number_type, score, mobile


# --------------------------------------------------------------------------- #
# Choosing
# --------------------------------------------------------------------------- #


def _is_choosable(phone: ContactPhone) -> bool:
    return phone.valid and phone.number_type != "invalid" and not phone.suppressed and phone.e164 is not None


def _tier(phone: ContactPhone) -> int:
    if not _is_choosable(phone):
        return _TIER_UNCHOOSABLE
    if phone.is_personal_mobile:
        return _TIER_PERSONAL_MOBILE
    if phone.shared_with_others:
        return _TIER_SHARED
    return _TIER_OTHER


def _ranker(provider_priority: Sequence[str] | None):
    priority = DEFAULT_PROVIDER_PRIORITY if provider_priority is None else tuple(provider_priority)
    return _ranker_for(priority)


@lru_cache(maxsize=64)
def _ranker_for(priority: tuple[str, ...]):
    unknown = len(priority)
    position: dict[str, int] = {}
    for index, provider in enumerate(priority):
        position.setdefault(provider, index)

    def key(phone: ContactPhone) -> tuple[int, float, int, int, str]:
        provider_rank = min((position.get(s, unknown) for s in phone.sources), default=unknown)
        return (_tier(phone), -phone.score, -phone.source_count, provider_rank, phone.key)

    return key


def rank_phones(
    phones: Iterable[ContactPhone], provider_priority: Sequence[str] | None = None
) -> list[ContactPhone]:
    """All phones, best first (invalid and suppressed ones last)."""
    return sorted(phones, key=_ranker(provider_priority))


def choose_best(
    phones: Iterable[ContactPhone], provider_priority: Sequence[str] | None = None
) -> ContactPhone | None:
    """The best phone of one contact (rule 6), or ``None``.

    Never returns an invalid or suppressed number, nor one shared with colleagues.
    """
    candidates = [p for p in phones if _is_choosable(p) and not p.shared_with_others]
    if not candidates:
        return None
    return min(candidates, key=_ranker(provider_priority))

