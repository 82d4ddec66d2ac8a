"""The webhook connector against a local receiver that checks the documented contract."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from standardwebhooks import Webhook as StandardWebhook
from standardwebhooks import WebhookVerificationError

from postmast.clock import Clock, system
from postmast.connectors import Content, RemoteRef
from postmast.connectors.errors import (
    AuthExpired,
    ConnectorError,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.connectors.http import HttpClient
from postmast.connectors.webhook import Webhook, signature
from tests.servers.base import Fault, Response
from tests.servers.raw import refused_port
from tests.servers.webhook import WebhookServer

KEY = "delivery-7f3a"
SECRET = "whsec_" + base64.b64encode(b"a key of twenty-four byt").decode()
PATH_SECRET = "T0KEN-in-the-path-9c1e"
QUERY_SECRET = "QUERY-s3cret-77"


@pytest.fixture
def receiver() -> Iterator[WebhookServer]:
    server = WebhookServer().start()
    yield server
    server.stop()


@pytest.fixture
def signed_receiver() -> Iterator[WebhookServer]:
    server = WebhookServer(SECRET).start()
    yield server
    server.stop()


def hook(server: WebhookServer, clock: Clock = system, **settings: str) -> Webhook:
    return Webhook(
        {"url": f"{server.url}/hook", **settings}, HttpClient(connect_timeout=2, read_timeout=2), clock=clock
    )


# -- the request ---------------------------------------------------------------------------------------


def test_the_webhook_declares_no_post_options() -> None:
    """The documented body is text, idempotency key and reply target: no options."""
    assert Webhook.options == ()
    assert [p.message for p in Webhook.check_options({"visibility": "public"})] == [
        "unknown option 'visibility' for webhook (known: none)"
    ]


def test_publish_posts_the_documented_json(receiver: WebhookServer) -> None:
    content = Content("Hello, world 👋 — ünïcødé", reply_to=RemoteRef("41"))
    result = hook(receiver).publish(content, {}, KEY)

    [request] = receiver.requests
    assert request.method == "POST" and request.path == "/hook"
    assert request.header("Content-Type") == "application/json"
    assert request.header("Idempotency-Key") == KEY
    assert request.json() == {"text": "Hello, world 👋 — ünïcødé", "idempotency_key": KEY, "reply_to": "41"}
    assert "ünïcødé".encode() in request.body  # UTF-8 on the wire, not \\u escapes
    assert request.header("webhook-signature") is None  # no secret, no signature

    assert result.remote_id == receiver.created[0]["id"]
    assert result.url == f"{receiver.url}/items/{result.remote_id}"
    assert result.http_status == 200


def test_payload_is_what_was_sent(receiver: WebhookServer) -> None:
    connector = hook(receiver)
    contents = (Content("one"), Content("two", reply_to=RemoteRef("1")), Content("ß\n\ttabs"))
    for index, content in enumerate(contents):
        connector.publish(content, {}, f"{KEY}-{index}")
        assert receiver.requests[-1].json() == connector.payload(content, f"{KEY}-{index}")
    assert len(receiver.created) == len(contents)
    assert connector.payload(Content("x"))["idempotency_key"]  # dry run shows a placeholder key


def test_reply_to_is_null_when_not_a_reply(receiver: WebhookServer) -> None:
    hook(receiver).publish(Content("top"), {}, KEY)
    assert receiver.requests[0].json()["reply_to"] is None


def test_replaying_a_key_returns_the_same_item(receiver: WebhookServer) -> None:
    connector = hook(receiver)
    first = connector.publish(Content("once"), {}, KEY)
    again = connector.publish(Content("once"), {}, KEY)
    other = connector.publish(Content("once"), {}, KEY + "-other")
    assert first.remote_id == again.remote_id != other.remote_id
    assert [r.header("Idempotency-Key") for r in receiver.requests] == [KEY, KEY, KEY + "-other"]
    assert len(receiver.created) == 2


# -- signatures ------------------------------------------------------------------------------------------


def test_the_signature_follows_the_standard_webhooks_vector() -> None:
    """The convention's own test vector: standard-webhooks/standard-webhooks,
    libraries/python/tests/test_webhooks.py::test_sign_function (commit 33d368b2, MIT)."""
    body = b'{"test": 2432232314}'
    assert (
        signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_a_receiver_verifies_with_the_standard_webhooks_library_and_rejects_a_replay(
    signed_receiver: WebhookServer,
) -> None:
    content = Content("signed 🔏 text", reply_to=RemoteRef("9"))
    result = hook(signed_receiver, clock=system).publish(content, {"signing_secret": SECRET}, KEY)
    [request] = signed_receiver.requests
    headers = {
        name: request.header(name) or "" for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }
    assert headers["webhook-id"] == request.header("Idempotency-Key") == KEY  # receivers de-duplicate on it
    assert headers["webhook-signature"].startswith("v1,")
    assert StandardWebhook(SECRET).verify(request.body, headers) == request.json()  # the library agrees
    assert result.remote_id == signed_receiver.created[0]["id"]
    with pytest.raises(WebhookVerificationError):  # the same bytes with the body changed
        StandardWebhook(SECRET).verify(request.body.replace(b"signed", b"forged"), headers)
    # a capture replayed later: its timestamp is past the library's tolerance
    late = hook(signed_receiver, clock=lambda: system() - timedelta(minutes=6))
    with pytest.raises(AuthExpired):
        late.publish(content, {"signing_secret": SECRET}, "another-key")
    stale = signed_receiver.requests[-1]
    with pytest.raises(WebhookVerificationError, match="too old"):
        StandardWebhook(SECRET).verify(
            stale.body,
            {n: stale.header(n) or "" for n in ("webhook-id", "webhook-timestamp", "webhook-signature")},
        )


def test_a_secret_without_the_prefix_is_used_as_bytes() -> None:
    body = b"{}"
    expected = hmac.new(b"plain secret", b"id.1700000000.{}", hashlib.sha256).digest()
    assert signature("plain secret", "id", 1700000000, body) == "v1," + base64.b64encode(expected).decode()
    assert Webhook.check_secrets({"signing_secret": "whsec_not base64!"})[0].message == (
        "signing_secret: after whsec_ it must be base64"
    )


@pytest.mark.parametrize("credentials", [{"signing_secret": "a-wrong-secret"}, {}, {"signing_secret": ""}])
def test_a_receiver_refusing_the_signature_is_auth_expired(
    signed_receiver: WebhookServer, credentials: dict[str, str]
) -> None:
    with pytest.raises(AuthExpired) as caught:
        hook(signed_receiver, clock=system).publish(Content("hi"), credentials, KEY)
    assert caught.value.http_status == 401
    assert "signature" in str(caught.value) or "missing" in str(caught.value)
    assert signed_receiver.created == []


def test_unsigned_when_the_secret_is_empty(receiver: WebhookServer) -> None:
    hook(receiver).publish(Content("hi"), {"signing_secret": ""}, KEY)
    assert receiver.requests[0].header("webhook-signature") is None


# -- the answer -----------------------------------------------------------------------------------------


def test_a_non_json_answer_uses_the_idempotency_key_as_remote_id() -> None:
    server = WebhookServer(answer="text").start()
    try:
        result = hook(server).publish(Content("hi"), {}, KEY)
    finally:
        server.stop()
    assert (result.remote_id, result.url, result.http_status) == (KEY, None, 200)
    assert len(server.created) == 1


def test_an_empty_204_uses_the_idempotency_key_as_remote_id() -> None:
    server = WebhookServer(answer="empty").start()
    try:
        result = hook(server).publish(Content("hi"), {}, KEY)
    finally:
        server.stop()
    assert (result.remote_id, result.url, result.http_status) == (KEY, None, 204)


@pytest.mark.parametrize(
    ("body", "remote_id", "url"),
    [
        ({"id": 42, "url": "https://example.org/p/42"}, "42", "https://example.org/p/42"),
        ({"id": "abc"}, "abc", None),
        ({"id": "abc", "url": ""}, "abc", None),
        ({"id": None, "url": "https://example.org/x"}, KEY, None),
        ({"status": "queued"}, KEY, None),
        (["not", "an", "object"], KEY, None),
    ],
)
def test_json_answers(receiver: WebhookServer, body: object, remote_id: str, url: str | None) -> None:
    receiver.inject(Fault(response=Response(201, body)))
    result = hook(receiver).publish(Content("hi"), {}, KEY)
    assert (result.remote_id, result.url, result.http_status) == (remote_id, url, 201)


# -- errors (the module docstring's table) ----------------------------------------------------------------

ERROR_TABLE = [
    (401, AuthExpired),
    (403, AuthExpired),
    (429, RateLimited),
    (408, TransientError),
    (500, TransientError),
    (503, TransientError),
    (502, OutcomeUnknown),
    (504, OutcomeUnknown),
    (400, PermanentError),
    (404, PermanentError),
    (409, PermanentError),
    (410, PermanentError),
    (413, PermanentError),
    (422, PermanentError),
    (501, TransientError),
    (507, TransientError),
    (599, TransientError),
]


@pytest.mark.parametrize(("status", "error"), ERROR_TABLE)
def test_error_table(receiver: WebhookServer, status: int, error: type[ConnectorError]) -> None:
    receiver.inject(Fault(response=Response(status, {"error": f"receiver says {status}"})))
    with pytest.raises(ConnectorError) as caught:
        hook(receiver).publish(Content("hi"), {}, KEY)
    assert type(caught.value) is error
    assert caught.value.http_status == status
    assert f"receiver says {status}" in str(caught.value)
    assert receiver.created == []


def test_rate_limited_with_retry_after_seconds(receiver: WebhookServer) -> None:
    receiver.inject(Fault(response=Response(429, {"error": "slow down"}, {"Retry-After": "30"})))
    with pytest.raises(RateLimited) as caught:
        hook(receiver).publish(Content("hi"), {}, KEY)
    assert caught.value.retry_after == 30.0


def test_rate_limited_with_retry_after_http_date(receiver: WebhookServer) -> None:
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=90)
    receiver.inject(Fault(response=Response(429, None, {"Retry-After": format_datetime(when, usegmt=True)})))
    with pytest.raises(RateLimited) as caught:
        hook(receiver).publish(Content("hi"), {}, KEY)
    assert caught.value.retry_after == pytest.approx(90, abs=3)


def test_rate_limited_without_retry_after(receiver: WebhookServer) -> None:
    receiver.inject(Fault(response=Response(429, {"error": "slow down"})))
    with pytest.raises(RateLimited) as caught:
        hook(receiver).publish(Content("hi"), {}, KEY)
    assert caught.value.retry_after is None


def test_long_error_bodies_are_shortened(receiver: WebhookServer) -> None:
    receiver.inject(Fault(response=Response(400, raw=b"x" * 5000)))
    with pytest.raises(PermanentError) as caught:
        hook(receiver).publish(Content("hi"), {}, KEY)
    assert len(str(caught.value)) < 400


# -- secrets in the URL never reach an error message -------------------------------------------------------


def secret_url(base: str) -> str:
    return f"{base}/hooks/{PATH_SECRET}?sig={QUERY_SECRET}"


def assert_no_url_secret(error: ConnectorError) -> None:
    message = f"{error} {error!r} {error.message}"
    assert PATH_SECRET not in message
    assert QUERY_SECRET not in message
    assert "/hooks" not in message


@pytest.mark.parametrize(("status", "error"), ERROR_TABLE)
def test_status_errors_never_show_the_url(
    receiver: WebhookServer, status: int, error: type[ConnectorError]
) -> None:
    receiver.inject(Fault(response=Response(status, {"error": "no"})))
    connector = Webhook({"url": secret_url(receiver.url)})
    with pytest.raises(error) as caught:
        connector.publish(Content("hi"), {}, KEY)
    assert receiver.requests[0].path == f"/hooks/{PATH_SECRET}"  # the secret path was really used
    assert_no_url_secret(caught.value)


def test_transport_errors_never_show_the_url(receiver: WebhookServer) -> None:
    release = threading.Event()
    raised: list[ConnectorError] = []
    try:
        with refused_port() as port, pytest.raises(TransientError) as refused:
            Webhook({"url": secret_url(f"http://127.0.0.1:{port}")}).publish(Content("hi"), {}, KEY)
        raised.append(refused.value)

        receiver.inject(Fault(hold=release))
        slow = Webhook({"url": secret_url(receiver.url)}, HttpClient(read_timeout=0.3))
        with pytest.raises(OutcomeUnknown) as timed_out:
            slow.publish(Content("hi"), {}, KEY)
        raised.append(timed_out.value)

        receiver.inject(Fault(drop=True, after_processing=True))
        with pytest.raises(OutcomeUnknown) as dropped:
            Webhook({"url": secret_url(receiver.url)}).publish(Content("hi"), {}, KEY + "2")
        raised.append(dropped.value)
    finally:
        release.set()
    assert len(raised) == 3
    for error in raised:
        assert "127.0.0.1:" in str(error)
        assert_no_url_secret(error)


# -- settings and validation --------------------------------------------------------------------------------


def test_valid_settings() -> None:
    assert Webhook.check_settings({"url": "https://example.org/hook"}) == []
    assert Webhook.check_settings({"url": "http://127.0.0.1:8080/h?x=1", "max_length": "280"}) == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/hook",
        "example.org/hook",
        "http://",
        "https:///path",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "//example.org/hook",
    ],
)
def test_non_http_urls_are_rejected(url: str) -> None:
    problems = Webhook.check_settings({"url": url})
    assert [p.message for p in problems] == ["url must be an absolute http(s) URL"]


def test_missing_url() -> None:
    [problem] = Webhook.check_settings({})
    assert "missing setting 'url'" in problem.message
    [problem] = Webhook.check_settings({"url": ""})
    assert "missing setting 'url'" in problem.message


def test_unknown_settings_are_named_with_the_known_ones() -> None:
    [problem] = Webhook.check_settings({"url": "https://example.org/h", "colour": "blue"})
    assert "'colour'" in problem.message
    assert "max_length" in problem.message and "url" in problem.message


@pytest.mark.parametrize("limit", ["0", "-5", "abc", "1.5", " 10", "1e3", "²", "١٢٣x"])
def test_bad_max_length(limit: str) -> None:
    problems = Webhook.check_settings({"url": "https://example.org/h", "max_length": limit})
    assert [p.message for p in problems] == ["max_length must be a positive whole number (at most 99999999)"]


def test_secrets() -> None:
    assert Webhook.check_secrets({}) == []
    assert Webhook.check_secrets({"signing_secret": "x"}) == []
    [problem] = Webhook.check_secrets({"token": "x"})
    assert problem.message == "an unknown secret name was given for webhook (known: signing_secret)"
    assert "'token'" not in problem.message  # a name may be a pasted secret: never echoed


def test_max_length_setting_limits_validation() -> None:
    connector = Webhook({"url": "https://example.org/h", "max_length": "10"})
    assert connector.limit == 10
    assert connector.validate(Content("a" * 10)) == []
    [problem] = connector.validate(Content("a" * 11))
    assert problem.code == "too_long"
    assert "11" in problem.message and "10" in problem.message
    assert Webhook({"url": "https://example.org/h"}).limit == 65_536


def test_validation_rejects_empty_and_control_characters() -> None:
    connector = Webhook({"url": "https://example.org/h"})
    [problem] = connector.validate(Content(" \n\t "))
    assert problem.code == "empty"
    [problem] = connector.validate(Content("bell\x07"))
    assert "U+0007" in problem.message
