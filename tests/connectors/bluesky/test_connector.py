"""The Bluesky connector against the reference PDS (@atproto/pds), through a counting, fault-injecting proxy.

Records are read back from the PDS itself; the proxy (tests/servers/bluesky.py) only counts
requests and scripts what the PDS cannot do on demand (lost answers, gateway errors, 429).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from postmast.connectors import RemoteRef, get_connector
from postmast.connectors.bluesky import Bluesky
from postmast.connectors.bluesky.tid import from_key
from postmast.connectors.content import Absent, Content, Found, MediaFile, Undecidable
from postmast.connectors.errors import (
    AuthExpired,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.connectors.http import HttpClient
from tests.servers.base import Fault
from tests.servers.bluesky import (
    PdsProxy,
    create_account,
    forge_expired,
    get_record,
    pds_proxy,
    png,
    records,
    xrpc_error,
)

__all__ = ["pds_proxy"]

CREATE = "com.atproto.repo.createRecord"
LOGIN = "com.atproto.server.createSession"
REFRESH = "com.atproto.server.refreshSession"
FAMILY = "👨‍👩‍👧‍👧"  # 1 grapheme, 25 bytes


@pytest.fixture(scope="module")
def account(pds):
    """One poster for the module (accounts are slow to make); tests use their own texts and keys."""
    return create_account(pds.url, "p")


@pytest.fixture(scope="module")
def friend(pds):
    return create_account(pds.url, "f")


def bluesky(proxy: PdsProxy, account, *, state=None, **settings: str) -> Bluesky:
    """A connector holding the session createAccount gave (no slow login unless a test wants one)."""
    return Bluesky(
        {"handle": account.handle, "service": proxy.url, **settings},
        HttpClient(read_timeout=5),
        state=account.state(proxy.url) if state is None else state,
    )


def secrets(account, password: str | None = None) -> dict[str, str]:
    return {"app_password": password or account.app_password}


def posts(pds, account, text: str) -> list[str]:
    """URIs of the account's posts with this text."""
    return [r["uri"] for r in records(pds.url, account.did) if r["value"]["text"] == text]


def image(width: int = 4, height: int = 3, alt: str = "a red square") -> MediaFile:
    return MediaFile(png(width, height), "image/png", "red.png", alt, width, height)


# -- manifest, settings, discovery --------------------------------------------------------------------


def test_the_registry_finds_bluesky_and_its_manifest() -> None:
    assert get_connector("bluesky") is Bluesky
    assert (Bluesky.max_length, Bluesky.max_media, Bluesky.threads) == (300, 4, True)
    assert set(Bluesky.media_limits.values()) == {1_000_000}
    assert [f.name for f in Bluesky.secret_fields] == ["app_password"]


def test_the_declared_options_are_language_and_the_first_comment() -> None:
    """`langs` is the one post option the record takes here; there are no content warnings with a
    text, and every post is public."""
    assert [(o.name, o.kind, o.per_item) for o in Bluesky.options] == [
        ("language", "text", False),
        ("first_comment", "text", False),
    ]
    assert Bluesky.check_options({"language": "pt-BR"}) == []
    [problem] = Bluesky.check_options({"language": "Portuguese!"})
    assert problem.code == "option" and "is not a language tag such as en or pt-BR" in problem.message
    unknown = [p.message for p in Bluesky.check_options({"spoiler_text": "cw", "visibility": "public"})]
    assert unknown == [
        "unknown option 'spoiler_text' for bluesky (known: language, first_comment)",
        "unknown option 'visibility' for bluesky (known: language, first_comment)",
    ]


def test_settings_need_a_handle_or_an_identifier_and_a_real_service() -> None:
    assert [p.message for p in Bluesky.check_settings({})] == [
        "missing setting 'handle': the account's handle, e.g. brand.bsky.social"
    ]
    assert Bluesky.check_settings({"identifier": "me@example.com"}) == []
    assert (
        "service must be an absolute http(s) URL"
        in Bluesky.check_settings({"handle": "a.test", "service": "pds.example"})[0].message
    )
    assert Bluesky({"handle": "a.test"}).service == "https://bsky.social"


def test_discover_logs_in_once_and_caches_the_did_and_handle(pds_proxy, account) -> None:
    connector = bluesky(pds_proxy, account, state={})
    assert connector.discover(secrets(account)) == {"did": account.did, "handle": account.handle}
    assert connector.cache == {"did": account.did, "handle": account.handle}
    assert connector.state["pds"] == pds_proxy.url and connector.state["accessJwt"]
    assert pds_proxy.count(LOGIN) == 1


