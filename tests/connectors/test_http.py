"""HttpClient against real sockets: which transport failures may have reached the network.

A refused connect or a deadline reached before sending is `TransientError` (certainly
not sent, safe to retry); a read timeout, a connection closed or reset after the
request went out, or a truncated answer is `OutcomeUnknown` (must not be re-sent
blindly). Messages name host:port only, never the path, query or userinfo.
"""

from __future__ import annotations

import time

import pytest
import requests

from postmast.connectors.errors import ConnectorError, OutcomeUnknown, TransientError
from postmast.connectors.http import USER_AGENT, HttpClient, host_of, json_or_none, short_body
from tests.servers.base import ContractServer, Request, Response
from tests.servers.raw import RawServer, refused_port

SECRET_PATH = "/hooks/T0KEN-path-s3cret"
SECRET_QUERY = "sig=QUERY-s3cret"
USERINFO = "user:PASSW0RD-s3cret"


def assert_secret_free(error: ConnectorError, port: int) -> None:
    message = str(error)
    assert f"127.0.0.1:{port}" in message
    for secret in ("T0KEN-path-s3cret", "QUERY-s3cret", "PASSW0RD-s3cret", "/hooks"):
        assert secret not in message, message
    # the requests exception (whose text has the full URL) is not chained for tracebacks to print
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


def url_for(port: int, userinfo: bool = False) -> str:
    auth = f"{USERINFO}@" if userinfo else ""
    return f"http://{auth}127.0.0.1:{port}{SECRET_PATH}?{SECRET_QUERY}"


class Echo(ContractServer):
    """Answers 200 with what it received, or a redirect on /redirect."""

    def handle(self, request: Request) -> Response:
        if request.path == "/redirect":
            return Response(302, {"moved": True}, {"Location": "/elsewhere"})
        return Response(200, {"path": request.path, "body": request.body.decode()})


@pytest.fixture
def echo():
    server = Echo().start()
    yield server
    server.stop()


# -- never sent: TransientError ---------------------------------------------------------------------


@pytest.mark.parametrize("userinfo", [False, True])
def test_refused_connection_is_transient_and_names_the_host_only(userinfo: bool) -> None:
    client = HttpClient(connect_timeout=2, read_timeout=2)
    with refused_port() as port, pytest.raises(TransientError) as caught:
        client.post(url_for(port, userinfo), json={"text": "hi"})
    assert "could not connect" in str(caught.value)
    assert_secret_free(caught.value, port)


def test_deadline_already_passed_sends_nothing() -> None:
    with RawServer("hang") as server:
        client = HttpClient(deadline=time.monotonic() - 1)
        with pytest.raises(TransientError) as caught:
            client.post(url_for(server.port), json={"text": "hi"})
        time.sleep(0.2)  # an accidental connection would have been accepted by now
        assert server.connections == 0
        assert server.received == []
    assert "time limit" in str(caught.value)
    assert_secret_free(caught.value, server.port)


def test_deadline_too_close_to_start_a_request_sends_nothing() -> None:
    with RawServer("hang") as server:
        client = HttpClient(deadline=time.monotonic() + 0.3)
        with pytest.raises(TransientError):
            client.get(url_for(server.port))
        time.sleep(0.2)
        assert server.connections == 0


def test_connect_timeout_is_transient() -> None:
    """Corner case at the requests level: a connect timeout cannot be produced on loopback."""

    class Unreachable(requests.Session):
        def request(self, *args, **kwargs):
            raise requests.ConnectTimeout("HTTPConnectionPool(host='10.0.0.1', port=80): /secret/path")

    client = HttpClient(session=Unreachable())
    with pytest.raises(TransientError) as caught:
        client.post("http://10.0.0.1/secret/path?token=abc")
    assert "10.0.0.1" in str(caught.value)
    assert "secret" not in str(caught.value)
    assert "token" not in str(caught.value)


# -- may have been sent: OutcomeUnknown -------------------------------------------------------------


def test_server_that_never_answers_is_outcome_unknown_after_the_read_timeout() -> None:
    with RawServer("hang") as server:
        client = HttpClient(connect_timeout=2, read_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(OutcomeUnknown) as caught:
            client.post(url_for(server.port), json={"text": "hi"})
        elapsed = time.monotonic() - started
        assert len(server.received) == 1  # the request did arrive: that is why it is "unknown"
    assert 0.4 <= elapsed < 3
    assert "0.5s" in str(caught.value)
    assert_secret_free(caught.value, server.port)


def test_deadline_caps_the_read_timeout() -> None:
    with RawServer("hang") as server:
        client = HttpClient(read_timeout=30, deadline=time.monotonic() + 1.2)
        started = time.monotonic()
        with pytest.raises(OutcomeUnknown):
            client.post(url_for(server.port), json={"text": "hi"})
        assert time.monotonic() - started < 3
        assert len(server.received) == 1


@pytest.mark.parametrize("behaviour", ["close", "reset", "truncate"])
def test_connection_broken_after_the_request_is_outcome_unknown(behaviour: str) -> None:
    with RawServer(behaviour) as server:
        client = HttpClient(connect_timeout=2, read_timeout=5)
        with pytest.raises(OutcomeUnknown) as caught:
            client.post(url_for(server.port, userinfo=True), json={"text": "hi"})
        assert len(server.received) == 1
        assert b'"text": "hi"' in server.received[0]
    assert_secret_free(caught.value, server.port)


# -- normal exchanges ---------------------------------------------------------------------------------


def test_answers_are_returned_with_the_user_agent(echo: Echo) -> None:
    client = HttpClient(connect_timeout=2, read_timeout=2, deadline=time.monotonic() + 30)
    response = client.post(f"{echo.url}/path", data=b"payload")
    assert response.status_code == 200
    assert response.json() == {"path": "/path", "body": "payload"}
    assert echo.requests[0].header("User-Agent") == USER_AGENT


def test_redirects_are_not_followed(echo: Echo) -> None:
    """Following a redirect could send a POST twice or to another host; the connector decides."""
    response = HttpClient().post(f"{echo.url}/redirect", json={"text": "hi"})
    assert response.status_code == 302
    assert [r.path for r in echo.requests] == ["/redirect"]


def test_error_statuses_are_returned_not_raised() -> None:
    """HttpClient classifies transport failures only; statuses are the connector's business."""

    class Failing(ContractServer):
        def handle(self, request: Request) -> Response:
            return Response(503, raw=b"<html>\n  down   for\tmaintenance </html>")

    server = Failing().start()
    try:
        response = HttpClient().get(server.url)
    finally:
        server.stop()
    assert response.status_code == 503
    assert json_or_none(response) is None
    assert short_body(response) == "<html> down for maintenance </html>"
    assert short_body(response, limit=10) == "<html> do…"


def test_host_of_drops_userinfo_path_and_query() -> None:
    assert host_of("https://user:pw@example.org:8443/a/b?c=d#e") == "example.org:8443"
    assert host_of("http://example.org/hook") == "example.org"
    assert host_of("not a url") == "?"
