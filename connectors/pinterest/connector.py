"""Pinterest: pins on a board through API v5, `POST /v5/pins`.

- a pin: JSON `{"board_id", "board_section_id"?, "title"?, "description", "link"?,
  "alt_text"?, "media_source"}` -> 201 Pin `{"id", ...}` [spec] `pins/create`; its link is
  `https://www.pinterest.com/pin/{id}/`;
- the post's text is the description (at most 800 characters); the `title` option (at most
  100), `link` (the pin's destination, http(s), at most 2,048) and the image's alt text (at
  most 500) are the pin's own fields [spec];
- the image: an attached file is sent as `media_source` `{"source_type": "image_base64",
  "content_type", "data"}`, or `--option image_url=https://…` as `{"source_type": "image_url",
  "url"}` (Pinterest fetches it) [spec]; one image or one video per pin, and one of them is
  required;
- a video: `POST /v5/media {"media_type": "video"}` -> `{"media_id", "upload_url",
  "upload_parameters"}`; the bytes are POSTed as a form to `upload_url` with those fields;
  `GET /v5/media/{media_id}` until `status` is `succeeded` (`failed`: refused), then the pin
  with `{"source_type": "video_id", "media_id", "cover_image_key_frame_time"}` [spec] [media];
- lengths are counted in graphemes (the base rule): Pinterest documents its limits but not how
  it counts them, an open point stated in docs/networks/pinterest.md;
- options: `board_id`, `board_section_id` (the account's `board_id` setting is the default),
  `title`, `link`, `image_url`, `cover_frame` (the second of a video used as its cover).

Reconciliation (`lookup`): Pinterest has no idempotency key. After an ambiguous `POST /v5/pins`
the board's pins (`GET /v5/boards/{board_id}/pins`, or the section's) are read, up to 100 of
them page by page, for a pin with the same description, title and link created since the
attempt: Found (its id and link); the board read to its end without it: Absent (the pin is
sent); a board with more pins than that: Undecidable, left `unknown` for a person.

Account: setting `board_id` (from `GET /v5/boards`), secrets `access_token` (scopes
`boards:read`, `pins:read`, `pins:write`) and, to renew it, `refresh_token`, `client_id`,
`client_secret`. Errors: `connectors/pinterest/api.py`.

Sign-in (`postmast account connect pinterest NAME --set board_id=ID --set oauth_client_id=APP_ID`):
Pinterest's OAuth 2.0 authorization code flow [signin]: `https://www.pinterest.com/oauth/` with
`response_type=code`, the scopes comma-separated (`boards:read,pins:read,pins:write`), `state`
and the redirect URI registered with the app (a loopback `http://127.0.0.1:PORT/callback`); the
code is redeemed at `POST https://api.pinterest.com/v5/oauth/token` with the app's id and secret
as HTTP Basic [signin] [refresh]. postmast sends PKCE too (`code_challenge`, S256): the pages
found do not say whether Pinterest checks it; a server that ignores it loses nothing. Kept:
`access_token` (30 days), `refresh_token`, `client_id`, `client_secret`, as an account added
with `account add` has them; the account ends with the access token, and the renewal job
renews it within its last 7 days (`refresh`: the refresh-token grant, a new refresh token kept
when Pinterest gives one). `whoami` (`account check`) is `discover`: `GET /v5/user_account`.
Not confirmed: whether Pinterest allows a loopback redirect URI with any port (register the one
`--port` names).

Sources: [spec] https://github.com/pinterest/api-description (Pinterest's v5 OpenAPI
description); [media] https://developers.pinterest.com/docs/api-features/creating-boards-and-pins/; [signin]
https://developers.pinterest.com/docs/getting-started/set-up-authentication-and-authorization/;
[refresh] https://developers.pinterest.com/docs/getting-started/refresh-an-access-token/;
[limits] https://help.pinterest.com/en/business/article/pinterest-product-specs (image and
video formats and sizes).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

import regex

from postmast.connectors import oauth2
from postmast.connectors.base import Connector, check_http_url
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
    Renewal,
    Undecidable,
)
from postmast.connectors.errors import AuthExpired, OutcomeUnknown, PermanentError, TransientError
from postmast.connectors.oauth2 import OAuth2Endpoints, TokenCache
from postmast.connectors.pinterest.api import TOKEN_KEY, PinterestApi

API_BASE = "https://api.pinterest.com"
AUTHORIZE_URL = "https://www.pinterest.com/oauth/"
SCOPES = "boards:read,pins:read,pins:write"
"""One comma-separated string: Pinterest's form of the `scope` parameter [signin]."""
RENEWAL = ("refresh_token", "client_id", "client_secret")
MB = 1_000_000
ID = regex.compile(r"[0-9]{1,30}")
LINK_LIMIT = 2048
POLL_SECONDS = 2.0
POLLS = 60
PAGE, PAGES = 25, 4
SKEW = timedelta(minutes=5)


