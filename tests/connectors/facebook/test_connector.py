"""The Facebook Pages connector against its contract server: posts, photos, video, comments,
errors and the lookup after an unknown outcome (the worker path is in test_worker.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from postmast.connectors import (
    Absent,
    AuthExpired,
    Content,
    DuplicateContent,
    Found,
    MediaFile,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    RemoteRef,
    TransientError,
    Undecidable,
    get_connector,
)
from postmast.connectors.facebook import Facebook
from postmast.connectors.graph import usage_wait
from postmast.connectors.http import HttpClient
from postmast.scheduler.body import Body, Item, OptionValue
from tests.conftest import FakeClock
from tests.servers.facebook import FacebookServer

PAGE = "1234567890"
CREDS = {"page_access_token": "page-token"}
JPEG = b"\xff\xd8\xff\xe0" + bytes(300)
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(2_500_000)


@pytest.fixture
def server(clock: FakeClock) -> Iterator[FacebookServer]:
    found = FacebookServer({"page-token": PAGE, "other-token": "999"}, clock=clock)
    found.start()
    yield found
    found.stop()


def connector(server: FacebookServer, clock: FakeClock, **settings: str) -> Facebook:
    return Facebook(
        {"page_id": PAGE, "api_base": server.url, **settings},
        HttpClient(connect_timeout=2, read_timeout=2),
        clock=clock,
    )


def photo(name: str = "cafe.jpg", alt: str = "The café's terrace at noon") -> MediaFile:
    return MediaFile(JPEG + name.encode(), "image/jpeg", name, alt)


def test_registered_with_its_manifest() -> None:
    assert get_connector("facebook") is Facebook
    assert {o.name for o in Facebook.options} == {"link", "first_comment"}
    assert [f.name for f in Facebook.secret_fields] == ["page_access_token"]
    assert Facebook.check_settings({"page_id": "12ab"})[0].message == "page_id must be the Page's numeric id"
    assert Facebook.check_settings({"page_id": "1", "api_version": "25"})[0].message.startswith("api_version")


def test_a_text_post_with_a_link(server: FacebookServer, clock: FakeClock) -> None:
    content = Content("Open late tonight", options={"link": "https://example.org/menu"})
    result = connector(server, clock).publish(content, CREDS, "key-1")
    [post] = server.posts.values()
    assert (post["message"], post["link"]) == ("Open late tonight", "https://example.org/menu")
    assert result.remote_id == post["id"] and result.url == post["permalink_url"]
    request = next(r for r in server.requests if r.method == "POST")
    assert request.path == "/v25.0/1234567890/feed"
    assert request.header("Authorization") == "Bearer page-token" and "page-token" not in request.path


def test_one_photo_is_its_own_post_with_alt_text(server: FacebookServer, clock: FakeClock) -> None:
    result = connector(server, clock).publish(Content("Terrace", (photo(),)), CREDS, "key-1")
    [stored] = server.photos.values()
    assert stored["published"] and stored["alt"] == "The café's terrace at noon"
    assert server.posts[result.remote_id]["media"] == [stored["id"]]


def test_several_photos_go_up_unpublished_and_attach_to_one_post(
    server: FacebookServer, clock: FakeClock
) -> None:
    result = connector(server, clock).publish(
        Content("Three rooms", (photo("a.jpg"), photo("b.jpg"))), CREDS, "k"
    )
    post = server.posts[result.remote_id]
    assert len(post["media"]) == 2 and all(not server.photos[p]["published"] for p in post["media"])
    assert [p["text"] for p in server.created] == ["Three rooms"]  # one post, not three


def test_a_video_goes_up_in_the_chunks_facebook_asks_for(server: FacebookServer, clock: FakeClock) -> None:
    video = MediaFile(MP4, "video/mp4", "tour.mp4")
    result = connector(server, clock).publish(Content("A tour", (video,)), CREDS, "k")
    [session] = server.sessions.values()
    assert session["data"] == MP4 and result.remote_id == session["video"]
    assert result.url == f"https://www.facebook.com/{PAGE}/videos/{session['video']}/"
    transfers = [r for r in server.requests if b"transfer" in r.body]
    assert len(transfers) == 3  # 2.5 MB in the server's 1 MiB chunks


def test_the_first_comment_is_an_item_of_its_own(server: FacebookServer, clock: FakeClock) -> None:
    facebook = connector(server, clock)
    body = Body((Item("Menu"),), (OptionValue("", "first_comment", "Book: https://example.org"),))
    items = facebook.items(body.contents("facebook:cafe", facebook.options))
    assert [i.text for i in items] == ["Menu", "Book: https://example.org"]
    post = facebook.publish(items[0], CREDS, "k")
    comment = facebook.publish(Content(items[1].text, reply_to=post.ref(), root=post.ref()), CREDS, "k-1")
    assert server.comments[comment.remote_id]["parent"] == post.remote_id
    assert comment.url and "comment_id=" in comment.url
    assert facebook.payload(Content("x", reply_to=RemoteRef("1_2"))) == {"message": "x"}


def test_comments_carry_no_media_and_dry_run_shows_the_upload(
    server: FacebookServer, clock: FakeClock
) -> None:
    facebook = connector(server, clock)
    problems = facebook.validate_thread([Content("a"), Content("b", (photo(),))])
    assert [p.message for p in problems] == ["item 2: a comment on Facebook goes without media"]
    payload = facebook.payload(Content("Terrace", (photo(),)))
    assert payload == {
        "message": "Terrace",
        "source": "<cafe.jpg>",
        "alt_text_custom": "The café's terrace at noon",
    }


def test_an_expired_token_is_auth_expired(server: FacebookServer, clock: FakeClock) -> None:
    server.fault_expired(server.posting("/feed"))
    with pytest.raises(AuthExpired, match=r"\(#190/463\) Error validating access token"):
        connector(server, clock).publish(Content("hello"), CREDS, "k")


def test_another_pages_token_is_refused_for_good(server: FacebookServer, clock: FakeClock) -> None:
    with pytest.raises(AuthExpired, match="#200"):
        connector(server, clock).publish(Content("hello"), {"page_access_token": "other-token"}, "k")


def test_rate_limited_for_the_time_facebook_announces(server: FacebookServer, clock: FakeClock) -> None:
    server.fault_rate_limited(server.posting("/feed"), PAGE, minutes=17)
    with pytest.raises(RateLimited) as raised:
        connector(server, clock).publish(Content("hello"), CREDS, "k")
    assert raised.value.retry_after == 17 * 60 and server.posts == {}


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"X-App-Usage": '{"call_count":100,"total_time":20,"total_cputime":9}'}, 3600.0),
        ({"X-App-Usage": '{"call_count":40,"total_time":20,"total_cputime":9}'}, None),
        ({"X-Page-Usage": '{"call_count":100,"estimated_time_to_regain_access":3}'}, 180.0),
        ({"X-Business-Use-Case-Usage": '{"1":[{"type":"pages","estimated_time_to_regain_access":0}]}'}, None),
        ({"X-App-Usage": "not json"}, None),
    ],
)
def test_usage_headers(headers: dict[str, str], wait: float | None) -> None:
    assert usage_wait(headers) == wait


def test_a_duplicate_is_reconciled_then_refused_without_sending(
    server: FacebookServer, clock: FakeClock
) -> None:
    facebook = connector(server, clock)
    server.add_post(PAGE, "Same words", at=clock.now - timedelta(hours=3))
    with pytest.raises(DuplicateContent, match="#506"):
        facebook.publish(Content("Same words"), CREDS, "k")
    # the older post is from before the attempt: not this one
    assert isinstance(
        facebook.lookup(Content("Same words"), CREDS, "k", sent_at=clock.now, replay_allowed=True), Absent
    )
    sent = len(server.requests)
    with pytest.raises(PermanentError, match="not on the Page: Facebook answered 400: \\(#506\\) Duplicate"):
        facebook.publish(Content("Same words"), CREDS, "k")
    assert len(server.requests) == sent  # nothing was sent again


def test_the_ambiguous_500_is_unknown_and_the_lookup_finds_the_post(
    server: FacebookServer, clock: FakeClock
) -> None:
    facebook = connector(server, clock)
    server.fault_ambiguous(server.posting("/feed"))
    sent_at = clock.now
    with pytest.raises(OutcomeUnknown, match="#2"):
        facebook.publish(Content("Jazz night"), CREDS, "k")
    clock.advance(300)
    found = facebook.lookup(Content("Jazz night"), CREDS, "k", sent_at=sent_at, replay_allowed=True)
    [post] = server.posts.values()
    assert isinstance(found, Found) and found.result.remote_id == post["id"]
    assert isinstance(
        facebook.lookup(Content("Other"), CREDS, "k", sent_at=sent_at, replay_allowed=True), Absent
    )


def test_a_lost_comment_is_found_among_the_pages_comments(server: FacebookServer, clock: FakeClock) -> None:
    facebook = connector(server, clock)
    post = facebook.publish(Content("Menu"), CREDS, "k")
    comment = Content("Book now", reply_to=post.ref(), root=post.ref())
    server.fault_ambiguous(server.posting("/comments"))
    with pytest.raises(OutcomeUnknown):
        facebook.publish(comment, CREDS, "k-1")
    found = facebook.lookup(comment, CREDS, "k-1", sent_at=clock.now, replay_allowed=True)
    assert isinstance(found, Found) and found.result.remote_id in server.comments
    assert isinstance(
        facebook.lookup(Content(""), CREDS, "k", sent_at=clock.now, replay_allowed=True), Undecidable
    )


def test_a_slow_answer_is_unknown_and_an_upload_failure_only_transient(
    server: FacebookServer, clock: FakeClock
) -> None:
    facebook = Facebook(
        {"page_id": PAGE, "api_base": server.url},
        HttpClient(connect_timeout=1, read_timeout=0.5),
        clock=clock,
    )
    server.fault_slow(server.posting("/feed"), 1.5)
    with pytest.raises(OutcomeUnknown, match="no answer"):
        facebook.publish(Content("Slow"), CREDS, "k")
    server.fault_ambiguous(lambda r: r.method == "POST" and b"published" in r.body and b"false" in r.body)
    with pytest.raises(TransientError):  # an unpublished photo is not a post
        facebook.publish(Content("Two", (photo("a.jpg"), photo("b.jpg"))), CREDS, "k2")


def test_an_unknown_version_tells_what_to_set(server: FacebookServer, clock: FakeClock) -> None:
    with pytest.raises(PermanentError, match="deprecated version of the Graph API"):
        connector(server, clock, api_version="v12.0").publish(Content("x"), CREDS, "k")


def test_discover_checks_the_token(server: FacebookServer, clock: FakeClock) -> None:
    assert connector(server, clock).discover(CREDS) == {"page_name": "Harbour Café"}
    server.expired.add("page-token")
    with pytest.raises(AuthExpired):
        connector(server, clock).discover(CREDS)
