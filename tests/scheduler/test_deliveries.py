"""Deliveries as users change them: cancel, reschedule, retry (all or nothing), and listings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from postmast.scheduler.deliveries import Deliveries, Filters, parse_ids
from postmast.scheduler.errors import Conflict, NotFound, UserError
from postmast.scheduler.models import DeliveryEvent
from postmast.scheduler.states import PENDING, Status
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.factories import add_account, add_delivery, delivery, status_of

S = Status
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # the fake clock's start


@pytest.fixture
def service(store: Store) -> Deliveries:
    return Deliveries(store)


@pytest.fixture
def account(store: Store, vault: Vault) -> int:
    return add_account(store, vault)


# -- cancel -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", [S.SCHEDULED, S.QUEUED, S.RETRY_WAIT])
def test_cancel(store: Store, service: Deliveries, account: int, clock, source: Status) -> None:
    delivery_id = add_delivery(store, account, status=source)
    clock.advance(30)
    assert service.cancel([delivery_id]) == [delivery_id]
    found = delivery(store, delivery_id)
    assert found.status == S.CANCELLED
    assert found.last_error == "cancelled by user"
    assert found.updated_at == clock.now


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (S.PUBLISHING, "it is being published right now"),
        (S.PUBLISHED, "it is already published"),
        (S.CANCELLED, "it is cancelled"),
        (S.FAILED, "it failed; use postmast retry"),
        (S.MISSED, "it was missed; use postmast retry"),
        (S.UNKNOWN, "its outcome is unknown and it may already be published; see postmast retry --help"),
    ],
)
def test_cancel_refused(store: Store, service: Deliveries, account: int, source: Status, reason: str) -> None:
    delivery_id = add_delivery(store, account, status=source)
    with pytest.raises(Conflict) as info:
        service.cancel([delivery_id])
    assert str(info.value) == f"delivery {delivery_id} cannot be cancelled: {reason}"
    assert status_of(store, delivery_id) == source


def test_cancel_batch_with_one_refused_changes_none(store: Store, service: Deliveries, account: int) -> None:
    ids = [add_delivery(store, account, status=s) for s in (S.SCHEDULED, S.QUEUED, S.PUBLISHED, S.RETRY_WAIT)]
    with pytest.raises(Conflict, match=f"delivery {ids[2]} cannot be cancelled: it is already published"):
        service.cancel(ids)
    assert [status_of(store, i) for i in ids] == [S.SCHEDULED, S.QUEUED, S.PUBLISHED, S.RETRY_WAIT]


def test_unknown_ids_are_not_found(store: Store, service: Deliveries, account: int) -> None:
    scheduled = add_delivery(store, account)
    failed = add_delivery(store, account, status=S.FAILED)
    for action, real in (
        (lambda ids: service.cancel(ids), scheduled),
        (lambda ids: service.reschedule(ids, NOW + timedelta(hours=1)), scheduled),
        (lambda ids: service.retry(ids), failed),
    ):
        # the known id comes first and is changed first: the error undoes it
        with pytest.raises(NotFound, match=r"^no delivery 999 \(see: postmast queue\)$"):
            action([real, 999])
    found = delivery(store, scheduled)
    assert (found.status, found.due_at) == (S.SCHEDULED, NOW)
    assert status_of(store, failed) == S.FAILED
    with pytest.raises(NotFound):
        service.status(999)
    with pytest.raises(NotFound, match=r"^no post 999$"):
        service.ids_of_post(999)


def test_ids_of_post(store: Store, service: Deliveries, account: int) -> None:
    first = add_delivery(store, account)
    add_delivery(store, account)
    post_id = delivery(store, first).post_id
    assert service.ids_of_post(post_id) == [first]


# -- reschedule ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", [S.SCHEDULED, S.QUEUED, S.RETRY_WAIT])
def test_reschedule(store: Store, service: Deliveries, account: int, source: Status) -> None:
    delivery_id = add_delivery(store, account, status=source, lateness=600, queued_at=NOW)
    when = NOW + timedelta(days=2, minutes=7)
    assert service.reschedule([delivery_id], when) == [delivery_id]
    found = delivery(store, delivery_id)
    assert found.status == S.SCHEDULED
    assert (found.due_at, found.next_attempt_at, found.deadline_at) == (
        when,
        when,
        when + timedelta(seconds=600),
    )
    assert found.queued_at is None
    assert found.original_due_at == NOW  # the first due time stays, and the move is history
    [event] = events(store, delivery_id)
    assert (event.action, event.from_status, event.to_status, event.due_before, event.due_after) == (
        "rescheduled",
        source.value,
        "scheduled",
        NOW,
        when,
    )


def test_reschedule_to_the_past_is_refused(store: Store, service: Deliveries, account: int) -> None:
    due = NOW + timedelta(hours=3)
    delivery_id = add_delivery(store, account, due=due)
    with pytest.raises(UserError, match="in the past"):
        service.reschedule([delivery_id], NOW - timedelta(minutes=5))
    found = delivery(store, delivery_id)
    assert (found.status, found.due_at) == (S.SCHEDULED, due)


@pytest.mark.parametrize("source", [S.PUBLISHING, S.PUBLISHED, S.FAILED, S.UNKNOWN, S.CANCELLED, S.MISSED])
def test_reschedule_refused(store: Store, service: Deliveries, account: int, source: Status) -> None:
    good = add_delivery(store, account, due=NOW)
    bad = add_delivery(store, account, status=source, due=NOW)
    with pytest.raises(Conflict, match=f"^delivery {bad} cannot be rescheduled: "):
        service.reschedule([good, bad], NOW + timedelta(hours=1))
    assert delivery(store, good).due_at == NOW
    assert status_of(store, bad) == source


# -- retry --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", [S.FAILED, S.MISSED])
def test_retry(store: Store, service: Deliveries, account: int, clock, source: Status) -> None:
    delivery_id = add_delivery(
        store,
        account,
        status=source,
        lateness=120,
        last_error="boom",
        lease_until=NOW,
        due=NOW - timedelta(hours=2),
    )
    now = clock.advance(3600)
    assert service.retry([delivery_id]) == [delivery_id]
    found = delivery(store, delivery_id)
    assert found.status == S.SCHEDULED
    # history is not rewritten: the due time stays (lateness counts from it), the retry is an event
    assert (found.due_at, found.original_due_at, found.next_attempt_at, found.deadline_at) == (
        NOW - timedelta(hours=2),
        NOW - timedelta(hours=2),
        now,
        now + timedelta(seconds=120),
    )
    assert found.lease_until is None and found.queued_at is None
    [event] = events(store, delivery_id)
    assert (event.action, event.from_status, event.to_status, event.note, event.at) == (
        "retried",
        source.value,
        "scheduled",
        "boom",
        now,
    )


def events(store: Store, delivery_id: int) -> list[DeliveryEvent]:
    with store.read() as session:
        found = list(session.scalars(select(DeliveryEvent).where(DeliveryEvent.delivery_id == delivery_id)))
        session.expunge_all()
        return found


def test_retry_unknown_needs_confirmation(store: Store, service: Deliveries, account: int) -> None:
    failed = add_delivery(store, account, status=S.FAILED)
    unknown = add_delivery(store, account, status=S.UNKNOWN)
    with pytest.raises(Conflict) as info:
        service.retry([failed, unknown])
    assert str(info.value) == (
        f"delivery {unknown}'s outcome is unknown: it may already be published, and sending it again may "
        "post it twice; confirm with --resend-unknown"
    )
    assert (status_of(store, failed), status_of(store, unknown)) == (S.FAILED, S.UNKNOWN)
    assert service.retry([failed, unknown], resend_unknown=True) == [failed, unknown]
    assert (status_of(store, failed), status_of(store, unknown)) == (S.SCHEDULED, S.SCHEDULED)
    assert delivery(store, unknown).due_at == NOW
    assert delivery(store, unknown).next_attempt_at == NOW


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (S.SCHEDULED, "it is scheduled"),
        (S.QUEUED, "it is queued"),
        (S.RETRY_WAIT, "it is retry_wait"),
        (S.PUBLISHING, "it is being published right now"),
        (S.PUBLISHED, "it is already published"),
        (S.CANCELLED, "it is cancelled"),
    ],
)
def test_retry_refused(store: Store, service: Deliveries, account: int, source: Status, reason: str) -> None:
    delivery_id = add_delivery(store, account, status=source)
    with pytest.raises(Conflict) as info:
        service.retry([delivery_id], resend_unknown=True)
    assert str(info.value) == f"delivery {delivery_id} cannot be retried: {reason}"
    assert status_of(store, delivery_id) == source


# -- listings -----------------------------------------------------------------------------------------


@pytest.fixture
def one_of_each(store: Store, account: int) -> dict[Status, int]:
    return {
        s: add_delivery(store, account, status=s, due=NOW + timedelta(minutes=i), text=f"text {s}")
        for i, s in enumerate(Status)
    }


def test_upcoming_shows_pending_and_unsettled_only(
    service: Deliveries, one_of_each: dict[Status, int]
) -> None:
    found = service.upcoming(Filters())
    assert {r.status for r in found} == {*PENDING, S.UNKNOWN, S.RECONCILING}
    assert [r.id for r in found] == sorted(one_of_each[s] for s in (*PENDING, S.UNKNOWN, S.RECONCILING))
    # an explicit status filter wins
    assert [r.status for r in service.upcoming(Filters([S.FAILED]))] == [S.FAILED]


def test_search_filters(store: Store, vault: Vault, service: Deliveries, account: int) -> None:
    hook = add_account(store, vault, "webhook", "team")
    a = add_delivery(store, account, due=NOW + timedelta(hours=1))
    b = add_delivery(store, hook, due=NOW + timedelta(hours=2), status=S.FAILED)
    c = add_delivery(store, hook, due=NOW - timedelta(hours=5), status=S.PUBLISHED)
    assert [r.id for r in service.search(Filters())] == [c, a, b]  # by due time
    assert [r.id for r in service.search(Filters(network="WEBHOOK"))] == [c, b]
    assert [r.id for r in service.search(Filters(target="mastodon:brand"))] == [a]
    assert [r.id for r in service.search(Filters(target="webhook:nobody"))] == []
    assert [r.id for r in service.search(Filters(statuses=[S.FAILED, S.PUBLISHED]))] == [c, b]
    assert [r.id for r in service.search(Filters(post_id=delivery(store, b).post_id))] == [b]
    assert [r.id for r in service.search(Filters(since=NOW))] == [a, b]
    assert [r.id for r in service.search(Filters(limit=2))] == [c, a]


def test_row_as_dict(store: Store, service: Deliveries, account: int) -> None:
    delivery_id = add_delivery(
        store,
        account,
        status=S.PUBLISHED,
        text="hi there",
        remote_id="r1",
        public_url="https://m.example/@brand/r1",
        published_at=NOW + timedelta(seconds=42.5),
        attempt_count=2,
    )
    [row] = service.search(Filters())
    assert row.target == "mastodon:brand"
    assert row.lateness == 42.5
    assert row.as_dict() == {
        "id": delivery_id,
        "post": delivery(store, delivery_id).post_id,
        "text": "hi there",
        "target": "mastodon:brand",
        "network": "mastodon",
        "status": "published",
        "due_at": "2026-12-01T09:00:00+00:00",
        "next_attempt_at": "2026-12-01T09:00:00+00:00",
        "published_at": "2026-12-01T09:00:42.500000+00:00",
        "lateness_seconds": 42.5,
        "attempts": 2,
        "remote_id": "r1",
        "url": "https://m.example/@brand/r1",
        "error": None,
        "error_class": None,
        "items_total": 1,
        "items": [],
    }


def test_parse_ids() -> None:
    assert parse_ids(["1", "22"]) == [1, 22]
    for bad in ("x", "-1", "1.5", ""):
        with pytest.raises(UserError, match="is not a delivery id"):
            parse_ids([bad])
