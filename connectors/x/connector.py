"""X (Twitter): `POST {api_base}/2/tweets` with OAuth 1.0a user context or an OAuth 2.0 user token.

Request (spec `createPosts`, `CreatePostsRequest`, additionalProperties false):
`{"text", "reply": {"in_reply_to_tweet_id"}, "media": {"media_ids": [...]}}`; answer 201
`{"data": {"id", "text"}}` (recorded: tweepy cassette test_client_create_and_delete_tweet).
Public URL `https://x.com/{username}/status/{id}`, or `https://x.com/i/web/status/{id}`
when the username is unknown. A thread is a chain of replies: item N answers item N-1.
Media go up first (`connectors/x/media.py`); OAuth 1.0a signing is `connectors/oauth1.py`.

Length: twitter-text 3.1.0's weighted length with config v3 (URLs 23, emoji and CJK 2, NFC;
`connectors/x/weighting.py`, proven against the JavaScript library by `tests/differential`),
against the account's `max_length` (280; 25000 for accounts that may write long posts). X has no
idempotency key: after an unknown outcome `lookup` searches the account's timeline
(`connectors/x/lookup.py`).

| response | error class | source |
|---|---|---|
| 201 `{"data": {"id", "text"}}` | success; URL built from the id | [spec] [rec] |
| 200/201 without a valid `data.id` | OutcomeUnknown | [spec] (ids `^[0-9]{1,19}$`) |
| 400 invalid-request, e.g. "Your Tweet text is too long" | PermanentError | [spec] [nw] |
| 401 Unauthorized (v1 codes 32, 89) | AuthExpired | [nw] [rfc] |
| 403 "...duplicate content" (v1 code 187) | DuplicateContent (reconciled, not retried) | [dup] |
| 403 unsupported-authentication (app-only token) | AuthExpired (wrong kind of token) | [auth] [spec] |
| 403 client-forbidden, "app permissions", v1 220/261/453 | AuthExpired (fix the app, re-auth) | [spec] |
| other 403 (reply not allowed, deleted parent, video too long) | PermanentError | [media] |
| 404, 409, other 4xx | PermanentError | [spec] |
| 429, usage-capped, v1 88/185 | RateLimited until the latest reset of the spent windows | [rate] [rec] |
| 408, 500, 503, other 5xx | TransientError | [nw] |
| 502, 504, read timeout, dropped connection | OutcomeUnknown | RELIABILITY.md |
| any failure during a media step | as above, but OutcomeUnknown becomes TransientError | no post yet |

Rate-limit windows: `x-rate-limit-*` (15 minutes), `x-user-limit-24hour-*`, `x-app-limit-24hour-*`;
every `*-reset` is epoch seconds. Without a spent window the endpoint window's reset is used.

Sources: [spec] conformance/x-openapi/openapi.json 2.167 (Problem schemas; 2.159 for
ClientForbiddenProblem); [rec] tweepy cassette test_client_create_and_delete_tweet.yaml;
[nw] NETWORKS.md §1.3 and §12.2; [rfc] RFC 5849 §3.2; [dup] akrherz/iembot#163,
sferik/x-ruby#24 (observed 403 body); [auth] plhery/node-twitter-api-v2#475, tweepy#2200;
[media] docs.x.com media best practices ("not allowed to post a video longer than N minutes");
[rate] docs.x.com rate limits, plhery/node-twitter-api-v2#553 (24-hour headers).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, ClassVar

from postmast.connectors.base import Connector, check_http_url
from postmast.connectors.content import (
    FIRST_COMMENT,
    Content,
    Field,
    Found,
    Lookup,
    MediaFile,
    Option,
    Problem,
    PublishResult,
    RemoteRef,
    SecretSet,
)
from postmast.connectors.errors import OutcomeUnknown
from postmast.connectors.oauth1 import new_nonce
from postmast.connectors.oauth2 import OAuth2Endpoints
from postmast.connectors.x.api import OAUTH1_SECRETS, OAUTH2_SECRETS, XApi, auth_for, is_post_id
from postmast.connectors.x.lookup import Match, Timeline, search
from postmast.connectors.x.media import CHUNK_SIZE, MediaUpload
from postmast.connectors.x.weighting import V3, Config, ParsedTweet, has_invalid_characters, parse

DEFAULT_API = "https://api.x.com"
AUTHORIZE_URL = "https://x.com/i/oauth2/authorize"
WEIGHTING: Config = V3
"""twitter-text config v3 (conformance/twitter-text/config/v3.json): the rule X counts by."""
_USERNAME = re.compile(r"^[A-Za-z0-9_]{1,15}$")
_STATUS_URL = re.compile(r"^https?://(?:[\w-]+\.)?(?:x|twitter)\.com/(?:[^/]+|i/web)/status/(\d{1,19})")
MB = 1_000_000


def parse_text(text: str, config: Config = WEIGHTING) -> ParsedTweet:
    """twitter-text's parse of `text`: weighted length, validity, permillage, valid and display ranges."""
    return parse(text, config)


