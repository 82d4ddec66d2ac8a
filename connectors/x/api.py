"""X API v2 plumbing shared by the X connector's parts: auth, requests, errors, rate limits.

The error table with its sources is in `connectors/x/connector.py`'s docstring; `classify` is
that table in code. Messages carry the status, the request line (X puts no secret in
its URLs) and X's own words, never a header or a credential.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import requests

from postmast.clock import Clock, system
from postmast.connectors.errors import (
    AuthExpired,
    ConnectorError,
    DuplicateContent,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.connectors.http import HttpClient, json_or_none, short_body
from postmast.connectors.oauth1 import OAuth1Signer, new_nonce
from postmast.connectors.ratelimit import until_epoch

OAUTH1_SECRETS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
OAUTH2_SECRETS = ("bearer_token",)

# Problem types (spec 2.159/2.167 `Problem` schemas; observed responses still say api.twitter.com).
_ACCOUNT_LEVEL_TYPES = ("/unsupported-authentication", "/client-forbidden")
# v1.1-style codes: 32 could not authenticate, 89 invalid or expired token, 64 suspended,
# 187 duplicate, 186 too long, 88 rate limit, 185 over the daily update limit,
# 220/261/453 credentials or app access level do not allow this endpoint.
_V1_AUTH = {32, 89, 64, 215}
_V1_ACCESS = {220, 261, 453}
_V1_DUPLICATE = {187}
_V1_RATE = {88, 185}


class Auth(Protocol):
    def header(self, method: str, url: str) -> str:
        """The `Authorization` header value for a request to `url` (its query included)."""


@dataclass(frozen=True)
class BearerAuth:
    """An OAuth 2.0 user-context access token (authorization code with PKCE)."""

    token: str = field(repr=False)

    def header(self, method: str, url: str) -> str:
        return f"Bearer {self.token}"


@dataclass(frozen=True)
class OAuth1Auth:
    """OAuth 1.0a user context: every request signed with the app's and the user's secrets."""

    signer: OAuth1Signer

    def header(self, method: str, url: str) -> str:
        return self.signer.authorization(method, url)


def auth_for(
    credentials: Mapping[str, str],
    *,
    nonce: Callable[[], str] = new_nonce,
    clock: Clock = system,
) -> Auth:
    """The auth an account's secrets describe; `AuthExpired` when they are incomplete."""
    if credentials.get("bearer_token"):
        return BearerAuth(credentials["bearer_token"])
    if all(credentials.get(name) for name in OAUTH1_SECRETS):
        return OAuth1Auth(
            OAuth1Signer(
                credentials["consumer_key"],
                credentials["consumer_secret"],
                credentials["access_token"],
                credentials["access_token_secret"],
                nonce=nonce,
                clock=clock,
            )
        )
    raise AuthExpired("the account's X credentials are incomplete (see: postmast account update --secrets)")


# -- rate limits -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """One of X's rate-limit windows as its headers state it; `reset` is epoch seconds."""

    limit: int | None = None
    remaining: int | None = None
    reset: int | None = None


def _int(value: str | None) -> int | None:
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class RateLimits:
    """`x-rate-limit-*` (the endpoint's 15-minute window) and the 24-hour user and app limits."""

    window: Window
    user_day: Window
    app_day: Window

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimits:
        def read(prefix: str) -> Window:
            return Window(
                _int(headers.get(f"{prefix}-limit")),
                _int(headers.get(f"{prefix}-remaining")),
                _int(headers.get(f"{prefix}-reset")),
            )

        return cls(read("x-rate-limit"), read("x-user-limit-24hour"), read("x-app-limit-24hour"))

    def wait(self, now: datetime) -> float | None:
        """Seconds until the account may post again: the latest reset of the spent windows
        (or, when none says it is spent, the endpoint window's reset); None if nothing says."""
        windows = (self.window, self.user_day, self.app_day)
        spent = [w.reset for w in windows if w.remaining == 0 and w.reset is not None]
        chosen = spent or [w.reset for w in windows[:1] if w.reset is not None]
        chosen = chosen or [w.reset for w in windows if w.reset is not None]
        waits = [s for r in chosen if (s := until_epoch(str(r), now)) is not None]
        return max(waits) if waits else None


