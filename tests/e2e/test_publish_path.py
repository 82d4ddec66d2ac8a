"""The whole path of a post through real processes: CLI -> store -> scheduler -> Celery -> worker
-> Mastodon contract server -> report, on the embedded default and on PostgreSQL + Redis."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from postmast.scheduler.states import Status
from tests.e2e.harness import all_rows, context, settled, wait_for

STACKS = ["embedded", "production"]


@pytest.mark.slow
@pytest.mark.parametrize("stack_env", STACKS, indirect=True)
def test_fifty_posts_to_two_accounts_each_published_exactly_once(stack_env, procs, cli, mastodon):
    for name, token in (("alice", "token-a"), ("bob", "token-b")):
        added = cli(
            "account",
            "add",
            "mastodon",
            name,
            "--set",
            f"instance={mastodon.url}",
            "--secrets-from-stdin",
            input=f"access_token={token}\n",
            env=stack_env,
        )
        assert added.code == 0, added.err
    for number in range(50):
        queued = cli(
            "post",
            f"Post {number} 🚀 https://example.org/{number}",
            "--to",
            "mastodon:alice",
            "--to",
            "mastodon:bob",
            "--at",
            f"in {number % 10 * 0.5}s",
            "--json",
            env=stack_env,
        )
        assert queued.code == 0, queued.err
        assert len(json.loads(queued.out)["deliveries"]) == 2

    ctx = context(stack_env)
    procs.scheduler()
    procs.worker()
    wait_for(settled(ctx, 100), 120, "100 deliveries to finish", procs)

    # The server counts: 100 statuses, 50 per account, one request per idempotency key.
    assert len(mastodon.created) == 100
    assert Counter(c["token"] for c in mastodon.created) == {"token-a": 50, "token-b": 50}
    assert set(mastodon.key_requests.values()) == {1}
    assert all(count == 2 for count in mastodon.created_texts().values())

    rows = all_rows(ctx)
    assert {r.status for r in rows} == {Status.PUBLISHED}
    report = cli("report", "--json", env=stack_env)
    assert report.code == 0, report.err
    data = json.loads(report.out)
    urls = {s["url"] for s in mastodon.statuses.values()}
    assert len(data["deliveries"]) == 100
    assert {d["url"] for d in data["deliveries"]} == urls
    assert all(d["status"] == "published" and d["attempts"] == 1 for d in data["deliveries"])
    [summary] = data["summary"]
    assert summary["network"] == "mastodon" and summary["published"] == 100 and summary["total"] == 100
    for service in procs.started:
        assert service.stop() == 0, service.log()[-2000:]
