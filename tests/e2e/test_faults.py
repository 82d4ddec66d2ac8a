"""Faults through real processes: duplicated broker messages, a worker killed mid-publish."""

from __future__ import annotations

import json
import threading

import pytest

from postmast.scheduler.accounts import Accounts
from postmast.scheduler.dispatcher import Dispatcher
from postmast.scheduler.posts import PostRequest, Posts
from postmast.scheduler.states import Status
from postmast.workers.app import create_app, enqueue_all
from postmast.workers.outcome import Outcome
from tests.e2e.harness import all_rows, context, settled, wait_for
from tests.servers.base import Fault
from tests.servers.webhook import WebhookServer

STACKS = ["embedded", "production"]


def add_mastodon(cli, env, url: str, name: str = "alice", token: str = "token-a") -> None:
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
def test_duplicated_messages_publish_once(stack_env, procs, cli, mastodon):
    ctx = context(stack_env)
    accounts = Accounts(ctx.store, ctx.vault)
    for number in range(20):  # one delivery in flight per account: 20 accounts put 20 in flight at once
        accounts.add("mastodon", f"brand{number}", {"instance": mastodon.url}, {"access_token": "token-a"})
    now = ctx.store.now()
    Posts(ctx.store, default_max_lateness=3600).queue_many(
        [PostRequest(f"duplicate me {i}", [f"mastodon:brand{i}"], now, "UTC") for i in range(20)]
    )
    app = create_app(ctx.settings)
    sent: list[int] = []

    def enqueue_three_times(ids):
        for delivery_id in ids:
            for _ in range(3):
                enqueue_all(app, [delivery_id], ctx.settings.queue)
                sent.append(delivery_id)

    dispatched = Dispatcher(ctx.store, ctx.settings, enqueue_three_times).tick().dispatched
    assert len(dispatched) == 20 and len(sent) == 60

    worker = procs.worker()
    wait_for(settled(ctx, 20), 60, "20 deliveries to finish", procs)

    def outcomes() -> tuple[int, int]:
        """Task results the worker logged: published, and duplicates it found nothing to do for
        (a result is logged after the row is written, so it may trail the store by a moment)."""
        log = worker.log()
        duplicates = log.count(f": '{Outcome.NOT_QUEUED.value}'") + log.count(f": '{Outcome.RACED.value}'")
        return log.count(f": '{Outcome.PUBLISHED.value}'"), duplicates

    wait_for(lambda: sum(outcomes()) >= 60, 30, "all 60 messages to be consumed", procs)
    assert outcomes() == (20, 40)
    assert len(mastodon.created) == 20
    assert set(mastodon.key_requests.values()) == {1}
    assert {(r.status, r.attempts) for r in all_rows(ctx)} == {(Status.PUBLISHED, 1)}


def kill_worker_while_held(procs, ctx, server, text: str):
    """Start scheduler and worker, SIGKILL the worker once `text` reached the server, return its row."""
    release = threading.Event()
    server.inject(Fault(match=lambda r: text.encode() in r.body, hold=release))
    procs.scheduler()
    worker = procs.worker(concurrency=1)
    try:
        wait_for(
            lambda: any(r.body and text.encode() in r.body for r in server.requests),
            60,
            "the held request to reach the server",
            procs,
        )
        worker.kill9()
    finally:
        release.set()
    held = next(r for r in all_rows(ctx) if r.text == text)
    assert held.status == Status.PUBLISHING  # the worker died holding the claim
    wait_for(
        lambda: next(r for r in all_rows(ctx) if r.id == held.id).status != Status.PUBLISHING,
        30,
        "the lease to expire",
        procs,
    )
    assert next(r for r in all_rows(ctx) if r.id == held.id).status == Status.UNKNOWN
    procs.worker(name="worker-2")
    return held


@pytest.mark.slow
@pytest.mark.parametrize("stack_env", STACKS, indirect=True)
def test_worker_killed_mid_publish_ends_unknown_and_is_not_resent(stack_env, procs, cli):
    """A webhook cannot be asked whether it got a post: the delivery stays unknown, for a person."""
    receiver = WebhookServer().start()
    try:
        assert (
            cli("account", "add", "webhook", "hook", "--set", f"url={receiver.url}/hook", env=stack_env).code
            == 0
        )
        for text in ("HOLD this one", "then this", "and this"):
            assert cli("post", text, "--to", "webhook:hook", env=stack_env).code == 0
        ctx = context(stack_env)
        held = kill_worker_while_held(procs, ctx, receiver, "HOLD this one")
        wait_for(
            lambda: sum(r.status == Status.PUBLISHED for r in all_rows(ctx)) == 2,
            60,
            "the two other posts to be published",
            procs,
        )
        wait_for(
            lambda: "outcome unknown" in (next(r for r in all_rows(ctx) if r.id == held.id).error or ""),
            30,
            "the reconciler to look at it",
            procs,
        )

        # Not re-sent: the receiver saw the held post once, even after a new worker and the reconciler ran.
        assert sum(b"HOLD this one" in r.body for r in receiver.requests) == 1
        report = json.loads(cli("report", "--json", env=stack_env).out)
        entry = next(d for d in report["deliveries"] if d["id"] == held.id)
        # attempt 1 died with the worker (WorkerLost); attempt 2 asked the network, which cannot tell
        assert entry["status"] == "unknown" and entry["error_class"] == "Unverifiable"
        assert entry["attempts"] == 2 and "no way to check" in entry["error"]
        assert report["summary"][0]["unknown"] == 1
        listed = json.loads(cli("queue", "--status", "unknown", "--json", env=stack_env).out)
        assert [d["id"] for d in listed["deliveries"]] == [held.id]
        refused = cli("retry", str(held.id), env=stack_env)
        assert refused.code != 0 and "--resend-unknown" in refused.err
    finally:
        receiver.stop()


@pytest.mark.slow
@pytest.mark.parametrize("stack_env", ["production"], indirect=True)
def test_worker_killed_mid_publish_to_mastodon_is_reconciled_without_a_duplicate(
    stack_env, procs, cli, mastodon
):
    """Mastodon keeps the Idempotency-Key: the replay finds the status the dead worker created."""
    add_mastodon(cli, stack_env, mastodon.url)
    for text in ("HOLD this one", "then this"):
        assert cli("post", text, "--to", "mastodon:alice", env=stack_env).code == 0
    ctx = context(stack_env)
    held = kill_worker_while_held(procs, ctx, mastodon, "HOLD this one")
    wait_for(
        lambda: {r.status for r in all_rows(ctx)} == {Status.PUBLISHED},
        60,
        "the held delivery to be reconciled and the other published",
        procs,
    )
    [status] = [s for s in mastodon.statuses.values() if s["text"] == "HOLD this one"]
    assert mastodon.created_texts()["HOLD this one"] == 1  # found, not posted again
    row = next(r for r in all_rows(ctx) if r.id == held.id)
    assert row.remote_id == status["id"] and row.public_url == status["url"]
    assert row.attempts == 2  # the one the worker died in, and the lookup that found the status
