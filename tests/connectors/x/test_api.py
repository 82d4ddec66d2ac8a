"""X's answers mapped to our error classes (the table in connectors/x/connector.py), rate-limit headers,
and authentication as the contract server checks it (OAuth 1.0a signatures, bearer tokens).

Error bodies are X's own where one was observed (NETWORKS.md §1.3: duplicate 403,
unsupported-authentication 403, invalid-request 400, v1-style `errors[].code`), else the
spec's Problem shapes (conformance/x-openapi: ClientForbiddenProblem, UsageCapExceededProblem).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from postmast.clock import system
from postmast.connectors import Content
from postmast.connectors.errors import (
    AuthExpired,
    ConnectorError,
    DuplicateContent,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.connectors.http import HttpClient
from postmast.connectors.x import X
from postmast.connectors.x.api import RateLimits, Window, auth_for, problem_text
from tests.servers.base import Fault, Response
from tests.servers.raw import refused_port
from tests.servers.x import BEARER, OAUTH1, UNAUTHORIZED, XServer, XUser

PROBLEMS = "https://api.twitter.com/2/problems/"
INVALID = {
    "errors": [{"parameters": {"text": ["x"]}, "message": "Your Tweet text is too long."}],
    "title": "Invalid Request",
    "detail": "One or more parameters to your request was invalid.",
    "type": PROBLEMS + "invalid-request",
}
DUPLICATE = {
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
APP_ONLY = {
    "title": "Unsupported Authentication",
    "detail": "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.",
    "type": PROBLEMS + "unsupported-authentication",
    "status": 403,
}
NOT_ENROLLED = {
    "client_id": "1",
    "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens "
    "from a Twitter developer App that is attached to a Project.",
    "registration_url": "https://developer.x.com/en/docs/projects/overview",
    "title": "Client Forbidden",
    "required_enrollment": "Appropriate Level of API Access",
    "reason": "client-not-enrolled",
    "type": PROBLEMS + "client-forbidden",
}
PERMISSIONS = {
    "title": "Forbidden",
    "type": "about:blank",
    "status": 403,
    "detail": "Your client app is not configured with the appropriate oauth1 app permissions "
    "for this endpoint.",
}
DELETED_PARENT = {
    "detail": "You attempted to reply to a Tweet that is deleted or not visible to you.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
USAGE_CAPPED = {
    "title": "UsageCapExceeded",
    "detail": "Usage cap exceeded: Monthly product cap",
    "type": PROBLEMS + "usage-capped",
    "period": "Monthly",
    "scope": "Product",
}
GENERIC = {"title": "Service Unavailable", "detail": "Service Unavailable", "type": "about:blank"}


def v1(code: int, message: str) -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message}]}


def connector(server: XServer, **attributes: Any) -> X:
    account = X({"api_base": server.url, "username": "alice"}, HttpClient(connect_timeout=2, read_timeout=2))
    for name, value in attributes.items():
        setattr(account, name, value)
    return account


@pytest.fixture
def x_server(conformance: Path) -> Iterator[XServer]:
    server = XServer(conformance / "x-openapi" / "openapi.json", check_after_secs=0).start()
    yield server
    server.stop()


# == the error table ===============================================================================


@pytest.mark.parametrize(
    ("status", "body", "error", "words"),
    [
        (400, INVALID, PermanentError, "Your Tweet text is too long."),
        (401, UNAUTHORIZED, AuthExpired, "Unauthorized"),
        (401, v1(89, "Invalid or expired token."), AuthExpired, "Invalid or expired token."),
        (401, v1(32, "Could not authenticate you."), AuthExpired, "Could not authenticate you."),
        (403, DUPLICATE, DuplicateContent, "duplicate content"),
        (403, v1(187, "Status is a duplicate."), DuplicateContent, "Status is a duplicate."),
        (403, APP_ONLY, AuthExpired, "Application-Only is forbidden"),
        (403, NOT_ENROLLED, AuthExpired, "attached to a Project"),
        (403, PERMISSIONS, AuthExpired, "oauth1 app permissions"),
        (403, v1(453, "You currently have access to a subset of endpoints"), AuthExpired, "subset"),
        (403, DELETED_PARENT, PermanentError, "deleted or not visible"),
        (403, v1(186, "Tweet needs to be a bit shorter."), PermanentError, "bit shorter"),
        (
            404,
            {"title": "Not Found Error", "type": PROBLEMS + "resource-not-found"},
            PermanentError,
            "Not Found",
        ),
        (409, {"title": "Conflict", "type": PROBLEMS + "conflict"}, PermanentError, "Conflict"),
        (429, USAGE_CAPPED, RateLimited, "Usage cap exceeded"),
        (429, v1(88, "Rate limit exceeded"), RateLimited, "Rate limit exceeded"),
        (408, GENERIC, TransientError, "Service Unavailable"),
        (
            500,
            {"title": "Internal Server Error", "type": "about:blank"},
            TransientError,
            "Internal Server Error",
        ),
        (503, GENERIC, TransientError, "Service Unavailable"),
        (507, GENERIC, TransientError, "Service Unavailable"),
        (502, GENERIC, OutcomeUnknown, "Service Unavailable"),
        (504, GENERIC, OutcomeUnknown, "Service Unavailable"),
    ],
)
def test_error_table(
    x_server: XServer, status: int, body: dict[str, Any], error: type[ConnectorError], words: str
) -> None:
    x_server.inject(Fault(response=Response(status, body)))
    with pytest.raises(ConnectorError) as caught:
        connector(x_server).publish(Content("hi"), OAUTH1, "key")
    assert type(caught.value) is error
    assert caught.value.http_status == status
    assert str(caught.value).startswith(f"X answered {status} to POST /2/tweets: ")
    assert words in str(caught.value)
    assert "cs-app-secret" not in str(caught.value) and "tok-secret" not in str(caught.value)


def test_a_non_json_error_shows_a_short_body(x_server: XServer) -> None:
    x_server.inject(
        Fault(
            response=Response(
                503, raw=b"<html>\n  over capacity </html>", headers={"Content-Type": "text/html"}
            )
        )
    )
    with pytest.raises(TransientError) as caught:
        connector(x_server).publish(Content("hi"), OAUTH1, "key")
    assert str(caught.value) == "X answered 503 to POST /2/tweets: <html> over capacity </html>"


@pytest.mark.parametrize(
    "body",
    [{"data": {"text": "hi"}}, {"data": {"id": "not-digits"}}, {"errors": [{"title": "x"}]}, None],
    ids=["no-id", "bad-id", "errors-only", "empty"],
)
def test_a_success_without_a_post_id_is_outcome_unknown(x_server: XServer, body: Any) -> None:
    x_server.inject(Fault(response=Response(201, body), after_processing=True))
    with pytest.raises(OutcomeUnknown) as caught:
        connector(x_server).publish(Content("hi"), OAUTH1, "key")
    assert caught.value.http_status == 201
    assert len(x_server.created) == 1  # it may well exist: reconciliation finds out


def test_problem_text_prefers_detail_and_adds_the_first_message() -> None:
    assert problem_text(INVALID) == (
        "One or more parameters to your request was invalid. Your Tweet text is too long."
    )
    assert problem_text(DUPLICATE) == DUPLICATE["detail"]
    assert problem_text({"title": "Unauthorized"}) == "Unauthorized"
    assert problem_text(["not", "a", "problem"]) == ""


# == the contract server's own refusals ============================================================


def test_too_long_for_the_server_is_permanent(x_server: XServer) -> None:
    with pytest.raises(PermanentError) as caught:
        connector(x_server).publish(Content("a" * 281), OAUTH1, "key")  # validate() would refuse it first
    assert caught.value.http_status == 400 and "text is too long" in str(caught.value)
    assert x_server.created == []


def test_the_same_text_twice_is_a_duplicate(x_server: XServer) -> None:
    account = connector(x_server)
    account.publish(Content("only once"), OAUTH1, "k1")
    with pytest.raises(DuplicateContent) as caught:
        account.publish(Content("only once"), OAUTH1, "k2")
    assert isinstance(caught.value, OutcomeUnknown)  # the worker reconciles it, never retries it
    assert x_server.created_texts()["only once"] == 1


def test_a_reply_to_an_unknown_post_is_permanent(x_server: XServer) -> None:
    from postmast.connectors import RemoteRef

    with pytest.raises(PermanentError) as caught:
        connector(x_server).publish(Content("hi", reply_to=RemoteRef("1")), OAUTH1, "key")
    assert caught.value.http_status == 403


# == rate limits ===================================================================================


def test_the_15_minute_window_is_waited_for(conformance: Path) -> None:
    server = XServer(conformance / "x-openapi" / "openapi.json", post_limit=1).start()
    try:
        account = connector(server)
        account.publish(Content("one"), OAUTH1, "k1")
        with pytest.raises(RateLimited) as caught:
            account.publish(Content("two"), OAUTH1, "k2")
    finally:
        server.stop()
    assert caught.value.retry_after == pytest.approx(900, abs=5)
    assert len(server.created) == 1


def test_the_24_hour_user_limit_is_waited_for(conformance: Path) -> None:
    server = XServer(conformance / "x-openapi" / "openapi.json", user_day_limit=1).start()
    try:
        account = connector(server)
        account.publish(Content("one"), OAUTH1, "k1")
        with pytest.raises(RateLimited) as caught:
            account.publish(Content("two"), OAUTH1, "k2")
    finally:
        server.stop()
    assert caught.value.retry_after == pytest.approx(86400, abs=5)  # the day's reset, not the window's


def test_429_headers_as_x_sends_them(x_server: XServer) -> None:
    now = int(time.time())
    headers = {
        "x-rate-limit-limit": "100",
        "x-rate-limit-remaining": "57",
        "x-rate-limit-reset": str(now + 300),
        "x-app-limit-24hour-limit": "10000",
        "x-app-limit-24hour-remaining": "0",
        "x-app-limit-24hour-reset": str(now + 5000),
    }
    x_server.inject(Fault(response=Response(429, {"title": "Too Many Requests", "status": 429}, headers)))
    with pytest.raises(RateLimited) as caught:
        connector(x_server).publish(Content("hi"), OAUTH1, "key")
    assert caught.value.retry_after == pytest.approx(5000, abs=3)


@pytest.mark.parametrize(
    ("window", "user_day", "app_day", "wait"),
    [
        (Window(100, 0, 1300), Window(), Window(), 300),
        (Window(100, 5, 1300), Window(17, 0, 80000), Window(), 79000),
        (Window(100, 0, 1300), Window(17, 0, 2000), Window(10000, 0, 4000), 3000),
        (Window(100, 5, 1300), Window(17, 3, 80000), Window(), 300),  # none spent: the window's reset
        (Window(), Window(17, 3, 80000), Window(), 79000),
        (Window(100, 0, 900), Window(), Window(), 0),  # reset already passed
        (Window(), Window(), Window(), None),
    ],
)
def test_rate_limit_wait(window: Window, user_day: Window, app_day: Window, wait: float | None) -> None:
    now = datetime.fromtimestamp(1000, UTC)
    assert RateLimits(window, user_day, app_day).wait(now) == wait


def test_rate_limit_headers_parse() -> None:
    limits = RateLimits.from_headers(
        {"x-rate-limit-limit": "200", "x-rate-limit-remaining": "x", "x-user-limit-24hour-reset": "17"}
    )
    assert limits.window == Window(200, None, None) and limits.user_day == Window(None, None, 17)


# == authentication ================================================================================


def test_oauth1_requests_verify_on_the_server_with_fresh_nonces(x_server: XServer) -> None:
    account = connector(x_server)
    account.publish(Content("one"), OAUTH1, "k1")
    account.publish(Content("two"), OAUTH1, "k2")
    nonces = {n for _, _, n in x_server.nonces}
    assert len(nonces) == 2  # each request its own nonce, each accepted by the server's own check


def test_a_replayed_nonce_is_refused(x_server: XServer) -> None:
    # one timestamp for both (a nonce must be unique among the requests of one timestamp): the
    # wall clock's "now" at the start, held still so a slow machine cannot cross a second
    now = system()
    account = connector(x_server, nonce=lambda: "same-nonce", clock=lambda: now)
    account.publish(Content("one"), OAUTH1, "k1")
    with pytest.raises(AuthExpired):
        account.publish(Content("two"), OAUTH1, "k2")


@pytest.mark.parametrize(
    "credentials",
    [
        {**OAUTH1, "consumer_secret": "wrong"},
        {**OAUTH1, "access_token_secret": "wrong"},
        {**OAUTH1, "access_token": "unknown"},
        {**OAUTH1, "consumer_key": "other-app"},
        {"bearer_token": "revoked"},
    ],
    ids=["consumer-secret", "token-secret", "token", "consumer-key", "bearer"],
)
def test_refused_credentials_are_auth_expired(x_server: XServer, credentials: dict[str, str]) -> None:
    with pytest.raises(AuthExpired) as caught:
        connector(x_server).publish(Content("hi"), credentials, "key")
    assert caught.value.http_status == 401 and x_server.created == []


def test_a_stale_timestamp_is_refused(x_server: XServer) -> None:
    with pytest.raises(AuthExpired):
        connector(x_server, clock=lambda: system() - timedelta(hours=1)).publish(Content("hi"), OAUTH1, "key")


def test_an_app_only_token_is_the_wrong_kind(x_server: XServer) -> None:
    with pytest.raises(AuthExpired) as caught:
        connector(x_server).publish(Content("hi"), {"bearer_token": "app-only-token"}, "key")
    assert caught.value.http_status == 403 and "Application-Only" in str(caught.value)


def test_signed_query_strings_verify(x_server: XServer) -> None:
    """A GET with a query (the timeline) is signed over its parameters; the server recomputes it."""
    account = connector(x_server)
    account.publish(Content("to find"), OAUTH1, "k")
    found = account.lookup(Content("to find"), OAUTH1, "k", sent_at=datetime.now(UTC), replay_allowed=True)
    assert type(found).__name__ == "Found"
    assert any(r.query.get("start_time") for r in x_server.requests)


def test_incomplete_stored_secrets_are_auth_expired() -> None:
    with pytest.raises(AuthExpired):
        auth_for({"consumer_key": "a"})


def test_a_second_user_signs_with_their_own_token(conformance: Path) -> None:
    users = [
        XUser("1401", "alice", token="1401-tok", token_secret="tok-secret"),
        XUser("1402", "bob", token="1402-tok", token_secret="bob-secret"),
    ]
    server = XServer(conformance / "x-openapi" / "openapi.json", users).start()
    try:
        creds = {**OAUTH1, "access_token": "1402-tok", "access_token_secret": "bob-secret"}
        result = connector(server).publish(Content("from bob"), creds, "k")
        assert server.posts[result.remote_id]["author"] == "1402"
        with pytest.raises(AuthExpired):  # bob's token with alice's secret does not verify
            connector(server).publish(Content("x"), {**creds, "access_token_secret": "tok-secret"}, "k")
    finally:
        server.stop()


# == transport ======================================================================================


def test_a_held_answer_past_the_read_timeout_is_outcome_unknown(x_server: XServer) -> None:
    release = threading.Event()
    x_server.inject(Fault(hold=release))
    slow = X({"api_base": x_server.url}, HttpClient(read_timeout=0.5))
    try:
        with pytest.raises(OutcomeUnknown):
            slow.publish(Content("in flight"), BEARER, "key")
    finally:
        release.set()
    assert len(x_server.created) == 1  # it was posted: reconciliation must find it, not a retry


def test_connection_refused_is_transient() -> None:
    with refused_port() as port:
        account = X({"api_base": f"http://127.0.0.1:{port}"}, HttpClient(connect_timeout=2))
        with pytest.raises(TransientError) as caught:
            account.publish(Content("hi"), BEARER, "key")
    assert "u-bearer" not in str(caught.value)


def test_a_dropped_connection_after_posting_is_outcome_unknown(x_server: XServer) -> None:
    x_server.inject(Fault(after_processing=True, drop=True))
    with pytest.raises(OutcomeUnknown):
        connector(x_server).publish(Content("dropped"), OAUTH1, "key")
    assert len(x_server.created) == 1
