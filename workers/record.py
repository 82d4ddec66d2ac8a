"""Recording what a task learnt, so that a known outcome is never lost.

The `Recorder` turns what a task learnt into records (`workers.write`) and applies each at
once; when the store is unavailable (connections refused, a restart, SQLite locked past its
busy timeout) it keeps the record in the outbox (`workers.outbox`), which is applied in
order once the store is back, and every later write for the same delivery queues behind it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

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


AfterEnding = Callable[[Session, Ending], None]
"""Run in an ending's own transaction (the worker claims the account's next turn there)."""
STILL_HELD = frozenset({Status.QUEUED, Status.PUBLISHING, Status.RECONCILING})
"""Endings that keep the delivery in flight (a lookup found it absent: it is sent at once)."""


class Recorder:
    def __init__(
        self, store: Store, policy: RetryPolicy, outbox: Outbox, after_ending: AfterEnding | None = None
    ) -> None:
        self.store = store
        self.policy = policy
        self.outbox = outbox
        self.after_ending = after_ending

    def write(self, *records: Record) -> bool:
        """Apply `records` now, in one transaction, or keep them in the outbox when the store is
        unavailable (or an earlier write for the same delivery is waiting there). True when they
        were applied now.

        An ending that lets the delivery go runs `after_ending` in the same transaction: a
        delivery's end and its account's next turn then cost one commit, not two."""
        delivery_id = records[0].delivery_id
        if self.outbox.holds(delivery_id):
            self._keep(records)
            return False
        try:
            self._apply(records, self.after_ending)
        except IntegrityError:  # an item recorded by another copy of this write: nothing to add
            return len(records) == 1 or all([self.write(record) for record in records])
        except Exception as exc:
            if unavailable(exc):
                self._keep(records, exc)
                return False
            if self.after_ending is None:
                raise
            log.exception("delivery %s: the account's next turn failed; recording without it", delivery_id)
            return self._without_hook(records)
        return True

    def _without_hook(self, records: tuple[Record, ...]) -> bool:
        try:
            self._apply(records, None)
        except Exception as exc:
            if not unavailable(exc):
                raise
            self._keep(records, exc)
            return False
        return True

    def _apply(self, records: tuple[Record, ...], after: AfterEnding | None) -> None:
        with self.store.write() as session:
            for record in records:
                apply(session, record)
                if after is not None and isinstance(record, Ending) and record.status not in STILL_HELD:
                    after(session, record)

    def _keep(self, records: tuple[Record, ...], exc: Exception | None = None) -> None:
        for record in records:
            self.outbox.put(record.delivery_id, encode(record))
        if exc is not None:
            log.warning(
                "delivery %s: the job store is unavailable (%s); what the worker learnt is kept in %s "
                "and recorded as soon as the store is back",
                records[0].delivery_id,
                type(exc).__name__,
                self.outbox.directory,
            )

    def waiting(self, delivery_id: int) -> bool:
        """Whether a write for `delivery_id` is still in the outbox."""
        return self.outbox.holds(delivery_id)

    def item(self, delivery_id: int, position: int, result: PublishResult) -> bool:
        """One item of a thread is on the network: record it before the next is sent."""
        return self.write(self._item(delivery_id, position, result, self.store.now()))

    @staticmethod
    def _item(delivery_id: int, position: int, result: PublishResult, now: datetime) -> Item:
        return Item(delivery_id, position, result.remote_id, result.url, dict(result.extra), now)

    def published(
        self,
        claim: Claim,
        result: PublishResult,
        note: str = "",
        *,
        warning: str = "",
        last: tuple[int, PublishResult] | None = None,
    ) -> Outcome:
        """The whole delivery is on the network: `published`, with its first item's id and link.
        A `warning` (sent differently from what was asked, e.g. a mention as plain text) stays on
        the delivery's report line, with the error class `Note`. `last` (position, result) is the
        thread's last item, recorded in the same transaction: nothing is sent after it."""
        now = self.store.now()
        items = [self._item(claim.delivery_id, *last, now)] if last is not None else []
        self.write(
            *items,
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
            ),
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
