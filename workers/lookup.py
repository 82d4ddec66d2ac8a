"""Looking a post up before re-sending it, after an attempt whose outcome is unknown.

A delivery is `unknown` when a request may have reached the network without an answer
saying what happened. After the settle delay the dispatcher schedules it again marked
`needs_lookup`; the worker that claims it (with the same claim, lease, one-in-flight
per account and rate limits as any publish) first asks the connector whether the item
exists (Mastodon replays its Idempotency-Key, Bluesky reads its client-chosen record
key, others search recent posts):

- found: the item is recorded and the thread goes on, or the delivery is published;
- confirmed absent: the item is sent now (or, past its allowed lateness, `missed`);
- undecidable: back to `unknown`, asked again with growing delays, then left for a
  person (`postmast queue --status unknown`, `postmast retry ID --resend-unknown`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from postmast.connectors import Absent, ConnectorError, Content, Found, RateLimited, Undecidable
from postmast.scheduler.claims import limit_account
from postmast.scheduler.models import Attempt, Delivery
from postmast.scheduler.states import Status
from postmast.scheduler.vault import redact
from postmast.workers.claim import Claim
from postmast.workers.connection import Connection
from postmast.workers.retry import Decision

if TYPE_CHECKING:
    from postmast.workers.publisher import Publisher

log = logging.getLogger("postmast.worker")

MAX_LOOKUPS = 10
"""Undecided lookups before a delivery is left to a person."""


class Lookups:
    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self.store = publisher.store
        self.timings = publisher.timings

    def verify(
        self, claim: Claim, connection: Connection, content: Content, key: str
    ) -> Found | Absent | str:
        """Found or Absent (the flag is cleared), or the outcome string once the delivery is unknown again."""
        now = self.store.now()
        sent_at = self._previous_attempt(claim) or now
        replay_allowed = claim.deadline is None or now <= claim.deadline
        connector = connection.connector
        try:
            answer = connector.lookup(
                content, connection.credentials, key, sent_at=sent_at, replay_allowed=replay_allowed
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
        if isinstance(answer, Undecidable):
            return self._undecided(claim, answer.reason)
        with self.store.write() as session:
            session.execute(
                update(Delivery)
                .where(Delivery.id == claim.delivery_id, Delivery.claim_token == claim.token)
                .values(needs_lookup=False, reconcile_attempts=0)
            )
        found = "found on the network" if isinstance(answer, Found) else "confirmed not on the network"
        log.info("delivery %s: looked up after an unknown outcome: %s", claim.delivery_id, found)
        return answer

    def _previous_attempt(self, claim: Claim) -> datetime | None:
        with self.store.read() as session:
            return session.scalar(
                select(Attempt.started_at)
                .where(Attempt.delivery_id == claim.delivery_id, Attempt.number < claim.attempt)
                .order_by(Attempt.number.desc())
                .limit(1)
            )

    def _undecided(self, claim: Claim, reason: str, rate_limited_for: float | None = None) -> str:
        now = self.store.now()
        lookups = claim.lookups + 1
        delay = max(self.timings.settle, min(self.timings.retry_cap, self.timings.settle * 2**lookups))
        if rate_limited_for is not None:
            delay = max(delay, rate_limited_for)
        again = now + timedelta(seconds=delay) if lookups < MAX_LOOKUPS else None
        if rate_limited_for is not None:  # hold back the whole account, as after a publish
            with self.store.write() as session:
                limit_account(session, claim.account.id, now + timedelta(seconds=max(1.0, rate_limited_for)))
        advice = (
            "; asking again later"
            if again is not None
            else f"; check the account, then: postmast retry {claim.delivery_id} --resend-unknown"
        )
        self.publisher.finish(
            claim,
            Decision(Status.UNKNOWN),
            error_class="Unverifiable",
            message=f"outcome unknown: {reason}{advice}",
            columns={"reconcile_at": again, "reconcile_attempts": lookups},
        )
        log.warning("delivery %s: outcome still unknown (%s)", claim.delivery_id, reason)
        return "unknown"
