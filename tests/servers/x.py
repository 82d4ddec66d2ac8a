"""An X API v2 contract server, written from X's OpenAPI spec (2.167) and documentation.

Sources: conformance/x-openapi/openapi.json (operations, request schemas, `Problem`
types), docs.x.com (OAuth 1.0a "Authorizing a request" and "Creating a signature",
media upload chunked, media best practices, rate limits), NETWORKS.md §1 (observed
error bodies: duplicate 403, unsupported-authentication 403, 429 headers) and the
tweepy cassette (201 answer with `location` and `x-rate-limit-*` headers).

Behaviour:
- auth: OAuth 1.0a HMAC-SHA1, verified by recomputing the signature with `oauthlib`
  (an implementation independent of ours), checking the consumer key, token, version,
  a 5-minute timestamp window and nonce reuse -> 401; or a user bearer token; an
  app-only bearer token -> 403 unsupported-authentication on user endpoints;
- every request is checked against the spec (`XSpec`): unknown query parameters, bad
  values, bodies outside the request schema (`additionalProperties: false`) -> 400
  invalid-request with X's `errors[].message` shape;
- `POST /2/tweets`: weighted length over 280 (a separate, simpler implementation of
  twitter-text v3 than the connector's: URLs 23, emoji 2, ranges of config v3) -> 400
  "text is too long"; the same text twice by one user within 24 hours -> 403 duplicate;
  a reply to an unknown post -> 403; unknown, unprocessed, foreign or mixed media -> 400;
  rate-limit headers (15-minute window, 24-hour user and app limits) and 429 past them;
- media: simple upload (multipart or JSON base64), chunked initialize/append/finalize,
  `processing_info` moving `pending -> in_progress -> succeeded` (or `failed`) one step
  per STATUS request, alt text through `/2/media/metadata`;
- OAuth 2.0 sign-in: `GET /i/oauth2/authorize` and `POST /2/oauth2/token` (authorization
  code with PKCE, rotating refresh tokens; `tests/servers/oauth2.py`), the tokens it issues
  accepted as user bearer tokens;
- timeline: `GET /2/users/me`, `GET /2/users/{id}/tweets` newest first with `start_time`,
  `max_results`, `pagination_token`, `post.fields` and `expansions=referenced_posts`;
  texts come back as X renders them (URLs as t.co links, a t.co link appended for media,
  `&`, `<`, `>` as HTML entities);
- scripted faults from `tests/servers/base.py`.

Wording of our own 400 messages (empty text, bad media ids) is ours, not X's.
"""

from __future__ import annotations

import base64
import hmac
import itertools
import json
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

import regex
from oauthlib.oauth1.rfc5849 import signature as oauth

from tests.servers.base import ContractServer, Request, Response
from tests.servers.oauth2 import OAuth2Provider
from tests.servers.x_media import MediaRoutes, multipart
from tests.servers.x_openapi import PROBLEMS, XSpec, forbidden, invalid

V3_RANGES = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
"""`ranges` of conformance/twitter-text/config/v3.json (weight 100 = 1; everything else 2)."""
_URL = regex.compile(r"https?://[^\s]+", regex.IGNORECASE)
_EMOJI = regex.compile(r"\p{Extended_Pictographic}|\p{Regional_Indicator}|\u20e3")
UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
DUPLICATE = {
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
TOO_MANY = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}
TOO_LONG = (
    "Your Tweet text is too long. For more information on how Twitter determines text length "
    "see https://github.com/twitter/twitter-text."
)


def weighted_length(text: str) -> int:
    text = _URL.sub("\x00", unicodedata.normalize("NFC", text))
    total = 0
    for cluster in regex.findall(r"\X", text):
        if cluster == "\x00":
            total += 23
        elif _EMOJI.search(cluster):
            total += 2
        else:
            total += sum(1 if any(a <= ord(c) <= b for a, b in V3_RANGES) else 2 for c in cluster)
    return total


OAUTH1 = {
    "consumer_key": "ck-app",
    "consumer_secret": "cs-app-secret",
    "access_token": "1401-tok",
    "access_token_secret": "tok-secret",
}
"""The default user's OAuth 1.0a secrets (`alice`, id 1401)."""
BEARER = {"bearer_token": "u-bearer"}
"""The default user's OAuth 2.0 user token."""


@dataclass
class XUser:
    id: str
    username: str
    consumer_key: str = "ck-app"
    consumer_secret: str = "cs-app-secret"
    token: str = ""
    token_secret: str = ""
    bearer: str = ""


