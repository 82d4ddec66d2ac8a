"""The scheduler service's clock: `Dispatcher.tick` on APScheduler until stopped.

APScheduler is only the clock: one in-memory date job that runs a tick and is armed again
for the next due time the tick reported, or at most `tick` seconds later (and never sooner
than 20 ms: a tick that finds something due now runs again at once, not in a busy loop).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler

from postmast.scheduler.dispatcher import Dispatcher
from postmast.scheduler.store import unavailable

log = logging.getLogger("postmast.scheduler")


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
        self._wake = clock()
        self.scheduler.add_listener(self._rearm, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

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
        self._wake = wake

    def _rearm(self, event: JobExecutionEvent) -> None:
        """Arm the next tick once this one is over. Re-armed from inside the job, a wake
        already due (a tick longer than the gap to the next due time) found the job still
        running, and APScheduler skips a run over `max_instances` and drops a date job: the
        loop would stop for good. Its listeners are told after the job counts as finished."""
        if event.job_id != "dispatch" or self._stopping.is_set():
            return
        with contextlib.suppress(SchedulerNotRunningError):  # stopped while this tick ran
            self.scheduler.add_job(
                self._run, "date", run_date=self._wake, id="dispatch", replace_existing=True
            )

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
