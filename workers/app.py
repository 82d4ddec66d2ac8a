"""The Celery app, configured from postmast's settings.

Messages carry a delivery id and nothing else; the SQL store is the schedule. No
ETA or countdown is ever used (Redis would redeliver it after the visibility
timeout). Settings follow RELIABILITY.md: late acks, reject on worker loss,
prefetch 1, no results, a hard time limit below the visibility timeout.

A lost broker connection does not cancel a publish in flight: cancelling it killed
requests the network had already accepted and left them `unknown` (measured: a 2 s
Redis outage turned 4 accepted posts into 4 unknowns). The message may be delivered
again after the reconnection; the claim's compare-and-set makes that copy a no-op.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from celery import Celery

from postmast.connectors.registry import available
from postmast.scheduler.config import Settings
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from postmast.workers.broker import kombu_url
from postmast.workers.publisher import Publisher

PUBLISH_TASK = "postmast.publish"
log = logging.getLogger("postmast.worker")


def celery_config(settings: Settings) -> dict[str, Any]:
    timings = settings.timings
    transport: dict[str, Any] = {}
    if settings.broker_url.startswith(("redis://", "rediss://", "redis+socket://")):
        transport = {"visibility_timeout": timings.visibility_timeout}
    return {
        "broker_url": kombu_url(settings.broker_url),
        "broker_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "result_backend": None,
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # The publisher stops sending a second before the time limit; Celery's soft limit comes at
        # the limit, its hard kill a little later but well before the lease runs out.
        "task_soft_time_limit": timings.task_time_limit,
        "task_time_limit": timings.task_time_limit + min(5.0, (timings.lease - timings.task_time_limit) / 2),
        "task_default_queue": settings.queue,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_publish_retry_policy": {
            "max_retries": 3,
            "interval_start": 0.2,
            "interval_step": 0.5,
            "interval_max": 2.0,
        },
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        # SIGTERM is a warm shutdown: in-flight publishes finish (bounded by the task time limit).
        "worker_soft_shutdown_timeout": 0.0,
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "broker_connection_timeout": 5.0,
    }


def create_app(settings: Settings) -> Celery:
    app = Celery("postmast", set_as_current=False)
    app.conf.update(celery_config(settings))
    publishers: dict[int, Publisher] = {}

    def publisher() -> Publisher:
        """This process's publisher, built lazily so forked children never share connections."""
        pid = os.getpid()
        if pid not in publishers:
            store = Store(settings.database_url)
            vault = Vault.from_settings(settings.secret_key, settings.key_file)
            publishers.clear()
            publishers[pid] = Publisher(
                store, vault, settings, enqueue=lambda ids: enqueue_all(app, ids, settings.queue)
            )
            publishers[pid].start_draining()
        return publishers[pid]

    @app.task(name=PUBLISH_TASK, ignore_result=True, acks_late=True, shared=False)  # type: ignore[untyped-decorator]
    def publish(delivery_id: int) -> str:
        if not isinstance(delivery_id, int):
            log.error("ignoring a malformed message: %r is not a delivery id", delivery_id)
            return "malformed"
        return publisher().publish(delivery_id).value

    return app


def preload_connectors() -> None:
    """Import every connector in the worker's main process, before its pool forks: the children
    start with them loaded. Imported by a child's first task instead, they took that task's
    time (X's URL pattern alone compiles for a good part of a second; under load a restarted
    worker's first publish ran into its time limit before sending anything)."""
    available()


def enqueue_all(app: Celery, ids: Sequence[int], queue: str) -> None:
    """Hand delivery ids to the workers over one broker connection: ids only, and never an ETA."""
    with app.producer_or_acquire() as producer:
        for delivery_id in ids:
            app.send_task(PUBLISH_TASK, args=[delivery_id], queue=queue, producer=producer)