# -- errors ----------------------------------------------------------------------------------------


def _first_error(data: Any) -> dict[str, Any]:
    errors = data.get("errors") if isinstance(data, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return errors[0]
    return {}


def problem_text(data: Any) -> str:
    """X's own words: the problem's detail (and the first error's message when they differ)."""
    if not isinstance(data, dict):
        return ""
    first = _first_error(data)
    words = [str(data[k]) for k in ("detail", "title") if isinstance(data.get(k), str) and data[k]][:1]
    message = first.get("message") or first.get("detail")
    if isinstance(message, str) and message and message not in words:
        words.append(message)
    return " ".join(" ".join(words).split())


def classify(response: requests.Response, request_line: str, now: datetime) -> ConnectorError:
    """The error class of a non-2xx answer (see the table in `connectors/x/connector.py`);
    `now` (the connector's clock) turns the rate-limit resets into a wait."""
    status = response.status_code
    data = json_or_none(response)
    text = problem_text(data) or short_body(response) or response.reason or ""
    reason = f"X answered {status} to {request_line}: {text}".rstrip(": ")
    kind = str(data.get("type", "")) if isinstance(data, dict) else ""
    first = _first_error(data)
    code = _int(str(first["code"])) if first.get("code") is not None else None
    if status == 429 or code in _V1_RATE or kind.endswith("/usage-capped"):
        return RateLimited(
            reason, retry_after=RateLimits.from_headers(response.headers).wait(now), http_status=status
        )
    if status == 401 or code in _V1_AUTH:
        return AuthExpired(reason, http_status=status)
    if status == 403:
        if "duplicate" in text.lower() or code in _V1_DUPLICATE:
            return DuplicateContent(reason, http_status=status)
        if kind.endswith(_ACCOUNT_LEVEL_TYPES) or code in _V1_ACCESS or "app permissions" in text.lower():
            return AuthExpired(reason, http_status=status)
        return PermanentError(reason, http_status=status)
    if status in (502, 504):
        return OutcomeUnknown(reason, http_status=status)
    if status >= 500 or status == 408:
        return TransientError(reason, http_status=status)
    return PermanentError(reason, http_status=status)


# -- requests --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """A 2xx answer: status, JSON body and headers."""

    status: int
    data: Any
    headers: Mapping[str, str]

    def body(self) -> dict[str, Any]:
        """`data` of the answer's JSON (`{}` when missing)."""
        inner = self.data.get("data") if isinstance(self.data, dict) else None
        return inner if isinstance(inner, dict) else {}


class XApi:
    """Sends authenticated requests to X API v2 and classifies every failure."""

    def __init__(self, http: HttpClient, base_url: str, auth: Auth, *, clock: Clock) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.clock = clock

    def url(self, path: str, params: Mapping[str, str] | None = None) -> str:
        query = "?" + urlencode(dict(params), quote_via=quote, safe="") if params else ""
        return f"{self.base_url}{path}{query}"

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        files: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> Answer:
        """One request; the URL's query is signed, a JSON or multipart body is not (RFC 5849 §3.4.1.3.1)."""
        url = self.url(path, params)
        headers = {"Authorization": self.auth.header(method, url)}
        kwargs: dict[str, Any] = {}
        if json is not None:
            kwargs["json"] = json
        if files is not None:
            kwargs["files"] = files
            kwargs["data"] = data or {}
        response = self.http.request(method, url, headers=headers, **kwargs)
        if 200 <= response.status_code < 300:
            return Answer(response.status_code, json_or_none(response), response.headers)
        raise classify(response, f"{method} {path}", self.clock())


def is_post_id(value: Any) -> bool:
    """X ids are strings of 1 to 19 digits (spec: `^[0-9]{1,19}$`)."""
    return isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19


def finite(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default
