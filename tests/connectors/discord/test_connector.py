"""The Discord connector against the contract server (bodies checked against Discord's OpenAPI
spec): a webhook with `wait=true`, options, images as multipart, the bot's nonce, limits, links,
the error table with Discord's own 429, and both kinds of lookup."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from postmast.connectors import Absent, Content, Found, MediaFile, Undecidable
from postmast.connectors.discord import Discord
from postmast.connectors.discord.api import nonce
from postmast.connectors.errors import AuthExpired, OutcomeUnknown, PermanentError, RateLimited
from postmast.connectors.http import HttpClient
from tests.conftest import FakeClock
from tests.servers.base import Fault, Response
from tests.servers.discord import (
    BOT_TOKEN,
    CHANNEL,
    GUILD,
    WEBHOOK_ID,
    WEBHOOK_TOKEN,
    DiscordServer,
    rate_limited,
)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(conformance: Path, clock: FakeClock) -> Iterator[DiscordServer]:
    running = DiscordServer(conformance / "discord-api-spec" / "specs" / "openapi.json", clock=clock).start()
    yield running
    running.stop()


def hook_secrets(server: DiscordServer) -> dict[str, str]:
    return {"webhook_url": f"{server.url}/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"}


BOT = {"bot_token": BOT_TOKEN}


def webhook(server: DiscordServer, clock: FakeClock, read_timeout: float = 3) -> Discord:
    connector = Discord({}, HttpClient(connect_timeout=2, read_timeout=read_timeout), clock=clock)
    connector.cache = {"guild_id": GUILD}
    return connector


def bot(server: DiscordServer, clock: FakeClock) -> Discord:
    settings = {"channel_id": CHANNEL, "api_base": f"{server.url}/api/v10"}
    connector = Discord(settings, HttpClient(connect_timeout=2, read_timeout=3), clock=clock)
    connector.cache = {"guild_id": GUILD, "bot_id": "1300000000000000001"}
    return connector


def link(message_id: str) -> str:
    return f"https://discord.com/channels/{GUILD}/{CHANNEL}/{message_id}"


# -- webhooks ------------------------------------------------------------------------------------


def test_a_webhook_post_waits_for_its_message(server: DiscordServer, clock: FakeClock) -> None:
    result = webhook(server, clock).publish(Content("Doors open at 9 @everyone"), hook_secrets(server), "k1")
    [request] = server.posts()
    assert request.path == f"/api/v10/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}" and request.query == {
        "wait": ["true"]
    }
    assert request.json() == {"content": "Doors open at 9 @everyone", "allowed_mentions": {"parse": []}}
    [message] = server.created
    assert message["content"] == "Doors open at 9 @everyone" and message["mention_everyone"] is False
    assert (result.remote_id, result.url) == (message["id"], link(message["id"]))


def test_options_username_avatar_embed_and_flags(server: DiscordServer, clock: FakeClock) -> None:
    options = {
        "username": "Harbour News",
        "avatar_url": "https://example.org/a.png",
        "embed_title": "The programme",
        "embed_url": "https://example.org/programme",
        "suppress_embeds": True,
        "silent": True,
    }
    webhook(server, clock).publish(Content("See the programme", options=options), hook_secrets(server), "k1")
    [message] = server.created
    assert message["author"]["username"] == "Harbour News"
    assert message["author"]["avatar_url"] == "https://example.org/a.png"
    assert message["embeds"] == [
        {"title": "The programme", "url": "https://example.org/programme", "type": "rich"}
    ]
    assert message["flags"] == 4 | 4096


def test_images_go_as_multipart_with_their_alt_text(server: DiscordServer, clock: FakeClock) -> None:
    media = (
        MediaFile(PNG, "image/png", "a.png", alt="A lighthouse"),
        MediaFile(PNG[::-1], "image/png", "b.png"),
    )
    webhook(server, clock).publish(Content("Two views", media=media), hook_secrets(server), "k1")
    [request] = server.posts()
    assert "multipart/form-data" in (request.header("Content-Type") or "")
    [message] = server.created
    assert [(a["filename"], a["description"]) for a in message["attachments"]] == [
        ("a.png", "A lighthouse"),
        ("b.png", None),
    ]
    assert [server.files[a["id"]] for a in message["attachments"]] == [PNG, PNG[::-1]]


def test_a_webhook_takes_no_nonce(server: DiscordServer, clock: FakeClock) -> None:
    """The spec's webhook body has no nonce: the server refuses it where Discord would ignore it."""
    connector = webhook(server, clock)
    body = {"content": "x", "nonce": nonce("k1"), "enforce_nonce": True}
    answer = connector.http.post(hook_secrets(server)["webhook_url"].replace("/api/", "/api/v10/"), json=body)
    assert answer.status_code == 400 and "nonce" in answer.json()["errors"]
    assert connector._body(Content("x"), "k1").keys() == {"content", "allowed_mentions"}


