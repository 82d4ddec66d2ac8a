"""Slack through the real worker (`Publisher`) on both store backends, against the contract server:
a webhook post is published without a link and the report says "delivered, no link"; a bot post
has its `ts` and permalink, a thread goes into the first item's thread; a revoked token and a
channel the bot is not in flag the account; a 429 waits `Retry-After`; an ambiguous outcome stays
`unknown` for a webhook (nothing to ask) and is found by a bot's lookup without a second post."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from postmast.cli.reporting import _outcome
from postmast.scheduler import report as reports
from postmast.scheduler.deliveries import Filters
from postmast.scheduler.models import AccountStatus
from postmast.scheduler.states import Status
from postmast.workers.publisher import Publisher
from tests.connectors.delivering import account, items, queue, seconds_until, settle_and_dispatch
from tests.factories import add_account, delivery
from tests.servers.base import Fault, Response
from tests.servers.slack import (
    BOT_TOKEN,
    CHANNEL,
    OUTSIDE,
    TEAM_URL,
    WEBHOOK_PATH,
    SlackServer,
    fail,
    text_answer,
)


@pytest.fixture
def server(clock) -> Iterator[SlackServer]:
    running = SlackServer(clock=clock).start()
    yield running
    running.stop()


@pytest.fixture
def hook_account(store, vault, server: SlackServer) -> int:
    return add_account(store, vault, "slack", "hook", {}, {"webhook_url": server.url + WEBHOOK_PATH})


@pytest.fixture
def bot_account(store, vault, server: SlackServer) -> int:
    settings = {"channel": CHANNEL, "api_base": f"{server.url}/api"}
    return add_account(store, vault, "slack", "bot", settings, {"bot_token": BOT_TOKEN})


def test_a_webhook_post_is_delivered_without_a_link(store, vault, settings, hook_account, server) -> None:
    delivery_id = queue(store, "slack:hook", ["Standup in 5 <!here> & bring coffee"])
    assert Publisher(store, vault, settings).publish(delivery_id) == "published"
    row = delivery(store, delivery_id)
    assert (row.status, row.public_url) == (Status.PUBLISHED, None)
    assert (
        server.created[0]["text"] == "Standup in 5 <!here> & bring coffee"
        and server.created[0]["notified"] == []
    )
    [line] = reports.build(store, Filters(network="slack")).deliveries
    assert _outcome(line) == "delivered, no link"


def test_a_bot_thread_has_ids_and_links(store, vault, settings, bot_account, server) -> None:
    delivery_id = queue(
        store, "slack:bot", ["1/2 The plan", "2/2 The details"], options={"unfurl_links": "false"}
    )
    assert Publisher(store, vault, settings).publish(delivery_id) == "published"
    first, second = server.created
    assert second["thread_ts"] == first["id"] and first["unfurl_links"] is False
    assert [i.remote_id for i in items(store, delivery_id)] == [first["id"], second["id"]]
    row = delivery(store, delivery_id)
    assert row.public_url == f"{TEAM_URL}archives/{CHANNEL}/p{first['id'].replace('.', '')}"


@pytest.mark.parametrize("fault", ["revoked", "not_in_channel"])
def test_a_revoked_token_or_a_channel_without_the_bot_flags_the_account(
    store, vault, settings, server, fault
) -> None:
    channel = CHANNEL if fault == "revoked" else OUTSIDE
    account_id = add_account(
        store,
        vault,
        "slack",
        "bot",
        {"channel": channel, "api_base": f"{server.url}/api"},
        {"bot_token": BOT_TOKEN},
    )
    if fault == "revoked":
        server.revoke()
    delivery_id = queue(store, "slack:bot", ["hello"])
    assert Publisher(store, vault, settings).publish(delivery_id) == "retry_wait"
    flagged = account(store, account_id)
    assert flagged.status == AccountStatus.NEEDS_REAUTH
    assert ("invalid_auth" if fault == "revoked" else "invite the app") in (flagged.status_reason or "")
    assert BOT_TOKEN not in (flagged.status_reason or "") and server.created == []


def test_a_webhook_429_waits_retry_after(store, vault, settings, hook_account, server) -> None:
    delivery_id = queue(store, "slack:hook", ["hello"])
    server.inject(Fault(response=text_answer(429, "rate_limited", {"Retry-After": "20"})))
    assert Publisher(store, vault, settings).publish(delivery_id) == "retry_wait"
    row = delivery(store, delivery_id)
    assert (
        row.last_error_class == "RateLimited" and 20 <= seconds_until(row.next_attempt_at, store.now()) <= 21
    )
    assert server.created == []


def test_an_ambiguous_webhook_post_stays_unknown(store, clock, vault, settings, hook_account, server) -> None:
    delivery_id = queue(store, "slack:hook", ["hello"])
    server.inject(Fault(response=Response(504, raw=b"gateway timeout"), after_processing=True))
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "unknown"
    settle_and_dispatch(store, clock, settings, delivery_id)
    assert publisher.publish(delivery_id) == "unknown"
    row = delivery(store, delivery_id)
    assert row.last_error_class == "Unverifiable" and "answers only 'ok'" in (row.last_error or "")
    assert len(server.posts()) == 1 and len(server.created) == 1


def test_an_ambiguous_bot_post_is_found_by_the_lookup(
    store, clock, vault, settings, bot_account, server
) -> None:
    delivery_id = queue(store, "slack:bot", ["hello"])
    server.inject(
        Fault(
            match=lambda r: r.path.endswith("chat.postMessage"),
            response=fail("internal_error"),
            after_processing=True,
        )
    )
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "unknown"
    settle_and_dispatch(store, clock, settings, delivery_id)
    assert publisher.publish(delivery_id) == "published"
    [message] = server.created
    assert delivery(store, delivery_id).remote_id == message["id"]
    assert len(server.posts()) == 1  # the lookup only read
