"""Publishing one delivery: take it, send its items one by one, record, hand the account on.

A thread is sent item by item and each item's remote id is recorded before the next is
sent, so a later attempt resumes at the first unsent item and never reposts the head.
A delivery taken for reconciliation is looked up first (`workers.lookup`); when the
network confirms it absent, this worker sends it at once. Whatever happens, the
account's next turn is claimed afterwards (one delivery in flight per account).

Once a network has answered, the answer is never lost: when the store is unavailable the
`Recorder` keeps it in the outbox, this task retries it with backoff until its time limit,
and a background thread of the worker process (`start_draining`) goes on after that.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.orm import Session

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
from postmast.scheduler.states import Status
from postmast.scheduler.store import CommitUncertain, Store, unavailable
from postmast.scheduler.vault import Vault, redact
from postmast.workers.claim import Claim, Kind, new_token, take, worker_name
from postmast.workers.connection import Connection, ConnectorFactory, InsecureEndpoint, open_connection
from postmast.workers.lookup import Reconciler
from postmast.workers.outbox import Outbox
from postmast.workers.outcome import Outcome
from postmast.workers.record import Recorder
from postmast.workers.retry import Decision, RetryPolicy
from postmast.workers.thread import item_key, thread_content
from postmast.workers.write import Ending, apply_entry

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
        self.outbox = Outbox(settings.data_dir / "outbox")
        self.recorder = Recorder(store, self.policy, self.outbox, self._next_turn if enqueue else None)
        self._turns: dict[int, list[int]] = {}
        """Next turns claimed in an ending's transaction, by the delivery that ended (sent after
        the commit)."""
        self.reconciler = Reconciler(store, self.recorder, self.policy)
        self._draining: threading.Thread | None = None

    # -- the whole path ---------------------------------------------------------------------------

    def publish(self, delivery_id: int) -> Outcome:
        """Handle one message for `delivery_id`: publish it, or look it up first, if it is still ours."""
        started = time.monotonic()
        claim = self._take(delivery_id)
        if isinstance(claim, Outcome):
            return claim
        self._turns.pop(delivery_id, None)
        try:
            return self._run(claim)
        finally:
            if self.recorder.waiting(claim.delivery_id):
                self._record_before(started + self.timings.task_time_limit - 1.0)
            turn = self._turns.pop(delivery_id, None)
            if turn is None:
                self.hand_off(claim.account.id)
            elif turn and self.enqueue is not None:
                self._send(claim.account.id, turn)

    def drain(self) -> int:
        """Apply what waits in the outbox, once; returns how many writes were applied."""
        return self.outbox.drain(self.store, apply_entry).applied

    def start_draining(self, every: float = 1.0) -> None:
        """Apply the outbox now and then in the background, for as long as this process runs (the
        next worker to start applies what a stopped one left)."""
        if self._draining is not None and self._draining.is_alive():
            return

        def loop() -> None:
            delay = every
            while True:
                try:
                    left = self.outbox.drain(self.store, apply_entry).remaining
                except Exception:
                    log.exception("could not apply the outbox")
                    left = 1
                delay = min(30.0, delay * 2) if left else every
                time.sleep(delay)

        self._draining = threading.Thread(target=loop, name="postmast-outbox", daemon=True)
        self._draining.start()

    def _record_before(self, deadline: float) -> None:
        """Retry the outbox with backoff until it is empty or the task's time is nearly up."""
        try:
            left = self.outbox.drain_until(self.store, apply_entry, deadline).remaining
        except SoftTimeLimitExceeded:
            left = len(self.outbox.entries())
        if left:
            log.warning(
                "the job store is still unavailable: %d writes wait in %s (applied when it is back)",
                left,
                self.outbox.directory,
            )

    def hand_off(self, account_id: int) -> None:
        """Claim the account's next turn now that this one is done (one in flight per account)."""
        if self.enqueue is None:
            return
        try:
            with self.store.write() as session:
                ids = claims.claim_next(session, account_id, self.store.now(), self.timings.lease)
        except Exception as exc:  # the dispatcher's next tick picks it up instead
            log.warning("could not hand account %s its next delivery (%s)", account_id, type(exc).__name__)
            return
        if ids:
            self._send(account_id, ids)

    def _next_turn(self, session: Session, ending: Ending) -> None:
        """In the ending's transaction: claim the account's next turn (`hand_off` after the commit
        when the account could not be locked then)."""
        ids = claims.claim_next(session, ending.account_id, self.store.now(), self.timings.lease)
        if ids is not None:
            self._turns[ending.delivery_id] = ids

    def _send(self, account_id: int, ids: list[int]) -> None:
        assert self.enqueue is not None
        try:
            self.enqueue(ids)
        except Exception as exc:  # claimed and not sent: `requeue_stale` sends them again
            log.warning("could not hand account %s its next delivery (%s)", account_id, type(exc).__name__)

    # -- steps ------------------------------------------------------------------------------------

    def _take(self, delivery_id: int) -> Claim | Outcome:
        token, now = new_token(), self.store.now()
        try:
            return take(
                self.store, delivery_id, lease=self.timings.lease, policy=self.policy, token=token, now=now
            )
        except Exception as exc:
            if not unavailable(exc):
                raise
            log.warning(
                "delivery %s: not taken, the job store is unavailable (%s); it is handed out again later",
                delivery_id,
                type(exc).__name__,
            )
            if isinstance(exc, CommitUncertain):  # the claim may have been stored: undo it then
                self.recorder.abandon(delivery_id, token, worker_name(), now)
            return Outcome.STORE_UNAVAILABLE

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
            kind = "InsecureEndpoint" if isinstance(exc, InsecureEndpoint) else "SecretsUnreadable"
            ended = self.recorder.finish(claim, decision, error_class=kind, message=str(exc))
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
            except Exception as exc:
                if not unavailable(exc):
                    log.exception("account %s: could not save the connector's session", claim.account.id)
                else:
                    log.warning(
                        "account %s: could not save the connector's session (the job store is unavailable)",
                        claim.account.id,
                    )

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
        sent: tuple[int, PublishResult] | None = None
        notes: list[str] = []
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
            last = position == len(items) - 1
            if not last:  # the last item is recorded with the ending, in one transaction
                self.recorder.item(claim.delivery_id, position, result)
            prefix = f"item {position + 1}: " if len(items) > 1 else ""
            notes += [prefix + note for note in result.notes]
            done[position] = result.ref()
            head = head or (result if position == 0 else None)
            sent = (position, result)
        first = done[0]
        return self.recorder.published(
            claim,
            PublishResult(first.id, first.url, head.http_status if head else None),
            warning="; ".join(notes),
            last=sent,
        )

    def _failed(
        self, claim: Claim, error: ConnectorError, message: str, position: int, total: int
    ) -> Outcome:
        if total > 1:
            message = f"item {position + 1} of {total}: {message}"
        decision = self.policy.decide(error, claim.failures.get(error.kind, 0) + 1)
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
        log.warning("delivery %s to %s: %s -> %s", claim.delivery_id, claim.target, message, decision.status)
        return ended or Outcome.UNKNOWN
