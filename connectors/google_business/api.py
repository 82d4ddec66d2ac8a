"""Google Business Profile's v4 API: an access token from the account's refresh token, and
Google's error JSON as typed errors.

Every call carries `Authorization: Bearer ACCESS_TOKEN` [auth]. The token comes from
`POST https://oauth2.googleapis.com/token` with `grant_type=refresh_token`, `refresh_token`,
`client_id`, `client_secret` in the form [oauth]; it lasts `expires_in` seconds (3599), is kept in
the account's session (`connectors/oauth2.py`), and is asked for again when it expires or on a
401. Errors are `{"error": {"code", "message", "status", "details"}}` [errors].

| answer                                                | error class                 | source |
|-------------------------------------------------------|-----------------------------|--------|
| 200 LocalPost `{"name", "searchUrl", "state", ...}`   | success                     | [posts] |
| 200 without `name`                                    | OutcomeUnknown              | - |
| 401 `UNAUTHENTICATED`                                 | a new token, once; AuthExpired | [errors] |
| 403 `PERMISSION_DENIED` (no access to the location, API not enabled) | AuthExpired  | [errors] |
| 429 `RESOURCE_EXHAUSTED` (`Retry-After` or a minute)  | RateLimited                 | [errors] [quota] |
| 400 `INVALID_ARGUMENT`, `FAILED_PRECONDITION`; 404 `NOT_FOUND` | PermanentError     | [errors] |
| 5xx or no answer on the `localPosts` create           | OutcomeUnknown              | [rel] |
| 5xx on a read (the list of posts)                     | TransientError              | - |
| token endpoint 400 `invalid_grant` (revoked, expired), 401 `invalid_client` | AuthExpired | [oauth] |

Sources: [posts] https://developers.google.com/my-business/reference/rest/v4/accounts.locations.localPosts
(create, list, the LocalPost resource); [auth] https://developers.google.com/my-business/content/basic-setup;
[oauth] https://developers.google.com/identity/protocols/oauth2/web-server#offline (refreshing an
access token, `invalid_grant`); [errors] https://cloud.google.com/apis/design/errors (the error
model and its status codes); [quota] https://developers.google.com/my-business/content/limits;
[rel] RELIABILITY.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import requests

from postmast.connectors.errors import (
    AuthExpired,
    ConnectorError,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.connectors.http import HttpClient, json_or_none, short_body
from postmast.connectors.oauth2 import TokenCache, request_token
from postmast.connectors.ratelimit import retry_after

TOKEN_KEY = "google_token"  # noqa: S105 (the session key, not a token)
AUTH_STATUSES = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED"})


def classify(response: requests.Response, now: datetime, *, posting: bool) -> ConnectorError | None:
    status = response.status_code
    if 200 <= status < 300:
        return None
    data = json_or_none(response)
    error = data.get("error") if isinstance(data, dict) else None
    body: Mapping[str, Any] = error if isinstance(error, dict) else {}
    named = str(body.get("status") or "")
    said = str(body.get("message") or short_body(response, 200) or "no body")[:300]
    message = f"Google answered {status}: {named + ' ' if named else ''}{said}"
    if status in (401, 403) or named in AUTH_STATUSES:
        return AuthExpired(message, http_status=status)
    if status == 429 or named == "RESOURCE_EXHAUSTED":
        wait = retry_after(response.headers.get("Retry-After", ""), now)
        return RateLimited(message, retry_after=60.0 if wait is None else wait, http_status=status)
    if status >= 500:
        return (
            OutcomeUnknown(message, http_status=status)
            if posting
            else TransientError(message, http_status=status)
        )
    return PermanentError(message, http_status=status)


class GoogleApi:
    """Calls on behalf of one account: its cached token, one new token on a 401."""

    def __init__(
        self,
        http: HttpClient,
        base: str,
        token_url: str,
        credentials: Mapping[str, str],
        tokens: TokenCache,
        now: datetime,
    ) -> None:
        self.http = http
        self.base = base.rstrip("/")
        self.token_url = token_url
        self.credentials = credentials
        self.tokens = tokens
        self.now = now

    def token(self) -> str:
        cached = self.tokens.current(self.now)
        if cached:
            return cached
        token, lifetime = request_token(
            self.http,
            self.token_url,
            {
                "grant_type": "refresh_token",
                "refresh_token": self.credentials["refresh_token"],
                "client_id": self.credentials["client_id"],
                "client_secret": self.credentials["client_secret"],
            },
            title="Google",
            now=self.now,
        )
        return self.tokens.keep(token, lifetime, self.now)

    def call(self, method: str, path: str, *, posting: bool = False, **kwargs: Any) -> dict[str, Any]:
        """The JSON object of a call; a 401 was refused, so after a new token it is sent again."""
        for last in (False, True):
            headers = {"Authorization": f"Bearer {self.token()}"}
            try:
                response = self.http.request(method, f"{self.base}{path}", headers=headers, **kwargs)
            except OutcomeUnknown as exc:
                if posting:
                    raise
                raise TransientError(exc.message) from None
            if response.status_code == 401 and not last:
                self.tokens.drop()
                continue
            error = classify(response, self.now, posting=posting)
            if error is not None:
                raise error
            data = json_or_none(response)
            if not isinstance(data, dict):
                if posting:
                    raise OutcomeUnknown(f"Google answered {response.status_code} without JSON")
                raise TransientError(f"Google answered {response.status_code} without JSON")
            return data
        raise AssertionError("unreachable")
