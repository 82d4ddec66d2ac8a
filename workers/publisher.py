"""Publishing one delivery: take it, send its items one by one, record, hand the account on.

A thread is sent item by item and each item's remote id is recorded before the next is
sent, so a later attempt resumes at the first unsent item and never reposts the head.
A delivery taken for reconciliation is looked up first (`workers.lookup`); when the
network confirms it absent, this worker sends it at once. Whatever happens, the
account's next turn is claimed afterwards (one delivery in flight per account).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import func, select

from postmast.connectors import (
    ConnectorError,
    OutcomeUnknown,
    PublishResult,
    RateLimited,
    RemoteRef,
    get_connector,
)
from postmast.scheduler import claims
from postmast.scheduler.config import Settings
from postmast.scheduler.errors import ConfigError
from postmast.scheduler.models import Attempt
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault, redact
from postmast.workers.claim import Claim, Kind, take
from postmast.workers.connection import Connection, ConnectorFactory, open_connection
from postmast.workers.lookup import Reconciler
from postmast.workers.outcome import Outcome
from postmast.workers.record import Recorder
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
        self.policy = policy or RetryPolicy.from_settings(settings)
        self.connectors = connectors
        self.enqueue = enqueue
        self.recorder = Recorder(store, self.policy)
        self.reconciler = Reconciler(store, self.recorder, self.policy)

    # -- the whole path ---------------------------------------------------------------------------

    def publish(self, delivery_id: int) -> Outcome:
        """Handle one message for `delivery_id`: publish it, or look it up first, if it is still ours."""
        claim = self._take(delivery_id)
        if isinstance(claim, Outcome):
            return claim
        try:
            return self._run(claim)
        finally:
            self.hand_off(claim.account.id)

    def hand_off(self, account_id: int) -> None:
        """Claim the account's next turn now that this one is done (one in flight per account)."""
        if self.enqueue is None:
            return
        try:
            with self.store.write() as session:
                ids = claims.claim_next(session, account_id, self.store.now(), self.timings.lease)
            if ids:
                self.enqueue(ids)
        except Exception as exc:  # the dispatcher's next tick picks it up instead
            log.warning("could not hand account %s its next delivery (%s)", account_id, type(exc).__name__)

    # -- steps ------------------------------------------------------------------------------------

    def _take(self, delivery_id: int) -> Claim | Outcome:
        return take(self.store, delivery_id, lease=self.timings.lease, policy=self.policy)

    def _run(self, claim: Claim) -> Outcome:
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
            decision = Decision(Status.FAILED if claim.kind == Kind.PUBLISH else Status.UNKNOWN)
            ended = self.recorder.finish(claim, decision, error_class="SecretsUnreadable", message=str(exc))
            return ended or Outcome.FAILED
        try:
            connection.refresh_cache(self.store.now())
            if claim.kind == Kind.LOOKUP:
                ended = self.reconciler.reconcile(claim, connection)
                if ended is not None:
                    return ended
                taken = self._take(claim.delivery_id)  # confirmed absent, or a thread to finish
                if isinstance(taken, Outcome):
                    return taken
                claim = taken
            return self._send_items(claim, connection)
        finally:
            try:
                connection.save(self.store, self.vault, self.store.now())
            except Exception:
                log.exception("account %s: could not save the connector's session", claim.account.id)

    def _send_items(self, claim: Claim, connection: Connection) -> Outcome:
        connector = connection.connector
        try:
            items = connector.items(claim.body.contents(claim.target, connector.options))
        except ValueError as exc:  # an option stored at queue time that the network no longer takes
            return (
                self.recorder.finish(
                    claim, Decision(Status.FAILED), error_class="InvalidOption", message=str(exc)
                )
                or Outcome.FAILED
            )
        done: dict[int, RemoteRef] = dict(claim.done)
        head: PublishResult | None = None
        for position in range(len(items)):
            if position in done:
                continue
            content = thread_content(items, position, done)
            try:
                result = connector.publish(
                    content, connection.credentials, item_key(claim.idempotency_key, position)
                )
            except ConnectorError as exc:
                message = redact(exc.message, connection.credentials)
                return self._failed(claim, exc, message, position, len(items))
            except SoftTimeLimitExceeded:  # Celery's time limit, in the middle of a request
                unknown = OutcomeUnknown(
                    f"the worker's time limit was reached while talking to {connector.title}"
                )
                return self._failed(claim, unknown, unknown.message, position, len(items))
            except Exception as exc:  # a connector bug after the request may have gone out
                log.exception("delivery %s: connector %s raised", claim.delivery_id, claim.account.network)
                message = redact(
                    f"internal error in the {claim.account.network} connector: {type(exc).__name__}",
                    connection.credentials,
                )
                self.recorder.finish(
                    claim, Decision(Status.UNKNOWN), error_class="InternalError", message=message
                )
                return Outcome.UNKNOWN
            record_item(self.store, claim.delivery_id, position, result, self.store.now())
            done[position] = result.ref()
            head = head or (result if position == 0 else None)
        first = done[0]
        return self.recorder.published(
            claim, PublishResult(first.id, first.url, head.http_status if head else None)
        )

    def _failed(
        self, claim: Claim, error: ConnectorError, message: str, position: int, total: int
    ) -> Outcome:
        if total > 1:
            message = f"item {position + 1} of {total}: {message}"
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
        ended = self.recorder.finish(
            claim,
            decision,
            error_class=error.kind,
            message=message,
            http_status=error.http_status,
            rate_limited=isinstance(error, RateLimited),
        )
        if decision.flag_account:
            self.recorder.flag_account(claim.account.id, claim.target, message)
        log.warning("delivery %s to %s: %s -> %s", claim.delivery_id, claim.target, message, decision.status)
        return ended or Outcome.UNKNOWN
