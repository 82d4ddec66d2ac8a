"""LinkedIn through the real worker (`Publisher`), on both store backends: a post with an image
and its first comment, an expired token, a rate limit, a duplicate of a lost attempt and the
ambiguous 500, each reconciled without posting twice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from postmast.connectors import MediaFile
from postmast.workers.publisher import Publisher
from tests.conftest import FakeClock
from tests.connectors.worker_path import items, queue, settle_and_dispatch, wait_of
from tests.factories import AccountStatus, account_status, add_account, delivery
from tests.servers.base import Fault, Response
from tests.servers.linkedin import LinkedInServer

ME = "urn:li:person:abc123"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


@pytest.fixture
def server(clock: FakeClock) -> Iterator[LinkedInServer]:
    found = LinkedInServer(clock=clock)
    found.start()
    yield found
    found.stop()


@pytest.fixture
def account(store, vault, server: LinkedInServer) -> int:
    return add_account(
        store, vault, "linkedin", "me", {"author": ME, "api_base": server.url}, {"access_token": "li-token"}
    )


def test_an_image_post_and_its_first_comment(store, vault, settings, account, server) -> None:
    image = MediaFile(PNG, "image/png", "chart.png", "Revenue by quarter")
    delivery_id = queue(
        store, "linkedin:me", ["Results (Q4) #finance"], (image,), {"first_comment": "Details (PDF)"}
    )
    assert Publisher(store, vault, settings).publish(delivery_id) == "published"
    [post] = server.posts.values()
    [comment] = server.comments.values()
    assert post["shown"] == "Results (Q4) #finance" and comment["message"]["text"] == "Details (PDF)"
    assert [r.remote_id for r in items(store, delivery_id)] == [post["id"], comment["$URN"]]
    assert delivery(store, delivery_id).public_url == f"https://www.linkedin.com/feed/update/{post['id']}/"


def test_an_expired_token_flags_the_account(store, vault, settings, account, server) -> None:
    delivery_id = queue(store, "linkedin:me", ["x"])
    server.expired.add("li-token")
    assert Publisher(store, vault, settings).publish(delivery_id) == "retry_wait"
    assert account_status(store, account) == AccountStatus.NEEDS_REAUTH
    assert "EXPIRED_ACCESS_TOKEN" in (delivery(store, delivery_id).last_error or "")


def test_a_rate_limit_waits_until_midnight_utc(store, vault, settings, account, server) -> None:
    delivery_id = queue(store, "linkedin:me", ["x"])
    server.fault_rate_limited()
    assert Publisher(store, vault, settings).publish(delivery_id) == "retry_wait"
    assert 15 * 3600 <= wait_of(store, delivery_id) <= 15 * 3600 + 2


def test_a_duplicate_of_a_lost_attempt_is_recorded_as_published(
    store, clock, vault, settings, account, server
) -> None:
    delivery_id = queue(store, "linkedin:me", ["Big news"])
    # the first attempt's answer is lost after LinkedIn created the post
    server.inject(
        Fault(match=server.creating, response=Response(504, raw=b"Gateway Timeout"), after_processing=True)
    )
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "unknown"
    settle_and_dispatch(store, clock, settings, delivery_id)
    assert publisher.publish(delivery_id) == "published"
    [post] = server.posts.values()
    assert delivery(store, delivery_id).remote_id == post["id"]


def test_the_ambiguous_500_then_a_duplicate_refusal(store, clock, vault, settings, account, server) -> None:
    delivery_id = queue(store, "linkedin:me", ["Same again"])
    server.fault_ambiguous()
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "unknown"
    server.readable = False  # the lookup cannot read posts: the delivery stays unknown
    settle_and_dispatch(store, clock, settings, delivery_id)
    assert publisher.publish(delivery_id) == "unknown"
    assert "may not read posts back" in (delivery(store, delivery_id).last_error or "")
    assert len(server.posts) == 1
