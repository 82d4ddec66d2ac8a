"""Real `postmast worker` / `postmast scheduler` processes for end-to-end tests."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path

import redis

from postmast.context import Context
from postmast.scheduler.config import Settings
from postmast.scheduler.deliveries import Deliveries, DeliveryRow, Filters
from postmast.scheduler.states import TERMINAL, Status

FAST_TIMINGS = {
    "POSTMAST_CONNECT_TIMEOUT": "2",
    "POSTMAST_HTTP_TIMEOUT": "2",
    "POSTMAST_TASK_TIME_LIMIT": "4",
    "POSTMAST_LEASE": "6",
    "POSTMAST_SETTLE": "8",
    "POSTMAST_VISIBILITY_TIMEOUT": "30",
    "POSTMAST_REQUEUE_AFTER": "20",
    "POSTMAST_RETRY_BASE": "1",
}


def service_env(
    data_dir: Path,
    *,
    database_url: str | None = None,
    broker_url: str | None = None,
    queue: str | None = None,
    **extra: str,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTMAST_")}
    env.update(FAST_TIMINGS)
    env["POSTMAST_DATA_DIR"] = str(data_dir)
    env["POSTMAST_SECRET_KEY"] = "vz5e2nvD4RO2w81cz-IgMRi-JP7SqokXJch69RIYJBg="
    if database_url:
        env["POSTMAST_DATABASE_URL"] = database_url
    if broker_url:
        env["POSTMAST_BROKER_URL"] = broker_url
    if queue:
        env["POSTMAST_QUEUE"] = queue
    env.update(extra)
    return env


class Service:
    """One postmast service process in its own process group, logging to a file."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "postmast", *args],
            env=dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill9(self) -> None:
        """SIGKILL the whole process group: the worker and its pool children, no goodbye."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 30) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
        self._log.close()
        return int(self.process.returncode)


class Services:
    def __init__(self, env: Mapping[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.started: list[Service] = []

    def start(self, name: str, *args: str, **extra_env: str) -> Service:
        service = Service(name, list(args), {**self.env, **extra_env}, self.log_dir)
        self.started.append(service)
        return service

    def worker(self, name: str = "worker", concurrency: int = 2) -> Service:
        return self.start(name, "worker", f"--concurrency={concurrency}", "--loglevel=INFO")

    def scheduler(self, name: str = "scheduler") -> Service:
        return self.start(name, "scheduler", "--loglevel=INFO")

    def stop_all(self) -> None:
        """SIGTERM to every service at once, then wait for each (they stop in parallel)."""
        for service in self.started:
            if service.alive():
                service.process.send_signal(signal.SIGTERM)
        for service in reversed(self.started):
            service.stop()

    def logs(self) -> str:
        return "\n".join(f"==== {s.name} ====\n{s.log()[-4000:]}" for s in self.started)


def context(env: Mapping[str, str]) -> Context:
    return Context(Settings.from_env(env))


def wait_for(
    predicate: Callable[[], bool], timeout: float, what: str, services: Services | None = None
) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    details = services.logs() if services else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{details}")


def all_rows(ctx: Context) -> list[DeliveryRow]:
    return Deliveries(ctx.store).search(Filters())


def settled(ctx: Context, expected: int) -> Callable[[], bool]:
    def check() -> bool:
        rows = all_rows(ctx)
        return len(rows) == expected and all(r.status in TERMINAL or r.status == Status.UNKNOWN for r in rows)

    return check


def queued_message_ids(redis_url: str, queue: str) -> Counter[int]:
    """Delivery ids of the publish messages waiting in a Redis queue (kombu's message format)."""
    client = redis.Redis.from_url(redis_url)
    counts: Counter[int] = Counter()
    for raw in client.lrange(queue, 0, -1):
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        assert message["headers"]["task"] == "postmast.publish"
        assert message["headers"].get("eta") is None and message["headers"].get("countdown") is None
        counts[int(args[0])] += 1
    return counts
