"""What one publish task did with its delivery: a typed value for logs, tests and the task result."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    # The delivery ended the task in this state.
    PUBLISHED = "published"
    RETRY_WAIT = "retry_wait"
    FAILED = "failed"
    UNKNOWN = "unknown"
    MISSED = "missed"
    # The account may not be sent to now: the delivery went back to wait (nothing was sent).
    HELD_REAUTH = "held: the account needs re-authorisation"
    HELD_RATE_LIMITED = "held: the account is rate-limited by the network"
    HELD_BUSY = "held: another delivery of the account is being published"
    # The job store was unavailable: nothing was sent.
    STORE_UNAVAILABLE = "not taken: the job store is unavailable; the dispatcher hands it out again"
    # The lookup's answer waits in the outbox for the store: nothing is sent until it is recorded.
    DEFERRED = "recorded in the outbox: the job store is unavailable"
    # Nothing to do.
    NOT_QUEUED = "not queued: a duplicate message, or the delivery moved on"
    RACED = "raced: another copy of the message claimed it"
    MISSING = "missing: no such delivery"

    @property
    def held(self) -> bool:
        return self.name.startswith("HELD_")
