"""The publish step against a Mastodon contract server, on both store backends."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from postmast.connectors import Connector, Content, PublishResult
from postmast.connectors.mastodon import Mastodon
from postmast.scheduler.dispatcher import Dispatcher
from postmast.scheduler.models import Account, AccountStatus, Attempt
from postmast.scheduler.states import Status
from postmast.scheduler.vault import Vault
from postmast.workers.outcome import Outcome
from postmast.workers.publisher import Publisher
from tests.factories import account_status, add_account, add_delivery, delivery, status_of
from tests.servers.base import Fault, Response


@pytest.fixture
def account(store, vault, mastodon):
    return add_account(
        store, vault, "mastodon", "brand", {"instance": mastodon.url}, {"access_token": "token-a"}
    )


@pytest.fixture
def publisher(store, vault, settings):
    return Publisher(store, vault, settings)


def attempts(store, delivery_id: int) -> list[Attempt]:
    with store.read() as session:
        return list(
            session.scalars(
                select(Attempt).where(Attempt.delivery_id == delivery_id).order_by(Attempt.number)
            )
        )


def test_queued_delivery_is_published_and_recorded(store, publisher, account, mastodon) -> None:
    delivery_id = add_delivery(store, account, status=Status.QUEUED, text="Hello fediverse")
    assert publisher.publish(delivery_id) == Outcome.PUBLISHED
    row = delivery(store, delivery_id)
    [status] = mastodon.statuses.values()
    assert (
        row.status == Status.PUBLISHED and row.remote_id == status["id"] and row.public_url == status["url"]
    )
    assert row.published_at == store.now() and row.attempt_count == 1 and row.claim_token
    [attempt] = attempts(store, delivery_id)
    assert (attempt.outcome, attempt.http_status, attempt.remote_id) == ("published", 200, status["id"])
    assert attempt.finished_at is not None and attempt.worker
    [request] = mastodon.requests
    assert request.header("Idempotency-Key") == row.idempotency_key
    assert request.json() == {"status": "Hello fediverse"}


def test_a_second_copy_of_the_message_is_a_no_op(store, publisher, account, mastodon) -> None:
    delivery_id = add_delivery(store, account, status=Status.QUEUED)
    assert publisher.publish(delivery_id) == Outcome.PUBLISHED
    assert publisher.publish(delivery_id) == Outcome.NOT_QUEUED
    assert len(mastodon.requests) == 1 and len(attempts(store, delivery_id)) == 1


@pytest.mark.parametrize("state", [Status.SCHEDULED, Status.PUBLISHING, Status.CANCELLED, Status.UNKNOWN])
def test_only_queued_deliveries_are_claimed(store, publisher, account, mastodon, state) -> None:
    delivery_id = add_delivery(store, account, status=state)
    assert publisher.publish(delivery_id) == Outcome.NOT_QUEUED
    assert status_of(store, delivery_id) == state and mastodon.requests == []


def test_missing_delivery_is_dropped(publisher) -> None:
    assert publisher.publish(999_999) == Outcome.MISSING


def test_claimed_past_its_deadline_is_missed_not_sent(store, clock, publisher, account, mastodon) -> None:
    delivery_id = add_delivery(store, account, status=Status.QUEUED, lateness=600)
    clock.advance(601)
    assert publisher.publish(delivery_id) == Outcome.MISSED
    row = delivery(store, delivery_id)
    assert row.status == Status.MISSED and "allowed lateness of 600s" in (row.last_error or "")
    assert mastodon.requests == []


def test_transient_error_backs_off_then_fails_after_max_attempts(
    store, clock, publisher, account, mastodon
) -> None:
    delivery_id = add_delivery(store, account, status=Status.QUEUED)
    for _ in range(5):
        mastodon.inject(Fault(response=Response(503, {"error": "Remote data could not be fetched"})))
    delays = []
    for number in range(1, 6):
        outcome = publisher.publish(delivery_id)
        row = delivery(store, delivery_id)
        if number < 5:
            assert outcome == "retry_wait" and row.status == Status.RETRY_WAIT
            delays.append((row.next_attempt_at - store.now()).total_seconds())
            with store.write() as session:  # what the dispatcher does when it is due again
                from postmast.scheduler.states import transition

                assert transition(session, delivery_id, Status.RETRY_WAIT, Status.QUEUED, now=store.now())
        else:
            assert outcome == "failed" and row.status == Status.FAILED
            assert "gave up after 5 attempts" in (row.last_error or "")
    # base 5 s, doubling, jitter of 25 %
    for number, delay in enumerate(delays, 1):
        assert 5 * 2 ** (number - 1) * 0.75 <= delay <= 5 * 2 ** (number - 1) * 1.25
    assert [a.outcome for a in attempts(store, delivery_id)] == ["retry_wait"] * 4 + ["failed"]
    assert {a.http_status for a in attempts(store, delivery_id)} == {503}


def test_rate_limited_waits_for_the_network_reset(store, publisher, account, mastodon) -> None:
    delivery_id = add_delivery(store, account, status=Status.QUEUED)
    mastodon.inject(
        Fault(
            response=Response(
                429, {"error": "Too many requests"}, {"X-RateLimit-Reset": mastodon.reset_in(120)}
            )
        )
    )
    assert publisher.publish(delivery_id) == Outcome.RETRY_WAIT
    row = delivery(store, delivery_id)
    wait = (row.next_attempt_at - store.now()).total_seconds()
    # the FakeClock is pinned; the reset is relative to the real clock: 120 s from now
    assert row.last_error_class == "RateLimited" and wait > 0


def test_auth_failure_flags_the_account_and_its_deliveries_wait(store, publisher, account, mastodon) -> None:
    first = add_delivery(store, account, status=Status.QUEUED)
    second = add_delivery(store, account, status=Status.QUEUED)
    mastodon.inject(Fault(response=Response(401, {"error": "The access token was revoked"})))
    assert publisher.publish(first) == Outcome.RETRY_WAIT
    assert account_status(store, account) == AccountStatus.NEEDS_REAUTH
    assert delivery(store, first).last_error_class == "AuthExpired"
    requests_before = len(mastodon.requests)
    assert publisher.publish(second) == Outcome.HELD_REAUTH
    assert len(mastodon.requests) == requests_before  # nothing sent for a flagged account
    assert status_of(store, second) == Status.SCHEDULED


def test_permanent_error_fails_with_the_networks_reason(store, publisher, account, mastodon) -> None:
    delivery_id = add_delivery(store, account, status=Status.QUEUED, text="x" * 600)
    assert publisher.publish(delivery_id) == Outcome.FAILED
    row = delivery(store, delivery_id)
    assert row.last_error_class == "PermanentError" and "character limit of 500" in (row.last_error or "")


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_errors_are_unknown_not_retried(store, publisher, account, mastodon, status) -> None:
    delivery_id = add_delivery(store, account, status=Status.QUEUED)
    mastodon.inject(Fault(response=Response(status, {"error": "Bad gateway"}), after_processing=True))
    assert publisher.publish(delivery_id) == Outcome.UNKNOWN
    assert status_of(store, delivery_id) == Status.UNKNOWN


def test_a_read_timeout_after_the_server_accepted_is_unknown(store, publisher, account, mastodon) -> None:
    delivery_id = add_delivery(store, account, status=Status.QUEUED)
    release = threading.Event()
    mastodon.inject(Fault(hold=release))
    try:
        assert publisher.publish(delivery_id) == Outcome.UNKNOWN  # HTTP timeout is 2 s in the test settings
    finally:
        release.set()
    row = delivery(store, delivery_id)
    assert row.status == Status.UNKNOWN and "may have been accepted" in (row.last_error or "")
    assert len(mastodon.created) == 1


def test_success_after_the_lease_expired_settles_as_published(
    store, clock, vault, settings, account, mastodon
) -> None:
    """A slow answer arrives after the reaper declared the attempt unknown: the worker knows better."""
    delivery_id = add_delivery(store, account, status=Status.QUEUED)
    entered = threading.Event()
    release = threading.Event()
    mastodon.inject(Fault(match=lambda r: entered.set() is None, hold=release))
    outcome: list[str] = []
    worker = threading.Thread(
        target=lambda: outcome.append(Publisher(store, vault, settings).publish(delivery_id))
    )
    worker.start()
    assert entered.wait(5)
    clock.advance(settings.timings.lease + 1)
    assert Dispatcher(store, settings, lambda ids: None).reap(store.now()) == [delivery_id]
    assert status_of(store, delivery_id) == Status.UNKNOWN
    release.set()
    worker.join(10)
    assert outcome == ["published"]
    row = delivery(store, delivery_id)
    assert row.status == Status.PUBLISHED and row.remote_id
    [attempt] = attempts(store, delivery_id)
    # "the worker stopped answering" was not true: the attempt now says what happened
    assert (attempt.outcome, attempt.error_class, attempt.remote_id) == ("published", None, row.remote_id)


def test_unreadable_secrets_fail_without_sending(store, settings, account, mastodon) -> None:
    delivery_id = add_delivery(store, account, status=Status.QUEUED)
    other = Vault("4M2kMMa3VapODPwS8LKBe9tHqKfuDI2YQZDQh42iaQ8=")
    assert Publisher(store, other, settings).publish(delivery_id) == Outcome.FAILED
    row = delivery(store, delivery_id)
    assert row.last_error_class == "SecretsUnreadable" and mastodon.requests == []


class Exploding(Mastodon):
    def publish(self, content: Content, credentials, idempotency_key: str) -> PublishResult:
        raise KeyError(credentials["access_token"])


def test_a_connector_bug_is_unknown_and_its_message_is_secret_free(store, vault, settings, account) -> None:
    delivery_id = add_delivery(store, account, status=Status.QUEUED)
    publisher = Publisher(store, vault, settings, connectors=lambda network: Exploding)
    assert publisher.publish(delivery_id) == Outcome.UNKNOWN
    row = delivery(store, delivery_id)
    assert row.last_error_class == "InternalError" and "token-a" not in (row.last_error or "")


def test_error_text_echoing_a_secret_is_redacted(store, publisher, account, mastodon) -> None:
    delivery_id = add_delivery(store, account, status=Status.QUEUED)
    mastodon.inject(Fault(response=Response(422, {"error": "Validation failed for token token-a"})))
    assert publisher.publish(delivery_id) == Outcome.FAILED
    row = delivery(store, delivery_id)
    assert "token-a" not in (row.last_error or "") and "••••••" in (row.last_error or "")
    assert all("token-a" not in (a.message or "") for a in attempts(store, delivery_id))


class Slow(Connector):
    name = "slow"
    title = "Slow"
    max_length = 10

    def payload(self, content: Content):
        return {}

    def publish(self, content, credentials, idempotency_key):
        return PublishResult("r1", None, 200)


def test_lease_and_deadline_come_from_the_settings(store, vault, settings, account) -> None:
    seen = {}

    class Spy(Slow):
        def publish(self, content, credentials, idempotency_key):
            import time

            seen["deadline_left"] = self.http.deadline - time.monotonic()
            seen["read_timeout"] = self.http.read_timeout
            seen["lease"] = (delivery(store, delivery_id).lease_until - store.now()).total_seconds()
            return super().publish(content, credentials, idempotency_key)

    delivery_id = add_delivery(store, account, status=Status.QUEUED)
    assert (
        Publisher(store, vault, settings, connectors=lambda n: Spy).publish(delivery_id) == Outcome.PUBLISHED
    )
    assert seen["read_timeout"] == settings.timings.http_timeout
    assert seen["lease"] == settings.timings.lease
    assert 0 < seen["deadline_left"] <= settings.timings.task_time_limit
    assert timedelta(seconds=seen["lease"]) > timedelta(seconds=settings.timings.task_time_limit)


def test_one_notice_per_auth_incident_and_waiting_deliveries_are_missed_at_their_deadline(
    store, clock, vault, settings, account, mastodon, caplog
) -> None:
    from postmast.scheduler.dispatcher import Dispatcher as _Dispatcher

    first = add_delivery(store, account, status=Status.QUEUED, lateness=600)
    second = add_delivery(store, account, status=Status.QUEUED, lateness=600)
    for _ in range(2):
        mastodon.inject(Fault(response=Response(401, {"error": "The access token was revoked"})))
    publisher = Publisher(store, vault, settings)
    with caplog.at_level("ERROR", logger="postmast.worker"):
        assert publisher.publish(first) == Outcome.RETRY_WAIT
        # the second was queued before the flag: it is put back without a request
        assert publisher.publish(second) == Outcome.HELD_REAUTH
    notices = [r for r in caplog.records if "needs re-authorisation" in r.getMessage()]
    assert len(notices) == 1  # one notice per incident
    assert len(mastodon.requests) == 1
    # they wait (not failed) while the account is flagged, and are missed when their lateness runs out
    dispatcher = _Dispatcher(store, settings, lambda ids: None)
    clock.advance(300)
    assert dispatcher.tick().dispatched == []
    assert {status_of(store, first), status_of(store, second)} <= {Status.RETRY_WAIT, Status.SCHEDULED}
    clock.advance(301)
    assert sorted(dispatcher.tick().missed) == sorted([first, second])


def test_an_endpoint_in_clear_text_is_refused_by_the_worker_too(store, vault, settings, mastodon) -> None:
    """An account stored before the rule (or edited in the store): nothing is sent in clear text."""
    account_id = add_account(
        store, vault, "mastodon", "far", {"instance": mastodon.url}, {"access_token": "token-a"}
    )
    with store.write() as session:
        session.execute(
            update(Account).where(Account.id == account_id).values(settings={"instance": "http://192.0.2.1"})
        )
    delivery_id = add_delivery(store, account_id, status=Status.QUEUED)
    assert Publisher(store, vault, settings).publish(delivery_id) == Outcome.FAILED
    row = delivery(store, delivery_id)
    assert row.last_error_class == "InsecureEndpoint" and "--allow-insecure" in (row.last_error or "")
    assert mastodon.requests == []


class Noting(Slow):
    def publish(self, content, credentials, idempotency_key):
        return PublishResult(
            "r1", "https://example.net/r1", 200, notes=("mention @ghost sent as plain text",)
        )


def test_what_was_sent_differently_stays_on_the_report_line(store, vault, settings, account) -> None:
    """A connector's notes (e.g. an unresolved Bluesky mention) are on the published delivery."""
    delivery_id = add_delivery(store, account, status=Status.QUEUED)
    assert (
        Publisher(store, vault, settings, connectors=lambda n: Noting).publish(delivery_id)
        == Outcome.PUBLISHED
    )
    row = delivery(store, delivery_id)
    assert (row.status, row.public_url) == (Status.PUBLISHED, "https://example.net/r1")
    assert (row.last_error, row.last_error_class) == ("mention @ghost sent as plain text", "Note")
    [attempt] = attempts(store, delivery_id)
    assert attempt.message == "mention @ghost sent as plain text"


def test_an_accounts_next_delivery_reuses_its_connection(store, publisher, account, vault, mastodon) -> None:
    """Within a worker process, an account's HTTP connection stays open for its next delivery
    (no new TCP and TLS handshake per post); another account has its own."""
    first = add_delivery(store, account, status=Status.QUEUED, text="one")
    second = add_delivery(store, account, status=Status.QUEUED, text="two")
    other = add_account(
        store, vault, "mastodon", "other", {"instance": mastodon.url}, {"access_token": "token-a"}
    )
    third = add_delivery(store, other, status=Status.QUEUED, text="three")
    for delivery_id in (first, second, third):
        assert publisher.publish(delivery_id) == Outcome.PUBLISHED
    one, two, three = (request.client for request in mastodon.requests)
    assert one == two and one[1] != 0
    assert three != one
