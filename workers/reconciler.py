"""Reconciling unknown outcomes: ask the network, never re-send blindly.

A delivery is `unknown` when a request may have reached the network without an answer
saying what happened. After the settle delay the dispatcher hands it to a worker,
which asks the connector to look the item up (Mastodon replays its Idempotency-Key,
Bluesky reads its client-chosen record key, ...):

- found: the item is recorded; the delivery is `published` (or, mid-thread, goes back
  to `scheduled` to send the remaining items);
- confirmed absent: back to `scheduled`, due now: sending is safe;
- undecidable: it stays `unknown`, is asked again a few times with growing delays,
  then left for a person (`postmast queue --status unknown`, `postmast retry`).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from sqlalchemy import select, update

from connectors import Absent, Found, RemoteRef, get_connector
from scheduler.config import Settings
from scheduler.errors import ConfigError
from scheduler.models import Account, AccountStatus, Attempt, Delivery, Post
from scheduler.posts import stored_items
from scheduler.states import Status, transition
from scheduler.store import Store
from scheduler.vault import Vault, redact
from workers.connection import ConnectorFactory, open_connection
from workers.thread import item_key, published_items, record_item, thread_content

log = logging.getLogger("postmast.reconciler")

MAX_LOOKUPS = 5
"""Undecidable lookups before a delivery is left to a person."""


class Reconciler:
    def __init__(
        self, store: Store, vault: Vault, settings: Settings, *, connectors: ConnectorFactory = get_connector
    ) -> None:
        self.store = store
        self.vault = vault
        self.timings = settings.timings
        self.connectors = connectors

    def reconcile(self, delivery_id: int) -> str:
        with self.store.read() as session:
            row = session.execute(
                select(Delivery, Account, Post)
                .join(Account, Account.id == Delivery.account_id)
                .join(Post, Post.id == Delivery.post_id)
                .where(Delivery.id == delivery_id)
            ).one_or_none()
            if row is None or row[0].status != Status.UNKNOWN:
                return "skipped"
            delivery, account, post = row
            if account.status != AccountStatus.ACTIVE:
                return "waiting (account)"
            items = stored_items(session, post)
            done = published_items(session, delivery_id)
            sent_at = (
                session.scalar(
                    select(Attempt.started_at)
                    .where(Attempt.delivery_id == delivery_id)
                    .order_by(Attempt.number.desc())
                    .limit(1)
                )
                or delivery.updated_at
            )
        position = min(p for p in range(len(items)) if p not in done) if len(done) < len(items) else None
        if position is None:  # every item is recorded: the last answer was lost after recording
            return self._settle_published(delivery_id, done)
        try:
            connection = open_connection(
                account, self.vault, self.timings, self.connectors, started=time.monotonic()
            )
        except ConfigError as exc:
            return self._undecided(delivery_id, delivery.reconcile_attempts, str(exc))
        try:
            reply_to = (post.content.get("reply_to") or {}).get(account.target)
            content = thread_content(items, position, done, reply_to)
            try:
                answer = connection.connector.lookup(
                    content,
                    connection.credentials,
                    item_key(delivery.idempotency_key, position),
                    sent_at=sent_at,
                    replay_allowed=self.store.now() <= delivery.deadline_at,
                )
            except Exception as exc:  # the network could not be asked now: try again later
                reason = redact(getattr(exc, "message", type(exc).__name__), connection.credentials)
                return self._undecided(delivery_id, delivery.reconcile_attempts, f"lookup failed: {reason}")
        finally:
            connection.save(self.store, self.vault, self.store.now())
        if isinstance(answer, Found):
            record_item(self.store, delivery_id, position, answer.result, self.store.now())
            done[position] = answer.result.ref()
            if len(done) == len(items):
                return self._settle_published(delivery_id, done)
            return self._resume(
                delivery_id, f"item {position + 1} was found on the network; sending the rest"
            )
        if isinstance(answer, Absent):
            return self._resume(
                delivery_id,
                "confirmed not on the network; sending it again is safe"
                + (f" ({answer.reason})" if answer.reason else ""),
            )
        return self._undecided(delivery_id, delivery.reconcile_attempts, answer.reason)

    def _settle_published(self, delivery_id: int, done: dict[int, RemoteRef]) -> str:
        head = done[0]
        now = self.store.now()
        with self.store.write() as session:
            won = transition(
                session,
                delivery_id,
                Status.UNKNOWN,
                Status.PUBLISHED,
                now=now,
                remote_id=head.id,
                public_url=head.url,
                published_at=now,
                reconcile_at=None,
                last_error="reconciled: found on the network",
                last_error_class=None,
            )
        log.info("delivery %s reconciled: it is on the network (%s)", delivery_id, head.url or head.id)
        return "published" if won else "skipped (state moved on)"

    def _resume(self, delivery_id: int, why: str) -> str:
        now = self.store.now()
        with self.store.write() as session:
            won = transition(
                session,
                delivery_id,
                Status.UNKNOWN,
                Status.SCHEDULED,
                now=now,
                next_attempt_at=now,
                queued_at=None,
                reconcile_at=None,
                last_error=f"reconciled: {why}",
                last_error_class="Reconciled",
            )
        log.info("delivery %s reconciled: %s", delivery_id, why)
        return "scheduled" if won else "skipped (state moved on)"

    def _undecided(self, delivery_id: int, lookups: int, reason: str) -> str:
        now = self.store.now()
        lookups += 1
        again = now + timedelta(seconds=self.timings.settle * 2**lookups) if lookups < MAX_LOOKUPS else None
        advice = (
            "; check the account and use: postmast retry " + str(delivery_id) + " --resend-unknown"
            if again is None
            else "; asking again later"
        )
        with self.store.write() as session:
            session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.status == Status.UNKNOWN)
                .values(
                    reconcile_at=again,
                    reconcile_attempts=lookups,
                    last_error=f"outcome unknown: {reason}{advice}",
                    updated_at=now,
                )
            )
        log.warning("delivery %s: outcome still unknown (%s)", delivery_id, reason)
        return "unknown"
