"""mrkdwn escaping (checked against the contract server's separate reading of Slack's control
sequences) and Slack's answers turned into typed errors."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from postmast.connectors.errors import (
    AuthExpired,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.connectors.slack.api import checked, escape, webhook_checked
from tests.servers.slack import shown

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("a & b", "a &amp; b"),
        ("1 < 2 > 0", "1 &lt; 2 &gt; 0"),
        ("<!channel> wake up", "&lt;!channel&gt; wake up"),
        ("<@U0123> and <#C0123|general>", "&lt;@U0123&gt; and &lt;#C0123|general&gt;"),
        ("<https://evil.example|click me>", "&lt;https://evil.example|click me&gt;"),
        ("&amp; stays literal", "&amp;amp; stays literal"),
        ("*bold* _it_ ~s~ `c` 👋", "*bold* _it_ ~s~ `c` 👋"),  # the author's mrkdwn is left alone
    ],
)
def test_escaping_and_what_a_reader_sees(text: str, escaped: str) -> None:
    assert escape(text) == escaped
    assert shown(escape(text)) == (text, [])  # exactly the text, and nobody notified


def test_unescaped_the_control_sequences_would_act() -> None:
    """The check above can fail: sent raw, a text notifies the channel and hides a link."""
    assert shown("<!channel> hi") == ("@channel hi", ["channel"])
    assert shown("<https://evil.example|click me>")[0] == "click me"


@settings(max_examples=int(os.environ.get("POSTMAST_PROPERTY_EXAMPLES", "200")), deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80))
def test_any_text_arrives_as_typed(text: str) -> None:
    assert shown(escape(text)) == (text, [])


def response(status: int, body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    made = requests.Response()
    made.status_code = status
    made._content = body
    made.headers.update(headers or {})
    return made


@pytest.mark.parametrize(
    ("status", "word", "error"),
    [
        (400, "invalid_payload", PermanentError),
        (400, "no_text", PermanentError),
        (403, "invalid_token", AuthExpired),
        (403, "action_prohibited", AuthExpired),
        (404, "no_service", AuthExpired),
        (404, "channel_not_found", AuthExpired),
        (410, "channel_is_archived", AuthExpired),
        (500, "rollup_error", OutcomeUnknown),
        (503, "upstream unavailable", OutcomeUnknown),
        (200, "something else", OutcomeUnknown),
    ],
)
def test_the_webhook_error_table(status: int, word: str, error: type[Exception]) -> None:
    with pytest.raises(error, match=word):
        webhook_checked(response(status, word.encode()), NOW)


def test_a_webhook_429_waits_retry_after() -> None:
    with pytest.raises(RateLimited) as caught:
        webhook_checked(response(429, b"rate_limited", {"Retry-After": "30"}), NOW)
    assert caught.value.retry_after == 30
    webhook_checked(response(200, b"ok"), NOW)  # and the one success


@pytest.mark.parametrize(
    ("code", "sends", "error"),
    [
        ("invalid_auth", True, AuthExpired),
        ("not_authed", True, AuthExpired),
        ("token_revoked", True, AuthExpired),
        ("account_inactive", True, AuthExpired),
        ("missing_scope", True, AuthExpired),
        ("not_in_channel", True, AuthExpired),
        ("channel_not_found", True, AuthExpired),
        ("is_archived", True, AuthExpired),
        ("internal_error", True, OutcomeUnknown),
        ("fatal_error", True, OutcomeUnknown),
        ("internal_error", False, TransientError),
        ("service_unavailable", True, TransientError),
        ("msg_too_long", True, PermanentError),
        ("no_text", True, PermanentError),
        ("invalid_metadata_format", True, PermanentError),
    ],
)
def test_the_web_api_error_table(code: str, sends: bool, error: type[Exception]) -> None:
    body = f'{{"ok": false, "error": "{code}"}}'.encode()
    with pytest.raises(error, match=code):
        checked(response(200, body, {"Content-Type": "application/json"}), sends=sends, now=NOW)


def test_a_web_api_429_and_5xx() -> None:
    limited = response(429, b'{"ok": false, "error": "ratelimited"}', {"Retry-After": "12"})
    with pytest.raises(RateLimited) as caught:
        checked(limited, sends=True, now=NOW)
    assert caught.value.retry_after == 12
    with pytest.raises(OutcomeUnknown):
        checked(response(502, b"<html>bad gateway</html>"), sends=True, now=NOW)
    with pytest.raises(TransientError):
        checked(response(502, b"<html>bad gateway</html>"), sends=False, now=NOW)


def test_hints_say_what_to_do() -> None:
    body = b'{"ok": false, "error": "not_in_channel"}'
    with pytest.raises(AuthExpired, match="invite the app to the channel"):
        checked(response(200, body), sends=True, now=NOW)
