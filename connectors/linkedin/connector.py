"""LinkedIn: posts as a member or an organization through the versioned Posts API.

- a post: `POST /rest/posts` JSON `{"author", "commentary", "visibility", "distribution":
  {"feedDistribution": "MAIN_FEED", ...}, "lifecycleState": "PUBLISHED", "content"?}`
  -> 201, empty body, the post's URN in `x-restli-id` [posts];
- the public URL: `https://www.linkedin.com/feed/update/{urn}/` [posts];
- images: `POST /rest/images?action=initializeUpload` `{"initializeUploadRequest": {"owner"}}`
  -> `{"value": {"uploadUrl", "image"}}`, then `PUT` the bytes to `uploadUrl` [images];
  one image is `content.media` `{"id", "altText"}`, 2-20 are `content.multiImage` [multiimage];
- comments (the `first_comment` option, which becomes the last item, and further items):
  `POST /rest/socialActions/{post urn}/comments` `{"actor", "object", "message": {"text"}}`
  [comments]; a comment is plain text (not little text: NETWORKS.md §4, postiz#1847).

`commentary` is LinkedIn's little text format (`connectors/linkedin/little.py`): every
reserved character is escaped, hashtags become hashtag templates, so LinkedIn never cuts
the post at an unescaped `(`. The 3,000-character limit is counted on that escaped form
(what LinkedIn receives), so a post is never cut for its escapes either. Errors:
`connectors/linkedin/api.py`. Options: `visibility` (public, connections: sent as PUBLIC,
CONNECTIONS), `author` (a person or organization URN instead of the account's), `first_comment`.

Duplicates: LinkedIn refuses a post identical to a recent one (422 DUPLICATE_POST) and
names the post it duplicates. The URN is kept (`state`); the lookup reads that post
(`GET /rest/posts/{urn}`): created since the attempt -> Found (it is ours, from an attempt
whose answer was lost); older -> the next attempt fails with LinkedIn's reason, unsent.
Reconciliation otherwise (`lookup`): the author's recent posts, `GET /rest/posts?q=author&
author={urn}&sortBy=LAST_MODIFIED&count=20` (needs `r_member_social` or
`r_organization_social`; without it: Undecidable), matched by `commentary` and `createdAt`
since the attempt; a comment: `GET /rest/socialActions/{urn}/comments`.

Account: `postmast account add linkedin NAME --set author=urn:li:person:ID` with the
`access_token` secret. OAuth (for `postmast account connect`): 3-legged,
`https://www.linkedin.com/oauth/v2/authorization` then `POST https://www.linkedin.com/oauth/v2/accessToken`;
scopes `w_member_social` (member posts and comments), `w_organization_social` (Page posts,
for ADMINISTRATOR, DIRECT_SPONSORED_CONTENT_POSTER or CONTENT_ADMIN roles),
`r_organization_social` / `r_member_social` (reading posts back, the latter restricted),
`openid profile` (the member's id from `/v2/userinfo` `sub`: `urn:li:person:{sub}`). Access
tokens last 60 days; refresh tokens (365 days) only for approved partners [oauth].

Sources: learn.microsoft.com/linkedin: [posts] marketing/community-management/shares/posts-api;
[images] .../shares/images-api; [multiimage] .../shares/multiimage-post-api; [comments]
.../shares/comments-api; [little] .../shares/little-text-format; [oauth]
shared/authentication/authorization-code-flow and programmatic-refresh-tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

import regex

from postmast.connectors.base import Connector, check_http_url
from postmast.connectors.comments import first_comment_option, is_comment, linked
from postmast.connectors.content import (
    Absent,
    Content,
    Field,
    Found,
    Lookup,
    MediaFile,
    Option,
    Problem,
    PublishResult,
    Undecidable,
)
from postmast.connectors.errors import AuthExpired, PermanentError, TransientError
from postmast.connectors.linkedin.api import Duplicate, LinkedInApi
from postmast.connectors.linkedin.little import commentary
from postmast.connectors.oauth2 import OAuth2Endpoints

DEFAULT_API = "https://api.linkedin.com"
AUTH_BASE = "https://www.linkedin.com"
DEFAULT_VERSION = "202610"
MB = 1_000_000
AUTHOR = regex.compile(r"urn:li:(?:person|organization):[A-Za-z0-9_-]{1,64}")
VERSION = regex.compile(r"20[0-9]{2}(?:0[1-9]|1[0-2])(?:\.[0-9]{2})?")
VISIBILITIES = ("public", "connections")
"""Lower case, as Mastodon's `visibility` is, so one `--option visibility=public` serves both."""
DUPLICATES = "duplicates"
"""`state[DUPLICATES][key]`: the URN LinkedIn said an item duplicates (or "" once refused)."""
SKEW = timedelta(minutes=5)


