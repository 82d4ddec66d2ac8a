"""`account check`: each network's "who am I" against its contract server, classified with a fix."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from postmast.scheduler.accounts import Accounts
from postmast.scheduler.checkup import Checkup, expiry_state
from postmast.scheduler.models import Account, AccountStatus
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault, generate_key
from tests.servers.linkedin import LinkedInServer
from tests.servers.mastodon import MastodonServer
from tests.servers.telegram import TOKEN, TelegramServer
from tests.servers.x import BEARER, OAUTH1, XServer


@pytest.fixture
def servers(conformance: Path, clock) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    started = {
        "mastodon": MastodonServer({"good-token": "alice"}),
        "x": XServer(conformance / "x-openapi" / "openapi.json", check_after_secs=0, clock=clock),
        "linkedin": LinkedInServer(clock=clock),
        "telegram": TelegramServer(conformance / "telegram-bot-api-spec" / "api.json"),
    }
    for server in started.values():
        server.start()
    yield {name: server.url for name, server in started.items()}
    for server in started.values():
        server.stop()


def by_target(found: list) -> dict[str, object]:  # type: ignore[type-arg]
    return {h.target: h for h in found}


def test_each_network_is_asked_who_the_credentials_are(
    store: Store, vault: Vault, servers: dict[str, str]
) -> None:
    accounts = Accounts(store, vault)
    accounts.add("mastodon", "good", {"instance": servers["mastodon"]}, {"access_token": "good-token"})
    accounts.add("mastodon", "revoked", {"instance": servers["mastodon"]}, {"access_token": "gone-token"})
    accounts.add("x", "keys", {"api_base": servers["x"]}, OAUTH1)
    accounts.add("x", "token", {"api_base": servers["x"]}, BEARER)
    accounts.add("x", "wrong", {"api_base": servers["x"]}, {"bearer_token": "not-a-token-9"})
    li = {"author": "urn:li:person:abc123", "api_base": servers["linkedin"]}
    accounts.add("linkedin", "me", li, {"access_token": "li-token"})
    accounts.add("linkedin", "old", li, {"access_token": "li-expired"})
    accounts.add(
        "telegram",
        "news",
        {"chat_id": "@harbour_news", "api_base": servers["telegram"]},
        {"bot_token": TOKEN},
    )
    accounts.add("webhook", "team", {"url": "http://127.0.0.1:9/hook"}, {})
    accounts.add("mastodon", "down", {"instance": "http://127.0.0.1:9"}, {"access_token": "good-token"})

    found = by_target(Checkup(store, vault).run())

    states = {t: h.state for t, h in found.items()}  # type: ignore[attr-defined]
    assert states == {
        "linkedin:me": "healthy",
        "linkedin:old": "needs_reauth",
        "mastodon:down": "unreachable",
        "mastodon:good": "healthy",
        "mastodon:revoked": "needs_reauth",
        "telegram:news": "healthy",
        "webhook:team": "uncheckable",
        "x:keys": "healthy",
        "x:token": "healthy",
        "x:wrong": "needs_reauth",
    }
    assert found["x:keys"].identity["username"] == "alice"  # type: ignore[attr-defined]
    assert found["linkedin:me"].identity == {"sub": "abc123", "name": "Member abc123"}  # type: ignore[attr-defined]
    assert found["telegram:news"].identity["bot"] == "postmast_bot"  # type: ignore[attr-defined]
    revoked = found["mastodon:revoked"]
    assert revoked.fix == "postmast account update mastodon:revoked --secrets"  # type: ignore[attr-defined]
    assert "gone-token" not in repr([h.as_dict() for h in found.values()])  # type: ignore[attr-defined]
    assert found["mastodon:good"].fix is None  # type: ignore[attr-defined]


def test_a_flagged_account_whose_credentials_work_again_says_how_to_release_it(
    store: Store, vault: Vault, servers: dict[str, str]
) -> None:
    view = Accounts(store, vault).add(
        "mastodon", "brand", {"instance": servers["mastodon"]}, {"access_token": "good-token"}
    )
    with store.write() as session:
        session.execute(
            update(Account)
            .where(Account.id == view.id)
            .values(status=AccountStatus.NEEDS_REAUTH, status_reason="401 yesterday")
        )
    [health] = Checkup(store, vault).run("mastodon:brand")
    assert health.state == "needs_reauth"
    assert "401 yesterday" in health.detail and "accepts the credentials now" in health.detail
    assert health.fix == "postmast account update mastodon:brand --secrets"


def test_secrets_the_key_cannot_read(store: Store, vault: Vault) -> None:
    Accounts(store, Vault(generate_key())).add("webhook", "team", {"url": "http://127.0.0.1:9/h"}, {})
    [health] = Checkup(store, vault).run()
    assert health.state == "unreadable"


def test_expiry_classification(store: Store) -> None:
    now = store.now()
    assert expiry_state("linkedin:me", None, now) is None
    assert expiry_state("linkedin:me", now + timedelta(days=30), now) is None
    soon = expiry_state("linkedin:me", now + timedelta(days=6, hours=1), now)
    assert soon is not None and (soon.state, soon.days_left) == ("expiring", 6)
    assert soon.detail == "the credentials expire in 6 days"
    today = expiry_state("linkedin:me", now + timedelta(hours=3), now)
    assert today is not None and today.detail == "the credentials expire today"
    gone = expiry_state("linkedin:me", now - timedelta(seconds=1), now)
    assert gone is not None and gone.state == "needs_reauth"
