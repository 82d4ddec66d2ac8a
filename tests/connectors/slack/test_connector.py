"""The Slack connector against the contract server (written from Slack's documentation): an
incoming webhook (no id, no link), a bot's `chat.postMessage` with `ts`, its permalink and threads,
escaping, the text limit, every row of the error table, and both kinds of lookup."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from postmast.connectors import Absent, Content, Found, RemoteRef, Undecidable
from postmast.connectors.errors import AuthExpired, OutcomeUnknown, PermanentError, RateLimited
from postmast.connectors.http import HttpClient
from postmast.connectors.slack import Slack
from tests.conftest import FakeClock
from tests.servers.base import Fault, Response
from tests.servers.slack import (
    BOT_ID,
    BOT_TOKEN,
    CHANNEL,
    OUTSIDE,
    PRIVATE,
    TEAM_URL,
    WEBHOOK_PATH,
    SlackServer,
    fail,
    text_answer,
)

BOT = {"bot_token": BOT_TOKEN}
TRICKY = "Q&A tonight <!channel> with <@U0BOSS> — 1 < 2 > 0, <https://evil.example|click>"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[SlackServer]:
    running = SlackServer(clock=clock).start()
    yield running
    running.stop()


def hook(server: SlackServer) -> dict[str, str]:
    return {"webhook_url": server.url + WEBHOOK_PATH}


def webhook(clock: FakeClock, read_timeout: float = 3) -> Slack:
    return Slack({}, HttpClient(connect_timeout=2, read_timeout=read_timeout), clock=clock)


def bot(server: SlackServer, clock: FakeClock, channel: str = CHANNEL, read_timeout: float = 3) -> Slack:
    settings = {"channel": channel, "api_base": f"{server.url}/api"}
    connector = Slack(settings, HttpClient(connect_timeout=2, read_timeout=read_timeout), clock=clock)
    connector.cache = {"bot_id": BOT_ID}
    return connector


def permalink(ts: str) -> str:
    return f"{TEAM_URL}archives/{CHANNEL}/p{ts.replace('.', '')}"


# -- webhooks ------------------------------------------------------------------------------------


def test_a_webhook_post_arrives_as_typed_without_an_id(server: SlackServer, clock: FakeClock) -> None:
    result = webhook(clock).publish(Content(TRICKY, options={"unfurl_links": False}), hook(server), "k1")
    [request] = server.posts()
    assert request.json() == {
        "text": "Q&amp;A tonight &lt;!channel&gt; with &lt;@U0BOSS&gt; — 1 &lt; 2 &gt; 0, "
        "&lt;https://evil.example|click&gt;",
        "unfurl_links": False,
    }
    [message] = server.created
    assert message["text"] == TRICKY and message["notified"] == []  # literal, and nobody paged
    assert (result.remote_id, result.url) == ("k1", None)


def test_a_webhook_cannot_thread_or_reply() -> None:
    connector = Slack({})
    [problem] = connector.validate_thread([Content("1/2"), Content("2/2")])[:1]
    assert problem.message == "a Slack webhook cannot post a thread (a bot account can)"
    [problem] = connector.validate(Content("hi", reply_to=RemoteRef("1796115600.000001")))
    assert problem.message == "a Slack webhook cannot reply to a message (a bot account can)"


@pytest.mark.parametrize(
    ("fault", "error", "words"),
    [
        ("removed", AuthExpired, "no_service"),
        (text_answer(403, "action_prohibited"), AuthExpired, "action_prohibited"),
        (text_answer(410, "channel_is_archived"), AuthExpired, "channel_is_archived"),
        (text_answer(400, "invalid_payload"), PermanentError, "invalid_payload"),
    ],
)
def test_webhook_errors(server: SlackServer, clock: FakeClock, fault, error, words: str) -> None:
    if fault == "removed":
        server.remove_webhook()
    else:
        server.inject(Fault(response=fault))
    with pytest.raises(error, match=words) as caught:
        webhook(clock).publish(Content("hi"), hook(server), "k1")
    assert "wEbHoOkSeCrEt" not in str(caught.value) and server.created == []


def test_a_webhook_429_waits_retry_after(server: SlackServer, clock: FakeClock) -> None:
    server.inject(Fault(response=text_answer(429, "rate_limited", {"Retry-After": "30"})))
    with pytest.raises(RateLimited) as caught:
        webhook(clock).publish(Content("hi"), hook(server), "k1")
    assert caught.value.retry_after == 30


def test_a_webhook_rollup_error_after_posting_is_unknown_and_cannot_be_asked(
    server: SlackServer, clock: FakeClock
) -> None:
    server.inject(Fault(response=text_answer(500, "rollup_error"), after_processing=True))
    with pytest.raises(OutcomeUnknown, match="rollup_error"):
        webhook(clock).publish(Content("hi"), hook(server), "k1")
    answer = webhook(clock).lookup(Content("hi"), hook(server), "k1", sent_at=clock(), replay_allowed=True)
    assert isinstance(answer, Undecidable) and "answers only 'ok'" in answer.reason
    assert len(server.created) == 1 and len(server.requests) == 1


def test_a_slow_webhook_is_unknown_and_names_no_secret(server: SlackServer, clock: FakeClock) -> None:
    server.inject(Fault(delay=1.5))
    with pytest.raises(OutcomeUnknown, match="no answer") as caught:
        webhook(clock, read_timeout=0.5).publish(Content("hi"), hook(server), "k1")
    assert "wEbHoOkSeCrEt" not in str(caught.value)


# -- a bot ---------------------------------------------------------------------------------------


def test_a_bot_post_has_its_ts_and_permalink(server: SlackServer, clock: FakeClock) -> None:
    result = bot(server, clock).publish(Content(TRICKY), BOT, "k1")
    [request] = server.posts()
    body = request.json()
    assert body["channel"] == CHANNEL and body["metadata"] == {
        "event_type": "postmast_post",
        "event_payload": {"idempotency_key": "k1"},
    }
    assert request.header("Authorization") == f"Bearer {BOT_TOKEN}"
    [message] = server.created
    assert message["text"] == TRICKY and message["notified"] == []
    assert (result.remote_id, result.url) == (message["id"], permalink(message["id"]))


def test_a_thread_goes_into_the_first_items_thread(server: SlackServer, clock: FakeClock) -> None:
    connector = bot(server, clock)
    first = connector.publish(Content("1/3"), BOT, "k")
    second = connector.publish(Content("2/3", reply_to=first.ref(), root=first.ref()), BOT, "k-1")
    connector.publish(Content("3/3", reply_to=second.ref(), root=first.ref()), BOT, "k-2")
    assert [m["thread_ts"] for m in server.created] == [None, first.remote_id, first.remote_id]
    assert second.url == f"{permalink(second.remote_id)}?thread_ts={first.remote_id}&cid={CHANNEL}"


def test_a_reply_to_a_message_ts_or_permalink(server: SlackServer, clock: FakeClock) -> None:
    connector = bot(server, clock)
    parent = connector.publish(Content("parent"), BOT, "k0")
    connector.publish(Content("child", reply_to=RemoteRef(parent.url or "")), BOT, "k1")
    assert server.created[1]["thread_ts"] == parent.remote_id
    [problem] = connector.validate(Content("x", reply_to=RemoteRef("yesterday")))
    assert problem.code == "reply"


def test_the_text_limit_counts_the_escaped_text() -> None:
    connector = Slack({})
    assert connector.validate(Content("x" * 40_000)) == []
    [problem] = connector.validate(Content("&" * 8_001))  # 40,005 characters once escaped
    assert problem.message == "text is 40005 characters, over Slack's limit of 40000"
    tighter = Slack({"max_length": "4000"})
    assert tighter.validate(Content("x" * 4001))[0].code == "too_long"
    assert connector.payload(Content("a<b")) == {"json": {"text": "a&lt;b"}, "length": 6}


def test_slack_would_truncate_beyond_40000(server: SlackServer, clock: FakeClock) -> None:
    """Why the limit is refused at queue time: Slack posts a cut text and only warns."""
    answer = bot(server, clock).http.post(
        f"{server.url}/api/chat.postMessage",
        json={"channel": CHANNEL, "text": "x" * 40_001},
        headers={"Authorization": f"Bearer {BOT_TOKEN}"},
    )
    assert answer.json()["response_metadata"] == {"warnings": ["message_truncated"]}
    assert len(server.created[0]["raw"]) == 40_000


@pytest.mark.parametrize(
    ("channel", "word"),
    [
        (OUTSIDE, "not_in_channel.*invite the app"),
        (PRIVATE, "channel_not_found"),
        ("C0NOWHERE0", "channel_not_found"),
    ],
)
def test_a_channel_the_bot_cannot_post_to_needs_attention(
    server: SlackServer, clock: FakeClock, channel: str, word: str
) -> None:
    with pytest.raises(AuthExpired, match=word):
        bot(server, clock, channel=channel).publish(Content("hi"), BOT, "k1")
    assert server.created == []


def test_a_revoked_token_and_a_missing_scope_need_attention(server: SlackServer, clock: FakeClock) -> None:
    server.scopes.discard("chat:write")
    with pytest.raises(AuthExpired, match="missing_scope"):
        bot(server, clock).publish(Content("hi"), BOT, "k1")
    server.revoke()
    with pytest.raises(AuthExpired, match="invalid_auth") as caught:
        bot(server, clock).publish(Content("hi"), BOT, "k1")
    assert BOT_TOKEN not in str(caught.value)


def test_a_bot_429_waits_retry_after(server: SlackServer, clock: FakeClock) -> None:
    server.inject(Fault(response=Response(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"})))
    with pytest.raises(RateLimited) as caught:
        bot(server, clock).publish(Content("hi"), BOT, "k1")
    assert caught.value.retry_after == 7


def test_the_channels_own_budget_answers_429(clock: FakeClock) -> None:
    server = SlackServer(clock=clock, per_channel=1, window=30).start()
    try:
        connector = bot(server, clock)
        connector.publish(Content("one"), BOT, "k1")
        with pytest.raises(RateLimited):
            connector.publish(Content("two"), BOT, "k2")
        assert [m["text"] for m in server.created] == ["one"]
    finally:
        server.stop()


def test_an_internal_error_after_posting_is_unknown_and_the_lookup_finds_it(
    server: SlackServer, clock: FakeClock
) -> None:
    connector = bot(server, clock)
    server.inject(
        Fault(
            match=lambda r: r.path.endswith("chat.postMessage"),
            response=fail("internal_error"),
            after_processing=True,
        )
    )
    sent_at = clock()
    with pytest.raises(OutcomeUnknown, match="internal_error"):
        connector.publish(Content(TRICKY), BOT, "k1")
    clock.advance(300)
    found = connector.lookup(Content(TRICKY), BOT, "k1", sent_at=sent_at, replay_allowed=True)
    assert isinstance(found, Found) and found.result.remote_id == server.created[0]["id"]
    assert found.result.url == permalink(server.created[0]["id"])
    absent = connector.lookup(Content(TRICKY), BOT, "another-key", sent_at=sent_at, replay_allowed=True)
    assert isinstance(absent, Absent)  # same text, but not this item's key
    assert len(server.posts()) == 1


def test_a_lookup_of_a_thread_item_reads_the_thread(server: SlackServer, clock: FakeClock) -> None:
    connector = bot(server, clock)
    first = connector.publish(Content("1/2"), BOT, "k")
    second = Content("2/2", reply_to=first.ref(), root=first.ref())
    assert isinstance(connector.lookup(second, BOT, "k-1", sent_at=clock(), replay_allowed=True), Absent)
    connector.publish(second, BOT, "k-1")
    found = connector.lookup(second, BOT, "k-1", sent_at=clock(), replay_allowed=True)
    assert isinstance(found, Found) and found.result.remote_id == server.created[1]["id"]
    assert [r.path for r in server.requests if "conversations" in r.path] == [
        "/api/conversations.replies"
    ] * 2


def test_a_message_without_metadata_is_recognised_by_bot_and_text(
    server: SlackServer, clock: FakeClock
) -> None:
    server.channels[CHANNEL].messages.append(
        {"type": "message", "ts": f"{clock().timestamp():.0f}.000900", "text": "a &amp; b", "bot_id": BOT_ID}
    )
    found = bot(server, clock).lookup(Content("a & b"), BOT, "k1", sent_at=clock(), replay_allowed=True)
    assert isinstance(found, Found) and found.result.remote_id.endswith(".000900")


def test_without_the_history_scope_a_lookup_cannot_tell(server: SlackServer, clock: FakeClock) -> None:
    server.scopes -= {"channels:history", "groups:history"}
    answer = bot(server, clock).lookup(Content("x"), BOT, "k1", sent_at=clock(), replay_allowed=True)
    assert isinstance(answer, Undecidable) and "channels:history" in answer.reason


def test_older_messages_than_one_page_cannot_be_ruled_out(server: SlackServer, clock: FakeClock) -> None:
    connector = bot(server, clock)
    for n in range(101):
        server.channels[CHANNEL].messages.append(
            {
                "type": "message",
                "ts": f"{clock().timestamp():.0f}.{n + 500:06d}",
                "text": "chatter",
                "user": "U9",
            }
        )
    answer = connector.lookup(
        Content("x"), BOT, "k1", sent_at=clock() - timedelta(seconds=1), replay_allowed=True
    )
    assert isinstance(answer, Undecidable)


def test_a_missing_permalink_leaves_the_post_published(server: SlackServer, clock: FakeClock) -> None:
    server.inject(
        Fault(match=lambda r: r.path.endswith("chat.getPermalink"), response=Response(503, raw=b"busy"))
    )
    result = bot(server, clock).publish(Content("hi"), BOT, "k1")
    assert result.remote_id == server.created[0]["id"] and result.url is None


def test_discover_reads_the_workspace(server: SlackServer, clock: FakeClock) -> None:
    assert bot(server, clock).discover(BOT) == {"team_url": TEAM_URL, "team": "Harbour", "bot_id": BOT_ID}
    assert webhook(clock).discover(hook(server)) == {} and len(server.requests) == 1


def test_settings_and_secrets() -> None:
    assert Slack.check_settings({"channel": CHANNEL}) == []
    assert Slack.check_settings({"channel": "#general"})[0].message.startswith("channel must be a channel id")
    assert Slack.check_secrets({"webhook_url": "https://hooks.slack.com/services/T0/B0/abc"}) == []
    [problem] = Slack.check_secrets({"bot_token": "xoxp-user-s3cret"})
    assert "s3cret" not in problem.message and problem.message.startswith("bot_token must be a bot token")
    [problem] = Slack.check_secrets({})
    assert problem.message == "give webhook_url, or bot_token (with --set channel=...)"
    with pytest.raises(AuthExpired, match="no bot_token"):
        Slack({"channel": CHANNEL}).publish(
            Content("x"), {"webhook_url": "https://hooks.slack.com/services/x"}, "k"
        )
