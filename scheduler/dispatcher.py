"""The dispatcher: claims due deliveries and hands their ids to the workers.

Each tick, in this order:
0. apply what workers on this machine learnt but could not write while the store was
   unavailable (their outbox, given by the shell as `drain`), so that a lease never
   turns a known outcome into `unknown`;
1. reap: `publishing` or `reconciling` whose lease expired -> `unknown` (never back
   to `queued`);
2. miss: deliveries past their deadline (due time + allowed lateness) -> `missed`;
3. claim: for every account with nothing in flight and no rate limit, its next turn
   (see `scheduler.claims`): an `unknown` delivery whose settle delay has passed ->
   `reconciling` (the worker asks the network whether the post exists before anything
   is sent), else its earliest due delivery -> `queued`; the ids are enqueued after
   the commit;
4. requeue: `queued` (or `reconciling` and not yet taken) for too long, a lost broker
   message -> enqueued again; the worker's claim makes any duplicate harmless.

Any number of dispatchers may run at once. APScheduler is only the clock: one
in-memory job that runs a tick and re-arms itself for the next due time, or at
most `tick` seconds later.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import and_, or_, select, update

from postmast.scheduler import claims, planning
from postmast.scheduler.config import Settings
from postmast.scheduler.heartbeat import Beat
from postmast.scheduler.models import Attempt, Delivery
from postmast.scheduler.staging import visible
from postmast.scheduler.states import Status, transition_many
from postmast.scheduler.store import Store, unavailable

log = logging.getLogger("postmast.scheduler")

Enqueue = Callable[[Sequence[int]], None]


@dataclass(frozen=True)
class TickResult:
    dispatched: list[int]
    requeued: list[int]
    reaped: list[int]
    missed: list[int]
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
        if self.heartbeat is not None:
            self.heartbeat.maybe_beat()
        if self.drain is not None:
            try:
                self.drain()
            except Exception:
                log.exception("could not apply the workers' outbox")
        now = self.store.now()
        reaped = self.reap(now)
        missed = self.mark_missed(now)
        dispatched: list[int] = []
        while True:
            ids = self.claim_due(now)
            if ids:
                self._send(self.enqueue, ids)
                dispatched += ids
            if len(ids) < self.batch:
                break
        requeued = self.requeue_stale(now)
        if requeued:
            self._send(self.enqueue, requeued)
        self._maybe_housekeep()
        self._maybe_plan(now)
        with self.store.read() as session:
            upcoming = claims.next_due(session, now)
        result = TickResult(dispatched, requeued, reaped, missed, upcoming)
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

    def claim_due(self, now: datetime) -> list[int]:
        with self.store.write() as session:
            return claims.claim_due(session, now, self.batch, self.timings.lease)

    def reap(self, now: datetime) -> list[int]:
        ids = self._expire(
            now,
            Status.PUBLISHING,
            (
                "the worker stopped answering during the publish (lease expired); the post may or may "
                "not be on the network"
            ),
        )
        ids += self._expire(
            now,
            Status.RECONCILING,
            (
                "the lookup did not finish in time (lease expired); the post may or may not be on the "
                "network; it will be looked up again"
            ),
        )
        for delivery_id in ids:
            log.warning("delivery %s: lease expired -> unknown", delivery_id)
        return sorted(ids)

    def _expire(self, now: datetime, source: Status, message: str) -> list[int]:
        """`source` deliveries whose lease ran out -> `unknown`, their open attempt closed."""
        expired = (
            select(Delivery.id)
            .where(Delivery.status == source, Delivery.lease_until < now)
            .with_for_update(skip_locked=True)
        )
        with self.store.write() as session:
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
        late = (
            select(Delivery.id)
            .where(
                Delivery.status.in_([Status.SCHEDULED, Status.RETRY_WAIT, Status.QUEUED]),
                Delivery.deadline_at < now,
                visible(),
            )
            .with_for_update(skip_locked=True)
        )
        with self.store.write() as session:
            ids = transition_many(
                session,
                late,
                [Status.SCHEDULED, Status.RETRY_WAIT, Status.QUEUED],
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
        cutoff = now - timedelta(seconds=self.timings.requeue_after)
        waiting = (
            Delivery.queued_at < cutoff,
            or_(
                Delivery.status == Status.QUEUED,
                and_(Delivery.status == Status.RECONCILING, Delivery.claim_token.is_(None)),
            ),
        )
        stale = select(Delivery.id).where(*waiting).limit(self.batch).with_for_update(skip_locked=True)
        with self.store.write() as session:
            result = session.execute(
                update(Delivery)
                .where(Delivery.id.in_(stale), *waiting)
                .values(queued_at=now)
                .returning(Delivery.id)
            )
            return sorted(result.scalars().all())

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


class Loop:
    """Runs `Dispatcher.tick` on an APScheduler clock until stopped (SIGTERM/SIGINT or `stop`).

    APScheduler's thread runs the ticks; the calling thread waits for a stop, then shuts
    the scheduler down and waits for a tick in progress to finish.
    """

    def __init__(self, dispatcher: Dispatcher, *, tick: float, clock: Callable[[], datetime]) -> None:
        self.dispatcher = dispatcher
        self.tick_seconds = tick
        self.clock = clock
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._stopping = threading.Event()

    def _run(self) -> None:
        if self._stopping.is_set():
            return
        now = self.clock()
        wake = now + timedelta(seconds=self.tick_seconds)
        try:
            result = self.dispatcher.tick()
            if result.next_due is not None:
                wake = min(wake, max(result.next_due, now + timedelta(milliseconds=20)))
        except Exception as exc:
            if unavailable(exc):
                log.warning(
                    "the job store is unavailable (%s); trying again in %gs",
                    type(exc).__name__,
                    self.tick_seconds,
                )
            else:
                log.exception("dispatcher tick failed; trying again in %gs", self.tick_seconds)
        if not self._stopping.is_set():
            with contextlib.suppress(SchedulerNotRunningError):  # stopped while this tick ran
                self.scheduler.add_job(self._run, "date", run_date=wake, id="dispatch", replace_existing=True)

    def stop(self, *_: object) -> None:
        """Ask the loop to stop; safe from a signal handler and before the loop runs."""
        self._stopping.set()

    def run(self, *, install_signals: bool = True) -> None:
        if install_signals:

            def handler(signum: int, frame: FrameType | None) -> None:
                self.stop()

            signal.signal(signal.SIGTERM, handler)
            signal.signal(signal.SIGINT, handler)
        self.scheduler.add_job(self._run, "date", run_date=self.clock(), id="dispatch")
        self.scheduler.start()
        log.info("scheduler running (wakes at the next due time or every %gs)", self.tick_seconds)
        while not self._stopping.wait(1.0):
            pass
        log.info("scheduler stopping")
        self.scheduler.shutdown(wait=True)  # lets a tick in progress finish
        log.info("scheduler stopped")
