"""Publishing one delivery: claim, send its items one by one, record, move on.

Claim is `queued -> publishing` by compare-and-set with a fresh claim token and a
lease; only the winner calls the network, so a duplicated broker message is a no-op.
A thread is sent item by item and each item's remote id is recorded before the next
is sent, so a later attempt resumes at the first unsent item and never reposts the
head. Finishing is guarded by the claim token; if the reaper declared the attempt
`unknown` meanwhile and the network did answer, the worker settles it: it knows.

Before claiming, the account is checked: flagged for re-authorisation or rate-limited
by the network, the delivery goes back to `scheduled` for later, with nothing sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from postmast.connectors import (
    ConnectorError,
    Found,
    OutcomeUnknown,
    PublishResult,
    RateLimited,
    get_connector,
)
from postmast.scheduler import claims
from postmast.scheduler.config import Settings
from postmast.scheduler.errors import ConfigError
from postmast.scheduler.models import Account, AccountStatus, Attempt
from postmast.scheduler.states import Status, transition
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault, redact
from postmast.workers.claim import Claim, take
from postmast.workers.connection import Connection, ConnectorFactory, open_connection
from postmast.workers.lookup import Lookups
from postmast.workers.retry import Decision, RetryPolicy
from postmast.workers.thread import item_key, record_item, thread_content

log = logging.getLogger("postmast.worker")

Enqueue = Callable[[Sequence[int]], None]


class Publisher:
    def __init__(
        self,
        store: Store,
        vault: Vault,
        settings: Settings,
        *,
        policy: RetryPolicy | None = None,
        connectors: ConnectorFactory = get_connector,
        enqueue: Enqueue | None = None,
    ) -> None:
        self.store = store
        self.vault = vault
        self.timings = settings.timings
        self.policy = policy or RetryPolicy(
            base=settings.timings.retry_base,
            cap=settings.timings.retry_cap,
            max_attempts=settings.max_attempts,
        )
        self.connectors = connectors
        self.enqueue = enqueue
        self.lookups = Lookups(self)  # after an unknown outcome, look before sending

    # -- the whole path ---------------------------------------------------------------------------

    def publish(self, delivery_id: int) -> str:
        """Publish delivery `delivery_id` if it is still queued; returns what happened, for logs."""
        claim = take(self.store, delivery_id, lease=self.timings.lease, reauth_wait=self.policy.reauth_wait)
        if isinstance(claim, str):
            return claim
        try:
            return self._send(claim)
        finally:
            self.hand_off(claim.account.id)

    def hand_off(self, account_id: int) -> None:
        """Queue the account's next due delivery now that this one is done (one in flight per account)."""
        if self.enqueue is None:
            return
        try:
            with self.store.write() as session:
                ids = claims.claim_next(session, account_id, self.store.now())
            if ids:
                self.enqueue(ids)
        except Exception as exc:  # the dispatcher's next tick picks it up instead
            log.warning("could not hand account %s its next delivery (%s)", account_id, type(exc).__name__)

    # -- steps ------------------------------------------------------------------------------------

    def _send(self, claim: Claim) -> str:
        started = time.monotonic()
        try:
            connection = open_connection(
                claim.account,
                self.vault,
                self.timings,
                self.connectors,
                clock=self.store.clock,
                started=started,
            )
        except ConfigError as exc:
            self.finish(claim, Decision(Status.FAILED), error_class="SecretsUnreadable", message=str(exc))
            return "failed"
        try:
            connection.refresh_cache(self.store.now())
            return self._send_items(claim, connection)
        finally:
            try:
                connection.save(self.store, self.vault, self.store.now())
            except Exception:
                log.exception("account %s: could not save the connector's session", claim.account.id)

    def _send_items(self, claim: Claim, connection: Connection) -> str:
        done = dict(claim.done)
        reply_to = (claim.post.content.get("reply_to") or {}).get(claim.account.target)
        head: PublishResult | None = None
        look_first = claim.needs_lookup
        for position in range(len(claim.items)):
            if position in done:
                continue
            content = thread_content(claim.items, position, done, reply_to)
            key = item_key(claim.idempotency_key, position)
            if look_first:  # the previous attempt at this item may have reached the network
                look_first = False
                verdict = self.lookups.verify(claim, connection, content, key)
                if isinstance(verdict, str):
                    return verdict
                if isinstance(verdict, Found):
                    record_item(self.store, claim.delivery_id, position, verdict.result, self.store.now())
                    done[position] = verdict.result.ref()
                    head = head or (verdict.result if position == 0 else None)
                    continue
                if claim.deadline is not None and self.store.now() > claim.deadline:
                    self.finish(
                        claim,
                        Decision(Status.MISSED),
                        error_class="Missed",
                        message="confirmed not on the network, and its allowed lateness is over",
                    )
                    return "missed"
            try:
                result = connection.connector.publish(content, connection.credentials, key)
            except ConnectorError as exc:
                return self._failed(claim, exc, redact(exc.message, connection.credentials), position)
            except SoftTimeLimitExceeded:  # Celery's time limit, in the middle of a request
                unknown = OutcomeUnknown(
                    f"the worker's time limit was reached while talking to {connection.connector.title}"
                )
                return self._failed(claim, unknown, unknown.message, position)
            except Exception as exc:  # a connector bug after the request may have gone out
                log.exception("delivery %s: connector %s raised", claim.delivery_id, claim.account.network)
                message = redact(
                    f"internal error in the {claim.account.network} connector: {type(exc).__name__}",
                    connection.credentials,
                )
                self.finish(claim, Decision(Status.UNKNOWN), error_class="InternalError", message=message)
                return "unknown"
            record_item(self.store, claim.delivery_id, position, result, self.store.now())
            done[position] = result.ref()
            head = head or (result if position == 0 else None)
        first = done[0]
        return self._published(claim, PublishResult(first.id, first.url, head.http_status if head else None))

    def _published(self, claim: Claim, result: PublishResult) -> str:
        now = self.store.now()
        values: dict[str, Any] = dict(
            remote_id=result.remote_id,
            public_url=result.url,
            published_at=now,
            last_error=None,
            last_error_class=None,
        )
        with self.store.write() as session:
            self._record(
                session,
                claim,
                now,
                Status.PUBLISHED,
                http_status=result.http_status,
                remote_id=result.remote_id,
            )
            won = transition(
                session,
                claim.delivery_id,
                Status.PUBLISHING,
                Status.PUBLISHED,
                now=now,
                expected_token=claim.token,
                **values,
            )
            if not won:
                # The lease ran out and the reaper said `unknown`: we know better now.
                won = transition(
                    session, claim.delivery_id, Status.UNKNOWN, Status.PUBLISHED, now=now, **values
                )
        log.info(
            "delivery %s published to %s as %s",
            claim.delivery_id,
            claim.account.target,
            result.url or result.remote_id,
        )
        return "published" if won else "published (state moved on)"

    def _failed(self, claim: Claim, error: ConnectorError, message: str, position: int) -> str:
        if len(claim.items) > 1:
            message = f"item {position + 1} of {len(claim.items)}: {message}"
        with self.store.read() as session:
            same_kind = (
                session.scalar(
                    select(func.count())
                    .select_from(Attempt)
                    .where(Attempt.delivery_id == claim.delivery_id, Attempt.error_class == error.kind)
                )
                or 0
            )
        decision = self.policy.decide(error, same_kind + 1)
        if decision.reason:
            message = f"{message} ({decision.reason})"
        self.finish(
            claim,
            decision,
            error_class=error.kind,
            message=message,
            http_status=error.http_status,
            rate_limited=isinstance(error, RateLimited),
        )
        if decision.flag_account:
            self._flag_account(claim.account.id, message)
        log.warning(
            "delivery %s to %s: %s -> %s", claim.delivery_id, claim.account.target, message, decision.status
        )
        return str(decision.status)

    def finish(
        self,
        claim: Claim,
        decision: Decision,
        *,
        error_class: str,
        message: str,
        http_status: int | None = None,
        rate_limited: bool = False,
        columns: dict[str, Any] | None = None,
    ) -> None:
        """Record the attempt and move the delivery from `publishing` as `decision` says."""
        now = self.store.now()
        extra = columns or {}
        with self.store.write() as session:
            self._record(
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
                values["reconcile_at"] = now + timedelta(seconds=self.timings.settle)
                values["reconcile_attempts"] = 0
            values.update(extra)
            transition(
                session,
                claim.delivery_id,
                Status.PUBLISHING,
                decision.status,
                now=now,
                expected_token=claim.token,
                **values,
            )

    @staticmethod
    def _record(
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

    def _flag_account(self, account_id: int, reason: str) -> None:
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
                "postmast account update NETWORK:NAME --secrets)",
                account_id,
                reason,
            )