def pin_url(pin_id: str) -> str:
    return f"https://www.pinterest.com/pin/{pin_id}/"


class Pinterest(Connector):
    name: ClassVar[str] = "pinterest"
    title: ClassVar[str] = "Pinterest"
    max_length: ClassVar[int] = 800
    max_media: ClassVar[int] = 1
    media_limits: ClassVar[Mapping[str, int]] = {
        "image/jpeg": 20 * MB,
        "image/png": 20 * MB,
        "image/gif": 20 * MB,
        "image/webp": 20 * MB,
        "video/mp4": 2000 * MB,
        "video/quicktime": 2000 * MB,
    }
    """[limits]: images up to 20 MB, videos (MP4, MOV) up to 2 GB."""
    max_alt_text: ClassVar[int | None] = 500
    settings_fields: ClassVar[tuple[Field, ...]] = (
        Field("board_id", "the board pins go to unless a post names another (its numeric id)"),
        Field("api_base", f"API base URL (default {API_BASE})", required=False),
        Field(
            "oauth_client_id", "the app's id, for account connect (kept with the secrets too)", required=False
        ),
        Field("authorize_url", f"OAuth sign-in address (default {AUTHORIZE_URL})", required=False),
    )
    secret_fields: ClassVar[tuple[Field, ...]] = (
        Field(
            "access_token", "an OAuth access token with boards:read, pins:read and pins:write", secret=True
        ),
        Field("refresh_token", "the refresh token given with it (to renew it)", required=False, secret=True),
        Field("client_id", "the app's id (to renew the token)", required=False, secret=True),
        Field("client_secret", "the app's secret key (to renew the token)", required=False, secret=True),
    )
    options: ClassVar[tuple[Option, ...]] = (
        Option("title", "the pin's title", max_length=100),
        Option("link", f"where the pin leads: an http(s) URL of at most {LINK_LIMIT} characters"),
        Option("board_id", "pin to this board instead of the account's"),
        Option("board_section_id", "pin into this section of the board"),
        Option(
            "image_url", "the pin's image, fetched by Pinterest from this http(s) URL (instead of a file)"
        ),
        Option("cover_frame", "a video pin's cover: the frame at this second (default 0)", kind="int"),
    )
    setup: ClassVar[str] = (
        "Create an app at developers.pinterest.com with the redirect URI http://127.0.0.1:8765/callback and "
        "find your board's id with GET /v5/boards. Then sign in: postmast account connect pinterest NAME "
        "--set board_id=ID --set oauth_client_id=APP_ID --port 8765 (it asks for the app secret); "
        "or, with a token "
        "you have: postmast account add pinterest NAME --set board_id=ID and paste access_token (and "
        "refresh_token, client_id, client_secret to renew it) at the prompts."
    )

    @classmethod
    def check_settings(cls, settings: Mapping[str, str]) -> list[Problem]:
        problems = super().check_settings(settings)
        if settings.get("board_id") and not ID.fullmatch(settings["board_id"]):
            problems.append(Problem("board_id must be a board's numeric id (GET /v5/boards lists them)"))
        for name in ("api_base", "authorize_url"):
            if settings.get(name):
                problems += check_http_url(settings[name], name)
        return problems

    @classmethod
    def check_secrets(cls, secrets: Mapping[str, str]) -> list[Problem]:
        problems = super().check_secrets(secrets)
        renewal = [k for k in RENEWAL if secrets.get(k)]
        if renewal and len(renewal) < 3:
            problems.append(
                Problem("refresh_token, client_id and client_secret go together (to renew the token)")
            )
        return problems

    @classmethod
    def check_options(cls, values: Mapping[str, Any]) -> list[Problem]:
        problems = super().check_options(values)
        for name in ("link", "image_url"):
            value = values.get(name)
            if isinstance(value, str) and value and (check_http_url(value, name) or len(value) > LINK_LIMIT):
                problems.append(
                    Problem(f"{name} must be an http(s) URL of at most {LINK_LIMIT} characters", "option")
                )
        for name in ("board_id", "board_section_id"):
            value = values.get(name)
            if isinstance(value, str) and value and not ID.fullmatch(value):
                problems.append(Problem(f"{name} must be a numeric id", "option"))
        frame = values.get("cover_frame")
        if isinstance(frame, int) and frame < 0:
            problems.append(Problem("cover_frame must be 0 or more seconds", "option"))
        return problems

    def validate(self, content: Content) -> list[Problem]:
        """A pin is an image or a video: one file, or `image_url`, and not both."""
        problems = super().validate(content)
        given = content.options.get("image_url")
        if not content.media and not given:
            problems.append(
                Problem("a pin needs an image or a video: --media FILE or --option image_url=URL", "media")
            )
        elif content.media and given:
            problems.append(Problem("a pin takes one image: a file or image_url, not both", "media"))
        if given and content.options.get("cover_frame") is not None:
            problems.append(Problem("cover_frame applies to a video pin", "option"))
        return problems

    # -- the network ------------------------------------------------------------------------------

    def board(self, content: Content) -> str:
        return str(content.options.get("board_id") or self.settings["board_id"])

    def payload(
        self, content: Content, media_id: str | None = None, *, encode: bool = False
    ) -> dict[str, Any]:
        """The `POST /v5/pins` body; a video's `media_id` exists only once it is uploaded, and an
        image's base64 `data` is shown by name and size unless `encode` (when it is sent)."""
        options = content.options
        body: dict[str, Any] = {"board_id": self.board(content)}
        if options.get("board_section_id"):
            body["board_section_id"] = str(options["board_section_id"])
        if options.get("title"):
            body["title"] = str(options["title"])
        body["description"] = content.text
        if options.get("link"):
            body["link"] = str(options["link"])
        file = content.media[0] if content.media else None
        if file is not None and file.alt:
            body["alt_text"] = file.alt
        body["media_source"] = self._source(content, file, media_id, encode)
        return body

    def _source(
        self, content: Content, file: MediaFile | None, media_id: str | None, encode: bool
    ) -> dict[str, Any]:
        if file is None:
            return {"source_type": "image_url", "url": str(content.options.get("image_url") or "")}
        if file.kind == "video":
            return {
                "source_type": "video_id",
                "media_id": media_id or f"<media id of {file.filename} once uploaded>",
                "cover_image_key_frame_time": int(content.options.get("cover_frame") or 0),
            }
        return {
            "source_type": "image_base64",
            "content_type": file.mime,
            "data": (
                base64.b64encode(file.data).decode("ascii")
                if encode
                else f"<base64 of {file.filename}, {file.size:,} bytes>"
            ),
        }

    # -- signing in -------------------------------------------------------------------------------

    def endpoints(self, client_id: str) -> OAuth2Endpoints:
        """Pinterest's code flow for this app [signin]: Basic client auth, 30-day access tokens."""
        return OAuth2Endpoints(
            authorize_url=self.settings.get("authorize_url") or AUTHORIZE_URL,
            token_url=f"{(self.settings.get('api_base') or API_BASE).rstrip('/')}/v5/oauth/token",
            scopes=(SCOPES,),
            client_id=client_id,
            client_secret_field="client_secret",  # noqa: S106 (secrets' names, not secrets)
            client_id_field="client_id",
        )

    def oauth2(self) -> OAuth2Endpoints | None:
        client_id = self.settings.get("oauth_client_id")
        return self.endpoints(client_id) if client_id else None

    def can_refresh(self, credentials: Mapping[str, str]) -> bool:
        return all(credentials.get(k) for k in RENEWAL)

    def refresh(self, credentials: Mapping[str, str]) -> Renewal | None:
        """The refresh-token grant [refresh], whichever way the account was added: a new access token
        (and refresh token, when given) and its end; None without the three renewal secrets.
        Pinterest refuses a spent or revoked refresh token with 400 `{"code", "message"}` and no
        OAuth `error` field, which is `AuthExpired` here as in the posting path (`api.py`)."""
        if not self.can_refresh(credentials):
            return None
        endpoints = self.endpoints(credentials["client_id"])
        try:
            return oauth2.refresh(self.http, endpoints, credentials, self.clock())
        except PermanentError as exc:
            raise AuthExpired(f"Pinterest {exc.message}") from None

    def api(self, credentials: Mapping[str, str]) -> PinterestApi:
        return PinterestApi(
            self.http,
            self.settings.get("api_base") or API_BASE,
            credentials,
            TokenCache(self.state, TOKEN_KEY),
            self.clock(),
        )

    def publish(
        self, content: Content, credentials: Mapping[str, str], idempotency_key: str
    ) -> PublishResult:
        api = self.api(credentials)
        media_id = None
        if content.media and content.media[0].kind == "video":
            media_id = self._video(api, content.media[0])
        pin = api.call("POST", "/v5/pins", json=self.payload(content, media_id, encode=True), posting=True)
        pin_id = pin.get("id")
        if not isinstance(pin_id, str) or not pin_id:
            raise OutcomeUnknown("Pinterest answered without the pin's id")
        return PublishResult(pin_id, pin_url(pin_id), 201)

    def _video(self, api: PinterestApi, video: MediaFile) -> str:
        """Register, upload and wait for a video; its `media_id` once Pinterest has processed it."""
        registered = api.call("POST", "/v5/media", json={"media_type": "video"})
        media_id, upload = registered.get("media_id"), registered.get("upload_url")
        fields = registered.get("upload_parameters")
        if not isinstance(media_id, str) or not isinstance(upload, str) or not isinstance(fields, dict):
            raise TransientError(f"Pinterest did not give an upload for {video.filename}")
        api.upload(
            upload, {str(k): str(v) for k, v in fields.items()}, video.data, video.mime, video.filename
        )
        for poll in range(POLLS):
            status = api.call("GET", f"/v5/media/{quote(media_id, safe='')}").get("status")
            if status == "succeeded":
                return media_id
            if status == "failed":
                raise PermanentError(f"Pinterest could not process the video {video.filename}")
            if poll + 1 < POLLS:
                self.http.pause(POLL_SECONDS, f"Pinterest processing {video.filename}")
        raise TransientError(f"Pinterest was still processing {video.filename}")

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
        board, section = self.board(content), content.options.get("board_section_id")
        path = f"/v5/boards/{board}/sections/{section}/pins" if section else f"/v5/boards/{board}/pins"
        wanted = self.payload(content, "-")
        bookmark: str | None = None
        for _ in range(PAGES):
            params = {"page_size": str(PAGE), **({"bookmark": bookmark} if bookmark else {})}
            page = api.call("GET", path, params=params)
            for pin in page.get("items") or []:
                if isinstance(pin, dict) and self._same(pin, wanted, sent_at):
                    return Found(PublishResult(str(pin["id"]), pin_url(str(pin["id"])), 200))
            bookmark = page.get("bookmark") if isinstance(page.get("bookmark"), str) else None
            if not bookmark:
                return Absent("not among the board's pins")
        return Undecidable(f"the board has more than {PAGE * PAGES} pins; postmast read only those")

    @staticmethod
    def _same(pin: Mapping[str, Any], wanted: Mapping[str, Any], sent_at: datetime) -> bool:
        try:
            created = datetime.fromisoformat(str(pin.get("created_at", "")).replace("Z", "+00:00"))
        except ValueError:
            return False
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        if created < sent_at - SKEW or not isinstance(pin.get("id"), str):
            return False
        return all((pin.get(k) or None) == (wanted.get(k) or None) for k in ("description", "title", "link"))

    def discover(self, credentials: Mapping[str, str]) -> dict[str, Any]:
        """The account's name and the board's (`GET /v5/user_account`, `GET /v5/boards/{id}`)."""
        api = self.api(credentials)
        user = api.call("GET", "/v5/user_account")
        board = api.call("GET", f"/v5/boards/{self.settings['board_id']}")
        facts = {"username": user.get("username"), "board": board.get("name")}
        return {k: v for k, v in facts.items() if isinstance(v, str)}
