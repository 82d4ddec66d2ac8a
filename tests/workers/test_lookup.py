"""After an unknown outcome the next attempt asks the network before sending anything."""

from __future__ import annotations

from datetime import timedelta

import pytest

from postmast.scheduler.deliveries import Deliveries
from postmast.scheduler.dispatcher import Dispatcher
from postmast.scheduler.errors import Conflict
from postmast.scheduler.states import Status, transition
from postmast.workers.outcome import Outcome
from postmast.workers.publisher import Publisher
from tests.factories import add_account, add_delivery, delivery, status_of
from tests.servers.base import Fault, Response
from tests.servers.webhook import WebhookServer


class Recorder:
    def __init__(self) -> None:
        self.sent: list[int] = []

    def __call__(self, ids) -> None:
        self.sent += ids


@pytest.fixture
def account(store, vault, mastodon):
    return add_account(
        store, vault, "mastodon", "brand", {"instance": mastodon.url}, {"access_token": "token-a"}
    )


def unknown_then_due(store, clock, settings, publisher, delivery_id: int) -> None:
    """Publish into an unknown outcome, then let the settle delay pass and the dispatcher queue it."""
    assert publisher.publish(delivery_id) == Outcome.UNKNOWN
    assert delivery(store, delivery_id).reconcile_at == store.now() + timedelta(
        seconds=settings.timings.settle
    )
    clock.advance(settings.timings.settle + 1)
    result = Dispatcher(store, settings, Recorder()).tick()
    assert result.dispatched == [delivery_id]
    assert status_of(store, delivery_id) == Status.RECONCILING


def test_accepted_before_the_gateway_error_is_found_not_reposted(
    store, clock, vault, settings, account, mastodon
):
    publisher = Publisher(store, vault, settings)
    delivery_id = add_delivery(store, account, status=Status.QUEUED, text="once only")
    mastodon.inject(Fault(response=Response(502, {"error": "Bad gateway"}), after_processing=True))
    unknown_then_due(store, clock, settings, publisher, delivery_id)
    assert publisher.publish(delivery_id) == Outcome.PUBLISHED
    row = delivery(store, delivery_id)
    [status] = mastodon.statuses.values()
    assert row.remote_id == status["id"] and row.status == Status.PUBLISHED
    assert mastodon.created_texts() == {"once only": 1}
    assert mastodon.key_requests[row.idempotency_key] == 2  # the original and the replay


def test_never_accepted_is_sent_exactly_once_by_the_replay(store, clock, vault, settings, account, mastodon):
    publisher = Publisher(store, vault, settings)
    delivery_id = add_delivery(store, account, status=Status.QUEUED, text="lost on the way")
    mastodon.inject(Fault(response=Response(504, {"error": "Gateway timeout"})))
    unknown_then_due(store, clock, settings, publisher, delivery_id)
    assert publisher.publish(delivery_id) == Outcome.PUBLISHED
    assert mastodon.created_texts() == {"lost on the way": 1}


def test_past_its_deadline_the_recent_statuses_decide(store, clock, vault, settings, account, mastodon):
    """No replay once the post may no longer go out: the account's statuses are searched instead."""
    publisher = Publisher(store, vault, settings)
    found = add_delivery(store, account, status=Status.QUEUED, text="it got through", lateness=30)
    mastodon.inject(Fault(response=Response(502, {"error": "Bad gateway"}), after_processing=True))
    unknown_then_due(store, clock, settings, publisher, found)
    clock.advance(60)  # the settle delay plus this is past the 30 s lateness
    assert publisher.publish(found) == Outcome.PUBLISHED
    assert mastodon.created_texts() == {"it got through": 1}


