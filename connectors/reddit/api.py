"""Reddit's OAuth API: the token of a script app, the User-Agent rule, answers as typed errors.

Every call to oauth.reddit.com carries `Authorization: bearer TOKEN` and the account's own
User-Agent, `<platform>:<app ID>:<version> (by /u/<username>)` [rules]; Reddit throttles or
blocks generic agents. The token comes from `POST https://www.reddit.com/api/v1/access_token`,
HTTP Basic `client_id:client_secret`, form `grant_type=password&username&password` (script
apps) [oauth] [rec], or `grant_type=refresh_token&refresh_token` for an account signed in with
`account connect` (a web app's permanent refresh token) [oauth]; it lasts `expires_in` seconds
(3600 or 86400 recorded), is cached in the account's session (`connectors/oauth2.py`) and asked
for again when it expires or on a 401.

Submissions answer 200 with the legacy envelope `{"json": {"errors": [[CODE, message, field],
...], "data": {...}}}` (`api_type=json`) [api] [rec]; newer validation answers 400 JSON
[rec]. Rate headers on every answer: `x-ratelimit-used`, `x-ratelimit-remaining`,
`x-ratelimit-reset` (seconds until the window resets) [rules] [rec].

| answer                                                      | error class             | source |
|-------------------------------------------------------------|-------------------------|--------|
| 200 `json.errors == []`, `json.data` with `id`, `name`, `url` | success               | [rec] |
| 200 `json.errors == []` without `json.data.name`            | OutcomeUnknown          | [rec] (images) |
| 200 `RATELIMIT` "... try again in N minutes."               | RateLimited (N minutes) | [obs] |
| 200 `ALREADY_SUB` (the link is already in the subreddit)    | PermanentError          | [api] `resubmit` |
| 200 `SUBREDDIT_NOEXIST`, `NO_SELFS`, `NO_LINKS`, `TOO_LONG`, other codes | PermanentError | [obs] |
| 200 `USER_REQUIRED`                                         | AuthExpired             | [obs] |
| 400 `SUBMIT_VALIDATION_ERROR` (`reason`, `explanation`)     | PermanentError          | [rec] |
| 401 (`www-authenticate: ... invalid_token`)                 | new token once, then AuthExpired | [oauth] |
| 403 (scope missing, account suspended)                      | AuthExpired             | [oauth] |
| 429 with `x-ratelimit-reset`                                | RateLimited (reset s)   | [rules] |
| 5xx or no answer on `/api/submit`                           | OutcomeUnknown          | [rel] |
| 5xx on a read (`/api/v1/me`, `/user/NAME/submitted`)        | TransientError          | |
| token endpoint: 401, or 200 `{"error": "invalid_grant"}`    | AuthExpired             | [oauth] [obs] |

Sources: [api] https://www.reddit.com/dev/api/#POST_api_submit; [oauth]
https://github.com/reddit-archive/reddit/wiki/OAuth2 (script apps, password grant, Basic
client auth, 401 on an expired token); [rules] https://github.com/reddit-archive/reddit/wiki/API
(User-Agent, rate limits, the x-ratelimit headers); [rec] the PRAW cassettes in
tests/conformance/praw-cassettes; [obs] NETWORKS.md §11 (legacy error triples, prawcore's
`invalid_grant` with 200); [rel] RELIABILITY.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import regex
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
from postmast.connectors.ratelimit import reset_any

USER_AGENT = regex.compile(r"[^\s:]+:[^\s:]+:[^\s:]+ \(by /u/[A-Za-z0-9_-]{3,20}\)")
"""Reddit's rule: `<platform>:<app ID>:<version string> (by /u/<reddit username>)` [rules]."""
_WAIT = regex.compile(r"(\d+)\s*(second|minute|hour)s?", regex.IGNORECASE)
_UNIT = {"second": 1, "minute": 60, "hour": 3600}
RATELIMIT_FALLBACK = 600.0
"""A RATELIMIT whose message names no time: Reddit's usual "take a break" is up to ten minutes."""
AUTH_CODES = frozenset({"USER_REQUIRED", "INVALID_USER"})
TOKEN_KEY = "reddit_token"  # noqa: S105 (the session key, not a token)


