"""A Reddit contract server: the token endpoint of script apps and the OAuth calls postmast uses.

The sign-in of a web app (`GET /api/v1/authorize`, a person's browser, so no User-Agent rule;
the code and refresh-token grants at `/api/v1/access_token`, Basic client auth, a refresh token
only with `duration=permanent`, not rotated) is `tests/servers/oauth2.py`, for `CLIENT_ID` once
a test registers its redirect URI with `allow_redirect` [oauth2 wiki]; a refused grant answers
200 with `error`, as Reddit does for the password grant.

Built from the official documentation and the recorded answers of the real API:
- https://github.com/reddit-archive/reddit/wiki/OAuth2 (`POST /api/v1/access_token`, HTTP Basic
  `client_id:client_secret`, `grant_type=password&username&password` for script apps; bearer
  tokens that expire after `expires_in`; 401 on an expired or unknown token);
- https://github.com/reddit-archive/reddit/wiki/API (a unique User-Agent
  `<platform>:<app ID>:<version> (by /u/<user>)`; `x-ratelimit-used`, `x-ratelimit-remaining`,
  `x-ratelimit-reset` on every OAuth answer, 429 when the window is spent);
- https://www.reddit.com/dev/api/#POST_api_submit (`api_type=json`, `kind`, `sr`, `title`,
  `text`, `url`, `resubmit`, `nsfw`, `spoiler`, `flair_id`, `flair_text`, `sendreplies`),
  #GET_user_{username}_{where} (listings of `t3` things, newest first) and #GET_api_v1_me;
- tests/conformance/praw-cassettes: the shapes of the token answer, of `json.data`
  (`url`, `id`, `name`, sometimes `drafts_count`) and of the 400 `SUBMIT_VALIDATION_ERROR`
  answer; `tests/connectors/reddit/test_contract.py` replays them against this server;
- the legacy error triples `[CODE, message, field]` (`SUBREDDIT_NOEXIST`, `NO_SELFS`, `NO_LINKS`,
  `ALREADY_SUB`, `TOO_LONG`, `NO_TEXT`, `BAD_URL`, `RATELIMIT` "... try again in N minutes.")
  as NETWORKS.md §11 quotes them.

Stateful: one account with its script app; subreddits that take self posts, links or both,
with flair templates and words they refuse in titles; posts with `created_utc` from the
server's `clock` (a test's fake clock); tokens that expire on that clock. Faults beyond the
base server's: `change_password` (the grant is refused: `invalid_grant` with 200, as Reddit
answers), `revoke_tokens`, `ratelimit_next(N minutes)` (a RATELIMIT triple), and the
request window (`window_size`). Unknown form fields are refused, stricter than Reddit.
"""

from __future__ import annotations

import base64
import itertools
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import regex

from tests.servers.base import ContractServer, Request, Response
from tests.servers.oauth2 import Client, OAuth2Provider

USERNAME = "harbour_news"
PASSWORD = "correct horse battery staple"
CLIENT_ID = "p0stm4stCl1ent"
CLIENT_SECRET = "s3cretOfTheScriptApp-0123456789"
USER_AGENT = f"linux:postmast-tests:1.0 (by /u/{USERNAME})"
SUBREDDIT = "harbour"
SELF_ONLY, LINKS_ONLY = "harbour_talk", "harbour_links"
FLAIR_ID = "17bf09c4-520c-11e7-8073-0ef8adb5ef68"
SUBMIT_FIELDS = {
    "api_type", "kind", "sr", "title", "text", "url", "resubmit", "nsfw", "spoiler", "flair_id",
    "flair_text", "sendreplies", "validate_on_submit",
}  # fmt: skip
_AGENT = regex.compile(r"[^\s:]+:[^\s:]+:[^\s:]+ \(by /u/[A-Za-z0-9_-]{3,20}\).*")


@dataclass
class Subreddit:
    name: str
    kinds: tuple[str, ...] = ("self", "link")
    flairs: tuple[str, ...] = (FLAIR_ID,)
    refused_words: tuple[str, ...] = ()
    posts: list[dict[str, Any]] = field(default_factory=list)


def legacy(code: str, message: str, where: str | None = None) -> Response:
    return Response(200, {"json": {"errors": [[code, message, where]]}})


