"""The retry policy alone: which exchanges are asked again, how often, after how long."""

from __future__ import annotations

from enrichment_assets.config import parse_config
from enrichment_assets.vendors.exchange import Exchange, ExchangeKind
from enrichment_assets.vendors.retry import RetryPolicy

POLICY = RetryPolicy(max_transient_retries=2, max_rate_limit_retries=3, max_retry_after=60, malformed_retries=1,
                     backoff_base=1.0, backoff_max=4.0)


def history(*kinds: ExchangeKind, retry_after: float | None = None) -> list[Exchange]:
    return [Exchange(attempt=None, kind=kind, retry_after=retry_after) for kind in kinds]


def test_transient_is_asked_again_up_to_max_retries() -> None:
    T = ExchangeKind.TRANSIENT
    assert POLICY.should_retry(history(T)) and POLICY.should_retry(history(T, T))
    assert not POLICY.should_retry(history(T, T, T))


def test_rate_limits_count_apart_and_a_long_retry_after_gives_up_at_once() -> None:
    R, T = ExchangeKind.RATE_LIMITED, ExchangeKind.TRANSIENT
    assert POLICY.should_retry(history(T, T, R, R, R))  # two transients do not use up the 429 allowance
    assert not POLICY.should_retry(history(R, R, R, R))
    assert not POLICY.should_retry(history(R, retry_after=61))
    assert POLICY.should_retry(history(R, retry_after=60))
    assert POLICY.gave_up_because(history(R, retry_after=61)[-1], 1).startswith("rate limited, Retry-After 61s")
    assert POLICY.gave_up_because(history(R)[-1], 4) == "gave up after 4 attempts"


def test_malformed_is_asked_once_more_and_answers_never() -> None:
    M = ExchangeKind.MALFORMED
    assert POLICY.should_retry(history(M)) and not POLICY.should_retry(history(M, M))
    for kind in (ExchangeKind.DONE, ExchangeKind.STOPPED):
        assert not POLICY.should_retry(history(kind))


def test_waits_back_off_exponentially_with_jitter_and_a_cap() -> None:
    T, R = ExchangeKind.TRANSIENT, ExchangeKind.RATE_LIMITED
    for n, base in ((1, 1.0), (2, 2.0), (3, 4.0), (5, 4.0)):
        assert base <= POLICY.wait_seconds(history(*[T] * n)) <= base + 1.0
    # A Retry-After is waited out by the client's shared pause, not by the retry loop.
    assert POLICY.wait_seconds(history(R, retry_after=7)) == 0.0


def test_for_provider_takes_max_retries_from_the_config() -> None:
    config = parse_config({"providers": {"lantern": {"max_retries": 7}}}).provider("lantern")
    assert RetryPolicy.for_provider(config, backoff_base=0.1).max_transient_retries == 7
