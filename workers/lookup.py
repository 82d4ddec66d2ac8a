"""Reconciliation: asking the network whether a post is there before anything is re-sent.

A delivery is `unknown` when a request may have reached the network without an answer
saying what happened. After the settle delay the dispatcher claims it into
`reconciling` (one in flight per account, rate limits respected, like any publish);
the worker that takes it asks the connector about the first unrecorded item (Mastodon
replays its Idempotency-Key, Bluesky reads its client-chosen record key, X searches the
account's recent posts):

- found: the item is recorded; the delivery is `published`, or `queued` to send the
  rest of its thread;
- confirmed absent: `queued`, and the worker sends it at once (or, past its allowed
  lateness, `missed`);
- undecidable: back to `unknown`, asked again after growing delays (`RetryPolicy`),
  then left for a person (at once when the network offers no way to check at all, as a
  webhook) (`postmast queue --status unknown`,
  `postmast retry ID --resend-unknown`).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from postmast.connectors import (
    Absent,
    Connector,
    ConnectorError,
    Found,
    PublishResult,
    RateLimited,
    Undecidable,
)
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from postmast.scheduler.vault import redact
from postmast.workers.claim import Claim
from postmast.workers.connection import Connection
from postmast.workers.outcome import Outcome
from postmast.workers.record import Recorder
from postmast.workers.retry import Decision, RetryPolicy
from postmast.workers.thread import item_key, thread_content

log = logging.getLogger("postmast.worker")


class Reconciler:
    def __init__(self, store: Store, recorder: Recorder, policy: RetryPolicy) -> None:
        self.store = store
        self.recorder = recorder
        self.policy = policy

    def reconcile(self, claim: Claim, connection: Connection) -> Outcome | None:
        """Look the first unrecorded item up; the task's outcome, or None when it is to be sent now."""
        connector = connection.connector
        items = connector.items(claim.body.contents(claim.target, connector.options))
        done = dict(claim.done)
        position = next((n for n in range(len(items)) if n not in done), None)
        if position is None:  # every item was recorded: only the final write was lost
            first = done[0]
            return self.recorder.published(
                claim, PublishResult(first.id, first.url), "every item was recorded"
            )
        now = self.store.now()
        sent_at = claim.sent_at or now
        try:
            answer = connector.lookup(
                thread_content(items, position, done),
                connection.credentials,
                item_key(claim.idempotency_key, position),
                sent_at=sent_at,
                replay_allowed=now <= claim.deadline,
            )
        except ConnectorError as exc:
            wait = exc.retry_after if isinstance(exc, RateLimited) else None
            reason = f"could not ask {connector.title}: {redact(exc.message, connection.credentials)}"
            return self._undecided(claim, reason, rate_limited_for=wait)
        except Exception as exc:
            log.exception("delivery %s: lookup in the %s connector raised", claim.delivery_id, connector.name)
            return self._undecided(
                claim, f"internal error in the {connector.name} connector: {type(exc).__name__}"
            )
        if isinstance(answer, Undecidable):  # a network with no way to check is not asked again
            return self._undecided(claim, answer.reason, final=type(connector).lookup is Connector.lookup)
        label = f"item {position + 1} of {len(items)}" if len(items) > 1 else "the post"
        if isinstance(answer, Found):
            self.recorder.item(claim.delivery_id, position, answer.result)
            done[position] = answer.result.ref()
            log.info(
                "delivery %s: %s found on the network after an unknown outcome", claim.delivery_id, label
            )
            if len(done) == len(items):
                head = answer.result if position == 0 else PublishResult(done[0].id, done[0].url)
                return self.recorder.published(claim, head, f"{label} found on the network")
            return self._queue(claim, f"{label} found on the network; the rest of the thread is sent next")
        assert isinstance(answer, Absent)
        log.info("delivery %s: %s confirmed not on the network", claim.delivery_id, label)
        if self.store.now() > claim.deadline:
            return self.recorder.finish(
                claim,
                Decision(Status.MISSED),
                error_class="Missed",
                message="confirmed not on the network, and its allowed lateness is over",
            )
        return self._queue(claim, f"{label} confirmed not on the network; it is sent now")

    def _queue(self, claim: Claim, message: str) -> Outcome | None:
        """Back to `queued`, to be sent at once (None); unless that write waits in the outbox: then
        nothing is sent until it is recorded."""
        self.recorder.finish(
            claim,
            Decision(Status.QUEUED),
            error_class=None,
            message=message,
            columns={"reconcile_attempts": 0},
        )
        return Outcome.DEFERRED if self.recorder.waiting(claim.delivery_id) else None

    def _undecided(
        self, claim: Claim, reason: str, rate_limited_for: float | None = None, *, final: bool = False
    ) -> Outcome | None:
        lookups = claim.lookups + 1
        delay = None if final else self.policy.lookup_delay(lookups, rate_limited_for)
        again = self.store.now() + timedelta(seconds=delay) if delay is not None else None
        advice = (
            "; asking again later"
            if again is not None
            else f"; check the account, then: postmast retry {claim.delivery_id} --resend-unknown"
        )
        log.warning("delivery %s: outcome still unknown (%s)", claim.delivery_id, reason)
        return self.recorder.finish(
            claim,
            Decision(Status.UNKNOWN),
            error_class="Unverifiable",
            message=f"outcome unknown: {reason}{advice}",
            limit_for=rate_limited_for,  # hold back the whole account, as after a publish
            columns={"reconcile_at": again, "reconcile_attempts": lookups},
        )
