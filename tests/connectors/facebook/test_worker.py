"""Facebook Pages through the real worker (`Publisher`), on both store backends, against the
contract server: a photo post with its first comment (each item recorded, a failed comment
resumed without reposting), an expired token, a rate limit, a duplicate and the ambiguous 500."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from postmast.connectors import MediaFile
from postmast.scheduler.states import Status
from postmast.workers.publisher import Publisher
from tests.conftest import FakeClock
from tests.connectors.worker_path import due_again, items, limited_until, queue, settle_and_dispatch, wait_of
from tests.factories import AccountStatus, account_status, add_account, delivery
from tests.servers.base import Fault, Response
from tests.servers.facebook import FacebookServer

PAGE = "1234567890"
JPEG = b"\xff\xd8\xff\xe0" + bytes(200)


@pytest.fixture
def server(clock: FakeClock) -> Iterator[FacebookServer]:
    found = FacebookServer({"page-token": PAGE}, clock=clock)
    found.start()
    yield found
    found.stop()


@pytest.fixture
def account(store, vault, server: FacebookServer) -> int:
    return add_account(
        store,
        vault,
        "facebook",
        "cafe",
        {"page_id": PAGE, "api_base": server.url},
        {"page_access_token": "page-token"},
    )


def test_a_photo_post_and_its_first_comment(store, vault, settings, account, server: FacebookServer) -> None:
    photo = MediaFile(JPEG, "image/jpeg", "terrace.jpg", "The terrace at noon")
    delivery_id = queue(
        store, "facebook:cafe", ["Open all day"], (photo,), {"first_comment": "Menu: example.org"}
    )
    # a load balancer's 503 before Facebook saw the comment: certainly not posted, so retried
    server.inject(
        Fault(match=server.posting("/comments"), response=Response(503, raw=b"Service Unavailable"))
    )
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "retry_wait"  # the post is out, its comment is not
    assert [r.position for r in items(store, delivery_id)] == [0]
    due_again(store, delivery_id, Status.RETRY_WAIT)
    assert publisher.publish(delivery_id) == "published"
    recorded = items(store, delivery_id)
    [post] = server.posts.values()
    [comment] = server.comments.values()
    assert [r.remote_id for r in recorded] == [post["id"], comment["id"]]
    assert comment["parent"] == post["id"] and comment["message"] == "Menu: example.org"
    assert [c["text"] for c in server.created] == [
        "Open all day",
        "Menu: example.org",
    ]  # the post went out once
    assert [p["alt"] for p in server.photos.values()] == ["The terrace at noon"]
    row = delivery(store, delivery_id)
    assert (row.remote_id, row.public_url) == (post["id"], post["permalink_url"])


def test_an_expired_token_flags_the_account(store, vault, settings, account, server: FacebookServer) -> None:
    delivery_id = queue(store, "facebook:cafe", ["hello"])
    server.fault_expired(server.posting("/feed"))
    assert Publisher(store, vault, settings).publish(delivery_id) == "retry_wait"
    assert account_status(store, account) == AccountStatus.NEEDS_REAUTH
    assert delivery(store, delivery_id).last_error_class == "AuthExpired" and server.posts == {}


def test_a_rate_limit_holds_the_account_for_the_announced_time(
    store, vault, settings, account, server: FacebookServer
) -> None:
    delivery_id = queue(store, "facebook:cafe", ["hello"])
    server.fault_rate_limited(server.posting("/feed"), PAGE, minutes=17)
    assert Publisher(store, vault, settings).publish(delivery_id) == "retry_wait"
    assert 17 * 60 <= wait_of(store, delivery_id) <= 17 * 60 + 2
    held = limited_until(store, account)
    assert held is not None and held >= store.now() + timedelta(minutes=17)


def test_a_duplicate_is_reconciled_then_failed_with_the_reason(
    store, clock, vault, settings, account, server: FacebookServer
) -> None:
    server.add_post(PAGE, "Same words", at=clock.now - timedelta(hours=2))
    delivery_id = queue(store, "facebook:cafe", ["Same words"])
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "unknown"
    assert delivery(store, delivery_id).last_error_class == "DuplicateContent"
    settle_and_dispatch(store, clock, settings, delivery_id)
    sent = len([r for r in server.requests if r.method == "POST"])
    assert publisher.publish(delivery_id) == "failed"
    row = delivery(store, delivery_id)
    assert "(#506) Duplicate status message" in (row.last_error or "")
    assert len([r for r in server.requests if r.method == "POST"]) == sent  # nothing sent again


def test_the_ambiguous_500_is_found_on_the_page(
    store, clock, vault, settings, account, server: FacebookServer
) -> None:
    delivery_id = queue(store, "facebook:cafe", ["Jazz night"])
    server.fault_ambiguous(server.posting("/feed"))
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "unknown"
    settle_and_dispatch(store, clock, settings, delivery_id)
    assert publisher.publish(delivery_id) == "published"
    [post] = server.posts.values()
    assert delivery(store, delivery_id).remote_id == post["id"] and len(server.created) == 1