class RedditServer(ContractServer):
    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        token_lifetime: int = 3600,
        window_size: int = 600,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.token_lifetime = token_lifetime
        self.window_size = window_size
        self.used = 0
        self.password = PASSWORD
        self.subreddits = {
            SUBREDDIT.lower(): Subreddit(
                SUBREDDIT, refused_words=("dfgfdgfdgdf", "gdfgfdgdgdgfgfdgdfgfdgfdg")
            ),
            SELF_ONLY: Subreddit(SELF_ONLY, kinds=("self",)),
            LINKS_ONLY: Subreddit(LINKS_ONLY, kinds=("link",)),
        }
        self.tokens: dict[str, datetime] = {}
        self.created: list[dict[str, Any]] = []
        """Every post, in order, as the listing shows it (and what `python -m tests.servers` prints)."""
        self._ratelimit_minutes: int | None = None
        self._ids = itertools.count(int("4bbe4b", 36))
        self.oauth = OAuth2Provider(
            user=USERNAME, expires_in=token_lifetime, rotate=False, offline=("duration", "permanent")
        )
        self.oauth.register(Client(CLIENT_ID, [], secret=CLIENT_SECRET))

    def allow_redirect(self, uri: str) -> None:
        """Register a redirect URI on the (web) app, as at reddit.com/prefs/apps."""
        self.oauth.clients[CLIENT_ID].redirect_uris.append(uri)

    # -- the world --------------------------------------------------------------------------------

    def change_password(self) -> None:
        with self.lock:
            self.password = "a new password"
            self.tokens.clear()

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def ratelimit_next(self, minutes: int) -> None:
        """The next submission is refused with Reddit's RATELIMIT triple."""
        with self.lock:
            self._ratelimit_minutes = minutes

    def posts(self) -> list[Request]:
        return [r for r in self.requests if r.path.rstrip("/") == "/api/submit"]

    def token_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path == "/api/v1/access_token"]

    # -- serving ----------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        with self.lock:
            if request.path == "/api/v1/authorize" and request.method == "GET":
                return self.oauth.authorize(request)  # a person's browser, not the API
            agent = request.header("User-Agent") or ""
            if not _AGENT.fullmatch(agent):
                # Reddit throttles generic agents hard ("Too Many Requests", HTML).
                return Response(
                    429, raw=b"<html>Too Many Requests</html>", headers={"Content-Type": "text/html"}
                )
            if request.path == "/api/v1/access_token":
                return self._token(request)
            user = self._bearer(request)
            if user is None:
                return Response(
                    401,
                    {"message": "Unauthorized", "error": 401},
                    {"www-authenticate": 'Bearer realm="reddit", error="invalid_token"'},
                )
            if self.used >= self.window_size:
                return self._limited(Response(429, {"message": "Too Many Requests", "error": 429}))
            self.used += 1
            path = request.path.rstrip("/")
            if path == "/api/submit" and request.method == "POST":
                return self._limited(self._submit(request))
            if path == "/api/v1/me" and request.method == "GET":
                return self._limited(Response(200, {"name": USERNAME, "id": "1a2b3c", "is_suspended": False}))
            if path == f"/user/{USERNAME}/submitted" and request.method == "GET":
                return self._limited(self._submitted(request))
            return self._limited(Response(404, {"message": "Not Found", "error": 404}))

    def _limited(self, response: Response) -> Response:
        left = max(0, self.window_size - self.used)
        response.headers |= {
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-remaining": f"{left:.1f}",
            "x-ratelimit-reset": "103",
        }
        return response

    def _token(self, request: Request) -> Response:
        header = request.header("Authorization") or ""
        try:
            pair = base64.b64decode(header.removeprefix("Basic "), validate=True).decode()
        except ValueError:
            pair = ""
        if not header.startswith("Basic ") or pair != f"{CLIENT_ID}:{CLIENT_SECRET}":
            return Response(401, {"message": "Unauthorized", "error": 401})
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") in ("authorization_code", "refresh_token"):
            answer = self.oauth.token(request)
            if answer.status != 200:  # Reddit answers a refused grant with 200 and `error`
                return Response(200, {"error": answer.body.get("error")})
            self.tokens[answer.body["access_token"]] = self.clock() + timedelta(seconds=self.token_lifetime)
            return answer
        if form.get("grant_type") != "password":
            return Response(200, {"error": "unsupported_grant_type"})
        if form.get("username") != USERNAME or form.get("password") != self.password:
            return Response(200, {"error": "invalid_grant"})
        token = secrets.token_urlsafe(24)
        self.tokens[token] = self.clock() + timedelta(seconds=self.token_lifetime)
        return Response(
            200,
            {"access_token": token, "token_type": "bearer", "expires_in": self.token_lifetime, "scope": "*"},
        )

    def _bearer(self, request: Request) -> str | None:
        header = request.header("Authorization") or ""
        if not header.lower().startswith("bearer "):
            return None
        expires = self.tokens.get(header[7:])
        return USERNAME if expires is not None and self.clock() < expires else None

    def _submit(self, request: Request) -> Response:
        if (request.header("Content-Type") or "").split(";")[0] != "application/x-www-form-urlencoded":
            return Response(400, {"message": "Bad Request", "error": 400})
        form = {k: v[-1] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        if set(form) - SUBMIT_FIELDS:
            return Response(
                400, {"message": "Bad Request", "error": 400, "fields": sorted(set(form) - SUBMIT_FIELDS)}
            )
        if form.get("api_type") != "json":
            return Response(200, raw=b'{"jquery": []}')  # the old jQuery answer, not what postmast reads
        if self._ratelimit_minutes is not None:
            minutes, self._ratelimit_minutes = self._ratelimit_minutes, None
            return legacy(
                "RATELIMIT",
                f"Looks like you've been doing that a lot. "
                f"Take a break for {minutes} minutes before trying again.",
                "ratelimit",
            )
        found = self.subreddits.get(form.get("sr", "").lower())
        if found is None:
            return legacy("SUBREDDIT_NOEXIST", "that subreddit doesn't exist", "sr")
        kind, title = form.get("kind"), form.get("title", "")
        if kind not in ("self", "link"):
            return legacy("INVALID_OPTION", "that option is not valid", "kind")
        if not title.strip():
            return legacy("NO_TEXT", "we need something here", "title")
        if len(title) > 300:
            return legacy("TOO_LONG", "this is too long (max: 300)", "title")
        if kind not in found.kinds:
            code = "NO_SELFS" if kind == "self" else "NO_LINKS"
            return legacy(
                code, f"that subreddit doesn't allow {'text' if kind == 'self' else 'link'} posts", "sr"
            )
        if len(form.get("text", "")) > 40_000:
            return legacy("TOO_LONG", "this is too long (max: 40000)", "text")
        url = form.get("url", "")
        if kind == "link" and not regex.fullmatch(r"https?://[^\s/]+\.[^\s]+", url):
            return legacy("BAD_URL", "you should check that url", "url")
        if form.get("flair_id") and form["flair_id"] not in found.flairs:
            return legacy("BAD_FLAIR_TEMPLATE_ID", "That flair template ID is invalid.", "flair_id")
        repeated = any(p["url"] == url for p in found.posts if not p["is_self"])
        if kind == "link" and form.get("resubmit", "").lower() != "true" and repeated:
            return legacy("ALREADY_SUB", "that link has already been submitted", "url")
        refused = next((w for w in found.refused_words if w in title), None)
        if refused and form.get("validate_on_submit", "").lower() == "true":
            return Response(
                400,
                {
                    "fields": ["title"],
                    "explanation": f'You may not have "{refused}" in your title. ',
                    "error_type": "SUBMIT_VALIDATION_ERROR",
                    "message": "Bad Request",
                    "reason": "SUBMIT_VALIDATION_TITLE_BLACKLISTED_STRING",
                },
            )
        post = self._store(found, form)
        return Response(
            200,
            {"json": {"errors": [], "data": {"url": post["comments_url"], "drafts_count": 0,
                                              "id": post["id"], "name": post["name"]}}},
        )  # fmt: skip

    def _store(self, subreddit: Subreddit, form: dict[str, str]) -> dict[str, Any]:
        ident = _base36(next(self._ids))
        slug = regex.sub(r"[^a-z0-9]+", "_", form["title"].lower()).strip("_")[:50] or "_"
        permalink = f"/r/{subreddit.name}/comments/{ident}/{slug}/"
        is_self = form["kind"] == "self"
        post = {
            "id": ident,
            "name": f"t3_{ident}",
            "title": form["title"],
            "subreddit": subreddit.name,
            "subreddit_name_prefixed": f"r/{subreddit.name}",
            "author": USERNAME,
            "is_self": is_self,
            "selftext": form.get("text", ""),
            "url": f"https://www.reddit.com{permalink}" if is_self else form["url"],
            "permalink": permalink,
            "comments_url": f"https://www.reddit.com{permalink}",
            "created_utc": float(int(self.clock().timestamp())),
            "over_18": form.get("nsfw", "").lower() == "true",
            "spoiler": form.get("spoiler", "").lower() == "true",
            "link_flair_text": form.get("flair_text") or None,
            "link_flair_template_id": form.get("flair_id") or None,
            "send_replies": form.get("sendreplies", "true").lower() == "true",
        }
        subreddit.posts.append(post)
        self.created.append({**post, "text": post["selftext"] or post["title"]})
        return post

    def _submitted(self, request: Request) -> Response:
        limit = min(int((request.query.get("limit") or ["25"])[-1]), 100)
        mine = sorted((p for p in self.created), key=lambda p: p["created_utc"], reverse=True)
        children = [
            {"kind": "t3", "data": {k: v for k, v in p.items() if k not in ("comments_url", "text")}}
            for p in mine[:limit]
        ]
        after = children[-1]["data"]["name"] if len(mine) > limit else None
        return Response(
            200,
            {
                "kind": "Listing",
                "data": {"after": after, "dist": len(children), "children": children, "before": None},
            },
        )


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out or "0"