def post_url(urn: str) -> str:
    return f"https://www.linkedin.com/feed/update/{urn}/"


class LinkedIn(Connector):
    name: ClassVar[str] = "linkedin"
    title: ClassVar[str] = "LinkedIn"
    max_length: ClassVar[int] = 3000
    max_media: ClassVar[int] = 20
    media_limits: ClassVar[Mapping[str, int]] = {
        "image/jpeg": 36 * MB,
        "image/png": 36 * MB,
        "image/gif": 36 * MB,
    }
    """[images]: JPG, PNG, GIF (up to 250 frames); below 36,152,320 pixels (size bound here generously)."""
    max_alt_text: ClassVar[int | None] = 4086
    threads: ClassVar[bool] = True
    token_lifetime: ClassVar[timedelta | None] = timedelta(days=60)
    """LinkedIn's member access tokens last 60 days and cannot be renewed without the member
    (refresh tokens are for approved partners only): warned about 7 days ahead."""
    settings_fields: ClassVar[tuple[Field, ...]] = (
        Field(
            "author", "who posts: urn:li:person:ID (you) or urn:li:organization:ID (a Page you administer)"
        ),
        Field("version", f"LinkedIn-Version, YYYYMM (default {DEFAULT_VERSION})", required=False),
        Field("api_base", f"API base URL (default {DEFAULT_API})", required=False),
        Field("client_id", "your app's client id, to sign in with postmast account connect", False),
    )
    secret_fields: ClassVar[tuple[Field, ...]] = (
        Field(
            "access_token", "an OAuth access token with w_member_social or w_organization_social", secret=True
        ),
        Field(
            "client_secret",
            "your app's client secret (asked by postmast account connect)",
            False,
            True,
            False,
        ),
    )
    options: ClassVar[tuple[Option, ...]] = (
        Option("visibility", "who sees the post (default public)", kind="choice", choices=VISIBILITIES),
        Option("author", "post as this person or organization URN instead of the account's author"),
        first_comment_option(1250, "the author"),
    )
    setup: ClassVar[str] = (
        "Create an app at linkedin.com/developers, add the products Share on LinkedIn and Sign In with "
        "LinkedIn (OpenID Connect), or Community Management for Pages; get an access token with "
        "w_member_social (or w_organization_social) and your member id from /v2/userinfo. "
        "Then: postmast account add linkedin "
        "NAME --set author=urn:li:person:ID and paste access_token at the prompt."
    )

    @classmethod
    def check_settings(cls, settings: Mapping[str, str]) -> list[Problem]:
        problems = super().check_settings(settings)
        author = settings.get("author")
        if author and not AUTHOR.fullmatch(author):
            problems.append(Problem("author must be urn:li:person:ID or urn:li:organization:ID"))
        version = settings.get("version")
        if version and not VERSION.fullmatch(version):
            problems.append(Problem("version must be a LinkedIn-Version such as 202610 (YYYYMM)"))
        if settings.get("api_base"):
            problems += check_http_url(settings["api_base"], "api_base")
        return problems

    @classmethod
    def check_options(cls, values: Mapping[str, Any]) -> list[Problem]:
        problems = super().check_options(values)
        author = values.get("author")
        if isinstance(author, str) and author and not AUTHOR.fullmatch(author):
            problems.append(Problem("author must be urn:li:person:ID or urn:li:organization:ID", "option"))
        return problems

    def api(self, credentials: Mapping[str, str]) -> LinkedInApi:
        return LinkedInApi(
            self.http,
            self.settings.get("api_base") or DEFAULT_API,
            self.settings.get("version") or DEFAULT_VERSION,
            credentials["access_token"],
            self.clock(),
        )

    def oauth2(self) -> OAuth2Endpoints | None:
        """LinkedIn's 3-legged OAuth 2.0 (learn.microsoft.com, "Authorization Code Flow"): a
        confidential client, its secret in the token request's body; 60-day tokens, no refresh
        token for most apps. Needs the app's `client_id`."""
        client_id = self.settings.get("client_id")
        if not client_id:
            return None
        base = self.settings.get("api_base")
        root = base.rstrip("/") if base else AUTH_BASE
        return OAuth2Endpoints(
            authorize_url=f"{root}/oauth/v2/authorization",
            token_url=f"{root}/oauth/v2/accessToken",
            scopes=("openid", "profile", "w_member_social"),
            client_id=client_id,
            refresh_field=None,
            client_secret_field="client_secret",  # noqa: S106 (a secret's name, not a secret)
            secret_in_body=True,
        )

    def whoami(self, credentials: Mapping[str, str]) -> dict[str, Any] | None:
        """The member the token belongs to (`GET /v2/userinfo`, OpenID Connect); 401 refuses it."""
        api = self.api(credentials)
        data = api.json(api.call("GET", "/v2/userinfo"))
        found = {"sub": data.get("sub"), "name": data.get("name")}
        return {k: str(v) for k, v in found.items() if v}

    def author(self, content: Content) -> str:
        chosen = content.options.get("author")
        return str(chosen) if chosen else self.settings["author"]

    # -- items and rules --------------------------------------------------------------------------

    def items(self, contents: Sequence[Content]) -> list[Content]:
        return linked(contents)

    def count(self, text: str) -> int:
        return len(commentary(text))

    def validate_thread(self, items: Sequence[Content]) -> list[Problem]:
        problems = super().validate_thread(items)
        for number, item in enumerate(items[1:], 2):
            if item.media:
                problems.append(Problem(f"item {number}: a comment on LinkedIn goes without media", "thread"))
            if len(item.text) > 1250:
                problems.append(
                    Problem(f"item {number}: a LinkedIn comment takes at most 1250 characters", "thread")
                )
        return problems

    # -- the network ------------------------------------------------------------------------------

    def payload(self, content: Content, images: Sequence[str] | None = None) -> dict[str, Any]:
        """The `POST /rest/posts` body (or the comment's); image URNs exist only once uploaded."""
        author = self.author(content)
        if is_comment(content):
            target = (content.root or content.reply_to).id if content.reply_to else "<the post's URN>"
            return {"actor": author, "object": target, "message": {"text": content.text}}
        body: dict[str, Any] = {
            "author": author,
            "commentary": commentary(content.text),
            "visibility": str(content.options.get("visibility") or "public").upper(),
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        ids = (
            list(images)
            if images is not None
            else [f"<urn of {m.filename} once uploaded>" for m in content.media]
        )
        described = [
            {"id": urn, "altText": m.alt} if m.alt else {"id": urn}
            for urn, m in zip(ids, content.media, strict=True)
        ]
        if len(described) == 1:
            body["content"] = {"media": described[0]}
        elif described:
            body["content"] = {"multiImage": {"images": described}}
        return body

    def publish(
        self, content: Content, credentials: Mapping[str, str], idempotency_key: str
    ) -> PublishResult:
        duplicates = self.state.get(DUPLICATES, {})
        if duplicates.get(idempotency_key) == "":
            raise PermanentError(
                "LinkedIn refused the post as a duplicate of an earlier post, and it is not this delivery's"
            )
        api = self.api(credentials)
        if is_comment(content):
            return self._comment(api, content)
        images = [self._upload(api, self.author(content), m) for m in content.media]
        try:
            response = api.call("POST", "/rest/posts", json=self.payload(content, images), posting=True)
        except Duplicate as exc:
            self.state[DUPLICATES] = {**duplicates, idempotency_key: exc.urn or ""}
            raise
        urn = api.created(response)
        return PublishResult(urn, post_url(urn), response.status_code)

    def _comment(self, api: LinkedInApi, content: Content) -> PublishResult:
        assert content.reply_to is not None
        parent = (content.root or content.reply_to).id
        body = {"actor": self.author(content), "object": parent, "message": {"text": content.text}}
        response = api.call(
            "POST", f"/rest/socialActions/{quote(parent, safe='')}/comments", json=body, posting=True
        )
        urn = api.created(response)
        return PublishResult(
            urn, f"{post_url(parent)}?commentUrn={quote(urn, safe='')}", response.status_code
        )

    def _upload(self, api: LinkedInApi, owner: str, image: MediaFile) -> str:
        answer = api.json(
            api.call(
                "POST",
                "/rest/images?action=initializeUpload",
                json={"initializeUploadRequest": {"owner": owner}},
            )
        )
        value = answer.get("value")
        value = value if isinstance(value, dict) else {}
        upload, urn = value.get("uploadUrl"), value.get("image")
        if not isinstance(upload, str) or not isinstance(urn, str):
            raise TransientError(f"LinkedIn did not give an upload URL for {image.filename}")
        api.call("PUT", upload, data=image.data, headers={"Content-Type": "application/octet-stream"})
        return urn

    # -- after an unknown outcome -----------------------------------------------------------------

    def lookup(
        self,
        content: Content,
        credentials: Mapping[str, str],
        idempotency_key: str,
        *,
        sent_at: datetime,
        replay_allowed: bool,
    ) -> Lookup:
        api = self.api(credentials)
        duplicate = self.state.get(DUPLICATES, {}).get(idempotency_key)
        if duplicate:
            return self._the_duplicate(api, duplicate, idempotency_key, sent_at)
        try:
            if is_comment(content):
                return self._find_comment(api, content, sent_at)
            return self._find_post(api, content, sent_at)
        except AuthExpired as exc:
            if exc.http_status == 403:
                return Undecidable(
                    "the token may not read posts back (r_member_social or r_organization_social)"
                )
            raise

    def _the_duplicate(self, api: LinkedInApi, urn: str, key: str, sent_at: datetime) -> Lookup:
        post = api.json(api.call("GET", f"/rest/posts/{quote(urn, safe='')}"))
        created = _millis(post.get("createdAt"))
        if created is not None and created >= sent_at - SKEW:
            self._forget(key)
            return Found(PublishResult(urn, post_url(urn), 200))
        self.state[DUPLICATES] = {**self.state.get(DUPLICATES, {}), key: ""}
        return Absent(f"LinkedIn's duplicate is an older post ({urn}), not this delivery's")

    def _forget(self, key: str) -> None:
        kept = {k: v for k, v in self.state.get(DUPLICATES, {}).items() if k != key}
        if kept:
            self.state[DUPLICATES] = kept
        else:
            self.state.pop(DUPLICATES, None)

    def _find_post(self, api: LinkedInApi, content: Content, sent_at: datetime) -> Lookup:
        author = self.author(content)
        response = api.call(
            "GET",
            f"/rest/posts?q=author&author={quote(author, safe='')}&sortBy=LAST_MODIFIED&count=20",
            headers={"X-RestLi-Method": "FINDER"},
        )
        elements = [e for e in api.json(response).get("elements") or [] if isinstance(e, dict)]
        wanted, since, older = commentary(content.text), sent_at - SKEW, False
        for element in elements:
            created = _millis(element.get("createdAt"))
            if created is not None and created < since:
                older = True
            elif element.get("commentary") == wanted and element.get("id"):
                return Found(PublishResult(str(element["id"]), post_url(str(element["id"])), 200))
        if older or len(elements) < 20:
            return Absent("not among the author's posts since the attempt")
        return Undecidable("the author's recent posts do not reach back to the attempt")

    def _find_comment(self, api: LinkedInApi, content: Content, sent_at: datetime) -> Lookup:
        assert content.reply_to is not None
        parent = (content.root or content.reply_to).id
        answer = api.json(api.call("GET", f"/rest/socialActions/{quote(parent, safe='')}/comments"))
        for element in answer.get("elements") or []:
            if not isinstance(element, dict):
                continue
            text = (element.get("message") or {}).get("text")
            if text == content.text and element.get("actor") == self.author(content):
                urn = str(element.get("$URN") or element.get("commentUrn") or element.get("id"))
                return Found(PublishResult(urn, f"{post_url(parent)}?commentUrn={quote(urn, safe='')}", 200))
        return Absent("not among the post's comments")


def _millis(value: Any) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    return None
