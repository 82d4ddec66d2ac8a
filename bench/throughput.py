"""End-to-end throughput on the fake network: queue N posts, run real services, time them.

Nothing but postmast is measured: the fake network writes each item to a local file, so the
figures are the store's, the broker's and the worker's. Deliveries are all due at once,
spread over the accounts (one in flight per account), on the embedded default (SQLite store
and broker) or on PostgreSQL + Redis (a throw-away database and a private Redis).

    python -m bench.throughput                        # embedded, 1,000 deliveries over 100 accounts
    python -m bench.throughput --stack production --deliveries 2000 --accounts 200 --json

Figures: deliveries per second (first due time to last publication), lateness p50/p99/max,
and the checks that matter as much as speed: every delivery published, each exactly once.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.chaos_stack import Process, RedisServer, database
from postmast.connectors.fake import read_outbox
from postmast.context import Context
from postmast.scheduler.accounts import Accounts
from postmast.scheduler.config import Settings
from postmast.scheduler.deliveries import Deliveries, DeliveryRow, Filters
from postmast.scheduler.posts import PostRequest, Posts
from postmast.scheduler.states import TERMINAL, Status


@dataclass(frozen=True)
class Figures:
    stack: str
    deliveries: int
    accounts: int
    concurrency: int
    seconds: float
    per_second: float
    lateness_p50_ms: float
    lateness_p99_ms: float
    lateness_max_ms: float
    published: int
    duplicates: int

    def lines(self) -> list[str]:
        return [
            f"throughput ({self.stack}): {self.deliveries} deliveries over {self.accounts} accounts, "
            f"worker concurrency {self.concurrency}",
            f"  deliveries/s            {self.per_second:.1f}  ({self.seconds:.1f} s)",
            f"  lateness p50/p99/max    {self.lateness_p50_ms:.0f} / {self.lateness_p99_ms:.0f} / "
            f"{self.lateness_max_ms:.0f} ms",
            f"  published               {self.published} of {self.deliveries}",
            f"  duplicates in the outbox {self.duplicates}  (must be 0)",
        ]


def run(stack: str, deliveries: int, accounts: int, concurrency: int, workdir: Path) -> Figures:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTMAST_")}
    env.update({"POSTMAST_DATA_DIR": str(workdir / "data"), "POSTMAST_LOG_LEVEL": "WARNING"})
    cleanup = []
    redis_server = None
    if stack == "production":
        admin = os.environ.get(
            "POSTMAST_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        )
        url, drop = database(admin)
        cleanup.append(drop)
        redis_server = RedisServer(workdir)
        env.update({"POSTMAST_DATABASE_URL": url, "POSTMAST_BROKER_URL": redis_server.url})
    settings = Settings.from_env(env)
    ctx = Context(settings)
    outbox = workdir / "outbox.jsonl"
    try:
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
            Process("worker", ["worker", "-c", str(concurrency)], env, logs),
            Process("scheduler", ["scheduler"], env, logs),
        ]
        try:
            rows = _wait(ctx, deliveries)
        finally:
            for service in services:
                service.stop()
    finally:
        ctx.store.dispose()
        if redis_server:
            redis_server.stop()
        for step in cleanup:
            step()
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
        round(seconds, 2),
        round(len(published) / seconds, 1),
        _quantile(lateness, 0.5),
        _quantile(lateness, 0.99),
        lateness[-1] if lateness else 0.0,
        len(published),
        sum(n - 1 for n in keys.values() if n > 1),
    )


def _wait(ctx: Context, total: int, timeout: float = 600.0) -> list[DeliveryRow]:
    deliveries = Deliveries(ctx.store)
    deadline = time.monotonic() + timeout
    while True:
        rows = deliveries.search(Filters())
        if sum(r.status in TERMINAL for r in rows) == total or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


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
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="postmast-bench-") as tmp:
        figures = run(args.stack, args.deliveries, args.accounts, args.concurrency, Path(tmp))
    print(json.dumps(asdict(figures)) if args.json else "\n".join(figures.lines()))
    return 0 if figures.published == figures.deliveries and figures.duplicates == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