def wait_in(message: str) -> float:
    """Seconds of "try again in 5 minutes" / "in 30 seconds" / "Take a break for 9 minutes";
    a message without a number means a minute ("try again in a minute")."""
    found = _WAIT.search(message)
    if found:
        return float(int(found[1]) * _UNIT[found[2].lower()])
    if regex.search(r"\ba minute\b", message, regex.IGNORECASE):
        return 60.0
    return RATELIMIT_FALLBACK


def legacy_error(errors: list[Any], status: int) -> ConnectorError:
    """The first `[CODE, message, field]` of a `json.errors` list as a typed error."""
    first = errors[0] if isinstance(errors[0], list) else [str(errors[0])]
    code = str(first[0]) if first else "UNKNOWN"
    said = str(first[1]) if len(first) > 1 else ""
    field = f" ({first[2]})" if len(first) > 2 and first[2] else ""
    message = f"Reddit refused the post: {code}{field}: {said}".strip().rstrip(":")
    if code == "RATELIMIT":
        return RateLimited(message, retry_after=wait_in(said), http_status=status)
    if code in AUTH_CODES:
        return AuthExpired(message, http_status=status)
    if code == "ALREADY_SUB":
        return PermanentError(f"{message}; set resubmit=true to post the link again", http_status=status)
    return PermanentError(message, http_status=status)


def classify(response: requests.Response, now: datetime, *, posting: bool) -> ConnectorError | None:
    """The error an answer stands for (None: not an error of the HTTP layer or the envelope)."""
    status = response.status_code
    data = json_or_none(response)
    body: Mapping[str, Any] = data if isinstance(data, dict) else {}
    if 200 <= status < 300:
        envelope = body.get("json")
        errors = envelope.get("errors") if isinstance(envelope, dict) else None
        if isinstance(errors, list) and errors:
            return legacy_error(errors, status)
        return None
    said = str(body.get("explanation") or body.get("message") or short_body(response, 200) or "no body")
    reason = str(body.get("reason") or body.get("error_type") or "")
    message = f"Reddit answered {status}: {reason + ' ' if reason else ''}{said}".strip()[:400]
    if status in (401, 403):
        return AuthExpired(message, http_status=status)
    if status == 429:
        reset = reset_any(response.headers.get("x-ratelimit-reset", ""), now)
        return RateLimited(message, retry_after=reset if reset is not None else 60.0, http_status=status)
    if status >= 500:
        return (
            OutcomeUnknown(message, http_status=status)
            if posting
            else TransientError(message, http_status=status)
        )
    return PermanentError(message, http_status=status)


class RedditApi:
    """Calls on behalf of one account: its User-Agent, its cached token, one new token on a 401."""

    def __init__(
        self,
        http: HttpClient,
        settings: Mapping[str, str],
        credentials: Mapping[str, str],
        tokens: TokenCache,
        now: datetime,
        *,
        api_base: str,
        auth_base: str,
    ) -> None:
        self.http = http
        self.settings = settings
        self.credentials = credentials
        self.tokens = tokens
        self.now = now
        self.api_base = api_base.rstrip("/")
        self.auth_base = auth_base.rstrip("/")
        self.agent = {"User-Agent": settings["user_agent"]}

    def token(self) -> str:
        cached = self.tokens.current(self.now)
        if cached:
            return cached
        refresh = self.credentials.get("refresh_token")
        grant = (
            {"grant_type": "refresh_token", "refresh_token": refresh}
            if refresh
            else {
                "grant_type": "password",
                "username": self.settings["username"],
                "password": self.credentials["password"],
            }
        )
        token, lifetime = request_token(
            self.http,
            f"{self.auth_base}/api/v1/access_token",
            grant,
            basic=(self.credentials["client_id"], self.credentials["client_secret"]),
            headers=self.agent,
            title="Reddit",
            now=self.now,
        )
        return self.tokens.keep(token, lifetime, self.now)

    def call(self, method: str, path: str, *, posting: bool = False, **kwargs: Any) -> dict[str, Any]:
        """The JSON object of a call; a 401 drops the token and tries once more with a new one
        (a refused token means the request was not taken, so the retry cannot post twice)."""
        for last in (False, True):
            headers = {**self.agent, "Authorization": f"bearer {self.token()}"}
            try:
                response = self.http.request(method, f"{self.api_base}{path}", headers=headers, **kwargs)
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
                    raise OutcomeUnknown(f"Reddit answered {response.status_code} without JSON")
                raise TransientError(f"Reddit answered {response.status_code} without JSON")
            return data
        raise AssertionError("unreachable")
