"""When a vendor request is asked again, and after how long: one ``RetryPolicy`` per client.

Each attempt's :class:`~enrichment_assets.vendors.exchange.ExchangeKind` decides:

- ``RATE_LIMITED`` (429): asked again after the vendor's Retry-After (the client's shared pause) or, when it
  gave none, an exponential backoff; at most ``max_rate_limit_retries`` times; a Retry-After above
  ``max_retry_after`` gives up at once.
- ``NOT_SENT`` (the request never reached the vendor) and ``UNBILLED`` (a failure the vendor documents as
  free): asked again, at most ``max_retries`` times, after the waits of ``schedule``.
- ``UNKNOWN`` (sent, and whether the vendor did and billed the work is unknown): asked again in the run only
  when ``retry_unknown`` is :attr:`RetryUnknown.NOW` (a vendor that bills a repeated question once), counted
  with the above; with :attr:`RetryUnknown.NEXT_RUN` the lookup ends ``unknown`` and a later run asks again.
- ``DONE`` and ``STOPPED``: never asked again.

``schedule`` is the list of waits before retry 1, 2, ... (the last repeats); empty, the wait is an
exponential backoff with jitter. A vendor whose document asks for a given wait (LeadMagic: 30 s after a
500) sets it in its config (``retry_schedule``). The policy only reads the history of one request's
exchanges; :meth:`RetryPolicy.run` is the loop (tenacity).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from tenacity import AsyncRetrying, RetryCallState, retry_if_result

from enrichment_assets.provider_config import ProviderConfig
from enrichment_assets.vendors.exchange import Exchange, ExchangeKind

Sleep = Callable[[float], Awaitable[None]]

#: The failures asked again in the run whatever the vendor (nothing was billed, or the vendor says so).
_SAFE_TO_REPEAT = (ExchangeKind.NOT_SENT, ExchangeKind.UNBILLED)


class RetryUnknown(StrEnum):
    """Config ``retry_unknown``: when a request whose outcome is unknown is asked again."""

    #: In the same run, at once (after the schedule's wait): only where a repeat cannot bill twice.
    NOW = "now"
    #: Not in this run: the lead stays pending and the next run asks again (a repeat may bill twice).
    NEXT_RUN = "next_run"


def _count(history: Sequence[Exchange], *kinds: ExchangeKind) -> int:
    return sum(e.kind in kinds for e in history)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How one provider's requests are asked again (see the module docstring)."""

    #: Failures (never sent, unbilled, and unknown under ``NOW``) asked again at most this many times.
    max_retries: int
    #: Whether an attempt whose outcome is unknown is asked again in this run.
    retry_unknown: RetryUnknown = RetryUnknown.NEXT_RUN
    #: Waits (seconds) before retry 1, 2, ...; the last one repeats. Empty: exponential backoff with jitter.
    schedule: tuple[float, ...] = ()
    #: 429s one request may wait out before it is the record's error.
    max_rate_limit_retries: int = 10
    #: A 429 asking for a longer wait than this (seconds) is the record's error at once.
    max_retry_after: float = 300.0
    #: Backoff: ``min(backoff_max, backoff_base * 2**n) + uniform(0, backoff_base)`` seconds.
    backoff_base: float = 0.5
    backoff_max: float = 30.0

    @classmethod
    def for_provider(cls, config: ProviderConfig, *, repeats_billed_once: bool = False,
                     **overrides: float) -> RetryPolicy:
        """The policy a provider's config asks for; ``retry_unknown`` unset means ``now`` exactly when the
        vendor bills a repeated question once (``repeats_billed_once``), else ``next_run``."""
        if config.retry_unknown is not None:
            retry_unknown = RetryUnknown(config.retry_unknown)
        else:
            retry_unknown = RetryUnknown.NOW if repeats_billed_once else RetryUnknown.NEXT_RUN
        return cls(max_retries=config.max_retries, retry_unknown=retry_unknown,
                   schedule=tuple(config.retry_schedule or ()), **overrides)  # type: ignore[arg-type]

    @property
    def asks_unknown_again_now(self) -> bool:
        return self.retry_unknown is RetryUnknown.NOW

    def retry_after_too_long(self, exchange: Exchange) -> bool:
        return exchange.retry_after is not None and exchange.retry_after > self.max_retry_after

    def should_retry(self, history: Sequence[Exchange]) -> bool:
        """Whether the request is sent again after the last exchange of ``history``."""
        last = history[-1]
        if last.kind is ExchangeKind.RATE_LIMITED:
            if self.retry_after_too_long(last):
                return False
            return _count(history, ExchangeKind.RATE_LIMITED) <= self.max_rate_limit_retries
        if last.kind is ExchangeKind.UNKNOWN and not self.asks_unknown_again_now:
            return False
        if last.kind in (*_SAFE_TO_REPEAT, ExchangeKind.UNKNOWN):
            return _count(history, *_SAFE_TO_REPEAT, ExchangeKind.UNKNOWN) <= self.max_retries
        return False

    def wait_seconds(self, history: Sequence[Exchange]) -> float:
        """How long to wait before the next attempt."""
        last = history[-1]
        if last.kind is ExchangeKind.RATE_LIMITED:
            if last.retry_after is not None:
                return 0.0  # the client's shared pause (set when the 429 arrived) is waited out before the next send
            return self._backoff(_count(history, ExchangeKind.RATE_LIMITED))
        n = _count(history, *_SAFE_TO_REPEAT, ExchangeKind.UNKNOWN)
        if self.schedule:
            return self.schedule[min(n, len(self.schedule)) - 1]
        return self._backoff(n)

    def _backoff(self, n: int) -> float:
        return min(self.backoff_max, self.backoff_base * (2 ** (n - 1))) + random.uniform(0, self.backoff_base)

    def gave_up_because(self, final: Exchange, attempts: int) -> str:
        """Why a request that ended without an answer is the record's error (or unknown)."""
        if final.kind is ExchangeKind.RATE_LIMITED and self.retry_after_too_long(final):
            return f"rate limited, Retry-After {final.retry_after:g}s is over the {self.max_retry_after:g}s cap"
        if final.kind is ExchangeKind.UNKNOWN and not self.asks_unknown_again_now:
            return ("no usable answer; the vendor may have billed it, so it is not asked again in this run "
                    "(retry_unknown: next_run)")
        return f"gave up after {attempts} attempts"

    async def run(self, attempt: Callable[[], Awaitable[Exchange]], *, sleep: Sleep,
                  before_sleep: Callable[[Exchange, int], None]) -> list[Exchange]:
        """Every exchange of one request, in order: ``attempt`` again for as long as the policy says (a tenacity
        loop); ``before_sleep(last exchange, number of the next attempt)`` before each wait."""
        history: list[Exchange] = []

        async def once() -> Exchange:
            exchange = await attempt()
            history.append(exchange)
            return exchange

        def log_before_sleep(state: RetryCallState) -> None:
            before_sleep(history[-1], len(history) + 1)

        await AsyncRetrying(
            retry=retry_if_result(lambda _: self.should_retry(history)),
            wait=lambda _: self.wait_seconds(history),
            sleep=sleep,
            before_sleep=log_before_sleep,
            reraise=True,
        )(once)
        return history
