"""The Instagram connector against its contract server, with media hosted in a real
S3-compatible bucket (moto on loopback) that the server fetches from, as Instagram does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from postmast.connectors import (
    Absent,
    AuthExpired,
    Content,
    Found,
    MediaFile,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    get_connector,
)
from postmast.connectors.http import HttpClient
from postmast.connectors.instagram import Instagram
from postmast.scheduler.body import Body, Item, OptionValue
from tests.conftest import FakeClock
from tests.servers.base import Fault, Response
from tests.servers.instagram import InstagramServer
from tests.servers.s3 import ACCESS, S3Server

USER = "17841400000000123"
CREDS = {"access_token": "ig-token", **ACCESS}
JPEG = b"\xff\xd8\xff\xe0" + bytes(200)
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(500)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[InstagramServer]:
    found = InstagramServer({"ig-token": USER}, clock=clock)
    found.start()
    yield found
    found.stop()


@pytest.fixture
def bucket(s3: S3Server) -> str:
    return s3.bucket(f"ig-{uuid.uuid4().hex[:8]}")


def connector(server: InstagramServer, clock: FakeClock, hosting: dict[str, str]) -> Instagram:
    found = Instagram(
        {"ig_user_id": USER, "api_base": server.url, **hosting},
        HttpClient(connect_timeout=2, read_timeout=5),
        clock=clock,
    )
    found.poll_interval = 0.0
    return found


def jpeg(name: str = "latte.jpg", alt: str = "Latte art shaped like a leaf") -> MediaFile:
    return MediaFile(JPEG + name.encode(), "image/jpeg", name, alt)


def test_manifest_and_queue_time_rules(s3: S3Server) -> None:
    assert get_connector("instagram") is Instagram
    offline = Instagram({"ig_user_id": USER})
    [problem] = offline.validate_thread([Content("caption", (jpeg(),))])
    assert problem.message.startswith("Instagram fetches media from a public URL: set media_bucket")
    hosted = Instagram({"ig_user_id": USER, **s3.settings("b")})
    assert hosted.validate_thread([Content("caption", (jpeg(),))]) == []
    assert [p.message for p in hosted.validate_thread([Content("words only")])] == [
        "an Instagram post needs an image or a video"
    ]
    assert (
        "31 hashtags" in hosted.validate(Content(" ".join(f"#t{n}" for n in range(31)), (jpeg(),)))[0].message
    )
    assert (
        "21 @-mentions"
        in hosted.validate(Content(" ".join(f"@u{n}" for n in range(21)), (jpeg(),)))[0].message
    )
    assert "over Instagram's limit of 2200" in hosted.validate(Content("x" * 2201, (jpeg(),)))[0].message
    png = MediaFile(b"\x89PNG" + bytes(9), "image/png", "a.png")
    assert "image/png is not accepted" in hosted.validate(Content("x", (png,)))[0].message
    thread = hosted.validate_thread([Content("x", (jpeg(),)), Content("y", (jpeg(),))])
    assert [p.message for p in thread] == ["item 2: a comment on Instagram goes without media"]


def test_one_image_fetched_from_the_bucket_then_deleted(
    server: InstagramServer, clock: FakeClock, s3: S3Server, bucket: str
) -> None:
    result = connector(server, clock, s3.settings(bucket)).publish(Content("Morning", (jpeg(),)), CREDS, "k")
    [(url, data)] = server.fetched
    assert data == jpeg().data and "X-Amz-Signature" in url
    [container] = server.containers.values()
    assert (
        container["params"]["alt_text"] == "Latte art shaped like a leaf"
        and container["status"] == "PUBLISHED"
    )
    assert result.url == server.permalink(USER, result.remote_id)
    assert s3.keys(bucket) == []  # hosted only as long as Instagram needed it


def test_a_carousel_and_a_reel(server: InstagramServer, clock: FakeClock, s3: S3Server, bucket: str) -> None:
    instagram = connector(server, clock, s3.settings(bucket))
    carousel = instagram.publish(Content("Three", (jpeg("a.jpg"), jpeg("b.jpg"), jpeg("c.jpg"))), CREDS, "k1")
    parent = server.containers[server.media[carousel.remote_id]["container"]]
    assert parent["params"]["media_type"] == "CAROUSEL" and len(parent["params"]["children"].split(",")) == 3
    reel = instagram.publish(Content("Pour", (MediaFile(MP4, "video/mp4", "pour.mp4"),)), CREDS, "k2")
    assert server.containers[server.media[reel.remote_id]["container"]]["params"]["media_type"] == "REELS"
    assert instagram.payload(Content("Pour", (MediaFile(MP4, "video/mp4", "pour.mp4"),))) == {
        "caption": "Pour",
        "media_type": "REELS",
        "video_url": "<public URL of pour.mp4>",
    }


def test_the_first_comment(server: InstagramServer, clock: FakeClock, s3: S3Server, bucket: str) -> None:
    instagram = connector(server, clock, s3.settings(bucket))
    body = Body((Item("New menu", (jpeg(),)),), (OptionValue("", "first_comment", "#coffee"),))
    post_item, comment_item = instagram.items(body.contents("instagram:cafe", instagram.options))
    post = instagram.publish(post_item, CREDS, "k")
    comment = instagram.publish(
        Content(comment_item.text, reply_to=post.ref(), root=post.ref()), CREDS, "k-1"
    )
    assert server.comments[comment.remote_id] | {"timestamp": ""} == {
        "id": comment.remote_id,
        "text": "#coffee",
        "media": post.remote_id,
        "timestamp": "",
    }


def test_an_expired_token(server: InstagramServer, clock: FakeClock, s3: S3Server, bucket: str) -> None:
    server.expired.add("ig-token")
    with pytest.raises(AuthExpired, match="463"):
        connector(server, clock, s3.settings(bucket)).publish(Content("x", (jpeg(),)), CREDS, "k")


def test_rate_limited_by_the_usage_header(
    server: InstagramServer, clock: FakeClock, s3: S3Server, bucket: str
) -> None:
    server.fault_rate_limited(server.posting("/media"), USER, minutes=9)
    with pytest.raises(RateLimited) as raised:
        connector(server, clock, s3.settings(bucket)).publish(Content("x", (jpeg(),)), CREDS, "k")
    assert raised.value.retry_after == 9 * 60


def test_a_spent_quota_is_respected_before_sending(
    server: InstagramServer, clock: FakeClock, s3: S3Server, bucket: str
) -> None:
    server.quota_total = 2
    for number in range(2):
        server.add_media(USER, f"earlier {number}")
        server.media[next(reversed(server.media))]["container"] = "x"
    with pytest.raises(RateLimited, match="2 of 2 posts") as raised:
        connector(server, clock, s3.settings(bucket)).publish(Content("x", (jpeg(),)), CREDS, "k")
    assert raised.value.retry_after == 3600
    assert not [r for r in server.requests if r.method == "POST"] and s3.keys(bucket) == []


def test_a_retry_after_a_lost_publish_never_publishes_twice(
    server: InstagramServer, clock: FakeClock, s3: S3Server, bucket: str
) -> None:
    """Instagram refuses no duplicates: the container kept in the state tells what happened."""
    instagram = connector(server, clock, s3.settings(bucket))
    server.fault_ambiguous(server.posting("/media_publish"))
    sent_at = clock.now
    with pytest.raises(OutcomeUnknown):
        instagram.publish(Content("Lost answer", (jpeg(),)), CREDS, "k")
    found = instagram.lookup(
        Content("Lost answer", (jpeg(),)), CREDS, "k", sent_at=sent_at, replay_allowed=True
    )
    assert isinstance(found, Found) and found.result.remote_id in server.media
    again = instagram.publish(Content("Lost answer", (jpeg(),)), CREDS, "k")
    assert again.remote_id == found.result.remote_id and len(server.media) == 1
    assert len([r for r in server.requests if r.path.endswith("/media_publish")]) == 1


def test_a_container_that_was_not_published_is_absent_and_reused(
    server: InstagramServer, clock: FakeClock, s3: S3Server, bucket: str
) -> None:
    instagram = connector(server, clock, s3.settings(bucket))
    # a gateway's 502 before Instagram saw the request: unknown to the connector, yet nothing published
    server.inject(Fault(match=server.posting("/media_publish"), response=Response(502, None)))
    with pytest.raises(OutcomeUnknown):
        instagram.publish(Content("Gateway", (jpeg(),)), CREDS, "k")
    assert isinstance(
        instagram.lookup(Content("Gateway", (jpeg(),)), CREDS, "k", sent_at=clock.now, replay_allowed=True),
        Absent,
    )
    result = instagram.publish(Content("Gateway", (jpeg(),)), CREDS, "k")
    assert len(server.containers) == 1 and len(server.fetched) == 1  # the same container, fetched once
    assert server.media[result.remote_id]["text"] == "Gateway"


def test_media_instagram_cannot_fetch_fails_the_post(
    server: InstagramServer, clock: FakeClock, tmp_path: Path
) -> None:
    hosting = {"media_directory": str(tmp_path), "media_public_url": "http://127.0.0.1:9/nowhere"}
    with pytest.raises(PermanentError, match="could not process the post: FAILED_DOWNLOADING"):
        connector(server, clock, hosting).publish(Content("x", (jpeg(),)), CREDS, "k")
