"""Prometheus metrics, scraped over HTTP as Prometheus would; the broker's queue depth."""

from __future__ import annotations

import socket
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from postmast.scheduler.config import Settings
from postmast.scheduler.dispatcher import TickResult
from postmast.scheduler.heartbeat import Beat
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from postmast.workers.app import create_app, enqueue_all
from postmast.workers.metrics import WorkerMetrics, queue_depth, serve_scheduler_metrics
from tests.factories import add_account, add_delivery


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_worker_metrics_scraped(store: Store, vault: Vault, clock) -> None:
    account = add_account(store, vault, "webhook", "team")
    published = add_delivery(
        store, account, status=Status.PUBLISHED, due=clock.now - timedelta(seconds=42), published_at=clock.now
    )
    waiting = add_delivery(store, account, status=Status.RETRY_WAIT, last_error_class="RateLimited")
    registry = CollectorRegistry()
    metrics = WorkerMetrics(store, registry)
    port = free_port()
    server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        metrics.started("t1")
        metrics.finished("t1", published, "published")
        metrics.finished("t2", waiting, "retry_wait")
        metrics.finished("t3", waiting, "held: the account is rate-limited by the network")
        found = scrape(port)
    finally:
        server.shutdown()
    team = (("network", "webhook"),)
    assert found["postmast_publish_total", (("network", "webhook"), ("outcome", "published"))] == 1
    assert found["postmast_publish_total", (("network", "webhook"), ("outcome", "held_rate_limited"))] == 1
    assert found["postmast_retries_total", team] == 1
    assert found["postmast_rate_limited_total", team] == 2
    assert found["postmast_lateness_seconds_count", team] == 1
    assert found["postmast_lateness_seconds_sum", team] == 42
    assert found["postmast_lateness_seconds_bucket", (("le", "30.0"), *team)] == 0
    assert found["postmast_lateness_seconds_bucket", (("le", "60.0"), *team)] == 1
    assert found["postmast_publish_seconds_count", (("network", "webhook"), ("outcome", "retry_wait"))] == 1


def test_scheduler_metrics_scraped(store: Store, vault: Vault, settings: Settings, clock) -> None:
    account = add_account(store, vault, "webhook", "team")
    add_delivery(store, account, status=Status.PUBLISHED)
    add_delivery(store, account, status=Status.SCHEDULED, due=clock.now - timedelta(minutes=10))
    Beat(store, "worker").beat()
    port = free_port()
    collector = serve_scheduler_metrics(store, settings, port, address="127.0.0.1")
    collector.observe_tick(TickResult([1, 2], [], [3], [4, 5, 6], None))
    found = scrape(port)
    assert found["postmast_deliveries", (("network", "webhook"), ("status", "published"))] == 1
    assert found["postmast_deliveries", (("network", "webhook"), ("status", "scheduled"))] == 1
    assert found["postmast_overdue_deliveries", ()] == 1
    assert found["postmast_processes", (("role", "worker"), ("state", "running"))] == 1
    assert found["postmast_queue_depth", ()] == 0  # the embedded broker, with nothing waiting
    assert (found["postmast_dispatched_total", ()], found["postmast_missed_total", ()]) == (2, 3)
    assert found["postmast_lease_expired_total", ()] == 1


def test_queue_depth_on_redis(redis_url: str, tmp_path: Path) -> None:
    queue = f"postmast-test-{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env(
        {"POSTMAST_DATA_DIR": str(tmp_path), "POSTMAST_BROKER_URL": redis_url, "POSTMAST_QUEUE": queue}
    )
    assert queue_depth(settings) == 0
    try:
        enqueue_all(create_app(settings), [1, 2, 3], queue)
        assert queue_depth(settings) == 3
    finally:
        redis.Redis.from_url(redis_url).delete(queue)
    unreachable = Settings.from_env(
        {"POSTMAST_DATA_DIR": str(tmp_path), "POSTMAST_BROKER_URL": "redis://127.0.0.1:1/0"}
    )
    with pytest.raises(Exception, match=r"111|refused"):
        queue_depth(unreachable, timeout=1)