def test_a_handle_written_with_an_at_sign_still_logs_in(pds_proxy, account) -> None:
    connector = bluesky(pds_proxy, account, state={}, handle=f"@{account.handle}")
    assert connector.discover(secrets(account))["did"] == account.did
    assert pds_proxy.calls(LOGIN)[0].json()["identifier"] == account.handle


def test_discover_with_a_stored_session_asks_the_session_not_a_login(pds_proxy, account) -> None:
    connector = bluesky(pds_proxy, account)
    assert connector.discover(secrets(account))["handle"] == account.handle
    assert pds_proxy.count(LOGIN) == 0 and pds_proxy.count("com.atproto.server.getSession") == 1


def test_account_add_with_a_wrong_app_password_fails_with_a_clear_line(cli, pds_proxy, account) -> None:
    args = ["account", "add", "bluesky", "brand", "--set", f"handle={account.handle}"]
    args += ["--set", f"service={pds_proxy.url}", "--secrets-from-stdin"]
    refused = cli(*args, input="app_password=not-the-password\n")
    assert refused.code != 0
    assert "bluesky:brand: Bluesky refused the credentials" in refused.err
    assert "AuthenticationRequired" in refused.err and "not-the-password" not in refused.err + refused.out
    added = cli(*args, input=f"app_password={account.app_password}\n")
    assert added.code == 0, added.err
    dry = cli("post", f"{FAMILY} hi #tag", "--to", "bluesky:brand", "--dry-run", "--json")
    assert dry.code == 0, dry.err
    [target] = json.loads(dry.out)["targets"]
    assert (target["length"], target["limit"], target["ok"]) == (9, 300, True)  # graphemes: the family is 1
    assert target["payload"]["repo"] == account.did and target["payload"]["record"]["facets"]
    assert "warnings" not in target  # only when there is one
    assert pds_proxy.count(LOGIN) == 2 and pds_proxy.count(CREATE) == 0
    ghost = cli("post", "hi @ghost.test", "--to", "bluesky:brand", "--dry-run")
    assert ghost.code == 0, ghost.err  # a warning, not a refusal
    assert "(unresolved: @ghost.test did not resolve" in ghost.out
    assert "  warning: mention @ghost.test does not resolve to a Bluesky account" in ghost.out
    as_json = cli("post", "hi @ghost.test", "--to", "bluesky:brand", "--dry-run", "--json")
    [warning] = json.loads(as_json.out)["targets"][0]["warnings"]
    assert warning.startswith("mention @ghost.test does not resolve")


# -- validation ------------------------------------------------------------------------------------


def problems(content: Content) -> list[tuple[str, str]]:
    return [(p.code, p.message) for p in Bluesky({"handle": "a.test"}).validate(content)]


def test_length_is_300_graphemes_and_3000_bytes() -> None:
    assert problems(Content("a" * 300)) == []
    assert problems(Content("a" * 301)) == [
        ("too_long", "text is 301 characters, over Bluesky's limit of 300")
    ]
    assert problems(Content(FAMILY * 120)) == []  # 3000 bytes, 120 graphemes
    assert problems(Content(FAMILY * 120 + "a")) == [
        ("too_long", "text is 3001 bytes, over Bluesky's limit of 3000")
    ]


@pytest.mark.parametrize(
    ("text", "accepted"),
    [("x" * 300, True), ("x" * 301, False), (FAMILY * 120, True), (FAMILY * 120 + "!", False)],
)
def test_the_pds_draws_the_same_lines(pds_proxy, account, monkeypatch, text, accepted) -> None:
    monkeypatch.setattr(Bluesky, "validate", lambda self, content: [])  # let the PDS judge
    connector = bluesky(pds_proxy, account)
    if accepted:
        assert connector.publish(Content(text), secrets(account), f"len-{len(text)}").remote_id
    else:
        with pytest.raises(PermanentError, match=r"400 to com.atproto.repo.createRecord: InvalidRequest"):
            connector.publish(Content(text), secrets(account), f"len-{len(text)}")


def test_media_rules() -> None:
    assert problems(Content("four", tuple(image() for _ in range(4)))) == []
    assert problems(Content("five", tuple(image() for _ in range(5))))[0][0] == "media"
    big = MediaFile(b"\0" * 1_000_001, "image/jpeg", "big.jpg", "alt")
    assert "big.jpg is 1.0 MB, over Bluesky's limit" in problems(Content("x", (big,)))[0][1]
    assert problems(Content("x", (MediaFile(b"\0" * 1_000_000, "image/jpeg", "ok.jpg"),))) == []
    for mime in ("video/mp4", "image/gif"):
        assert "not accepted by Bluesky" in problems(Content("x", (MediaFile(b"\0", mime, "m"),)))[0][1]
    assert "alt text of red.png" in problems(Content("x", (image(alt="a" * 2001),)))[0][1]


