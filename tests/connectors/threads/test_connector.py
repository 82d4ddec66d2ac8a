"""The Threads connector against its contract server (media hosted in moto on loopback)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from postmast.connectors import (
    Absent,
    AuthExpired,
    Content,
    Found,
    MediaFile,
    OutcomeUnknown,
    RateLimited,
    get_connector,
)
from postmast.connectors.http import HttpClient
from postmast.connectors.threads import Threads, threads_length
from tests.conftest import FakeClock
from tests.servers.s3 import ACCESS, S3Server
from tests.servers.threads import ThreadsServer, threads_count

USER = "25800000000000077"
CREDS = {"access_token": "th-token", **ACCESS}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(100)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[ThreadsServer]:
    found = ThreadsServer({"th-token": USER}, clock=clock)
    found.start()
    yield found
    found.stop()


def connector(server: ThreadsServer, clock: FakeClock, **settings: str) -> Threads:
    found = Threads(
        {"api_base": server.url, **settings}, HttpClient(connect_timeout=2, read_timeout=5), clock=clock
    )
    found.poll_interval = 0.0
    return found


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("hello", 5),
        ("café", 4),
        ("👍", 4),
        ("👍🏽", 8),
        ("👨\u200d👩\u200d👧", 18),
        ("a🇫🇷b", 10),
        ("日本語", 3),
        ("#1 ©", 4 + 1),  # © is a pictograph: 2 bytes
    ],
)
def test_threads_counts_emoji_as_their_utf8_bytes(text: str, length: int) -> None:
    assert threads_length(text) == length == threads_count(text)


def test_500_by_threads_own_count() -> None:
    threads = Threads({})
    assert threads.validate(Content("a" * 500)) == []
    assert (
        "502 characters, over Threads's limit of 500"
        in threads.validate(Content("a" * 498 + "👍"))[0].message
    )


def test_manifest_and_hosting_rule(s3: S3Server) -> None:
    assert get_connector("threads") is Threads
    image = MediaFile(PNG, "image/png", "a.png")
    [problem] = Threads({}).validate_thread([Content("x", (image,))])
    assert problem.message.startswith("Threads fetches media from a public URL: set media_bucket")
    assert Threads(s3.settings("b")).validate_thread([Content("x", (image,))]) == []
    assert Threads({}).validate_thread([Content("text only")]) == []


def test_a_thread_of_three_replies_to_each_other(server: ThreadsServer, clock: FakeClock) -> None:
    threads = connector(server, clock)
    first = threads.publish(Content("1/3", options={"reply_control": "followers_only"}), CREDS, "k")
    second = threads.publish(Content("2/3", reply_to=first.ref(), root=first.ref()), CREDS, "k-1")
    third = threads.publish(Content("3/3", reply_to=second.ref(), root=first.ref()), CREDS, "k-2")
    assert [m["reply_to"] for m in server.media.values()] == [None, first.remote_id, second.remote_id]
    assert third.url == server.permalink(USER, third.remote_id)
    [container, *_] = server.containers.values()
    assert container["params"] == {"media_type": "TEXT", "text": "1/3", "reply_control": "followers_only"}
    assert all("/me/" in r.path for r in server.requests if r.method == "POST")


def test_images_and_a_carousel_fetched_from_the_bucket(
    server: ThreadsServer, clock: FakeClock, s3: S3Server
) -> None:
    bucket = s3.bucket(f"th-{uuid.uuid4().hex[:8]}")
    threads = connector(server, clock, **s3.settings(bucket))
    images = tuple(MediaFile(PNG + bytes([n]), "image/png", f"{n}.png", f"photo {n}") for n in range(3))
    result = threads.publish(Content("Our week", images), CREDS, "k")
    parent = server.containers[server.media[result.remote_id]["container"]]
    assert parent["params"]["media_type"] == "CAROUSEL" and len(parent["params"]["children"].split(",")) == 3
    assert sorted(data for _, data in server.fetched) == sorted(m.data for m in images)
    assert s3.keys(bucket) == []


def test_an_expired_token(server: ThreadsServer, clock: FakeClock) -> None:
    server.fault_expired(server.posting("/threads"))
    with pytest.raises(AuthExpired, match="Session has expired"):
        connector(server, clock).publish(Content("x"), CREDS, "k")


def test_rate_limited_and_the_quota(server: ThreadsServer, clock: FakeClock) -> None:
    server.fault_rate_limited(server.posting("/threads"), USER, minutes=3)
    with pytest.raises(RateLimited) as raised:
        connector(server, clock).publish(Content("x"), CREDS, "k")
    assert raised.value.retry_after == 180
    server.quota_total = 1
    server.add_media(USER, "earlier")
    with pytest.raises(RateLimited, match="1 of 1 posts"):
        connector(server, clock).publish(Content("y"), CREDS, "k2")
    assert not [r for r in server.requests if r.method == "POST" and r.path.endswith("/threads")][1:]


def test_the_ambiguous_500_is_found_and_never_published_twice(
    server: ThreadsServer, clock: FakeClock
) -> None:
    threads = connector(server, clock)
    server.fault_ambiguous(server.posting("/threads_publish"))
    sent_at = clock.now
    with pytest.raises(OutcomeUnknown):
        threads.publish(Content("Lost"), CREDS, "k")
    found = threads.lookup(Content("Lost"), CREDS, "k", sent_at=sent_at, replay_allowed=True)
    assert isinstance(found, Found) and found.result.url == server.permalink(USER, found.result.remote_id)
    again = threads.publish(Content("Lost"), CREDS, "k")  # a duplicate attempt: the container says PUBLISHED
    assert again.remote_id == found.result.remote_id and len(server.media) == 1


def test_an_unpublished_container_is_absent(server: ThreadsServer, clock: FakeClock) -> None:
    threads = connector(server, clock)
    threads.containers(threads.graph(CREDS)).remember("k", "404")
    server.containers["404"] = {
        "id": "404",
        "owner": USER,
        "params": {},
        "polls": 0,
        "status": "FINISHED",
        "error": "",
    }
    assert isinstance(
        threads.lookup(Content("never"), CREDS, "k", sent_at=clock.now, replay_allowed=True), Absent
    )