def test_2000_characters_fit_and_2001_do_not(server: DiscordServer, clock: FakeClock) -> None:
    connector = webhook(server, clock)
    assert connector.validate(Content("😀" * 2000)) == []  # code points (Discord's API is Python 3)
    [problem] = connector.validate(Content("😀" * 2001))
    assert problem.message == "text is 2001 characters, over Discord's limit of 2000"
    connector.publish(Content("é" * 2000), hook_secrets(server), "k1")
    with pytest.raises(PermanentError, match=r"content: '.*' is too long"):  # the spec's maxLength
        connector.publish(Content("é" * 2001), hook_secrets(server), "k2")


def test_options_are_checked_at_queue_time() -> None:
    assert [p.message for p in Discord.check_options({"embed_url": "https://example.org"})] == [
        "embed_url needs embed_title (the embed's linked title)"
    ]
    assert [p.message for p in Discord.check_options({"avatar_url": "ftp://x"})] == [
        "avatar_url must be an absolute http(s) URL"
    ]
    as_bot = Discord({"channel_id": CHANNEL})
    [problem] = as_bot.validate(Content("hi", options={"username": "x"}))
    assert problem.message == "username and avatar_url apply to webhooks, not to a bot"


def test_dry_run_shows_the_json_files_and_length() -> None:
    media = (MediaFile(PNG, "image/png", "a.png", alt="alt"),)
    assert Discord({}).payload(Content("hi", media=media)) == {
        "payload_json": {
            "content": "hi",
            "allowed_mentions": {"parse": []},
            "attachments": [{"id": "0", "filename": "a.png", "description": "alt"}],
        },
        "files": ["files[0]: a.png, 72 bytes"],
        "length": 2,
    }
    assert Discord({"channel_id": CHANNEL}).payload(Content("hi"))["json"]["enforce_nonce"] is True


def test_discover_finds_the_guild_for_links(server: DiscordServer, clock: FakeClock) -> None:
    connector = Discord({}, HttpClient(connect_timeout=2, read_timeout=3), clock=clock)
    assert connector.publish(Content("hi"), hook_secrets(server), "k1").url is None  # no guild known yet
    connector.cache = connector.discover(hook_secrets(server))
    assert connector.cache["guild_id"] == GUILD
    assert connector.publish(Content("hi"), hook_secrets(server), "k2").url is not None


def test_a_deleted_webhook_or_wrong_token_needs_attention(server: DiscordServer, clock: FakeClock) -> None:
    wrong = {"webhook_url": f"{server.url}/api/webhooks/{WEBHOOK_ID}/not-the-token"}
    with pytest.raises(AuthExpired, match="Invalid Webhook Token") as caught:
        webhook(server, clock).publish(Content("hi"), wrong, "k1")
    assert "not-the-token" not in str(caught.value)
    server.delete_webhook()
    with pytest.raises(AuthExpired, match="webhook was deleted") as caught:
        webhook(server, clock).publish(Content("hi"), hook_secrets(server), "k1")
    assert WEBHOOK_TOKEN not in str(caught.value) and server.created == []


