"""End-to-end throughput on the fake network: queue N posts, run real services, time them.

Nothing but postmast is measured: the fake network writes each item to a local file, so the
figures are the store's, the broker's and the worker's. Deliveries are all due at once,
spread over the accounts (one in flight per account), on the embedded default (SQLite store
and broker) or on PostgreSQL + Redis (a throw-away database and a private Redis).

    python -m bench.throughput                        # embedded, 1,000 deliveries over 100 accounts
    python -m bench.throughput --stack production --deliveries 2000 --accounts 200 --json

Figures: deliveries per second (first due time to last publication), lateness p50/p99/max,
the same count of no-op Celery tasks per second through the same broker and worker settings
(bench/noop.py) and the ratio of the two, the worker's peak resident memory after a tenth of
the deliveries and at the end, and the checks that matter as much as speed: every delivery
published, each exactly once.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import func, select

from bench import noop
from bench.chaos_stack import Process, RedisServer, group_members
from bench.tick import throwaway
from postmast.connectors.fake import read_outbox
from postmast.context import Context
from postmast.scheduler.accounts import Accounts
from postmast.scheduler.config import Settings
from postmast.scheduler.deliveries import Deliveries, DeliveryRow, Filters
from postmast.scheduler.models import Delivery
from postmast.scheduler.posts import PostRequest, Posts
from postmast.scheduler.states import TERMINAL, Status


@dataclass(frozen=True)
class Figures:
    stack: str
    deliveries: int
    accounts: int
    concurrency: int
    workers: int
    seconds: float
    per_second: float
    lateness_p50_ms: float
    lateness_p99_ms: float
    lateness_max_ms: float
    published: int
    duplicates: int
    noop_per_second: float
    ratio: float
    rss_warm_mb: float
    rss_end_mb: float

    def lines(self) -> list[str]:
        return [
            f"throughput ({self.stack}): {self.deliveries} deliveries over {self.accounts} accounts, "
            f"{self.workers} worker service(s) of concurrency {self.concurrency}",
            f"  deliveries/s            {self.per_second:.1f}  ({self.seconds:.1f} s)",
            f"  no-op Celery tasks/s    {self.noop_per_second:.1f}  (same broker and worker settings)",
            f"  ratio                   {self.ratio:.2f}  (deliveries/s / no-op tasks/s)",
            f"  worker peak RSS         {self.rss_warm_mb:.0f} MB after warm-up (10%), "
            f"{self.rss_end_mb:.0f} MB at the end",
            f"  lateness p50/p99/max    {self.lateness_p50_ms:.0f} / {self.lateness_p99_ms:.0f} / "
            f"{self.lateness_max_ms:.0f} ms",
            f"  published               {self.published} of {self.deliveries}",
            f"  duplicates in the outbox {self.duplicates}  (must be 0)",
        ]


@contextmanager
def stack_env(stack: str, workdir: Path) -> Iterator[tuple[dict[str, str], Context]]:
    """The services' environment and a context on their store: the embedded default in
    `workdir`, or (`production`) a throw-away PostgreSQL database and a private Redis, both
    removed at the end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTMAST_")}
    env.update({"POSTMAST_DATA_DIR": str(workdir / "data"), "POSTMAST_LOG_LEVEL": "WARNING"})
    with ExitStack() as cleanup:
        if stack == "production":
            url = cleanup.enter_context(throwaway("postgresql", workdir))
            redis_server = RedisServer(workdir)
            cleanup.callback(redis_server.stop)
            env.update({"POSTMAST_DATABASE_URL": url, "POSTMAST_BROKER_URL": redis_server.url})
        ctx = Context(Settings.from_env(env))
        cleanup.callback(ctx.store.dispose)
        yield env, ctx


