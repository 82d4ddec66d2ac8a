"""Pinterest API v5: the account's bearer token (refreshed when Pinterest refuses it) and its
answers as typed errors.

Calls carry `Authorization: Bearer ACCESS_TOKEN` [auth]. Access tokens last 30 days; with a
refresh token and the app's id and secret, `POST /v5/oauth/token` (HTTP Basic
`client_id:client_secret`, form `grant_type=refresh_token&refresh_token=…`) gives a new one
[refresh]; it is kept in the account's session (`connectors/oauth2.py`) and used instead of
the stored `access_token` until it expires. Errors are JSON `{"code": int, "message": str}`
[spec] (`Error` schema).

| answer                                                 | error class                | source |
|--------------------------------------------------------|----------------------------|--------|
| 201 Pin `{"id", "board_id", ...}`                      | success                    | [spec] `pins/create` |
| 201 without `id`                                       | OutcomeUnknown             | - |
| 401 (`code` 2 "Authentication failed.")                | a refresh, once; AuthExpired | [spec] [auth] |
| 403 (a scope missing, a board not the account's)       | AuthExpired                | [spec] |
| 404 (board or section not found)                       | PermanentError             | [spec] |
| 400 (invalid parameters, media)                        | PermanentError             | [spec] |
| 429 (`Retry-After`, else `x-ratelimit-reset` seconds)  | RateLimited                | [rate] |
| 5xx or no answer on `POST /v5/pins`                    | OutcomeUnknown             | [rel] |
| 5xx on a read, `POST /v5/media` or the upload          | TransientError             | - |
| media `status: failed`                                 | PermanentError             | [media] |
| token endpoint 400/401 (refresh token revoked)         | AuthExpired                | [refresh] |

Sources: [spec] https://github.com/pinterest/api-description (v5 OpenAPI: `pins/create`,
`media/create`, `media/get`, `boards/list_pins`, `Error`); [auth]
https://developers.pinterest.com/docs/getting-started/authentication-and-scopes/; [refresh]
https://developers.pinterest.com/docs/getting-started/refresh-an-access-token/ ; [rate]
https://developers.pinterest.com/docs/reference/ratelimits/ (per-user, per-app limits; 429);
[media] https://developers.pinterest.com/docs/api-features/creating-boards-and-pins/ (video
upload: register, upload to the returned URL, wait for `succeeded`); [rel] RELIABILITY.md.
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
from postmast.connectors.ratelimit import reset_any, retry_after

TOKEN_KEY = "pinterest_token"  # noqa: S105 (the session key, not a token)


def classify(response: requests.Response, now: datetime, *, posting: bool) -> ConnectorError | None:
    status = response.status_code
    if 200 <= status < 300:
        return None
    data = json_or_none(response)
    body: Mapping[str, Any] = data if isinstance(data, dict) else {}
    said = str(body.get("message") or short_body(response, 200) or "no body")[:300]
    code = body.get("code")
    message = f"Pinterest answered {status}: {f'code {code}: ' if code is not None else ''}{said}"
    if status in (401, 403):
        return AuthExpired(message, http_status=status)
    if status == 429:
        wait = retry_after(response.headers.get("Retry-After", ""), now)
        if wait is None:
            wait = reset_any(response.headers.get("x-ratelimit-reset", ""), now)
        return RateLimited(message, retry_after=60.0 if wait is None else wait, http_status=status)
    if status >= 500:
        return (
            OutcomeUnknown(message, http_status=status)
            if posting
            else TransientError(message, http_status=status)
        )
    return PermanentError(message, http_status=status)


class PinterestApi:
    """Calls on behalf of one account; a 401 refreshes the token once when it can."""

    def __init__(
        self, http: HttpClient, base: str, credentials: Mapping[str, str], tokens: TokenCache, now: datetime
    ) -> None:
        self.http = http
        self.base = base.rstrip("/")
        self.credentials = credentials
        self.tokens = tokens
        self.now = now

    @property
    def can_refresh(self) -> bool:
        return all(self.credentials.get(k) for k in ("refresh_token", "client_id", "client_secret"))

    def token(self) -> str:
        return self.tokens.current(self.now) or self.credentials["access_token"]

    def refresh(self) -> None:
        token, lifetime = request_token(
            self.http,
            f"{self.base}/v5/oauth/token",
            {"grant_type": "refresh_token", "refresh_token": self.credentials["refresh_token"]},
            basic=(self.credentials["client_id"], self.credentials["client_secret"]),
            title="Pinterest",
            now=self.now,
        )
        self.tokens.keep(token, lifetime, self.now)

    def call(self, method: str, path: str, *, posting: bool = False, **kwargs: Any) -> dict[str, Any]:
        """The JSON object of a call. A 401 means the request was refused, so after a refresh it
        is sent once more without any risk of a second pin."""
        extra = kwargs.pop("headers", {})
        for last in (False, True):
            headers = {"Authorization": f"Bearer {self.token()}", **extra}
            try:
                response = self.http.request(method, f"{self.base}{path}", headers=headers, **kwargs)
            except OutcomeUnknown as exc:
                if posting:
                    raise
                raise TransientError(exc.message) from None
            if response.status_code == 401 and not last and self.can_refresh:
                self.tokens.drop()
                self.refresh()
                continue
            error = classify(response, self.now, posting=posting)
            if error is not None:
                raise error
            data = json_or_none(response)
            if not isinstance(data, dict):
                if posting:
                    raise OutcomeUnknown(f"Pinterest answered {response.status_code} without JSON")
                raise TransientError(f"Pinterest answered {response.status_code} without JSON")
            return data
        raise AssertionError("unreachable")

    def upload(self, url: str, fields: Mapping[str, str], data: bytes, mime: str, filename: str) -> None:
        """The bytes of a registered video, to the storage URL Pinterest gave (no bearer token:
        the signed form fields are the authorisation)."""
        try:
            response = self.http.post(url, data=dict(fields), files={"file": (filename, data, mime)})
        except OutcomeUnknown as exc:
            raise TransientError(exc.message) from None
        if response.status_code >= 300:
            raise TransientError(f"Pinterest's media storage answered {response.status_code}")
