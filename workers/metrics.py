"""Prometheus metrics of the worker and the scheduler (`prometheus_client`), and the queue depth.

Worker (`postmast worker --metrics-port N`): what its tasks did, counted in each pool
process and added up across them by prometheus_client's multiprocess mode (Celery's
prefork children are separate processes):
- `postmast_publish_total{network,outcome}`: tasks by outcome;
- `postmast_publish_seconds{network,outcome}`: how long a publish took (histogram);
- `postmast_lateness_seconds{network}`: due time to publication of each published delivery;
- `postmast_retries_total{network}`: attempts that ended in `retry_wait`;
- `postmast_rate_limited_total{network}`: turns held back, or attempts ended, by a rate limit.

Scheduler (`postmast scheduler --metrics-port N`): the store as it is now, read at each
scrape (cached `CACHE` seconds), so any scheduler gives the whole picture:
- `postmast_deliveries{network,status}`, `postmast_overdue_deliveries`,
  `postmast_queue_depth` (messages waiting in the broker, -1 when it is unreachable),
  `postmast_processes{role,state}` (from the heartbeats),
- and its own `postmast_dispatched_total`, `postmast_missed_total`, `postmast_lease_expired_total`.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from kombu.connection import Connection
from kombu.exceptions import ChannelError
from sqlalchemy import func, select

from postmast.scheduler.attention import OVERDUE_GRACE
from postmast.scheduler.config import Settings
from postmast.scheduler.dispatcher import TickResult
from postmast.scheduler.heartbeat import processes
from postmast.scheduler.models import Account, Delivery
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from postmast.workers.broker import kombu_url

log = logging.getLogger("postmast.metrics")

CACHE = 15.0
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)
LATENESS_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 7200)


def queue_depth(settings: Settings, *, timeout: float = 3.0) -> int:
    """Messages waiting in the broker's queue; raises when the broker cannot be reached."""
    with Connection(kombu_url(settings.broker_url), connect_timeout=timeout) as connection:  # type: ignore[no-untyped-call]
        connection.ensure_connection(max_retries=1, timeout=timeout)
        try:
            _, count, _ = connection.default_channel.queue_declare(queue=settings.queue, passive=True)
        except ChannelError:  # the queue does not exist yet (Redis drops an empty list): nothing waits
            return 0
        return int(count)


