"""Knobs (``SandboxConfig``) and live state (``SandboxState``) of the vendor sandbox.

Everything a test may want to turn is a field of ``SandboxConfig``; the live
state holds the world, the counters, the current credit balances, the rate
limiters and the seeded random generators that drive latency and error
injection. The state is mutated only from the server's event loop (and by
``patch_config`` / ``reset``); a lock makes snapshots from other threads
consistent.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
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


def _deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# ---------------------------------------------------------------------------
# Rate limiting
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after: int          # whole seconds, >= 1 when not allowed
    limit: int | None         # window limit, for headers
    remaining: int | None
    reset: int | None         # seconds until the oldest request in the window ages out


class RateLimiter:
    """Token bucket + sliding-window log; rejected requests do not count against either."""

    def __init__(self, config: RateLimitConfig, clock=time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._burst = config.burst or max(1, math.ceil(config.requests_per_second or 1))
        self._tokens = float(self._burst)
        self._last = clock()
        self._window: deque[float] = deque()

    def check(self) -> RateDecision:
        cfg = self.config
        now = self._clock()
        window = self._window
        if cfg.window_limit is not None:
            horizon = now - cfg.window_seconds
            while window and window[0] <= horizon:
                window.popleft()
        if not cfg.enabled:
            return RateDecision(True, 0, None, None, None)
        wait = 0.0
        if cfg.requests_per_second is not None:
            self._tokens = min(self._burst, self._tokens + (now - self._last) * cfg.requests_per_second)
            self._last = now
            if self._tokens < 1:
                wait = (1 - self._tokens) / cfg.requests_per_second
        if cfg.window_limit is not None and len(window) >= cfg.window_limit:
            wait = max(wait, window[0] + cfg.window_seconds - now)
        if wait > 0:
            return RateDecision(False, max(1, math.ceil(wait)), cfg.window_limit, *self._window_headers(now))
        if cfg.requests_per_second is not None:
            self._tokens -= 1
        if cfg.window_limit is not None:
            window.append(now)
        return RateDecision(True, 0, cfg.window_limit, *self._window_headers(now))

    def _window_headers(self, now: float) -> tuple[int | None, int | None]:
        cfg = self.config
        if cfg.window_limit is None:
            return None, None
        remaining = max(0, cfg.window_limit - len(self._window))
        reset = math.ceil(self._window[0] + cfg.window_seconds - now) if self._window else 0
        return remaining, max(0, reset)


# ---------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------


def _zero_counters() -> dict[str, Any]:
    return {
        "requests": 0, "by_status": {}, "credits_charged": 0, "charged_calls": 0, "found": 0,
        "rate_limited": 0, "injected": {"error": 0, "unavailable": 0, "malformed": 0, "hang": 0, "withheld": 0},
        # Charged answers held back (withhold_rate): how many, and what they were charged.
        "withheld_credits": 0, "repeats_not_charged": 0,
        "in_flight": 0, "max_in_flight": 0, "processing": 0, "max_processing": 0, "balance_reads": 0,
    }

#: The balance a vendor with ``balance=None`` (unlimited) reports on its balance endpoint, before what it charged.
UNLIMITED_BALANCE = 1_000_000


@dataclass
class VendorState:
    """Live state of one vendor: counters, balance, limiter, seeded generators, concurrency gate."""

    name: str
    config: VendorConfig
    seed: int
    balance: int | None = None
    counters: dict[str, Any] = field(default_factory=_zero_counters)
    #: Credits charged since the state was created (never reset): what an unlimited balance reports as spent.
    charged_total: int = 0
    limiter: RateLimiter = field(init=False)
    fault_rng: random.Random = field(init=False)
    latency_rng: random.Random = field(init=False)
    withhold_rng: random.Random = field(init=False)
    #: Answers a vendor that de-duplicates by an id of ours (Lantern's record_id) gives again without charging.
    answered: dict[str, Any] = field(default_factory=dict)
    _gate: asyncio.Semaphore | None = field(init=False, default=None)
    _gate_loop: asyncio.AbstractEventLoop | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.balance = self.config.balance
        self.rebuild(reseed=True)

    def rebuild(self, reseed: bool) -> None:
        self.limiter = RateLimiter(self.config.rate_limit)
        self._gate = None
        if reseed:
            self.fault_rng = random.Random(f"{self.seed}:{self.name}:faults")
            self.latency_rng = random.Random(f"{self.seed}:{self.name}:latency")
            self.withhold_rng = random.Random(f"{self.seed}:{self.name}:withhold")

    @property
    def gate(self) -> asyncio.Semaphore | None:
        """A semaphore of ``max_concurrency``, bound to the running loop (a restarted server gets a new one)."""
        if self.config.max_concurrency is None:
            return None
        loop = asyncio.get_running_loop()
        if self._gate is None or self._gate_loop is not loop:
            self._gate, self._gate_loop = asyncio.Semaphore(self.config.max_concurrency), loop
        return self._gate

    def draw_fault(self) -> str | None:
        """One draw per request that reaches fault injection (sequence-deterministic given the seed)."""
        faults = self.config.faults
        u = self.fault_rng.random()
        for kind, share in (("error", faults.error_rate), ("unavailable", faults.unavailable_rate),
                            ("malformed", faults.malformed_rate), ("hang", faults.hang_rate)):
            if u < share:
                return kind
            u -= share
        return None

    def draw_withhold(self) -> bool:
        """Whether a charged answer is held back (one draw per charged answer)."""
        return self.withhold_rng.random() < self.config.faults.withhold_rate

    def draw_latency(self) -> float:
        lat = self.config.latency
        z = self.latency_rng.gauss(0.0, 1.0)  # always drawn: the sequence does not depend on the knobs
        if lat.p50 <= 0:
            return 0.0
        if lat.p95 <= lat.p50:
            return lat.p50
        sigma = math.log(lat.p95 / lat.p50) / 1.6448536269514722
        return lat.p50 * math.exp(sigma * z)

    def can_afford(self, credits: int) -> bool:
        return self.balance is None or credits <= self.balance


class SandboxState:
    """Config, world and live counters of one sandbox."""

    def __init__(self, config: SandboxConfig | None = None, world: World | None = None) -> None:
        self.lock = threading.RLock()
        self._initial = (config or SandboxConfig()).model_copy(deep=True)
        self.config = self._initial.model_copy(deep=True)
        if world is not None and (world.seed, world.size) != (self.config.seed, self.config.world_size):
            raise ValueError("world does not match the config's seed and world_size")
        self.world = world or World(self.config.seed, self.config.world_size)
        self.vendors: dict[str, VendorState] = {
            name: VendorState(name, self.config.vendor(name), self.config.seed) for name in VENDORS
        }
        self._request_seq = 0

    def vendor(self, name: str) -> VendorState:
        return self.vendors[name]

    def next_request_id(self, vendor: str) -> str:
        with self.lock:
            self._request_seq += 1
            return f"req_{vendor[:2]}{self.config.seed:x}{self._request_seq:010d}"

    # -- counters ------------------------------------------------------------

    def charge(self, vendor: str, credits: int) -> bool:
        """Take ``credits`` from the balance if it covers them (nothing taken otherwise)."""
        with self.lock:
            vs = self.vendors[vendor]
            if not vs.can_afford(credits):
                return False
            if vs.balance is not None:
                vs.balance -= credits
            vs.charged_total += credits
            vs.counters["credits_charged"] += credits
            if credits:
                vs.counters["charged_calls"] += 1
            return True

    def reported_balance(self, vendor: str) -> int:
        """What the vendor's balance endpoint says is left (an unlimited balance counts down from a large one)."""
        with self.lock:
            vs = self.vendors[vendor]
            return vs.balance if vs.balance is not None else UNLIMITED_BALANCE - vs.charged_total

    def set_balance(self, vendor: str, balance: int | None) -> None:
        with self.lock:
            self.vendors[vendor].balance = balance

    def stats(self) -> dict[str, Any]:
        with self.lock:
            vendors = {}
            for name, vs in self.vendors.items():
                c = vs.counters
                vendors[name] = {
                    **c,
                    "by_status": {str(k): v for k, v in sorted(c["by_status"].items())},
                    "injected": dict(c["injected"]),
                    "balance": vs.balance,
                }
            return {
                "seed": self.config.seed,
                "world_size": self.config.world_size,
                "vendors": vendors,
                "totals": {
                    "requests": sum(v["requests"] for v in vendors.values()),
                    "credits_charged": sum(v["credits_charged"] for v in vendors.values()),
                },
            }

    def reset(self, restore_config: bool = False) -> None:
        """Zero the counters, clear rate-limit windows and reseed the generators.

        Balances and config stay, unless ``restore_config``: then the config the
        state was created with (and its balances) comes back too.
        """
        with self.lock:
            if restore_config:
                self._apply(self._initial.model_copy(deep=True), balances_from_config=set(VENDORS))
            for vs in self.vendors.values():
                in_flight, processing = vs.counters["in_flight"], vs.counters["processing"]
                vs.counters = _zero_counters()
                vs.counters["in_flight"], vs.counters["processing"] = in_flight, processing
                vs.answered.clear()
                vs.rebuild(reseed=True)
            self._request_seq = 0

    # -- config ----------------------------------------------------------------

    def patch_config(self, patch: dict[str, Any]) -> SandboxConfig:
        """Deep-merge ``patch`` into the config (validated; unknown keys are an error).

        A ``vendors.<name>.balance`` in the patch sets that vendor's current
        balance (a top-up is a patch with the new balance). A changed seed or
        world size rebuilds the world and reseeds the generators.
        """
        with self.lock:
            current = self.config.model_dump()
            merged = SandboxConfig.model_validate(_deep_merge(current, patch))
            touched_balances = {name for name, v in (patch.get("vendors") or {}).items()
                                if isinstance(v, dict) and "balance" in v}
            self._apply(merged, balances_from_config=touched_balances)
            return self.config

    def _apply(self, config: SandboxConfig, balances_from_config: set[str]) -> None:
        world_changed = (config.seed, config.world_size) != (self.world.seed, self.world.size)
        self.config = config
        if world_changed:
            self.world = World(config.seed, config.world_size)
        for name, vs in self.vendors.items():
            old = vs.config
            vs.config = config.vendor(name)
            vs.seed = config.seed
            if name in balances_from_config:
                vs.balance = vs.config.balance
            if world_changed:
                vs.rebuild(reseed=True)
            else:
                if old.rate_limit != vs.config.rate_limit:
                    vs.limiter = RateLimiter(vs.config.rate_limit)
                if old.max_concurrency != vs.config.max_concurrency:
                    vs._gate = None
