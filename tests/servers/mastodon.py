"""A Mastodon contract server, written from the official documentation and Mastodon's source.

Sources: mastodon/documentation methods/statuses.md, methods/media.md, methods/instance.md,
api/rate-limits.md, entities/Status.md, MediaAttachment.md, Instance.md and Error.md (at
commit 2903485da54a), the real responses recorded by Mastodon.py's cassettes, and
mastodon's app/services/post_status_service.rb and api/v{1,2}/media_controller.rb.

It covers what the third-party mastodon-mock does differently from real Mastodon
(PEERS.md): the length rule (grapheme clusters, each http(s) URL counting the instance's
`characters_reserved_per_url`, `@user@domain` counting as `@user`, the content warning
included), ISO 8601 `X-RateLimit-Reset`, 422 for unknown, foreign, attached or unprocessed
`media_ids`, and asynchronous media (202, then 206 on `GET /api/v1/media/:id` until done).

Routes: `POST /api/v1/statuses` (JSON or form; `Idempotency-Key` answered before any
validation, as Mastodon does), `GET /api/v1/statuses/:id`, `POST /api/v2/media`
(multipart), `GET /api/v1/media/:id`, `GET /api/v2/instance` (its `configuration` set by
the test), `GET /api/v1/accounts/verify_credentials`,
`GET /api/v1/accounts/:id/statuses`; OAuth 2.0 sign-in: `POST /api/v1/apps` registers an
app, then `GET /oauth/authorize` and `POST /oauth/token` (authorization code with PKCE,
`tests/servers/oauth2.py`; the tokens never expire). 401 for an unknown token, 429 when the window's
budget is spent.

Discovery (`GET /api/v2/instance`, `/api/v1/instance` and
`/api/v1/accounts/verify_credentials`, which the worker's daily `discover` sends before a
publish, and a lookup before it searches) is served like any request but logged in
`discovery_requests`, apart from `requests`, and a `Fault` without a `match` passes it by:
an unconditional scripted fault is meant for the publish path. A fault that names a
discovery request by its `match` does apply to it.

The length check is deliberately a separate implementation (a plain URL regex) from the
connector's, so the two can disagree if the connector is wrong.
"""

from __future__ import annotations

import dataclasses
import email.parser
import email.policy
import itertools
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

import regex

from tests.servers.base import ContractServer, Fault, Request, Response
from tests.servers.oauth2 import Client, OAuth2Provider

_URL = regex.compile(r"https?://[^\s]+")
_MENTION = regex.compile(r"(?<![=/\w])@(\w+)@[\w.-]+\w", regex.IGNORECASE)
_MAGIC = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}
MiB = 1 << 20
DISCOVERY = ("/api/v2/instance", "/api/v1/instance", "/api/v1/accounts/verify_credentials")
_ANY_REQUEST = next(f.default for f in dataclasses.fields(Fault) if f.name == "match")

DEFAULT_CONFIGURATION: dict[str, Any] = {
    "statuses": {"max_characters": 500, "max_media_attachments": 4, "characters_reserved_per_url": 23},
    "media_attachments": {
        "description_limit": 1500,
        "image_size_limit": 16 * MiB,
        "video_size_limit": 99 * MiB,
        "supported_mime_types": ["image/jpeg", "image/png", "image/gif", "image/webp", "video/mp4"],
    },
}


def mastodon_length(text: str, spoiler: str = "", url_weight: int = 23) -> int:
    replaced = _MENTION.sub(lambda m: "@" + m.group(1), _URL.sub("x" * url_weight, text))
    return len(regex.findall(r"\X", replaced)) + len(regex.findall(r"\X", spoiler))