def weighted_length(text: str, config: Config = WEIGHTING) -> int:
    """The twitter-text weighted length of `text` (URL = 23, emoji and CJK = 2)."""
    return parse(text, config).weighted_length


def post_id(reference: str) -> str:
    """A post id from an id or a post's URL (`https://x.com/user/status/123` -> `123`)."""
    found = _STATUS_URL.match(reference.strip())
    return found.group(1) if found else reference.strip()


class X(Connector):
    name: ClassVar[str] = "x"
    title: ClassVar[str] = "X"
    max_length: ClassVar[int] = 280
    settings_fields: ClassVar[tuple[Field, ...]] = (
        Field(
            "username", "the account's @handle, for links to posts (default: asked from X)", required=False
        ),
        Field("max_length", "weighted length limit: 280, or 25000 for long-post accounts", required=False),
        Field("api_base", f"API base URL (default {DEFAULT_API})", required=False),
        Field("client_id", "OAuth 2.0: the app's client id (to sign in and renew tokens)", required=False),
    )
    secret_fields: ClassVar[tuple[Field, ...]] = (
        Field("consumer_key", "OAuth 1.0a: the app's API key", required=False, secret=True),
        Field("consumer_secret", "OAuth 1.0a: the app's API key secret", required=False, secret=True),
        Field("access_token", "OAuth 1.0a: the account's access token", required=False, secret=True),
        Field("access_token_secret", "OAuth 1.0a: the access token secret", required=False, secret=True),
        Field("bearer_token", "or instead: an OAuth 2.0 user access token", required=False, secret=True),
        Field("refresh_token", "OAuth 2.0: the refresh token (offline.access), to renew it", False, True),
        Field("client_secret", "OAuth 2.0: the client secret of a confidential app", False, True),
    )
    secret_sets: ClassVar[tuple[SecretSet, ...]] = (
        SecretSet("oauth1", "OAuth 1.0a: the app's two keys and the account's two tokens", OAUTH1_SECRETS),
        SecretSet(
            "oauth2", "OAuth 2.0: a user access token", OAUTH2_SECRETS, ("refresh_token", "client_secret")
        ),
    )
    refresh_margin: ClassVar[timedelta] = timedelta(minutes=30)
    """X's OAuth 2.0 user tokens last two hours: renewed in their last half hour."""
    setup: ClassVar[str] = (
        "In the X developer portal, give your app Read and Write permissions, then under Keys and tokens "
        "copy the API key and secret and generate an access token and secret for the account (OAuth 1.0a). "
        "Then: postmast account add x NAME --set username=HANDLE and paste the four values at the prompt "
        "(or only bearer_token: an OAuth 2.0 user token with tweet.read tweet.write users.read media.write)."
    )
    max_media: ClassVar[int] = 4
    media_limits: ClassVar[Mapping[str, int]] = {
        "image/jpeg": 5 * MB,
        "image/png": 5 * MB,
        "image/webp": 5 * MB,
        "image/gif": 15 * MB,
        "video/mp4": 512 * MB,
        "video/quicktime": 512 * MB,
    }
    """docs.x.com/x-api/media (introduction): image 5 MB, GIF 15 MB, video 512 MB."""
    max_alt_text: ClassVar[int | None] = 1000
    """spec `CreateMediaMetadataMetadataAltText.text` maxLength 1000."""
    threads: ClassVar[bool] = True
    options: ClassVar[tuple[Option, ...]] = (FIRST_COMMENT,)
    refuses_repeats: ClassVar[bool] = True
    """403 "You are not allowed to create a Tweet with duplicate content" (see the error table above)."""

    chunk_size: int = CHUNK_SIZE
    nonce: Callable[[], str] = staticmethod(new_nonce)
    """OAuth 1.0a nonce source; tests pin it (the timestamp comes from `clock`)."""

    # -- account ----------------------------------------------------------------------------------

    @classmethod
    def check_settings(cls, settings: Mapping[str, str]) -> list[Problem]:
        problems = super().check_settings(settings)
        if settings.get("api_base"):
            problems += check_http_url(settings["api_base"], "api_base")
        username = settings.get("username", "").removeprefix("@")
        if username and not _USERNAME.match(username):
            problems.append(Problem("username must be an X handle: 1 to 15 letters, digits or _"))
        return problems

    @classmethod
    def check_secrets(cls, secrets: Mapping[str, str]) -> list[Problem]:
        problems = super().check_secrets(secrets)
        given = {name for name, value in secrets.items() if value}
        oauth1 = given & set(OAUTH1_SECRETS)
        if oauth1 and given & set(OAUTH2_SECRETS):
            return [*problems, Problem("give either the four OAuth 1.0a secrets or bearer_token, not both")]
        if oauth1 and oauth1 != set(OAUTH1_SECRETS):
            missing = ", ".join(n for n in OAUTH1_SECRETS if n not in oauth1)
            return [*problems, Problem(f"OAuth 1.0a needs all four secrets; missing: {missing}")]
        if not oauth1 and not given & set(OAUTH2_SECRETS):
            return [
                *problems,
                Problem(
                    "no credentials: give consumer_key, consumer_secret, access_token and "
                    "access_token_secret (OAuth 1.0a), or bearer_token (OAuth 2.0 user token)"
                ),
            ]
        return problems

    def oauth2(self) -> OAuth2Endpoints | None:
        """X's OAuth 2.0 authorization code flow with PKCE (docs.x.com, "OAuth 2.0 Authorization Code
        Flow with PKCE"); the user token goes in `bearer_token`. Needs the app's `client_id`."""
        client_id = self.settings.get("client_id")
        if not client_id:
            return None
        base = self.settings.get("api_base")
        return OAuth2Endpoints(
            authorize_url=f"{base.rstrip('/')}/i/oauth2/authorize" if base else AUTHORIZE_URL,
            token_url=f"{self.api_base}/2/oauth2/token",
            scopes=("tweet.read", "tweet.write", "users.read", "media.write", "offline.access"),
            client_id=client_id,
            token_field="bearer_token",  # noqa: S106 (secrets' names, not secrets)
            client_secret_field="client_secret",  # noqa: S106
        )

    @property
    def api_base(self) -> str:
        return (self.settings.get("api_base") or DEFAULT_API).rstrip("/")

    @property
    def username(self) -> str | None:
        name = self.settings.get("username") or self.cache.get("username")
        return str(name).removeprefix("@") if name else None

    def post_url(self, remote_id: str, username: str | None = None) -> str:
        name = username or self.username
        return (
            f"https://x.com/{name}/status/{remote_id}" if name else f"https://x.com/i/web/status/{remote_id}"
        )

    def api(self, credentials: Mapping[str, str]) -> XApi:
        auth = auth_for(credentials, nonce=self.nonce, clock=self.clock)
        return XApi(self.http, self.api_base, auth, clock=self.clock)

    def media(self, api: XApi) -> MediaUpload:
        return MediaUpload(api, self.http.pause, chunk_size=self.chunk_size)

    def discover(self, credentials: Mapping[str, str]) -> dict[str, Any]:
        """The account's id and @handle (`GET /2/users/me`); refused credentials raise `AuthExpired`."""
        me = Timeline(self.api(credentials)).me()
        found = {"user_id": me.get("id"), "username": me.get("username")}
        return {k: str(v) for k, v in found.items() if v}

    # -- text and media rules ---------------------------------------------------------------------

    def count(self, text: str) -> int:
        return weighted_length(text)

    def validate(self, content: Content) -> list[Problem]:
        problems = super().validate(content)
        if has_invalid_characters(unicodedata.normalize("NFC", content.text)):
            problems.append(Problem("text contains characters X refuses (U+FFFE, U+FEFF or U+FFFF)"))
        if content.reply_to and not is_post_id(post_id(content.reply_to.id)):
            problems.append(Problem(f"{content.reply_to.id!r} is not an X post id or post link", "reply"))
        return problems

    def validate_media(self, media: Sequence[MediaFile]) -> list[Problem]:
        problems = super().validate_media(media)
        moving = [m for m in media if m.kind != "image"]
        if moving and len(media) > 1:
            problems.append(Problem("X takes up to 4 images, or a single video or GIF, per post", "media"))
        problems += [
            Problem(f"alt text of {m.filename} is {len(m.alt)} characters, over X's limit of 1000", "media")
            for m in media
            if len(m.alt) > 1000 and not any(f"alt text of {m.filename}" in p.message for p in problems)
        ]
        return problems

    # -- the network ------------------------------------------------------------------------------

    def payload(self, content: Content, media_ids: Sequence[str] | None = None) -> dict[str, Any]:
        """The `POST /2/tweets` body; without `media_ids`, placeholders name the files for `--dry-run`."""
        body: dict[str, Any] = {"text": content.text}
        if content.reply_to:
            body["reply"] = {"in_reply_to_tweet_id": post_id(content.reply_to.id)}
        if content.media:
            ids = list(media_ids) if media_ids is not None else [f"<{m.filename}>" for m in content.media]
            body["media"] = {"media_ids": ids}
        return body

    def publish(
        self, content: Content, credentials: Mapping[str, str], idempotency_key: str
    ) -> PublishResult:
        api = self.api(credentials)
        media_ids = self.media(api).upload_all(content.media)
        answer = api.call("POST", "/2/tweets", json=self.payload(content, media_ids))
        remote_id = answer.body().get("id")
        if not is_post_id(remote_id):
            raise OutcomeUnknown(
                f"X answered {answer.status} to POST /2/tweets without a post id", http_status=answer.status
            )
        assert isinstance(remote_id, str)
        return PublishResult(remote_id, self.post_url(remote_id), answer.status)

    def lookup(
        self,
        content: Content,
        credentials: Mapping[str, str],
        idempotency_key: str,
        *,
        sent_at: datetime,
        replay_allowed: bool,
    ) -> Lookup:
        """Search the account's timeline since the attempt (see `connectors/x/lookup.py`); never posts."""
        timeline = Timeline(self.api(credentials))
        me = timeline.me()
        parent = content.reply_to
        wanted = replace(content, reply_to=RemoteRef(post_id(parent.id))) if parent else content
        found = search(timeline, str(me.get("id", "")), wanted, sent_at)
        if isinstance(found, Match):
            remote_id = str(found.post["id"])
            username = str(me["username"]) if me.get("username") else None
            return Found(PublishResult(remote_id, self.post_url(remote_id, self.username or username), 200))
        return found
