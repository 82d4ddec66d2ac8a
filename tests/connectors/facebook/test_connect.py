"""`account connect facebook`: Facebook Login's code flow against the contract server (the test's
browser follows the redirect), then the long-lived exchange and the Page's own token from
`/me/accounts`, stored as `account add` stores it; a Page the user does not manage stores nothing."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from postmast.connectors import Content
from postmast.connectors.facebook import Facebook
from postmast.scheduler.accounts import Accounts
from postmast.scheduler.checkup import Checkup
from postmast.scheduler.connect import Connection
from postmast.scheduler.errors import UserError
from postmast.scheduler.models import Account
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.conftest import FakeClock
from tests.connectors.signin import Browser, free_port
from tests.servers.facebook import FacebookServer
from tests.servers.graph import APP_ID, APP_SECRET

PAGE = "1234567890"


@pytest.fixture
def server(clock: FakeClock) -> Iterator[FacebookServer]:
    found = FacebookServer({"page-token": PAGE}, clock=clock)
    found.start()
    yield found
    found.stop()


def _settings(server: FacebookServer, page: str = PAGE) -> dict[str, str]:
    return {"page_id": page, "api_base": server.url, "dialog_base": server.url, "client_id": APP_ID}


def test_connect_exchanges_for_a_long_lived_token_and_keeps_the_pages_token(
    store: Store, vault: Vault, server: FacebookServer, clock: FakeClock
) -> None:
    port = free_port()
    server.login.allow_redirect(f"http://127.0.0.1:{port}/callback")
    browser = Browser(APP_SECRET)
    view = Connection(store, vault).connect(
        "facebook", "cafe", _settings(server), browser.terminal, port=port
    )
    assert view.status == "active" and browser.asked == ["client_secret"]
    shown = urlsplit(browser.shown[0])
    assert shown.path == "/v25.0/dialog/oauth"
    assert parse_qs(shown.query)["scope"][0].startswith("pages_manage_posts,pages_read_engagement,")
    assert len(server.login.long_lived) == 1  # the fb_exchange_token grant ran
    with store.read() as session:
        account = session.scalars(select(Account)).one()
    secrets = vault.decrypt(account.secrets)
    assert secrets == {"page_access_token": "page-token"}  # neither the user token nor the app secret
    assert account.expires_at is None  # a Page token from a long-lived user token does not expire
    [health] = Checkup(store, vault).run("facebook:cafe")
    assert health.state == "healthy"
    result = Facebook(_settings(server), clock=clock).publish(Content("Open late"), secrets, "k1")
    assert result.remote_id.startswith(f"{PAGE}_")


def test_a_page_the_user_does_not_manage_is_named_and_nothing_is_stored(
    store: Store, vault: Vault, server: FacebookServer
) -> None:
    port = free_port()
    server.login.allow_redirect(f"http://127.0.0.1:{port}/callback")
    with pytest.raises(
        UserError, match=r"does not manage Page 555 \(Pages: Page 1234567890 \(1234567890\)\)"
    ):
        Connection(store, vault).connect(
            "facebook", "cafe", _settings(server, "555"), Browser(APP_SECRET).terminal, port=port
        )
    assert Accounts(store, vault).all() == []


def test_without_a_client_id_connect_uses_the_hidden_prompt() -> None:
    assert Facebook({"page_id": PAGE}).oauth2() is None
