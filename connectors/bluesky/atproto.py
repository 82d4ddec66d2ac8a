"""XRPC calls to an AT Protocol service, with an app-password session kept in the connector's state.

Requests are `GET|POST {service}/xrpc/{nsid}`; errors come back as `{"error": Name, "message": ...}`
(packages/xrpc-server). What to do is decided on the error *name*: the reference PDS answers an
expired access token with **400** `ExpiredToken` and a bad one with 400 `InvalidToken` (observed on
@atproto/pds 0.5.35; NETWORKS.md §2.6).

Session (`state`: accessJwt, refreshJwt, did, handle, pds = the service it belongs to):

- no session yet, or one for another service: `com.atproto.server.createSession` (a login);
- `ExpiredToken` on a call: `com.atproto.server.refreshSession` with the refresh token, then the
  same call once more; if the refresh token is refused too, one login and the call once more;
- `InvalidToken` on a call: one login and the call once more;
- a refused login (`AuthenticationRequired`, `AccountTakedown`, ...): `AuthExpired`.

Logins are scarce (30 per 5 minutes, 300 a day per account: bsky-docs rate-limits.md), so a
`Session` makes at most one per operation (`begin()` starts one) and never tries again after a
refusal. Requests made before the post itself cannot create it, so their gateway errors and lost
answers are `TransientError`; only for the post (`sent_post=True`) are they `OutcomeUnknown`.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from datetime import datetime
from typing import Any

import requests

from postmast.clock import Clock
from postmast.connectors.errors import (
    AuthExpired,
    ConnectorError,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.connectors.http import HttpClient, json_or_none, short_body
from postmast.connectors.ratelimit import retry_after, until_epoch

TOKEN_ERRORS = frozenset({"ExpiredToken", "InvalidToken"})
"""Token problems a new session may cure (spec: every procedure's errors)."""
ACCOUNT_ERRORS = frozenset(
    {
        "AuthMissing",
        "AuthRequired",
        "AuthenticationRequired",
        "AccountTakedown",
        "AccountDeactivated",
        "AuthFactorTokenRequired",
        "RepoTakendown",
        "RepoSuspended",
        "RepoDeactivated",
    }
)
"""Names that mean the account itself cannot post until a person acts."""


def error_name(response: requests.Response) -> str | None:
    body = json_or_none(response)
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return None


def failure(
    response: requests.Response, what: str, now: datetime, *, sent_post: bool = False
) -> ConnectorError:
    """The typed error for a non-2xx XRPC answer (see the table in connectors/bluesky/connector.py);
    `now` (the connector's clock) turns a rate limit's reset instant into a wait."""
    status = response.status_code
    body = json_or_none(response)
    name = error_name(response)
    message = body.get("message") if isinstance(body, dict) else None
    reason = f"Bluesky answered {status} to {what}: " + (
        f"{name}{f' ({message})' if message else ''}" if name else short_body(response)
    )
    if status == 429 or name == "RateLimitExceeded":
        reset = response.headers.get("RateLimit-Reset")
        wait = until_epoch(reset, now) if reset else retry_after(response.headers.get("Retry-After", ""), now)
        return RateLimited(reason, retry_after=wait, http_status=status)
    if name in TOKEN_ERRORS or name in ACCOUNT_ERRORS or status == 401:
        return AuthExpired(reason, http_status=status)
    if status in (502, 504):
        return (OutcomeUnknown if sent_post else TransientError)(reason, http_status=status)
    if status >= 500 or status == 408:
        return TransientError(reason, http_status=status)
    return PermanentError(reason, http_status=status)


class Session:
    """Calls to one service for one account; `state` holds the session and is changed in place."""

    def __init__(
        self,
        http: HttpClient,
        service: str,
        identifier: str,
        password: str,
        state: MutableMapping[str, Any],
        *,
        clock: Clock,
    ) -> None:
        self.http = http
        self.service = service.rstrip("/")
        self.identifier = identifier
        self.password = password
        self.state = state
        self.clock = clock
        self.logins = 0
        self.refused = False

    def begin(self) -> Session:
        """Start an operation: it may make one login."""
        self.logins = 0
        return self

    @property
    def active(self) -> bool:
        return bool(self.state.get("accessJwt")) and self.state.get("pds") == self.service

    def _url(self, nsid: str) -> str:
        return f"{self.service}/xrpc/{nsid}"

    def _send(self, method: str, nsid: str, *, sent_post: bool, **kwargs: Any) -> requests.Response:
        try:
            return self.http.request(method, self._url(nsid), **kwargs)
        except OutcomeUnknown as exc:
            if sent_post:
                raise
            raise TransientError(f"{exc.message} (nothing was posted yet)") from None

    def _store(self, data: Any, what: str) -> dict[str, Any]:
        if not isinstance(data, dict) or not all(
            isinstance(data.get(k), str) for k in ("accessJwt", "refreshJwt", "did", "handle")
        ):
            raise TransientError(f"Bluesky answered {what} without a session")
        self.state.update(
            accessJwt=data["accessJwt"],
            refreshJwt=data["refreshJwt"],
            did=data["did"],
            handle=data["handle"],
            pds=self.service,
        )
        return data

    def login(self) -> dict[str, Any]:
        """`createSession` with the app password: at most once per operation."""
        if self.refused:
            raise AuthExpired("Bluesky refused the app password earlier in this task")
        if self.logins >= 1:
            raise AuthExpired("Bluesky refused the session it had just created")
        self.logins += 1
        response = self._send(
            "POST",
            "com.atproto.server.createSession",
            sent_post=False,
            json={"identifier": self.identifier, "password": self.password},
        )
        if response.status_code != 200:
            error = failure(response, "the login (createSession)", self.clock())
            if isinstance(error, AuthExpired | PermanentError):
                self.refused = True
                raise AuthExpired(
                    f"{error.message}; check the handle and app password", http_status=error.http_status
                )
            raise error
        return self._store(json_or_none(response), "the login")

    def refresh(self) -> None:
        """`refreshSession` with the refresh token; a refused refresh token means one login."""
        token = self.state.get("refreshJwt")
        if not token:
            self.login()
            return
        response = self._send(
            "POST",
            "com.atproto.server.refreshSession",
            sent_post=False,
            headers={"Authorization": f"Bearer {token}"},
        )
        if response.status_code == 200:
            self._store(json_or_none(response), "the session refresh")
            return
        if error_name(response) in TOKEN_ERRORS or response.status_code == 401:
            self.login()
            return
        raise failure(response, "the session refresh (refreshSession)", self.clock())

    def ensure(self) -> Mapping[str, Any]:
        """The session, logging in if there is none for this service."""
        if not self.active:
            self.login()
        return self.state

    def call(
        self,
        method: str,
        nsid: str,
        *,
        auth: bool = True,
        sent_post: bool = False,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """The JSON answer of a successful call, or the typed error; token errors handled (above)."""
        if not auth:
            response = self._send(method, nsid, sent_post=sent_post, headers=dict(headers or {}), **kwargs)
        else:
            self.ensure()
            response = self._authorized(method, nsid, sent_post, headers, kwargs)
            name = error_name(response)
            if name == "ExpiredToken":
                self.refresh()
            elif name == "InvalidToken":
                self.login()
            if name in TOKEN_ERRORS:
                response = self._authorized(method, nsid, sent_post, headers, kwargs)
        if not 200 <= response.status_code < 300:
            raise failure(response, nsid, self.clock(), sent_post=sent_post)
        return json_or_none(response)

    def _authorized(
        self,
        method: str,
        nsid: str,
        sent_post: bool,
        headers: Mapping[str, str] | None,
        kwargs: dict[str, Any],
    ) -> requests.Response:
        full = {**(headers or {}), "Authorization": f"Bearer {self.state['accessJwt']}"}
        return self._send(method, nsid, sent_post=sent_post, headers=full, **kwargs)
