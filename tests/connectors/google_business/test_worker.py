"""Google Business Profile through the real worker (`Publisher`) on both store backends, against the
contract server: an event is published with its name and searchUrl and the access token kept in the
account's encrypted session; a revoked refresh token flags the account; RESOURCE_EXHAUSTED waits; an
ambiguous create is found in the location's posts by the lookup, without a second post."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from postmast.scheduler.models import AccountStatus
from postmast.workers.publisher import Publisher
from tests.connectors.delivering import account, queue, seconds_until, settle_and_dispatch
from tests.factories import add_account, delivery
from tests.servers.base import Fault
from tests.servers.google_business import (
    ACCOUNT,
    CLIENT_ID,
    CLIENT_SECRET,
    LOCATION,
    REFRESH_TOKEN,
    GoogleBusinessServer,
    google_error,
)

SECRETS = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN}
EVENT = {
    "topic": "event",
    "event_title": "Harbour night",
    "event_start": "2026-12-05 18:00",
    "event_end": "2026-12-05 23:30",
}


def creating(request) -> bool:
    return request.method == "POST" and request.path.endswith("/localPosts")


@pytest.fixture
def server(clock) -> Iterator[GoogleBusinessServer]:
    running = GoogleBusinessServer(clock=clock).start()
    yield running
    running.stop()


@pytest.fixture
def account_id(store, vault, server: GoogleBusinessServer) -> int:
    settings = {
        "account_id": ACCOUNT,
        "location_id": LOCATION,
        "api_base": server.url,
        "token_url": f"{server.url}/token",
    }
    return add_account(store, vault, "google_business", "cafe", settings, dict(SECRETS))


def test_an_event_is_published_with_its_search_url(store, vault, settings, account_id, server) -> None:
    delivery_id = queue(store, "google_business:cafe", ["Live music on the quay."], options=EVENT)
    assert Publisher(store, vault, settings).publish(delivery_id) == "published"
    [created] = server.created
    row = delivery(store, delivery_id)
    assert (row.remote_id, row.public_url) == (created["name"], created["searchUrl"])
    assert created["topicType"] == "EVENT" and created["event"]["title"] == "Harbour night"
    session = account(store, account_id).session
    assert session is not None and vault.decrypt_any(session)["google_token"]["access_token"].startswith(
        "ya29."
    )


def test_a_revoked_refresh_token_flags_the_account(store, vault, settings, account_id, server) -> None:
    server.revoke_refresh()
    delivery_id = queue(store, "google_business:cafe", ["hello"])
    Publisher(store, vault, settings).publish(delivery_id)
    flagged = account(store, account_id)
    assert flagged.status == AccountStatus.NEEDS_REAUTH and "invalid_grant" in (flagged.status_reason or "")
    assert REFRESH_TOKEN not in (flagged.status_reason or "") and server.posts() == []


def test_resource_exhausted_waits(store, vault, settings, account_id, server) -> None:
    delivery_id = queue(store, "google_business:cafe", ["hello"])
    server.inject(Fault(match=creating, response=google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded")))
    assert Publisher(store, vault, settings).publish(delivery_id) == "retry_wait"
    row = delivery(store, delivery_id)
    assert (
        row.last_error_class == "RateLimited" and 60 <= seconds_until(row.next_attempt_at, store.now()) <= 61
    )
    assert server.created == []


def test_an_ambiguous_create_is_found_by_the_lookup(
    store, clock, vault, settings, account_id, server
) -> None:
    delivery_id = queue(store, "google_business:cafe", ["hello"])
    server.inject(Fault(match=creating, response=google_error(500, "INTERNAL", "x"), after_processing=True))
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "unknown"
    settle_and_dispatch(store, clock, settings, delivery_id)
    assert publisher.publish(delivery_id) == "published"
    [created] = server.created
    assert delivery(store, delivery_id).remote_id == created["name"] and len(server.posts()) == 1
