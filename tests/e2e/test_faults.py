"""Faults through real processes: duplicated broker messages, a worker killed mid-publish."""

from __future__ import annotations

import json
import threading

import pytest

from scheduler.dispatcher import Dispatcher
from scheduler.posts import PostRequest, Posts
from scheduler.states import Status
from tests.e2e.harness import all_rows, context, settled, wait_for
from tests.servers.base import Fault
from workers.app import create_app, enqueue

STACKS = ["embedded", "production"]


def add_mastodon(cli, env, url: str, name: str = "alice", token: str = "token-a") -> None:  # type: ignore[no-untyped-def]
    added = cli(
        "account",
        "add",
        "mastodon",
        name,
        "--set",
        f"instance={url}",
        "--secrets-from-stdin",
        input=f"access_token={token}\n",
        env=env,
    )
    assert added.code == 0, added.err


@pytest.mark.slow
@pytest.mark.parametrize("stack_env", STACKS, indirect=True)
def test_duplicated_messages_publish_once(stack_env, procs, cli, mastodon):  # type: ignore[no-untyped-def]
    add_mastodon(cli, stack_env, mastodon.url)
    ctx = context(stack_env)
    now = ctx.store.now()
    Posts(ctx.store, default_max_lateness=3600).queue_many(
        [PostRequest(f"duplicate me {i}", ["mastodon:alice"], now, "UTC") for i in range(20)]
    )
    app = create_app(ctx.settings)
    sent: list[int] = []

    def enqueue_three_times(ids):  # type: ignore[no-untyped-def]
        for delivery_id in ids:
            for _ in range(3):
                enqueue(app, delivery_id, ctx.settings.queue)
                sent.append(delivery_id)

    dispatched = Dispatcher(ctx.store, ctx.settings, enqueue_three_times).tick().dispatched
    assert len(dispatched) == 20 and len(sent) == 60

    worker = procs.worker()
    wait_for(settled(ctx, 20), 60, "20 deliveries to finish", procs)
    wait_for(
        lambda: worker.log().count(": 'skipped") == 40, 30, "the 40 duplicate messages to be consumed", procs
    )
    assert worker.log().count(": 'published'") == 20
    assert len(mastodon.created) == 20
    assert set(mastodon.key_requests.values()) == {1}
    assert {(r.status, r.attempts) for r in all_rows(ctx)} == {(Status.PUBLISHED, 1)}


@pytest.mark.slow
@pytest.mark.parametrize("stack_env", STACKS, indirect=True)
def test_worker_killed_mid_publish_ends_unknown_and_is_not_resent(stack_env, procs, cli, mastodon):  # type: ignore[no-untyped-def]
    add_mastodon(cli, stack_env, mastodon.url)
    release = threading.Event()
    mastodon.inject(Fault(match=lambda r: b"HOLD" in r.body, hold=release))
    for text in ("HOLD this one", "then this", "and this"):
        assert cli("post", text, "--to", "mastodon:alice", env=stack_env).code == 0
    ctx = context(stack_env)
    scheduler = procs.scheduler()
    worker = procs.worker(concurrency=1)
    try:
        wait_for(
            lambda: any(c["text"] == "HOLD this one" for c in mastodon.created),
            60,
            "the held request to reach the server",
            procs,
        )
        worker.kill9()
    finally:
        release.set()
    held = next(r for r in all_rows(ctx) if r.text == "HOLD this one")
    assert held.status == Status.PUBLISHING  # the worker died holding the claim

    wait_for(
        lambda: next(r for r in all_rows(ctx) if r.id == held.id).status == Status.UNKNOWN,
        30,
        "the lease to expire and the delivery to become unknown",
        procs,
    )
    procs.worker(name="worker-2")
    wait_for(
        lambda: sum(r.status == Status.PUBLISHED for r in all_rows(ctx)) == 2,
        60,
        "the two other posts to be published",
        procs,
    )
    assert scheduler.alive()

    # Not re-sent: one request, one status, for the held post, even after a new worker ran.
    key = next(c["key"] for c in mastodon.created if c["text"] == "HOLD this one")
    assert mastodon.key_requests[key] == 1
    assert mastodon.created_texts()["HOLD this one"] == 1

    report = json.loads(cli("report", "--json", env=stack_env).out)
    entry = next(d for d in report["deliveries"] if d["id"] == held.id)
    assert entry["status"] == "unknown" and entry["error_class"] == "WorkerLost"
    assert "may or may not be on the network" in entry["error"]
    assert report["summary"][0]["unknown"] == 1
    listed = json.loads(cli("queue", "--status", "unknown", "--json", env=stack_env).out)
    assert [d["id"] for d in listed["deliveries"]] == [held.id]
    refused = cli("retry", str(held.id), env=stack_env)
    assert refused.code != 0 and "--resend-unknown" in refused.err
