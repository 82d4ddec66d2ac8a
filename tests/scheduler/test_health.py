"""`postmast status`'s verdict: processes, broker and overdue deliveries decide it."""

from __future__ import annotations

from datetime import timedelta

from postmast.scheduler.health import Broker, check
from postmast.scheduler.heartbeat import STALE_AFTER, Beat
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.factories import add_account, add_delivery

UP = Broker("redis://x", True, 3)


def test_nothing_running_is_unwell(store: Store) -> None:
    health = check(store, broker=UP)
    assert not health.healthy
    assert [p.split(" (")[0] for p in health.problems] == ["no scheduler is running", "no worker is running"]


def test_all_running_is_well_until_something_is_overdue(store: Store, vault: Vault, clock) -> None:
    Beat(store, "scheduler").beat()
    Beat(store, "worker").beat()
    assert check(store, broker=UP).healthy
    assert check(store, broker=UP).as_dict()["broker"]["depth"] == 3
    down = check(store, broker=Broker("redis://x", False, error="Connection refused"))
    assert down.problems == ["the broker is unreachable (Connection refused)"]
    account = add_account(store, vault, "webhook", "team")
    add_delivery(store, account, status=Status.SCHEDULED, due=clock.now - timedelta(minutes=10))
    late = check(store, broker=UP, overdue_limit=300)
    assert late.problems == ["1 delivery overdue, the oldest by 10 min"]
    assert late.as_dict()["oldest_overdue_seconds"] == 600
    assert check(store, broker=UP, overdue_limit=3600).healthy


def test_role_and_here_check_one_kind_of_process(store: Store, clock) -> None:
    worker = Beat(store, "worker")
    worker.beat()
    assert check(store, broker=None, role="worker", here=True).healthy
    assert not check(store, broker=None, role="scheduler").healthy
    clock.advance(STALE_AFTER + 1)
    silent = check(store, broker=None, role="worker")
    assert not silent.healthy and silent.notes[0].startswith("1 worker stopped answering")
