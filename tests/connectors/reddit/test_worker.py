"""Reddit through the real worker (`Publisher`) on both store backends, against the contract server:
a post is published with its `t3_` name and permalink and its token kept (encrypted) in the account's
session; a changed password flags the account; a spent window waits `x-ratelimit-reset` and a
RATELIMIT answer waits what it says; an ambiguous submit is found in the user's submissions by the
lookup without a second post, and one that never arrived is sent again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from postmast.scheduler.models import AccountStatus
from postmast.workers.publisher import Publisher
from tests.connectors.delivering import account, queue, seconds_until, settle_and_dispatch
from tests.connectors.reddit.support import SECRETS, account_settings
from tests.factories import add_account, delivery
from tests.servers.base import Fault, Response
from tests.servers.reddit import PASSWORD, SUBREDDIT, RedditServer

TITLE = {"title": "Harbour opens at nine"}


@pytest.fixture
def server(clock) -> Iterator[RedditServer]:
    running = RedditServer(clock=clock).start()
    yield running
    running.stop()


@pytest.fixture
def account_id(store, vault, server: RedditServer) -> int:
    return add_account(store, vault, "reddit", "harbour", account_settings(server), dict(SECRETS))


def test_a_post_is_published_with_its_name_and_link(store, vault, settings, account_id, server) -> None:
    delivery_id = queue(store, "reddit:harbour", ["Doors open at 9."], options={**TITLE, "nsfw": "true"})
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "published"
    [created] = server.created
    row = delivery(store, delivery_id)
    assert (row.remote_id, row.public_url) == (
        created["name"],
        f"https://www.reddit.com{created['permalink']}",
    )
    assert created["over_18"] is True and created["subreddit"] == SUBREDDIT
    session = account(store, account_id).session
    assert session is not None and PASSWORD.encode() not in session
    assert set(vault.decrypt_any(session)["reddit_token"]) == {
        "access_token",
        "expires_at",
    }  # kept, encrypted
    second = queue(store, "reddit:harbour", ["And closes at five."], options=TITLE)
    assert publisher.publish(second) == "published"
    assert len(server.token_requests()) == 1  # the cached token served the second post


def test_a_changed_password_flags_the_account(store, vault, settings, account_id, server) -> None:
    server.change_password()
    delivery_id = queue(store, "reddit:harbour", ["hello"], options=TITLE)
    Publisher(store, vault, settings).publish(delivery_id)
    flagged = account(store, account_id)
    assert flagged.status == AccountStatus.NEEDS_REAUTH
    assert "invalid_grant" in (flagged.status_reason or "")
    assert all(secret not in (flagged.status_reason or "") for secret in SECRETS.values())
    assert server.posts() == [] and delivery(store, delivery_id).last_error_class == "AuthExpired"


def test_a_spent_window_waits_for_its_reset(store, vault, settings, account_id, server) -> None:
    delivery_id = queue(store, "reddit:harbour", ["hello"], options=TITLE)
    limited = Response(
        429,
        {"message": "Too Many Requests", "error": 429},
        {"x-ratelimit-used": "600", "x-ratelimit-remaining": "0.0", "x-ratelimit-reset": "103"},
    )
    server.inject(Fault(match=lambda r: r.path == "/api/submit", response=limited))
    assert Publisher(store, vault, settings).publish(delivery_id) == "retry_wait"
    row = delivery(store, delivery_id)
    assert (
        row.last_error_class == "RateLimited"
        and 103 <= seconds_until(row.next_attempt_at, store.now()) <= 104
    )
    assert server.created == []


def test_a_ratelimit_answer_waits_what_it_says(store, vault, settings, account_id, server) -> None:
    delivery_id = queue(store, "reddit:harbour", ["hello"], options=TITLE)
    server.ratelimit_next(9)
    assert Publisher(store, vault, settings).publish(delivery_id) == "retry_wait"
    row = delivery(store, delivery_id)
    assert (
        row.last_error_class == "RateLimited"
        and 540 <= seconds_until(row.next_attempt_at, store.now()) <= 541
    )


def test_an_ambiguous_submit_is_found_by_the_lookup(
    store, clock, vault, settings, account_id, server
) -> None:
    delivery_id = queue(store, "reddit:harbour", ["hello"], options=TITLE)
    server.inject(
        Fault(match=lambda r: r.path == "/api/submit", response=Response(502), after_processing=True)
    )
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "unknown"
    settle_and_dispatch(store, clock, settings, delivery_id)
    assert publisher.publish(delivery_id) == "published"
    [created] = server.created
    assert delivery(store, delivery_id).remote_id == created["name"]
    assert len(server.posts()) == 1  # the lookup only read


def test_a_submit_that_never_arrived_is_sent_again(store, clock, vault, settings, account_id, server) -> None:
    delivery_id = queue(store, "reddit:harbour", ["hello"], options=TITLE)
    server.inject(Fault(match=lambda r: r.path == "/api/submit", response=Response(504)))  # before processing
    publisher = Publisher(store, vault, settings)
    assert publisher.publish(delivery_id) == "unknown"
    settle_and_dispatch(store, clock, settings, delivery_id)
    assert publisher.publish(delivery_id) == "published"  # confirmed absent, then sent at once
    paths = [r.path for r in server.requests if not r.path.startswith("/api/v1/")]
    assert paths == ["/api/submit", "/user/harbour_news/submitted", "/api/submit"]
    assert len(server.created) == 1
