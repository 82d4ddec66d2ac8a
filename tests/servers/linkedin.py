"""A LinkedIn contract server (versioned Posts API), written from LinkedIn's documentation.

Sources (learn.microsoft.com/linkedin/...): marketing/community-management/shares/posts-api
(`POST /rest/posts`, the required fields `author`, `commentary`, `visibility`, `distribution`,
`lifecycleState`; 201 with `x-restli-id`; `GET /rest/posts/{urn}`, the `author` finder),
.../shares/images-api (`initializeUpload` -> `uploadUrl`, `image`; PUT the bytes),
.../shares/multiimage-post-api (2-20 images), .../shares/comments-api, .../shares/little-text-format
(reserved characters, the hashtag template, mentions), marketing/versioning and
shared/api-guide/concepts/protocol-version (`LinkedIn-Version`, `X-Restli-Protocol-Version:
2.0.0`); error bodies as observed (NETWORKS.md §4): 400 VERSION_MISSING, 426
NONEXISTENT_VERSION, 401 65600/65601/65602, 422 DUPLICATE_POST naming the existing URN,
429 serviceErrorCode 101 without rate-limit headers.

The commentary is parsed as little text by this server's own reader (`render`), which cuts
the text at the first unescaped reserved character as LinkedIn does; each post keeps the
raw `commentary` and what LinkedIn would show (`shown`), so tests check the round trip.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from tests.servers.base import ContractServer, Fault, Request, Response
from tests.servers.oauth2 import OAuth2Provider

RESERVED = set("|{}@[]()<>#\\*_~")
ACTIVE_VERSIONS = ("202601", "202604", "202607", "202610")
REQUIRED = ("author", "commentary", "visibility", "distribution", "lifecycleState")


def render(little: str) -> str:
    """What LinkedIn shows for a little-text `commentary`: escapes undone, hashtags and mentions
    shown, and the text cut at the first reserved character that is not escaped."""
    out, i = [], 0
    while i < len(little):
        char = little[i]
        if char == "\\" and i + 1 < len(little):
            out.append(little[i + 1])
            i += 2
            continue
        if little.startswith("{hashtag|", i):
            end = little.find("}", i)
            parts = little[i + 1 : end].split("|") if end > 0 else []
            if len(parts) == 3 and parts[1] in ("\\#", "#", "\\＃", "＃"):
                out.append("#" + parts[2])
                i = end + 1
                continue
        if little.startswith("@[", i):
            close = little.find("](", i)
            end = little.find(")", close) if close > 0 else -1
            if close > 0 and end > 0 and little[close + 2 : end].startswith("urn:li:"):
                out.append(little[i + 2 : close])
                i = end + 1
                continue
        if char in RESERVED:
            break  # LinkedIn silently cuts the post here
        out.append(char)
        i += 1
    return "".join(out)


def problem(status: int, message: str, code: str | None = None, service: int | None = None) -> Response:
    body: dict[str, Any] = {"status": status, "message": message}
    if code:
        body["code"] = code
    if service is not None:
        body["serviceErrorCode"] = service
    return Response(status, body)


class LinkedInServer(ContractServer):
    def __init__(
        self, tokens: dict[str, list[str]] | None = None, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        super().__init__()
        self.tokens = tokens or {"li-token": ["urn:li:person:abc123", "urn:li:organization:555"]}
        """token -> the authors it may post as (the member, the organizations it administers)."""
        self.expired: set[str] = set()
        self.revoked: set[str] = set()
        self.readable = True
        """Whether tokens may read posts back (r_member_social / r_organization_social)."""
        self.clock = clock or (lambda: datetime.now(UTC))
        self.posts: dict[str, dict[str, Any]] = {}
        self.images: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []
        self._ids = itertools.count(7_141_138_937_766_391_808)
        self.oauth = OAuth2Provider(user=next(iter(self.tokens.values()))[0], expires_in=5_184_000)
        """3-legged OAuth 2.0 (`/oauth/v2/authorization`, `/oauth/v2/accessToken`; 60-day tokens)."""

    def _millis(self) -> int:
        return int(self.clock().timestamp() * 1000)

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/upload/"):
            return self._put_bytes(request)
        if request.path in ("/oauth/v2/authorization", "/oauth/v2/accessToken"):
            return self._oauth(request)
        if request.path == "/v2/userinfo":  # OpenID Connect: versionless, the token's member
            return self._userinfo(request)
        version = request.header("LinkedIn-Version")
        if not version:
            response = problem(
                400,
                "A version must be present. Please specify a version by adding the LinkedIn-Version header.",
                "VERSION_MISSING",
            )
            response.headers["X-Restli-Gateway-Error"] = "true"
            return response
        if version not in ACTIVE_VERSIONS:
            return problem(426, f"Requested version {version} is not active", "NONEXISTENT_VERSION")
        if request.header("X-Restli-Protocol-Version") != "2.0.0":
            return problem(400, "Rest.li protocol version 2.0.0 is required (X-Restli-Protocol-Version)")
        token = (request.header("Authorization") or "").removeprefix("Bearer ").strip()
        refused = self._refused(token)
        if refused is not None:
            return refused
        with self.lock:
            return self._route(request, self.tokens[token])

    def _oauth(self, request: Request) -> Response:
        with self.lock:
            if request.path == "/oauth/v2/authorization":
                return self.oauth.authorize(request)
            answer = self.oauth.token(request)
            if answer.status == 200:  # no refresh token for most apps: the member signs in again
                answer.body.pop("refresh_token")
                self.tokens[answer.body["access_token"]] = [self.oauth.access[answer.body["access_token"]]]
            return answer

    def _userinfo(self, request: Request) -> Response:
        token = (request.header("Authorization") or "").removeprefix("Bearer ").strip()
        refused = self._refused(token)
        if refused is not None:
            return refused
        member = next((a for a in self.tokens[token] if a.startswith("urn:li:person:")), None)
        if member is None:
            return problem(403, "Not enough permissions to access: userinfo.GET.NO_VERSION", "ACCESS_DENIED")
        sub = member.removeprefix("urn:li:person:")
        return Response(200, {"sub": sub, "name": f"Member {sub}", "email_verified": True})

    def _refused(self, token: str) -> Response | None:
        if token in self.expired:
            return problem(401, "The token used in the request has expired", "EXPIRED_ACCESS_TOKEN", 65602)
        if token in self.revoked:
            return problem(
                401,
                "The token used in the request has been revoked by the user",
                "REVOKED_ACCESS_TOKEN",
                65601,
            )
        if token not in self.tokens:
            return problem(401, "Invalid access token", "INVALID_ACCESS_TOKEN", 65600)
        return None

    def _route(self, request: Request, authors: list[str]) -> Response:
        path = request.path
        if request.method == "POST" and path == "/rest/posts":
            return self._post(request.json(), authors)
        if (
            request.method == "POST"
            and path == "/rest/images"
            and request.query.get("action") == ["initializeUpload"]
        ):
            owner = ((request.json() or {}).get("initializeUploadRequest") or {}).get("owner")
            if owner not in authors:
                return problem(403, f"Not enough permissions to access: images for {owner}", "ACCESS_DENIED")
            urn = f"urn:li:image:C4E10AQ{next(self._ids)}"
            self.images[urn] = {"owner": owner, "data": None}
            return Response(
                200,
                {
                    "value": {
                        "uploadUrlExpiresAt": self._millis() + 3_600_000,
                        "uploadUrl": f"{self.url}/upload/{urn}",
                        "image": urn,
                    }
                },
            )
        if path.startswith("/rest/socialActions/") and path.endswith("/comments"):
            target = unquote(path.removeprefix("/rest/socialActions/").removesuffix("/comments"))
            if request.method == "POST":
                return self._comment(target, request.json(), authors)
            elements = [c for c in self.comments.values() if c["object"] == target]
            return Response(200, {"elements": elements})
        if request.method == "GET" and path.startswith("/rest/posts/"):
            if not self.readable:
                return problem(403, "Not enough permissions to access: posts.GET", "ACCESS_DENIED", 100)
            post = self.posts.get(unquote(path.removeprefix("/rest/posts/")))
            return Response(200, post) if post else problem(404, "Not found", "NOT_FOUND")
        if request.method == "GET" and path == "/rest/posts" and request.query.get("q") == ["author"]:
            if not self.readable:
                return problem(
                    403, "Not enough permissions to access: posts.FINDER-author", "ACCESS_DENIED", 100
                )
            author = request.query.get("author", [""])[0]
            mine = sorted(
                (p for p in self.posts.values() if p["author"] == author),
                key=lambda p: p["createdAt"],
                reverse=True,
            )
            return Response(200, {"elements": mine[: int(request.query.get("count", ["10"])[0])]})
        return problem(404, f"No resource for {request.method} {path}", "NOT_FOUND")

    def _post(self, body: Any, authors: list[str]) -> Response:
        missing = [f for f in REQUIRED if not isinstance(body, dict) or f not in body]
        if missing:
            return problem(
                422,
                "".join(
                    f"ERROR :: /{f} :: field is required but not found and has no default value\n"
                    for f in missing
                ),
            )
        if body["author"] not in authors:
            return problem(403, f"Not enough permissions to post as {body['author']}", "ACCESS_DENIED")
        if body["visibility"] not in ("PUBLIC", "CONNECTIONS", "LOGGED_IN"):
            return problem(422, f"ERROR :: /visibility :: invalid enum value {body['visibility']}")
        if len(body["commentary"]) > 3000:
            return problem(422, "ERROR :: /commentary :: length of commentary exceeds 3000")
        content = body.get("content") or {}
        images = (
            [content["media"]] if "media" in content else (content.get("multiImage") or {}).get("images", [])
        )
        if "multiImage" in content and not 2 <= len(images) <= 20:
            return problem(
                422, "ERROR :: /content/multiImage/images :: a multi-image post takes 2 to 20 images"
            )
        for image in images:
            found = self.images.get(image.get("id"))
            if found is None or found["data"] is None or found["owner"] != body["author"]:
                return problem(
                    422, f"ERROR :: /content :: image {image.get('id')} is not uploaded by the author"
                )
        shown = render(body["commentary"])
        since = self._millis() - 86_400_000
        for urn, post in self.posts.items():
            if post["author"] == body["author"] and post["shown"] == shown and post["createdAt"] >= since:
                return Response(
                    422,
                    {
                        "errorDetailType": "com.linkedin.common.error.BadRequest",
                        "message": "com.linkedin.content.common.exception.BadRequestResponseException: "
                        f"Content is a duplicate of {urn}",
                        "errorDetails": {
                            "inputErrors": [
                                {
                                    "description": "Duplicate post is detected",
                                    "input": {},
                                    "code": "DUPLICATE_POST",
                                }
                            ]
                        },
                        "status": 422,
                    },
                )
        urn = f"urn:li:share:{next(self._ids)}"
        self.posts[urn] = {
            "id": urn,
            "author": body["author"],
            "commentary": body["commentary"],
            "shown": shown,
            "visibility": body["visibility"],
            "content": content,
            "createdAt": self._millis(),
            "lifecycleState": body["lifecycleState"],
        }
        self.created.append({"id": urn, "text": shown, "in_reply_to_id": None, "media_ids": images})
        return Response(201, None, {"x-restli-id": urn})

    def _comment(self, target: str, body: Any, authors: list[str]) -> Response:
        if target not in self.posts:
            return problem(404, f"Post {target} not found", "NOT_FOUND")
        if not isinstance(body, dict) or body.get("actor") not in authors or body.get("object") != target:
            return problem(422, "ERROR :: /actor or /object :: invalid")
        text = (body.get("message") or {}).get("text")
        if not isinstance(text, str) or not text:
            return problem(422, "ERROR :: /message/text :: field is required")
        number = next(self._ids)
        urn = f"urn:li:comment:({target.replace('share', 'activity')},{number})"
        self.comments[urn] = {
            "$URN": urn,
            "id": str(number),
            "actor": body["actor"],
            "object": target,
            "message": {"text": text},
            "created": {"time": self._millis()},
        }
        self.created.append({"id": urn, "text": text, "in_reply_to_id": target, "media_ids": []})
        return Response(201, self.comments[urn], {"x-restli-id": urn})

    def _put_bytes(self, request: Request) -> Response:
        urn = unquote(request.path.removeprefix("/upload/"))
        token = (request.header("Authorization") or "").removeprefix("Bearer ").strip()
        if request.method != "PUT" or urn not in self.images or token not in self.tokens:
            return problem(400, "Bad upload")
        self.images[urn]["data"] = request.body
        return Response(201, None)

    def add_post(self, author: str, text_shown: str, commentary: str, *, at: datetime) -> str:
        urn = f"urn:li:share:{next(self._ids)}"
        self.posts[urn] = {
            "id": urn,
            "author": author,
            "commentary": commentary,
            "shown": text_shown,
            "visibility": "PUBLIC",
            "content": {},
            "createdAt": int(at.timestamp() * 1000),
            "lifecycleState": "PUBLISHED",
        }
        return urn

    # -- faults ---------------------------------------------------------------------------------------

    @staticmethod
    def creating(request: Request) -> bool:
        return request.method == "POST" and request.path == "/rest/posts"

    def fault_rate_limited(self) -> Fault:
        return self.inject(
            Fault(
                match=self.creating,
                response=problem(
                    429, "Resource level throttle limit for calls to this resource is reached.", service=101
                ),
            )
        )

    def fault_ambiguous(self) -> Fault:
        return self.inject(
            Fault(match=self.creating, response=problem(500, "Internal Server Error"), after_processing=True)
        )

    def fault_slow(self, seconds: float) -> Fault:
        return self.inject(Fault(match=self.creating, delay=seconds))

    def shown_texts(self) -> list[str]:
        return [p["shown"] for p in self.posts.values()]


__all__ = ["LinkedInServer", "render"]
