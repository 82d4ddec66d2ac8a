"""The Telegram connector against the Bot API contract server (request shapes checked against
api.json): escaping, limits and the long-caption option, media, threads, links, and every row of the
error table, with the faults a real Bot API server shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from postmast.connectors import Content, MediaFile, RemoteRef, Undecidable
from postmast.connectors.errors import (
    AuthExpired,
    ConnectorError,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.connectors.http import HttpClient
from postmast.connectors.telegram import Telegram
from postmast.connectors.telegram.markdown import RESERVED
from tests.conftest import FakeClock
from tests.servers.base import Fault, Request, Response
from tests.servers.raw import refused_port
from tests.servers.telegram import TOKEN, TelegramServer, failure

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(64))
CREDENTIALS = {"bot_token": TOKEN}
EVERY_RESERVED = (
    "Doors open at 9! _under_ *star* [brackets] (parens) ~tilde~ `tick` > quote #tag +1 -1 =eq |pipe| "
    "{brace}. \\ back"
)


@pytest.fixture
def server(conformance: Path) -> Iterator[TelegramServer]:
    running = TelegramServer(conformance / "telegram-bot-api-spec" / "api.json").start()
    yield running
    running.stop()


def telegram(server: TelegramServer, chat: str = "@harbour_news", read_timeout: float = 3) -> Telegram:
    return Telegram(
        {"chat_id": chat, "api_base": server.url},
        HttpClient(connect_timeout=2, read_timeout=read_timeout),
        clock=FakeClock(),
    )


def on(method: str):
    return lambda request: request.path.endswith(f"/{method}")


# -- what arrives ------------------------------------------------------------------------------


def test_a_text_with_every_reserved_character_arrives_literally(server: TelegramServer) -> None:
    assert set(RESERVED) <= set(EVERY_RESERVED)
    result = telegram(server).publish(Content(EVERY_RESERVED), CREDENTIALS, "k1")
    [message] = server.created
    assert message["text"] == EVERY_RESERVED
    [request] = server.sends()
    assert request.json()["parse_mode"] == "MarkdownV2"
    assert (result.remote_id, result.url) == ("1", "https://t.me/harbour_news/1")


def test_options_silence_and_no_link_preview(server: TelegramServer) -> None:
    content = Content(
        "See https://example.org", options={"disable_notification": True, "disable_web_page_preview": True}
    )
    telegram(server).publish(content, CREDENTIALS, "k1")
    [request] = server.sends()
    body = request.json()
    assert body["disable_notification"] is True
    assert body["link_preview_options"] == {"is_disabled": True}
    assert "disable_web_page_preview" not in body  # gone from Bot API 10.1: the server refuses it
    assert server.created[0]["silent"] and server.created[0]["link_preview_disabled"]


def test_the_old_preview_field_is_refused_by_the_spec(server: TelegramServer) -> None:
    """The contract server checks fields against api.json: the replaced field is unknown there."""
    api = telegram(server)._api(CREDENTIALS)
    from postmast.connectors.telegram.api import Call

    with pytest.raises(PermanentError, match="unknown field 'disable_web_page_preview'"):
        api.call(
            Call("sendMessage", {"chat_id": "@harbour_news", "text": "x", "disable_web_page_preview": True}),
            FakeClock()(),
        )


def test_one_image_is_a_photo_with_its_caption(server: TelegramServer) -> None:
    content = Content("The lighthouse.", media=(MediaFile(PNG, "image/png", "lighthouse.png", alt="unused"),))
    telegram(server).publish(content, CREDENTIALS, "k1")
    [request] = server.sends()
    assert request.path.endswith("/sendPhoto") and "multipart/form-data" in (
        request.header("Content-Type") or ""
    )
    [message] = server.created
    assert message["kind"] == "photo" and message["text"] == "The lighthouse." and message["bytes"] == PNG


def test_several_images_are_an_album_captioned_once(server: TelegramServer) -> None:
    media = (MediaFile(PNG, "image/png", "a.png"), MediaFile(JPEG, "image/jpeg", "b.jpg"))
    result = telegram(server).publish(Content("Two views.", media=media), CREDENTIALS, "k1")
    assert len(server.sends("sendMediaGroup")) == 1
    first, second = server.created
    assert first["media_group_id"] == second["media_group_id"] is not None
    assert (first["text"], second["text"]) == ("Two views.", "")
    assert (first["bytes"], second["bytes"]) == (PNG, JPEG)
    assert result.extra["message_ids"] == "1,2"


def test_a_caption_of_1024_characters_fits_and_1025_is_refused_clearly() -> None:
    connector = Telegram({"chat_id": "@harbour_news"})
    image = (MediaFile(PNG, "image/png", "a.png"),)
    assert connector.validate(Content("é" * 1024, media=image)) == []
    [problem] = connector.validate(Content("é" * 1025, media=image))
    assert problem.message == (
        "text is 1,025 characters, over Telegram's limit of 1,024 for the caption of images "
        "(--option long_caption=split sends the images, then the text as a message)"
    )
    assert connector.validate(Content("é" * 1025, media=image, options={"long_caption": "split"})) == []
    assert connector.measure(Content("é" * 1025, media=image)).limit == 1024


def test_split_sends_the_images_then_the_text(server: TelegramServer) -> None:
    text = "🌊" * 3000
    content = Content(text, media=(MediaFile(PNG, "image/png", "a.png"),), options={"long_caption": "split"})
    connector = telegram(server)
    assert [r["method"] for r in connector.payload(content)["requests"]] == ["sendPhoto", "sendMessage"]
    result = connector.publish(content, CREDENTIALS, "k1")
    photo, message = server.created
    assert (photo["kind"], photo["text"]) == ("photo", "")
    assert (message["kind"], message["text"]) == ("text", text)
    assert (result.remote_id, result.extra["reply_id"]) == ("1", "2")
    assert connector.state == {}  # nothing left to remember


def test_a_split_post_never_sends_its_images_twice(server: TelegramServer) -> None:
    content = Content(
        "x" * 2000, media=(MediaFile(PNG, "image/png", "a.png"),), options={"long_caption": "split"}
    )
    connector = telegram(server)
    server.inject(
        Fault(
            match=on("sendMessage"), response=failure(429, "Too Many Requests: retry after 3", retry_after=3)
        )
    )
    with pytest.raises(RateLimited):
        connector.publish(content, CREDENTIALS, "k1")
    assert connector.state == {"telegram_sent": {"k1": [[1]]}}
    connector.publish(content, CREDENTIALS, "k1")  # the retry
    assert [m["kind"] for m in server.created] == ["photo", "text"]
    assert len(server.sends("sendPhoto")) == 1


def test_4096_characters_fit_and_4097_do_not(server: TelegramServer) -> None:
    connector = telegram(server)
    assert connector.validate(Content("😀" * 4096)) == []  # code points, not UTF-16 units
    [problem] = connector.validate(Content("😀" * 4097))
    assert problem.message == "text is 4097 characters, over Telegram's limit of 4096"
    connector.publish(
        Content("." * 4096), CREDENTIALS, "k1"
    )  # 8,192 characters escaped: counted after parsing
    with pytest.raises(PermanentError, match="message is too long"):  # the server's own check
        connector.publish(Content("x" * 4097), CREDENTIALS, "k2")


def test_thread_items_reply_to_the_previous_one(server: TelegramServer) -> None:
    connector = telegram(server)
    first = connector.publish(Content("1/2"), CREDENTIALS, "k")
    connector.publish(Content("2/2", reply_to=first.ref(), root=first.ref()), CREDENTIALS, "k-1")
    assert server.sends()[1].json()["reply_parameters"] == {"message_id": 1}
    assert server.created[1]["reply_to"] == 1


def test_a_reply_to_a_message_link_or_id() -> None:
    connector = Telegram({"chat_id": "@harbour_news"})
    assert connector.validate(Content("hi", reply_to=RemoteRef("https://t.me/harbour_news/41"))) == []
    assert connector.payload(Content("hi", reply_to=RemoteRef("41")))["requests"][0]["reply_parameters"] == {
        "message_id": 41
    }
    [problem] = connector.validate(Content("hi", reply_to=RemoteRef("at://nope")))
    assert problem.code == "reply"


def test_a_private_channel_has_no_public_link(server: TelegramServer) -> None:
    result = telegram(server, chat="-1009876543210").publish(Content("crew"), CREDENTIALS, "k1")
    assert (result.remote_id, result.url) == ("1", None)


def test_discover_learns_the_username_of_a_numeric_chat(server: TelegramServer) -> None:
    connector = telegram(server, chat="-1001234567890")
    facts = connector.discover(CREDENTIALS)
    assert facts == {
        "bot": "postmast_bot",
        "chat_type": "channel",
        "chat_title": "Harbour News",
        "username": "harbour_news",
    }
    connector.cache = facts
    assert connector.publish(Content("hi"), CREDENTIALS, "k").url == "https://t.me/harbour_news/1"


def test_dry_run_shows_the_requests_without_bytes_and_the_length() -> None:
    connector = Telegram({"chat_id": "@harbour_news"})
    media = (MediaFile(PNG, "image/png", "a.png"), MediaFile(JPEG, "image/jpeg", "b.jpg"))
    payload = connector.payload(Content("Hi.", media=media))
    assert payload == {
        "requests": [
            {
                "method": "sendMediaGroup",
                "chat_id": "@harbour_news",
                "media": [
                    {
                        "type": "photo",
                        "media": "<upload a.png, 72 bytes>",
                        "caption": "Hi\\.",
                        "parse_mode": "MarkdownV2",
                    },
                    {"type": "photo", "media": "<upload b.jpg, 68 bytes>"},
                ],
            }
        ],
        "length": 3,
    }


# -- the error table ---------------------------------------------------------------------------


def test_a_revoked_token_is_auth_expired(server: TelegramServer) -> None:
    server.revoke()
    with pytest.raises(AuthExpired, match="401: Unauthorized") as caught:
        telegram(server).publish(Content("hi"), CREDENTIALS, "k1")
    assert caught.value.http_status == 401 and TOKEN not in str(caught.value)


def test_a_malformed_token_is_auth_expired(server: TelegramServer) -> None:
    with pytest.raises(AuthExpired, match="404"):
        telegram(server).publish(Content("hi"), {"bot_token": "not-a-token"}, "k1")


def test_a_removed_bot_means_the_account_needs_attention(server: TelegramServer) -> None:
    server.remove_bot(-1001234567890)
    with pytest.raises(AuthExpired, match=r"bot is not a member of the channel chat.*add the bot back"):
        telegram(server).publish(Content("hi"), CREDENTIALS, "k1")
    assert server.created == []


def test_an_unknown_chat_needs_attention(server: TelegramServer) -> None:
    with pytest.raises(AuthExpired, match=r"chat not found.*check chat_id"):
        telegram(server, chat="@somebody_else").publish(Content("hi"), CREDENTIALS, "k1")


def test_a_group_that_became_a_supergroup_names_the_new_id(server: TelegramServer) -> None:
    server.inject(
        Fault(
            response=failure(
                400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id=-1001111
            )
        )
    )
    with pytest.raises(AuthExpired, match="set chat_id=-1001111"):
        telegram(server).publish(Content("hi"), CREDENTIALS, "k1")


def test_429_waits_parameters_retry_after(server: TelegramServer) -> None:
    server.inject(Fault(response=failure(429, "Too Many Requests: retry after 34", retry_after=34)))
    with pytest.raises(RateLimited) as caught:
        telegram(server).publish(Content("hi"), CREDENTIALS, "k1")
    assert caught.value.retry_after == 34 and server.created == []


def test_the_servers_own_budget_answers_429(conformance: Path) -> None:
    server = TelegramServer(conformance / "telegram-bot-api-spec" / "api.json", per_chat=2, window=60).start()
    try:
        connector = telegram(server)
        connector.publish(Content("one"), CREDENTIALS, "k1")
        connector.publish(Content("two"), CREDENTIALS, "k2")
        with pytest.raises(RateLimited) as caught:
            connector.publish(Content("three"), CREDENTIALS, "k3")
        assert caught.value.retry_after is not None and 55 <= caught.value.retry_after <= 60
        assert [m["text"] for m in server.created] == ["one", "two"]
    finally:
        server.stop()


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_5xx_after_the_message_went_out_is_unknown(server: TelegramServer, status: int) -> None:
    server.inject(
        Fault(
            match=on("sendMessage"),
            response=Response(status, {"ok": False, "error_code": status, "description": "Bad Gateway"}),
            after_processing=True,
        )
    )
    with pytest.raises(OutcomeUnknown, match="may have been sent"):
        telegram(server).publish(Content("hi"), CREDENTIALS, "k1")
    assert [m["text"] for m in server.created] == ["hi"]  # it is out there: never re-send blindly


def test_a_slow_answer_is_unknown(server: TelegramServer) -> None:
    server.inject(Fault(match=on("sendMessage"), delay=1.5))
    with pytest.raises(OutcomeUnknown, match="no answer") as caught:
        telegram(server, read_timeout=0.5).publish(Content("hi"), CREDENTIALS, "k1")
    assert TOKEN not in str(caught.value)


def test_bad_requests_are_permanent(server: TelegramServer) -> None:
    server.inject(
        Fault(response=failure(400, "Bad Request: can't parse entities: Character '.' is reserved"))
    )
    with pytest.raises(PermanentError, match="can't parse entities"):
        telegram(server).publish(Content("hi"), CREDENTIALS, "k1")


def test_a_read_failing_is_transient_and_a_refused_connection_names_no_secret(server: TelegramServer) -> None:
    server.inject(Fault(match=on("getMe"), response=Response(502, raw=b"<html>Bad Gateway</html>")))
    with pytest.raises(TransientError):
        telegram(server).discover(CREDENTIALS)
    closed = Telegram(
        {"chat_id": "@harbour_news", "api_base": f"http://127.0.0.1:{refused_port()}"},
        HttpClient(connect_timeout=1),
    )
    with pytest.raises(ConnectorError) as caught:
        closed.publish(Content("hi"), CREDENTIALS, "k1")
    assert TOKEN not in str(caught.value)


def test_lookup_cannot_tell(server: TelegramServer) -> None:
    answer = telegram(server).lookup(
        Content("hi"), CREDENTIALS, "k1", sent_at=FakeClock()(), replay_allowed=True
    )
    assert isinstance(answer, Undecidable) and "no way for a bot to read" in answer.reason
    assert server.requests == []  # it asks nothing: nothing could tell


# -- the manifest --------------------------------------------------------------------------------


def test_settings_and_secrets_are_checked_without_echoing_the_token() -> None:
    assert Telegram.check_settings({"chat_id": "@harbour_news"}) == []
    assert Telegram.check_settings({"chat_id": "-1001234567890", "api_base": "http://127.0.0.1:8081"}) == []
    [problem] = Telegram.check_settings({"chat_id": "harbour news"})
    assert problem.message.startswith("chat_id must be @username")
    assert Telegram.check_secrets(CREDENTIALS) == []
    [problem] = Telegram.check_secrets({"bot_token": "s3cret-but-wrong"})
    assert "s3cret" not in problem.message


def test_request_shapes_match_the_spec_fields(server: TelegramServer) -> None:
    """Every request the connector sent passed the server's api.json check (unknown or mistyped
    fields are refused with 400), so a clean run is the proof; this one covers every method."""
    connector = telegram(server)
    connector.discover(CREDENTIALS)
    connector.publish(Content("a", options={"disable_notification": True}), CREDENTIALS, "k1")
    connector.publish(Content("b", media=(MediaFile(PNG, "image/png", "a.png"),)), CREDENTIALS, "k2")
    media = (MediaFile(PNG, "image/png", "a.png"), MediaFile(PNG, "image/png", "b.png"))
    connector.publish(Content("c", media=media, reply_to=RemoteRef("1")), CREDENTIALS, "k3")
    methods = [r.path.rsplit("/", 1)[1] for r in server.requests]
    assert methods == ["getMe", "getChat", "sendMessage", "sendPhoto", "sendMediaGroup"]
    assert len(server.created) == 4


def test_is_request_a_helper() -> None:
    assert on("sendMessage")(Request("POST", "/bot1:x/sendMessage", {}, {}, b""))
