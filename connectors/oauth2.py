"""OAuth 2.0 access tokens for connectors: asked for at a token endpoint, cached in the
account's session, asked for again when they expire or the network refuses them.

Reddit (the password grant of a script app), Pinterest and Google (the refresh-token grant)
all answer RFC 6749 §5.1 `{"access_token", "token_type", "expires_in", ...}`, or an error
`{"error": "invalid_grant" | "invalid_client" | ...}` (§5.2; Reddit sends it with 200).
The token is a secret that changes, so it lives in the connector's `state`, which the worker
keeps encrypted (`workers/connection.py`); its expiry is read against the caller's clock.

A token request creates nothing on the network, so one whose answer was lost is simply
not trusted (`TransientError`), never `OutcomeUnknown`. The request is made with
`requests` through the worker's `HttpClient` (its timeouts and deadline) rather than
with requests-oauthlib or authlib: each grant here is one form POST, and the libraries
would bypass the client that sorts failures by whether they may have reached the network.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from datetime import datetime, timedelta
from typing import Any

from postmast.connectors.errors import AuthExpired, OutcomeUnknown, RateLimited, TransientError
from postmast.connectors.http import HttpClient, json_or_none, short_body
from postmast.connectors.ratelimit import retry_after

EARLY = timedelta(seconds=60)
"""A token this close to its expiry is replaced before use: a request must not outlive it."""
REFUSED = frozenset({"invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope"})


class TokenCache:
    """The access token of one account, kept in its session under `key`."""

    def __init__(self, state: MutableMapping[str, Any], key: str) -> None:
        self.state = state
        self.key = key

    def current(self, now: datetime) -> str | None:
        """The cached token if it is still good for a while, else None."""
        entry = self.state.get(self.key)
        if not isinstance(entry, dict) or not isinstance(entry.get("access_token"), str):
            return None
        try:
            expires = datetime.fromisoformat(str(entry.get("expires_at")))
        except ValueError:
            return None
        return entry["access_token"] if now + EARLY < expires else None

    def keep(self, token: str, expires_in: float, now: datetime) -> str:
        self.state[self.key] = {
            "access_token": token,
            "expires_at": (now + timedelta(seconds=expires_in)).isoformat(),
        }
        return token

    def drop(self) -> None:
        """Forget the token (the network refused it): the next call asks for a new one."""
        self.state.pop(self.key, None)


def request_token(
    http: HttpClient,
    url: str,
    form: Mapping[str, str],
    *,
    title: str,
    now: datetime,
    basic: tuple[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[str, float]:
    """Ask `url` for an access token; returns it and its lifetime in seconds.

    Raises `AuthExpired` when the network refuses the grant (wrong password, revoked refresh
    token, wrong client), `RateLimited` on 429, `TransientError` otherwise. Messages carry
    the network's error code only, never the form.
    """
    try:
        response = http.post(url, data=dict(form), auth=basic, headers=dict(headers or {}))
    except OutcomeUnknown as exc:
        raise TransientError(exc.message) from None
    data = json_or_none(response)
    body: Mapping[str, Any] = data if isinstance(data, dict) else {}
    error = str(body.get("error") or "")
    status = response.status_code
    if status == 429:
        wait = retry_after(response.headers.get("Retry-After", ""), now)
        raise RateLimited(f"{title} refused a token request: too many requests", retry_after=wait)
    if status in (400, 401, 403) or error in REFUSED:
        said = error or str(body.get("message") or short_body(response, 100) or "no body")
        described = str(body.get("error_description") or "")[:200]
        raise AuthExpired(
            f"{title} refused the credentials ({status} {said}{': ' + described if described else ''})",
            http_status=status,
        )
    token = body.get("access_token")
    if status != 200 or error or not isinstance(token, str) or not token:
        raise TransientError(
            f"{title}'s token endpoint answered {status} without a token", http_status=status
        )
    lifetime = body.get("expires_in")
    seconds = (
        float(lifetime) if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) else 3600.0
    )
    return token, max(0.0, seconds)
