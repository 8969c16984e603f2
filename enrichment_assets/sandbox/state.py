"""The live state of the vendor sandbox (``SandboxState``): the world, the counters, the current credit balances,
the rate limiters and the seeded random generators that drive latency and error injection, following the knobs in
``config.py``.

The state is mutated only from the server's event loop (and by ``patch_config`` / ``reset``); a lock makes snapshots
from other threads consistent.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
from dataclasses import dataclass, field
from typing import Any

from enrichment_assets.sandbox.config import SandboxConfig, VendorConfig
from enrichment_assets.sandbox.rate_limit import RateLimiter
from enrichment_assets.sandbox.world import VENDORS, World


def _deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


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
