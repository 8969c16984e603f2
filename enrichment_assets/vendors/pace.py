"""A client's own pace: the configured rate limit, cut when the vendor answers 429, restored as answers come back.

A leaky bucket (``aiolimiter``) of ``effective_burst`` requests that drips ``rate_limit_per_second``. A 429
means the vendor's real limit is below ours: the pace drops (at most once a second) and creeps back up
after about a second's worth of answers without a 429. A 429's Retry-After pauses every request of the
client, not only the one that got it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiolimiter import AsyncLimiter

from enrichment_assets.provider_config import ProviderConfig

Sleep = Callable[[float], Awaitable[None]]

#: After a 429 the pace falls to this share of itself, and never below ``configured / _FLOOR_DIVISOR``.
_CUT = 0.6
_FLOOR_DIVISOR = 20
#: Each step back up multiplies the pace by this, up to the configured rate.
_RAISE = 1.2
#: At least this many answers without a 429 between two steps back up.
_MIN_ANSWERS_PER_STEP = 5.0


class AdaptivePace:
    def __init__(self, config: ProviderConfig) -> None:
        self._config = config
        self._configured_rate = config.rate_limit_per_second
        self._rate = self._configured_rate
        self._rate_cut_at = 0.0
        self._answers_since_change = 0
        self._limiter = self._build_limiter(self._rate)
        self._pause_until = 0.0

    @property
    def rate(self) -> float:
        """Requests per second currently allowed (lower than configured after 429s)."""
        return self._rate

    def _build_limiter(self, rate: float) -> AsyncLimiter:
        burst = max(1, round(self._config.effective_burst * rate / self._configured_rate))
        return AsyncLimiter(burst, burst / rate)

    async def wait_turn(self, sleep: Sleep) -> None:
        """Wait out any Retry-After pause, then take a token from the bucket."""
        delay = self._pause_until - time.monotonic()
        if delay > 0:
            await sleep(delay)
        await self._limiter.acquire()

    def pause(self, seconds: float) -> None:
        """Hold every request of the client back for ``seconds`` (a Retry-After)."""
        self._pause_until = max(self._pause_until, time.monotonic() + seconds)

    def slow_down(self) -> None:
        """A 429: cut the pace (at most once a second: one burst of 429s is one signal)."""
        now = time.monotonic()
        if now - self._rate_cut_at < 1.0:
            return
        self._rate_cut_at = now
        self._answers_since_change = 0
        self._rate = max(self._configured_rate / _FLOOR_DIVISOR, self._rate * _CUT)
        self._limiter = self._build_limiter(self._rate)

    def speed_up(self) -> None:
        """A 2xx: after about a second's worth of them, step back towards the configured pace."""
        if self._rate >= self._configured_rate:
            return
        self._answers_since_change += 1
        if self._answers_since_change >= max(_MIN_ANSWERS_PER_STEP, self._rate):
            self._answers_since_change = 0
            self._rate = min(self._configured_rate, self._rate * _RAISE)
            self._limiter = self._build_limiter(self._rate)
