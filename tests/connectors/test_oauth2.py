"""The shared OAuth 2.0 token helper: a token cached in the session until a minute before it expires,
token endpoints' refusals as AuthExpired (Reddit's 200 `invalid_grant` included), 429 as RateLimited,
anything else as TransientError (a token request posts nothing, so it is never OutcomeUnknown)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from postmast.connectors.errors import AuthExpired, RateLimited, TransientError
from postmast.connectors.http import HttpClient
from postmast.connectors.oauth2 import TokenCache, request_token
from tests.servers.base import ContractServer, Fault, Request, Response

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class TokenServer(ContractServer):
    def __init__(self) -> None:
        super().__init__()
        self.answer = Response(200, {"access_token": "fresh", "token_type": "bearer", "expires_in": 3600})

    def handle(self, request: Request) -> Response:
        return self.answer


@pytest.fixture
def server() -> Iterator[TokenServer]:
    running = TokenServer().start()
    yield running
    running.stop()


def ask(server: TokenServer, read_timeout: float = 3) -> tuple[str, float]:
    return request_token(
        HttpClient(connect_timeout=2, read_timeout=read_timeout),
        f"{server.url}/token",
        {"grant_type": "refresh_token", "refresh_token": "r-secret"},
        basic=("id", "c-secret"),
        title="Net",
        now=NOW,
    )


def test_the_cache_keeps_a_token_until_a_minute_before_it_expires() -> None:
    state: dict[str, Any] = {}
    cache = TokenCache(state, "net_token")
    assert cache.current(NOW) is None
    cache.keep("t1", 3600, NOW)
    assert cache.current(NOW + timedelta(seconds=3539)) == "t1"
    assert cache.current(NOW + timedelta(seconds=3541)) is None
    cache.drop()
    assert state == {} and cache.current(NOW) is None


def test_a_broken_cache_entry_is_no_token() -> None:
    assert TokenCache({"k": {"access_token": "t", "expires_at": "soon"}}, "k").current(NOW) is None
    assert TokenCache({"k": "t"}, "k").current(NOW) is None


def test_a_token_is_asked_for_with_basic_auth_and_the_form(server: TokenServer) -> None:
    assert ask(server) == ("fresh", 3600)
    [request] = server.requests
    assert request.header("Authorization") == "Basic aWQ6Yy1zZWNyZXQ="  # id:c-secret
    assert request.body == b"grant_type=refresh_token&refresh_token=r-secret"


@pytest.mark.parametrize(
    "answer",
    [
        Response(200, {"error": "invalid_grant"}),  # Reddit's way
        Response(400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
        Response(401, {"error": "invalid_client"}),
        Response(403, raw=b"<html>forbidden</html>"),
    ],
)
def test_refusals_are_auth_expired_without_secrets(server: TokenServer, answer: Response) -> None:
    server.answer = answer
    with pytest.raises(AuthExpired, match="Net refused the credentials") as caught:
        ask(server)
    assert "secret" not in caught.value.message


def test_429_is_rate_limited(server: TokenServer) -> None:
    server.answer = Response(429, {}, {"Retry-After": "30"})
    with pytest.raises(RateLimited) as caught:
        ask(server)
    assert caught.value.retry_after == 30


@pytest.mark.parametrize("answer", [Response(500, raw=b"oops"), Response(200, {"token_type": "bearer"})])
def test_anything_else_is_transient(server: TokenServer, answer: Response) -> None:
    server.answer = answer
    with pytest.raises(TransientError, match="without a token"):
        ask(server)


def test_a_lost_answer_is_transient_not_unknown(server: TokenServer) -> None:
    server.inject(Fault(delay=1.0))
    with pytest.raises(TransientError, match="no answer"):
        ask(server, read_timeout=0.3)


def test_a_missing_lifetime_is_an_hour(server: TokenServer) -> None:
    server.answer = Response(200, {"access_token": "t"})
    assert ask(server) == ("t", 3600.0)
