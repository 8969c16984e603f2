"""When a lead's last walk through the waterfall still holds, so a rerun can keep its results instead of walking it.

A lead is walked again when its identifying fields changed (its fingerprint), when anything that decides its
walk changed (this key), when one of its answers is older than ``cache_ttl_days``, or when a provider still
owes it an answer (budget, outage, error). Everything else about a rerun of an unchanged list is bookkeeping.

The key covers what decides which providers are asked, what they are asked and when the waterfall stops:
the order (a fixed list, or ``adaptive`` with its settings: never the order the cost model learned, so a
learned change alone walks no finished lead again), the stop rule, each provider's request-shaping
settings, which providers have a client (live mode without a key skips one), which providers this run may
call (asset subsetting), the suppression list and the mode. Throughput and money settings (rate limits,
concurrency, retries, timeouts, prices, budgets) are left out: they change how fast or how dear a walk is,
not where it ends; a lead a budget held back is pending and walked again anyway.
"""

from __future__ import annotations

from collections.abc import Iterable

from enrichment_assets.config import ADAPTIVE_ONLY_KEYS, EnrichmentConfig
from enrichment_assets.storage.step_state import stable_digest
from enrichment_assets.waterfall.suppression import Suppression

#: Raise when the engine's rules change (eligibility, stop rule, what a row holds): every lead is walked again.
#: 2: unknown outcomes (results outcome 'unknown', pending) and normalized Pronto / Lantern fingerprints; the
#: re-walk answers from the store (an answer stored under a question's older fingerprint included): no request.
WALK_RULES_VERSION = 2

#: Provider settings that never change where a lead's walk ends.
_NOT_DECISIVE = frozenset({
    "rate_limit_per_second", "burst", "max_concurrency", "timeout_seconds", "max_retries", "retry_unknown",
    "retry_schedule", "usd_per_credit",
    "max_credits_per_run", "pricing", "batch_size", "batch_wait_seconds", "balance_path",
})


def walk_key(config: EnrichmentConfig, providers: Iterable[str], call_providers: Iterable[str],
             suppression: Suppression, mode: str) -> str:
    """A digest of everything, besides the lead itself and the age of its answers, that decides its walk."""
    providers = list(providers)
    decisive = {
        name: config.provider(name).model_dump(exclude=set(_NOT_DECISIVE)) for name in providers
    }
    # A fixed order's key leaves out the adaptive-only keys: the same digest as before they existed.
    waterfall = config.waterfall.model_dump(exclude=None if config.waterfall.adaptive else set(ADAPTIVE_ONLY_KEYS))
    return stable_digest(
        WALK_RULES_VERSION, mode, waterfall, providers, sorted(call_providers), decisive,
        suppression.digest(),
    )