def multiprocess_dir() -> str:
    """Prepare prometheus_client's multiprocess mode; call before anything imports it."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="postmast-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


class WorkerMetrics:
    """Counts each publish task; registered on Celery's task signals by `install`."""

    def __init__(self, store: Store, registry: Any = None) -> None:
        from prometheus_client import REGISTRY, Counter, Histogram

        self.store = store
        r = REGISTRY if registry is None else registry
        self.published = Counter(
            "postmast_publish", "Publish tasks by outcome", ["network", "outcome"], registry=r
        )
        self.seconds = Histogram(
            "postmast_publish_seconds",
            "Time one publish task took",
            ["network", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.lateness = Histogram(
            "postmast_lateness_seconds",
            "Due time to publication",
            ["network"],
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self.retries = Counter(
            "postmast_retries", "Attempts that ended in retry_wait", ["network"], registry=r
        )
        self.rate_limited = Counter(
            "postmast_rate_limited", "Turns held or ended by a rate limit", ["network"], registry=r
        )
        self._started: dict[str, float] = {}

    def started(self, task_id: str) -> None:
        self._started[task_id] = time.monotonic()

    def finished(self, task_id: str, delivery_id: object, outcome: object) -> None:
        took = time.monotonic() - self._started.pop(task_id, time.monotonic())
        if not isinstance(delivery_id, int):
            return
        with self.store.read() as session:
            row = session.execute(
                select(Account.network, Delivery.due_at, Delivery.published_at, Delivery.last_error_class)
                .join(Account, Account.id == Delivery.account_id)
                .where(Delivery.id == delivery_id)
            ).one_or_none()
        network = row[0] if row is not None else "unknown"
        label = str(outcome or "error")
        self.observe(
            network, label, took, row[1] if row else None, row[2] if row else None, row[3] if row else None
        )

    def observe(
        self,
        network: str,
        outcome: str,
        took: float,
        due_at: datetime | None,
        published_at: datetime | None,
        error_class: str | None,
    ) -> None:
        short = outcome.split(":")[0].replace(" ", "_")  # "held: the account ..." -> "held"
        if outcome.startswith("held: the account is rate-limited"):
            short = "held_rate_limited"
        self.published.labels(network, short).inc()
        self.seconds.labels(network, short).observe(took)
        if short == Status.PUBLISHED.value and due_at is not None and published_at is not None:
            self.lateness.labels(network).observe(max(0.0, (published_at - due_at).total_seconds()))
        if short == Status.RETRY_WAIT.value:
            self.retries.labels(network).inc()
        if short == "held_rate_limited" or (
            short == Status.RETRY_WAIT.value and error_class == "RateLimited"
        ):
            self.rate_limited.labels(network).inc()


def install_worker_hooks(settings: Settings) -> None:
    """Count every publish task of this worker (and its pool processes) through Celery's signals."""
    from celery.signals import task_postrun, task_prerun, worker_process_shutdown

    from postmast.workers.app import PUBLISH_TASK

    metrics: dict[int, WorkerMetrics] = {}

    def mine() -> WorkerMetrics:
        pid = os.getpid()
        if pid not in metrics:
            metrics.clear()
            metrics[pid] = WorkerMetrics(Store(settings.database_url))
        return metrics[pid]

    def prerun(task_id: str = "", task: Any = None, **_: Any) -> None:
        if getattr(task, "name", None) == PUBLISH_TASK:
            mine().started(task_id)

    def postrun(task_id: str = "", task: Any = None, args: Any = (), retval: Any = None, **_: Any) -> None:
        if getattr(task, "name", None) != PUBLISH_TASK:
            return
        try:
            mine().finished(task_id, args[0] if args else None, retval)
        except Exception as exc:  # metrics never break a publish
            log.warning("could not record metrics for a task (%s)", type(exc).__name__)

    def process_gone(pid: int | None = None, **_: Any) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]

    task_prerun.connect(prerun, weak=False)
    task_postrun.connect(postrun, weak=False)
    worker_process_shutdown.connect(process_gone, weak=False)


def serve_worker_metrics(port: int, address: str = "0.0.0.0") -> None:  # noqa: S104 (a scrape target)
    """The worker's endpoint: every pool process's counts, added up."""
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, addr=address, registry=registry)


class StoreCollector:
    """The scheduler's view of the store and the broker, read at scrape time (cached)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._cache: tuple[float, list[Any]] | None = None

    def observe_tick(self, result: TickResult) -> None:
        self.dispatched.inc(len(result.dispatched))
        self.missed.inc(len(result.missed))
        self.expired.inc(len(result.reaped))

    def register(self, registry: Any) -> None:
        from prometheus_client import Counter

        self.dispatched = Counter(
            "postmast_dispatched", "Deliveries handed to the workers", registry=registry
        )
        self.missed = Counter("postmast_missed", "Deliveries marked missed", registry=registry)
        self.expired = Counter(
            "postmast_lease_expired", "Leases that expired (now unknown)", registry=registry
        )
        registry.register(self)

    def _read(self) -> list[Any]:
        from prometheus_client.core import GaugeMetricFamily

        now = self.store.now()
        deliveries = GaugeMetricFamily(
            "postmast_deliveries", "Deliveries by network and state", labels=["network", "status"]
        )
        with self.store.read() as session:
            for network, status, count in session.execute(
                select(Account.network, Delivery.status, func.count())
                .join(Account, Account.id == Delivery.account_id)
                .group_by(Account.network, Delivery.status)
            ):
                deliveries.add_metric([network, Status(status).value], count)
            overdue = session.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(
                    Delivery.status.in_([Status.SCHEDULED, Status.RETRY_WAIT]),
                    Delivery.next_attempt_at < now - OVERDUE_GRACE,
                )
            )
        try:
            depth = queue_depth(self.settings)
        except Exception:
            depth = -1
        states = GaugeMetricFamily(
            "postmast_processes", "Processes by their heartbeats", labels=["role", "state"]
        )
        counted: dict[tuple[str, str], int] = {}
        for process in processes(self.store):
            counted[process.role, process.state] = counted.get((process.role, process.state), 0) + 1
        for (role, state), n in sorted(counted.items()):
            states.add_metric([role, state], n)
        return [
            deliveries,
            GaugeMetricFamily("postmast_overdue_deliveries", "Waiting past their time", value=overdue or 0),
            GaugeMetricFamily(
                "postmast_queue_depth", "Messages waiting in the broker (-1: unreachable)", value=depth
            ),
            states,
        ]

    def collect(self) -> Iterator[Any]:
        if self._cache is None or time.monotonic() - self._cache[0] > CACHE:
            try:
                self._cache = (time.monotonic(), self._read())
            except Exception as exc:
                log.warning("could not read the store for metrics (%s)", type(exc).__name__)
                return iter(())
        return iter(self._cache[1])


def serve_scheduler_metrics(
    store: Store,
    settings: Settings,
    port: int,
    address: str = "0.0.0.0",  # noqa: S104
) -> StoreCollector:
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry()
    collector = StoreCollector(store, settings)
    collector.register(registry)
    start_http_server(port, addr=address, registry=registry)
    return collector
