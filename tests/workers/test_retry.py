"""The retry policy: one decision per error class, exponential backoff with jitter and a cap."""

from __future__ import annotations

import random

import pytest

from postmast.connectors.errors import (
    AuthExpired,
    DuplicateContent,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.scheduler.states import Status
from postmast.workers.retry import RetryPolicy


def policy(**kwargs: float) -> RetryPolicy:
    return RetryPolicy(rng=random.Random(7), **kwargs)


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    p = policy(base=10, cap=100, jitter=0.25)
    for attempt, nominal in [(1, 10), (2, 20), (3, 40), (4, 80)]:
        delays = [p.backoff(attempt) for _ in range(200)]
        assert min(delays) >= nominal * 0.75 and max(delays) <= nominal * 1.25
        assert max(delays) - min(delays) > nominal * 0.2  # jitter really spreads retries
    assert all(p.backoff(20) <= 100 for _ in range(100))


def test_each_error_class_has_its_decision() -> None:
    p = policy(base=10, max_attempts=3, max_rate_limited=2)
    assert p.decide(PermanentError("bad"), 1).status == Status.FAILED
    assert p.decide(OutcomeUnknown("?"), 1).status == Status.UNKNOWN
    assert p.decide(DuplicateContent("dup"), 1).status == Status.UNKNOWN
    auth = p.decide(AuthExpired("expired"), 1)
    assert auth.status == Status.RETRY_WAIT and auth.flag_account
    assert p.decide(TransientError("503"), 2).status == Status.RETRY_WAIT
    assert p.decide(TransientError("503"), 3).status == Status.FAILED


@pytest.mark.parametrize(
    ("retry_after", "low", "high"), [(120.0, 120.0, 121.0), (0.0, 1.0, 2.0), (None, 60.0, 61.0)]
)
def test_rate_limit_waits_for_the_reset(retry_after: float | None, low: float, high: float) -> None:
    decision = policy().decide(RateLimited("slow down", retry_after=retry_after), 1)
    assert decision.status == Status.RETRY_WAIT and low <= decision.delay <= high


def test_rate_limited_too_often_fails() -> None:
    assert policy(max_rate_limited=3).decide(RateLimited("x", retry_after=1), 3).status == Status.FAILED


def test_lookups_wait_the_settle_delay_then_longer_then_stop() -> None:
    p = policy(settle=10.0, cap=100.0, max_lookups=5)
    assert [p.lookup_delay(n) for n in range(1, 6)] == [20.0, 40.0, 80.0, 100.0, None]
    assert p.lookup_delay(1, rate_limited_for=300.0) == 300.0


def test_the_policy_comes_from_the_settings(settings) -> None:
    p = RetryPolicy.from_settings(settings)
    assert (p.base, p.cap, p.settle, p.max_attempts) == (
        settings.timings.retry_base,
        settings.timings.retry_cap,
        settings.timings.settle,
        settings.max_attempts,
    )
