"""What every provider accepts in the config file's ``providers.<name>`` section, and how it prices a call.

The schema only: which defaults each provider starts from and which of the provider-specific keys it
accepts live in the provider registry (``enrichment_assets.vendors.registry``); the whole file is validated
by ``enrichment_assets.config``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat


class StrictModel(BaseModel):
    """Unknown keys are an error that names the key: a typo in a price must never fall back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Pricing(StrictModel):
    """How credits are counted for a provider when it does not report them itself.

    Every key is additive: ``per_call`` for every successful call,
    ``per_found`` for a call that returned at least one number,
    ``per_number`` for each number returned, ``per_match`` for each matched
    identifier (Crustdata), and ``per_field`` for each requested field of a
    matched identifier, by field name; ``per_email`` and ``per_personal_email``
    for each work or personal email returned (Pronto, when asked for).
    """

    per_call: float = 0
    per_found: float = 0
    per_number: float = 0
    per_match: float = 0
    per_field: dict[str, float] = Field(default_factory=dict)
    per_email: float = 0
    per_personal_email: float = 0
    max_per_match: float | None = None


#: Keys only some providers accept; the registry says which provider owns which (``ProviderSpec.own_keys``).
PROVIDER_SPECIFIC_KEYS: frozenset[str] = frozenset({
    "page_size", "batch_size", "batch_wait_seconds", "fields", "enrichment_type", "personal_email_consent", "path",
    "unique_id_only",
})


class ProviderConfig(StrictModel):
    enabled: bool = True
    rate_limit_per_second: float = Field(default=10, gt=0)
    burst: int | None = Field(default=None, ge=1)
    max_concurrency: int = Field(default=16, ge=1)
    timeout_seconds: float = Field(default=30, gt=0)
    max_retries: int = Field(default=4, ge=0)
    #: When a request whose outcome is unknown (timeout after sending, dropped connection, 5xx, 408, a 2xx that is
    #: not JSON) is asked again: ``now`` (in the run; only safe where a repeat cannot bill twice) or ``next_run``
    #: (the lead stays pending). Unset: ``now`` for a vendor that bills a repeated question once (Lantern), else
    #: ``next_run``.
    retry_unknown: Literal["now", "next_run"] | None = None
    #: Seconds to wait before retry 1, 2, ... of a failed request that may be asked again (the last wait
    #: repeats, at most ``max_retries`` retries). Unset: exponential backoff with jitter from 0.5 s.
    retry_schedule: list[NonNegativeFloat] | None = Field(default=None, min_length=1)
    usd_per_credit: float = Field(default=0.0, ge=0)
    max_credits_per_run: float | None = Field(default=None, ge=0)
    pricing: Pricing = Field(default_factory=Pricing)
    #: Where the vendor tells the account's balance (a free GET on its base URL), read before and after each run's
    #: calls to check the ledger against it; ``None``: no balance source (the check says "unverifiable").
    balance_path: str | None = None
    # Provider-specific keys (PROVIDER_SPECIFIC_KEYS); each is accepted only for the provider that owns it.
    page_size: int | None = Field(default=None, ge=0)
    batch_size: int | None = Field(default=None, ge=1, le=25)
    batch_wait_seconds: float | None = Field(default=None, ge=0)
    fields: list[str] | None = None
    enrichment_type: list[Literal["phone", "email", "personal_email"]] | None = None
    personal_email_consent: bool | None = None
    path: str | None = None
    #: Lantern: which leads are asked by their LinkedIn profile (else email) alone, never by name + company:
    #: ``namesakes`` (leads with a namesake at their company among every lead held), ``always`` (every lead that
    #: has one of them), ``never``.
    unique_id_only: Literal["namesakes", "always", "never"] | None = None

    @property
    def effective_burst(self) -> int:
        """Requests that may leave back to back. Default: a quarter second's worth.

        Requests reach the vendor bunched by network jitter; a burst below the vendor's own keeps its bucket
        from running dry at our full sustained rate (each 429 costs a Retry-After pause).
        """
        if self.burst is not None:
            return self.burst
        return max(1, round(self.rate_limit_per_second / 4))
