"""Recording what a task learnt, so that a known outcome is never lost.

The `Recorder` turns what a task learnt into records (`workers.write`) and applies each at
once; when the store is unavailable (connections refused, a restart, SQLite locked past its
busy timeout) it keeps the record in the outbox (`workers.outbox`), which is applied in
order once the store is back, and every later write for the same delivery queues behind it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from postmast.connectors import PublishResult
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store, unavailable
from postmast.workers.claim import Claim
from postmast.workers.outbox import Outbox
from postmast.workers.outcome import Outcome
from postmast.workers.retry import Decision, RetryPolicy
from postmast.workers.write import Abandon, Ending, Item, Record, apply, encode

log = logging.getLogger("postmast.worker")

ENDED = {
    Status.PUBLISHED: Outcome.PUBLISHED,
    Status.RETRY_WAIT: Outcome.RETRY_WAIT,
    Status.FAILED: Outcome.FAILED,
    Status.UNKNOWN: Outcome.UNKNOWN,
    Status.MISSED: Outcome.MISSED,
}


# -- the recorder -------------------------------------------------------------------------------------


class Recorder:
    def __init__(self, store: Store, policy: RetryPolicy, outbox: Outbox) -> None:
        self.store = store
        self.policy = policy
        self.outbox = outbox

    def write(self, record: Record) -> bool:
        """Apply `record` now, or keep it in the outbox when the store is unavailable (or an earlier
        write for the same delivery is waiting there). True when it was applied now."""
        if self.outbox.holds(record.delivery_id):
            self.outbox.put(record.delivery_id, encode(record))
            return False
        try:
            with self.store.write() as session:
                apply(session, record)
        except IntegrityError:  # an item recorded by another copy of this write: nothing to add
            return True
        except Exception as exc:
            if not unavailable(exc):
                raise
            self.outbox.put(record.delivery_id, encode(record))
            log.warning(
                "delivery %s: the job store is unavailable (%s); what the worker learnt is kept in %s "
                "and recorded as soon as the store is back",
                record.delivery_id,
                type(exc).__name__,
                self.outbox.directory,
            )
            return False
        return True

    def waiting(self, delivery_id: int) -> bool:
        """Whether a write for `delivery_id` is still in the outbox."""
        return self.outbox.holds(delivery_id)

    def item(self, delivery_id: int, position: int, result: PublishResult) -> bool:
        """One item of a thread is on the network: record it before the next is sent."""
        return self.write(
            Item(delivery_id, position, result.remote_id, result.url, dict(result.extra), self.store.now())
        )

    def published(self, claim: Claim, result: PublishResult, note: str = "", *, warning: str = "") -> Outcome:
        """The whole delivery is on the network: `published`, with its first item's id and link.
        A `warning` (sent differently from what was asked, e.g. a mention as plain text) stays on
        the delivery's report line, with the error class `Note`."""
        now = self.store.now()
        self.write(
            self._ending(
                claim,
                Status.PUBLISHED,
                now,
                attempt={
                    "http_status": result.http_status,
                    "remote_id": result.remote_id,
                    "message": note or warning or None,
                },
                columns={
                    "remote_id": result.remote_id,
                    "public_url": result.url,
                    "published_at": now,
                    "last_error": warning or None,
                    "last_error_class": "Note" if warning else None,
                },
            )
        )
        return Outcome.PUBLISHED

    def finish(
        self,
        claim: Claim,
        decision: Decision,
        *,
        error_class: str | None,
        message: str,
        http_status: int | None = None,
        rate_limited: bool = False,
        limit_for: float | None = None,
        columns: dict[str, Any] | None = None,
    ) -> Outcome | None:
        """Record the attempt and move the delivery from its claimed state as `decision` says.

        Returns the task's outcome when the delivery ended the task there (None for `queued`:
        after a lookup, the caller sends it at once)."""
        now = self.store.now()
        values: dict[str, Any] = {"last_error": message, "last_error_class": error_class}
        limit_until = now + timedelta(seconds=max(1.0, limit_for)) if limit_for is not None else None
        if decision.status == Status.RETRY_WAIT:
            values["next_attempt_at"] = now + timedelta(seconds=decision.delay)
            if rate_limited:
                limit_until = values["next_attempt_at"]
        if decision.status == Status.UNKNOWN:
            values["reconcile_at"] = now + timedelta(seconds=self.policy.settle)
            values["reconcile_attempts"] = 0
        if decision.status == Status.QUEUED:  # after a lookup: the normal path sends it now
            values.update(queued_at=now, next_attempt_at=now, last_error=None, last_error_class=None)
        if decision.status != Status.PUBLISHING:
            values.update(claim_token=None, lease_until=None)
        values.update(columns or {})
        self.write(
            self._ending(
                claim,
                decision.status,
                now,
                attempt={"http_status": http_status, "error_class": error_class, "message": message},
                columns=values,
                limit_until=limit_until,
                flag_reason=message if decision.flag_account else None,
            )
        )
        return ENDED.get(decision.status)

    def abandon(self, delivery_id: int, token: str, worker: str, at: datetime) -> None:
        """A claim whose commit failed: if it was stored after all, undo it (nothing was sent)."""
        self.write(Abandon(delivery_id, token, worker, at))

    @staticmethod
    def _ending(claim: Claim, status: Status, now: datetime, **values: Any) -> Ending:
        return Ending(
            claim.delivery_id,
            claim.account.id,
            claim.target,
            claim.attempt_id,
            claim.token,
            claim.status,
            status,
            now,
            **values,
        )
