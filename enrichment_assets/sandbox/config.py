"""The sandbox's knobs (``SandboxConfig``): everything a test may want to turn, per vendor and for the world.

Validated with pydantic (unknown keys are an error), patchable over HTTP (``POST /_sandbox/config``); the live
state that follows them is ``state.py``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from enrichment_assets.sandbox.world import VENDORS, World

VendorName = Literal["enrichlayer", "lantern", "crustdata", "leadmagic", "pronto"]

CRUSTDATA_API_VERSION = "2025-11-01"
CRUSTDATA_FIELDS: tuple[str, ...] = (
    "contact.business_emails", "contact.personal_emails", "contact.phone_numbers", "contact.websites",
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LatencyConfig(_Model):
    """Service time as a lognormal distribution given by its median and 95th percentile (seconds)."""

    p50: float = Field(0.0, ge=0)
    p95: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _p95_not_below_p50(self) -> LatencyConfig:
        if self.p95 and self.p95 < self.p50:
            raise ValueError("latency p95 must be >= p50")
        return self


class RateLimitConfig(_Model):
    """A token bucket (``requests_per_second`` refill, ``burst`` capacity) and/or a sliding window.

    A request must pass both rules that are set. ``None`` disables a rule;
    ``enabled: false`` disables both. The window rule also drives the
    ``x-ratelimit-*`` / ``RateLimit-*`` headers of vendors that send them.
    """

    enabled: bool = True
    requests_per_second: float | None = Field(None, gt=0)
    burst: int | None = Field(None, ge=1)
    window_limit: int | None = Field(None, ge=1)
    window_seconds: float = Field(60.0, gt=0)


class FaultConfig(_Model):
    """Error injection shares (0..1) of requests that passed auth, rate limiting and validation."""

    error_rate: float = Field(0.0, ge=0, le=1)          # HTTP 500 in the vendor's error format
    unavailable_rate: float = Field(0.0, ge=0, le=1)    # HTTP 503 (Enrich Layer: "enrichment failed")
    malformed_rate: float = Field(0.0, ge=0, le=1)      # HTTP 200 with a truncated JSON body
    hang_rate: float = Field(0.0, ge=0, le=1)           # sleeps hang_seconds, then answers 500
    hang_seconds: float = Field(300.0, ge=0)
    # Of the answers that were charged: processed and billed, then held withhold_seconds before they are sent
    # (past the client's timeout, the answer is lost). Drawn apart from the shares above.
    withhold_rate: float = Field(0.0, ge=0, le=1)
    withhold_seconds: float = Field(30.0, ge=0)

    @model_validator(mode="after")
    def _shares_fit(self) -> FaultConfig:
        if self.error_rate + self.unavailable_rate + self.malformed_rate + self.hang_rate > 1:
            raise ValueError("fault shares add up to more than 1")
        return self


class VendorConfig(_Model):
    """Knobs every vendor has. ``api_key=None`` accepts any non-empty key; ``balance=None`` is unlimited."""

    api_key: str | None = None
    balance: int | None = Field(None, ge=0)
    latency: LatencyConfig = Field(default_factory=LatencyConfig)
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    faults: FaultConfig = Field(default_factory=FaultConfig)
    max_concurrency: int | None = Field(None, ge=1)   # requests processed at once; more are queued
    retry_after_header: bool = True                    # send Retry-After on 429
    out_of_credits_status: int = 402


class EnrichLayerConfig(VendorConfig):
    rate_limit: RateLimitConfig = Field(
        default_factory=lambda: RateLimitConfig(window_limit=1500, window_seconds=300))
    out_of_credits_status: int = 403
    price_per_number: int = Field(1, ge=0)
    #: Share of profiles whose stored numbers hold one of them twice (two sources, one number): the vendor returns
    #: and bills the repeat like any other number.
    repeated_number_share: float = Field(0.0, ge=0, le=1)


class LanternConfig(VendorConfig):
    # Not documented: an assumption, configurable.
    rate_limit: RateLimitConfig = Field(default_factory=lambda: RateLimitConfig(requests_per_second=10, burst=20))
    out_of_credits_status: int = 400
    price_per_found: int = Field(1, ge=0)
    price_per_call: int = Field(0, ge=0)


class CrustdataConfig(VendorConfig):
    rate_limit: RateLimitConfig = Field(default_factory=lambda: RateLimitConfig(window_limit=15, window_seconds=60))
    out_of_credits_status: int = 403
    contact_access: bool = True   # False: every call 403 "no contact-enrich access"
    price_per_match: int = Field(1, ge=0)
    price_per_field: dict[str, int] = Field(default_factory=lambda: {
        "contact.phone_numbers": 2, "contact.personal_emails": 2,
        "contact.business_emails": 1, "contact.websites": 1,
    })
    max_credits_per_profile: int = Field(7, ge=0)

    @model_validator(mode="after")
    def _known_fields(self) -> CrustdataConfig:
        unknown = set(self.price_per_field) - set(CRUSTDATA_FIELDS)
        if unknown:
            raise ValueError(f"unknown Crustdata field(s) in price_per_field: {sorted(unknown)}")
        return self


class LeadMagicConfig(VendorConfig):
    rate_limit: RateLimitConfig = Field(default_factory=lambda: RateLimitConfig(
        requests_per_second=50, burst=50, window_limit=3000, window_seconds=60))
    out_of_credits_status: int = 402
    price_per_found: int = Field(5, ge=0)


class ProntoConfig(VendorConfig):
    rate_limit: RateLimitConfig = Field(default_factory=lambda: RateLimitConfig(requests_per_second=50, burst=50))
    max_concurrency: int | None = Field(5, ge=1)
    out_of_credits_status: Literal[402, 422] = 402
    personal_email_consent: bool = False
    price_per_phone: int = Field(10, ge=0)
    price_per_email: int = Field(1, ge=0)
    price_per_personal_email: int = Field(1, ge=0)


class VendorsConfig(_Model):
    enrichlayer: EnrichLayerConfig = Field(default_factory=EnrichLayerConfig)
    lantern: LanternConfig = Field(default_factory=LanternConfig)
    crustdata: CrustdataConfig = Field(default_factory=CrustdataConfig)
    leadmagic: LeadMagicConfig = Field(default_factory=LeadMagicConfig)
    pronto: ProntoConfig = Field(default_factory=ProntoConfig)


class SandboxConfig(_Model):
    """All knobs of the sandbox. Defaults: seed 7, 3,000 people, no latency, documented limits and prices."""

    seed: int = 7
    world_size: int = Field(World.DEFAULT_SIZE, ge=1)
    vendors: VendorsConfig = Field(default_factory=VendorsConfig)

    def vendor(self, name: str) -> VendorConfig:
        return getattr(self.vendors, name)

    @classmethod
    def realistic(cls, p50: float = 0.3, p95: float = 1.0, **kwargs: Any) -> SandboxConfig:
        """The defaults plus a lognormal service time (median 0.3 s, p95 1 s) for every vendor."""
        config = cls(**kwargs)
        for name in VENDORS:
            config.vendor(name).latency = LatencyConfig(p50=p50, p95=p95)
        return config

    def public_dump(self) -> dict[str, Any]:
        """The config as JSON, API keys masked."""
        data = self.model_dump(mode="json")
        for name in VENDORS:
            data["vendors"][name]["api_key"] = mask_key(data["vendors"][name]["api_key"])
        return data


def mask_key(key: str | None) -> str | None:
    if key is None:
        return None
    return f"{key[:2]}…({len(key)} chars)" if len(key) > 6 else "…"
