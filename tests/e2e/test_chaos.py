"""The short chaos run: about 200 deliveries to Mastodon and a webhook under faults, kills, a 2 s
Redis outage and a PostgreSQL restart (`-m immediate`) while publishes are in flight, and
duplicated messages (bench/chaos.py runs the full 1,000). Never twice, never lost, never inside
a rate limit, and never `unknown` without a true reason."""

from __future__ import annotations

import shutil

import pytest

from bench.chaos import ChaosConfig, run


@pytest.mark.slow
def test_short_chaos_run_keeps_every_promise(tmp_path) -> None:
    if shutil.which("redis-server") is None:
        pytest.fail("the chaos run needs redis-server (it restarts its own Redis with AOF)")
    config = ChaosConfig(deliveries=200, accounts=3, webhooks=1, spread=10.0, timeout=240.0)
    result = run(config, tmp_path, say=lambda *_: None)
    print(result.render())
    assert result.duplicates_seen_by_servers == 0
    assert result.lost == 0
    assert result.requests_in_rate_limit_windows == 0
    assert result.report_published + result.report_unknown_on_servers == result.servers_posts
    assert result.report_mismatches == 0 and result.failed_or_missed_but_on_server == 0
    # every unknown had a true reason: a worker really killed, an answer really withheld
    assert result.unknown_without_true_reason == 0, result.render()
    assert result.accepted_answered_yet_unknown == 0 and result.leftover_outbox == 0
    # the run really was chaotic
    figures = result.figures
    assert figures.redis_blips == 1 and figures.postgres_restarts == 1
    assert all(n >= 1 for n in figures.in_flight_at_outages.values()), figures.in_flight_at_outages
    assert sum(figures.kills.values()) >= 4 and set(figures.kills) == {"worker", "scheduler"}
    assert figures.duplicate_messages_sent > 0
    assert {"rate_limit", "timeout_before", "timeout_after", "error"} <= set(result.faults_injected)
    assert sum(result.states.values()) == 200 and result.states.get("published", 0) >= 170


def test_the_judge_finds_an_unknown_without_a_true_reason() -> None:
    """The check that caught a Redis outage cancelling accepted posts ("the worker stopped
    answering" while no worker was killed) and a store outage losing a known answer."""
    from collections import Counter

    from bench.chaos_result import Books, Figures, judge

    class Server:
        def __init__(self) -> None:
            self.withheld = {"key-2"}
            self.violations: list[dict[str, object]] = []
            self.injected: Counter[str] = Counter({"timeout_after": 1})

        def posts_per_text(self) -> Counter[tuple[str, str]]:
            return Counter({("tok", "a"): 1, ("tok", "b"): 1, ("tok", "c"): 1})

        def remote(self, remote_id: str) -> tuple[str, str] | None:
            return ("tok", "a") if remote_id == "r1" else None

    def row(number: int, text: str, status: str, remote: str | None) -> dict[str, object]:
        return {
            "id": number,
            "target": "mastodon:m",
            "text": text,
            "status": status,
            "remote_id": remote,
            "error": "x",
        }

    def attempt(number: int, error: str, worker: str) -> dict[str, object]:
        key = f"key-{number}"
        return {
            "delivery_id": number,
            "kind": "publish",
            "error_class": error,
            "worker": worker,
            "idempotency_key": key,
        }

    rows = [row(1, "a", "published", "r1"), row(2, "b", "unknown", None), row(3, "c", "unknown", None)]
    attempts = [attempt(2, "OutcomeUnknown", "h:1"), attempt(3, "WorkerLost", "h:77")]
    figures = Figures(3, 1, 1.0, {}, 1, 1, {}, 0)
    books = Books(
        {"deliveries": rows}, attempts, {"mastodon": Server()}, {"mastodon:m": "tok"}, killed_pids={5}
    )
    result = judge(books, figures)
    assert (result.unknown_without_true_reason, result.accepted_answered_yet_unknown) == (1, 1)
    assert not result.ok
    books.killed_pids = {77}  # that worker really was killed: a true reason
    assert judge(books, figures).ok