def test_options_and_reply_targets() -> None:
    assert problems(Content("x", options={"language": "pt-BR"})) == []
    assert [c for c, _ in problems(Content("x", options={"spoiler_text": "cw", "visibility": "direct"}))] == [
        "option",
        "option",
    ]
    assert problems(Content("x", options={"language": "Portuguese!"}))[0][0] == "option"
    for good in (
        "at://did:plc:abc/app.bsky.feed.post/3k4duaz5vfs2b",
        "https://bsky.app/profile/a.test/post/3k4d",
    ):
        assert problems(Content("x", reply_to=RemoteRef(good))) == []
    assert problems(Content("x", reply_to=RemoteRef("12345")))[0][0] == "reply"


def test_an_oversized_image_is_refused_before_anything_is_sent(pds_proxy, account) -> None:
    big = MediaFile(b"\0" * 1_000_001, "image/png", "big.png", "alt", 10, 10)
    with pytest.raises(PermanentError, match="over Bluesky's limit"):
        bluesky(pds_proxy, account).publish(Content("x", (big,)), secrets(account), "k")
    assert pds_proxy.requests == []


# -- publishing ------------------------------------------------------------------------------------


def test_a_post_with_facets_an_image_and_a_language_reads_back_as_sent(
    pds, pds_proxy, account, friend
) -> None:
    text = f"Hé {FAMILY} @{friend.handle} @ghost.test example.com/a #launch"
    result = bluesky(pds_proxy, account).publish(
        Content(text, (image(4, 3),), options={"language": "fr"}), secrets(account), "post-1"
    )
    rkey = from_key("post-1")
    assert result.remote_id == f"at://{account.did}/app.bsky.feed.post/{rkey}"
    assert result.url == f"https://bsky.app/profile/{account.handle}/post/{rkey}"
    view = get_record(pds.url, result.remote_id)
    assert result.extra == {
        "uri": view["uri"],
        "cid": view["cid"],
        "root_uri": view["uri"],
        "root_cid": view["cid"],
    }
    record = view["value"]
    assert record["text"] == text and record["langs"] == ["fr"] and "reply" not in record
    data = text.encode()
    cut = [
        (data[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode(), f["features"])
        for f in record["facets"]
    ]
    assert cut == [
        (f"@{friend.handle}", [{"$type": "app.bsky.richtext.facet#mention", "did": friend.did}]),
        ("example.com/a", [{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/a"}]),
        ("#launch", [{"$type": "app.bsky.richtext.facet#tag", "tag": "launch"}]),
    ]  # @ghost.test does not resolve: no facet, as in the official client, and the result says so
    assert result.notes == ("mention @ghost.test did not resolve to a Bluesky account: sent as plain text",)
    [picture] = record["embed"]["images"]
    assert record["embed"]["$type"] == "app.bsky.embed.images"
    assert picture["alt"] == "a red square" and picture["aspectRatio"] == {"width": 4, "height": 3}
    assert picture["image"]["mimeType"] == "image/png" and picture["image"]["size"] == len(png(4, 3))
    assert [r.query["handle"] for r in pds_proxy.calls("com.atproto.identity.resolveHandle")] == [
        [friend.handle],
        ["ghost.test"],
    ]


def test_a_link_without_an_image_gets_a_card_built_without_fetching_the_page(pds, pds_proxy, account) -> None:
    result = bluesky(pds_proxy, account).publish(
        Content("read https://example.org/news?id=1."), secrets(account), "card"
    )
    embed = get_record(pds.url, result.remote_id)["value"]["embed"]
    assert embed == {
        "$type": "app.bsky.embed.external",
        "external": {
            "uri": "https://example.org/news?id=1",
            "title": "https://example.org/news?id=1",
            "description": "",
        },
    }


def test_the_same_idempotency_key_never_makes_a_second_post(pds, pds_proxy, account) -> None:
    connector = bluesky(pds_proxy, account)
    first = connector.publish(Content("only once"), secrets(account), "same-key")
    again = connector.publish(Content("only once"), secrets(account), "same-key")
    assert again == first
    assert posts(pds, account, "only once") == [first.remote_id]
    assert [r.json()["rkey"] for r in pds_proxy.calls(CREATE)] == [from_key("same-key")] * 2
    with pytest.raises(PermanentError, match="already holds a different post"):
        connector.publish(Content("another text"), secrets(account), "same-key")


def test_an_answer_lost_after_the_pds_created_the_post_is_found_not_reposted(pds, pds_proxy, account) -> None:
    connector = bluesky(pds_proxy, account)
    content = Content("the answer gets lost")
    pds_proxy.inject(Fault(match=pds_proxy.when(CREATE), drop=True, after_processing=True))
    with pytest.raises(OutcomeUnknown):
        connector.publish(content, secrets(account), "lost")
    found = connector.lookup(
        content, secrets(account), "lost", sent_at=datetime.now(UTC), replay_allowed=True
    )
    assert isinstance(found, Found) and found.result.url and found.result.url.endswith(from_key("lost"))
    assert connector.publish(content, secrets(account), "lost") == found.result
    assert posts(pds, account, "the answer gets lost") == [found.result.remote_id]


def test_lookup_says_absent_found_or_cannot_tell(pds_proxy, account) -> None:
    connector = bluesky(pds_proxy, account)
    content = Content("look me up")
    kwargs: dict[str, Any] = {"sent_at": datetime.now(UTC), "replay_allowed": True}
    assert isinstance(connector.lookup(content, secrets(account), "lk", **kwargs), Absent)
    connector.publish(content, secrets(account), "lk")
    assert isinstance(connector.lookup(content, secrets(account), "lk", **kwargs), Found)
    other = connector.lookup(Content("other"), secrets(account), "lk", **kwargs)
    assert isinstance(other, Undecidable)
    pds_proxy.inject(Fault(response=xrpc_error(503, "NotEnoughResources")))
    with pytest.raises(TransientError):
        connector.lookup(content, secrets(account), "lk", **kwargs)


def test_a_500_for_a_free_key_is_transient_and_the_retry_posts_once(pds, pds_proxy, account) -> None:
    connector = bluesky(pds_proxy, account)
    pds_proxy.inject(Fault(match=pds_proxy.when(CREATE), response=xrpc_error(500, "InternalServerError")))
    with pytest.raises(TransientError):
        connector.publish(Content("retry me"), secrets(account), "r")
    result = connector.publish(Content("retry me"), secrets(account), "r")
    assert posts(pds, account, "retry me") == [result.remote_id]


def test_gateway_errors_are_unknown_only_once_the_post_was_sent(pds, pds_proxy, account) -> None:
    connector = bluesky(pds_proxy, account)
    pds_proxy.inject(
        Fault(match=pds_proxy.when("com.atproto.repo.uploadBlob"), response=xrpc_error(502, "x"))
    )
    with pytest.raises(TransientError):
        connector.publish(Content("pic", (image(),)), secrets(account), "g1")
    assert pds_proxy.count(CREATE) == 0
    pds_proxy.inject(Fault(match=pds_proxy.when(CREATE), response=xrpc_error(504, "UpstreamTimeout")))
    with pytest.raises(OutcomeUnknown):
        connector.publish(Content("gateway"), secrets(account), "g2")
    reset = int(time.time()) + 60
    pds_proxy.inject(
        Fault(response=xrpc_error(429, "RateLimitExceeded", headers={"RateLimit-Reset": str(reset)}))
    )
    with pytest.raises(RateLimited) as limited:
        connector.publish(Content("gateway"), secrets(account), "g3")
    assert 50 <= (limited.value.retry_after or 0) <= 61
    assert posts(pds, account, "pic") == posts(pds, account, "gateway") == []


def test_an_expired_access_token_is_refreshed_once_while_publishing(pds, pds_proxy, account) -> None:
    state = account.state(pds_proxy.url)
    state["accessJwt"] = expired = forge_expired(state["accessJwt"])
    connector = bluesky(pds_proxy, account, state=state)
    result = connector.publish(Content("after a refresh"), secrets(account), "fresh")
    assert get_record(pds.url, result.remote_id)["value"]["text"] == "after a refresh"
    assert (pds_proxy.count(LOGIN), pds_proxy.count(REFRESH), pds_proxy.count(CREATE)) == (0, 1, 2)
    assert connector.state["accessJwt"] != expired  # the worker persists the new pair


def test_a_refused_app_password_while_publishing_is_auth_expired_after_one_login(pds_proxy, account) -> None:
    state = {"accessJwt": "revoked", "refreshJwt": "revoked", "did": account.did, "pds": pds_proxy.url}
    connector = bluesky(pds_proxy, account, state=state)
    with pytest.raises(AuthExpired, match="check the handle and app password"):
        connector.publish(Content("never"), secrets(account, "wrong"), "auth")
    assert (pds_proxy.count(LOGIN), pds_proxy.count(CREATE)) == (1, 1)


# -- replies and threads -----------------------------------------------------------------------------


def test_replies_to_posts_named_by_uri_or_link_find_parent_and_root(pds, pds_proxy, account, friend) -> None:
    theirs = bluesky(pds_proxy, friend)
    top = theirs.publish(Content("top"), secrets(friend), "top")
    answer = theirs.publish(Content("answer", reply_to=top.ref(), root=top.ref()), secrets(friend), "ans")
    mine = bluesky(pds_proxy, account)
    link = f"https://bsky.app/profile/{friend.handle}/post/{answer.remote_id.rsplit('/', 1)[1]}"
    for name, reference in (("by-uri", answer.remote_id), ("by-link", link)):
        result = mine.publish(Content(name, reply_to=RemoteRef(reference)), secrets(account), name)
        reply = get_record(pds.url, result.remote_id)["value"]["reply"]
        assert reply["root"] == {"uri": top.remote_id, "cid": top.extra["cid"]}  # the parent's own root
        assert reply["parent"] == {"uri": answer.remote_id, "cid": answer.extra["cid"]}
        assert (result.extra["root_uri"], result.extra["root_cid"]) == (top.remote_id, top.extra["cid"])
        follow = mine.publish(
            Content(name + " 2", reply_to=result.ref(), root=result.ref()), secrets(account), name + "-1"
        )
        reply = get_record(pds.url, follow.remote_id)["value"]["reply"]
        assert reply["root"] == {"uri": top.remote_id, "cid": top.extra["cid"]}
        assert reply["parent"] == {"uri": result.remote_id, "cid": result.extra["cid"]}


def test_a_reply_to_a_missing_post_fails_before_posting(pds_proxy, account) -> None:
    missing = RemoteRef(f"at://{account.did}/app.bsky.feed.post/{from_key('nothing')}")
    with pytest.raises(PermanentError, match="does not exist"):
        bluesky(pds_proxy, account).publish(Content("hello?", reply_to=missing), secrets(account), "m")
    assert pds_proxy.count(CREATE) == 0


def test_the_dry_run_marks_mentions_unresolved_when_the_service_cannot_be_asked() -> None:
    connector = Bluesky({"handle": "a.test", "service": "http://127.0.0.1:9"}, HttpClient(connect_timeout=2))
    record = connector.payload(Content("hi @bob.test"))["record"]
    assert record["facets"][0]["features"][0]["did"].startswith("(unresolved: @bob.test did not resolve")
    [warning] = connector.notes(Content("hi @bob.test"))
    assert "http://127.0.0.1:9 could not be asked: could not connect to 127.0.0.1" in warning


def test_urls_use_the_handle_and_fall_back_to_the_did() -> None:
    uri = "at://did:plc:abc/app.bsky.feed.post/3k4duaz5vfs2b"
    assert Bluesky({"handle": "x"}, cache={"handle": "brand.test"}).public_url(uri) == (
        "https://bsky.app/profile/brand.test/post/3k4duaz5vfs2b"
    )
    assert (
        Bluesky({"handle": "x"}).public_url(uri) == "https://bsky.app/profile/did:plc:abc/post/3k4duaz5vfs2b"
    )


def test_the_dry_run_payload_shows_what_is_only_known_when_sent(pds_proxy, friend) -> None:
    connector = Bluesky({"handle": "a.test", "service": pds_proxy.url}, cache={"did": "did:plc:me"})
    text = f"hi @bob.test and @{friend.handle}, @BOB.test"
    body = connector.payload(Content(text, (image(),), reply_to=RemoteRef("at://did:plc:x/p/1")))
    record = body["record"]
    assert body["repo"] == "did:plc:me" and body["collection"] == "app.bsky.feed.post"
    assert [f["features"][0]["did"] for f in record["facets"]] == [
        "(unresolved: @bob.test did not resolve; it is sent as plain text unless it resolves when posted)",
        friend.did,  # resolved by the account's service, without credentials
        "(unresolved: @BOB.test did not resolve; it is sent as plain text unless it resolves when posted)",
    ]
    [warning] = connector.notes(Content(text))
    assert warning.startswith("mention @bob.test does not resolve to a Bluesky account (")
    assert "400 InvalidRequest" in warning or "HandleNotFound" in warning
    asked = [r.query["handle"] for r in pds_proxy.calls("com.atproto.identity.resolveHandle")]
    assert asked == [["bob.test"], [friend.handle]]  # once per handle, case-insensitively
    assert record["embed"]["images"][0]["image"]["ref"]["$link"] == "(uploaded when sent: red.png)"
    assert record["reply"]["parent"] == {"uri": "at://did:plc:x/p/1", "cid": "(read when sent)"}
