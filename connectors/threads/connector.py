"""Threads (Meta): posts and threads of posts through media containers.

Each item is a container (`POST /{threads-user-id}/threads`: `media_type` TEXT, IMAGE, VIDEO
or CAROUSEL, `text`, `image_url` / `video_url` on a public server, `alt_text`,
`reply_to_id`, `reply_control`), checked with `GET /{container}?fields=status,error_message`
until `FINISHED`, then published (`POST /{threads-user-id}/threads_publish` `creation_id`)
[posts] [trouble]; a carousel is 2-20 child containers (`is_carousel_item=true`)
and a parent with `children` [posts]. The container steps are `connectors/containers.py`;
media are hosted for Threads to fetch by `connectors/hosting.py` (the account's
`media_*` settings), and deleted once the post is out. The public URL is
`GET /{media-id}?fields=permalink` (a shortcode URL, not derived from the id) [posts].

A thread: item N replies to item N-1 (`reply_to_id`) [replies]; `--reply-to threads:NAME=ID`
answers someone else's post. Length: 500 characters, "emojis are counted as the number of
UTF-8 bytes" [posts]: every grapheme counts 1, except an emoji (a grapheme with an
`Extended_Pictographic` code point, or a flag), which counts its UTF-8 bytes (`threads_length`).
Quota: 250 posts and 1,000 replies per moving 24 hours; read before publishing from
`GET /{threads-user-id}/threads_publishing_limit?fields=quota_usage,config,reply_quota_usage,
reply_config` and RateLimited when spent [overview] [replies].

| response                                             | error class      | source |
|------------------------------------------------------|------------------|--------|
| the shared Graph table                               | see `connectors/graph.py` | [errors] |
| code 9 / subcode 2207042 (publishing limit)          | RateLimited      | [overview] |
| 9007 / 2207027 (not ready) on `threads_publish`      | TransientError (container kept) | [trouble] |
| container `ERROR` (`FAILED_DOWNLOADING_VIDEO`, ...) | PermanentError   | [trouble] |
| container `EXPIRED` (not published within 24 hours)  | TransientError (a new one next) | [trouble] |
| code 1/2 with 500, a 502/504, no answer on `threads_publish` | OutcomeUnknown | [errors] |

Threads refuses no duplicates. Reconciliation (`lookup`): the item's container, kept in the
account's state until its post is recorded (`FINISHED`, `IN_PROGRESS`, `ERROR`, `EXPIRED`
-> Absent; `PUBLISHED` -> the post is looked for), then the account's recent posts (`GET
/{threads-user-id}/threads`, replies: `/replies`, `fields=id,text,timestamp,permalink`) by
text since the attempt. A retry asks the container first, so a published container is
never published again.

Account: `postmast account add threads NAME` (`user_id` defaults to `me`) with the
`access_token` secret; or `postmast account connect threads NAME --set client_id=THREADS_APP_ID`,
which runs the steps below (PKCE is sent too; the Threads pages found do not mention it) and
keeps only the long-lived `access_token` with its end, which the renewal job then refreshes
(`refresh`); the short-lived token and the app secret are not kept. The code exchange is a POST
form with the app's id and secret, as [auth] shows. OAuth: `https://threads.net/oauth/authorize`
(scopes `threads_basic`, `threads_content_publish`, `threads_manage_replies`, and
`threads_read_replies` for the lookup of replies), `POST https://graph.threads.net/oauth/access_token`
(a short-lived token, 1 hour), `GET /access_token?grant_type=th_exchange_token` (long-lived,
60 days), refreshed with `GET /refresh_access_token?grant_type=th_refresh_token` [auth].

Sources: developers.facebook.com/documentation/threads: [posts] posts; [overview] overview
(rate limiting, 250 posts); [replies] retrieve-and-manage-replies, .../create-replies;
[trouble] troubleshooting; [auth] get-started/get-access-tokens-and-permissions;
[errors] developers.facebook.com/docs/graph-api/guides/error-handling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

import regex

from postmast.connectors import hosting
from postmast.connectors.base import Connector, check_http_url
from postmast.connectors.comments import linked
from postmast.connectors.containers import Containers, Flavour, carousel_fields
from postmast.connectors.content import (
    Content,
    Field,
    Lookup,
    Option,
    Problem,
    PublishResult,
    Renewal,
)
from postmast.connectors.errors import ConnectorError, PermanentError, RateLimited, TransientError
from postmast.connectors.graph import GraphClient
from postmast.connectors.oauth2 import OAuth2Endpoints

DEFAULT_API = "https://graph.threads.net"
DEFAULT_VERSION = "v1.0"
DIALOG = "https://threads.net"
SCOPES = "threads_basic,threads_content_publish,threads_manage_replies,threads_read_replies"
"""One comma-separated string, the Threads sign-in's form of `scope` [auth]."""
MB = 1_000_000
EMOJI = regex.compile(r"\p{Extended_Pictographic}|\p{Regional_Indicator}")
GRAPHEME = regex.compile(r"\X")
QUOTA_WAIT = 3600.0
RESUME_WINDOW = timedelta(hours=24)
REPLY_CONTROLS = (
    "everyone",
    "accounts_you_follow",
    "mentioned_only",
    "parent_post_author_only",
    "followers_only",
)
FLAVOUR = Flavour(
    create_edge="threads",
    publish_edge="threads_publish",
    status_field="status",
    message_field="error_message",
    list_edge="threads",
    text_field="text",
)
EXTRA: dict[int, type[ConnectorError]] = {9: RateLimited, 9007: TransientError}


