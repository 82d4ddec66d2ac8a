"""A Google Business Profile contract server: the OAuth token endpoint (refresh-token grant) and
the v4 `localPosts` create and list of one location.

Built from Google's documentation:
- https://developers.google.com/my-business/reference/rest/v4/accounts.locations.localPosts
  (`create`: a LocalPost with `languageCode`, `summary`, `topicType` STANDARD / EVENT / OFFER,
  `callToAction` `{actionType, url}`, `event` `{title, schedule}` required for EVENT and OFFER,
  `offer` `{couponCode, redeemOnlineUrl, termsConditions}` only for OFFER, `media`
  `[{mediaFormat, sourceUrl}]`; the answer with `name`, `createTime`, `updateTime`, `state`,
  `searchUrl`; `list`: `pageSize` (at most 100), `pageToken` -> `{localPosts, nextPageToken}`,
  newest first) and the CallToAction / ActionType reference (CALL has no url);
- https://developers.google.com/identity/protocols/oauth2/web-server#offline (`POST /token`,
  `grant_type=refresh_token` with `client_id`, `client_secret` in the form -> `{access_token,
  expires_in: 3599, scope, token_type: Bearer}`; a revoked token: 400 `invalid_grant`
  "Token has been expired or revoked.");
- https://developers.google.com/identity/protocols/oauth2/web-server (the sign-in: `GET
  /o/oauth2/v2/auth` with PKCE; a refresh token only with `access_type=offline`; the code
  redeemed at `POST /token`; `tests/servers/oauth2.py` serves both, for the client
  `CLIENT_ID` once a test registers its redirect URI with `allow_redirect`);
- https://cloud.google.com/apis/design/errors (`{"error": {"code", "message", "status"}}`:
  401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 429 RESOURCE_EXHAUSTED, 400 INVALID_ARGUMENT,
  404 NOT_FOUND).

Stateful: one account with one location; posts with `createTime` from the server's `clock`;
access tokens that expire on it (`expire_tokens`), a refresh token that can be revoked
(`revoke_refresh`), a per-minute quota (`per_minute`, 429 RESOURCE_EXHAUSTED). Summaries over
1,500 characters and unknown fields are refused (INVALID_ARGUMENT).
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import regex

from tests.servers.base import ContractServer, Request, Response
from tests.servers.oauth2 import Client, OAuth2Provider

CLIENT_ID = "123456789012-harbour.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-HarbourClientSecret012345"
REFRESH_TOKEN = "1//0gHarbourRefreshToken-0123456789"
ACCOUNT, LOCATION, OTHER_LOCATION = "1122334455", "9988776655", "5555555555"
POST_FIELDS = {"languageCode", "summary", "topicType", "callToAction", "event", "offer", "media", "alertType"}
ACTIONS = {"BOOK", "ORDER", "SHOP", "LEARN_MORE", "SIGN_UP", "CALL"}
_URL = regex.compile(r"https?://[^\s/]+\.[^\s]*")


def google_error(code: int, status: str, message: str) -> Response:
    return Response(code, {"error": {"code": code, "message": message, "status": status}})


class GoogleBusinessServer(ContractServer):
    def __init__(
        self, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC), per_minute: int = 300
    ) -> None:
        super().__init__()
        self.clock = clock
        self.per_minute = per_minute
        self.tokens: dict[str, datetime] = {}
        self.refresh_tokens = {REFRESH_TOKEN}
        self.locations = {LOCATION: [], OTHER_LOCATION: []}
        self.managed = {LOCATION}
        self.created: list[dict[str, Any]] = []
        """Every post, in order (also what `python -m tests.servers` prints)."""
        self._calls: list[datetime] = []
        self._ids = itertools.count(1)
        self.oauth = OAuth2Provider(user="owner", expires_in=3599, offline=("access_type", "offline"))
        self.oauth.register(Client(CLIENT_ID, [], secret=CLIENT_SECRET))

    def allow_redirect(self, uri: str) -> None:
        """Register a loopback redirect URI on the OAuth client (as in the Cloud console)."""
        self.oauth.clients[CLIENT_ID].redirect_uris.append(uri)

    # -- the world --------------------------------------------------------------------------------

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def revoke_refresh(self) -> None:
        with self.lock:
            self.refresh_tokens.clear()
            self.tokens.clear()

    def posts(self) -> list[Request]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/localPosts")]

    def token_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path == "/token"]

    # -- serving ----------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        with self.lock:
            if request.path == "/o/oauth2/v2/auth":
                return self.oauth.authorize(request)
            if request.path == "/token":
                return self._token(request)
            header = request.header("Authorization") or ""
            expires = (
                self.tokens.get(header.removeprefix("Bearer ")) if header.startswith("Bearer ") else None
            )
            if expires is None or self.clock() >= expires:
                return google_error(
                    401,
                    "UNAUTHENTICATED",
                    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
                    "cookie or other valid authentication credential.",
                )
            now = self.clock()
            self._calls = [t for t in self._calls if t > now - timedelta(minutes=1)]
            if len(self._calls) >= self.per_minute:
                return google_error(
                    429,
                    "RESOURCE_EXHAUSTED",
                    "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute'.",
                )
            self._calls.append(now)
            found = regex.fullmatch(r"/v4/accounts/([0-9]+)/locations/([0-9]+)/localPosts", request.path)
            if not found or found[1] != ACCOUNT or found[2] not in self.locations:
                return google_error(404, "NOT_FOUND", "Requested entity was not found.")
            if found[2] not in self.managed:
                return google_error(403, "PERMISSION_DENIED", "The caller does not have permission")
            if request.method == "POST":
                return self._create(request, found[2])
            return self._list(request, found[2])

    def _token(self, request: Request) -> Response:
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") == "authorization_code":
            answer = self.oauth.token(request)
            if answer.status == 200:
                self.tokens[answer.body["access_token"]] = self.clock() + timedelta(seconds=3599)
                if "refresh_token" in answer.body:
                    self.refresh_tokens.add(answer.body["refresh_token"])
            return answer
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return Response(401, {"error": "invalid_client", "error_description": "Unauthorized"})
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") not in self.refresh_tokens:
            return Response(
                400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
            )
        token = "ya29." + secrets.token_urlsafe(32)
        self.tokens[token] = self.clock() + timedelta(seconds=3599)
        return Response(
            200,
            {
                "access_token": token,
                "expires_in": 3599,
                "scope": "https://www.googleapis.com/auth/business.manage",
                "token_type": "Bearer",
            },
        )

    def _create(self, request: Request, location: str) -> Response:
        try:
            body = request.json()
        except ValueError:
            return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if not isinstance(body, dict):
            return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        problem = self._problem(body)
        if problem:
            return google_error(400, "INVALID_ARGUMENT", problem)
        number = next(self._ids)
        name = f"accounts/{ACCOUNT}/locations/{location}/localPosts/{number:019d}"
        stamp = self.clock().astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        post = {
            "name": name,
            **body,
            "createTime": stamp,
            "updateTime": stamp,
            "state": "LIVE",
            "searchUrl": f"https://local.google.com/place?id=1234567890&use=posts&lpsid={number}",
        }
        self.locations[location].insert(0, post)
        self.created.append({**post, "id": name, "text": body.get("summary", "")})
        return Response(200, post)

    def _problem(self, body: dict[str, Any]) -> str | None:
        if set(body) - POST_FIELDS:
            return f"Invalid JSON payload received. Unknown name {sorted(set(body) - POST_FIELDS)[0]!r}"
        topic = body.get("topicType")
        if topic not in ("STANDARD", "EVENT", "OFFER"):
            return "Invalid value at 'local_post.topic_type'"
        if len(str(body.get("summary", ""))) > 1500:
            return "Request contains an invalid argument. (summary is longer than 1500 characters)"
        if topic == "STANDARD" and not body.get("summary"):
            return "Request contains an invalid argument. (summary is required)"
        event = body.get("event")
        if topic in ("EVENT", "OFFER"):
            if (
                not isinstance(event, dict)
                or not event.get("title")
                or not isinstance(event.get("schedule"), dict)
            ):
                return "Request contains an invalid argument. (event.title and event.schedule are required)"
            schedule = event["schedule"]
            if "startDate" not in schedule or "endDate" not in schedule:
                return "Request contains an invalid argument. (event.schedule needs startDate and endDate)"
        elif event is not None:
            return "Request contains an invalid argument. (event is for EVENT and OFFER posts)"
        if body.get("offer") is not None and topic != "OFFER":
            return "Request contains an invalid argument. (offer is for OFFER posts)"
        action = body.get("callToAction")
        if action is not None:
            if topic == "OFFER":
                return "Request contains an invalid argument. (an offer has no call to action)"
            kind = action.get("actionType") if isinstance(action, dict) else None
            if kind not in ACTIONS:
                return "Invalid value at 'local_post.call_to_action.action_type'"
            if kind == "CALL" and action.get("url"):
                return "Request contains an invalid argument. (CALL takes no url)"
            if kind != "CALL" and not _URL.fullmatch(str(action.get("url", ""))):
                return "Request contains an invalid argument. (call_to_action.url)"
        for item in body.get("media") or []:
            if item.get("mediaFormat") != "PHOTO" or not _URL.fullmatch(str(item.get("sourceUrl", ""))):
                return "Request contains an invalid argument. (media)"
        return None

    def _list(self, request: Request, location: str) -> Response:
        size = min(int((request.query.get("pageSize") or ["10"])[-1]), 100)
        start = int((request.query.get("pageToken") or ["0"])[-1])
        posts = self.locations[location]
        page = posts[start : start + size]
        answer: dict[str, Any] = {"localPosts": page} if page else {}
        if start + size < len(posts):
            answer["nextPageToken"] = str(start + size)
        return Response(200, answer)
