"""Instagram (professional accounts): the Content Publishing API, through media containers.

Every post carries media, which Instagram fetches from a public URL: postmast hosts each
file where the account's `media_*` settings say (`connectors/hosting.py`) and deletes it
once the post is out. Then (`connectors/containers.py`): one container per post
(`POST /{ig-user-id}/media`: `image_url` JPEG, `alt_text`; or `media_type=REELS` with
`video_url` for a video; or a `CAROUSEL` of 2-10 child containers), `GET /{container}?
fields=status_code` until `FINISHED`, `POST /{ig-user-id}/media_publish` `creation_id`,
and the public URL from `GET /{media-id}?fields=permalink` [publishing] [container].

Before publishing, the account's quota is read (`GET /{ig-user-id}/content_publishing_limit?
fields=quota_usage,config`): a spent quota (50 posts per moving 24 hours, [media_publish])
is RateLimited before anything is sent. Captions: 2,200 characters, 30 hashtags, 20 @-tags
[media]; checked when the post is queued, as is where the media would be hosted.
Items after the first (`--then`, and `first_comment`, which becomes the last item) are comments
on the post: `POST /{ig-media-id}/comments` `message` [comments].

| response                                              | error class      | source |
|-------------------------------------------------------|------------------|--------|
| the shared Graph table                                | see `connectors/graph.py` | [errors] |
| 9, subcode 2207042 (publishing limit reached)          | RateLimited      | [errors-ig] |
| 9007 / 2207027 (not ready) on `media_publish`         | TransientError (container kept) | [errors-ig] |
| 36003, 2207009 and other refusals of the media         | PermanentError   | [errors-ig] |
| container `ERROR`                                      | PermanentError   | [container] |
| container `EXPIRED`                                    | TransientError (a new one next) | [container] |
| code 1/2 with 500, no answer, on `media_publish`       | OutcomeUnknown   | [errors] |

Instagram refuses no duplicates; what keeps a post single is the container: it is kept in
the account's state until its post is recorded, and a retry asks it first (`PUBLISHED`:
the post is looked up, never published again; `FINISHED`: the same container is published).
Reconciliation (`lookup`): the container's `status_code` (anything but `PUBLISHED` ->
Absent), then the account's recent media (`GET /{ig-user-id}/media?fields=id,caption,
timestamp,permalink`) by caption since the attempt; a comment: the post's comments by text.

Account: `postmast account add instagram NAME --set ig_user_id=...` and the `access_token`
secret; or `postmast account connect instagram NAME --set ig_user_id=... --set client_id=APP_ID`
(Facebook Login, the default host only): the dialog and the code exchange, then the long-lived
exchange as for Facebook Pages (`connectors/facebook/signin.py`); the long-lived user token is
kept as `access_token` with its end (about 60 days). Facebook offers no way to renew a
long-lived user token without the person (the pages found describe none), so the renewal job
warns 7 days ahead and `account connect` again renews it. Instagram Login (below) is not run by
`account connect` here. OAuth: with Facebook Login for Business,
`https://www.facebook.com/{version}/dialog/oauth`, scopes `instagram_basic`,
`instagram_content_publish`, `instagram_manage_comments`, `pages_read_engagement`,
`pages_show_list`; the user token is exchanged for a long-lived one (about 60 days,
`grant_type=fb_exchange_token`), and `GET /{page-id}?fields=instagram_business_account`
gives the account id. With Instagram Login (host `graph.instagram.com`):
`https://www.instagram.com/oauth/authorize`, `POST https://api.instagram.com/oauth/access_token`,
scopes `instagram_business_basic`, `instagram_business_content_publish`,
`instagram_business_manage_comments`; long-lived tokens last 60 days and are refreshed with
`GET /refresh_access_token?grant_type=ig_refresh_token` [container] [tokens].

Sources: developers.facebook.com/docs/instagram-platform: [publishing] content-publishing;
[container] instagram-graph-api/reference/ig-container; [media] .../reference/ig-user/media;
[media_publish] .../reference/ig-user/media_publish; [comments] .../reference/ig-media/comments;
[errors-ig] instagram-graph-api/reference/error-codes; [tokens] instagram-api-with-instagram-login
(access tokens); [errors] developers.facebook.com/docs/graph-api/guides/error-handling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

import regex

from postmast.connectors import hosting
from postmast.connectors.base import Connector, check_http_url
from postmast.connectors.comments import first_comment_option, is_comment, linked
from postmast.connectors.containers import Containers, Flavour, carousel_fields
from postmast.connectors.content import (
    Content,
    Field,
    Found,
    Lookup,
    MediaFile,
    Option,
    Problem,
    PublishResult,
    Renewal,
    Undecidable,
)
from postmast.connectors.errors import (
    ConnectorError,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.connectors.facebook.signin import long_lived_token
from postmast.connectors.graph import GraphClient
from postmast.connectors.oauth2 import OAuth2Endpoints

DEFAULT_API = "https://graph.facebook.com"
DIALOG = "https://www.facebook.com"
SCOPES = ",".join(
    (
        "instagram_basic",
        "instagram_content_publish",
        "instagram_manage_comments",
        "pages_read_engagement",
        "pages_show_list",
    )
)
"""One comma-separated string, Facebook Login's form of `scope`."""
DEFAULT_VERSION = "v25.0"
MB = 1_000_000
HASHTAG = regex.compile(r"(?<![\w&])#\w+")
MENTION = regex.compile(r"(?<![\w@])@[\w.]+")
QUOTA_WAIT = 3600.0
"""A spent 24-hour publishing quota is asked again after an hour (the endpoint gives no reset)."""
FLAVOUR = Flavour(
    create_edge="media",
    publish_edge="media_publish",
    status_field="status_code",
    message_field="status",
    list_edge="media",
    text_field="caption",
)
EXTRA: dict[int, type[ConnectorError]] = {9: RateLimited, 9007: TransientError, 36003: PermanentError}
"""Instagram's own codes ([errors-ig]): 9 (the publishing limit), 9007 (media not ready), 36003."""
RESUME_WINDOW = timedelta(hours=24)
"""A container lives a day: a post it became is looked for that far back."""


