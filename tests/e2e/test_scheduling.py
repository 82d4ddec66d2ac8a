"""Scheduling through real `postmast scheduler` and `postmast worker` processes, on the embedded
default and on PostgreSQL + Redis: variants and a first comment, posting slots, a recurring post
whose later occurrences the scheduler plans, an evergreen post, and an import."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from postmast.scheduler.states import Status
from tests.e2e.harness import all_rows, context, wait_for

STACKS = ["embedded", "production"]


def outbox(path: Path) -> list[dict]:
    return (
        [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    )


def slot_times(start: datetime, count: int, every: int) -> str:
    return ",".join((start + timedelta(seconds=n * every)).strftime("%H:%M:%S") for n in range(count))


@pytest.mark.slow
@pytest.mark.parametrize("stack_env", STACKS, indirect=True)
def test_variants_slots_recurrence_evergreen_and_import(stack_env, procs, cli, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    if (now + timedelta(minutes=2)).date() != now.date():  # slots are times of day: stay clear of midnight
        time.sleep(130)
        now = datetime.now(UTC)
    env = {**stack_env, "POSTMAST_HORIZON": "6s", "POSTMAST_PLAN_EVERY": "1s", "TZ": "UTC"}

    def run(*args: str) -> str:
        result = cli(*args, env=env)
        assert result.code == 0, (args, result.err)
        return result.out

    boxes = {name: tmp_path / f"{name}.jsonl" for name in ("a", "b")}
    for name, box in boxes.items():
        run("account", "add", "fake", name, "--set", f"outbox={box}")
    start = now + timedelta(seconds=12)
    run("slots", "set", "fake:a", f"daily {slot_times(start, 20, 3)}", "--tz", "UTC")
    run("slots", "set", "fake:b", f"daily {slot_times(start, 20, 3)}", "--tz", "UTC")
    # one post, its own text for fake:b, and a first comment
    run("post", "Base text", "--text-for", "fake:b", "B's own text", "--first-comment", "see the link",
        "--to", "fake:a", "--to", "fake:b", "--at", "in 6s")  # fmt: skip
    # a recurring post: the CLI plans what falls in the 6 s horizon, the scheduler the rest
    queued = json.loads(
        run(
            "post",
            "tick",
            "--to",
            "fake:a",
            "--at",
            "in 3s",
            "--repeat",
            "FREQ=SECONDLY;INTERVAL=4",
            "--count",
            "4",
            "--json",
        )
    )
    assert 1 <= len(queued["deliveries"]) < 4
    # the next free slot, and an evergreen post that comes back every 2 s (into free slots)
    run("post", "queued in a slot", "--to", "fake:a", "--next-slot")
    run("post", "evergreen", "--to", "fake:b", "--next-slot", "--evergreen", "2s")
    # an import: one row at a time, one in the next slot
    (tmp_path / "plan.csv").write_text(
        "Text;To;At\nimported one;fake:a;in 7s\nimported two;fake:b;next slot\n"
    )
    imported = json.loads(run("import", str(tmp_path / "plan.csv"), "--json"))
    assert imported["summary"] == {"posts": 2, "deliveries": 2}

    ctx = context(env)
    procs.start("scheduler", "scheduler", "--loglevel=INFO", POSTMAST_HORIZON="6s", POSTMAST_PLAN_EVERY="1s")
    procs.worker()

    def texts(name: str) -> Counter[str]:
        return Counter(item["text"] for item in outbox(boxes[name]))

    def done() -> bool:
        a, b = texts("a"), texts("b")
        return (
            a["tick"] == 4 and b["evergreen"] >= 2 and a["queued in a slot"] == 1 and b["imported two"] == 1
        )

    wait_for(
        done,
        90,
        "the recurring, evergreen, slotted and imported posts",
        procs,
    )  # fmt: skip
    a, b = texts("a"), texts("b")
    assert a["Base text"] == 1 and a["B's own text"] == 0 and b["B's own text"] == 1 and b["Base text"] == 0
    assert a["see the link"] == 1 and b["see the link"] == 1
    assert a["tick"] == 4 and a["imported one"] == 1
    first_comment = next(i for i in outbox(boxes["b"]) if i["text"] == "see the link")
    head = next(i for i in outbox(boxes["b"]) if i["text"] == "B's own text")
    assert first_comment["reply_to"] == head["id"]  # a self-reply
    rows = all_rows(ctx)
    ticks = sorted((r for r in rows if r.text == "tick"), key=lambda r: r.due_at)
    assert [r.status for r in ticks] == [Status.PUBLISHED] * 4
    assert [(t.due_at - ticks[0].due_at).total_seconds() for t in ticks] == [0, 4, 8, 12]
    slotted = [r for r in rows if r.text in ("queued in a slot", "evergreen")]
    assert all(r.due_at.second % 3 == start.second % 3 for r in slotted)  # on slot instants
    for service in procs.started:
        assert service.stop() == 0, service.log()[-2000:]
        assert "database is locked" not in service.log()
