"""The short chaos run: about 200 deliveries under faults, kills, a Redis restart and duplicated
messages (bench/chaos.py runs the full 1,000). Never twice, never lost, never inside a rate limit."""

from __future__ import annotations

import shutil

import pytest

from bench.chaos import ChaosConfig, run


@pytest.mark.slow
def test_short_chaos_run_keeps_every_promise(tmp_path, services) -> None:
    if shutil.which("redis-server") is None:
        pytest.fail("the chaos run needs redis-server (it restarts its own Redis with AOF)")
    config = ChaosConfig(
        deliveries=200, accounts=4, spread=10.0, timeout=240.0, pg_admin_url=services.postgres_admin_url()
    )
    result = run(config, tmp_path, say=lambda *_: None)
    print(result.render())
    assert result.duplicates_seen_by_servers == 0
    assert result.lost == 0
    assert result.requests_in_rate_limit_windows == 0
    assert result.report_published == result.servers_statuses
    assert result.report_mismatches == 0 and result.failed_or_missed_but_on_server == 0
    # the run really was chaotic
    assert result.redis_restarts == 1 and sum(result.kills.values()) >= 4
    assert set(result.kills) == {"worker", "scheduler"}
    assert result.duplicate_messages_sent > 0
    assert {"rate_limit", "timeout_before", "timeout_after", "error"} <= set(result.faults_injected)
    assert sum(result.states.values()) == 200 and result.states.get("published", 0) >= 180
