"""A Mastodon contract server, written from the official documentation.

Sources: mastodon/documentation methods/statuses.md, methods/instance.md,
api/rate-limits.md, entities/Status.md and Error.md (in ../shared/conformance),
and the real responses recorded by Mastodon.py's cassettes.

Behaviour: `POST /api/v1/statuses` (JSON or form) with a bearer token; 401 for an
unknown token; 422 for a blank or over-long text (grapheme clusters, each http(s)
URL counts 23, `@user@domain` counts as `@user`) or a bad visibility; 404 for an
unknown `in_reply_to_id`; `Idempotency-Key` replays return the status created the
first time; `X-RateLimit-*` headers on every response with an ISO 8601 reset and
429 when the window's budget is spent. `GET /api/v1/statuses/:id`,
`GET /api/v2/instance` and `GET /api/v1/accounts/verify_credentials` too.

The length check here is deliberately a separate implementation (a plain URL regex)
from the connector's, so the two can disagree if the connector is wrong.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import regex

from tests.servers.base import ContractServer, Request, Response

_URL = regex.compile(r"https?://[^\s]+")
_MENTION = regex.compile(r"(?<![=/\w])@(\w+)@[\w.-]+\w", regex.IGNORECASE)


def mastodon_length(text: str, spoiler: str = "") -> int:
    replaced = _MENTION.sub(lambda m: "@" + m.group(1), _URL.sub("x" * 23, text))
    return len(regex.findall(r"\X", replaced)) + len(regex.findall(r"\X", spoiler))


class MastodonServer(ContractServer):
    def __init__(
        self,
        tokens: dict[str, str] | None = None,
        *,
        max_characters: int = 500,
        rate_limit: int = 300,
        window: float = 300.0,
    ) -> None:
        super().__init__()
        self.tokens = tokens or {"token-a": "alice"}
        self.max_characters = max_characters
        self.rate_limit = rate_limit
        self.window = window
        self.statuses: dict[str, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []
        self.idempotency: dict[tuple[str, str], str] = {}
        self.key_requests: Counter[str] = Counter()
        self._ids = itertools.count(117020585846976096)
        self._window_start = time.time()
        self._used: Counter[str] = Counter()

    # -- helpers ------------------------------------------------------------------------------------

    def _token(self, request: Request) -> str | None:
        auth = request.header("Authorization") or ""
        token = auth.removeprefix("Bearer ").strip()
        return token if token in self.tokens else None

    def _rate_headers(self, token: str) -> dict[str, str]:
        now = time.time()
        if now - self._window_start >= self.window:
            self._window_start, self._used = now, Counter()
        reset = datetime.fromtimestamp(self._window_start + self.window, UTC)
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - self._used[token])),
            "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }

    def _params(self, request: Request) -> dict[str, Any]:
        content_type = request.header("Content-Type") or ""
        if "json" in content_type:
            data = request.json()
            return data if isinstance(data, dict) else {}
        form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
        return {k: v[0] for k, v in form.items()}

    def _status(self, status_id: str, token: str, params: dict[str, Any]) -> dict[str, Any]:
        username = self.tokens[token]
        return {
            "id": status_id,
            "created_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "in_reply_to_id": params.get("in_reply_to_id"),
            "sensitive": bool(params.get("sensitive")),
            "spoiler_text": params.get("spoiler_text", ""),
            "visibility": params.get("visibility", "public"),
            "language": params.get("language", "en"),
            "uri": f"{self.url}/users/{username}/statuses/{status_id}",
            "url": f"{self.url}/@{username}/{status_id}",
            "content": f"<p>{params.get('status', '')}</p>",
            "text": params.get("status", ""),
            "account": {"id": "1", "username": username, "acct": username},
            "media_attachments": [],
            "mentions": [],
            "tags": [],
        }

    # -- routes -------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        token = self._token(request)
        if request.path.startswith("/api/v2/instance"):
            return Response(
                200,
                {
                    "domain": "127.0.0.1",
                    "version": "4.5.0",
                    "configuration": {
                        "statuses": {
                            "max_characters": self.max_characters,
                            "max_media_attachments": 4,
                            "characters_reserved_per_url": 23,
                        }
                    },
                },
            )
        if token is None:
            return Response(
                401,
                {"error": "The access token is invalid"},
                {"WWW-Authenticate": 'Bearer realm="Doorkeeper", error="invalid_token"'},
            )
        with self.lock:
            self._used[token] += 1
            headers = self._rate_headers(token)
            if self._used[token] > self.rate_limit:
                return Response(429, {"error": "Too many requests"}, headers)
        if request.method == "POST" and request.path == "/api/v1/statuses":
            return self._post_status(request, token, headers)
        if request.method == "GET" and request.path.startswith("/api/v1/statuses/"):
            found = self.statuses.get(request.path.rsplit("/", 1)[-1])
            if found:
                return Response(200, found, headers)
            return Response(404, {"error": "Record not found"}, headers)
        if request.path == "/api/v1/accounts/verify_credentials":
            username = self.tokens[token]
            return Response(200, {"id": "1", "username": username, "acct": username}, headers)
        return Response(404, {"error": "Not Found"}, headers)

    def _post_status(self, request: Request, token: str, headers: dict[str, str]) -> Response:
        params = self._params(request)
        key = request.header("Idempotency-Key")
        with self.lock:
            if key:
                self.key_requests[key] += 1
                existing = self.idempotency.get((token, key))
                if existing:
                    return Response(200, self.statuses[existing], headers)
            text = str(params.get("status") or "")
            if not text.strip() and not params.get("media_ids"):
                return Response(422, {"error": "Validation failed: Text can't be blank"}, headers)
            if mastodon_length(text, str(params.get("spoiler_text") or "")) > self.max_characters:
                return Response(
                    422,
                    {"error": f"Validation failed: Text character limit of {self.max_characters} exceeded"},
                    headers,
                )
            visibility = params.get("visibility")
            if visibility is not None and visibility not in ("public", "unlisted", "private", "direct"):
                return Response(
                    422, {"error": "Validation failed: Visibility is not included in the list"}, headers
                )
            reply = params.get("in_reply_to_id")
            if reply and reply not in self.statuses:
                return Response(404, {"error": "Record not found"}, headers)
            status_id = str(next(self._ids))
            status = self._status(status_id, token, params)
            self.statuses[status_id] = status
            self.created.append(
                {"id": status_id, "token": token, "key": key, "text": text, "at": time.time()}
            )
            if key:
                self.idempotency[(token, key)] = status_id
            return Response(200, status, headers)

    # -- what tests assert on -----------------------------------------------------------------------

    def created_texts(self) -> Counter[str]:
        with self.lock:
            return Counter(c["text"] for c in self.created)

    def reset_in(self, seconds: float) -> str:
        return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
