"""Discord's small rules: webhook URLs, nonces, snowflakes and the wait of a 429."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from postmast.connectors.discord.api import (
    checked,
    created_at_ms,
    nonce,
    parse_webhook,
    snowflake_at,
    wait_of,
)
from postmast.connectors.errors import (
    AuthExpired,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "url",
    [
        "https://discord.com/api/webhooks/1200000000000000001/wHk-T0ken_9f",
        "https://discord.com/api/v10/webhooks/1200000000000000001/wHk-T0ken_9f/",
        "https://ptb.discord.com/api/v9/webhooks/1200000000000000001/wHk-T0ken_9f",
    ],
)
def test_webhook_urls_as_discord_gives_them(url: str) -> None:
    hook = parse_webhook(url)
    assert hook is not None and (hook.id, hook.token) == ("1200000000000000001", "wHk-T0ken_9f")
    assert hook.url.endswith("/api/v10/webhooks/1200000000000000001/wHk-T0ken_9f")


@pytest.mark.parametrize(
    "url", ["https://discord.com/api/webhooks/abc/def", "https://discord.com/channels/1/2", "not a url", ""]
)
def test_other_urls_are_not_webhooks(url: str) -> None:
    assert parse_webhook(url) is None


def test_the_nonce_is_stable_short_and_distinct_per_item() -> None:
    key = "3f2a8c1e-5b7d-4e90-a1c2-d3e4f5a6b7c8"
    assert nonce(key) == nonce(key) and len(nonce(key)) == 25
    assert nonce(key) != nonce(f"{key}-1")


def test_snowflakes_of_an_instant() -> None:
    flake = snowflake_at(NOW)
    assert created_at_ms(str(flake)) == int(NOW.timestamp() * 1000)
    assert created_at_ms("175928847299117063") == 1462015105796  # discord-api-docs reference.md's example


def response(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> requests.Response:
    made = requests.Response()
    made.status_code = status
    made._content = body
    made.headers.update({"Content-Type": "application/json", **(headers or {})})
    return made


def test_a_429_waits_the_bodys_retry_after_then_the_headers() -> None:
    body = b'{"message": "You are being rate limited.", "retry_after": 64.57, "global": false}'
    assert wait_of(response(429, body, {"Retry-After": "65"}), {"retry_after": 64.57}, NOW) == 64.57
    assert wait_of(response(429, b"{}", {"Retry-After": "7"}), {}, NOW) == 7
    assert wait_of(response(429, b"{}", {"X-RateLimit-Reset-After": "1.25"}), {}, NOW) == 1.25
    reset = f"{NOW.timestamp() + 30:.3f}"
    assert wait_of(response(429, b"{}", {"X-RateLimit-Reset": reset}), {}, NOW) == pytest.approx(30)
    with pytest.raises(RateLimited, match="scope: shared") as caught:
        checked(response(429, body, {"X-RateLimit-Scope": "shared"}), sends=True, now=NOW)
    assert caught.value.retry_after == 64.57


@pytest.mark.parametrize(
    ("status", "body", "sends", "error"),
    [
        (401, b'{"message": "Invalid Webhook Token", "code": 50027}', True, AuthExpired),
        (403, b'{"message": "Missing Permissions", "code": 50013}', True, AuthExpired),
        (404, b'{"message": "Unknown Webhook", "code": 10015}', True, AuthExpired),
        (404, b'{"message": "Unknown Message", "code": 10008}', True, PermanentError),
        (400, b'{"message": "Invalid Form Body", "code": 50035}', True, PermanentError),
        (413, b'{"message": "Request entity too large", "code": 40005}', True, PermanentError),
        (502, b"<html>Bad Gateway</html>", True, OutcomeUnknown),
        (500, b'{"message": "500: Internal Server Error", "code": 0}', True, OutcomeUnknown),
        (502, b"<html>Bad Gateway</html>", False, TransientError),
        (200, b"not json", True, OutcomeUnknown),
    ],
)
def test_the_error_table(status: int, body: bytes, sends: bool, error: type[Exception]) -> None:
    with pytest.raises(error):
        checked(response(status, body), sends=sends, now=NOW)


def test_an_invalid_form_body_names_the_first_field() -> None:
    body = (
        b'{"message": "Invalid Form Body", "code": 50035, "errors": {"content": {"_errors": '
        b'[{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}}'
    )
    with pytest.raises(PermanentError, match=r"content: Must be 2000 or fewer in length\."):
        checked(response(400, body), sends=True, now=NOW)