class Instagram(Connector):
    name: ClassVar[str] = "instagram"
    title: ClassVar[str] = "Instagram"
    max_length: ClassVar[int] = 2200
    max_media: ClassVar[int] = 10
    media_limits: ClassVar[Mapping[str, int]] = {
        "image/jpeg": 8 * MB,
        "video/mp4": 300 * MB,
        "video/quicktime": 300 * MB,
    }
    """[media]: images JPEG only, 8 MB; reels MP4 or MOV up to 300 MB; a carousel takes 2-10."""
    max_alt_text: ClassVar[int | None] = 1000
    threads: ClassVar[bool] = True
    settings_fields: ClassVar[tuple[Field, ...]] = (
        Field(
            "ig_user_id",
            "the Instagram professional account's id (GET /{page-id}?fields=instagram_business_account)",
        ),
        Field("api_version", f"Graph API version (default {DEFAULT_VERSION})", required=False),
        Field(
            "api_base",
            f"API base URL: {DEFAULT_API} (Facebook Login, the default) or https://graph.instagram.com",
            required=False,
        ),
        Field("client_id", "the Meta app's id, for account connect", required=False),
        Field("dialog_base", f"where Facebook Login's dialog is (default {DIALOG})", required=False),
        *hosting.SETTINGS,
    )
    secret_fields: ClassVar[tuple[Field, ...]] = (
        Field("access_token", "a user access token with instagram_content_publish", secret=True),
        *hosting.SECRETS,
    )
    options: ClassVar[tuple[Option, ...]] = (first_comment_option(2200, "the account"),)
    setup: ClassVar[str] = (
        "Make the Instagram account a professional one linked to a Facebook Page; create a Business app "
        "with the Instagram product, grant instagram_basic, instagram_content_publish and "
        "instagram_manage_comments, and read the account id from "
        "GET /{page-id}?fields=instagram_business_account. Instagram fetches media from a public URL: "
        "also set media_bucket (S3-compatible) or media_directory. "
        "Then: postmast account add instagram NAME --set ig_user_id=ID --set media_bucket=... and paste "
        "access_token (and the media_* keys) at the prompt. Or sign in with Facebook Login: postmast "
        "account connect instagram NAME --set ig_user_id=ID --set client_id=APP_ID --port 8765."
    )
    poll_interval: float = 5.0
    """Seconds between container status checks (the docs: about a minute; images are quicker)."""

    @classmethod
    def check_settings(cls, settings: Mapping[str, str]) -> list[Problem]:
        problems = super().check_settings(settings) + hosting.check_settings(settings)
        user = settings.get("ig_user_id", "")
        if user and not (user.isascii() and user.isdigit()):
            problems.append(Problem("ig_user_id must be the account's numeric id"))
        for name in ("api_base", "dialog_base"):
            if settings.get(name):
                problems += check_http_url(settings[name], name)
        return problems

    # -- signing in -------------------------------------------------------------------------------

    @property
    def _graph_base(self) -> str:
        return (self.settings.get("api_base") or DEFAULT_API).rstrip("/")

    def oauth2(self) -> OAuth2Endpoints | None:
        """Facebook Login (a confidential app, its secret in the body), for the Facebook Login host;
        None for Instagram Login (`graph.instagram.com`) or without the app's `client_id`."""
        client_id = self.settings.get("client_id")
        if not client_id or "graph.instagram.com" in self._graph_base:
            return None
        version = self.settings.get("api_version") or DEFAULT_VERSION
        dialog = (self.settings.get("dialog_base") or DIALOG).rstrip("/")
        return OAuth2Endpoints(
            authorize_url=f"{dialog}/{version}/dialog/oauth",
            token_url=f"{self._graph_base}/{version}/oauth/access_token",
            scopes=(SCOPES,),
            client_id=client_id,
            refresh_field=None,
            client_secret_field="client_secret",  # noqa: S106 (a secret's name, not a secret)
            secret_in_body=True,
        )

    def complete_sign_in(self, token: Mapping[str, Any], client_secret: str) -> Renewal | None:
        """The long-lived user token (`fb_exchange_token`), kept as `access_token` with its end."""
        short = token.get("access_token")
        if not isinstance(short, str) or not short or not client_secret:
            raise PermanentError("Facebook Login needs the app's secret for the long-lived token exchange")
        long_lived, lifetime = long_lived_token(
            self.http,
            self._graph_base,
            self.settings.get("api_version") or DEFAULT_VERSION,
            self.settings["client_id"],
            client_secret,
            short,
        )
        ends = self.clock() + timedelta(seconds=lifetime) if lifetime else None
        return Renewal({"access_token": long_lived}, ends)

    def graph(self, credentials: Mapping[str, str]) -> GraphClient:
        return GraphClient(
            self.http,
            self.settings.get("api_base") or DEFAULT_API,
            self.settings.get("api_version") or DEFAULT_VERSION,
            credentials["access_token"],
            self.title,
            extra=EXTRA,
        )

    def containers(self, graph: GraphClient) -> Containers:
        return Containers(
            graph, self.settings["ig_user_id"], FLAVOUR, self.state, self.http.pause, self.poll_interval
        )

    # -- items and rules --------------------------------------------------------------------------

    def items(self, contents: Sequence[Content]) -> list[Content]:
        return linked(contents)

    def count(self, text: str) -> int:
        return len(text)  # characters as code points: never fewer than Instagram counts

    def validate(self, content: Content) -> list[Problem]:
        problems = super().validate(content)
        tags, mentions = len(HASHTAG.findall(content.text)), len(MENTION.findall(content.text))
        if tags > 30:
            problems.append(Problem(f"{tags} hashtags, Instagram takes at most 30", "too_many_tags"))
        if mentions > 20:
            problems.append(Problem(f"{mentions} @-mentions, Instagram takes at most 20", "too_many_tags"))
        return problems

    def validate_thread(self, items: Sequence[Content]) -> list[Problem]:
        problems = super().validate_thread(items)
        if items and not items[0].media and not items[0].reply_to:
            problems.append(Problem("an Instagram post needs an image or a video", "media"))
        if items and items[0].media and not hosting.configured(self.settings):
            problems.append(
                Problem(f"Instagram fetches media from a public URL: {hosting.WHAT_TO_SET}", "media")
            )
        for number, item in enumerate(items[1:], 2):
            if item.media:
                problems.append(
                    Problem(f"item {number}: a comment on Instagram goes without media", "thread")
                )
        return problems

    def validate_media(self, media: Sequence[MediaFile]) -> list[Problem]:
        problems = super().validate_media(media)
        if len(media) > 1:
            problems += [
                Problem(f"{m.filename} is over 100 MB, Instagram's limit for a video in a carousel", "media")
                for m in media
                if m.kind == "video" and m.size > 100 * MB
            ]
        return problems

    # -- the network ------------------------------------------------------------------------------

    def payload(self, content: Content) -> dict[str, Any]:
        """The container's fields (or the comment's); media URLs exist only once hosted."""
        if is_comment(content):
            return {"message": content.text}
        return self._container_fields(content, [f"<public URL of {m.filename}>" for m in content.media])

    def _container_fields(self, content: Content, urls: Sequence[str]) -> dict[str, Any]:
        fields: dict[str, Any] = {"caption": content.text} if content.text else {}
        media = content.media
        if len(media) == 1 and media[0].kind == "video":
            return {**fields, "media_type": "REELS", "video_url": urls[0]}
        if len(media) == 1:
            alt = {"alt_text": media[0].alt} if media[0].alt else {}
            return {**fields, "image_url": urls[0], **alt}
        children = carousel_fields([(m.kind, url) for m, url in zip(media, urls, strict=True)])
        for child, item in zip(children, media, strict=True):
            if item.alt and item.kind == "image":
                child["alt_text"] = item.alt
        return {**fields, "media_type": "CAROUSEL", "children": children}

    def publish(
        self, content: Content, credentials: Mapping[str, str], idempotency_key: str
    ) -> PublishResult:
        graph = self.graph(credentials)
        if is_comment(content):
            assert content.reply_to is not None
            parent = (content.root or content.reply_to).id
            answer = graph.post(f"{parent}/comments", {"message": content.text}, posting=True)
            if not isinstance(answer.get("id"), str):
                raise OutcomeUnknown("Instagram answered the comment without its id")
            return PublishResult(str(answer["id"]), None, 200)
        return self.containers(graph).publish_item(
            content,
            idempotency_key,
            since=self.clock() - RESUME_WINDOW,
            edge=None,
            host=lambda: hosting.host_for(self.settings, credentials, timeout=self.http.read_timeout),
            prefix=self.settings.get("media_prefix") or "postmast/",
            fields=lambda urls: self._container_fields(content, urls),
            before=lambda: self._check_quota(graph),
        )

    def _check_quota(self, graph: GraphClient) -> None:
        """Read the moving 24-hour quota; a spent one waits before anything is created."""
        user = self.settings["ig_user_id"]
        answer = graph.get(f"{user}/content_publishing_limit", fields="quota_usage,config")
        data = answer.get("data")
        entry = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
        used, config = entry.get("quota_usage"), entry.get("config")
        total = config.get("quota_total") if isinstance(config, dict) else None
        if isinstance(used, int) and isinstance(total, int) and used >= total:
            raise RateLimited(
                f"Instagram's publishing quota is spent ({used} of {total} posts in 24 hours)",
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
        """The item's container status, then the account's recent media (or the post's comments)."""
        graph = self.graph(credentials)
        if is_comment(content):
            assert content.reply_to is not None
            parent = (content.root or content.reply_to).id
            answer = graph.get(f"{parent}/comments", fields="id,text,timestamp")
            for entry in answer.get("data") or []:
                if isinstance(entry, dict) and " ".join(str(entry.get("text", "")).split()) == " ".join(
                    content.text.split()
                ):
                    return Found(PublishResult(str(entry["id"]), None, 200))
            return Undecidable("the comment is not among the post's comments (they may lag behind)")
        return self.containers(graph).lookup(content, idempotency_key, sent_at)

    def discover(self, credentials: Mapping[str, str]) -> dict[str, Any]:
        """The account's username (`GET /{ig-user-id}?fields=username`): checks the token."""
        data = self.graph(credentials).get(self.settings["ig_user_id"], fields="username")
        return {"username": str(data["username"])} if data.get("username") else {}
