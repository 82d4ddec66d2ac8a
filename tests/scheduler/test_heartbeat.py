"""Heartbeats: each process's row is refreshed, goes silent when it stops beating, and is pruned."""

from __future__ import annotations

from postmast.scheduler.heartbeat import STALE_AFTER, Beat, processes
from postmast.scheduler.store import Store


def test_running_silent_stopped_and_pruned(store: Store, clock) -> None:
    worker = Beat(store, "worker", {"concurrency": 4, "queue": "postmast"})
    scheduler = Beat(store, "scheduler")
    worker.beat()
    scheduler.beat()
    [s, w] = processes(store)
    assert (s.role, s.state, w.role, w.state, w.detail["concurrency"]) == (
        "scheduler",
        "running",
        "worker",
        "running",
        4,
    )
    clock.advance(STALE_AFTER + 1)
    worker.beat()
    states = {p.role: p.state for p in processes(store)}
    assert states == {"scheduler": "silent", "worker": "running"}
    worker.stop()
    assert {p.role: p.state for p in processes(store)} == {"scheduler": "silent", "worker": "stopped"}
    assert processes(store)[1].as_dict(clock.now)["seen_seconds_ago"] == 0
    clock.advance(86400 + 60)
    worker.beat()  # a beat also prunes rows not seen for a day
    assert [(p.role, p.state) for p in processes(store)] == [("worker", "running")]
    assert worker.id.startswith("worker:") and worker.id.endswith(f":{__import__('os').getpid()}")
