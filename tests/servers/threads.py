"""A Threads contract server, written from Meta's Threads documentation.

Sources (developers.facebook.com/documentation/threads/...): posts (the two steps;
`media_type` TEXT, IMAGE, VIDEO, CAROUSEL; `image_url`/`video_url` fetched from a public
server; `text` of at most 500 characters, emojis counted as their UTF-8 bytes; carousels
of 2 to 20 items; media specifications: JPEG or PNG), troubleshooting (container `status`
IN_PROGRESS, FINISHED, PUBLISHED, ERROR, EXPIRED and `error_message`), overview (the host
`graph.threads.net/v1.0`; 250 posts per moving 24 hours, `threads_publishing_limit` with
`quota_usage` and `config`), retrieve-and-manage-replies (`reply_to_id`; 1,000 replies,
`reply_quota_usage`, `reply_config`), and the permalink field. `/me` is the token's user.
The container flow: `tests/servers/containers.py`.

The sign-in (get-started/get-access-tokens-and-permissions): `GET /oauth/authorize` and the code
at `POST /oauth/access_token` are `tests/servers/oauth2.py` (comma-separated scopes; the answer a
short-lived token with `user_id`, no refresh token), for `APP_ID` once a test registers its
redirect URI with `allow_redirect`; `GET /access_token?grant_type=th_exchange_token` with the
app secret and a live short-lived token gives a long-lived one (60 days).
"""

from __future__ import annotations

import regex

from tests.servers.base import Request, Response
from tests.servers.containers import ContainerServer
from tests.servers.graph import Call, error, expired_token
from tests.servers.oauth2 import Client, OAuth2Provider

APP_ID, APP_SECRET = "7788990011223344", "threads-app-secret-0123456789abcd"

_CLUSTER = regex.compile(r"\X")
_PICTOGRAPH = regex.compile(r"[\p{Extended_Pictographic}\p{Regional_Indicator}]")


def threads_count(text: str) -> int:
    """This server's own count: a cluster with a pictograph counts its UTF-8 bytes, others 1."""
    total = 0
    for cluster in _CLUSTER.findall(text):
        total += len(cluster.encode()) if _PICTOGRAPH.search(cluster) else 1
    return total


