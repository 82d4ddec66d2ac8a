"""Meta's Graph APIs, as Facebook Pages, Instagram and Threads share them: errors, usage, requests.

The three networks answer alike: a JSON error object
`{"error": {"message", "type", "code", "error_subcode", "error_user_msg", "fbtrace_id"}}`
([errors]), throttling told by error codes with the wait in usage headers ([rate]), and
containers (Instagram, Threads) that Meta processes before they can be published. What
each code means is decided here once; each connector adds its own codes and says whether
the request was the one that creates the post (`posting`), since only then does an
ambiguous answer leave a post that may exist.

| response (error `code`, HTTP status)             | error class                              | source |
|--------------------------------------------------|------------------------------------------|--------|
| 2xx with the JSON the caller expects             | success                                  | [errors] |
| 190 (subcodes 458-467, 492, 493), 102            | AuthExpired                              | [errors] |
| 10, 200-299 (permission missing or removed)      | AuthExpired (grant it, re-authorise)     | [errors] |
| 4, 17, 32, 613, 341, 80001-80014                 | RateLimited, wait from the usage headers | [rate] |
| 368 (blocked for policy), 506 (duplicate post)   | posting: DuplicateContent; else Permanent | [errors] |
| 1, 2 (API unknown, service) with 500; other 5xx  | posting: OutcomeUnknown; else Transient  | [koala] |
| 503 without an error object (nothing processed)  | TransientError                           | [rel] |
| 100 (invalid parameter), 3, any other 4xx        | PermanentError                           | [errors] |
| 2xx without the expected JSON                    | posting: OutcomeUnknown; else Transient  | - |

Waits ([rate]): `X-Business-Use-Case-Usage` (`{"<id>": [{"type", "call_count", "total_cputime",
"total_time", "estimated_time_to_regain_access"}]}`, minutes), `X-Page-Usage` and `X-App-Usage`
(`{"call_count", "total_cputime", "total_time"}` percentages, with
`estimated_time_to_regain_access` on page usage). The longest announced wait wins; a window
at 100% without a wait means the rolling hour ([rate]: platform limits are per hour).

Sources: [errors] developers.facebook.com/docs/graph-api/guides/error-handling (codes and
subcodes, the error object); [rate] developers.facebook.com/docs/graph-api/overview/rate-limiting
(platform and business use case limits, the three headers); [koala] arsduo/koala#699 (a
code 1/2 answer after which the post existed); [rel] RELIABILITY.md; NETWORKS.md §5.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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

AUTH_CODES = frozenset({102, 190, 10}) | frozenset(range(200, 300))
THROTTLE_CODES = frozenset({4, 17, 32, 341, 613}) | frozenset(range(80001, 80015))
BLOCKED_CODES = frozenset({368, 506})
SERVICE_CODES = frozenset({1, 2})
USAGE_HEADERS = ("X-Business-Use-Case-Usage", "X-Page-Usage", "X-App-Usage")
ROLLING_HOUR = 3600.0


@dataclass(frozen=True)
class GraphError:
    """The error object of a Graph answer, as far as it is there."""

    code: int | None
    subcode: int | None
    message: str
    user_message: str = ""

    @classmethod
    def of(cls, response: requests.Response) -> GraphError | None:
        data = json_or_none(response)
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            return None
        return cls(
            _int(error.get("code")),
            _int(error.get("error_subcode")),
            str(error.get("message") or "").strip(),
            str(error.get("error_user_msg") or "").strip(),
        )

    def describe(self) -> str:
        """`(#368) message: the user message` — Meta's own words, never a token."""
        code = f"(#{self.code}{f'/{self.subcode}' if self.subcode else ''}) " if self.code is not None else ""
        text = self.message.removeprefix(f"(#{self.code}) ") if self.code is not None else self.message
        extra = f": {self.user_message}" if self.user_message and self.user_message not in text else ""
        return f"{code}{text}{extra}"[:400]


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _usage_entries(name: str, raw: str) -> Iterable[Mapping[str, Any]]:
    try:
        data = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    if name == "X-Business-Use-Case-Usage":
        return [
            e
            for entries in data.values()
            if isinstance(entries, list)
            for e in entries
            if isinstance(e, dict)
        ]
    return [data]


