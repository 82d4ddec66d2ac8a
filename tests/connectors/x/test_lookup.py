"""Reconciliation for X (connectors/x/lookup.py): after an unknown outcome the connector reads
`GET /2/users/me` and the account's timeline `GET /2/users/{id}/tweets` and answers Found, Absent
or Undecidable. The contract server renders texts as X does (t.co links, HTML entities), checks
every query parameter against the spec, and pages with `meta.next_token`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from postmast.connectors import Absent, Content, Found, MediaFile, RemoteRef, Undecidable
from postmast.connectors.errors import AuthExpired
from postmast.connectors.http import HttpClient
from postmast.connectors.x import X
from postmast.connectors.x.lookup import comparable, parent_of
from tests.servers.base import Fault, Response
from tests.servers.x import BEARER, OAUTH1, XServer

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def connector(server: XServer, **settings: str) -> X:
    return X({"api_base": server.url, **settings}, HttpClient(read_timeout=5))


def ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


@pytest.fixture
def x_server(conformance: Path) -> Iterator[XServer]:
    server = XServer(conformance / "x-openapi" / "openapi.json", check_after_secs=0).start()
    yield server
    server.stop()


def lookup(server: XServer, content: Content, sent_at: datetime, **settings: str) -> object:
    return connector(server, **settings).lookup(content, OAUTH1, "key", sent_at=sent_at, replay_allowed=True)


# == verdicts ======================================================================================


def test_a_post_made_by_the_lost_request_is_found(x_server: XServer) -> None:
    text = "Launch day & <fun> at https://example.com/launch?utm=1 \U0001f680"
    sent_at = ago(1)
    published = connector(x_server, username="alice").publish(Content(text), OAUTH1, "key")
    assert x_server.rendered(x_server.posts[published.remote_id]) != text  # X stores it differently
    x_server.requests.clear()
    found = lookup(x_server, Content(text), sent_at)
    assert found == Found(published.__class__(published.remote_id, published.url, 200))
    assert [(r.method, r.path) for r in x_server.requests] == [
        ("GET", "/2/users/me"),
        ("GET", "/2/users/1401/tweets"),
    ]  # looking never posts


def test_the_url_uses_the_handle_x_reports_when_none_is_set(x_server: XServer) -> None:
    post = x_server.add_post("1401", "plain")
    found = lookup(x_server, Content("plain"), ago(1))
    assert isinstance(found, Found) and found.result.url == f"https://x.com/alice/status/{post['id']}"
    found = lookup(x_server, Content("plain"), ago(1), username="brand")
    assert isinstance(found, Found) and found.result.url == f"https://x.com/brand/status/{post['id']}"


def test_a_post_with_media_is_found_despite_its_media_link(x_server: XServer) -> None:
    image = MediaFile(PNG, "image/png", "a.png")
    connector(x_server).publish(Content("with a picture", (image,)), OAUTH1, "key")
    assert isinstance(lookup(x_server, Content("with a picture", (image,)), ago(5)), Found)


def test_a_reply_must_answer_the_same_parent(x_server: XServer) -> None:
    first = x_server.add_post("1401", "first")
    other = x_server.add_post("1401", "other")
    reply = x_server.add_post("1401", "same words", reply_to=first["id"])
    found = lookup(x_server, Content("same words", reply_to=RemoteRef(first["id"])), ago(5))
    assert isinstance(found, Found) and found.result.remote_id == reply["id"]
    assert isinstance(
        lookup(x_server, Content("same words", reply_to=RemoteRef(other["id"])), ago(5)), Absent
    )
    assert isinstance(lookup(x_server, Content("same words"), ago(5)), Absent)  # not a reply: not ours
    link = RemoteRef(f"https://x.com/alice/status/{first['id']}")
    assert isinstance(lookup(x_server, Content("same words", reply_to=link), ago(5)), Found)


def test_nothing_since_the_attempt_is_absent(x_server: XServer) -> None:
    x_server.add_post("1401", "something else")
    x_server.add_post("1401", "old news", at=time.time() - 3 * 86400)
    found = lookup(x_server, Content("old news"), ago(60))
    assert found == Absent("not among the account's posts since the attempt")


def test_clock_skew_of_a_few_minutes_is_tolerated(x_server: XServer) -> None:
    post = x_server.add_post("1401", "early", at=time.time() - 120)
    found = lookup(x_server, Content("early"), ago(0))
    assert isinstance(found, Found) and found.result.remote_id == post["id"]


def test_an_identical_older_post_is_for_a_person_to_decide(x_server: XServer) -> None:
    """X would refuse the item as a duplicate again; sending it is pointless, claiming it is wrong."""
    older = x_server.add_post("1401", "good morning", at=time.time() - 7200)
    found = lookup(x_server, Content("good morning"), ago(30))
    assert isinstance(found, Undecidable)
    assert older["id"] in found.reason and "duplicate" in found.reason


def test_the_timeline_query_fits_the_spec(x_server: XServer) -> None:
    sent_at = datetime(2026, 11, 26, 12, 30, 15, 250000, tzinfo=UTC)
    lookup(x_server, Content("anything"), sent_at)
    timeline = x_server.requests[-1]
    assert timeline.query == {
        "max_results": ["100"],
        "start_time": ["2026-11-25T12:30:15Z"],
        "post.fields": ["created_at,conversation_id"],
        "expansions": ["referenced_posts"],
        "exclude": ["retweets"],
    }
    assert x_server.spec.check("GET", timeline.path, timeline.query) == []


# == pages =========================================================================================


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("postmast.connectors.x.lookup.PAGE_SIZE", 5)
    monkeypatch.setattr("postmast.connectors.x.lookup.MAX_PAGES", 2)


def test_a_post_on_the_second_page_is_found(x_server: XServer, small_pages: None) -> None:
    target = x_server.add_post("1401", "needle")
    for number in range(6):
        x_server.add_post("1401", f"newer {number}")
    found = lookup(x_server, Content("needle"), ago(30))
    assert isinstance(found, Found) and found.result.remote_id == target["id"]
    assert [r.query.get("pagination_token") is not None for r in x_server.requests[1:]] == [False, True]


def test_pages_that_do_not_reach_the_attempt_are_undecidable(x_server: XServer, small_pages: None) -> None:
    for number in range(11):
        x_server.add_post("1401", f"busy {number}")
    found = lookup(x_server, Content("needle"), ago(30))
    assert isinstance(found, Undecidable) and "do not reach back" in found.reason


def test_pages_that_pass_the_attempt_are_enough(x_server: XServer, small_pages: None) -> None:
    for number in range(4):
        x_server.add_post("1401", f"before {number}", at=time.time() - 3600)
    for number in range(8):
        x_server.add_post("1401", f"after {number}")
    assert isinstance(lookup(x_server, Content("needle"), ago(30)), Absent)


# == what cannot be decided =========================================================================


def test_no_account_id_is_undecidable(x_server: XServer) -> None:
    x_server.inject(Fault(match=lambda r: r.path == "/2/users/me", response=Response(200, {"data": {}})))
    found = lookup(x_server, Content("x"), ago(1))
    assert isinstance(found, Undecidable) and "which account" in found.reason


def test_refused_credentials_raise_for_the_reconciler_to_retry(x_server: XServer) -> None:
    with pytest.raises(AuthExpired):
        connector(x_server).lookup(
            Content("x"), {"bearer_token": "revoked"}, "key", sent_at=ago(1), replay_allowed=True
        )
    assert isinstance(
        connector(x_server).lookup(Content("x"), BEARER, "key", sent_at=ago(1), replay_allowed=False), Absent
    )


# == how texts are compared =========================================================================


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("Fish & chips <3", "Fish &amp; chips &lt;3"),
        ("read https://example.com/a/long/path?x=1 now", "read https://t.co/abcdefghij now"),
        ("see example.com", "see https://t.co/abcdefghij"),
        ("a picture", "a picture https://t.co/abcdefghij"),
        ("spaces  and\nlines", "spaces and lines"),
        ("caf\u00e9", "cafe\u0301"),
    ],
)
def test_comparable_texts(ours: str, theirs: str) -> None:
    assert comparable(ours) == comparable(theirs)


def test_different_texts_stay_different() -> None:
    assert comparable("hello world") != comparable("hello world!")
    assert comparable("a & b") != comparable("a &amp;amp; b")


def test_parent_of_reads_both_namings() -> None:
    assert parent_of({"referenced_posts": [{"type": "replied_to", "id": "7"}]}) == "7"
    assert (
        parent_of({"referenced_tweets": [{"type": "quoted", "id": "8"}, {"type": "replied_to", "id": "9"}]})
        == "9"
    )
    assert parent_of({"referenced_posts": [{"type": "quoted", "id": "8"}]}) is None
    assert parent_of({}) is None
