"""Retry policy in one place: what each connector error leads to, and when to try again.

Connectors only classify; this module decides. Backoff is exponential with jitter
and a cap; rate limits wait for the network's own reset time. The waits of the claim
(an account that needs re-authorisation, or is busy) and of reconciliation (the
settle delay after an unknown outcome, then growing delays between lookups that could
not decide) are here too, so every "when next" of the worker has one home.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from postmast.connectors.errors import (
    AuthExpired,
    ConnectorError,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.scheduler.config import Settings
from postmast.scheduler.states import Status


@dataclass(frozen=True)
class Decision:
    """Where a delivery goes after an attempt, and (for retry_wait) in how many seconds."""

    status: Status
    delay: float = 0.0
    reason: str = ""
    flag_account: bool = False


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 30.0
    cap: float = 3600.0
    factor: float = 2.0
    jitter: float = 0.25
    """Each delay is multiplied by a random factor in [1 - jitter, 1 + jitter]."""
    max_attempts: int = 5
    """Attempts that ended in a transient error before the delivery fails."""
    max_rate_limited: int = 10
    """Attempts that ended rate-limited before the delivery fails."""
    rate_limit_default: float = 60.0
    """Wait used when a network says "too many" without saying until when."""
    reauth_wait: float = 300.0
    """How often a delivery waiting for its account to be re-authorised is looked at again."""
    busy_wait: float = 1.0
    """How soon a delivery is looked at again when another of its account's is being published."""
    settle: float = 300.0
    """After an unknown outcome, how long before the network is asked whether the post exists."""
    max_lookups: int = 10
    """Lookups that could not decide before a delivery is left to a person."""
    rng: random.Random = field(default_factory=random.Random, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        timings = settings.timings
        return cls(
            base=timings.retry_base,
            cap=timings.retry_cap,
            max_attempts=settings.max_attempts,
            settle=timings.settle,
        )

    def backoff(self, attempt: int) -> float:
        """Delay before attempt `attempt + 1` after `attempt` transient failures (1-based)."""
        raw = min(self.cap, self.base * self.factor ** max(0, attempt - 1))
        return min(self.cap, raw * self.rng.uniform(1 - self.jitter, 1 + self.jitter))

    def lookup_delay(self, lookups: int, rate_limited_for: float | None = None) -> float | None:
        """Delay before the next lookup after `lookups` undecided ones (1-based); None: stop asking."""
        if lookups >= self.max_lookups:
            return None
        delay = max(self.settle, min(self.cap, self.settle * self.factor**lookups))
        return max(delay, rate_limited_for) if rate_limited_for is not None else delay

    def decide(self, error: ConnectorError, failures_of_kind: int) -> Decision:
        """The decision after `error`, given how many attempts (this one included) ended like it."""
        if isinstance(error, OutcomeUnknown):
            return Decision(
                Status.UNKNOWN, reason="the network may have received it; it will not be re-sent blindly"
            )
        if isinstance(error, PermanentError):
            return Decision(Status.FAILED)
        if isinstance(error, AuthExpired):
            return Decision(
                Status.RETRY_WAIT,
                self.reauth_wait,
                "waiting for the account to be re-authorised",
                flag_account=True,
            )
        if isinstance(error, RateLimited):
            if failures_of_kind >= self.max_rate_limited:
                return Decision(Status.FAILED, reason=f"still rate-limited after {failures_of_kind} attempts")
            wait = error.retry_after if error.retry_after is not None else self.rate_limit_default
            return Decision(Status.RETRY_WAIT, max(1.0, wait) + self.rng.uniform(0, 1.0))
        if isinstance(error, TransientError):
            if failures_of_kind >= self.max_attempts:
                return Decision(Status.FAILED, reason=f"gave up after {failures_of_kind} attempts")
            return Decision(Status.RETRY_WAIT, self.backoff(failures_of_kind))
        return Decision(Status.UNKNOWN, reason="unclassified error")