def test_discords_429_waits_retry_after(server: DiscordServer, clock: FakeClock) -> None:
    server.inject(Fault(response=rate_limited(64.57)))
    with pytest.raises(RateLimited) as caught:
        webhook(server, clock).publish(Content("hi"), hook_secrets(server), "k1")
    assert caught.value.retry_after == 64.57


def test_the_buckets_own_limit_answers_429_with_headers(conformance: Path, clock: FakeClock) -> None:
    server = DiscordServer(
        conformance / "discord-api-spec" / "specs" / "openapi.json", clock=clock, limit=2, window=30
    )
    server.start()
    try:
        connector = webhook(server, clock)
        connector.publish(Content("one"), hook_secrets(server), "k1")
        connector.publish(Content("two"), hook_secrets(server), "k2")
        with pytest.raises(RateLimited) as caught:
            connector.publish(Content("three"), hook_secrets(server), "k3")
        assert caught.value.retry_after is not None and 25 < caught.value.retry_after <= 30
        assert [m["content"] for m in server.created] == ["one", "two"]
    finally:
        server.stop()


def test_an_ambiguous_5xx_and_a_slow_answer_are_unknown(server: DiscordServer, clock: FakeClock) -> None:
    server.inject(Fault(response=Response(502, raw=b"<html>502</html>"), after_processing=True))
    with pytest.raises(OutcomeUnknown, match="may have been posted"):
        webhook(server, clock).publish(Content("one"), hook_secrets(server), "k1")
    server.inject(Fault(delay=1.5))
    with pytest.raises(OutcomeUnknown, match="no answer") as caught:
        webhook(server, clock, read_timeout=0.5).publish(Content("two"), hook_secrets(server), "k2")
    assert WEBHOOK_TOKEN not in str(caught.value)


def test_a_webhook_lookup_cannot_tell(server: DiscordServer, clock: FakeClock) -> None:
    answer = webhook(server, clock).lookup(
        Content("hi"), hook_secrets(server), "k1", sent_at=clock(), replay_allowed=True
    )
    assert isinstance(answer, Undecidable) and "webhooks take no nonce" in answer.reason
    assert server.requests == []


# -- a bot ---------------------------------------------------------------------------------------


def test_a_bot_sends_a_nonce_and_a_replay_returns_the_same_message(
    server: DiscordServer, clock: FakeClock
) -> None:
    connector = bot(server, clock)
    first = connector.publish(Content("Good morning"), BOT, "k1")
    again = connector.publish(Content("Good morning"), BOT, "k1")
    [request, _] = server.posts()
    assert request.json()["nonce"] == nonce("k1") and request.json()["enforce_nonce"] is True
    assert request.header("Authorization") == f"Bot {BOT_TOKEN}"
    assert again.remote_id == first.remote_id and len(server.created) == 1
    assert first.url == link(first.remote_id)


def test_a_bot_lookup_replays_the_nonce_while_it_is_remembered(
    server: DiscordServer, clock: FakeClock
) -> None:
    connector = bot(server, clock)
    server.inject(Fault(response=Response(504, raw=b"timeout"), after_processing=True))
    sent_at = clock()
    with pytest.raises(OutcomeUnknown):
        connector.publish(Content("Good morning"), BOT, "k1")
    clock.advance(30)
    answer = connector.lookup(Content("Good morning"), BOT, "k1", sent_at=sent_at, replay_allowed=True)
    assert isinstance(answer, Found) and answer.result.remote_id == server.created[0]["id"]
    assert len(server.created) == 1


