"""One lead's ``contact_phones`` rows and ``contacts`` row, from its providers' answers (Arrow, a batch at a time)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Container, Sequence
from datetime import datetime

import pyarrow as pa

from enrichment_assets.contacts.answers import LeadAnswers
from enrichment_assets.outcomes import PENDING_OUTCOMES
from enrichment_assets.phones.classify import classify_contact
from enrichment_assets.phones.model import ContactPhone
from enrichment_assets.phones.regions import region_hints
from enrichment_assets.phones.score import choose_best
from enrichment_assets.waterfall.suppression import Suppression

STATUSES = ("mobile_found", "phone_found", "not_found", "pending", "suppressed")

PHONES_SCHEMA = pa.schema([
    ("record_id", pa.string()), ("e164", pa.string()), ("number_type", pa.string()), ("region", pa.string()),
    ("sources", pa.list_(pa.string())), ("source_count", pa.int32()), ("shared_with_others", pa.bool_()),
    ("score", pa.float64()), ("list_id", pa.string()), ("raw", pa.string()), ("claimed_types", pa.list_(pa.string())),
    ("is_personal_mobile", pa.bool_()), ("suppressed", pa.bool_())])
CONTACTS_SCHEMA = pa.schema([
    ("record_id", pa.string()), ("list_id", pa.string()), ("first_name", pa.string()), ("last_name", pa.string()),
    ("company", pa.string()), ("linkedin_url", pa.string()), ("best_phone", pa.string()),
    ("best_phone_type", pa.string()), ("best_phone_score", pa.float64()),
    ("best_phone_sources", pa.list_(pa.string())), ("phone_count", pa.int32()), ("status", pa.string()),
    ("enriched_at", pa.timestamp("us", tz="UTC"))])


def contact_status(best: ContactPhone | None, outcomes: set[str], suppressed: bool) -> str:
    """README "How the best phone is chosen", rule 7."""
    if suppressed:
        return "suppressed"
    if best is not None and best.is_personal_mobile:
        return "mobile_found"
    if outcomes & PENDING_OUTCOMES:
        return "pending"  # a provider still owes this lead an answer: a rerun may find the mobile
    return "phone_found" if best is not None else "not_found"


class ContactRows:
    """Classifies leads and collects their rows until ``take()``: the column lists of one batch."""

    def __init__(self, provider_order: Sequence[str], suppression: Suppression, now: datetime) -> None:
        self.order = list(provider_order)
        self.suppression = suppression
        self.now = now
        self.by_status: dict[str, int] = dict.fromkeys(STATUSES, 0)
        self.contacts = self.phones = 0
        self._phones: dict[str, list] = defaultdict(list)
        self._contacts: dict[str, list] = defaultdict(list)

    def add(self, item: LeadAnswers, shared_numbers: Container[str]) -> None:
        """Classify one lead's numbers (``shared_numbers``: those also returned for colleagues) and choose."""
        lead = item.lead
        phones = classify_contact(lead.record_id, item.observations, region_hints(lead.country, lead.domain),
                                  shared_numbers=shared_numbers, suppressed=self.suppression.phones,
                                  provider_priority=self.order)
        for p in phones:
            for column, value in (
                    ("record_id", lead.record_id), ("e164", p.e164), ("number_type", p.number_type),
                    ("region", p.region), ("sources", p.sources), ("source_count", p.source_count),
                    ("shared_with_others", p.shared_with_others), ("score", float(p.score)),
                    ("list_id", lead.list_id), ("raw", p.raw_values[0] if p.raw_values else None),
                    ("claimed_types", p.claimed_types), ("is_personal_mobile", p.is_personal_mobile),
                    ("suppressed", p.suppressed)):
                self._phones[column].append(value)
        is_suppressed = self.suppression.matches(lead)
        best = None if is_suppressed else choose_best(phones, self.order)
        status = contact_status(best, item.outcomes, is_suppressed)
        self.by_status[status] += 1
        for column, value in (
                ("record_id", lead.record_id), ("list_id", lead.list_id), ("first_name", lead.first_name),
                ("last_name", lead.last_name), ("company", lead.company),
                ("linkedin_url", lead.linkedin_url), ("best_phone", best.e164 if best else None),
                ("best_phone_type", best.number_type if best else None),
                ("best_phone_score", float(best.score) if best else None),
                ("best_phone_sources", best.sources if best else None),
                ("phone_count", sum(1 for p in phones if p.valid)), ("status", status),
                ("enriched_at", self.now)):
            self._contacts[column].append(value)
        self.contacts += 1
        self.phones += len(phones)

    def take(self) -> tuple[pa.Table, pa.Table]:
        """The ``contact_phones`` and ``contacts`` rows added since the last ``take()``."""
        phones = pa.table({k: self._phones.get(k, []) for k in PHONES_SCHEMA.names}, schema=PHONES_SCHEMA)
        contacts = pa.table({k: self._contacts.get(k, []) for k in CONTACTS_SCHEMA.names}, schema=CONTACTS_SCHEMA)
        self._phones.clear()
        self._contacts.clear()
        return phones, contacts
