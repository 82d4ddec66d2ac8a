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
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from bench.chaos_server import ChaosMastodon
from scheduler.accounts import Accounts
from scheduler.config import Settings
from scheduler.context import Context
from scheduler.models import Delivery
from scheduler.posts import PostRequest, Posts
from scheduler.states import PENDING, TERMINAL, Status
from workers.app import create_app, enqueue_all

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


@dataclass
class ChaosResult:
    deliveries: int
    accounts: int
    elapsed: float
    states: dict[str, int]
    duplicates_seen_by_servers: int
    lost: int
    requests_in_rate_limit_windows: int
    report_published: int
    servers_statuses: int
    report_mismatches: int
    failed_or_missed_but_on_server: int
    kills: dict[str, int]
    redis_restarts: int
    duplicate_messages_sent: int
    faults_injected: dict[str, int]

    @property
    def ok(self) -> bool:
        return (
            self.duplicates_seen_by_servers == 0
            and self.lost == 0
            and self.requests_in_rate_limit_windows == 0
            and self.report_published == self.servers_statuses
            and self.report_mismatches == 0
            and self.failed_or_missed_but_on_server == 0
        )

    def render(self) -> str:
        s = self.states
        counts = "   ".join(
            f"{name} {s.get(name, 0)}" for name in ("published", "failed", "unknown", "missed")
        )
        checks = [
            ("duplicates seen by the servers", self.duplicates_seen_by_servers),
            ("deliveries lost (not terminal, not explained)", self.lost),
            ("requests sent inside a rate-limit window", self.requests_in_rate_limit_windows),
            ("report rows disagreeing with the servers", self.report_mismatches),
            ("failed or missed, yet on a server", self.failed_or_missed_but_on_server),
        ]
        lines = [
            f"chaos run: {self.deliveries} deliveries, {self.accounts} accounts, {self.elapsed:.0f} s",
            f"  SIGKILL + restart: {dict(self.kills)}; Redis restarts: {self.redis_restarts}; "
            f"duplicate broker messages sent: {self.duplicate_messages_sent}",
            f"  faults injected by the servers: {dict(self.faults_injected)}",
            f"  {counts}",
            *(f"  {label:<48} {value}  (must be 0)" for label, value in checks),
            f"  published by report --json: {self.report_published}; statuses on the servers: "
            f"{self.servers_statuses}  (must be equal)",
            f"  verdict: {'OK' if self.ok else 'FAILED'}",
        ]
        return "\n".join(lines)


class Process:
    """A postmast service in its own process group, restartable."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name, self.args, self.env, self.logs = name, args, env, logs
        self.generation = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.generation += 1
        log = open(self.logs / f"{self.name}.{self.generation}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scheduler", *self.args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill9(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill9()


class RedisServer:
    """A private Redis with AOF on, so a restart keeps the queue."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "redis"
        self.dir.mkdir()
        from tests.services import free_port

        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("the chaos run needs redis-server")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--maxmemory-policy",
                "noeviction",
            ],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                if redis.Redis.from_url(self.url).ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise SystemExit("the chaos run's redis-server did not start")

    def restart(self) -> None:
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis.from_url(self.url).shutdown()  # with AOF on, this fsyncs the log
        if self.process:
            self.process.wait(10)
        time.sleep(0.5)
        self.start()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def _database(admin_url: str) -> tuple[str, Any]:
    name = f"postmast_chaos_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(
                text(
                    f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
                    " AND pid <> pg_backend_pid()"
                )
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


def run(config: ChaosConfig, workdir: Path, say: Any = print) -> ChaosResult:
    rng = random.Random(config.seed)
    started = time.monotonic()
    database_url, drop_database = _database(config.pg_admin_url)
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
                [sys.executable, "-m", "scheduler", "report", "--json"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            ).stdout
        )
        return _judge(
            config, report, server, time.monotonic() - started, kills, redis_restarts, duplicates_sent, tokens
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


def _judge(
    config: ChaosConfig,
    report: dict[str, Any],
    server: ChaosMastodon,
    elapsed: float,
    kills: Counter[str],
    redis_restarts: int,
    duplicates_sent: int,
    tokens: dict[str, str],
) -> ChaosResult:
    rows = report["deliveries"]
    states = Counter(r["status"] for r in rows)
    per_text = server.statuses_per_text()
    duplicates = sum(n - 1 for n in per_text.values() if n > 1)
    account_token = {f"mastodon:chaos{n}": token for n, token in enumerate(tokens)}
    with server.lock:
        by_id = {s["id"]: s for s in server.statuses.values()}
    mismatches = 0
    wrong = 0
    for row in rows:
        on_server = per_text.get((account_token[row["target"]], row["text"]), 0)
        if row["status"] == "published":
            status = by_id.get(row["remote_id"])
            if status is None or status.get("text") != row["text"] or on_server != 1:
                mismatches += 1
        elif row["status"] in ("failed", "missed") and on_server:
            wrong += 1
    lost = sum(
        1
        for r in rows
        if r["status"] not in {s.value for s in TERMINAL} and not (r["status"] == "unknown" and r["error"])
    )
    return ChaosResult(
        deliveries=config.deliveries,
        accounts=config.accounts,
        elapsed=elapsed,
        states=dict(states),
        duplicates_seen_by_servers=duplicates,
        lost=lost,
        requests_in_rate_limit_windows=len(server.violations),
        report_published=states.get("published", 0),
        servers_statuses=len(per_text),
        report_mismatches=mismatches,
        failed_or_missed_but_on_server=wrong,
        kills=dict(kills),
        redis_restarts=redis_restarts,
        duplicate_messages_sent=duplicates_sent,
        faults_injected=dict(server.injected),
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