def test_a_bot_lookup_reads_the_channel_after_the_nonce_window(
    server: DiscordServer, clock: FakeClock
) -> None:
    connector = bot(server, clock)
    sent_at = clock()
    connector.publish(Content("Good morning"), BOT, "k1")  # its answer, say, was lost
    clock.advance(600)
    found = connector.lookup(Content("Good morning"), BOT, "k1", sent_at=sent_at, replay_allowed=True)
    assert isinstance(found, Found) and found.result.remote_id == server.created[0]["id"]
    absent = connector.lookup(Content("Good evening"), BOT, "k2", sent_at=sent_at, replay_allowed=True)
    assert isinstance(absent, Absent)
    assert len(server.posts()) == 1  # the lookups only read
    listing = [r for r in server.requests if r.method == "GET" and r.path.endswith("/messages")]
    assert listing[0].query["limit"] == ["100"] and int(listing[0].query["after"][0]) > 0


def test_a_deleted_message_is_not_posted_again(server: DiscordServer, clock: FakeClock) -> None:
    connector = bot(server, clock)
    sent = connector.publish(Content("Oops"), BOT, "k1")
    server.delete_message(sent.remote_id)
    answer = connector.lookup(Content("Oops"), BOT, "k1", sent_at=clock(), replay_allowed=True)
    assert isinstance(answer, Undecidable) and "deleted" in answer.reason
    assert len(server.created) == 1


def test_a_bot_without_history_access_cannot_tell(server: DiscordServer, clock: FakeClock) -> None:
    server.perms.discard("read_history")
    answer = bot(server, clock).lookup(Content("x"), BOT, "k1", sent_at=clock(), replay_allowed=False)
    assert isinstance(answer, Undecidable) and "Read Message History" in answer.reason


def test_a_revoked_bot_or_missing_permission_needs_attention(server: DiscordServer, clock: FakeClock) -> None:
    server.perms.discard("send")
    with pytest.raises(AuthExpired, match="lacks a permission"):
        bot(server, clock).publish(Content("hi"), BOT, "k1")
    server.revoke_bot()
    with pytest.raises(AuthExpired, match="401") as caught:
        bot(server, clock).publish(Content("hi"), BOT, "k1")
    assert BOT_TOKEN not in str(caught.value)


def test_an_account_without_the_secret_its_mode_needs(server: DiscordServer, clock: FakeClock) -> None:
    with pytest.raises(AuthExpired, match="no bot_token"):
        bot(server, clock).publish(Content("hi"), hook_secrets(server), "k1")
    with pytest.raises(AuthExpired, match="no webhook_url"):
        webhook(server, clock).publish(Content("hi"), BOT, "k1")


def test_secrets_are_checked_without_echoing_them() -> None:
    assert Discord.check_secrets({"webhook_url": "https://discord.com/api/webhooks/1/abc"}) == []
    assert Discord.check_secrets({"bot_token": "x"}) == []
    [problem] = Discord.check_secrets({"webhook_url": "https://example.org/s3cret"})
    assert "s3cret" not in problem.message
    [problem] = Discord.check_secrets({})
    assert problem.message == "give webhook_url, or bot_token (with --set channel_id=...)"
    [problem] = Discord.check_settings({"channel_id": "#general"})
    assert problem.message.startswith("channel_id must be a channel's numeric id")


def test_a_bot_lookup_past_the_deadline_only_reads(server: DiscordServer, clock: FakeClock) -> None:
    answer = bot(server, clock).lookup(
        Content("never sent"), BOT, "k1", sent_at=clock() - timedelta(seconds=10), replay_allowed=False
    )
    assert isinstance(answer, Absent) and server.posts() == []


def test_a_bot_lookup_asks_who_it_is_when_it_does_not_know(server: DiscordServer, clock: FakeClock) -> None:
    connector = bot(server, clock)
    connector.cache = {"guild_id": GUILD}  # discover has not run yet
    sent_at = clock()
    connector.publish(Content("Good morning"), BOT, "k1")
    clock.advance(600)
    found = connector.lookup(Content("Good morning"), BOT, "k1", sent_at=sent_at, replay_allowed=False)
    assert isinstance(found, Found) and found.result.remote_id == server.created[0]["id"]
    assert any(r.path == "/api/v10/users/@me" for r in server.requests)
