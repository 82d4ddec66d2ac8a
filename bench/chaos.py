"""The chaos run: deliveries under faults, crashes, restarts and outages; never twice, never lost.

    python -m bench.chaos                 # 1,000 deliveries, 3 Mastodon and 1 webhook account, 30 % faults
    python -m bench.chaos --deliveries 200 --accounts 4 --json

On a private PostgreSQL cluster and a private Redis with AOF (both started here, in
temporary directories), it runs two workers and two schedulers against contract servers
that inject faults (bench/chaos_server.py): Mastodon, which can be asked afterwards whether
a post arrived, and a webhook, which cannot. Meanwhile workers and schedulers are killed
with SIGKILL and restarted at random intervals, broker messages are duplicated on purpose,
and, while publishes are in flight, Redis goes away for 2 s and PostgreSQL is restarted with
`-m immediate` (down about 1 s). Then it prints what happened and checks: duplicates seen by
the servers, deliveries lost (not terminal and not explained), requests sent inside a
rate-limit window, whether `postmast report --json` agrees with the servers' own books, and
whether every `unknown` had a true reason (the worker really was killed, or the server really
withheld its answer), so that no post a server accepted and answered is reported `unknown`.
The exit code is 0 only when all of them hold.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.chaos_result import Books, ChaosResult, Figures, judge
from bench.chaos_server import ChaosMastodon, ChaosWebhook, Faulty
from bench.chaos_stack import PostgresServer, Process, RedisServer
from postmast.context import Context
from postmast.scheduler.accounts import Accounts
from postmast.scheduler.config import Settings
from postmast.scheduler.models import Attempt, Delivery
from postmast.scheduler.posts import PostRequest, Posts
from postmast.scheduler.states import PENDING, Status
from postmast.workers.app import create_app, enqueue_all

TIMINGS = {
    "POSTMAST_CONNECT_TIMEOUT": "1",
    "POSTMAST_HTTP_TIMEOUT": "1.5",
    "POSTMAST_TASK_TIME_LIMIT": "2.5",
    "POSTMAST_LEASE": "3",
    "POSTMAST_SETTLE": "4",
    "POSTMAST_VISIBILITY_TIMEOUT": "30",
    "POSTMAST_REQUEUE_AFTER": "6",
    "POSTMAST_RETRY_BASE": "0.5",
    "POSTMAST_RETRY_CAP": "8",
    "POSTMAST_TICK": "0.5",
    "POSTMAST_MAX_ATTEMPTS": "8",
}


@dataclass
class ChaosConfig:
    deliveries: int = 1000
    accounts: int = 3
    """Mastodon accounts."""
    webhooks: int = 1
    """Webhook accounts (a network that cannot be asked whether a post arrived)."""
    fault_rate: float = 0.3
    seed: int = 7
    spread: float = 20.0
    """Due times are spread over this many seconds from the start."""
    chaos_for: float | None = None
    """Kill and duplicate for this long (default: spread + 40 s), then let everything settle."""
    timeout: float = 1200.0
    tight_share: float = 0.03
    """Share of posts allowed only 3 s of lateness: under faults some of them are missed."""
    outages: bool = True
    """Take Redis away for 2 s and restart PostgreSQL while publishes are in flight."""


@dataclass
class Outages:
    """What the outage thread did, and how many publishes were in flight when each began."""

    redis_blips: int = 0
    postgres_restarts: int = 0
    in_flight: dict[str, int] | None = None


def run(config: ChaosConfig, workdir: Path, say: Any = print) -> ChaosResult:
    rng = random.Random(config.seed)
    started = time.monotonic()
    postgres = PostgresServer()
    broker = RedisServer(workdir)
    tokens = {f"chaos-token-{n}": f"user{n}" for n in range(config.accounts)}
    timeout = float(TIMINGS["POSTMAST_HTTP_TIMEOUT"])
    mastodon = ChaosMastodon(tokens, fault_rate=config.fault_rate, timeout=timeout, seed=config.seed).start()
    webhook = ChaosWebhook(fault_rate=config.fault_rate, timeout=timeout, seed=config.seed + 1).start()
    servers: list[Faulty] = [mastodon, webhook]
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTMAST_")}
    env.update(TIMINGS)
    env.update(
        {
            "POSTMAST_DATA_DIR": str(workdir / "data"),
            "POSTMAST_DATABASE_URL": postgres.url,
            "POSTMAST_BROKER_URL": broker.url,
            "POSTMAST_QUEUE": "chaos",
            "POSTMAST_LOG_LEVEL": "INFO",
            "POSTMAST_SECRET_KEY": "vz5e2nvD4RO2w81cz-IgMRi-JP7SqokXJch69RIYJBg=",
        }
    )
    settings = Settings.from_env(env)
    ctx = Context(settings)
    processes: list[Process] = []
    stop_chaos = threading.Event()
    kills: Counter[str] = Counter()
    duplicates_sent = 0
    outages = Outages(in_flight={})
    try:
        accounts = Accounts(ctx.store, ctx.vault)
        targets = []
        for n, token in enumerate(tokens):
            accounts.add("mastodon", f"chaos{n}", {"instance": mastodon.url}, {"access_token": token})
            targets.append(f"mastodon:chaos{n}")
        for n in range(config.webhooks):
            accounts.add("webhook", f"chaos{n}", {"url": f"{webhook.url}/hooks/chaos{n}"}, {})
            targets.append(f"webhook:chaos{n}")
        now = ctx.store.now()
        requests = []
        for number in range(config.deliveries):
            tight = rng.random() < config.tight_share
            requests.append(
                PostRequest(
                    f"chaos post {number} #{rng.randrange(10**6)}",
                    [targets[number % len(targets)]],
                    now + timedelta(seconds=1 + rng.uniform(0, config.spread)),
                    "UTC",
                    max_lateness=3.0 if tight else 3600.0,
                )
            )
        Posts(ctx.store, default_max_lateness=3600).queue_many(requests)
        say(
            f"queued {config.deliveries} deliveries for {len(targets)} accounts; "
            "starting 2 workers and 2 schedulers"
        )
        logs = workdir / "logs"
        logs.mkdir()
        for n in (1, 2):
            processes.append(Process(f"worker-{n}", ["worker", "-c", "2"], env, logs))
            processes.append(Process(f"scheduler-{n}", ["scheduler"], env, logs))
        app = create_app(settings)

        def monkey() -> None:
            order: list[Process] = []
            while not stop_chaos.wait(rng.uniform(2.0, 6.0)):
                if not order:
                    order = rng.sample(processes, len(processes))
                victim = order.pop()
                victim.kill9()
                kills[victim.name.split("-")[0]] += 1
                stop_chaos.wait(rng.uniform(0.3, 1.5))
                victim.start()

        def duplicator() -> None:
            nonlocal duplicates_sent
            while not stop_chaos.wait(0.3):
                try:
                    with ctx.store.read() as session:
                        ids = list(
                            session.scalars(
                                select(Delivery.id)
                                .where(
                                    Delivery.status.in_([Status.QUEUED, Status.PUBLISHING, Status.PUBLISHED])
                                )
                                .order_by(func.random())
                                .limit(10)
                            )
                        )
                    enqueue_all(app, ids, settings.queue)
                    duplicates_sent += len(ids)
                except Exception:  # noqa: S110 (PostgreSQL or Redis is being restarted)
                    pass

        def outage(name: str, action: Any) -> None:
            """Slow the servers down, wait for a post in flight, then take `name` away."""
            for server in servers:
                server.latency = 0.5  # well inside the client's time: the answer is heard
            deadline = time.monotonic() + 20.0
            while time.monotonic() < deadline and not any(server.in_flight for server in servers):
                time.sleep(0.02)
            assert outages.in_flight is not None
            outages.in_flight[name] = sum(server.in_flight for server in servers)
            say(f"{name} goes away with {outages.in_flight[name]} posts in flight")
            action()
            for server in servers:
                server.latency = 0.0

        def outage_plan() -> None:
            """While deliveries fall due (counted from when the services started): Redis, then
            PostgreSQL."""
            if stop_chaos.wait(config.spread * 0.3):
                return
            outage("redis", lambda: broker.restart(down=2.0))
            outages.redis_blips += 1
            if stop_chaos.wait(max(1.0, config.spread * 0.3)):
                return
            outage("postgresql", lambda: postgres.restart(down=1.0))
            outages.postgres_restarts += 1

        threads = [
            threading.Thread(target=monkey, daemon=True),
            threading.Thread(target=duplicator, daemon=True),
        ]
        if config.outages:
            threads.append(threading.Thread(target=outage_plan, daemon=True))
        for thread in threads:
            thread.start()
        chaos_for = config.chaos_for if config.chaos_for is not None else config.spread + 40
        deadline = started + config.timeout
        while time.monotonic() < deadline:
            time.sleep(1.0)
            if not stop_chaos.is_set() and time.monotonic() - started >= chaos_for:
                say("chaos over: no more kills or duplicates; letting everything settle")
                stop_chaos.set()
                for thread in threads:
                    thread.join(30)
                for process in processes:
                    if process.process and process.process.poll() is not None:
                        process.start()
            try:
                counts = _counts(ctx)
                open_ = sum(counts.get(s.value, 0) for s in PENDING) + _unknown_being_checked(ctx)
            except Exception:  # noqa: S112 (PostgreSQL is restarting)
                continue
            say(
                f"  {time.monotonic() - started:5.0f} s  "
                + "  ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            )
            if stop_chaos.is_set() and open_ == 0:
                break
        stop_chaos.set()
        for process in processes:
            process.stop()
        report = json.loads(
            subprocess.run(
                [sys.executable, "-m", "postmast", "report", "--json"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            ).stdout
        )
        killed = set().union(*(p.killed for p in processes if p.name.startswith("worker")))
        return judge(
            Books(
                report=report,
                unknown_attempts=_unknown_attempts(ctx),
                servers={"mastodon": mastodon, "webhook": webhook},
                identities={
                    **{f"mastodon:chaos{n}": token for n, token in enumerate(tokens)},
                    **{f"webhook:chaos{n}": f"/hooks/chaos{n}" for n in range(config.webhooks)},
                },
                killed_pids=killed,
                leftover_outbox=len(list((workdir / "data" / "outbox").glob("*.json"))),
            ),
            Figures(
                deliveries=config.deliveries,
                accounts=len(targets),
                elapsed=time.monotonic() - started,
                kills=dict(kills),
                redis_blips=outages.redis_blips,
                postgres_restarts=outages.postgres_restarts,
                in_flight_at_outages=dict(outages.in_flight or {}),
                duplicate_messages_sent=duplicates_sent,
            ),
        )
    finally:
        stop_chaos.set()
        for process in processes:
            process.kill9()
        mastodon.stop()
        webhook.stop()
        broker.stop()
        ctx.store.dispose()
        postgres.stop()


def _counts(ctx: Context) -> dict[str, int]:
    with ctx.store.read() as session:
        return {
            str(s): int(n)
            for s, n in session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
        }


def _unknown_being_checked(ctx: Context) -> int:
    with ctx.store.read() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.status == Status.UNKNOWN, Delivery.reconcile_at.is_not(None))
            )
            or 0
        )


def _unknown_attempts(ctx: Context) -> list[dict[str, Any]]:
    """Every attempt that ended `unknown`, with what the judge needs to tell whether it was true."""
    with ctx.store.read() as session:
        rows = session.execute(
            select(
                Attempt.delivery_id,
                Attempt.kind,
                Attempt.error_class,
                Attempt.worker,
                Attempt.message,
                Delivery.idempotency_key,
            )
            .join(Delivery, Delivery.id == Attempt.delivery_id)
            .where(Attempt.outcome == Status.UNKNOWN.value)
        )
        return [dict(row._mapping) for row in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--accounts", type=int, default=3, help="Mastodon accounts")
    parser.add_argument("--webhooks", type=int, default=1, help="webhook accounts")
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--spread", type=float, default=20.0)
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = parser.parse_args(argv)
    config = ChaosConfig(
        args.deliveries, args.accounts, args.webhooks, args.fault_rate, args.seed, args.spread
    )
    with tempfile.TemporaryDirectory(prefix="postmast-chaos-") as workdir:
        result = run(config, Path(workdir), say=(lambda *_: None) if args.json else print)
    print(
        json.dumps({**asdict(result), "ok": result.ok}, indent=2, default=str)
        if args.json
        else result.render()
    )
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
