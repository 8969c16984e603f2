"""When a vendor request is asked again, and after how long: one ``RetryPolicy`` per client.

Each attempt's :class:`~enrichment_assets.vendors.exchange.ExchangeKind` decides:

- ``RATE_LIMITED`` (429): asked again after the vendor's Retry-After (the client's shared pause) or, when it
  gave none, an exponential backoff; at most ``max_rate_limit_retries`` times; a Retry-After above
  ``max_retry_after`` gives up at once.
- ``TRANSIENT`` (timeout, dropped connection, 5xx, 408): exponential backoff with jitter, at most
  ``max_transient_retries`` times (the provider's ``max_retries``).
- ``MALFORMED`` (a 2xx that is not JSON): asked ``malformed_retries`` more times, then the record's error.
- ``DONE`` and ``STOPPED``: never asked again.

The policy only reads the history of one request's exchanges; the client runs the loop (tenacity) with it.
Decisions that depend on the vendor (a retry schedule its document asks for, whether an attempt whose
outcome is unknown may be asked again at all or must wait for a later run) belong here, per provider.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from tenacity import AsyncRetrying, RetryCallState, retry_if_result

from enrichment_assets.provider_config import ProviderConfig
from enrichment_assets.vendors.exchange import Exchange, ExchangeKind

Sleep = Callable[[float], Awaitable[None]]


def _count(history: Sequence[Exchange], *kinds: ExchangeKind) -> int:
    return sum(e.kind in kinds for e in history)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How one provider's requests are asked again (see the module docstring)."""

    #: 5xx, 408, timeouts and dropped connections asked again at most this many times (config ``max_retries``).
    max_transient_retries: int
    #: 429s one request may wait out before it is the record's error.
    max_rate_limit_retries: int = 10
    #: A 429 asking for a longer wait than this (seconds) is the record's error at once.
    max_retry_after: float = 300.0
    #: A 2xx whose body is not JSON is asked again this many times.
    malformed_retries: int = 1
    #: Backoff: ``min(backoff_max, backoff_base * 2**n) + uniform(0, backoff_base)`` seconds.
    backoff_base: float = 0.5
    backoff_max: float = 30.0

    @classmethod
    def for_provider(cls, config: ProviderConfig, **overrides: float) -> RetryPolicy:
        return cls(max_transient_retries=config.max_retries, **overrides)  # type: ignore[arg-type]

    def retry_after_too_long(self, exchange: Exchange) -> bool:
        return exchange.retry_after is not None and exchange.retry_after > self.max_retry_after

    def should_retry(self, history: Sequence[Exchange]) -> bool:
        """Whether the request is sent again after the last exchange of ``history``."""
        last = history[-1]
        if last.kind is ExchangeKind.MALFORMED:
            return _count(history, ExchangeKind.MALFORMED) <= self.malformed_retries
        if last.kind is ExchangeKind.RATE_LIMITED:
            if self.retry_after_too_long(last):
                return False
            return _count(history, ExchangeKind.RATE_LIMITED) <= self.max_rate_limit_retries
        if last.kind is ExchangeKind.TRANSIENT:
            return _count(history, ExchangeKind.TRANSIENT) <= self.max_transient_retries
        return False

    def wait_seconds(self, history: Sequence[Exchange]) -> float:
        """How long to wait before the next attempt."""
        last = history[-1]
        if last.kind is ExchangeKind.RATE_LIMITED and last.retry_after is not None:
            return 0.0  # the client's shared pause (set when the 429 arrived) is waited out before the next send
        n = _count(history, ExchangeKind.RATE_LIMITED, ExchangeKind.TRANSIENT)
        return min(self.backoff_max, self.backoff_base * (2 ** (n - 1))) + random.uniform(0, self.backoff_base)

    def gave_up_because(self, final: Exchange, attempts: int) -> str:
        """Why a request that ended rate limited or transient is the record's error."""
        if final.kind is ExchangeKind.RATE_LIMITED and self.retry_after_too_long(final):
            return f"rate limited, Retry-After {final.retry_after:g}s is over the {self.max_retry_after:g}s cap"
        return f"gave up after {attempts} attempts"

    def retrying(self, history: list[Exchange], *, sleep: Sleep,
                 before_sleep: Callable[[Exchange], None]) -> AsyncRetrying:
        """A tenacity loop over attempts that each append their exchange to ``history``; returns the last one."""

        def log_before_sleep(state: RetryCallState) -> None:
            before_sleep(history[-1])

        return AsyncRetrying(
            retry=retry_if_result(lambda _: self.should_retry(history)),
            wait=lambda _: self.wait_seconds(history),
            sleep=sleep,
            before_sleep=log_before_sleep,
            reraise=True,
        )
