"""The LinkedIn connector against its contract server: little text, images, comments, errors, lookups."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

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
    Undecidable,
    get_connector,
)
from postmast.connectors.http import HttpClient
from postmast.connectors.linkedin import LinkedIn
from postmast.connectors.linkedin.api import classify
from postmast.connectors.linkedin.little import commentary, escape
from postmast.scheduler.body import Body, Item, OptionValue
from tests.conftest import FakeClock
from tests.servers.linkedin import LinkedInServer, render

ME = "urn:li:person:abc123"
CREDS = {"access_token": "li-token"}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


@pytest.fixture
def server(clock: FakeClock) -> Iterator[LinkedInServer]:
    found = LinkedInServer(clock=clock)
    found.start()
    yield found
    found.stop()


def connector(server: LinkedInServer, clock: FakeClock, **settings: str) -> LinkedIn:
    return LinkedIn(
        {"author": ME, "api_base": server.url, **settings},
        HttpClient(connect_timeout=2, read_timeout=2),
        clock=clock,
    )


@pytest.mark.parametrize(
    ("text", "wire"),
    [
        ("Hello world", "Hello world"),
        ("Launch (beta) today", "Launch \\(beta\\) today"),
        ("a|b{c}d@e[f]g<h>i*j_k~l", "a\\|b\\{c\\}d\\@e\\[f\\]g\\<h\\>i\\*j\\_k\\~l"),
        ("back\\slash", "back\\\\slash"),
        ("#launch day", "{hashtag|\\#|launch} day"),
        ("We're #1!", "We're {hashtag|\\#|1}!"),
        ("C# and #my_tag", "C\\# and \\#my\\_tag"),
        ("mail me@example.org", "mail me\\@example.org"),
        ("emoji 🎉 (ok)", "emoji 🎉 \\(ok\\)"),
    ],
)
def test_little_text_table(text: str, wire: str) -> None:
    assert commentary(text) == wire
    assert render(wire) == text  # what LinkedIn shows is what the user wrote


def test_an_unescaped_reserved_character_is_where_linkedin_cuts() -> None:
    assert render("Launch (beta) today") == "Launch "
    assert render(escape("Launch (beta) today")) == "Launch (beta) today"


@settings(max_examples=200)
@given(st.text(alphabet=st.sampled_from(list("ab #_()|{}@[]<>*~\\\n1é🎉")), max_size=40))
def test_every_text_survives_the_round_trip(text: str) -> None:
    assert render(commentary(text)) == text


def test_manifest_and_rules() -> None:
    assert get_connector("linkedin") is LinkedIn
    assert {o.name for o in LinkedIn.options} == {"visibility", "author", "first_comment"}
    assert LinkedIn.check_settings({"author": "me"})[0].message.startswith("author must be")
    assert LinkedIn.check_settings({"author": ME, "version": "2026-10"})[0].message.startswith("version must")
    assert LinkedIn.check_options({"author": "bob"})[0].message.startswith("author must be")
    linkedin = LinkedIn({"author": ME})
    assert linkedin.measure(Content("(a)")).length == 5  # counted as sent: escapes included
    assert "over LinkedIn's limit of 3000" in linkedin.validate(Content("(" * 1501))[0].message


def test_a_post_with_the_headers_linkedin_requires(server: LinkedInServer, clock: FakeClock) -> None:
    result = connector(server, clock).publish(
        Content("Hiring (remote) #python", options={"visibility": "connections"}), CREDS, "k"
    )
    [post] = server.posts.values()
    assert (
        result.remote_id == post["id"] and result.url == f"https://www.linkedin.com/feed/update/{post['id']}/"
    )
    assert post["shown"] == "Hiring (remote) #python" and post["visibility"] == "CONNECTIONS"
    request = server.requests[-1]
    assert (
        request.header("LinkedIn-Version") == "202610"
        and request.header("X-Restli-Protocol-Version") == "2.0.0"
    )


def test_images_single_and_multi_with_alt_text(server: LinkedInServer, clock: FakeClock) -> None:
    linkedin = connector(server, clock)
    one = MediaFile(PNG, "image/png", "chart.png", "Revenue by quarter")
    single = linkedin.publish(Content("Chart", (one,)), CREDS, "k1")
    assert server.posts[single.remote_id]["content"]["media"]["altText"] == "Revenue by quarter"
    two = (one, MediaFile(PNG + b"2", "image/png", "b.png"))
    multi = linkedin.publish(Content("Charts", two), CREDS, "k2")
    images = server.posts[multi.remote_id]["content"]["multiImage"]["images"]
    assert len(images) == 2 and all(server.images[i["id"]]["data"] for i in images)


def test_the_first_comment_is_plain_text(server: LinkedInServer, clock: FakeClock) -> None:
    linkedin = connector(server, clock)
    body = Body((Item("News"),), (OptionValue("", "first_comment", "Link (here)"),))
    post_item, comment_item = linkedin.items(body.contents("linkedin:me", linkedin.options))
    post = linkedin.publish(post_item, CREDS, "k")
    comment = linkedin.publish(Content(comment_item.text, reply_to=post.ref(), root=post.ref()), CREDS, "k-1")
    stored = server.comments[comment.remote_id]
    assert stored["message"]["text"] == "Link (here)" and stored["object"] == post.remote_id
    assert comment.url is not None and comment.url.startswith(post.url or "?")


def test_posting_as_an_organization(server: LinkedInServer, clock: FakeClock) -> None:
    connector(server, clock).publish(
        Content("Org news", options={"author": "urn:li:organization:555"}), CREDS, "k"
    )
    assert [p["author"] for p in server.posts.values()] == ["urn:li:organization:555"]
    with pytest.raises(AuthExpired, match="403"):
        connector(server, clock).publish(
            Content("x", options={"author": "urn:li:organization:9"}), CREDS, "k2"
        )


def test_a_retired_version_says_what_to_set(server: LinkedInServer, clock: FakeClock) -> None:
    with pytest.raises(PermanentError, match=r"426: NONEXISTENT_VERSION.*--set version=YYYYMM"):
        connector(server, clock, version="202301").publish(Content("x"), CREDS, "k")


def test_a_missing_version_says_what_to_set(server: LinkedInServer, clock: FakeClock) -> None:
    answer = requests.post(
        f"{server.url}/rest/posts", json={}, timeout=5
    )  # what a client without the header gets
    error = classify(answer, clock.now, posting=True)
    assert isinstance(error, PermanentError) and "400: VERSION_MISSING" in error.message
    assert "--set version=YYYYMM" in error.message


@pytest.mark.parametrize(("where", "code"), [("expired", 65602), ("revoked", 65601), ("unknown", 65600)])
def test_refused_tokens(server: LinkedInServer, clock: FakeClock, where: str, code: int) -> None:
    if where != "unknown":
        getattr(server, where).add("li-token")
    token = {"access_token": "nope"} if where == "unknown" else CREDS
    with pytest.raises(AuthExpired, match="401"):
        connector(server, clock).publish(Content("x"), token, "k")
    assert server.requests[-1].header("Authorization") == f"Bearer {token['access_token']}"


def test_rate_limited_until_midnight_utc(server: LinkedInServer, clock: FakeClock) -> None:
    server.fault_rate_limited()
    with pytest.raises(RateLimited) as raised:
        connector(server, clock).publish(Content("x"), CREDS, "k")
    assert raised.value.retry_after == 15 * 3600  # 09:00 -> midnight


def test_a_duplicate_of_a_lost_attempt_is_found(server: LinkedInServer, clock: FakeClock) -> None:
    linkedin = connector(server, clock)
    server.fault_ambiguous()
    sent_at = clock.now
    with pytest.raises(OutcomeUnknown):
        linkedin.publish(Content("Big news"), CREDS, "k")
    with pytest.raises(DuplicateContent, match=r"DUPLICATE_POST|duplicate"):
        linkedin.publish(Content("Big news"), CREDS, "k")
    found = linkedin.lookup(Content("Big news"), CREDS, "k", sent_at=sent_at, replay_allowed=True)
    assert isinstance(found, Found) and found.result.remote_id in server.posts and len(server.posts) == 1


def test_a_duplicate_of_an_older_post_fails_without_sending(server: LinkedInServer, clock: FakeClock) -> None:
    linkedin = connector(server, clock)
    server.add_post(ME, "Same again", "Same again", at=clock.now - timedelta(hours=2))
    with pytest.raises(DuplicateContent) as raised:
        linkedin.publish(Content("Same again"), CREDS, "k")
    assert raised.value.kind == "DuplicateContent"
    assert isinstance(
        linkedin.lookup(Content("Same again"), CREDS, "k", sent_at=clock.now, replay_allowed=True), Absent
    )
    sent = len(server.requests)
    with pytest.raises(PermanentError, match="duplicate of an earlier post"):
        linkedin.publish(Content("Same again"), CREDS, "k")
    assert len(server.requests) == sent


def test_the_ambiguous_500_is_looked_up_among_the_authors_posts(
    server: LinkedInServer, clock: FakeClock
) -> None:
    linkedin = connector(server, clock)
    server.fault_ambiguous()
    with pytest.raises(OutcomeUnknown, match="500"):
        linkedin.publish(Content("Quarterly (Q4) results"), CREDS, "k")
    found = linkedin.lookup(
        Content("Quarterly (Q4) results"), CREDS, "k", sent_at=clock.now, replay_allowed=True
    )
    assert isinstance(found, Found)
    assert isinstance(
        linkedin.lookup(Content("Other"), CREDS, "k2", sent_at=clock.now, replay_allowed=True), Absent
    )
    server.readable = False
    assert isinstance(
        linkedin.lookup(Content("Other"), CREDS, "k2", sent_at=clock.now, replay_allowed=True), Undecidable
    )


def test_a_slow_answer_is_unknown(server: LinkedInServer, clock: FakeClock) -> None:
    server.fault_slow(2.5)
    with pytest.raises(OutcomeUnknown, match="no answer"):
        connector(server, clock).publish(Content("slow"), CREDS, "k")
