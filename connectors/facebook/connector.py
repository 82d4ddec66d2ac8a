"""Facebook Pages: posts as a Page through the Graph API with a Page access token.

- text (and `link`): `POST /{page-id}/feed` `message`, `link` -> `{"id": "{page-id}_{post-id}"}` [posts];
- one image: `POST /{page-id}/photos` (multipart `source`, `message`, `alt_text_custom`)
  -> `{"id": photo, "post_id"}` [photos];
- several images: each `POST /{page-id}/photos` with `published=false`, then `/feed` with
  `attached_media[N]={"media_fbid": photo}` [posts] (multi-photo);
- a video: the resumable upload `POST /{page-id}/videos` `upload_phase=start|transfer|finish`,
  `description` on finish [video] (`connectors/facebook/media.py`);
- the public URL: `GET /{id}?fields=permalink_url` [posts]; if that read fails,
  `https://www.facebook.com/{id}`.

Items after the first (`--then`, and the `first_comment` option, which becomes the last item)
are comments on the post: `POST /{post-id}/comments` `message` [comments]. A first item
given `--reply-to facebook:page=POST` comments on that post.

Errors: `connectors/graph.py` holds the shared table. Facebook's own rows:

| response                                   | error class                                   | source |
|--------------------------------------------|-----------------------------------------------|--------|
| 368 / 506 on the posting request           | DuplicateContent, reconciled (see below)      | [errors] |
| code 1 or 2 with HTTP 500 when posting     | OutcomeUnknown: reconciled from the Page's feed | [errors] |
| 32, 80001 with `X-Business-Use-Case-Usage` | RateLimited for `estimated_time_to_regain_access` | [rate] |
| 190 + subcode (463, 460, 467)              | AuthExpired                                   | [errors] |
| 100 (a bad `link`), 1609005 (link unread)  | PermanentError                                | [errors] |

A 368/506 is remembered for the item (`state`): when the lookup does not find the post on
the Page, the next attempt fails with Facebook's reason without sending anything.

Reconciliation (`lookup`, after an unknown outcome): the Page's own posts since the
attempt, `GET /{page-id}/feed?fields=id,message,created_time,permalink_url&since=T`
(comments: `GET /{post-id}/comments?filter=stream&order=reverse_chronological`, the Page's
own; a video: `GET /{page-id}/videos`), matched by text (whitespace collapsed) and created
at or after the attempt less five minutes. Found -> published; the pages read reach back
past the attempt and it is not there -> Absent; else Undecidable. An item without text
cannot be told apart from another post: Undecidable.

Account: `postmast account add facebook NAME --set page_id=...` with the `page_access_token`
secret; or `postmast account connect facebook NAME --set page_id=... --set client_id=APP_ID`
(`connectors/facebook/signin.py`). OAuth: Facebook Login,
`https://www.facebook.com/{version}/dialog/oauth` then `GET /{version}/oauth/access_token`
(code -> short-lived user token, about 1-2 hours; `grant_type=fb_exchange_token` -> a
long-lived user token, about 60 days); `GET /me/accounts` gives each Page's access token,
which does not expire when taken from a long-lived user token [tokens]. Scopes:
`pages_manage_posts`, `pages_read_engagement`, `pages_show_list`, `pages_manage_engagement`
(comments), `publish_video` (video) [posts].

Sources: developers.facebook.com/docs: [posts] pages-api/posts; [photos]
graph-api/reference/page/photos; [video] video-api/guides/publishing (resumable upload);
[comments] graph-api/reference/object/comments; [errors] graph-api/guides/error-handling;
[rate] graph-api/overview/rate-limiting; [tokens] facebook-login/guides/access-tokens
(long-lived Page tokens); [koala] arsduo/koala#699; NETWORKS.md §5.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from postmast.connectors.base import Connector, check_http_url
from postmast.connectors.comments import first_comment_option, is_comment, linked
from postmast.connectors.content import (
    Content,
    Field,
    Lookup,
    MediaFile,
    Option,
    Problem,
    PublishResult,
    Renewal,
)
from postmast.connectors.errors import DuplicateContent, OutcomeUnknown, PermanentError
from postmast.connectors.facebook.lookup import find_item, public_url
from postmast.connectors.facebook.media import PageMedia
from postmast.connectors.facebook.signin import SCOPES, page_token, token_of
from postmast.connectors.graph import GraphClient
from postmast.connectors.oauth2 import OAuth2Endpoints

DEFAULT_API = "https://graph.facebook.com"
DEFAULT_VERSION = "v25.0"
DIALOG = "https://www.facebook.com"
MB = 1_000_000
REFUSED = "refused"
"""`state[REFUSED][key]`: items Facebook refused as duplicate or blocked (368/506), by item key."""


class Facebook(Connector):
    name: ClassVar[str] = "facebook"
    title: ClassVar[str] = "Facebook"
    max_length: ClassVar[int] = 63_206
    max_media: ClassVar[int] = 10
    media_limits: ClassVar[Mapping[str, int]] = {
        "image/jpeg": 10 * MB,
        "image/png": 10 * MB,
        "image/gif": 10 * MB,
        "video/mp4": 1_000 * MB,
        "video/quicktime": 1_000 * MB,
    }
    """Pages photos: JPEG, PNG, GIF (and BMP, TIFF) under 10 MB [photos]; videos by resumable upload."""
    max_alt_text: ClassVar[int | None] = 1000
    threads: ClassVar[bool] = True
    settings_fields: ClassVar[tuple[Field, ...]] = (
        Field(
            "page_id", "the Page's numeric id (Page › About › Page transparency, or GET /me with its token)"
        ),
        Field("api_version", f"Graph API version (default {DEFAULT_VERSION})", required=False),
        Field("api_base", f"Graph API base URL (default {DEFAULT_API})", required=False),
        Field("max_length", "text limit in characters (default 63206)", required=False),
        Field("client_id", "the Meta app's id, for account connect", required=False),
        Field("dialog_base", f"where Facebook Login's dialog is (default {DIALOG})", required=False),
    )
    secret_fields: ClassVar[tuple[Field, ...]] = (
        Field("page_access_token", "a Page access token with pages_manage_posts", secret=True),
    )
    options: ClassVar[tuple[Option, ...]] = (
        Option("link", "a URL the post links to (shown as its preview card)"),
        first_comment_option(8000, "the Page"),
    )
    setup: ClassVar[str] = (
        "Create a Business app at developers.facebook.com with Facebook Login for Business; in the Graph "
        "API Explorer grant pages_manage_posts, pages_read_engagement, pages_show_list and "
        "pages_manage_engagement, then GET /me/accounts for the Page's id and access token. Then: "
        "postmast account add facebook NAME --set page_id=ID and paste page_access_token at the prompt. "
        "Or sign in (redirect URI http://127.0.0.1:8765/callback in Facebook Login's settings): postmast "
        "account connect facebook NAME --set page_id=ID --set client_id=APP_ID --port 8765."
    )

    @classmethod
    def check_settings(cls, settings: Mapping[str, str]) -> list[Problem]:
        problems = super().check_settings(settings)
        page = settings.get("page_id", "")
        if page and not (page.isascii() and page.isdigit()):
            problems.append(Problem("page_id must be the Page's numeric id"))
        for name in ("api_base", "dialog_base"):
            if settings.get(name):
                problems += check_http_url(settings[name], name)
        version = settings.get("api_version")
        if version and not _is_version(version):
            problems.append(Problem("api_version must look like v25.0"))
        return problems

    @classmethod
    def check_options(cls, values: Mapping[str, Any]) -> list[Problem]:
        problems = super().check_options(values)
        link = values.get("link")
        if isinstance(link, str) and link:
            problems += [Problem(p.message, "option") for p in check_http_url(link, "link")]
        return problems

    @property
    def page_id(self) -> str:
        return self.settings["page_id"]

    def oauth2(self) -> OAuth2Endpoints | None:
        """Facebook Login's code flow (`signin.py`): a confidential app, its secret in the body."""
        client_id = self.settings.get("client_id")
        if not client_id:
            return None
        version = self.settings.get("api_version") or DEFAULT_VERSION
        graph = (self.settings.get("api_base") or DEFAULT_API).rstrip("/")
        dialog = (self.settings.get("dialog_base") or DIALOG).rstrip("/")
        return OAuth2Endpoints(
            authorize_url=f"{dialog}/{version}/dialog/oauth",
            token_url=f"{graph}/{version}/oauth/access_token",
            scopes=(SCOPES,),
            client_id=client_id,
            refresh_field=None,
            client_secret_field="client_secret",  # noqa: S106 (a secret's name, not a secret)
            secret_in_body=True,
        )

    def complete_sign_in(self, token: Mapping[str, Any], client_secret: str) -> Renewal | None:
        """The long-lived exchange, then the Page's own token (`signin.py`)."""
        if not client_secret:
            raise PermanentError("Facebook Login needs the app's secret for the long-lived token exchange")
        return page_token(
            self.http,
            self.settings.get("api_base") or DEFAULT_API,
            self.settings.get("api_version") or DEFAULT_VERSION,
            self.settings["client_id"],
            client_secret,
            token_of(token),
            self.page_id,
        )

    def graph(self, credentials: Mapping[str, str]) -> GraphClient:
        return GraphClient(
            self.http,
            self.settings.get("api_base") or DEFAULT_API,
            self.settings.get("api_version") or DEFAULT_VERSION,
            credentials["page_access_token"],
            self.title,
        )

    # -- items and rules --------------------------------------------------------------------------

    def items(self, contents: Sequence[Content]) -> list[Content]:
        return linked(contents)

    def validate_thread(self, items: Sequence[Content]) -> list[Problem]:
        problems = super().validate_thread(items)
        for number, item in enumerate(items[1:], 2):
            if item.media:
                problems.append(Problem(f"item {number}: a comment on Facebook goes without media", "thread"))
        return problems

    def validate_media(self, media: Sequence[MediaFile]) -> list[Problem]:
        problems = super().validate_media(media)
        if len(media) > 1 and any(m.kind == "video" for m in media):
            problems.append(Problem("a video must be the only attachment of a Facebook post", "media"))
        return problems

    # -- the network ------------------------------------------------------------------------------

    def payload(self, content: Content) -> dict[str, Any]:
        """What is sent: the feed post, photo or video fields, or the comment."""
        if is_comment(content):
            return {"message": content.text}
        body: dict[str, Any] = {}
        if content.text:
            body["message" if not _video(content) else "description"] = content.text
        link = content.options.get("link")
        if link and not content.media:
            body["link"] = link
        if len(content.media) == 1 and not _video(content):
            body["source"] = f"<{content.media[0].filename}>"
            if content.media[0].alt:
                body["alt_text_custom"] = content.media[0].alt
        elif len(content.media) > 1:
            body["attached_media"] = [
                {"media_fbid": f"<id of {m.filename} once uploaded>"} for m in content.media
            ]
        elif _video(content):
            body["video"] = f"<{content.media[0].filename}, resumable upload>"
        return body

    def publish(
        self, content: Content, credentials: Mapping[str, str], idempotency_key: str
    ) -> PublishResult:
        refused = self.state.get(REFUSED, {}).get(idempotency_key)
        if refused:
            # Facebook refused this very item as a duplicate (or blocked it), and the lookup did
            # not find it on the Page: sending it again would only be refused again.
            raise PermanentError(f"Facebook refused the post and it is not on the Page: {refused}")
        graph = self.graph(credentials)
        try:
            remote_id = self._send(graph, content)
        except DuplicateContent as exc:
            self.state[REFUSED] = {**self.state.get(REFUSED, {}), idempotency_key: exc.message}
            raise
        return PublishResult(remote_id, self._permalink(graph, remote_id, is_comment(content)), 200)

    def _send(self, graph: GraphClient, content: Content) -> str:
        if is_comment(content):
            assert content.reply_to is not None
            parent = (content.root or content.reply_to).id
            answer = graph.post(f"{parent}/comments", {"message": content.text}, posting=True)
            return _id(answer, graph)
        media = PageMedia(graph, self.page_id, self.http.pause)
        if _video(content):
            return media.post_video(content.media[0], content.text)
        if len(content.media) == 1:
            return media.post_photo(content.media[0], content.text)
        body: dict[str, Any] = {}
        if content.text:
            body["message"] = content.text
        if content.options.get("link") and not content.media:
            body["link"] = content.options["link"]
        if content.media:
            for number, photo in enumerate(media.unpublished_photos(content.media)):
                body[f"attached_media[{number}]"] = f'{{"media_fbid":"{photo}"}}'
        return _id(graph.post(f"{self.page_id}/feed", body, posting=True), graph)

    def _permalink(self, graph: GraphClient, remote_id: str, comment: bool) -> str | None:
        try:
            data = graph.get(remote_id, fields="permalink_url")
        except Exception:  # the post exists: a missing link must not fail it
            return None if comment else public_url(None, remote_id)
        return (
            public_url(data.get("permalink_url"), remote_id)
            if data.get("permalink_url") or not comment
            else None
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
        """Look for the item among the Page's posts (or the post's comments) since the attempt."""
        return find_item(self.graph(credentials), self.page_id, content, sent_at)

    def discover(self, credentials: Mapping[str, str]) -> dict[str, Any]:
        """The Page's name (`GET /{page-id}?fields=id,name`): checks the token at `account add`."""
        data = self.graph(credentials).get(self.page_id, fields="id,name")
        return {"page_name": str(data["name"])} if data.get("name") else {}


def _video(content: Content) -> bool:
    return len(content.media) == 1 and content.media[0].kind == "video"


def _is_version(value: str) -> bool:
    major, dot, minor = value.removeprefix("v").partition(".")
    return value.startswith("v") and major.isdigit() and dot == "." and minor.isdigit()


def _id(answer: Mapping[str, Any], graph: GraphClient) -> str:
    remote = answer.get("post_id") or answer.get("id")
    if not isinstance(remote, str) or not remote:
        raise OutcomeUnknown(f"{graph.network} answered without the new post's id")
    return remote
