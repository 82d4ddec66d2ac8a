"""SIGTERM on a worker or a scheduler finishes or releases in-flight work within a bounded time."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from postmast.scheduler.accounts import Accounts
from postmast.scheduler.posts import PostRequest, Posts
from postmast.scheduler.states import Status
from tests.e2e.harness import FAST_TIMINGS, all_rows, context, wait_for
from tests.servers.base import Fault

STACKS = ["embedded", "production"]


@pytest.mark.slow
@pytest.mark.parametrize("stack_env", STACKS, indirect=True)
def test_sigterm_lets_the_publish_in_flight_finish(stack_env, procs, mastodon):
    ctx = context(stack_env)
    accounts = Accounts(ctx.store, ctx.vault)
    for name in ("alice", "bob"):
        accounts.add("mastodon", name, {"instance": mastodon.url}, {"access_token": "token-a"})
    release = threading.Event()
    mastodon.inject(Fault(match=lambda r: b"slow one" in r.body, hold=release))
    now = ctx.store.now()
    Posts(ctx.store, default_max_lateness=3600).queue_many(
        [
            PostRequest("slow one", ["mastodon:alice"], now, "UTC"),
            PostRequest("next one", ["mastodon:bob"], now, "UTC"),
        ]
    )
    procs.scheduler()
    worker = procs.worker(concurrency=1)
    try:
        wait_for(lambda: any(b"slow one" in r.body for r in mastodon.requests), 60, "the slow request", procs)
        started = time.monotonic()
        worker.process.send_signal(signal.SIGTERM)
        time.sleep(1.0)  # the worker is shutting down while its request is still in flight
        assert worker.alive()
    finally:
        release.set()
    worker.process.wait(float(FAST_TIMINGS["POSTMAST_TASK_TIME_LIMIT"]) + 15)
    stopped_after = time.monotonic() - started
    assert worker.process.returncode == 0, worker.log()[-2000:]
    assert stopped_after < float(FAST_TIMINGS["POSTMAST_TASK_TIME_LIMIT"]) + 15
    slow = next(r for r in all_rows(ctx) if r.text == "slow one")
    assert slow.status == Status.PUBLISHED and slow.attempts == 1  # finished, not abandoned

    # whatever the stopped worker had not started is released and goes out with the next worker
    procs.worker(name="worker-2")
    wait_for(lambda: {r.status for r in all_rows(ctx)} == {Status.PUBLISHED}, 60, "the other post", procs)
    assert mastodon.created_texts() == {"slow one": 1, "next one": 1}


@pytest.mark.slow
@pytest.mark.parametrize("stack_env", ["embedded"], indirect=True)
def test_sigterm_stops_a_scheduler_promptly(stack_env, procs):
    scheduler = procs.scheduler()
    wait_for(lambda: "scheduler running" in scheduler.log(), 30, "the scheduler to start", procs)
    started = time.monotonic()
    assert scheduler.stop(timeout=10) == 0
    assert time.monotonic() - started < 5
    assert "scheduler stopping" in scheduler.log()
