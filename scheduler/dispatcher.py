"""The dispatcher: claims due deliveries and hands their ids to the workers.

Each tick, in this order:
1. claim: for every account with nothing in flight and no rate limit, its next turn
   (see `scheduler.claims`): an `unknown` delivery whose settle delay has passed ->
   `reconciling` (the worker asks the network before anything is sent), else its earliest
   due delivery -> `queued`; the ids are enqueued after the commit. First, because the
   tick was most likely woken for a due time: nothing else stands between the wake and the
   enqueue;
2. apply what workers on this machine learnt but could not write while the store was
   unavailable (their outbox, given by the shell as `drain`), so that a lease never
   turns a known outcome into `unknown`;
3. sweep, each step only when a read of the tick's `Probe` found something for it (an idle
   tick writes nothing but the claim's empty transaction):
   reap: `publishing` or `reconciling` whose lease expired -> `unknown` (never back to
   `queued`); an account freed so has its turn claimed in the same tick;
   miss: deliveries past their deadline (due time + allowed lateness) -> `missed`;
   requeue: `queued` (or `reconciling` and not yet taken) for too long, a lost broker
   message -> enqueued again; the worker's claim makes any duplicate harmless;
   the next due time (`claims.next_due`), for the loop's next wake, is read with the probe.

Any number of dispatchers may run at once. APScheduler is only the clock (`scheduler.loop`):
one in-memory job that runs a tick and is re-armed for the next due time, or at most `tick`
seconds later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from postmast.scheduler import claims, planning
from postmast.scheduler.config import Settings
from postmast.scheduler.heartbeat import Beat
from postmast.scheduler.models import Attempt, Delivery
from postmast.scheduler.staging import visible
from postmast.scheduler.states import Status, transition_many
from postmast.scheduler.store import Store

log = logging.getLogger("postmast.scheduler")

Enqueue = Callable[[Sequence[int]], None]


@dataclass(frozen=True)
class TickResult:
    dispatched: list[int]
    requeued: list[int]
    reaped: list[int]
    missed: list[int]
    next_due: datetime | None


MISSABLE = (Status.SCHEDULED, Status.RETRY_WAIT, Status.QUEUED)
LEASED = (Status.PUBLISHING, Status.RECONCILING)


def _late(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (Delivery.status.in_(MISSABLE), Delivery.deadline_at < now, visible())


def _earliest(
    column: InstrumentedAttribute[datetime | None] | InstrumentedAttribute[datetime],
    *where: ColumnElement[bool],
) -> Any:
    return select(func.min(column)).where(*where).scalar_subquery()


@dataclass(frozen=True)
class Probe:
    """What the sweep would find (leases expired, deadlines passed, messages lost), and the
    next due time (`claims.next_due`)."""

    expired: bool
    late: bool
    stale: bool
    next_due: datetime | None


class Dispatcher:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        enqueue: Enqueue,
        *,
        batch: int = 500,
        housekeeping: Callable[[], object] | None = None,
        housekeeping_every: float = 600.0,
        drain: Callable[[], object] | None = None,
        heartbeat: Beat | None = None,
        on_tick: Callable[[TickResult], object] | None = None,
    ) -> None:
        self.store = store
        self.timings = settings.timings
        self.enqueue = enqueue
        self.batch = batch
        self.housekeeping = housekeeping
        self.housekeeping_every = housekeeping_every
        self._last_housekeeping: float | None = None
        self.drain = drain
        self._last_planning: float | None = None
        self.heartbeat = heartbeat
        """Beaten from the tick itself, so a scheduler whose ticks hang shows as silent."""
        self.on_tick = on_tick
        """Told each tick's result (the metrics count them)."""

    def tick(self) -> TickResult:
        now = self.store.now()
        dispatched = self._claim_all(now)
        if self.heartbeat is not None:
            self.heartbeat.maybe_beat()
        if self.drain is not None:  # before the reap
            try:
                self.drain()
            except Exception:
                log.exception("could not apply the workers' outbox")
        self._maybe_plan(now)  # before the next due time is read: it may add one
        with self.store.read() as session:
            probe = self.probe(session, now)  # and the next due time, in the same statement
        reaped = self.reap(now) if probe.expired else []
        if reaped:
            dispatched += self._claim_all(now)
        missed = self.mark_missed(now) if probe.late else []
        requeued = self.requeue_stale(now) if probe.stale else []
        if requeued:
            self._send(self.enqueue, requeued)
        self._maybe_housekeep()
        result = TickResult(dispatched, requeued, reaped, missed, probe.next_due)
        if self.on_tick is not None:
            self.on_tick(result)
        if dispatched or requeued or reaped or missed:
            log.info(
                "dispatched %d, re-enqueued %d, lease expired %d (now unknown), missed %d",
                len(dispatched),
                len(requeued),
                len(reaped),
                len(missed),
            )
        return result

    # -- steps ------------------------------------------------------------------------------------

    def _claim_all(self, now: datetime) -> list[int]:
        """Claim and enqueue, a batch at a time, until no ready account is left."""
        dispatched: list[int] = []
        while True:
            ids = self.claim_due(now)
            if ids:
                self._send(self.enqueue, ids)
                dispatched += ids
            if len(ids) < self.batch:
                return dispatched

    def claim_due(self, now: datetime) -> list[int]:
        with self.store.write() as session:
            return claims.claim_due(session, now, self.batch, self.timings.lease)

    def probe(self, session: Session, now: datetime) -> Probe:
        """Which sweep steps have anything to do, and the next due time, in one statement: an
        idle tick then opens no write transaction for the sweep.

        The next due time is read after the claim and before the sweep: the sweep moves
        nothing due later (a lease that expires now makes a lookup due `settle` seconds on,
        which the loop's poll meets first).

        The earliest lease end, deadline and enqueue time of each state: a `min` per state
        reads the first entry of its index range. (`EXISTS` over the states is not one: with
        the history's deadlines all past, PostgreSQL expects a late row among the first it
        reads and scans the table.)
        """
        earliest = [
            *(_earliest(Delivery.lease_until, Delivery.status == s) for s in LEASED),
            *(_earliest(Delivery.deadline_at, Delivery.status == s, visible()) for s in MISSABLE),
            _earliest(Delivery.queued_at, Delivery.status == Status.QUEUED),
            _earliest(
                Delivery.queued_at, Delivery.status == Status.RECONCILING, Delivery.claim_token.is_(None)
            ),
        ]
        found = session.execute(select(*earliest, *claims.upcoming(now))).one()
        cutoff = now - timedelta(seconds=self.timings.requeue_after)

        def before(times: Sequence[datetime | None], limit: datetime) -> bool:
            return any(t is not None and t < limit for t in times)

        upcoming = [t for t in found[7:] if t is not None]
        return Probe(
            before(found[:2], now),
            before(found[2:5], now),
            before(found[5:7], cutoff),
            min(upcoming) if upcoming else None,
        )

    def reap(self, now: datetime) -> list[int]:
        with self.store.write() as session:
            ids = self._expire(
                session,
                now,
                Status.PUBLISHING,
                (
                    "the worker stopped answering during the publish (lease expired); the post may or "
                    "may not be on the network"
                ),
            )
            ids += self._expire(
                session,
                now,
                Status.RECONCILING,
                (
                    "the lookup did not finish in time (lease expired); the post may or may not be on "
                    "the network; it will be looked up again"
                ),
            )
        for delivery_id in ids:
            log.warning("delivery %s: lease expired -> unknown", delivery_id)
        return sorted(ids)

    def _expire(self, session: Session, now: datetime, source: Status, message: str) -> list[int]:
        """`source` deliveries whose lease ran out -> `unknown`, their open attempt closed."""
        expired = (
            select(Delivery.id)
            .where(Delivery.status == source, Delivery.lease_until < now)
            .with_for_update(skip_locked=True)
        )
        ids = transition_many(
            session,
            expired,
            source,
            Status.UNKNOWN,
            now=now,
            last_error=message,
            last_error_class="WorkerLost",
            claim_token=None,
            lease_until=None,
            reconcile_at=now + timedelta(seconds=self.timings.settle),
        )
        if ids:
            session.execute(
                update(Attempt)
                .where(Attempt.delivery_id.in_(ids), Attempt.finished_at.is_(None))
                .values(
                    finished_at=now,
                    outcome=Status.UNKNOWN.value,
                    error_class="WorkerLost",
                    message=message,
                )
            )
        return ids

    def mark_missed(self, now: datetime) -> list[int]:
        late = select(Delivery.id).where(*_late(now)).with_for_update(skip_locked=True)
        with self.store.write() as session:
            ids = transition_many(
                session,
                late,
                list(MISSABLE),
                Status.MISSED,
                now=now,
                last_error="not published within the post's allowed lateness",
                last_error_class="Missed",
            )
        for delivery_id in ids:
            log.warning("delivery %s missed its allowed lateness; it will not be published", delivery_id)
        return ids

    def requeue_stale(self, now: datetime) -> list[int]:
        """Refresh `queued_at` of deliveries enqueued too long ago and never taken; return them
        for re-enqueueing (a lost broker message)."""
        waiting = self._waiting(now)
        stale = select(Delivery.id).where(*waiting).limit(self.batch).with_for_update(skip_locked=True)
        with self.store.write() as session:
            result = session.execute(
                update(Delivery)
                .where(Delivery.id.in_(stale), *waiting)
                .values(queued_at=now)
                .returning(Delivery.id)
            )
            return sorted(result.scalars().all())

    def _waiting(self, now: datetime) -> tuple[ColumnElement[bool], ...]:
        """Enqueued longer than `requeue_after` ago and not taken by a worker."""
        cutoff = now - timedelta(seconds=self.timings.requeue_after)
        return (
            Delivery.queued_at < cutoff,
            or_(
                Delivery.status == Status.QUEUED,
                and_(Delivery.status == Status.RECONCILING, Delivery.claim_token.is_(None)),
            ),
        )

    def _send(self, enqueue: Enqueue, ids: Sequence[int]) -> None:
        try:
            enqueue(ids)
        except Exception as exc:  # broker down: rows stay as they are and are picked up again later
            log.error(
                "could not hand %d deliveries to the broker (%s); they will be re-sent after %gs",
                len(ids),
                type(exc).__name__,
                self.timings.requeue_after,
            )

    def _maybe_plan(self, now: datetime) -> None:
        """Occurrences of recurring posts and evergreen rounds, every `plan_every` seconds."""
        if self._last_planning is not None and (
            time.monotonic() - self._last_planning < self.timings.plan_every
        ):
            return
        self._last_planning = time.monotonic()
        try:
            planning.run(self.store, now, horizon=self.timings.horizon)
        except Exception:
            log.exception("planning recurring and evergreen posts failed")

    def _maybe_housekeep(self) -> None:
        if self.housekeeping is None:
            return
        if self._last_housekeeping is not None and (
            time.monotonic() - self._last_housekeeping < self.housekeeping_every
        ):
            return
        self._last_housekeeping = time.monotonic()
        try:
            self.housekeeping()
        except Exception:
            log.exception("housekeeping failed")
