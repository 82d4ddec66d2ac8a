"""Discord's HTTP API as the connector uses it: URLs, nonces, snowflakes, answers and their errors.

Answers are a message object, or `{"code", "message", "errors"?}` (`ErrorResponse`), or for
a 429 `{"message", "retry_after", "global", "code"?}` (`RatelimitedResponse`) with the
`X-RateLimit-*` headers (`Limit`, `Remaining`, `Reset` epoch seconds, `Reset-After` seconds,
`Bucket`, `Scope`) and `Retry-After` (tests/conformance/discord-api-spec/specs/openapi.json;
discord-api-docs topics/rate-limits.md). `connectors/discord/connector.py` has the table.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import regex
import requests

from postmast.connectors.errors import (
    AuthExpired,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.connectors.http import json_or_none, short_body
from postmast.connectors.ratelimit import reset_any, retry_after, retry_after_in_body

DISCORD_EPOCH_MS = 1_420_070_400_000
"""Snowflakes count milliseconds from 2015-01-01 (discord-api-docs reference.md, Snowflakes)."""
_WEBHOOK_URL = regex.compile(
    r"(?P<origin>https?://[^/\s]+)/api(?:/v[0-9]+)?/webhooks/(?P<id>[0-9]{1,20})/(?P<token>[A-Za-z0-9_.-]{1,200})/?"
)
_NEEDS_ATTENTION = {
    10003: "the channel is gone",
    10015: "the webhook was deleted: create a new one and update webhook_url",
    50001: "the bot cannot see the channel",
    50013: "the bot lacks a permission in the channel (View Channel, Send Messages, Attach Files)",
    50027: "the webhook's token is not valid",
}
"""JSON error codes (discord-api-docs topics/opcodes-and-status-codes.md) that no retry can fix."""


@dataclass(frozen=True)
class Webhook:
    """A webhook URL taken apart; `execute` is the versioned URL postmast posts to."""

    origin: str
    id: str
    token: str

    @property
    def url(self) -> str:
        return f"{self.origin}/api/v10/webhooks/{self.id}/{self.token}"


def parse_webhook(url: str) -> Webhook | None:
    """`https://discord.com/api/webhooks/ID/TOKEN` (as Discord's "Copy Webhook URL" gives it), with
    or without a version; None when it is not one."""
    found = _WEBHOOK_URL.fullmatch(url.strip())
    return Webhook(found["origin"], found["id"], found["token"]) if found else None


def nonce(idempotency_key: str) -> str:
    """A 25-character nonce derived from the delivery's key (MessageCreateRequest.nonce: maxLength 25)."""
    return hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:25]


def snowflake_at(when: datetime) -> int:
    """The smallest snowflake of an instant: `after=` it lists the messages created since."""
    return max(0, int(when.timestamp() * 1000) - DISCORD_EPOCH_MS) << 22


def created_at_ms(snowflake: str) -> int:
    return (int(snowflake) >> 22) + DISCORD_EPOCH_MS


def _reason(response: requests.Response, data: Any) -> str:
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        code = data.get("code")
        detail = f"{data['message']} ({code})" if code else data["message"]
        first = _first_field_error(data.get("errors"))
        return f"Discord answered {response.status_code}: {detail}{f'; {first}' if first else ''}"
    return f"Discord answered {response.status_code}: {short_body(response)}"


def _first_field_error(tree: Any, path: str = "") -> str:
    """The first `{"_errors": [{"message"}]}` leaf of an Invalid Form Body tree, with its path."""
    if not isinstance(tree, dict):
        return ""
    errors = tree.get("_errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return f"{path or 'body'}: {errors[0].get('message', '')}"
    for key, value in tree.items():
        found = _first_field_error(value, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return ""


def wait_of(response: requests.Response, data: Any, now: datetime) -> float | None:
    """Seconds to wait after a 429: the body's `retry_after`, else `Retry-After`, else the bucket's reset."""
    wait = retry_after_in_body(data)
    if wait is None:
        wait = retry_after(response.headers.get("Retry-After", ""), now)
    if wait is None:
        reset_after = response.headers.get("X-RateLimit-Reset-After", "")
        wait = reset_any(reset_after, now) if reset_after else None
    if wait is None:
        reset = response.headers.get("X-RateLimit-Reset", "")
        wait = reset_any(reset, now) if reset else None
    return wait


def checked(response: requests.Response, *, sends: bool, now: datetime) -> Any:
    """The JSON of a successful answer (None for 204); otherwise the error its status and code mean."""
    status = response.status_code
    data = json_or_none(response)
    if status == 204:
        return None
    if 200 <= status < 300 and data is not None:
        return data
    reason = _reason(response, data)
    code = data.get("code") if isinstance(data, dict) else None
    if status == 429:
        scope = response.headers.get("X-RateLimit-Scope") or (
            "global" if isinstance(data, dict) and data.get("global") else ""
        )
        raise RateLimited(
            f"{reason}{f' (scope: {scope})' if scope else ''}", retry_after=wait_of(response, data, now)
        )
    if status in (401, 403) or (status == 404 and code in _NEEDS_ATTENTION):
        hint = _NEEDS_ATTENTION.get(code) if isinstance(code, int) else None
        raise AuthExpired(f"{reason} ({hint or 'Discord refused the credentials'})", http_status=status)
    if status >= 500 or 200 <= status < 300:
        if sends:
            raise OutcomeUnknown(f"{reason}; the message may have been posted", http_status=status)
        raise TransientError(reason, http_status=status)
    raise PermanentError(reason, http_status=status)