def run(
    stack: str, deliveries: int, accounts: int, concurrency: int, workdir: Path, workers: int = 1
) -> Figures:
    outbox = workdir / "outbox.jsonl"
    rss: list[float] = []
    with stack_env(stack, workdir) as (env, ctx):
        settings = ctx.settings
        noop_rate = _noop(settings, env, deliveries, concurrency, workdir)
        names = [f"bench{n}" for n in range(accounts)]
        for name in names:
            Accounts(ctx.store, ctx.vault).add("fake", name, {"outbox": str(outbox)}, {})
        now = ctx.store.now()
        Posts(ctx.store, default_max_lateness=3600).queue_many(
            [PostRequest(f"post {n}", [f"fake:{names[n % accounts]}"], now, "UTC") for n in range(deliveries)]
        )
        logs = workdir / "logs"
        logs.mkdir()
        services = [
            *[Process(f"worker{n}", ["worker", "-c", str(concurrency)], env, logs) for n in range(workers)],
            Process("scheduler", ["scheduler"], env, logs),
        ]
        try:
            rows = _wait(ctx, deliveries, lambda: rss.append(_peak_rss_mb(services[0])))
            rss.append(_peak_rss_mb(services[0]))
        finally:
            for service in services:
                service.stop()
    published = [r for r in rows if r.status == Status.PUBLISHED and r.published_at]
    lateness = sorted((r.published_at - r.due_at).total_seconds() * 1000 for r in published if r.published_at)
    last = max((r.published_at for r in published if r.published_at), default=now)
    seconds = max((last - now).total_seconds(), 1e-3)
    keys = Counter(item["idempotency_key"] for item in read_outbox(outbox))
    return Figures(
        stack,
        deliveries,
        accounts,
        concurrency,
        workers,
        round(seconds, 2),
        round(len(published) / seconds, 1),
        _quantile(lateness, 0.5),
        _quantile(lateness, 0.99),
        lateness[-1] if lateness else 0.0,
        len(published),
        sum(n - 1 for n in keys.values() if n > 1),
        round(noop_rate, 1),
        round(len(published) / seconds / noop_rate, 2) if noop_rate else 0.0,
        rss[0] if rss else 0.0,
        rss[-1] if rss else 0.0,
    )


def _noop(settings: Settings, env: dict[str, str], count: int, concurrency: int, workdir: Path) -> float:
    """No-op tasks per second through the same broker, with a worker started as postmast's is."""
    done = workdir / "noop.txt"
    log = open(workdir / "noop-worker.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "bench.noop", "-c", str(concurrency)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        start = noop.send(settings, count, done)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            lines = done.read_text().splitlines() if done.exists() else []
            if len(lines) >= count:
                last = max(float(line.split()[1]) for line in lines)
                return count / max(last - start, 1e-3)
            time.sleep(0.2)
        return 0.0
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        log.close()


def _peak_rss_mb(service: Process) -> float:
    """The largest peak resident set (VmHWM) among the service's processes (pool children too)."""
    peak = 0
    for pid in group_members(service.process.pid) if service.process else set():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return round(peak / 1024, 1)


def _wait(ctx: Context, total: int, warm: Callable[[], object], timeout: float = 600.0) -> list[DeliveryRow]:
    """Every delivery settled (`warm` is called once a tenth of them are). Polls with one count
    (reading every row twice a second took a core's worth of the machine the services share)."""
    deadline = time.monotonic() + timeout
    warmed = False
    while True:
        with ctx.store.read() as session:
            settled = (
                session.scalar(
                    select(func.count()).select_from(Delivery).where(Delivery.status.in_(list(TERMINAL)))
                )
                or 0
            )
        if not warmed and settled >= total / 10:
            warm()
            warmed = True
        if settled >= total or time.monotonic() > deadline:
            return Deliveries(ctx.store).search(Filters())
        time.sleep(0.25)


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1], 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", choices=["embedded", "production"], default="embedded")
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="Worker services (each of --concurrency); the no-op figure uses one.",
    )
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="postmast-bench-") as tmp:
        figures = run(args.stack, args.deliveries, args.accounts, args.concurrency, Path(tmp), args.workers)
    print(json.dumps(asdict(figures)) if args.json else "\n".join(figures.lines()))
    return 0 if figures.published == figures.deliveries and figures.duplicates == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
