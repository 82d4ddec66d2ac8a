"""Recording what a task learnt: the attempt row, then the delivery's next state, in one transaction.

Every write is guarded by the claim: the attempt row is completed once (`finished_at IS
NULL`), and the delivery moves only from the state the claim holds it in, with the
claim's token. If the reaper declared the attempt `unknown` meanwhile and the network
did answer, a published post is still recorded: the worker knows better.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from postmast.connectors import PublishResult
from postmast.scheduler import claims
from postmast.scheduler.models import Account, AccountStatus, Attempt
from postmast.scheduler.states import UNSETTLED, Status, transition
from postmast.scheduler.store import Store
from postmast.workers.claim import Claim
from postmast.workers.outcome import Outcome
from postmast.workers.retry import Decision, RetryPolicy

log = logging.getLogger("postmast.worker")

ENDED = {
    Status.PUBLISHED: Outcome.PUBLISHED,
    Status.RETRY_WAIT: Outcome.RETRY_WAIT,
    Status.FAILED: Outcome.FAILED,
    Status.UNKNOWN: Outcome.UNKNOWN,
    Status.MISSED: Outcome.MISSED,
}


class Recorder:
    def __init__(self, store: Store, policy: RetryPolicy) -> None:
        self.store = store
        self.policy = policy

    def published(self, claim: Claim, result: PublishResult, note: str = "") -> Outcome:
        """The whole delivery is on the network: `published`, with its first item's id and link."""
        now = self.store.now()
        values: dict[str, Any] = dict(
            remote_id=result.remote_id,
            public_url=result.url,
            published_at=now,
            last_error=None,
            last_error_class=None,
        )
        with self.store.write() as session:
            self._attempt(
                session,
                claim,
                now,
                Status.PUBLISHED,
                http_status=result.http_status,
                remote_id=result.remote_id,
                message=note or None,
            )
            won = transition(
                session,
                claim.delivery_id,
                claim.status,
                Status.PUBLISHED,
                now=now,
                expected_token=claim.token,
                **values,
            )
            if not won:  # the lease ran out and the reaper said `unknown`: we know better now
                won = transition(
                    session, claim.delivery_id, list(UNSETTLED), Status.PUBLISHED, now=now, **values
                )
        log.info(
            "delivery %s published to %s as %s",
            claim.delivery_id,
            claim.target,
            result.url or result.remote_id,
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
        columns: dict[str, Any] | None = None,
    ) -> Outcome | None:
        """Record the attempt and move the delivery from its claimed state as `decision` says.

        Returns the task's outcome when the delivery ended the task there (None for `queued`:
        after a lookup, the caller sends it at once)."""
        now = self.store.now()
        with self.store.write() as session:
            self._attempt(
                session,
                claim,
                now,
                decision.status,
                http_status=http_status,
                error_class=error_class,
                message=message,
            )
            values: dict[str, Any] = {"last_error": message, "last_error_class": error_class}
            if decision.status == Status.RETRY_WAIT:
                values["next_attempt_at"] = now + timedelta(seconds=decision.delay)
                if rate_limited:
                    claims.limit_account(session, claim.account.id, values["next_attempt_at"])
            if decision.status == Status.UNKNOWN:
                values["reconcile_at"] = now + timedelta(seconds=self.policy.settle)
                values["reconcile_attempts"] = 0
            if decision.status == Status.QUEUED:  # after a lookup: the normal path sends it now
                values.update(queued_at=now, next_attempt_at=now, last_error=None, last_error_class=None)
            if decision.status != Status.PUBLISHING:
                values.update(claim_token=None, lease_until=None)
            values.update(columns or {})
            transition(
                session,
                claim.delivery_id,
                claim.status,
                decision.status,
                now=now,
                expected_token=claim.token,
                **values,
            )
        return ENDED.get(decision.status)

    def flag_account(self, account_id: int, target: str, reason: str) -> None:
        """The network refused the account's credentials: its deliveries wait for a person."""
        now = self.store.now()
        with self.store.write() as session:
            flipped = session.execute(
                update(Account)
                .where(Account.id == account_id, Account.status == AccountStatus.ACTIVE)
                .values(status=AccountStatus.NEEDS_REAUTH, status_reason=reason, updated_at=now)
            ).rowcount  # type: ignore[attr-defined]
        if flipped:  # one notice per incident: only the worker that flipped the flag says it
            log.error(
                "account %s needs re-authorisation: %s (its deliveries wait; fix with: "
                "postmast account update %s --secrets)",
                target,
                reason,
                target,
            )

    def limit_account(self, account_id: int, seconds: float) -> None:
        with self.store.write() as session:
            claims.limit_account(session, account_id, self.store.now() + timedelta(seconds=max(1.0, seconds)))

    @staticmethod
    def _attempt(
        session: Session,
        claim: Claim,
        now: datetime,
        outcome: Status,
        *,
        http_status: int | None = None,
        error_class: str | None = None,
        message: str | None = None,
        remote_id: str | None = None,
    ) -> None:
        """Complete this attempt's row, once (`finished_at IS NULL` guards it)."""
        session.execute(
            update(Attempt)
            .where(Attempt.id == claim.attempt_id, Attempt.finished_at.is_(None))
            .values(
                finished_at=now,
                outcome=outcome.value,
                http_status=http_status,
                error_class=error_class,
                message=message,
                remote_id=remote_id,
            )
        )
