"""Slack's answers turned into results or typed errors, and the escaping of a text.

Incoming webhooks answer with an HTTP status and a plain-text word (`ok`, or an error code
such as `invalid_payload`); the Web API answers HTTP 200 with `{"ok": true, ...}` or
`{"ok": false, "error": CODE}`, and HTTP 429 with `Retry-After` when rate-limited. The table
of what becomes what is in `connectors/slack/connector.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests

from postmast.connectors.errors import (
    AuthExpired,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.connectors.http import json_or_none, short_body
from postmast.connectors.ratelimit import retry_after

CREDENTIALS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "not_allowed_token_type",
        "ekm_access_denied",
        "org_login_required",
    }
)
"""The token is refused or lacks a scope: a person must give a new one (Web API common errors)."""
CHANNEL = frozenset(
    {
        "not_in_channel",
        "channel_not_found",
        "is_archived",
        "restricted_action",
        "restricted_action_read_only_channel",
        "team_access_not_granted",
    }
)
"""The account's channel cannot take the post: a person must invite the app or fix the channel."""
HINTS = {
    "not_in_channel": "invite the app to the channel: /invite @app",
    "channel_not_found": "check the channel id; a private channel needs the app invited",
    "is_archived": "the channel is archived",
    "missing_scope": "reinstall the app with the chat:write scope",
}
MAYBE_DONE = frozenset({"internal_error", "fatal_error"})
""""It's possible some aspect of the operation succeeded before the error was raised" (Slack's words)."""
LATER = frozenset({"service_unavailable", "request_timeout", "team_added_to_org"})
WEBHOOK_CREDENTIALS = frozenset(
    {
        "invalid_token",
        "action_prohibited",
        "no_service",
        "no_team",
        "team_disabled",
        "channel_not_found",
        "channel_is_archived",
    }
)
"""Webhook answers no retry can fix: the webhook was removed, disabled, or its channel is gone."""


def escape(text: str) -> str:
    """`text` as Slack shows it literally: `&`, `<` and `>` as HTML entities, nothing else
    (api.slack.com/reference/surfaces/formatting, "Escaping text")."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _rate_limited(response: requests.Response, reason: str, now: datetime) -> RateLimited:
    wait = retry_after(response.headers.get("Retry-After", ""), now)
    return RateLimited(reason, retry_after=wait, http_status=response.status_code)


def webhook_checked(response: requests.Response, now: datetime) -> None:
    """An incoming webhook's answer: 200 `ok`, or the error its status and word mean."""
    status = response.status_code
    word = " ".join(response.text.split())[:100]
    if status == 200 and word == "ok":
        return
    reason = f"Slack answered {status}: {word or short_body(response)}"
    if status == 429:
        raise _rate_limited(response, reason, now)
    if status in (401, 403, 404, 410) or word in WEBHOOK_CREDENTIALS:
        raise AuthExpired(
            f"{reason} (the webhook was removed or its channel cannot take posts)", http_status=status
        )
    if status >= 500 or status == 200:
        raise OutcomeUnknown(f"{reason}; the message may have been posted", http_status=status)
    raise PermanentError(reason, http_status=status)


def checked(response: requests.Response, *, sends: bool, now: datetime) -> dict[str, Any]:
    """A Web API answer with `ok: true`; otherwise the error its status and `error` code mean."""
    status = response.status_code
    data = json_or_none(response)
    if status == 200 and isinstance(data, dict) and data.get("ok") is True:
        return data
    code = str(data.get("error", "")) if isinstance(data, dict) else ""
    reason = f"Slack answered {status}: {code or short_body(response)}"
    if status == 429 or code in ("ratelimited", "rate_limited"):
        raise _rate_limited(response, reason, now)
    if code in CREDENTIALS or code in CHANNEL or status in (401, 403):
        hint = HINTS.get(code, "the token was refused or revoked" if code in CREDENTIALS else "")
        raise AuthExpired(f"{reason} ({hint})" if hint else reason, http_status=status)
    if code in LATER:
        raise TransientError(reason, http_status=status)
    if status >= 500 or code in MAYBE_DONE or not isinstance(data, dict):
        if sends:
            raise OutcomeUnknown(f"{reason}; the message may have been posted", http_status=status)
        raise TransientError(reason, http_status=status)
    raise PermanentError(reason, http_status=status)
