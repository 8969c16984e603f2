"""The retry policy alone: which exchanges are asked again, how often, after how long."""

from __future__ import annotations

import pytest

from enrichment_assets.config import parse_config
from enrichment_assets.vendors.exchange import Exchange, ExchangeKind
from enrichment_assets.vendors.retry import RetryPolicy, RetryUnknown

POLICY = RetryPolicy(max_retries=2, max_rate_limit_retries=3, max_retry_after=60, backoff_base=1.0, backoff_max=4.0)
NOW = RetryPolicy(max_retries=2, retry_unknown=RetryUnknown.NOW, backoff_base=1.0, backoff_max=4.0)

N, B, U = ExchangeKind.NOT_SENT, ExchangeKind.UNBILLED, ExchangeKind.UNKNOWN


def history(*kinds: ExchangeKind, retry_after: float | None = None) -> list[Exchange]:
    return [Exchange(attempt=None, kind=kind, retry_after=retry_after) for kind in kinds]


@pytest.mark.parametrize("kind", [N, B])
def test_what_cannot_have_been_billed_is_asked_again_up_to_max_retries(kind: ExchangeKind) -> None:
    assert POLICY.should_retry(history(kind)) and POLICY.should_retry(history(kind, kind))
    assert not POLICY.should_retry(history(kind, kind, kind))


def test_an_unknown_outcome_is_asked_again_in_the_run_only_under_now() -> None:
    assert not POLICY.should_retry(history(U))  # next_run: a repeat may bill twice
    assert not POLICY.should_retry(history(N, U))
    assert NOW.should_retry(history(U)) and NOW.should_retry(history(U, N))
    assert not NOW.should_retry(history(U, N, U))  # unknowns and never-sent share max_retries
    assert "not asked again in this run" in POLICY.gave_up_because(history(U)[-1], 1)
    assert NOW.gave_up_because(history(U, U, U)[-1], 3) == "gave up after 3 attempts"


def test_rate_limits_count_apart_and_a_long_retry_after_gives_up_at_once() -> None:
    R = ExchangeKind.RATE_LIMITED
    assert POLICY.should_retry(history(N, N, R, R, R))  # failures do not use up the 429 allowance
    assert not POLICY.should_retry(history(R, R, R, R))
    assert not POLICY.should_retry(history(R, retry_after=61))
    assert POLICY.should_retry(history(R, retry_after=60))
    assert POLICY.gave_up_because(history(R, retry_after=61)[-1], 1).startswith("rate limited, Retry-After 61s")
    assert POLICY.gave_up_because(history(R)[-1], 4) == "gave up after 4 attempts"


def test_answers_are_never_asked_again() -> None:
    for kind in (ExchangeKind.DONE, ExchangeKind.STOPPED):
        assert not POLICY.should_retry(history(kind)) and not NOW.should_retry(history(kind))


def test_waits_back_off_exponentially_with_jitter_and_a_cap() -> None:
    R = ExchangeKind.RATE_LIMITED
    for n, base in ((1, 1.0), (2, 2.0), (3, 4.0), (5, 4.0)):
        assert base <= POLICY.wait_seconds(history(*[N] * n)) <= base + 1.0
    # A Retry-After is waited out by the client's shared pause, not by the retry loop.
    assert POLICY.wait_seconds(history(R, retry_after=7)) == 0.0


def test_a_schedule_replaces_the_backoff() -> None:
    """A vendor whose document asks for a given wait (LeadMagic: 30 s after a 500) sets it as the schedule."""
    policy = RetryPolicy(max_retries=3, schedule=(30.0, 60.0))
    assert [policy.wait_seconds(history(*[B] * n)) for n in (1, 2, 3)] == [30.0, 60.0, 60.0]


def test_for_provider_reads_the_config_and_the_vendors_billing() -> None:
    config = parse_config({"providers": {"lantern": {"max_retries": 7, "retry_schedule": [2, 5]},
                                         "pronto": {"retry_unknown": "now"}}})
    lantern = RetryPolicy.for_provider(config.provider("lantern"), repeats_billed_once=True, backoff_base=0.1)
    assert (lantern.max_retries, lantern.schedule, lantern.retry_unknown) == (7, (2.0, 5.0), RetryUnknown.NOW)
    # Unset, retry_unknown follows the vendor: next_run unless a repeat is billed once.
    assert RetryPolicy.for_provider(config.provider("leadmagic")).retry_unknown is RetryUnknown.NEXT_RUN
    assert RetryPolicy.for_provider(config.provider("pronto")).retry_unknown is RetryUnknown.NOW