class XServer(MediaRoutes, ContractServer):
    def __init__(
        self,
        spec: Path,
        users: list[XUser] | None = None,
        *,
        post_limit: int = 100,
        user_day_limit: int = 2400,
        app_day_limit: int = 10000,
        processing: tuple[str, ...] = ("pending", "in_progress", "succeeded"),
        check_after_secs: int = 1,
        app_bearer: str = "app-only-token",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__()
        self.clock = clock
        """The caller's clock for OAuth 1.0a timestamps (default: the wall clock)."""
        self.spec = XSpec.load(spec)
        self.users = users or [
            XUser("1401", "alice", token="1401-tok", token_secret="tok-secret", bearer="u-bearer")
        ]
        self.post_limit, self.user_day_limit, self.app_day_limit = post_limit, user_day_limit, app_day_limit
        self.processing = processing
        self.check_after_secs = check_after_secs
        self.app_bearer = app_bearer
        self.posts: dict[str, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []
        self.nonces: set[tuple[str, str, str]] = set()
        self.used: Counter[tuple[str, str]] = Counter()
        self.window_start = time.time()
        self.day_start = time.time()
        self.operations: list[str] = []
        self._post_ids = itertools.count(1456012973835788293)
        self._init_media()
        self.oauth = OAuth2Provider(user=self.users[0].username)
        """OAuth 2.0 sign-in (`/i/oauth2/authorize`, `/2/oauth2/token`); register clients on it."""

    # -- auth -----------------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> XUser | Response:
        header = request.header("Authorization") or ""
        if header.startswith("Bearer "):
            token = header.removeprefix("Bearer ").strip()
            if token == self.app_bearer:
                return forbidden(
                    "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  "
                    "Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].",
                    PROBLEMS + "unsupported-authentication",
                    "Unsupported Authentication",
                )
            user = next((u for u in self.users if u.bearer and u.bearer == token), None)
            issued = self.oauth.user_of(token)
            if user is None and issued is not None:
                user = next((u for u in self.users if u.username == issued), None)
            return user or Response(401, UNAUTHORIZED)
        if header.lower().startswith("oauth "):
            return self._verify_oauth1(request, header)
        return Response(401, UNAUTHORIZED)

    def _verify_oauth1(self, request: Request, header: str) -> XUser | Response:
        try:
            params = dict(
                oauth.collect_parameters(headers={"Authorization": header}, exclude_oauth_signature=False)
            )
        except (ValueError, TypeError):
            return invalid("malformed OAuth Authorization header")
        user = next(
            (u for u in self.users if u.token and u.token == params.get("oauth_token")),
            None,
        )
        if user is None or params.get("oauth_consumer_key") != user.consumer_key:
            return Response(401, UNAUTHORIZED)
        if params.get("oauth_signature_method") != "HMAC-SHA1" or params.get("oauth_version", "1.0") != "1.0":
            return invalid("unsupported OAuth signature method or version")
        stamp = params.get("oauth_timestamp", "")
        now = self.clock().timestamp() if self.clock is not None else time.time()
        if not stamp.isdigit() or abs(int(stamp) - now) > 300:
            return Response(401, UNAUTHORIZED)
        seen = (user.token, stamp, params.get("oauth_nonce", ""))
        # the base server keeps the decoded query (blank values dropped; we never send any)
        signed = [(k, v) for k, values in request.query.items() for v in values]
        if (request.header("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
            signed += parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)
        signed += [(k, v) for k, v in params.items() if k not in ("oauth_signature", "realm")]
        base = oauth.signature_base_string(
            request.method,
            oauth.base_string_uri(f"http://{request.header('Host')}{request.path}"),
            oauth.normalize_parameters(signed),
        )
        secrets = SimpleNamespace(client_secret=user.consumer_secret, resource_owner_secret=user.token_secret)
        expected = oauth.sign_hmac_sha1_with_client(base, secrets)
        if not hmac.compare_digest(expected, params.get("oauth_signature", "")):
            return Response(401, UNAUTHORIZED)
        with self.lock:
            if seen in self.nonces:
                return Response(401, UNAUTHORIZED)
            self.nonces.add(seen)
        return user

    # -- rate limits ----------------------------------------------------------------------------

    def _limits(self, user: XUser, operation: str) -> tuple[dict[str, str], bool]:
        now = time.time()
        with self.lock:
            if now - self.window_start >= 900:
                self.window_start = now
                self.used = Counter({k: v for k, v in self.used.items() if k[1] == "day"})
            if now - self.day_start >= 86400:
                self.day_start = now
                self.used = Counter({k: v for k, v in self.used.items() if k[1] != "day"})
            self.used[(user.id, operation)] += 1
            limit = self.post_limit if operation == "createPosts" else 900
            used = self.used[(user.id, operation)]
            headers = {
                "x-rate-limit-limit": str(limit),
                "x-rate-limit-remaining": str(max(0, limit - used)),
                "x-rate-limit-reset": str(int(self.window_start + 900)),
            }
            over = used > limit
            if operation == "createPosts":
                self.used[(user.id, "day")] += 1
                self.used[("app", "day")] += 1
                day_reset = str(int(self.day_start + 86400))
                for prefix, cap, spent in (
                    ("x-user-limit-24hour", self.user_day_limit, self.used[(user.id, "day")]),
                    ("x-app-limit-24hour", self.app_day_limit, self.used[("app", "day")]),
                ):
                    headers |= {
                        f"{prefix}-limit": str(cap),
                        f"{prefix}-remaining": str(max(0, cap - spent)),
                        f"{prefix}-reset": day_reset,
                    }
                    over = over or spent > cap
        return headers, over

    # -- dispatch -------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        if request.method == "GET" and request.path == "/i/oauth2/authorize":
            with self.lock:
                return self.oauth.authorize(request)
        if request.method == "POST" and request.path == "/2/oauth2/token":
            with self.lock:
                return self.oauth.token(request)
        found = self.spec.operation(request.method, request.path)
        if found is None:
            return Response(404, {"errors": [{"message": "Sorry, that page does not exist", "code": 34}]})
        operation, path_values = found
        with self.lock:
            self.operations.append(operation.operation_id)
        user = self._authenticate(request)
        if isinstance(user, Response):
            return user
        headers, over = self._limits(user, operation.operation_id)
        if over:
            return Response(429, TOO_MANY, headers)
        try:
            body, files = self._decode(request, operation.operation_id)
        except ValueError as exc:
            return Response(400, invalid(str(exc)).body, headers)
        problems = self.spec.check(
            request.method, request.path, request.query, body, request.header("Content-Type")
        )
        handler = getattr(self, f"_{operation.operation_id}", None)
        if problems or handler is None:
            answer = invalid(*problems) if problems else Response(404, {"title": "Not Found Error"})
        else:
            with self.lock:
                answer = handler(user, path_values, request, body, files)
        answer.headers = {**headers, **answer.headers}
        return answer

    def _decode(self, request: Request, operation: str) -> tuple[Any, dict[str, bytes]]:
        content_type = (request.header("Content-Type") or "").split(";")[0].strip()
        if not request.body:
            return None, {}
        if content_type == "application/json":
            try:
                return json.loads(request.body), {}
            except ValueError:
                raise ValueError("the body is not valid JSON") from None
        if content_type == "multipart/form-data":
            files = multipart(request.header("Content-Type") or "", request.body)
            form: dict[str, Any] = {}
            for name, raw in files.items():
                if name == "media":
                    form[name] = "<binary>"
                else:
                    text = raw.decode("utf-8")
                    form[name] = int(text) if name == "segment_index" and text.isdigit() else text
            return form, files
        raise ValueError(f"unsupported Content-Type {content_type or '(none)'}")

    # -- posts ----------------------------------------------------------------------------------

    def _createPosts(
        self, user: XUser, path: dict[str, str], request: Request, body: Any, files: Any
    ) -> Response:
        text = str(body.get("text", ""))
        media_ids = list((body.get("media") or {}).get("media_ids") or [])
        if not text.strip() and not media_ids:
            return invalid("text or media is required")
        if weighted_length(text) > 280:
            return invalid(TOO_LONG)
        parent = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        if parent and parent not in self.posts:
            return forbidden("You attempted to reply to a Tweet that is deleted or not visible to you.")
        uploads = [self.uploads.get(m) for m in media_ids]
        if any(
            u is None or u.owner != user.id or not u.finalized or u.state not in (None, "succeeded")
            for u in uploads
        ):
            return invalid("Your media IDs are invalid.")
        if len(uploads) > 1 and any(u and u.category != "tweet_image" for u in uploads):
            return invalid("You can attach up to 4 images, or one video or GIF.")
        now = time.time()
        if text.strip() and any(
            p["author"] == user.id and p["text"] == text and now - p["at"] < 86400
            for p in self.posts.values()
        ):
            return forbidden(DUPLICATE["detail"])
        post = self.add_post(user.id, text, reply_to=parent, media_ids=media_ids, at=now)
        self.created.append(post)
        return Response(
            201,
            {"data": {"id": post["id"], "text": self.rendered(post), "edit_history_post_ids": [post["id"]]}},
            {"location": f"{self.url}/2/tweets/{post['id']}"},
        )

    def add_post(
        self,
        author: str,
        text: str,
        *,
        reply_to: str | None = None,
        media_ids: list[str] | None = None,
        at: float | None = None,
    ) -> dict[str, Any]:
        """A post as X stores it (tests add older posts this way too)."""
        with self.lock:
            post_id = str(next(self._post_ids))
            conversation = self.posts[reply_to]["conversation_id"] if reply_to in self.posts else post_id
            post = {
                "id": post_id,
                "author": author,
                "text": text,
                "reply_to": reply_to,
                "media_ids": list(media_ids or []),
                "at": time.time() if at is None else at,
                "conversation_id": conversation,
            }
            self.posts[post_id] = post
            return post

    @staticmethod
    def rendered(post: dict[str, Any]) -> str:
        """A post's text as X returns it: links shortened to t.co, media linked, entities escaped."""

        def tco(value: str) -> str:
            return "https://t.co/" + base64.b32encode(value.encode()).decode()[:10].lower()

        text = _URL.sub(lambda m: tco(m.group()), post["text"])
        if post["media_ids"]:
            text = f"{text} {tco(post['id'])}".strip()
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    # -- users and timelines --------------------------------------------------------------------

    def _getUsersMe(
        self, user: XUser, path: dict[str, str], request: Request, body: Any, files: Any
    ) -> Response:
        return Response(
            200, {"data": {"id": user.id, "name": user.username.title(), "username": user.username}}
        )

    def _getUsersPosts(
        self, user: XUser, path: dict[str, str], request: Request, body: Any, files: Any
    ) -> Response:
        query = {k: v[0] for k, v in request.query.items()}
        if not any(u.id == path["id"] for u in self.users):
            return Response(
                404,
                {
                    "title": "Not Found Error",
                    "detail": f"Could not find user with id: [{path['id']}].",
                    "type": PROBLEMS + "resource-not-found",
                    "resource_type": "user",
                    "status": 404,
                },
            )
        start = _epoch(query.get("start_time"), 0.0)
        end = _epoch(query.get("end_time"), float("inf"))
        posts = sorted(
            (p for p in self.posts.values() if p["author"] == path["id"] and start <= p["at"] <= end),
            key=lambda p: int(p["id"]),
            reverse=True,
        )
        if "replies" in query.get("exclude", "").split(","):
            posts = [p for p in posts if not p["reply_to"]]
        size = int(query.get("max_results", "10"))
        offset = (
            int(base64.b32hexdecode(_padded(query["pagination_token"]))) if "pagination_token" in query else 0
        )
        page = posts[offset : offset + size]
        fields = set(query.get("post.fields", "").split(","))
        expansions = set(query.get("expansions", "").split(","))
        data = []
        for post in page:
            item: dict[str, Any] = {
                "id": post["id"],
                "text": self.rendered(post),
                "edit_history_post_ids": [post["id"]],
            }
            if "created_at" in fields:
                item["created_at"] = datetime.fromtimestamp(post["at"], UTC).strftime(
                    "%Y-%m-%dT%H:%M:%S.000Z"
                )
            if "conversation_id" in fields:
                item["conversation_id"] = post["conversation_id"]
            if "referenced_posts" in expansions and post["reply_to"]:
                item["referenced_posts"] = [{"type": "replied_to", "id": post["reply_to"]}]
            data.append(item)
        meta: dict[str, Any] = {"result_count": len(data)}
        if data:
            meta |= {"newest_id": data[0]["id"], "oldest_id": data[-1]["id"]}
        if offset + size < len(posts):
            meta["next_token"] = base64.b32hexencode(str(offset + size).encode()).decode().rstrip("=")
        return Response(200, {"data": data, "meta": meta} if data else {"meta": meta})

    # -- what tests assert on -------------------------------------------------------------------

    def created_texts(self) -> Counter[str]:
        with self.lock:
            return Counter(p["text"] for p in self.created)


def _epoch(value: str | None, default: float) -> float:
    if not value:
        return default
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _padded(token: str) -> bytes:
    return (token + "=" * (-len(token) % 8)).encode()