def test_past_its_deadline_and_absent_is_missed(store, clock, vault, settings, account, mastodon):
    publisher = Publisher(store, vault, settings)
    for text in ("older 1", "older 2"):  # the timeline reaches back before the attempt
        add_delivery(store, account, status=Status.QUEUED, text=text)
    for row_id in (1, 2):
        assert publisher.publish(row_id) == Outcome.PUBLISHED
    mastodon.created[0]["at"] -= 3600
    for status in mastodon.statuses.values():
        status["created_at"] = "2020-01-01T00:00:00.000Z"
    absent = add_delivery(store, account, status=Status.QUEUED, text="never arrived", lateness=30)
    mastodon.inject(Fault(response=Response(504, {"error": "Gateway timeout"})))
    unknown_then_due(store, clock, settings, publisher, absent)
    clock.advance(60)
    assert publisher.publish(absent) == Outcome.MISSED
    row = delivery(store, absent)
    assert row.status == Status.MISSED and "confirmed not on the network" in (row.last_error or "")
    assert "never arrived" not in mastodon.created_texts()


def test_a_network_that_cannot_be_asked_is_asked_once_then_waits_for_a_person(store, clock, vault, settings):
    """A webhook offers no way to check: one lookup says so, and the delivery is left for a person
    at once (asking again would only say the same, and "asking again later" would not be true)."""
    receiver = WebhookServer().start()
    try:
        account = add_account(store, vault, "webhook", "hook", {"url": f"{receiver.url}/hook"}, {})
        publisher = Publisher(store, vault, settings)
        delivery_id = add_delivery(store, account, status=Status.QUEUED, text="did it arrive?")
        receiver.inject(Fault(response=Response(502, {"error": "Bad gateway"}), after_processing=True))
        unknown_then_due(store, clock, settings, publisher, delivery_id)
        assert publisher.publish(delivery_id) == Outcome.UNKNOWN
        row = delivery(store, delivery_id)
        assert row.reconcile_attempts == 1 and "no way to check" in (row.last_error or "")
        assert row.reconcile_at is None and f"postmast retry {delivery_id} --resend-unknown" in (
            row.last_error or ""
        )
        assert sum(b"did it arrive?" in r.body for r in receiver.requests) == 1  # never re-sent
        clock.advance(10 * settings.timings.settle)
        assert Dispatcher(store, settings, Recorder()).tick().dispatched == []
        assert status_of(store, delivery_id) == Status.UNKNOWN
    finally:
        receiver.stop()


def test_waiting_for_a_lookup_is_neither_missed_nor_cancellable(
    store, clock, vault, settings, account, mastodon
):
    publisher = Publisher(store, vault, settings)
    delivery_id = add_delivery(store, account, status=Status.QUEUED, lateness=5)
    mastodon.inject(Fault(response=Response(502, {"error": "Bad gateway"}), after_processing=True))
    assert publisher.publish(delivery_id) == Outcome.UNKNOWN
    clock.advance(settings.timings.settle + 1)
    account_busy = add_delivery(store, account, status=Status.PUBLISHING)  # holds the account
    dispatcher = Dispatcher(store, settings, Recorder())
    result = dispatcher.tick()
    assert result.missed == [] and result.dispatched == []
    assert status_of(store, delivery_id) == Status.UNKNOWN
    with pytest.raises(Conflict, match="may already be published"):
        Deliveries(store).cancel([delivery_id])
    with store.write() as session:
        assert transition(session, account_busy, Status.PUBLISHING, Status.PUBLISHED, now=store.now())
    assert dispatcher.tick().dispatched == [delivery_id]
    assert status_of(store, delivery_id) == Status.RECONCILING
    for refused in (
        lambda: Deliveries(store).cancel([delivery_id]),
        lambda: Deliveries(store).reschedule([delivery_id], store.now() + timedelta(hours=1)),
        lambda: Deliveries(store).retry([delivery_id], resend_unknown=True),
    ):
        with pytest.raises(Conflict, match="being checked with the network"):
            refused()
    assert status_of(store, delivery_id) == Status.RECONCILING


def test_a_person_confirming_a_resend_skips_the_lookup(store, clock, vault, settings, account, mastodon):
    publisher = Publisher(store, vault, settings)
    delivery_id = add_delivery(store, account, status=Status.QUEUED)
    mastodon.inject(Fault(response=Response(502, {"error": "Bad gateway"}), after_processing=True))
    assert publisher.publish(delivery_id) == Outcome.UNKNOWN
    Deliveries(store).retry([delivery_id], resend_unknown=True)
    row = delivery(store, delivery_id)
    assert row.status == Status.SCHEDULED and row.reconcile_at is None
