"""The shapes phone classification works on: what a provider returned, and one classified number of a contact."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from enrichment_assets.phones.parse import digits_of

__all__ = ["ContactPhone", "LeadPhones", "PhoneObservation"]


class PhoneObservation(NamedTuple):
    """One number as one provider returned it.

    ``claimed_type`` is the provider's own line type (Pronto's ``type``), or
    ``None``. LeadMagic numbers need none: its endpoint only returns mobiles
    (see :data:`enrichment_assets.phones.classify.IMPLIED_CLAIMS`).
    """

    provider: str
    raw: str
    claimed_type: str | None = None


@dataclass(frozen=True, slots=True)
class ContactPhone:
    """One distinct number of one contact: a row of ``contact_phones``.

    ``e164`` is ``None`` only for strings that could not be parsed at all;
    those are grouped by their digits (see :attr:`key`). ``number_type``
    reflects the combined evidence (see :mod:`~enrichment_assets.phones.score`).
    ``sources`` are the providers that returned the number, sorted;
    ``claimed_types`` the distinct normalized vendor claims, sorted;
    ``raw_values`` the distinct raw strings seen, sorted.
    """

    record_id: str
    e164: str | None
    number_type: str
    region: str | None
    sources: list[str]
    source_count: int
    claimed_types: list[str]
    shared_with_others: bool
    suppressed: bool
    score: float
    is_personal_mobile: bool
    valid: bool = False
    has_extension: bool = False
    raw_values: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """Identity of the number within its contact: E.164, else ``digits:<digits>``."""
        return self.e164 if self.e164 is not None else "digits:" + digits_of(
            self.raw_values[0] if self.raw_values else ""
        )


@dataclass(frozen=True, slots=True)
class LeadPhones:
    """Everything :func:`~enrichment_assets.phones.classify.classify_many` needs about one lead.

    ``person_key`` identifies the person when spotting shared numbers (default:
    ``record_id``); pass the canonical LinkedIn URL when the same person may
    appear under several record ids, so they do not count as colleagues.
    """

    record_id: str
    observations: Sequence[PhoneObservation]
    region_hints: Sequence[str | None] = ()
    company_key: str | None = None
    person_key: Hashable | None = None
