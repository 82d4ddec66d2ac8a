"""Discord through the real worker (`Publisher`) on both store backends, against the contract server:
a webhook post goes out with its link; a deleted webhook and a revoked bot flag the account; a 429
waits Discord's `retry_after`; an ambiguous answer leaves the delivery `unknown`, where a webhook
account stays (Discord cannot be asked) and a bot account's lookup finds its message by nonce,
without a second post."""

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
def server(conformance: Path, clock) -> Iterator[DiscordServer]:
    running = DiscordServer(conformance / "discord-api-spec" / "specs" / "openapi.json", clock=clock).start()
    yield running
    running.stop()


@pytest.fixture
def hook_account(store, vault, server: DiscordServer) -> int:
    secrets = {"webhook_url": f"{server.url}/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"}
    return add_account(store, vault, "discord", "hook", {}, secrets)


@pytest.fixture
def bot_account(store, vault, server: DiscordServer) -> int:
    settings = {"channel_id": CHANNEL, "api_base": f"{server.url}/api/v10"}
    return add_account(store, vault, "discord", "bot", settings, {"bot_token": BOT_TOKEN})


def test_a_webhook_post_with_an_image_goes_out_with_its_link(
    store, vault, settings, hook_account, server
) -> None:
    image = (MediaFile(PNG, "image/png", "doors.png", alt="The doors at nine"),)
    delivery_id = queue(store, "discord:hook", ["Doors open at 9"], image, {"username": "Harbour News"})
    assert Publisher(store, vault, settings).publish(delivery_id) == "published"
    [message] = server.created
    row = delivery(store, delivery_id)
    assert row.remote_id == message["id"]
    assert row.public_url == f"https://discord.com/channels/{GUILD}/{CHANNEL}/{message['id']}"
    assert message["author"]["username"] == "Harbour News"
    assert [a["description"] for a in message["attachments"]] == ["The doors at nine"]


def test_a_deleted_webhook_flags_the_account(store, vault, settings, hook_account, server) -> None:
    delivery_id = queue(store, "discord:hook", ["hello"])
    server.delete_webhook()
    assert Publisher(store, vault, settings).publish(delivery_id) == "retry_wait"
    flagged = account(store, hook_account)
    assert flagged.status == AccountStatus.NEEDS_REAUTH and "Unknown Webhook" in (flagged.status_reason or "")
    assert WEBHOOK_TOKEN not in (flagged.status_reason or "") + (
        delivery(store, delivery_id).last_error or ""
    )


def test_a_revoked_bot_flags_the_account(store, vault, settings, bot_account, server) -> None:
    delivery_id = queue(store, "discord:bot", ["hello"])
    server.revoke_bot()
    assert Publisher(store, vault, settings).publish(delivery_id) == "retry_wait"
    assert delivery(store, delivery_id).last_error_class == "AuthExpired"
    assert account(store, bot_account).status == AccountStatus.NEEDS_REAUTH
    assert server.created == []


def test_a_429_waits_retry_after(store, vault, settings, hook_account, server) -> None:
    delivery_id = queue(store, "discord:hook", ["hello"])
    server.inject(Fault(match=lambda r: r.method == "POST", response=rate_limited(12.5)))
    assert Publisher(store, vault, settings).publish(delivery_id) == "retry_wait"
    row = delivery(store, delivery_id)
    assert row.last_error_class == "RateLimited"
    assert 12.5 <= seconds_until(row.next_attempt_at, store.now()) <= 13.5
    assert server.created == []


def test_an_ambiguous_webhook_post_stays_unknown(store, clock, vault, settings, hook_account, server) -> None:
    delivery_id = queue(store, "discord:hook", ["hello"])
    server.inject(
        Fault(match=lambda r: r.method == "POST", response=Response(502, raw=b"502"), after_processing=True)
    )
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "unknown"
    settle_and_dispatch(store, clock, settings, delivery_id)
    assert publisher.publish(delivery_id) == "unknown"
    row = delivery(store, delivery_id)
    assert row.last_error_class == "Unverifiable" and "webhooks take no nonce" in (row.last_error or "")
    assert len(server.posts()) == 1 and len(server.created) == 1


def test_an_ambiguous_bot_post_is_found_by_its_nonce(
    store, clock, vault, settings, bot_account, server
) -> None:
    delivery_id = queue(store, "discord:bot", ["hello"])
    server.inject(
        Fault(match=lambda r: r.method == "POST", response=Response(504, raw=b"504"), after_processing=True)
    )
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "unknown"
    settle_and_dispatch(store, clock, settings, delivery_id)  # within the nonce window: a replay
    assert publisher.publish(delivery_id) == "published"
    [message] = server.created
    row = delivery(store, delivery_id)
    assert (row.status, row.remote_id) == (Status.PUBLISHED, message["id"])
    assert len(server.posts()) == 2  # the lost one and the replay, which Discord answered with it


def test_a_bot_post_found_later_by_reading_the_channel(
    store, clock, vault, settings, bot_account, server
) -> None:
    delivery_id = queue(store, "discord:bot", ["hello"])
    server.inject(
        Fault(match=lambda r: r.method == "POST", response=Response(504, raw=b"504"), after_processing=True)
    )
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "unknown"
    clock.advance(300)  # past the nonce window: no replay, a read
    settle_and_dispatch(store, clock, settings, delivery_id)
    assert publisher.publish(delivery_id) == "published"
    assert delivery(store, delivery_id).remote_id == server.created[0]["id"]
    assert len(server.posts()) == 1
