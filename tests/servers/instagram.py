"""An Instagram contract server (Content Publishing), written from Meta's documentation.

Sources (developers.facebook.com/docs/instagram-platform/...): content-publishing (the steps,
media fetched from a public server, carousels of up to 10, reels), instagram-graph-api/
reference/ig-container (`status_code`: EXPIRED, ERROR, FINISHED, IN_PROGRESS, PUBLISHED),
.../ig-user/media (`image_url` JPEG only, `video_url`, `media_type` REELS/VIDEO/CAROUSEL,
`is_carousel_item`, `children`, `caption` of at most 2,200 characters, 30 hashtags and
20 @ tags, `alt_text` for images), .../ig-user/media_publish (`creation_id`; 50 posts per
moving 24 hours), .../ig-user/content_publishing_limit (`quota_usage`, `config`),
.../ig-media/comments; error codes: instagram-graph-api/reference/error-codes (9 / 2207042
limit reached, 9007 / 2207027 not ready). The container flow: `tests/servers/containers.py`.

Facebook Login: `tests/servers/graph.py` `FacebookLogin`, once a test calls `sign_in(user)`
(the long-lived user token it gives acts as that Instagram account).
"""

from __future__ import annotations

import regex

from tests.servers.base import Request, Response
from tests.servers.containers import ContainerServer
from tests.servers.graph import Call, FacebookLogin, error

HASHTAG = regex.compile(r"(?<![\w&])#\w+")
MENTION = regex.compile(r"(?<![\w@])@[\w.]+")


class InstagramServer(ContainerServer):
    versions = ("v24.0", "v25.0", "v26.0")
    network = "Instagram"
    login: FacebookLogin | None = None

    def sign_in(self, user: str) -> FacebookLogin:
        """Serve Facebook Login, `user` (an Instagram account id) consenting."""
        self.login = FacebookLogin(user, self.tokens.__setitem__)
        return self.login

    def handle(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if self.login is not None and len(parts) == 3 and parts[0] in self.versions:
            with self.lock:
                answer = self.login.serve(request, parts[1:])
            if answer is not None:
                return answer
        return super().handle(request)

    def check_fields(self, owner: str, params: dict[str, str]) -> Response | None:
        caption = params.get("caption", "")
        if len(caption) > 2200:
            return error(400, 100, "(#100) The caption is longer than 2200 characters", 2207010)
        if len(HASHTAG.findall(caption)) > 30 or len(MENTION.findall(caption)) > 20:
            return error(400, 100, "(#100) The caption has more than 30 hashtags or 20 mentions", 2207010)
        kind = params.get("media_type", "IMAGE")
        if kind in ("REELS", "VIDEO") and not params.get("video_url"):
            return error(400, 100, "(#100) The parameter video_url is required")
        if kind == "IMAGE" and not params.get("image_url"):
            return error(400, 100, "(#100) The parameter image_url is required")
        if kind == "CAROUSEL" and (params.get("image_url") or params.get("video_url")):
            return error(400, 100, "(#100) A carousel container takes children, not a URL")
        return None

    def text_of(self, params: dict[str, str]) -> str:
        return params.get("caption", "")

    def permalink(self, owner: str, media_id: str) -> str:
        return f"https://www.instagram.com/p/C{media_id[-9:]}/"

    def route(self, method: str, call: Call, owner: str) -> Response:
        path, params = call.path, call.params
        if len(path) == 2 and path[0] == owner:
            if method == "POST" and path[1] == "media":
                return self.create(owner, params)
            if method == "POST" and path[1] == "media_publish":
                return self.publish(owner, params)
            if method == "GET" and path[1] == "content_publishing_limit":
                return Response(
                    200,
                    {
                        "data": [
                            {
                                "quota_usage": self.used(owner),
                                "config": {"quota_total": self.quota_total, "quota_duration": 86400},
                            }
                        ]
                    },
                )
            if method == "GET" and path[1] == "media":
                return self.listing(
                    owner, False, "caption", params.get("fields", "id"), int(params.get("limit", 25))
                )
        if len(path) == 2 and path[1] == "comments" and path[0] in self.media:
            if method == "POST":
                if not params.get("message"):
                    return error(400, 100, "(#100) The parameter message is required")
                comment = {
                    "id": self.new_id(),
                    "text": params["message"],
                    "media": path[0],
                    "timestamp": self.created_time(),
                }
                self.comments[comment["id"]] = comment
                self.created.append(
                    {"id": comment["id"], "text": comment["text"], "in_reply_to_id": path[0], "media_ids": []}
                )
                return Response(200, {"id": comment["id"]})
            entries = [c for c in self.comments.values() if c["media"] == path[0]]
            return Response(
                200,
                {"data": [{"id": c["id"], "text": c["text"], "timestamp": c["timestamp"]} for c in entries]},
            )
        if method == "GET" and len(path) == 1:
            if path[0] == owner:
                return Response(200, {"id": owner, "username": self.usernames.get(owner, "harbourcafe")})
            if path[0] in self.containers:
                return self.status(path[0], owner)
            if path[0] in self.media:
                return Response(200, {"id": path[0], "permalink": self.permalink(owner, path[0])})
        return error(400, 100, f"Unsupported {method.lower()} request.", 33)