class MastodonServer(ContractServer):
    def __init__(
        self,
        tokens: dict[str, str] | None = None,
        *,
        max_characters: int = 500,
        rate_limit: int = 300,
        window: float = 300.0,
        configuration: dict[str, Any] | None = None,
        async_media: bool | None = None,
        processing_polls: int = 2,
    ) -> None:
        super().__init__()
        self.tokens = tokens or {"token-a": "alice"}
        self.configuration: dict[str, Any] = {
            "statuses": {**DEFAULT_CONFIGURATION["statuses"], "max_characters": max_characters},
            "media_attachments": dict(DEFAULT_CONFIGURATION["media_attachments"]),
        }
        for section, values in (configuration or {}).items():
            self.configuration[section] = {**self.configuration.get(section, {}), **values}
        self.rate_limit = rate_limit
        self.window = window
        self.async_media = async_media
        """None: videos are processed in the background, images at once (Mastodon 4.0+)."""
        self.processing_polls = processing_polls
        """How many `GET /api/v1/media/:id` answer 206 before an asynchronous file is ready."""
        self.fail_processing = False
        """Background processing ends in failure (`GET /api/v1/media/:id` answers 422)."""
        self.statuses: dict[str, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []
        self.media: dict[str, dict[str, Any]] = {}
        self.uploads: list[dict[str, Any]] = []
        self.discovery_requests: list[Request] = []
        self.idempotency: dict[tuple[str, str], str] = {}
        self.key_requests: Counter[str] = Counter()
        self._ids = itertools.count(117020585846976096)
        self._window_start = time.time()
        self._used: Counter[str] = Counter()
        self.oauth = OAuth2Provider(user=next(iter(self.tokens.values())), rotate=False)
        """OAuth 2.0 sign-in: apps registered by `POST /api/v1/apps`, `/oauth/authorize`, `/oauth/token`."""
        self.apps: list[dict[str, Any]] = []

    @property
    def max_characters(self) -> int:
        return int(self.configuration["statuses"]["max_characters"])

    # -- discovery, apart from the publish path -------------------------------------------------------

    @staticmethod
    def is_discovery(request: Request) -> bool:
        return request.method == "GET" and request.path.rstrip("/") in DISCOVERY

    def _take_fault(self, request: Request) -> Fault | None:
        if not self.is_discovery(request):
            return super()._take_fault(request)
        with self.lock:
            for index, fault in enumerate(self.faults):
                if fault.match is not _ANY_REQUEST and fault.match(request):
                    return self.faults.pop(index)
        return None

    def _dispatch(self, handler: BaseHTTPRequestHandler, request: Request) -> None:
        super()._dispatch(handler, request)
        if self.is_discovery(request):
            with self.lock:
                self.requests.remove(request)
                self.discovery_requests.append(request)

    # -- helpers ------------------------------------------------------------------------------------

    def _oauth(self, request: Request) -> Response:
        """Mastodon's app registration and Doorkeeper's OAuth 2.0 endpoints (methods/apps.md,
        methods/oauth.md: `redirect_uris` and `scopes` as given, PKCE S256 since 4.3)."""
        if request.method == "POST" and request.path == "/api/v1/apps":
            content = request.header("Content-Type") or ""
            if content.startswith("application/json"):
                form = {k: str(v) for k, v in request.json().items()}
            else:
                form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8")).items()}
            if not form.get("client_name") or not form.get("redirect_uris"):
                return Response(
                    422, {"error": "Validation failed: Application name and redirect URI can't be blank"}
                )
            number = len(self.apps) + 1
            client = self.oauth.register(
                Client(
                    f"app-{number}-id",
                    form["redirect_uris"].split(),
                    secret=f"app-{number}-secret",
                    scopes=frozenset((form.get("scopes") or "read").split()),
                )
            )
            app = {
                "id": str(number),
                "name": form["client_name"],
                "website": form.get("website"),
                "scopes": sorted(client.scopes),
                "redirect_uri": form["redirect_uris"],
                "redirect_uris": client.redirect_uris,
                "client_id": client.client_id,
                "client_secret": client.secret,
            }
            self.apps.append(app)
            return Response(200, app)
        if request.method == "GET" and request.path == "/oauth/authorize":
            return self.oauth.authorize(request)
        if request.method == "POST" and request.path == "/oauth/token":
            answer = self.oauth.token(request)
            if answer.status == 200:
                token = answer.body["access_token"]
                self.tokens[token] = self.oauth.access[token]
                answer.body.pop("expires_in")  # Mastodon's tokens do not expire
                answer.body.pop("refresh_token")
            return answer
        return Response(404, {"error": "Record not found"})

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
        return {k.removesuffix("[]"): (v if k.endswith("[]") else v[0]) for k, v in form.items()}

    @staticmethod
    def _multipart(request: Request) -> dict[str, tuple[str | None, str, bytes]]:
        """The parts of a multipart/form-data body: name -> (filename, content type, bytes)."""
        head = f"Content-Type: {request.header('Content-Type') or ''}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
        parts = {}
        if message.is_multipart():
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True)
                if isinstance(name, str):
                    parts[name] = (
                        part.get_filename(),
                        part.get_content_type(),
                        payload if isinstance(payload, bytes) else b"",
                    )
        return parts

    def _status(self, status_id: str, token: str, params: dict[str, Any]) -> dict[str, Any]:
        username = self.tokens[token]
        language = params.get("language")
        return {
            "id": status_id,
            "created_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "in_reply_to_id": params.get("in_reply_to_id"),
            "sensitive": bool(params.get("sensitive") or params.get("spoiler_text")),
            "spoiler_text": params.get("spoiler_text", ""),
            "visibility": params.get("visibility", "public"),
            # an unknown code is dropped silently for the account's default (PostStatusService)
            "language": language
            if isinstance(language, str) and regex.fullmatch(r"[a-z]{2}", language)
            else "en",
            "uri": f"{self.url}/users/{username}/statuses/{status_id}",
            "url": f"{self.url}/@{username}/{status_id}",
            "content": f"<p>{params.get('status', '')}</p>",
            "text": params.get("status", ""),
            "account": {"id": self._account_id(token), "username": username, "acct": username},
            "media_attachments": [],
            "mentions": [],
            "tags": [],
        }

    def _account_id(self, token: str) -> str:
        return str(sorted(set(self.tokens.values())).index(self.tokens[token]) + 1)

    @staticmethod
    def _entity(media: dict[str, Any]) -> dict[str, Any]:
        return {
            k: v for k, v in media.items() if k in ("id", "type", "url", "preview_url", "description", "meta")
        }

    # -- routes -------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        if request.path in ("/api/v1/apps", "/oauth/authorize", "/oauth/token"):
            with self.lock:
                return self._oauth(request)
        token = self._token(request)
        if request.path.startswith("/api/v2/instance"):
            return Response(
                200, {"domain": "127.0.0.1", "version": "4.5.0", "configuration": self.configuration}
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
        if request.method == "POST" and request.path == "/api/v2/media":
            return self._upload(request, token, headers)
        if request.method == "GET" and request.path.startswith("/api/v1/media/"):
            return self._get_media(request.path.rsplit("/", 1)[-1], token, headers)
        if request.method == "GET" and request.path.startswith("/api/v1/statuses/"):
            found = self.statuses.get(request.path.rsplit("/", 1)[-1])
            if found:
                return Response(200, found, headers)
            return Response(404, {"error": "Record not found"}, headers)
        if request.path == "/api/v1/accounts/verify_credentials":
            username = self.tokens[token]
            return Response(
                200, {"id": self._account_id(token), "username": username, "acct": username}, headers
            )
        if request.path == f"/api/v1/accounts/{self._account_id(token)}/statuses":
            mine = [s for s in self.statuses.values() if s["account"]["id"] == self._account_id(token)]
            limit = int(request.query.get("limit", ["20"])[0])
            return Response(200, sorted(mine, key=lambda s: int(s["id"]), reverse=True)[:limit], headers)
        return Response(404, {"error": "Not Found"}, headers)

    def _upload(self, request: Request, token: str, headers: dict[str, str]) -> Response:
        parts = self._multipart(request)
        if "file" not in parts:
            return Response(422, {"error": "Validation failed: File can't be blank"}, headers)
        filename, mime, data = parts["file"]
        limits = self.configuration["media_attachments"]
        magic = _MAGIC.get(mime)
        if mime not in limits["supported_mime_types"] or (magic and not data.startswith(magic)):
            return Response(
                422, {"error": "Validation failed: File content type is invalid, File is invalid"}, headers
            )
        video = mime.startswith(("video/", "audio/"))
        limit = int(limits["video_size_limit"] if video else limits["image_size_limit"])
        if len(data) > limit:
            return Response(
                422,
                {"error": f"Validation failed: File file size must be less than {limit // MiB} MB"},
                headers,
            )
        description = parts["description"][2].decode("utf-8") if "description" in parts else None
        if description is not None and len(description) > int(limits["description_limit"]):
            return Response(
                422,
                {
                    "error": "Validation failed: Description is too long "
                    f"(maximum is {limits['description_limit']} characters)"
                },
                headers,
            )
        meta: dict[str, Any] = {}
        if "focus" in parts:
            x, y = (float(v) for v in parts["focus"][2].decode().split(","))
            meta["focus"] = {"x": x, "y": y}
        background = video if self.async_media is None else self.async_media
        with self.lock:
            media_id = str(next(self._ids))
            url = f"{self.url}/system/media_attachments/{media_id}/original/{filename}"
            media = {
                "id": media_id,
                "type": "video" if video else ("gifv" if mime == "image/gif" else "image"),
                "url": None if background else url,
                "preview_url": f"{self.url}/system/media_attachments/{media_id}/small/{filename}",
                "description": description,
                "meta": meta,
                "token": token,
                "final_url": url,
                "pending": self.processing_polls if background else 0,
                "failed": False,
                "status_id": None,
                "filename": filename,
                "mime": mime,
                "size": len(data),
            }
            self.media[media_id] = media
            self.uploads.append({"id": media_id, "filename": filename, "description": description})
        return Response(202 if background else 200, self._entity(media), headers)

    def _get_media(self, media_id: str, token: str, headers: dict[str, str]) -> Response:
        with self.lock:
            media = self.media.get(media_id)
            # `current_account.media_attachments.where(status_id: nil).find(id)`
            if media is None or media["token"] != token or media["status_id"] is not None:
                return Response(404, {"error": "Record not found"}, headers)
            if media["failed"]:
                return Response(422, {"error": "Error processing thumbnail for uploaded media"}, headers)
            if media["pending"] > 0:
                media["pending"] -= 1
                return Response(206, self._entity(media), headers)
            if media["url"] is None:
                if self.fail_processing:
                    media["failed"] = True
                    return Response(422, {"error": "Error processing thumbnail for uploaded media"}, headers)
                media["url"] = media["final_url"]
            return Response(200, self._entity(media), headers)

    def _media_problem(self, token: str, ids: list[str]) -> str | None:
        """Mastodon's `validate_media!` (post_status_service.rb), with its English messages."""
        most = int(self.configuration["statuses"]["max_media_attachments"])
        if len(ids) > most:
            return f"Cannot attach more than {most} files"
        found = [self.media.get(i) for i in ids]
        missing = [
            i for i, m in zip(ids, found, strict=True) if m is None or m["token"] != token or m["status_id"]
        ]
        if missing:
            return f"Media {', '.join(missing)} not found or already attached to another post"
        if len(ids) > 1 and any(m and m["type"] == "video" for m in found):
            return "Cannot attach a video to a post that already contains images"
        if any(m and m["url"] is None for m in found):
            return "Cannot attach files that have not finished processing. Try again in a moment!"
        return None

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
            media_ids = [str(i) for i in params.get("media_ids") or []]
            problem = self._media_problem(token, media_ids) if media_ids else None
            if problem:
                return Response(422, {"error": problem}, headers)
            if not text.strip() and not media_ids:
                return Response(422, {"error": "Validation failed: Text can't be blank"}, headers)
            weight = int(self.configuration["statuses"]["characters_reserved_per_url"])
            if mastodon_length(text, str(params.get("spoiler_text") or ""), weight) > self.max_characters:
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
            for media_id in media_ids:
                self.media[media_id]["status_id"] = status_id
                status["media_attachments"].append(self._entity(self.media[media_id]))
            self.statuses[status_id] = status
            record = {"id": status_id, "token": token, "key": key, "text": text, "at": time.time()}
            self.created.append({**record, "in_reply_to_id": reply, "media_ids": media_ids})
            if key:
                self.idempotency[(token, key)] = status_id
            return Response(200, status, headers)

    # -- what tests assert on -----------------------------------------------------------------------

    def created_texts(self) -> Counter[str]:
        with self.lock:
            return Counter(c["text"] for c in self.created)

    def reset_in(self, seconds: float) -> str:
        return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
