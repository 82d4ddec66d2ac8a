"""Instagram through the real worker (`Publisher`), on both store backends: media hosted in a
real S3-compatible bucket (moto), fetched by the contract server; a first comment; an expired
token; a rate limit; the publishing quota; a lost publish found by the lookup and never repeated."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from postmast.connectors import MediaFile
from postmast.connectors.instagram import Instagram
from postmast.scheduler.posts import Rejected
from postmast.workers.publisher import Publisher
from tests.conftest import FakeClock
from tests.connectors.worker_path import items, queue, settle_and_dispatch, wait_of
from tests.factories import AccountStatus, account_status, add_account, delivery
from tests.servers.instagram import InstagramServer
from tests.servers.s3 import ACCESS, S3Server

USER = "17841400000000123"
JPEG = b"\xff\xd8\xff\xe0" + bytes(200)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture
def server(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[InstagramServer]:
    monkeypatch.setattr(Instagram, "poll_interval", 0.0)
    found = InstagramServer({"ig-token": USER}, clock=clock)
    found.start()
    yield found
    found.stop()


@pytest.fixture
def bucket(s3: S3Server) -> str:
    return s3.bucket(f"ig-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def account(store, vault, server: InstagramServer, s3: S3Server, bucket: str) -> int:
    settings = {"ig_user_id": USER, "api_base": server.url, **s3.settings(bucket)}
    return add_account(store, vault, "instagram", "cafe", settings, {"access_token": "ig-token", **ACCESS})


def photo(name: str = "latte.jpg") -> MediaFile:
    return MediaFile(JPEG + name.encode(), "image/jpeg", name, "Latte art")


def test_a_carousel_and_its_first_comment(store, vault, settings, account, server, s3, bucket) -> None:
    delivery_id = queue(
        store,
        "instagram:cafe",
        ["Our mornings"],
        (photo("a.jpg"), photo("b.jpg")),
        {"first_comment": "#coffee #morning"},
    )
    assert Publisher(store, vault, settings).publish(delivery_id) == "published"
    [post] = server.media.values()
    [comment] = server.comments.values()
    assert [r.remote_id for r in items(store, delivery_id)] == [post["id"], comment["id"]]
    assert comment["media"] == post["id"] and len(server.fetched) == 2 and s3.keys(bucket) == []
    assert delivery(store, delivery_id).public_url == server.permalink(USER, post["id"])


def test_local_media_without_hosting_is_refused_at_queue_time(store, vault, server) -> None:
    add_account(
        store,
        vault,
        "instagram",
        "bare",
        {"ig_user_id": USER, "api_base": server.url},
        {"access_token": "ig-token"},
    )
    with pytest.raises(
        Rejected, match="instagram:bare: Instagram fetches media from a public URL: set media_bucket"
    ):
        queue(store, "instagram:bare", ["x"], (photo(),))


def test_an_expired_token_flags_the_account(store, vault, settings, account, server) -> None:
    delivery_id = queue(store, "instagram:cafe", ["x"], (photo(),))
    server.expired.add("ig-token")
    assert Publisher(store, vault, settings).publish(delivery_id) == "retry_wait"
    assert account_status(store, account) == AccountStatus.NEEDS_REAUTH


def test_rate_limits_and_the_quota_wait(store, clock, vault, settings, account, server) -> None:
    first = queue(store, "instagram:cafe", ["x"], (photo(),))
    server.fault_rate_limited(server.posting("/media"), USER, minutes=9)
    assert Publisher(store, vault, settings).publish(first) == "retry_wait"
    assert 9 * 60 <= wait_of(store, first) <= 9 * 60 + 2
    clock.advance(9 * 60 + 3)  # the account is held until then
    server.quota_total = 0
    second = queue(store, "instagram:cafe", ["y"], (photo("y.jpg"),))
    assert Publisher(store, vault, settings).publish(second) == "retry_wait"
    assert "publishing quota is spent" in (delivery(store, second).last_error or "")
    assert server.containers == {}


def test_a_lost_publish_is_found_and_not_repeated(store, clock, vault, settings, account, server) -> None:
    delivery_id = queue(store, "instagram:cafe", ["Lost answer"], (photo(),))
    server.fault_ambiguous(server.posting("/media_publish"))
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "unknown"
    settle_and_dispatch(store, clock, settings, delivery_id)
    assert publisher.publish(delivery_id) == "published"
    [post] = server.media.values()
    assert delivery(store, delivery_id).remote_id == post["id"]
    assert len([r for r in server.requests if r.path.endswith("/media_publish")]) == 1
