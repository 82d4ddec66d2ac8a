"""The dispatcher's steps on both backends, and its APScheduler loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from postmast.scheduler.dispatcher import Dispatcher
from postmast.scheduler.loop import Loop
from postmast.scheduler.models import Account, AccountStatus, Attempt
from postmast.scheduler.states import Status, transition
from postmast.scheduler.store import Store
from tests.factories import add_account, add_delivery, delivery, status_of


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[int] = []
        self.fail = fail

    def __call__(self, ids: Sequence[int]) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.sent += ids


def test_tick_queues_due_deliveries_and_enqueues_their_ids(store, vault, settings, clock) -> None:
    accounts = [add_account(store, vault, name=f"brand{i}") for i in range(6)]
    now = store.now()
    due = [add_delivery(store, accounts[i], due=now - timedelta(seconds=s)) for i, s in enumerate((0, 5, 30))]
    later = add_delivery(store, accounts[3], due=now + timedelta(minutes=5))
    waiting = add_delivery(
        store,
        accounts[4],
        status=Status.RETRY_WAIT,
        due=now - timedelta(seconds=10),
        next_attempt_at=now - timedelta(seconds=1),
    )
    backing_off = add_delivery(
        store,
        accounts[5],
        status=Status.RETRY_WAIT,
        due=now - timedelta(seconds=10),
        next_attempt_at=now + timedelta(seconds=60),
    )
    sent = Recorder()
    result = Dispatcher(store, settings, sent).tick()
    assert sorted(sent.sent) == sorted([*due, waiting]) == result.dispatched
    assert all(delivery(store, d).queued_at == now for d in result.dispatched)
    assert status_of(store, later) == Status.SCHEDULED and status_of(store, backing_off) == Status.RETRY_WAIT
    assert result.next_due == now + timedelta(seconds=60)
    # a second tick does not enqueue them again
    assert Dispatcher(store, settings, sent).tick().dispatched == []
    assert len(sent.sent) == 4


def test_one_delivery_in_flight_per_account_in_due_order(store, vault, settings, clock) -> None:
    account = add_account(store, vault)
    now = store.now()
    second = add_delivery(store, account, due=now - timedelta(seconds=5))
    first = add_delivery(store, account, due=now - timedelta(seconds=30))
    sent = Recorder()
    dispatcher = Dispatcher(store, settings, sent)
    assert dispatcher.tick().dispatched == [first]
    assert dispatcher.tick().dispatched == []  # the first is still in flight
    with store.write() as session:
        assert transition(session, first, Status.QUEUED, Status.PUBLISHING, now=now)
    assert dispatcher.tick().dispatched == []
    with store.write() as session:
        assert transition(session, first, Status.PUBLISHING, Status.PUBLISHED, now=now)
    assert dispatcher.tick().dispatched == [second]
    assert sent.sent == [first, second]


def test_rate_limited_account_is_held_back_until_its_reset(store, vault, settings, clock) -> None:
    limited = add_account(store, vault, name="limited")
    free = add_account(store, vault, name="free")
    now = store.now()
    held = add_delivery(store, limited)
    goes = add_delivery(store, free)
    with store.write() as session:
        session.execute(
            update(Account).where(Account.id == limited).values(limited_until=now + timedelta(seconds=90))
        )
    sent = Recorder()
    result = Dispatcher(store, settings, sent).tick()
    assert result.dispatched == [goes] and status_of(store, held) == Status.SCHEDULED
    assert result.next_due == now + timedelta(seconds=90)  # wakes when the limit ends
    clock.advance(91)
    assert Dispatcher(store, settings, sent).tick().dispatched == [held]


def test_flagged_accounts_deliveries_wait(store, vault, settings) -> None:
    account = add_account(store, vault)
    waiting = add_delivery(store, account)
    with store.write() as session:
        session.execute(update(Account).values(status=AccountStatus.NEEDS_REAUTH))
    sent = Recorder()
    assert Dispatcher(store, settings, sent).tick().dispatched == []
    assert status_of(store, waiting) == Status.SCHEDULED and sent.sent == []


def test_claims_in_batches(store, vault, settings) -> None:
    ids = [add_delivery(store, add_account(store, vault, name=f"b{i}")) for i in range(7)]
    sent = Recorder()
    result = Dispatcher(store, settings, sent, batch=3).tick()
    assert sorted(result.dispatched) == ids == sorted(sent.sent)


def test_expired_lease_becomes_unknown_never_queued(store, vault, settings, clock) -> None:
    account = add_account(store, vault)
    now = store.now()
    expired = add_delivery(
        store, account, status=Status.PUBLISHING, claim_token="t", lease_until=now - timedelta(seconds=1)
    )
    live = add_delivery(
        store, account, status=Status.PUBLISHING, claim_token="u", lease_until=now + timedelta(seconds=30)
    )
    with store.write() as session:
        session.add(Attempt(delivery_id=expired, number=1, started_at=now - timedelta(seconds=200)))
    sent = Recorder()
    result = Dispatcher(store, settings, sent).tick()
    assert result.reaped == [expired] and sent.sent == []
    row = delivery(store, expired)
    assert row.status == Status.UNKNOWN and row.last_error_class == "WorkerLost"
    assert status_of(store, live) == Status.PUBLISHING
    with store.read() as session:
        [attempt] = session.scalars(select(Attempt).where(Attempt.delivery_id == expired))
        assert attempt.outcome == "unknown" and attempt.finished_at == now


def test_past_deadline_is_missed_not_dispatched(store, vault, settings) -> None:
    account = add_account(store, vault)
    now = store.now()
    late = add_delivery(store, account, due=now - timedelta(hours=2), lateness=3600)
    late_retry = add_delivery(
        store, account, status=Status.RETRY_WAIT, due=now - timedelta(hours=2), lateness=3600
    )
    in_time = add_delivery(store, account, due=now - timedelta(minutes=59), lateness=3600)
    sent = Recorder()
    result = Dispatcher(store, settings, sent).tick()
    assert sorted(result.missed) == sorted([late, late_retry])
    assert sent.sent == [in_time]
    row = delivery(store, late)
    assert row.status == Status.MISSED and row.last_error_class == "Missed"


def test_stale_queued_is_enqueued_again(store, vault, settings, clock) -> None:
    account = add_account(store, vault)
    delivery_id = add_delivery(store, account)
    sent = Recorder()
    dispatcher = Dispatcher(store, settings, sent)
    assert dispatcher.tick().dispatched == [delivery_id]
    clock.advance(settings.timings.requeue_after - 1)
    assert dispatcher.tick().requeued == []
    clock.advance(2)
    assert dispatcher.tick().requeued == [delivery_id]
    assert sent.sent == [delivery_id, delivery_id]
    assert (
        status_of(store, delivery_id) == Status.QUEUED
        and delivery(store, delivery_id).queued_at == store.now()
    )


def test_broker_down_leaves_rows_queued_for_the_next_sweep(store, vault, settings, clock) -> None:
    account = add_account(store, vault)
    delivery_id = add_delivery(store, account)
    Dispatcher(store, settings, Recorder(fail=True)).tick()
    assert status_of(store, delivery_id) == Status.QUEUED
    clock.advance(settings.timings.requeue_after + 1)
    sent = Recorder()
    assert Dispatcher(store, settings, sent).tick().requeued == [delivery_id] == sent.sent


def test_housekeeping_runs_at_most_every_interval(store, settings) -> None:
    calls: list[int] = []
    dispatcher = Dispatcher(
        store, settings, Recorder(), housekeeping=lambda: calls.append(1), housekeeping_every=3600
    )
    dispatcher.tick()
    dispatcher.tick()
    assert calls == [1]


def test_loop_wakes_at_the_next_due_time_not_the_tick(database_url, vault, settings) -> None:
    store = Store(database_url)  # real clock
    account = add_account(store, vault)
    sent_at: dict[int, datetime] = {}
    due = datetime.now(UTC) + timedelta(seconds=1.5)
    delivery_id = add_delivery(store, account, due=due)

    def record(ids: Sequence[int]) -> None:
        for i in ids:
            sent_at[i] = datetime.now(UTC)

    loop = Loop(Dispatcher(store, settings, record), tick=30.0, clock=store.now)
    thread = threading.Thread(target=loop.run, kwargs={"install_signals": False})
    thread.start()
    try:
        end = time.monotonic() + 10
        while delivery_id not in sent_at and time.monotonic() < end:
            time.sleep(0.05)
    finally:
        loop.stop()
        thread.join(10)
    assert not thread.is_alive()
    assert delivery_id in sent_at, "the loop did not wake for the due delivery (tick is 30 s)"
    assert due <= sent_at[delivery_id] < due + timedelta(seconds=3)


def test_unknown_past_its_settle_delay_is_claimed_for_a_lookup_before_new_posts(
    store, vault, settings, clock
) -> None:
    account = add_account(store, vault)
    now = store.now()
    unknown = add_delivery(store, account, status=Status.UNKNOWN, reconcile_at=now + timedelta(seconds=10))
    fresh = add_delivery(store, account, due=now - timedelta(seconds=5))
    sent = Recorder()
    dispatcher = Dispatcher(store, settings, sent)
    assert dispatcher.tick().dispatched == [fresh]  # the lookup is not due yet
    with store.write() as session:
        assert transition(session, fresh, Status.QUEUED, Status.CANCELLED, now=store.now())
    later = add_delivery(store, account, due=now)
    clock.advance(11)
    result = dispatcher.tick()
    assert result.dispatched == [unknown]  # the lookup goes first; one in flight per account
    row = delivery(store, unknown)
    assert row.status == Status.RECONCILING and row.claim_token is None and row.reconcile_at is None
    assert row.lease_until == store.now() + timedelta(seconds=settings.timings.lease)
    assert status_of(store, later) == Status.SCHEDULED


def test_a_lookup_whose_lease_expires_is_unknown_again_and_a_lost_message_is_resent(
    store, vault, settings, clock
) -> None:
    account = add_account(store, vault)
    unknown = add_delivery(store, account, status=Status.UNKNOWN, reconcile_at=store.now())
    sent = Recorder()
    settings = replace(settings, timings=replace(settings.timings, requeue_after=settings.timings.lease / 2))
    dispatcher = Dispatcher(store, settings, sent)
    assert dispatcher.tick().dispatched == [unknown]
    clock.advance(settings.timings.requeue_after + 1)  # nobody took it: the message was lost
    assert dispatcher.tick().requeued == [unknown]
    assert sent.sent == [unknown, unknown]
    clock.advance(settings.timings.lease)
    result = dispatcher.tick()
    assert result.reaped == [unknown]
    row = delivery(store, unknown)
    assert row.status == Status.UNKNOWN and "lookup did not finish" in (row.last_error or "")
    assert row.reconcile_at == store.now() + timedelta(seconds=settings.timings.settle)
