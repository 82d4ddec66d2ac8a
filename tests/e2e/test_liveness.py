"""Real worker and scheduler processes: heartbeats, `postmast status`, Prometheus scrapes of both,
and an incident's notification from the running scheduler."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from postmast.scheduler.accounts import Accounts
from postmast.scheduler.notify import new_secret
from postmast.scheduler.posts import PostRequest, Posts
from postmast.scheduler.states import Status
from tests.e2e.harness import Services, all_rows, context, service_env, wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def status(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "postmast", "status", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append({"headers": dict(self.headers.items()), "body": json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()


@pytest.mark.slow
def test_status_metrics_and_notifications_of_running_services(
    tmp_path: Path, hook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = hook
    worker_port, scheduler_port = free_port(), free_port()
    env = service_env(
        tmp_path / "data",
        POSTMAST_NOTIFY_WEBHOOK_URL=url,
        POSTMAST_NOTIFY_WEBHOOK_SECRET=new_secret(),
    )
    ctx = context(env)
    outbox = tmp_path / "outbox.jsonl"
    Accounts(ctx.store, ctx.vault).add("fake", "ok", {"outbox": str(outbox)}, {})
    Accounts(ctx.store, ctx.vault).add("fake", "bad", {"outbox": str(outbox), "script": "permanent"}, {})
    down = status(env)
    assert down.returncode == 1 and "no scheduler is running" in down.stdout
    procs = Services(env, tmp_path)
    try:
        procs.start("worker", "worker", "--concurrency=2", f"--metrics-port={worker_port}")
        procs.start("scheduler", "scheduler", f"--metrics-port={scheduler_port}")
        wait_for(lambda: status(env).returncode == 0, 60, "postmast status to say well", procs)
        well = json.loads(status(env, "--json").stdout)
        assert {p["role"] for p in well["processes"] if p["state"] == "running"} == {"worker", "scheduler"}
        assert well["broker"]["reachable"] and well["healthy"]
        assert status(env, "--role", "worker", "--here", "--quiet").returncode == 0

        now = ctx.store.now()
        Posts(ctx.store, default_max_lateness=3600).queue_many(
            [PostRequest("hello", ["fake:ok", "fake:bad"], now + timedelta(seconds=1), "UTC")]
        )
        wait_for(
            lambda: {r.status for r in all_rows(ctx)} == {Status.PUBLISHED, Status.FAILED},
            60,
            "both ended",
            procs,
        )
        wait_for(lambda: bool(received), 60, "the failure's notification", procs)
        [message] = received
        assert message["body"]["type"] == "postmast.incident.failed"
        assert message["body"]["data"]["subject"] == "fake:bad"
        assert message["headers"]["webhook-signature"].startswith("v1,")

        worker = scrape(worker_port)
        assert worker["postmast_publish_total", (("network", "fake"), ("outcome", "published"))] == 1
        assert worker["postmast_publish_total", (("network", "fake"), ("outcome", "failed"))] == 1
        scheduler = scrape(scheduler_port)
        assert scheduler["postmast_deliveries", (("network", "fake"), ("status", "published"))] == 1
        assert scheduler["postmast_processes", (("role", "worker"), ("state", "running"))] == 1
        assert scheduler["postmast_dispatched_total", ()] >= 1
    finally:
        procs.stop_all()
    stopped = json.loads(status(env, "--json").stdout)
    assert {p["state"] for p in stopped["processes"]} == {"stopped"}
    assert not stopped["healthy"]
