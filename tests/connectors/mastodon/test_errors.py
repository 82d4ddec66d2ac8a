"""How publishing to Mastodon fails (connectors/mastodon/connector.py): errors from the contract server,
rate limits (the `X-RateLimit-Reset` header, `Retry-After`, the server's own budget) and transport
failures (timeouts, refused and dropped connections, answers without a status id).

Sources: NETWORKS.md §3 (the error table) and `tests/servers/mastodon.py` (written from the
official documentation).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from postmast.connectors import Content, RemoteRef
from postmast.connectors.errors import (
    AuthExpired,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.connectors.http import HttpClient
from postmast.connectors.mastodon import Mastodon
from tests.connectors.mastodon.support import CREDS, KEY, connector
from tests.servers.base import Fault, Response
from tests.servers.mastodon import MastodonServer
from tests.servers.raw import refused_port

# -- errors from the server -----------------------------------------------------------------------------


def test_unknown_token_is_auth_expired(mastodon: MastodonServer) -> None:
    with pytest.raises(AuthExpired) as caught:
        connector(mastodon).publish(Content("hi"), {"access_token": "revoked-t0ken"}, KEY)
    assert caught.value.http_status == 401
    assert "The access token is invalid" in str(caught.value)
    assert "revoked-t0ken" not in str(caught.value)
    assert mastodon.created == []


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_blank_status_is_permanent(mastodon: MastodonServer, text: str) -> None:
    with pytest.raises(PermanentError) as caught:
        connector(mastodon).publish(Content(text), CREDS, KEY)
    assert caught.value.http_status == 422
    assert "blank" in str(caught.value)
    assert mastodon.created == []


def test_over_long_as_the_server_counts_is_permanent() -> None:
    """The instance's real limit is lower than the account setting: only the server knows."""
    server = MastodonServer({"token-a": "alice"}, max_characters=100)
    server.start()
    try:
        account = connector(server, max_length="500")
        assert account.validate(Content("a" * 101)) == []
        with pytest.raises(PermanentError) as caught:
            account.publish(Content("a" * 101), CREDS, KEY)
        assert caught.value.http_status == 422
        assert "character limit of 100" in str(caught.value)
        account.publish(Content("a" * 100), CREDS, KEY + "-fits")
        assert len(server.created) == 1
    finally:
        server.stop()


def test_unknown_reply_target_is_permanent(mastodon: MastodonServer) -> None:
    with pytest.raises(PermanentError) as caught:
        connector(mastodon).publish(Content("reply", reply_to=RemoteRef("999999")), CREDS, KEY)
    assert caught.value.http_status == 404
    assert "Record not found" in str(caught.value)


def test_bad_visibility_is_permanent(mastodon: MastodonServer) -> None:
    with pytest.raises(PermanentError) as caught:
        connector(mastodon).publish(Content("hi", options={"visibility": "everyone"}), CREDS, KEY)
    assert caught.value.http_status == 422


def test_transient_5xx_then_retry_with_the_same_key_posts_once(mastodon: MastodonServer) -> None:
    mastodon.inject(Fault(response=Response(503, {"error": "Remote data could not be fetched"})))
    account = connector(mastodon)
    with pytest.raises(TransientError):
        account.publish(Content("retry me"), CREDS, KEY)
    assert mastodon.created == []
    result = account.publish(Content("retry me"), CREDS, KEY)
    assert [c["id"] for c in mastodon.created] == [result.remote_id]


# -- rate limits ------------------------------------------------------------------------------------------


def test_rate_limited_with_iso8601_reset(mastodon: MastodonServer) -> None:
    mastodon.inject(
        Fault(
            response=Response(
                429, {"error": "Too many requests"}, {"X-RateLimit-Reset": mastodon.reset_in(120)}
            )
        )
    )
    with pytest.raises(RateLimited) as caught:
        connector(mastodon).publish(Content("hi"), CREDS, KEY)
    assert caught.value.http_status == 429
    assert caught.value.retry_after == pytest.approx(120, abs=3)
    assert "Too many requests" in str(caught.value)


def test_rate_limited_with_epoch_reset(mastodon: MastodonServer) -> None:
    reset = str(int(time.time()) + 90)
    mastodon.inject(
        Fault(response=Response(429, {"error": "Too many requests"}, {"X-RateLimit-Reset": reset}))
    )
    with pytest.raises(RateLimited) as caught:
        connector(mastodon).publish(Content("hi"), CREDS, KEY)
    assert caught.value.retry_after == pytest.approx(90, abs=3)


def test_rate_limited_falls_back_to_retry_after(mastodon: MastodonServer) -> None:
    mastodon.inject(Fault(response=Response(429, {"error": "Too many requests"}, {"Retry-After": "42"})))
    with pytest.raises(RateLimited) as caught:
        connector(mastodon).publish(Content("hi"), CREDS, KEY)
    assert caught.value.retry_after == 42.0


