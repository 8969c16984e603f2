"""When a provider's numbers are good enough to stop a lead's walk (``waterfall.stop_when``): shared by the
engine, the forecast and the benchmarks."""

from __future__ import annotations

from enrichment_assets.phones.parse import parse_phone
from enrichment_assets.vendors.base import PhoneClaim


def meets_stop_rule(stop_when: str, phones: list[PhoneClaim], hints: tuple[str, ...]) -> bool:
    """Whether numbers from one provider are good enough to stop the waterfall for this lead."""
    if stop_when == "never" or not phones:
        return False
    for claim in phones:
        parsed = parse_phone(claim.number, hints)
        if not parsed.valid:
            continue
        if stop_when == "any_phone":
            return True
        claimed_mobile = (claim.claimed_type or "").lower() in ("mobile", "cell", "cellular", "wireless")
        if parsed.number_type == "mobile" or (claimed_mobile and parsed.number_type != "fixed_line"):
            return True
    return False
