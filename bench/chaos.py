"""The chaos run: deliveries under faults, crashes and restarts; never twice, never lost.

    python -m bench.chaos                 # 1,000 deliveries, 3 accounts, 30 % faults
    python -m bench.chaos --deliveries 200 --accounts 4 --json

On PostgreSQL (a fresh database on 127.0.0.1:5432, or POSTMAST_CHAOS_PG_URL) and a
private Redis with AOF, it runs two workers and two schedulers against Mastodon contract
servers that inject faults (bench/chaos_server.py). Meanwhile workers and schedulers are
killed with SIGKILL and restarted at random intervals, Redis is restarted once, and
broker messages are duplicated on purpose. Then it prints what happened and checks:
duplicates seen by the servers, deliveries lost (not terminal and not explained),
requests sent inside a rate-limit window, and whether `postmast report --json` agrees
with the servers' own books. The exit code is 0 only when all of them hold.
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
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.chaos_result import ChaosResult, judge
from bench.chaos_server import ChaosMastodon
from bench.chaos_stack import Process, RedisServer, database
from postmast.context import Context
from postmast.scheduler.accounts import Accounts
from postmast.scheduler.config import Settings
from postmast.scheduler.models import Delivery
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
    fault_rate: float = 0.3
    seed: int = 7
    spread: float = 20.0
    """Due times are spread over this many seconds from the start."""
    chaos_for: float | None = None
    """Kill and duplicate for this long (default: spread + 40 s), then let everything settle."""
    timeout: float = 1200.0
    tight_share: float = 0.03
    """Share of posts allowed only 3 s of lateness: under faults some of them are missed."""
    pg_admin_url: str = field(
        default_factory=lambda: os.environ.get(
            "POSTMAST_CHAOS_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
    )


def run(config: ChaosConfig, workdir: Path, say: Any = print) -> ChaosResult:
    rng = random.Random(config.seed)
    started = time.monotonic()
    database_url, drop_database = database(config.pg_admin_url)
    broker = RedisServer(workdir)
    tokens = {f"chaos-token-{n}": f"user{n}" for n in range(config.accounts)}
    server = ChaosMastodon(
        tokens,
        fault_rate=config.fault_rate,
        timeout=float(TIMINGS["POSTMAST_HTTP_TIMEOUT"]),
        seed=config.seed,
    ).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTMAST_")}
    env.update(TIMINGS)
    env.update(
        {
            "POSTMAST_DATA_DIR": str(workdir / "data"),
            "POSTMAST_DATABASE_URL": database_url,
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
    redis_restarts = 0
    try:
        accounts = Accounts(ctx.store, ctx.vault)
        for n, token in enumerate(tokens):
            accounts.add("mastodon", f"chaos{n}", {"instance": server.url}, {"access_token": token})
        now = ctx.store.now()
        requests = []
        for number in range(config.deliveries):
            tight = rng.random() < config.tight_share
            requests.append(
                PostRequest(
                    f"chaos post {number} #{rng.randrange(10**6)}",
                    [f"mastodon:chaos{number % config.accounts}"],
                    now + timedelta(seconds=1 + rng.uniform(0, config.spread)),
                    "UTC",
                    max_lateness=3.0 if tight else 3600.0,
                )
            )
        Posts(ctx.store, default_max_lateness=3600).queue_many(requests)
        say(
            f"queued {config.deliveries} deliveries for {config.accounts} accounts; "
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
                with ctx.store.read() as session:
                    ids = list(
                        session.scalars(
                            select(Delivery.id)
                            .where(Delivery.status.in_([Status.QUEUED, Status.PUBLISHING, Status.PUBLISHED]))
                            .order_by(func.random())
                            .limit(10)
                        )
                    )
                try:
                    enqueue_all(app, ids, settings.queue)
                    duplicates_sent += len(ids)
                except Exception:  # noqa: S110 (Redis is being restarted)
                    pass

        threads = [
            threading.Thread(target=monkey, daemon=True),
            threading.Thread(target=duplicator, daemon=True),
        ]
        for thread in threads:
            thread.start()
        chaos_for = config.chaos_for if config.chaos_for is not None else config.spread + 40
        restart_redis_at = started + chaos_for / 2
        deadline = started + config.timeout
        while time.monotonic() < deadline:
            time.sleep(1.0)
            if redis_restarts == 0 and time.monotonic() >= restart_redis_at:
                say("restarting Redis (AOF on)")
                broker.restart()
                redis_restarts += 1
            if not stop_chaos.is_set() and time.monotonic() - started >= chaos_for:
                say("chaos over: no more kills or duplicates; letting everything settle")
                stop_chaos.set()
                for process in processes:
                    if process.process and process.process.poll() is not None:
                        process.start()
            counts = _counts(ctx)
            open_ = sum(counts.get(s.value, 0) for s in PENDING) + _unknown_being_checked(ctx)
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
        return judge(
            config.deliveries,
            config.accounts,
            report,
            server,
            time.monotonic() - started,
            kills,
            redis_restarts,
            duplicates_sent,
            tokens,
        )
    finally:
        stop_chaos.set()
        for process in processes:
            process.kill9()
        server.stop()
        broker.stop()
        ctx.store.dispose()
        drop_database()


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--accounts", type=int, default=3)
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--spread", type=float, default=20.0)
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = parser.parse_args(argv)
    config = ChaosConfig(args.deliveries, args.accounts, args.fault_rate, args.seed, args.spread)
    with tempfile.TemporaryDirectory(prefix="postmast-chaos-") as workdir:
        result = run(config, Path(workdir), say=(lambda *_: None) if args.json else print)
    print(json.dumps({**asdict(result), "ok": result.ok}, indent=2) if args.json else result.render())
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