def threads_length(text: str) -> int:
    """Threads' count: graphemes, each emoji counting its UTF-8 bytes ([posts])."""
    return sum(
        len(cluster.encode("utf-8")) if EMOJI.search(cluster) else 1 for cluster in GRAPHEME.findall(text)
    )


class Threads(Connector):
    name: ClassVar[str] = "threads"
    title: ClassVar[str] = "Threads"
    max_length: ClassVar[int] = 500
    max_media: ClassVar[int] = 20
    media_limits: ClassVar[Mapping[str, int]] = {
        "image/jpeg": 8 * MB,
        "image/png": 8 * MB,
        "video/mp4": 1_000 * MB,
        "video/quicktime": 1_000 * MB,
    }
    """[posts] media specifications: JPEG or PNG images up to 8 MB; MOV or MP4 video up to 1 GB."""
    max_alt_text: ClassVar[int | None] = 1000
    threads: ClassVar[bool] = True
    token_lifetime: ClassVar[timedelta | None] = timedelta(days=60)
    """Long-lived Threads tokens last 60 days; each refresh starts 60 more (refresh-access-tokens)."""
    settings_fields: ClassVar[tuple[Field, ...]] = (
        Field("user_id", "the Threads user id (default: me, the token's own)", required=False),
        Field("api_version", f"Threads API version (default {DEFAULT_VERSION})", required=False),
        Field("api_base", f"API base URL (default {DEFAULT_API})", required=False),
        Field("client_id", "the Threads app id, for account connect", required=False),
        Field("dialog_base", f"where the sign-in page is (default {DIALOG})", required=False),
        *hosting.SETTINGS,
    )
    secret_fields: ClassVar[tuple[Field, ...]] = (
        Field("access_token", "a Threads user access token with threads_content_publish", secret=True),
        *hosting.SECRETS,
    )
    options: ClassVar[tuple[Option, ...]] = (
        Option("reply_control", "who may reply to the post", kind="choice", choices=REPLY_CONTROLS),
    )
    setup: ClassVar[str] = (
        "Create an app with the Threads use case at developers.facebook.com, grant threads_basic, "
        "threads_content_publish and threads_manage_replies, and generate a long-lived access token "
        "(60 days). For images and video also set media_bucket (S3-compatible) or media_directory: "
        "Threads fetches media from a public URL. Then: postmast account add threads NAME and paste "
        "access_token at the prompt."
    )
    poll_interval: float = 5.0

    @classmethod
    def check_settings(cls, settings: Mapping[str, str]) -> list[Problem]:
        problems = super().check_settings(settings) + hosting.check_settings(settings)
        user = settings.get("user_id", "")
        if user and user != "me" and not (user.isascii() and user.isdigit()):
            problems.append(Problem("user_id must be the numeric Threads user id, or me"))
        for name in ("api_base", "dialog_base"):
            if settings.get(name):
                problems += check_http_url(settings[name], name)
        return problems

    @property
    def user(self) -> str:
        return self.settings.get("user_id") or "me"

    def graph(self, credentials: Mapping[str, str]) -> GraphClient:
        return GraphClient(
            self.http,
            self.settings.get("api_base") or DEFAULT_API,
            self.settings.get("api_version") or DEFAULT_VERSION,
            credentials["access_token"],
            self.title,
            extra=EXTRA,
        )

    def oauth2(self) -> OAuth2Endpoints | None:
        """The Threads sign-in [auth]: a confidential app, its secret in the form; no refresh token
        (the long-lived token refreshes itself)."""
        client_id = self.settings.get("client_id")
        if not client_id:
            return None
        return OAuth2Endpoints(
            authorize_url=f"{(self.settings.get('dialog_base') or DIALOG).rstrip('/')}/oauth/authorize",
            token_url=f"{(self.settings.get('api_base') or DEFAULT_API).rstrip('/')}/oauth/access_token",
            scopes=(SCOPES,),
            client_id=client_id,
            refresh_field=None,
            client_secret_field="client_secret",  # noqa: S106 (a secret's name, not a secret)
            secret_in_body=True,
        )

    def complete_sign_in(self, token: Mapping[str, Any], client_secret: str) -> Renewal | None:
        """The short-lived token exchanged for a long-lived one (`GET /access_token`,
        `grant_type=th_exchange_token`, the app secret) [auth]: the only secret kept, and its end."""
        short = token.get("access_token")
        if not isinstance(short, str) or not short or not client_secret:
            raise PermanentError("the Threads sign-in needs the app secret and gives a token to exchange")
        graph = GraphClient(
            self.http, self.settings.get("api_base") or DEFAULT_API, "", short, self.title, extra=EXTRA
        )
        data = graph.get("access_token", grant_type="th_exchange_token", client_secret=client_secret)
        long_lived, lifetime = data.get("access_token"), data.get("expires_in")
        if not isinstance(long_lived, str) or not long_lived:
            raise PermanentError("Threads answered the token exchange without a token")
        seconds = timedelta(seconds=lifetime) if isinstance(lifetime, int) else self.token_lifetime
        return Renewal({"access_token": long_lived}, self.clock() + seconds if seconds else None)

    def can_refresh(self, credentials: Mapping[str, str]) -> bool:
        return bool(credentials.get("access_token"))

    def refresh(self, credentials: Mapping[str, str]) -> Renewal | None:
        """A long-lived token renewed for 60 more days (`GET /refresh_access_token`,
        `grant_type=th_refresh_token`; Threads docs, "Long-lived access tokens"): an expired or
        revoked token is refused (code 190 -> `AuthExpired`)."""
        graph = GraphClient(
            self.http,
            self.settings.get("api_base") or DEFAULT_API,
            "",
            credentials["access_token"],
            self.title,
            extra=EXTRA,
        )
        data = graph.get("refresh_access_token", grant_type="th_refresh_token")
        token, lifetime = data.get("access_token"), data.get("expires_in")
        if not isinstance(token, str) or not token:
            raise TransientError("Threads answered the token refresh without a token")
        ends = self.clock() + timedelta(seconds=int(lifetime)) if isinstance(lifetime, int) else None
        return Renewal({**credentials, "access_token": token}, ends)

    def containers(self, graph: GraphClient) -> Containers:
        return Containers(graph, self.user, FLAVOUR, self.state, self.http.pause, self.poll_interval)

    # -- rules ------------------------------------------------------------------------------------

    def items(self, contents: Sequence[Content]) -> list[Content]:
        return linked(contents)

    def count(self, text: str) -> int:
        return threads_length(text)

    def validate_thread(self, items: Sequence[Content]) -> list[Problem]:
        problems = super().validate_thread(items)
        if any(item.media for item in items) and not hosting.configured(self.settings):
            problems.append(
                Problem(f"Threads fetches media from a public URL: {hosting.WHAT_TO_SET}", "media")
            )
        return problems

    # -- the network ------------------------------------------------------------------------------

    def payload(self, content: Content) -> dict[str, Any]:
        """The container's fields; media URLs exist only once hosted, reply ids once published."""
        return self._fields(content, [f"<public URL of {m.filename}>" for m in content.media])

    def _fields(self, content: Content, urls: Sequence[str]) -> dict[str, Any]:
        fields: dict[str, Any] = {"text": content.text} if content.text else {}
        if content.reply_to:
            fields["reply_to_id"] = content.reply_to.id
        if content.options.get("reply_control"):
            fields["reply_control"] = content.options["reply_control"]
        media = content.media
        if not media:
            return {"media_type": "TEXT", **fields}
        if len(media) == 1:
            if media[0].kind == "video":
                return {"media_type": "VIDEO", "video_url": urls[0], **fields}
            alt = {"alt_text": media[0].alt} if media[0].alt else {}
            return {"media_type": "IMAGE", "image_url": urls[0], **alt, **fields}
        children = carousel_fields([(m.kind, url) for m, url in zip(media, urls, strict=True)])
        for child, item in zip(children, media, strict=True):
            if item.kind == "image":
                child["media_type"] = "IMAGE"
                if item.alt:
                    child["alt_text"] = item.alt
        return {"media_type": "CAROUSEL", "children": children, **fields}

    def publish(
        self, content: Content, credentials: Mapping[str, str], idempotency_key: str
    ) -> PublishResult:
        graph = self.graph(credentials)
        return self.containers(graph).publish_item(
            content,
            idempotency_key,
            since=self.clock() - RESUME_WINDOW,
            edge="replies" if content.reply_to else None,
            host=lambda: hosting.host_for(self.settings, credentials, timeout=self.http.read_timeout),
            prefix=self.settings.get("media_prefix") or "postmast/",
            fields=lambda urls: self._fields(content, urls),
            before=lambda: self._check_quota(graph, reply=content.reply_to is not None),
        )

    def _check_quota(self, graph: GraphClient, *, reply: bool) -> None:
        fields = "reply_quota_usage,reply_config" if reply else "quota_usage,config"
        answer = graph.get(f"{self.user}/threads_publishing_limit", fields=fields)
        data = answer.get("data")
        entry = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
        prefix = "reply_" if reply else ""
        used, config = entry.get(f"{prefix}quota_usage"), entry.get(f"{prefix}config")
        total = config.get("quota_total") if isinstance(config, dict) else None
        if isinstance(used, int) and isinstance(total, int) and used >= total:
            what = "replies" if reply else "posts"
            raise RateLimited(
                f"Threads' publishing quota is spent ({used} of {total} {what} in 24 hours)",
                retry_after=QUOTA_WAIT,
            )

    def lookup(
        self,
        content: Content,
        credentials: Mapping[str, str],
        idempotency_key: str,
        *,
        sent_at: datetime,
        replay_allowed: bool,
    ) -> Lookup:
        """The item's container status, then the account's recent posts (or replies) by text."""
        edge = "replies" if content.reply_to else None
        return self.containers(self.graph(credentials)).lookup(content, idempotency_key, sent_at, edge)

    def discover(self, credentials: Mapping[str, str]) -> dict[str, Any]:
        """The account's id and username (`GET /me?fields=id,username`): checks the token."""
        data = self.graph(credentials).get(self.user, fields="id,username")
        return {k: str(data[k]) for k in ("id", "username") if data.get(k)}
