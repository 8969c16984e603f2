"""The sandbox's rate limiting: a token bucket and a sliding-window log per vendor (``RateLimitConfig``)."""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass

from enrichment_assets.sandbox.config import RateLimitConfig


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
