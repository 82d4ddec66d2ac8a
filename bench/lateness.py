"""Lateness of posts due one after another: how long after its due time each one is out.

bench/throughput.py makes every post due at once, so its lateness is mostly the queue. Here the
posts are due spread evenly (by default 600 over 60 s, over 100 accounts: each account's next
post comes 10 s after its last), as a real schedule is, so the figure is what the dispatcher and
the worker add to each post: the wake at the due time, the claim, the broker and the publish.
The services run as real processes (`postmast worker`, `postmast scheduler`) on the embedded
default (SQLite store and broker) or on PostgreSQL + Redis (a throw-away database and a private
Redis), as in bench/throughput.py.

    python -m bench.lateness                          # embedded default
    python -m bench.lateness --stack production --json

Lateness is `published_at - due_at`; the fake network's `published_at` is the time the worker
records the outcome, so it includes the whole publish. A warm-up post is published before the
measured posts are queued (the services are up and connected); it is not counted. Targets
(issue 14): p99 <= 100 ms on PostgreSQL + Redis, <= 250 ms embedded, and max <= 2 x p99.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from bench.chaos_stack import Process
from bench.throughput import _quantile, _wait, stack_env
from postmast.connectors.fake import read_outbox
from postmast.context import Context
from postmast.scheduler.accounts import Accounts
from postmast.scheduler.models import Account, Attempt, Delivery
from postmast.scheduler.posts import PostRequest, Posts
from postmast.scheduler.states import Status

TARGET_P99_MS = {"production": 100.0, "embedded": 250.0}
LEAD = timedelta(seconds=3)
"""Between queueing the posts and the first one's due time (queueing takes well under that)."""


@dataclass(frozen=True)
class Figures:
    stack: str
    posts: int
    accounts: int
    seconds: float
    concurrency: int
    lateness_p50_ms: float
    lateness_p99_ms: float
    lateness_max_ms: float
    target_p99_ms: float
    claim_p50_ms: float
    claim_p99_ms: float
    pickup_p50_ms: float
    pickup_p99_ms: float
    publish_p50_ms: float
    publish_p99_ms: float
    published: int
    duplicates: int

    @property
    def met(self) -> bool:
        return (
            self.published == self.posts
            and self.duplicates == 0
            and self.lateness_p99_ms <= self.target_p99_ms
            and self.lateness_max_ms <= 2 * self.lateness_p99_ms
        )

    def lines(self) -> list[str]:
        return [
            f"lateness ({self.stack}): {self.posts} posts due evenly over {self.seconds:g} s, "
            f"{self.accounts} accounts, worker concurrency {self.concurrency}",
            f"  lateness p50            {self.lateness_p50_ms:.0f} ms",
            f"  lateness p99            {self.lateness_p99_ms:.0f} ms  "
            f"(target <= {self.target_p99_ms:.0f} ms)",
            f"  lateness max            {self.lateness_max_ms:.0f} ms  (target <= 2 x p99 = "
            f"{2 * self.lateness_p99_ms:.0f} ms)",
            f"  of which: claim         {self.claim_p50_ms:.0f} / {self.claim_p99_ms:.0f} ms p50/p99  "
            "(due -> the claiming tick starts: its `queued_at`)",
            f"            pickup        {self.pickup_p50_ms:.0f} / {self.pickup_p99_ms:.0f} ms p50/p99  "
            "(-> the attempt starts: claim, broker, worker)",
            f"            publish       {self.publish_p50_ms:.0f} / {self.publish_p99_ms:.0f} ms p50/p99  "
            "(attempt starts -> published)",
            f"  published               {self.published} of {self.posts}",
            f"  duplicates in the outbox {self.duplicates}  (must be 0)",
            f"  targets met             {'yes' if self.met else 'NO'}",
        ]


def run(stack: str, posts: int, accounts: int, seconds: float, concurrency: int, workdir: Path) -> Figures:
    outbox = workdir / "outbox.jsonl"
    with stack_env(stack, workdir) as (env, ctx):
        names = [f"late{n}" for n in range(accounts)]
        for name in [*names, "warmup"]:
            Accounts(ctx.store, ctx.vault).add("fake", name, {"outbox": str(outbox)}, {})
        queue = Posts(ctx.store, default_max_lateness=3600)
        logs = workdir / "logs"
        logs.mkdir()
        services = [
            Process("worker", ["worker", "-c", str(concurrency)], env, logs),
            Process("scheduler", ["scheduler"], env, logs),
        ]
        try:
            queue.queue_many([PostRequest("warm-up", ["fake:warmup"], ctx.store.now(), "UTC")])
            _wait(ctx, 1, lambda: None, timeout=120)
            first = ctx.store.now() + LEAD
            step = timedelta(seconds=seconds / posts)
            queue.queue_many(
                [
                    PostRequest(f"post {n}", [f"fake:{names[n % accounts]}"], first + step * n, "UTC")
                    for n in range(posts)
                ]
            )
            time.sleep(max((first - ctx.store.now()).total_seconds() + seconds, 0))
            rows = _wait(ctx, posts + 1, lambda: None)
            steps = _steps(ctx)
        finally:
            for service in services:
                service.stop()
    rows = [r for r in rows if r.account != "warmup"]
    published = [r for r in rows if r.status == Status.PUBLISHED and r.published_at]
    lateness = sorted((r.published_at - r.due_at).total_seconds() * 1000 for r in published if r.published_at)
    keys = Counter(item["idempotency_key"] for item in read_outbox(outbox))
    return Figures(
        stack,
        posts,
        accounts,
        seconds,
        concurrency,
        _quantile(lateness, 0.5),
        _quantile(lateness, 0.99),
        round(lateness[-1], 1) if lateness else 0.0,
        TARGET_P99_MS[stack],
        *(_quantile(sorted(values), q) for values in steps for q in (0.5, 0.99)),
        len(published),
        sum(n - 1 for n in keys.values() if n > 1),
    )


def _steps(ctx: Context) -> tuple[list[float], list[float], list[float]]:
    """Where each published post's lateness went: due -> `queued_at` (the start of the tick
    that claimed it: the wake), -> its first attempt starts (the claim's statements, the
    broker, the worker taking it), -> published."""
    first_attempt = (
        select(Attempt.delivery_id, func.min(Attempt.started_at).label("started_at"))
        .group_by(Attempt.delivery_id)
        .subquery()
    )
    with ctx.store.read() as session:
        found = session.execute(
            select(Delivery.due_at, Delivery.queued_at, first_attempt.c.started_at, Delivery.published_at)
            .join(first_attempt, first_attempt.c.delivery_id == Delivery.id)
            .join(Account, Account.id == Delivery.account_id)
            .where(Delivery.status == Status.PUBLISHED, Account.name != "warmup")
        ).all()

    def ms(pairs: list[tuple[datetime, datetime]]) -> list[float]:
        return [(b - a).total_seconds() * 1000 for a, b in pairs]

    claim = ms([(due, queued) for due, queued, _, _ in found])
    pickup = ms([(queued, started) for _, queued, started, _ in found])
    publish = ms([(started, out) for _, _, started, out in found])
    return claim, pickup, publish


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", choices=["embedded", "production"], default="embedded")
    parser.add_argument("--posts", type=int, default=600)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0, help="The posts' due times span this.")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="postmast-lateness-") as tmp:
        figures = run(args.stack, args.posts, args.accounts, args.seconds, args.concurrency, Path(tmp))
    print(json.dumps(asdict(figures)) if args.json else "\n".join(figures.lines()))
    return 0 if figures.met else 1


if __name__ == "__main__":
    raise SystemExit(main())