def test_rate_limited_without_any_hint(mastodon: MastodonServer) -> None:
    mastodon.inject(Fault(response=Response(429, {"error": "Too many requests"})))
    with pytest.raises(RateLimited) as caught:
        connector(mastodon).publish(Content("hi"), CREDS, KEY)
    assert caught.value.retry_after is None


def test_rate_limited_by_the_servers_own_budget() -> None:
    server = MastodonServer({"token-a": "alice"}, rate_limit=1, window=300)
    server.start()
    try:
        account = connector(server)
        account.publish(Content("one"), CREDS, "k1")
        with pytest.raises(RateLimited) as caught:
            account.publish(Content("two"), CREDS, "k2")
    finally:
        server.stop()
    assert caught.value.retry_after == pytest.approx(300, abs=5)
    assert len(server.created) == 1


def test_an_unreadable_reset_falls_back_to_retry_after(mastodon: MastodonServer) -> None:
    headers = {"X-RateLimit-Reset": "soon", "Retry-After": "42"}
    mastodon.inject(Fault(response=Response(429, {"error": "Too many requests"}, headers)))
    with pytest.raises(RateLimited) as caught:
        connector(mastodon).publish(Content("hi"), CREDS, KEY)
    assert caught.value.retry_after == 42.0


# -- transport failures -------------------------------------------------------------------------------------


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # never leave a server thread holding a response


def test_answer_held_past_the_read_timeout_is_outcome_unknown(
    mastodon: MastodonServer, release: threading.Event
) -> None:
    mastodon.inject(Fault(hold=release))
    slow = Mastodon({"instance": mastodon.url}, HttpClient(read_timeout=0.5))
    started = time.monotonic()
    with pytest.raises(OutcomeUnknown):
        slow.publish(Content("in flight"), CREDS, KEY)
    assert time.monotonic() - started < 3
    release.set()
    # the status was created: the same key finds it instead of posting again
    result = connector(mastodon).publish(Content("in flight"), CREDS, KEY)
    assert [c["id"] for c in mastodon.created] == [result.remote_id]


def test_connection_refused_is_transient() -> None:
    with refused_port() as port:
        account = Mastodon({"instance": f"http://127.0.0.1:{port}"}, HttpClient(connect_timeout=2))
        with pytest.raises(TransientError) as caught:
            account.publish(Content("hi"), CREDS, KEY)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "token-a" not in str(caught.value)


def test_connection_dropped_after_processing_is_outcome_unknown(mastodon: MastodonServer) -> None:
    mastodon.inject(Fault(after_processing=True, drop=True))
    account = connector(mastodon)
    with pytest.raises(OutcomeUnknown):
        account.publish(Content("dropped"), CREDS, KEY)
    assert len(mastodon.created) == 1  # it was posted, and nobody was told
    result = account.publish(Content("dropped"), CREDS, KEY)
    assert [c["id"] for c in mastodon.created] == [result.remote_id]


def test_connection_dropped_before_processing_is_outcome_unknown_too(mastodon: MastodonServer) -> None:
    """From the client's side the two drops look the same; it must not assume either."""
    mastodon.inject(Fault(drop=True))
    with pytest.raises(OutcomeUnknown):
        connector(mastodon).publish(Content("dropped"), CREDS, KEY)
    assert mastodon.created == []


@pytest.mark.parametrize(
    "response",
    [
        Response(200, {"url": "http://127.0.0.1/@alice/1"}),
        Response(200, {"id": "", "url": "http://127.0.0.1/@alice/1"}),
        Response(200, {"id": None}),
        Response(200, ["not", "a", "status"]),
        Response(200, raw=b"<html>welcome</html>", headers={"Content-Type": "text/html"}),
        Response(200, raw=b""),
    ],
    ids=["no-id", "empty-id", "null-id", "list", "html", "empty"],
)
def test_200_without_a_status_id_is_outcome_unknown(mastodon: MastodonServer, response: Response) -> None:
    mastodon.inject(Fault(response=response, after_processing=True))
    with pytest.raises(OutcomeUnknown) as caught:
        connector(mastodon).publish(Content("hi"), CREDS, KEY)
    assert caught.value.http_status == 200


def test_status_without_url_falls_back_to_uri(mastodon: MastodonServer) -> None:
    mastodon.inject(Fault(response=Response(200, {"id": 7, "url": None, "uri": "https://m.example/s/7"})))
    result = connector(mastodon).publish(Content("hi"), CREDS, KEY)
    assert (result.remote_id, result.url) == ("7", "https://m.example/s/7")
