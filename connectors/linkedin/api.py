"""LinkedIn's versioned REST API: the headers every call needs, and its answers as typed errors.

Every request carries `Authorization: Bearer`, `LinkedIn-Version: YYYYMM` and
`X-Restli-Protocol-Version: 2.0.0` [posts] [versioning]. Errors are JSON
`{"status", "serviceErrorCode"?, "code"?, "message"}` [errors] [obs].

| response                                                       | error class       | source |
|----------------------------------------------------------------|-------------------|--------|
| 201 with `x-restli-id` (a post or comment URN)                 | success           | [posts] [client] |
| 201 without `x-restli-id`                                      | OutcomeUnknown    | - |
| 401 65600 INVALID, 65601 REVOKED, 65602 EXPIRED_ACCESS_TOKEN  | AuthExpired       | [obs] |
| 403 ACCESS_DENIED (a missing scope or role)                    | AuthExpired       | [errors] |
| 400 VERSION_MISSING, 426 NONEXISTENT_VERSION                   | PermanentError, names `version` | [obs] |
| 422 DUPLICATE_POST ("Content is a duplicate of urn:li:…")      | DuplicateContent, URN kept | [obs] |
| 429 (serviceErrorCode 101; no headers)                         | RateLimited to 00:00 UTC | [rate] |
| 400, 404, 422 (validation)                                     | PermanentError    | [errors] |
| 500, 502, 504, no answer on the creating request               | OutcomeUnknown    | [rel] |
| 503, and any 5xx on an upload or a read                        | TransientError    | [rel] |

Sources: learn.microsoft.com/linkedin: [posts] marketing/community-management/shares/posts-api;
[versioning] marketing/versioning (and talent/versioning-announcement); [errors]
shared/api-guide/concepts/error-handling; [rate] shared/api-guide/concepts/rate-limits
(daily limits, reset at midnight UTC); [client] linkedin-developers/linkedin-api-python-client
(`CREATED_ENTITY_ID = "x-restli-id"`); [obs] NETWORKS.md §4 (observed bodies); [rel] RELIABILITY.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import regex
import requests

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

AUTH_CODES = frozenset({65600, 65601, 65602})
_URN = regex.compile(r"urn:li:(?:share|ugcPost|activity):[0-9]+")
FIX_VERSION = (
    "set a current one: postmast account update linkedin:NAME --set version=YYYYMM "
    "(LinkedIn keeps versions about a year)"
)


class Duplicate(DuplicateContent):
    """Raised when LinkedIn refuses a post as a duplicate; `urn` is the post it duplicates."""

    def __init__(self, message: str, urn: str | None) -> None:
        super().__init__(message, http_status=422)
        self.urn = urn

    @property
    def kind(self) -> str:
        """Recorded and reported as the class every network's duplicates share."""
        return "DuplicateContent"


def until_midnight(now: datetime) -> float:
    """LinkedIn's daily quotas reset at midnight UTC."""
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(60.0, (tomorrow - now).total_seconds())


def classify(response: requests.Response, now: datetime, *, posting: bool) -> ConnectorError | None:
    status = response.status_code
    if 200 <= status < 300:
        return None
    data = json_or_none(response)
    body: Mapping[str, Any] = data if isinstance(data, dict) else {}
    said = str(body.get("message") or short_body(response, 200) or "no body")[:300]
    code = str(body.get("code") or "")
    service = body.get("serviceErrorCode")
    message = f"LinkedIn answered {status}: {code + ' ' if code else ''}{said}".strip()
    if status == 401 or service in AUTH_CODES:
        return AuthExpired(message, http_status=status)
    if code in ("VERSION_MISSING", "NONEXISTENT_VERSION") or status == 426:
        return PermanentError(f"{message}; {FIX_VERSION}", http_status=status)
    if status == 403:
        return AuthExpired(message, http_status=status)
    if status == 422 and "DUPLICATE_POST" in str(body.get("errorDetails") or "") + code + said:
        found = _URN.search(said)
        return Duplicate(message, found.group(0) if found else None)
    if status == 429:
        return RateLimited(message, retry_after=until_midnight(now), http_status=status)
    if status == 503:
        return TransientError(message, http_status=status)
    if status >= 500:
        return (
            OutcomeUnknown(message, http_status=status)
            if posting
            else TransientError(message, http_status=status)
        )
    return PermanentError(message, http_status=status)


class LinkedInApi:
    def __init__(self, http: HttpClient, base: str, version: str, token: str, now: datetime) -> None:
        self.http = http
        self.base = base.rstrip("/")
        self.token = token
        self.now = now
        self.headers = {
            "Authorization": f"Bearer {token}",
            "LinkedIn-Version": version,
            "X-Restli-Protocol-Version": "2.0.0",
        }

    def call(self, method: str, url: str, *, posting: bool = False, **kwargs: Any) -> requests.Response:
        full = url if url.startswith(("http://", "https://")) else f"{self.base}{url}"
        headers = {**self.headers, **kwargs.pop("headers", {})}
        try:
            response = self.http.request(method, full, headers=headers, **kwargs)
        except OutcomeUnknown as exc:
            if posting:
                raise
            raise TransientError(exc.message) from None
        error = classify(response, self.now, posting=posting)
        if error is not None:
            raise error
        return response

    def created(self, response: requests.Response) -> str:
        """The URN LinkedIn gave the new entity (`x-restli-id`)."""
        urn = response.headers.get("x-restli-id")
        if not urn:
            raise OutcomeUnknown(f"LinkedIn answered {response.status_code} without x-restli-id")
        return urn

    def json(self, response: requests.Response) -> dict[str, Any]:
        data = json_or_none(response)
        if not isinstance(data, dict):
            raise TransientError(f"LinkedIn answered {response.status_code} without JSON")
        return data
