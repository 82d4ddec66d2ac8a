"""A Pinterest API v5 contract server: pins, video media, boards, tokens.

Built from Pinterest's documentation:
- https://github.com/pinterest/api-description (the v5 OpenAPI description): `POST /v5/pins`
  (`board_id` required, `board_section_id`, `title` ≤ 100, `description` ≤ 800, `link` ≤ 2048,
  `alt_text` ≤ 500, `media_source` by `source_type`: `image_base64` with `content_type` and
  `data`, `image_url` with `url`, `video_id` with `media_id` and a cover) answering 201 with
  the Pin; `POST /v5/media` (`media_type: video`) -> `{media_id, media_type, upload_url,
  upload_parameters}`; `GET /v5/media/{id}` -> `{media_id, media_type, status}` with status
  `registered`, `processing`, `succeeded` or `failed`; `GET /v5/boards/{id}/pins` and
  `/sections/{s}/pins` (`page_size`, `bookmark` -> `{items, bookmark}`); `GET /v5/boards/{id}`;
  `GET /v5/user_account`; errors `{"code", "message"}`;
- https://developers.pinterest.com/docs/getting-started/refresh-an-access-token/ (`POST
  /v5/oauth/token`, Basic client auth, `grant_type=refresh_token`; 30-day access tokens);
- https://developers.pinterest.com/docs/getting-started/set-up-authentication-and-authorization/
  (the sign-in: `GET https://www.pinterest.com/oauth/` with `client_id`, `redirect_uri`,
  `response_type=code`, comma-separated `scope`, `state`; the code redeemed at `POST
  /v5/oauth/token` with Basic client auth -> `{access_token, refresh_token, expires_in,
  refresh_token_expires_in, scope, token_type, response_type}`); served here at `GET /oauth/` by
  `tests/servers/oauth2.py` (which also demands PKCE: Pinterest's pages found do not say
  whether it checks a `code_challenge`), for `CLIENT_ID` once a test registers its redirect URI
  with `allow_redirect`;
- https://developers.pinterest.com/docs/reference/ratelimits/ (429 when a user's budget is spent;
  this server sends `x-ratelimit-limit`, `x-ratelimit-remaining` and `x-ratelimit-reset`).

Stateful: one user with boards and a section; pins stored with `created_at` from the server's
`clock`; access tokens that expire on that clock (`expire_token`), a refresh token that can be
revoked (`revoke_refresh`); video media that need `polls` reads to be processed (or `fail_media`);
the S3-like upload at `/upload/{media_id}` checks the signed fields. Unknown body fields are
refused (400), stricter than Pinterest.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import regex

from tests.servers.base import ContractServer, Request, Response
from tests.servers.forms import read_body
from tests.servers.oauth2 import Client, OAuth2Provider

ACCESS_TOKEN = "pina_AccessTokenOfTheHarbourAccount0123456789"
REFRESH_TOKEN = "pinr_RefreshTokenOfTheHarbourAccount0123456789"
CLIENT_ID, CLIENT_SECRET = "1500123", "pinterest-app-secret-0123456789"
BOARD, OTHER_BOARD, SECTION = "987654321012345678", "987654321099999999", "5012345678901234567"
USERNAME = "harbour_news"
PIN_FIELDS = {
    "board_id", "board_section_id", "title", "description", "link", "alt_text", "media_source",
    "dominant_color", "parent_pin_id", "note",
}  # fmt: skip
SOURCES = {
    "image_base64": {"source_type", "content_type", "data", "is_standard"},
    "image_url": {"source_type", "url", "is_standard"},
    "video_id": {"source_type", "media_id", "cover_image_url", "cover_image_key_frame_time", "is_standard"},
}
_URL = regex.compile(r"https?://[^\s/]+\.[^\s]*")


def error(status: int, code: int, message: str) -> Response:
    return Response(status, {"code": code, "message": message})


class PinterestServer(ContractServer):
    def __init__(
        self, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC), budget: int = 1000, polls: int = 1
    ) -> None:
        super().__init__()
        self.clock = clock
        self.budget, self.used = budget, 0
        self.polls = polls
        self.tokens: dict[str, datetime] = {ACCESS_TOKEN: clock() + timedelta(days=30)}
        self.refresh_tokens = {REFRESH_TOKEN}
        self.boards = {BOARD: {"name": "Harbour", "sections": {SECTION}}, OTHER_BOARD: {"name": "Not ours"}}
        self.owned = {BOARD}
        self.media: dict[str, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []
        """Every pin, in order (also what `python -m tests.servers` prints)."""
        self._ids = itertools.count(1_016_000_000_000_000_001)
        self._fail_media = False
        self.oauth = OAuth2Provider(
            user=USERNAME,
            expires_in=2_592_000,
            scope_separator=",",
            extra={"refresh_token_expires_in": 31_536_000, "response_type": "authorization_code"},
        )
        self.oauth.register(Client(CLIENT_ID, [], secret=CLIENT_SECRET))

    def allow_redirect(self, uri: str) -> None:
        """Register a loopback redirect URI on the app (as in the app's settings)."""
        self.oauth.clients[CLIENT_ID].redirect_uris.append(uri)

    # -- the world --------------------------------------------------------------------------------

    def expire_token(self, token: str = ACCESS_TOKEN) -> None:
        with self.lock:
            self.tokens[token] = self.clock() - timedelta(seconds=1)

    def revoke_refresh(self) -> None:
        with self.lock:
            self.refresh_tokens.clear()

    def fail_media(self) -> None:
        with self.lock:
            self._fail_media = True

    def posts(self) -> list[Request]:
        return [r for r in self.requests if r.path == "/v5/pins" and r.method == "POST"]

    # -- serving ----------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        with self.lock:
            if request.path == "/oauth/" and request.method == "GET":
                return self.oauth.authorize(request)
            if request.path == "/v5/oauth/token":
                return self._token(request)
            if request.path.startswith("/upload/"):
                return self._upload(request)
            header = request.header("Authorization") or ""
            expires = (
                self.tokens.get(header.removeprefix("Bearer ")) if header.startswith("Bearer ") else None
            )
            if expires is None or self.clock() >= expires:
                return error(401, 2, "Authentication failed.")
            if self.used >= self.budget:
                return self._limited(error(429, 8, "You have exceeded your rate limit. Try again later."))
            self.used += 1
            return self._limited(self._route(request))

    def _limited(self, response: Response) -> Response:
        response.headers |= {
            "x-ratelimit-limit": str(self.budget),
            "x-ratelimit-remaining": str(max(0, self.budget - self.used)),
            "x-ratelimit-reset": "60",
        }
        return response

    def _route(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/v5/pins" and method == "POST":
            return self._pin(request)
        if path == "/v5/media" and method == "POST":
            return self._register(request)
        if found := regex.fullmatch(r"/v5/media/([0-9]+)", path):
            return self._media_status(found[1])
        if found := regex.fullmatch(r"/v5/boards/([0-9]+)(?:/sections/([0-9]+))?/pins", path):
            return self._list(request, found[1], found[2])
        if found := regex.fullmatch(r"/v5/boards/([0-9]+)", path):
            board = self.boards.get(found[1])
            if board is None:
                return error(404, 404, "Board not found.")
            return Response(200, {"id": found[1], "name": board["name"], "privacy": "PUBLIC"})
        if path == "/v5/user_account":
            return Response(200, {"username": USERNAME, "account_type": "BUSINESS"})
        return error(404, 404, "Not found.")

    def _token(self, request: Request) -> Response:
        header = request.header("Authorization") or ""
        try:
            pair = base64.b64decode(header.removeprefix("Basic "), validate=True).decode()
        except (ValueError, binascii.Error):
            pair = ""
        if pair != f"{CLIENT_ID}:{CLIENT_SECRET}":
            return error(401, 2, "Authentication failed.")
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") == "authorization_code":
            answer = self.oauth.token(request)
            if answer.status == 200:
                self.tokens[answer.body["access_token"]] = self.clock() + timedelta(days=30)
                self.refresh_tokens.add(answer.body["refresh_token"])
            return answer
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") not in self.refresh_tokens:
            return error(400, 1, "Invalid refresh token.")
        token = "pina_" + secrets.token_urlsafe(24)
        self.tokens[token] = self.clock() + timedelta(days=30)
        return Response(
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": 2_592_000,
                "scope": "boards:read,pins:read,pins:write",
                "response_type": "refresh_token",
            },
        )

    def _pin(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            return error(400, 1, "Invalid JSON.")
        if not isinstance(body, dict) or set(body) - PIN_FIELDS:
            return error(400, 1, "Invalid request body.")
        board = str(body.get("board_id") or "")
        if not board:
            return error(400, 1, "board_id is a required property")
        if board not in self.boards:
            return error(404, 404, "Board not found.")
        if board not in self.owned:
            return error(403, 29, "You are not permitted to access that resource.")
        section = body.get("board_section_id")
        if section and section not in self.boards[board]["sections"]:
            return error(404, 404, "Board section not found.")
        for name, limit in (("title", 100), ("description", 800), ("link", 2048), ("alt_text", 500)):
            value = body.get(name)
            if value is not None and (not isinstance(value, str) or len(value) > limit):
                return error(400, 1, f"{name}: must be a string of at most {limit} characters")
        if body.get("link") and not _URL.fullmatch(body["link"]):
            return error(400, 1, "link: invalid URL")
        problem = self._source(body.get("media_source"))
        if problem:
            return error(400, 1, problem)
        pin = {
            "id": str(next(self._ids)),
            "created_at": self.clock()
            .astimezone(UTC)
            .isoformat(timespec="seconds")
            .replace("+00:00", "-00:00"),
            "board_id": board,
            "board_section_id": section,
            "title": body.get("title"),
            "description": body.get("description"),
            "link": body.get("link"),
            "alt_text": body.get("alt_text"),
            "board_owner": {"username": USERNAME},
            "media": {
                "media_type": "video" if body["media_source"]["source_type"] == "video_id" else "image"
            },
        }
        self.created.append({**pin, "text": pin["description"]})
        return Response(201, pin)

    def _source(self, source: Any) -> str | None:
        if not isinstance(source, dict) or source.get("source_type") not in SOURCES:
            return "media_source: a source_type of image_base64, image_url or video_id is required"
        kind = source["source_type"]
        if set(source) - SOURCES[kind]:
            return f"media_source: unknown fields for {kind}"
        if kind == "image_url":
            return None if _URL.fullmatch(str(source.get("url", ""))) else "media_source.url: invalid URL"
        if kind == "image_base64":
            if source.get("content_type") not in ("image/jpeg", "image/png"):
                return "media_source.content_type: must be image/jpeg or image/png"
            try:
                data = base64.b64decode(str(source.get("data", "")), validate=True)
            except (ValueError, binascii.Error):
                return "media_source.data: invalid base64"
            return None if data else "media_source.data: empty"
        media = self.media.get(str(source.get("media_id", "")))
        if media is None or media["status"] != "succeeded":
            return "media_source.media_id: the media is not ready"
        if "cover_image_url" not in source and "cover_image_key_frame_time" not in source:
            return "media_source: a cover_image_url or cover_image_key_frame_time is required"
        return None

    def _register(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or body.get("media_type") != "video":
            return error(400, 1, "media_type: only video is supported")
        media_id = str(next(self._ids))
        signature = secrets.token_hex(8)
        self.media[media_id] = {"status": "registered", "reads": 0, "signature": signature, "bytes": 0}
        return Response(
            201,
            {
                "media_id": media_id,
                "media_type": "video",
                "upload_url": f"{self.url}/upload/{media_id}",
                "upload_parameters": {"key": f"uploads/{media_id}", "x-amz-signature": signature},
            },
        )

    def _upload(self, request: Request) -> Response:
        media = self.media.get(request.path.removeprefix("/upload/"))
        body = read_body(request)
        if (
            media is None
            or body.fields.get("x-amz-signature") != media["signature"]
            or "file" not in body.files
        ):
            return Response(
                403, raw=b"<Error><Code>AccessDenied</Code></Error>", headers={"Content-Type": "text/xml"}
            )
        media.update(status="processing", bytes=len(body.files["file"].data))
        return Response(204)

    def _media_status(self, media_id: str) -> Response:
        media = self.media.get(media_id)
        if media is None:
            return error(404, 404, "Media not found.")
        if media["status"] == "processing":
            media["reads"] += 1
            if media["reads"] > self.polls:
                media["status"] = "failed" if self._fail_media else "succeeded"
        return Response(200, {"media_id": media_id, "media_type": "video", "status": media["status"]})

    def _list(self, request: Request, board: str, section: str | None) -> Response:
        if board not in self.owned:
            return error(404, 404, "Board not found.")
        size = min(int((request.query.get("page_size") or ["25"])[-1]), 250)
        pins = [
            p
            for p in self.created
            if p["board_id"] == board and (section is None or p["board_section_id"] == section)
        ]
        start = int((request.query.get("bookmark") or ["0"])[-1])
        page = [{k: v for k, v in p.items() if k != "text"} for p in pins[start : start + size]]
        more = start + size < len(pins)
        return Response(200, {"items": page, "bookmark": str(start + size) if more else None})
