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
"""

from __future__ import annotations

import regex

from tests.servers.base import Request, Response
from tests.servers.containers import ContainerServer
from tests.servers.graph import Call, error, expired_token

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

    def handle(self, request: Request) -> Response:
        if request.path.rstrip("/") == "/refresh_access_token":
            return self._refresh(request)
        return super().handle(request)

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
