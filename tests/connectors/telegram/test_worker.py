"""Telegram through the real worker (`Publisher`) on both store backends, against the Bot API
contract server: a post goes out with its link; a revoked token and a removed bot flag the account;
a 429 waits `parameters.retry_after`; an ambiguous 5xx leaves the delivery `unknown`, and the
lookup, which Telegram cannot answer, keeps it there for a person without sending anything."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from postmast.connectors import MediaFile
from postmast.scheduler.models import AccountStatus
from postmast.scheduler.states import Status
from postmast.workers.publisher import Publisher
from tests.connectors.delivering import account, queue, seconds_until, settle_and_dispatch
from tests.factories import add_account, delivery
from tests.servers.base import Fault, Response
from tests.servers.telegram import TOKEN, TelegramServer, failure

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


@pytest.fixture
def server(conformance: Path) -> Iterator[TelegramServer]:
    running = TelegramServer(conformance / "telegram-bot-api-spec" / "api.json").start()
    yield running
    running.stop()


@pytest.fixture
def account_id(store, vault, server: TelegramServer) -> int:
    settings = {"chat_id": "@harbour_news", "api_base": server.url}
    return add_account(store, vault, "telegram", "news", settings, {"bot_token": TOKEN})


def sends(server: TelegramServer) -> int:
    return len(server.sends())


def test_a_post_with_an_image_goes_out_with_its_link(store, vault, settings, account_id, server) -> None:
    delivery_id = queue(
        store,
        "telegram:news",
        ["Doors open at 9. Bring (lots of) friends!"],
        (MediaFile(PNG, "image/png", "doors.png"),),
        {"disable_notification": "true"},
    )
    assert Publisher(store, vault, settings).publish(delivery_id) == "published"
    row = delivery(store, delivery_id)
    assert (row.status, row.remote_id, row.public_url) == (
        Status.PUBLISHED,
        "1",
        "https://t.me/harbour_news/1",
    )
    [message] = server.created
    assert message["text"] == "Doors open at 9. Bring (lots of) friends!" and message["silent"]


def test_a_long_text_with_an_image_is_refused_at_queue_time_unless_split(store, account_id) -> None:
    from postmast.scheduler.posts import Rejected

    image = (MediaFile(PNG, "image/png", "doors.png"),)
    with pytest.raises(Rejected, match="over Telegram's limit of 1,024 for the caption"):
        queue(store, "telegram:news", ["x" * 1500], image)
    assert queue(store, "telegram:news", ["x" * 1500], image, {"long_caption": "split"})


@pytest.mark.parametrize("fault", ["revoked", "removed"])
def test_revoked_credentials_or_a_removed_bot_flag_the_account(
    store, vault, settings, account_id, server, fault
) -> None:
    delivery_id = queue(store, "telegram:news", ["hello"])
    if fault == "revoked":
        server.revoke()
    else:
        server.remove_bot(-1001234567890)
    assert Publisher(store, vault, settings).publish(delivery_id) == "retry_wait"
    row = delivery(store, delivery_id)
    assert row.last_error_class == "AuthExpired"
    flagged = account(store, account_id)
    assert flagged.status == AccountStatus.NEEDS_REAUTH
    assert ("Unauthorized" if fault == "revoked" else "not a member") in (flagged.status_reason or "")
    assert TOKEN not in (row.last_error or "") + (flagged.status_reason or "")
    assert server.created == []


def test_a_429_waits_retry_after(store, vault, settings, account_id, server) -> None:
    delivery_id = queue(store, "telegram:news", ["hello"])
    server.inject(
        Fault(
            match=lambda r: r.path.endswith("/sendMessage"),
            response=failure(429, "Too Many Requests: retry after 42", retry_after=42),
        )
    )
    assert Publisher(store, vault, settings).publish(delivery_id) == "retry_wait"
    row = delivery(store, delivery_id)
    assert row.last_error_class == "RateLimited"
    assert 42 <= seconds_until(row.next_attempt_at, store.now()) <= 43
    assert 42 <= seconds_until(account(store, account_id).limited_until, store.now()) <= 43
    assert server.created == []


def test_an_ambiguous_5xx_stays_unknown_and_is_never_resent(
    store, clock, vault, settings, account_id, server
) -> None:
    delivery_id = queue(store, "telegram:news", ["hello"])
    server.inject(
        Fault(
            match=lambda r: r.path.endswith("/sendMessage"),
            response=Response(502, raw=b"<html>502 Bad Gateway</html>"),
            after_processing=True,
        )
    )
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "unknown"
    assert delivery(store, delivery_id).last_error_class == "OutcomeUnknown"

    settle_and_dispatch(store, clock, settings, delivery_id)
    assert publisher.publish(delivery_id) == "unknown"  # Telegram cannot be asked
    row = delivery(store, delivery_id)
    assert row.status == Status.UNKNOWN and row.last_error_class == "Unverifiable"
    assert "no way for a bot to read a chat's messages" in (row.last_error or "")
    assert sends(server) == 1 and [m["text"] for m in server.created] == ["hello"]
