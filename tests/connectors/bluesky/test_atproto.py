"""XRPC sessions against the reference PDS: login once, refresh on ExpiredToken, decide on error names.

The PDS is reached through a forwarding proxy (tests/servers/bluesky.py) that counts logins and
refreshes and injects what the PDS cannot produce on demand (429, gateway errors, lost answers).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from postmast.clock import system
from postmast.connectors.bluesky.atproto import Session
from postmast.connectors.errors import (
    AuthExpired,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.connectors.http import HttpClient
from tests.servers.base import Fault, Response
from tests.servers.bluesky import PdsProxy, create_account, forge_expired, pds_proxy, xrpc_error

__all__ = ["pds_proxy"]

LOGIN = "com.atproto.server.createSession"
REFRESH = "com.atproto.server.refreshSession"
SESSION = "com.atproto.server.getSession"


@pytest.fixture(scope="module")
def account(pds):
    return create_account(pds.url)


def session_for(proxy: PdsProxy, account, password: str | None = None, state: dict[str, Any] | None = None):
    """A session for `account`; by default already holding the session createAccount gave."""
    return Session(
        HttpClient(read_timeout=5),
        proxy.url,
        account.handle,
        account.app_password if password is None else password,
        account.state(proxy.url) if state is None else state,
        clock=system,
    ).begin()


def test_login_with_the_app_password_keeps_the_session_in_the_state(pds_proxy, account) -> None:
    state: dict[str, Any] = {}
    session = session_for(pds_proxy, account, state=state)
    assert session.call("GET", SESSION)["did"] == account.did
    assert pds_proxy.calls(LOGIN)[0].json() == {
        "identifier": account.handle,
        "password": account.app_password,
    }
    assert set(state) == {"accessJwt", "refreshJwt", "did", "handle", "pds"}
    assert (state["did"], state["handle"], state["pds"]) == (account.did, account.handle, pds_proxy.url)
    session.call("GET", SESSION)
    assert pds_proxy.count(LOGIN) == 1 and pds_proxy.count(SESSION) == 2


def test_an_expired_access_token_is_refreshed_once_without_a_login(pds_proxy, account) -> None:
    state = account.state(pds_proxy.url)
    state["accessJwt"] = forge_expired(state["accessJwt"])  # signed with the dev PDS's own secret
    old_refresh = state["refreshJwt"]
    answer = session_for(pds_proxy, account, state=state).call("GET", SESSION)
    assert answer["handle"] == account.handle
    assert (pds_proxy.count(LOGIN), pds_proxy.count(REFRESH), pds_proxy.count(SESSION)) == (0, 1, 2)
    first, second = pds_proxy.calls(SESSION)
    assert first.header("Authorization") != second.header("Authorization")
    assert state["refreshJwt"] != old_refresh  # the refresh rotated the pair


def test_an_invalid_token_means_one_login(pds_proxy, account) -> None:
    state: dict[str, Any] = {"accessJwt": "garbage", "refreshJwt": "garbage", "pds": pds_proxy.url}
    assert session_for(pds_proxy, account, state=state).call("GET", SESSION)["did"] == account.did
    assert (pds_proxy.count(LOGIN), pds_proxy.count(REFRESH)) == (1, 0)


def test_a_refused_refresh_token_falls_back_to_one_login(pds_proxy, account) -> None:
    state = account.state(pds_proxy.url)
    state["accessJwt"] = forge_expired(state["accessJwt"])
    state["refreshJwt"] = "not-a-token"
    session_for(pds_proxy, account, state=state).call("GET", SESSION)
    assert (pds_proxy.count(LOGIN), pds_proxy.count(REFRESH)) == (1, 1)


def test_a_refused_app_password_is_auth_expired_and_never_retried(pds_proxy, account) -> None:
    state: dict[str, Any] = {"accessJwt": "garbage", "refreshJwt": "garbage", "pds": pds_proxy.url}
    session = session_for(pds_proxy, account, password="wrong-password", state=state)
    with pytest.raises(AuthExpired, match="AuthenticationRequired") as refused:
        session.call("GET", SESSION)
    assert "wrong-password" not in refused.value.message and refused.value.http_status == 401
    with pytest.raises(AuthExpired, match="earlier in this task"):
        session.begin().login()
    assert pds_proxy.count(LOGIN) == 1


def test_a_token_refused_even_after_the_refresh_is_auth_expired(pds_proxy, account) -> None:
    session = session_for(pds_proxy, account)
    for _ in range(2):
        pds_proxy.inject(Fault(match=pds_proxy.when(SESSION), response=xrpc_error(400, "ExpiredToken")))
    with pytest.raises(AuthExpired, match="ExpiredToken"):
        session.call("GET", SESSION)
    assert (pds_proxy.count(LOGIN), pds_proxy.count(REFRESH)) == (0, 1)


def test_one_login_per_operation_at_most(pds_proxy, account) -> None:
    session = session_for(pds_proxy, account, state={})
    for _ in range(2):
        pds_proxy.inject(Fault(match=pds_proxy.when(SESSION), response=xrpc_error(400, "InvalidToken")))
    with pytest.raises(AuthExpired, match="just created"):
        session.call("GET", SESSION)  # login, InvalidToken, (no second login)
    assert pds_proxy.count(LOGIN) == 1


def test_rate_limited_login_waits_for_the_reset(pds_proxy, account) -> None:
    reset = int(time.time()) + 120
    pds_proxy.inject(
        Fault(
            match=pds_proxy.when(LOGIN),
            response=xrpc_error(429, "RateLimitExceeded", headers={"RateLimit-Reset": str(reset)}),
        )
    )
    session = session_for(pds_proxy, account, state={})
    with pytest.raises(RateLimited) as limited:
        session.ensure()
    assert limited.value.retry_after is not None and 110 <= limited.value.retry_after <= 121
    assert not session.refused  # a rate limit is not a refusal


@pytest.mark.parametrize(
    ("status", "name", "before", "posting"),
    [
        (400, "InvalidRequest", PermanentError, PermanentError),
        (401, "AuthMissing", AuthExpired, AuthExpired),
        (400, "AccountTakedown", AuthExpired, AuthExpired),
        (413, "PayloadTooLarge", PermanentError, PermanentError),
        (500, "InternalServerError", TransientError, TransientError),
        (503, "NotEnoughResources", TransientError, TransientError),
        (502, "UpstreamFailure", TransientError, OutcomeUnknown),
        (504, "UpstreamTimeout", TransientError, OutcomeUnknown),
    ],
)
def test_errors_are_classified_by_name_and_by_whether_the_post_was_sent(
    pds_proxy, account, status, name, before, posting
) -> None:
    session = session_for(pds_proxy, account)
    for sent_post, expected in ((False, before), (True, posting)):
        pds_proxy.inject(Fault(match=pds_proxy.when(SESSION), response=xrpc_error(status, name, "no")))
        with pytest.raises(expected) as raised:
            session.call("GET", SESSION, sent_post=sent_post)
        assert type(raised.value) is expected and raised.value.http_status == status
        assert f"{status} to {SESSION}: {name} (no)" in raised.value.message


def test_a_rate_limit_carries_the_epoch_reset(pds_proxy, account) -> None:
    session = session_for(pds_proxy, account)
    reset = int(time.time()) + 300
    pds_proxy.inject(
        Fault(
            match=pds_proxy.when(SESSION),
            response=xrpc_error(429, "RateLimitExceeded", headers={"RateLimit-Reset": str(reset)}),
        )
    )
    with pytest.raises(RateLimited) as limited:
        session.call("GET", SESSION)
    assert 290 <= (limited.value.retry_after or 0) <= 301


def test_a_lost_answer_is_unknown_only_for_the_post_itself(pds_proxy, account) -> None:
    session = session_for(pds_proxy, account)
    pds_proxy.inject(Fault(match=pds_proxy.when(SESSION), drop=True, after_processing=True))
    with pytest.raises(TransientError, match="nothing was posted yet"):
        session.call("GET", SESSION)
    pds_proxy.inject(Fault(match=pds_proxy.when(SESSION), drop=True, after_processing=True))
    with pytest.raises(OutcomeUnknown):
        session.call("GET", SESSION, sent_post=True)


def test_a_session_for_another_service_is_not_used(pds_proxy, account) -> None:
    state: dict[str, Any] = {"accessJwt": "x", "refreshJwt": "y", "pds": "https://elsewhere.example"}
    session_for(pds_proxy, account, state=state).ensure()
    assert state["pds"] == pds_proxy.url and pds_proxy.count(LOGIN) == 1


def test_a_non_json_error_is_still_classified(pds_proxy, account) -> None:
    session = session_for(pds_proxy, account)
    pds_proxy.inject(Fault(match=pds_proxy.when(SESSION), response=Response(503, raw=b"<html>busy</html>")))
    with pytest.raises(TransientError, match="busy"):
        session.call("GET", SESSION)
