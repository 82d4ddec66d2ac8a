"""A known outcome is never lost: the store made unavailable at the moment the network answers
(PostgreSQL refusing connections, SQLite locked past its busy timeout), on both backends."""

from __future__ import annotations

import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update

from postmast.scheduler.config import Settings
from postmast.scheduler.dispatcher import Dispatcher
from postmast.scheduler.models import Attempt, DeliveryItem, Post
from postmast.scheduler.states import Status
from postmast.workers.outcome import Outcome
from postmast.workers.publisher import Publisher
from tests.conftest import TEST_KEY
from tests.factories import add_account, add_delivery, delivery, status_of
from tests.outage import Outage
from tests.servers.base import Fault, Response


@pytest.fixture
def quick(tmp_path: Path, database_url: str) -> Settings:
    """Short timings: the task gives up retrying a second before its 2 s limit."""
    return Settings.from_env(
        {
            "POSTMAST_DATA_DIR": str(tmp_path / "data"),
            "POSTMAST_DATABASE_URL": database_url,
            "POSTMAST_SECRET_KEY": TEST_KEY,
            "POSTMAST_HTTP_TIMEOUT": "1",
            "POSTMAST_TASK_TIME_LIMIT": "2",
            "POSTMAST_LEASE": "3",
            "POSTMAST_SETTLE": "4",
        }
    )


@pytest.fixture
def outage(store, clock) -> Iterator[Outage]:
    store.engine  # noqa: B018 (migrated before the worker's handle opens it)
    found = Outage(store.database_url, clock)
    yield found
    found.close()


@pytest.fixture
def account(store, vault, mastodon):
    return add_account(
        store, vault, "mastodon", "brand", {"instance": mastodon.url}, {"access_token": "token-a"}
    )


def attempts(store, delivery_id: int) -> list[Attempt]:
    with store.read() as session:
        return list(session.scalars(select(Attempt).where(Attempt.delivery_id == delivery_id)))


def down_when_answered(
    mastodon, outage: Outage, response: Response | None = None, *, up_after: float | None = None
) -> None:
    """The store goes down while the network handles the post: its answer finds no store.
    With `up_after`, it comes back that many seconds after going down (counted from the outage,
    not from the test's start, so a slow machine cannot bring it back before it went down)."""

    def going_down() -> None:
        outage.down()
        if up_after is not None:
            threading.Timer(up_after, outage.up).start()

    mastodon.inject(
        Fault(
            match=lambda r: r.method == "POST" and r.path == "/api/v1/statuses" and going_down() is None,
            response=response,
            after_processing=response is None,
        )
    )


def test_a_short_outage_is_ridden_out_by_the_task(store, vault, quick, outage, account, mastodon) -> None:
    delivery_id = add_delivery(store, account, status=Status.QUEUED)
    down_when_answered(mastodon, outage, up_after=0.3)
    publisher = Publisher(outage.store, vault, quick)
    assert publisher.publish(delivery_id) == Outcome.PUBLISHED
    row = delivery(store, delivery_id)
    [status] = mastodon.statuses.values()
    assert row.status == Status.PUBLISHED and row.remote_id == status["id"]
    [attempt] = attempts(store, delivery_id)
    assert (attempt.outcome, attempt.remote_id) == ("published", status["id"])
    assert publisher.outbox.entries() == []


def test_an_answer_kept_in_the_outbox_lands_before_the_lease_is_reaped(
    store, clock, vault, quick, outage, account, mastodon
) -> None:
    delivery_id = add_delivery(store, account, status=Status.QUEUED)
    down_when_answered(mastodon, outage)
    publisher = Publisher(outage.store, vault, quick)
    started = time.monotonic()
    assert publisher.publish(delivery_id) == Outcome.PUBLISHED  # what the network said
    assert time.monotonic() - started < quick.timings.task_time_limit  # before Celery's time limit
    item, ending = publisher.outbox.entries()  # the post's one item, then the delivery's ending
    assert "-d" in item.name and item.name < ending.name
    assert stat.S_IMODE(ending.stat().st_mode) == 0o600
    assert stat.S_IMODE(ending.parent.stat().st_mode) == 0o700
    assert status_of(store, delivery_id) == Status.PUBLISHING  # not in the store yet
    outage.up()
    clock.advance(quick.timings.lease + 1)  # the lease ran out meanwhile
    dispatcher = Dispatcher(store, quick, lambda ids: None, drain=publisher.drain)
    assert dispatcher.tick().reaped == []  # the outbox was applied before the reaper looked
    row = delivery(store, delivery_id)
    [status] = mastodon.statuses.values()
    assert row.status == Status.PUBLISHED and row.remote_id == status["id"]
    [attempt] = attempts(store, delivery_id)
    assert attempt.outcome == "published" and attempt.error_class is None
    assert publisher.outbox.entries() == [] and len(mastodon.created) == 1