def usage_wait(headers: Mapping[str, str]) -> float | None:
    """Seconds until the account may call again, from Meta's usage headers (None: not said)."""
    waits: list[float] = []
    full = False
    for name in USAGE_HEADERS:
        raw = headers.get(name)
        if not raw:
            continue
        for entry in _usage_entries(name, raw):
            minutes = entry.get("estimated_time_to_regain_access")
            if isinstance(minutes, int | float) and not isinstance(minutes, bool) and minutes > 0:
                waits.append(float(minutes) * 60.0)
            for field in ("call_count", "total_cputime", "total_time"):
                value = entry.get(field)
                if isinstance(value, int | float) and not isinstance(value, bool) and value >= 100:
                    full = True
    if waits:
        return max(waits)
    return ROLLING_HOUR if full else None


def classify(
    response: requests.Response,
    network: str,
    *,
    posting: bool,
    extra: Mapping[int, type[ConnectorError]] | None = None,
) -> ConnectorError | None:
    """The typed error a Graph answer stands for, or None when it is a success (2xx).

    `posting`: this request is the one that creates the post, so an ambiguous answer may
    hide a post that exists. `extra` maps a network's own codes to classes (checked first).
    """
    status = response.status_code
    if 200 <= status < 300:
        return None
    error = GraphError.of(response)
    said = error.describe() if error else short_body(response, 200) or "no body"
    message = f"{network} answered {status}: {said}"
    code = error.code if error else None
    if code is not None and extra and code in extra:
        return _build(extra[code], message, status, response)
    if code in AUTH_CODES or (error is not None and code is None and status == 401):
        return AuthExpired(message, http_status=status)
    if code in THROTTLE_CODES or status == 429:
        return RateLimited(message, retry_after=usage_wait(response.headers), http_status=status)
    if code in BLOCKED_CODES:
        return (
            DuplicateContent(message, http_status=status)
            if posting
            else PermanentError(message, http_status=status)
        )
    if status == 503 and error is None:
        return TransientError(message, http_status=status)
    if status >= 500 or code in SERVICE_CODES:
        return (
            OutcomeUnknown(message, http_status=status)
            if posting
            else TransientError(message, http_status=status)
        )
    return PermanentError(message, http_status=status)


def _build(
    cls: type[ConnectorError], message: str, status: int, response: requests.Response
) -> ConnectorError:
    if issubclass(cls, RateLimited):
        return cls(message, retry_after=usage_wait(response.headers), http_status=status)
    return cls(message, http_status=status)


def unusable(network: str, response: requests.Response, *, posting: bool) -> ConnectorError:
    """A 2xx whose body is not what the endpoint documents: nobody can tell what happened."""
    message = f"{network} answered {response.status_code} without the expected id"
    status = response.status_code
    return (
        OutcomeUnknown(message, http_status=status)
        if posting
        else TransientError(message, http_status=status)
    )


class GraphClient:
    """Requests to one Graph host and version, with the token as a bearer header (never in a URL)."""

    def __init__(
        self,
        http: HttpClient,
        base: str,
        version: str,
        token: str,
        network: str,
        *,
        extra: Mapping[int, type[ConnectorError]] | None = None,
    ) -> None:
        self.http = http
        self.extra = dict(extra or {})
        self.root = f"{base.rstrip('/')}/{version.strip('/')}" if version else base.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.network = network

    def url(self, path: str) -> str:
        return f"{self.root}/{path.lstrip('/')}"

    def call(
        self,
        method: str,
        path: str,
        *,
        posting: bool = False,
        extra: Mapping[int, type[ConnectorError]] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """One request; its JSON object, or the typed error. A request that is not the posting one
        cannot leave a post behind, so its lost answers are transient."""
        try:
            response = self.http.request(method, self.url(path), headers=self.headers, **kwargs)
        except OutcomeUnknown as exc:
            if posting:
                raise
            raise TransientError(exc.message) from None
        error = classify(response, self.network, posting=posting, extra={**self.extra, **(extra or {})})
        if error is not None:
            raise error
        data = json_or_none(response)
        if not isinstance(data, dict):
            raise unusable(self.network, response, posting=posting)
        return data

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return self.call("GET", path, params=params)

    def post(
        self, path: str, data: Mapping[str, Any], *, posting: bool = False, **kwargs: Any
    ) -> dict[str, Any]:
        return self.call("POST", path, data=dict(data), posting=posting, **kwargs)