class ThreadsServer(ContainerServer):
    """Also `GET /refresh_access_token?grant_type=th_refresh_token` (Threads docs, long-lived
    access tokens): a live token gets a new one for 60 days (the old one stays live until its end);
    an expired or unknown one gets code 190."""

    versions = ("v1.0",)
    network = "Threads"
    create_edge = "threads"
    publish_edge = "threads_publish"
    status_field = "status"
    images = ("image/jpeg", "image/png")
    quota_total = 250
    reply_quota_total = 1000
    max_children = 20

    def sign_in(self, user: str) -> OAuth2Provider:
        """Serve the sign-in, as `user` consenting; register redirect URIs with `allow_redirect`."""
        self.oauth = OAuth2Provider(user=user, expires_in=3600, scope_separator=",")
        self.oauth.register(Client(APP_ID, [], secret=APP_SECRET))
        return self.oauth

    def allow_redirect(self, uri: str) -> None:
        self.oauth.clients[APP_ID].redirect_uris.append(uri)

    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if path == "/refresh_access_token":
            return self._refresh(request)
        if path == "/oauth/authorize" and request.method == "GET":
            with self.lock:
                return self.oauth.authorize(request)
        if path == "/oauth/access_token" and request.method == "POST":
            with self.lock:
                answer = self.oauth.token(request)
            if answer.status == 200:  # a short-lived token and its user, no refresh token
                user = self.oauth.user_of(answer.body["access_token"])
                answer = Response(200, {"access_token": answer.body["access_token"], "user_id": user})
            return answer
        if path == "/access_token" and request.method == "GET":
            return self._exchange(request)
        return super().handle(request)

    def _exchange(self, request: Request) -> Response:
        query = {k: v[0] for k, v in request.query.items()}
        if query.get("grant_type") != "th_exchange_token":
            return error(400, 100, "(#100) grant_type must be th_exchange_token")
        if query.get("client_secret") != APP_SECRET:
            return error(400, 1, "Error validating client secret.")
        token = (request.header("Authorization") or "").removeprefix("Bearer ").strip()
        user = self.oauth.user_of(token or query.get("access_token", ""))
        if user is None:
            return error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        with self.lock:
            long_lived = f"th-long-{self.new_id()}"
            self.tokens[long_lived] = user
        return Response(200, {"access_token": long_lived, "token_type": "bearer", "expires_in": 5184000})

    def _refresh(self, request: Request) -> Response:
        if request.query.get("grant_type") != ["th_refresh_token"]:
            return error(400, 100, "(#100) grant_type must be th_refresh_token")
        token = (request.header("Authorization") or "").removeprefix("Bearer ").strip()
        token = token or request.query.get("access_token", [""])[0]
        if token in self.expired:
            return expired_token()
        owner = self.tokens.get(token)
        if owner is None:
            return error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        with self.lock:
            fresh = f"th-refreshed-{self.new_id()}"
            self.tokens[fresh] = owner
            self.refreshed.append(token)
        return Response(200, {"access_token": fresh, "token_type": "bearer", "expires_in": 5184000})

    def check_fields(self, owner: str, params: dict[str, str]) -> Response | None:
        kind = params.get("media_type")
        if kind not in ("TEXT", "IMAGE", "VIDEO", "CAROUSEL"):
            return error(400, 100, "(#100) Param media_type must be one of TEXT, IMAGE, VIDEO, CAROUSEL")
        if threads_count(params.get("text", "")) > 500:
            return error(400, 100, "(#100) Param text must be at most 500 characters long.")
        if kind == "TEXT" and not params.get("text"):
            return error(400, 100, "(#100) Param text is required for a TEXT post")
        if (kind == "IMAGE" and not params.get("image_url")) or (
            kind == "VIDEO" and not params.get("video_url")
        ):
            return error(400, 100, f"(#100) The URL of the {kind.lower()} is required")
        reply = params.get("reply_to_id")
        if reply and reply not in self.media:
            return error(400, 100, f"(#100) Param reply_to_id {reply} does not exist")
        return None

    def text_of(self, params: dict[str, str]) -> str:
        return params.get("text", "")

    def permalink(self, owner: str, media_id: str) -> str:
        return f"https://www.threads.com/@{self.usernames.get(owner, 'harbourcafe')}/post/D{media_id[-9:]}"

    def publish(self, owner: str, params: dict[str, str]) -> Response:
        container = self.containers.get(params.get("creation_id", ""))
        if (
            container
            and container["params"].get("reply_to_id")
            and self.used(owner, True) >= self.reply_quota_total
        ):
            return self.quota_error()
        return super().publish(owner, params)

    def route(self, method: str, call: Call, owner: str) -> Response:
        path = [owner if part == "me" else part for part in call.path]
        params = call.params
        if len(path) == 2 and path[0] == owner:
            if method == "POST" and path[1] == "threads":
                return self.create(owner, params)
            if method == "POST" and path[1] == "threads_publish":
                return self.publish(owner, params)
            if method == "GET" and path[1] == "threads_publishing_limit":
                return Response(
                    200,
                    {
                        "data": [
                            {
                                "quota_usage": self.used(owner),
                                "config": {"quota_total": self.quota_total, "quota_duration": 86400},
                                "reply_quota_usage": self.used(owner, True),
                                "reply_config": {
                                    "quota_total": self.reply_quota_total,
                                    "quota_duration": 86400,
                                },
                            }
                        ]
                    },
                )
            if method == "GET" and path[1] in ("threads", "replies"):
                return self.listing(
                    owner,
                    path[1] == "replies",
                    "text",
                    params.get("fields", "id"),
                    int(params.get("limit", 25)),
                )
        if method == "GET" and len(path) == 1:
            if path[0] == owner:
                return Response(200, {"id": owner, "username": self.usernames.get(owner, "harbourcafe")})
            if path[0] in self.containers:
                return self.status(path[0], owner)
            if path[0] in self.media:
                return Response(200, {"id": path[0], "permalink": self.permalink(owner, path[0])})
        return error(400, 100, f"Unsupported {method.lower()} request.", 33)
