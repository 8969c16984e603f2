"""Does the ledger agree with what the vendor itself says it charged? (README, "Checking the ledger against the
vendors' balances").

For one run and one provider: the balance drop (read before the run's first call, after its last one) against the
credits the ledger booked for that run. They match when the drop lies between the booked credits and the booked
credits plus the worst case of requests whose outcome is unknown. A drop larger than booked may be a wrong price
in the config, or another user of the same API key spending meanwhile: the verdict says both and never fails a
run. A vendor without a balance source, or whose balance rose (a top-up), is "unverifiable" for that run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from enrichment_assets.provider_config import ProviderConfig
from enrichment_assets.storage.balances import RunBalance

#: Balances may be fractional (Crustdata): a difference below this is rounding, not money.
TOLERANCE = 1e-6

Status = Literal["ok", "warn", "unverifiable"]


@dataclass(frozen=True, slots=True)
class Verdict:
    provider: str
    status: Status
    #: Balance before minus balance after; ``None`` when unverifiable for want of a figure.
    drop: float | None
    booked: float
    #: drop / booked (``None`` when nothing was booked or there is no drop).
    ratio: float | None
    #: The config keys to look at when the figures disagree.
    pricing_key: str
    message: str


def pricing_key(provider: str, config: ProviderConfig) -> str:
    """``providers.<name>.pricing`` and its non-zero rule, e.g. ``providers.lantern.pricing (per_found: 1)``."""
    rule = {k: v for k, v in config.pricing.model_dump().items() if v}
    shown = ", ".join(f"{k}: {v:g}" if isinstance(v, (int, float)) else f"{k}: {v}" for k, v in rule.items())
    return f"providers.{provider}.pricing ({shown or 'all 0'})"


def _ratio_text(ratio: float | None) -> str:
    return "no credits booked" if ratio is None else f"ratio {round(ratio, 3)}"


def reconcile(balance: RunBalance, config: ProviderConfig) -> Verdict:
    """The verdict for one provider in one run."""
    name = balance.provider
    key = pricing_key(name, config)
    if balance.before is None or balance.after is None:
        why = balance.error or "no balance reading before and after the run's calls"
        return Verdict(name, "unverifiable", None, balance.booked, None, key, f"{name}: unverifiable: {why}")
    drop = balance.before - balance.after
    booked, ceiling = balance.booked, balance.booked + balance.unknown_worst_case
    if drop < -TOLERANCE:
        return Verdict(name, "unverifiable", drop, booked, None, key,
                       f"{name}: unverifiable this run: the balance rose by {-drop:g} credits during it (a top-up or a "
                       "refund)")
    ratio = drop / booked if booked > TOLERANCE else None
    figures = (f"the balance dropped {drop:g} credits, the ledger booked {booked:g}"
               + (f" (+ up to {balance.unknown_worst_case:g} for requests of unknown outcome)"
                  if balance.unknown_worst_case else ""))
    if booked - TOLERANCE <= drop <= ceiling + TOLERANCE:
        return Verdict(name, "ok", drop, booked, ratio, key, f"{name}: matches: {figures}")
    others = (f"; runs {', '.join(r[:8] for r in balance.overlapping_runs)} of this project called {name} at the "
              "same time" if balance.overlapping_runs else "")
    basis = ("the ledger holds the vendor's own figures, so a wrong price is unlikely" if balance.vendor_reported
             and booked > TOLERANCE else f"check {key} against your plan")
    if drop > ceiling:
        message = (f"{name}: {_ratio_text(ratio)}: {figures}: {basis}, or another user of the same API key (another "
                   f"tool, a colleague) spent meanwhile{others}. Not a failure of the run.")
    else:
        message = (f"{name}: {_ratio_text(ratio)}: {figures}: the ledger books more than the vendor charged: {basis} "
                   "(a price above the vendor's, or answers the vendor served free from its cache).")
    return Verdict(name, "warn", drop, booked, ratio, key, message)