def test_a_known_refusal_replaces_the_reapers_unknown(
    store, clock, vault, quick, outage, account, mastodon
) -> None:
    """The reaper got there first (another machine's dispatcher): `unknown`, "the worker stopped
    answering", is not true; the network's 503 is."""
    delivery_id = add_delivery(store, account, status=Status.QUEUED)
    down_when_answered(mastodon, outage, Response(503, {"error": "Service Unavailable"}))
    publisher = Publisher(outage.store, vault, quick)
    assert publisher.publish(delivery_id) == Outcome.RETRY_WAIT
    outage.up()
    clock.advance(quick.timings.lease + 1)
    assert Dispatcher(store, quick, lambda ids: None).reap(store.now()) == [delivery_id]
    assert status_of(store, delivery_id) == Status.UNKNOWN
    assert publisher.drain() == 1  # a refusal: no item, only the ending
    row = delivery(store, delivery_id)
    assert row.status == Status.RETRY_WAIT and row.last_error_class == "TransientError"
    assert "503" in (row.last_error or "") and row.next_attempt_at is not None
    [attempt] = attempts(store, delivery_id)
    assert (attempt.outcome, attempt.error_class, attempt.http_status) == (
        "retry_wait",
        "TransientError",
        503,
    )
    assert mastodon.created == []


def test_a_late_refusal_does_not_undo_a_later_attempt(
    store, clock, vault, quick, outage, account, mastodon
) -> None:
    delivery_id = add_delivery(store, account, status=Status.QUEUED)
    down_when_answered(mastodon, outage, Response(503, {"error": "Service Unavailable"}))
    publisher = Publisher(outage.store, vault, quick)
    publisher.publish(delivery_id)
    outage.up()
    clock.advance(quick.timings.lease + 1)
    Dispatcher(store, quick, lambda ids: None).reap(store.now())
    with store.write() as session:  # someone re-sent it meanwhile (retry --resend-unknown)
        session.add(Attempt(delivery_id=delivery_id, number=2, kind="publish", started_at=store.now()))
    assert publisher.drain() == 1  # applied, and changed nothing
    assert status_of(store, delivery_id) == Status.UNKNOWN


def test_each_item_of_a_thread_is_kept_in_order(
    store, clock, vault, quick, outage, account, mastodon
) -> None:
    delivery_id = add_delivery(store, account, status=Status.QUEUED)
    with store.write() as session:
        post_id = session.scalar(select(Post.id).order_by(Post.id.desc()).limit(1))
        items = [{"text": "1/ first", "media": []}, {"text": "2/ second", "media": []}]
        session.execute(update(Post).where(Post.id == post_id).values(content={"version": 2, "items": items}))
    down_when_answered(mastodon, outage)
    publisher = Publisher(outage.store, vault, quick)
    assert publisher.publish(delivery_id) == Outcome.PUBLISHED
    assert len(publisher.outbox.entries()) == 3  # item 1, item 2, the ending: in that order
    first, second = (s["id"] for s in mastodon.created)
    assert mastodon.statuses[second]["in_reply_to_id"] == first  # the thread went on from memory
    outage.up()
    assert publisher.drain() == 3
    with store.read() as session:
        recorded = {p: r for p, r in session.execute(select(DeliveryItem.position, DeliveryItem.remote_id))}
    assert recorded == {0: first, 1: second}
    assert delivery(store, delivery_id).remote_id == first


def test_nothing_is_sent_when_the_store_is_down_before_the_claim(
    store, vault, quick, outage, account, mastodon
) -> None:
    delivery_id = add_delivery(store, account, status=Status.QUEUED)
    publisher = Publisher(outage.store, vault, quick)
    with outage.during():
        assert publisher.publish(delivery_id) == Outcome.STORE_UNAVAILABLE
    assert mastodon.requests == [] and status_of(store, delivery_id) == Status.QUEUED
    publisher.drain()  # the claim was never stored: its undo changes nothing
    assert status_of(store, delivery_id) == Status.QUEUED and attempts(store, delivery_id) == []
