"""Two dispatcher processes on one store: 1,000 due deliveries, each enqueued exactly once."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
import redis

from postmast.scheduler.models import Account, AccountStatus
from postmast.scheduler.posts import PostRequest, Posts
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from tests.conftest import truncate
from tests.e2e.harness import Services, all_rows, context, queued_message_ids, service_env, wait_for


@pytest.mark.slow
@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_two_dispatchers_enqueue_each_delivery_exactly_once(database, tmp_path, request):
    redis_url = request.getfixturevalue("redis_url")
    queue = f"postmast-test-{uuid.uuid4().hex[:8]}"
    if database == "postgresql":
        database_url = request.getfixturevalue("pg_url")
        truncate(Store(database_url))
    else:
        database_url = f"sqlite:///{tmp_path / 'postmast.db'}"
    env = service_env(
        tmp_path / "data",
        database_url=database_url,
        broker_url=redis_url,
        queue=queue,
        POSTMAST_REQUEUE_AFTER="600",
    )
    procs = Services(env, tmp_path)
    try:
        ctx = context(env)
        # one delivery in flight per account: 1,000 accounts make 1,000 due at once
        now = ctx.store.now()
        with ctx.store.write() as session:
            session.add_all(
                Account(
                    network="fake",
                    name=f"hook{number}",
                    settings={"outbox": str(tmp_path / "outbox.jsonl")},
                    secrets=ctx.vault.encrypt({}),
                    status=AccountStatus.ACTIVE,
                    created_at=now,
                    updated_at=now,
                )
                for number in range(1000)
            )
        first, second = procs.scheduler("dispatcher-1"), procs.scheduler("dispatcher-2")
        wait_for(
            lambda: "scheduler running" in first.log() and "scheduler running" in second.log(),
            30,
            "both dispatchers to start",
            procs,
        )
        now = ctx.store.now()
        Posts(ctx.store, default_max_lateness=3600).queue_many(
            [
                PostRequest(
                    f"post {i}", [f"fake:hook{i}"], now + timedelta(seconds=1 + (i % 40) * 0.075), "UTC"
                )
                for i in range(1000)
            ]
        )
        wait_for(
            lambda: all(r.status == Status.QUEUED for r in all_rows(ctx)),
            60,
            "all 1,000 deliveries to be queued",
            procs,
        )
        for process in (first, second):
            assert process.stop() == 0
        counts = queued_message_ids(redis_url, queue)
        ids = {r.id for r in all_rows(ctx)}
        assert set(counts) == ids and len(ids) == 1000
        assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v != 1}
        split = [sum(int(n) for n in re.findall(r"dispatched (\d+)", p.log())) for p in (first, second)]
        assert sum(split) == 1000
        print(f"dispatcher split on {database}: {split}")
    finally:
        procs.stop_all()
        redis.Redis.from_url(redis_url).delete(queue)
