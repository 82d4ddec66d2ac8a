"""The Reddit account the connector tests use: settings and secrets that the contract server takes."""

from __future__ import annotations

from postmast.connectors.http import HttpClient
from postmast.connectors.reddit import Reddit
from tests.conftest import FakeClock
from tests.servers.reddit import (
    CLIENT_ID,
    CLIENT_SECRET,
    PASSWORD,
    SUBREDDIT,
    USER_AGENT,
    USERNAME,
    RedditServer,
)

SECRETS = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "password": PASSWORD}


def account_settings(server: RedditServer) -> dict[str, str]:
    return {
        "username": USERNAME,
        "user_agent": USER_AGENT,
        "subreddit": SUBREDDIT,
        "api_base": server.url,
        "auth_base": server.url,
    }


def reddit(server: RedditServer, clock: FakeClock, read_timeout: float = 3) -> Reddit:
    return Reddit(
        account_settings(server), HttpClient(connect_timeout=2, read_timeout=read_timeout), clock=clock
    )
