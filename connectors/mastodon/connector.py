"""Mastodon: `POST {instance}/api/v1/statuses` with an OAuth bearer token.

Every status carries an `Idempotency-Key` (the delivery's key; item N of a thread
`{key}-{N}`): Mastodon keeps keys for an hour and answers a replay with the status it
already created, before any validation, so a retry after an ambiguous failure cannot
post twice (docs methods/statuses.md; app/services/post_status_service.rb).

Threads: item N replies to item N-1 (`in_reply_to_id`), item 0 to the post the user named.
Options (declared in `options`, checked by `check_options`): `visibility` (or the account's
`visibility` setting), `spoiler_text` (content warning, per item), `language` (ISO 639-1;
Mastodon silently drops an unknown code, so it is checked here). Media:
`connectors/mastodon/media.py` (`POST /api/v2/media`, then poll); the media checks are the
base class's, fed by this server's limits (the limit properties below).

Length rule (`StatusLengthValidator`, `connectors/mastodon/length.py`, built from Mastodon's
source and proven by `tests/differential`): grapheme clusters of the stripped content warning
and text, every URL with a scheme Mastodon links counting `characters_reserved_per_url` (23) and
every `@user@domain` counting as `@user`. Limits come from `GET /api/v2/instance`
(`discover`, cached per account); the `max_length` setting overrides the character
limit; the documented defaults apply until the instance was asked (`connectors/mastodon/rules.py`).

| response                                         | error class      | source |
|--------------------------------------------------|------------------|--------|
| 200 Status: `id`, public URL `url` (else `uri`)  | success          | [Status], [toot] |
| 200 without a status id                          | OutcomeUnknown   | not Mastodon's API answering |
| 401 `The access token is invalid` / `revoked`    | AuthExpired      | [statuses], [unauthed] |
| 403 `…outside the authorized scopes` (no scope)  | AuthExpired      | [oauth], [media.rb] |
| 404 `Record not found` (deleted reply target)    | PermanentError   | [statuses], [missing] |
| 410 Gone                                         | PermanentError   | [openapi] |
| 413 on an upload (the proxy's body limit)        | PermanentError   | [nginx] |
| 422 `Validation failed: …` (localized)           | PermanentError   | [empty], [lang] |
| 422 unknown or attached `media_ids`              | PermanentError   | [delete_media] (ja) |
| 422 on upload: `File content type is invalid`    | PermanentError   | [media] |
| 422 on `GET /api/v1/media/:id`: processing failed | PermanentError  | [media], [media.rb] |
| 429, `X-RateLimit-Reset` ISO 8601 or epoch, else `Retry-After` | RateLimited | [limits], [toot], [peers] |
| 500 on upload `Error processing thumbnail…`      | TransientError (nothing posted; capped) | [media] |
| 408, 500, 503 `Remote data could not be fetched` | TransientError (a retry replays the key) | [openapi] |
| 502, 504 on a status                             | OutcomeUnknown (a proxy may have sent it) | [rel] |
| 502, 504 or no answer on an upload or a poll     | TransientError (an upload is not a post) | [cleanup] |

Sources: docs = mastodon/documentation @ 2903485da54a, content/en: [statuses]
methods/statuses.md, [media] methods/media.md, [oauth] methods/oauth.md, [Status]
entities/Status.md, [limits] api/rate-limits.md; [openapi] mastodon-openapi 4.7.0
responses of `/api/v1/statuses` and `/api/v2/media`; cassettes (mastodon-py-cassettes):
[toot] test_toot, [unauthed] test_unauthed_home_tl_throws, [missing] test_status_missing,
[empty] test_status_empty, [lang] test_lang_for_errors, [delete_media]
test_status_delete_media; mastodon source: [media.rb] app/controllers/api/v1/media_controller.rb,
[cleanup] app/workers/scheduler/media_cleanup_scheduler.rb (unattached files go after a
day), [nginx] dist/nginx.conf `client_max_body_size`; [peers] PEERS.md (the mock sends epoch);
[rel] RELIABILITY.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

import regex

from postmast.connectors.base import Connector, check_http_url
from postmast.connectors.content import (
    FIRST_COMMENT,
    Absent,
    Content,
    Field,
    Found,
    Lookup,
    Measure,
    MediaFile,
    Option,
    Problem,
    PublishResult,
    Undecidable,
)
from postmast.connectors.errors import AuthExpired, OutcomeUnknown, PermanentError
from postmast.connectors.http import host_of
from postmast.connectors.mastodon.length import countable_length
from postmast.connectors.mastodon.media import MediaUploads
from postmast.connectors.mastodon.rules import (
    LANGUAGES,
    VISIBILITIES,
    Limits,
    checked,
    created_at,
    instance_facts,
    is_this_item,
)
from postmast.connectors.oauth2 import OAuth2Endpoints

__all__ = ["IDEMPOTENCY_WINDOW", "VISIBILITIES", "Mastodon", "countable_length"]

IDEMPOTENCY_WINDOW = timedelta(minutes=55)
"""Mastodon keeps an Idempotency-Key for an hour; replays stay safely inside that."""
_STATUS_ID = regex.compile(r"[0-9A-Za-z_-]{1,64}")
"""Status ids are strings "cast from an integer but not guaranteed to be a number" (entities/Status.md)."""


def _result(status: Mapping[str, Any], http_status: int) -> PublishResult:
    url = status.get("url") or status.get("uri")
    return PublishResult(str(status["id"]), str(url) if url else None, http_status)


def _placeholder(media: MediaFile) -> str:
    return f"<id of {media.filename} once uploaded>"


OAUTH_SCOPES = ("write:statuses", "write:media", "read:statuses", "read:accounts")
"""What postmast asks for when it signs in: post, upload, and look its posts up after a lost answer."""


class Mastodon(Connector):
    name: ClassVar[str] = "mastodon"
    title: ClassVar[str] = "Mastodon"
    max_length: ClassVar[int] = Limits().max_characters
    max_media: ClassVar[int] = Limits().max_media
    media_limits: ClassVar[Mapping[str, int]] = Limits().accepted()
    max_alt_text: ClassVar[int | None] = Limits().description
    threads: ClassVar[bool] = True
    settings_fields: ClassVar[tuple[Field, ...]] = (
        Field("instance", "base URL of the server, e.g. https://mastodon.social"),
        Field("max_length", "character limit, if not the one the instance announces", required=False),
        Field("visibility", "public, unlisted, private or direct (default: the account's)", required=False),
        Field("client_id", "the OAuth app postmast registered (set by postmast account connect)", False),
    )
    secret_fields: ClassVar[tuple[Field, ...]] = (
        Field("access_token", "an access token with the write:statuses scope", secret=True),
        Field(
            "client_secret",
            "the registered app's secret (set by postmast account connect)",
            False,
            True,
            False,
        ),
    )
    setup: ClassVar[str] = (
        "In Mastodon: Preferences > Development > New application, scopes write:statuses and write:media "
        "(add read:statuses and profile so postmast can check recent posts after a lost answer). "
        "Then: postmast account add mastodon NAME --set instance=https://your.server "
        "and paste 'Your access token' at the prompt."
    )
    options: ClassVar[tuple[Option, ...]] = (
        Option(
            "spoiler_text",
            "content warning: shown instead of the text until opened (counted with the text)",
            per_item=True,
        ),
        Option("language", "the post's language: an ISO 639-1 code such as en, de or pt"),
        Option(
            "visibility",
            "who sees the post (default: the account's visibility setting, else its own default)",
            kind="choice",
            choices=VISIBILITIES,
        ),
        FIRST_COMMENT,
    )

    @classmethod
    def check_settings(cls, settings: Mapping[str, str]) -> list[Problem]:
        problems = super().check_settings(settings)
        if settings.get("instance"):
            problems += check_http_url(settings["instance"], "instance")
        visibility = settings.get("visibility")
        if visibility and visibility not in VISIBILITIES:
            problems.append(Problem(f"visibility must be one of {', '.join(VISIBILITIES)}"))
        return problems

    @classmethod
    def check_options(cls, values: Mapping[str, Any]) -> list[Problem]:
        """The declared options' checks, and `language` among ISO 639-1 codes: Mastodon drops an
        unknown code without a word, so it is refused here."""
        problems = super().check_options(values)
        language = values.get("language")
        if isinstance(language, str) and language and language not in LANGUAGES:
            problems.append(
                Problem(
                    f"language {language!r} is not an ISO 639-1 code (two lowercase letters, e.g. en)",
                    "option",
                )
            )
        return problems

    @property
    def base_url(self) -> str:
        return self.settings["instance"].rstrip("/")

    # -- signing in (postmast account connect) -----------------------------------------------------

    def register_client(self, redirect_uri: str) -> tuple[dict[str, str], dict[str, str]] | None:
        """Register postmast as an app on the instance (`POST /api/v1/apps`, methods/apps.md)."""
        response = self.http.post(
            f"{self.base_url}/api/v1/apps",
            data={
                "client_name": "postmast",
                "redirect_uris": redirect_uri,
                "scopes": " ".join(OAUTH_SCOPES),
                "website": "https://github.com/postmast/postmast",
            },
        )
        app = checked(response, self.clock())
        if not isinstance(app, dict) or not app.get("client_id") or not app.get("client_secret"):
            raise PermanentError("the instance registered the app without a client id and secret")
        return {"client_id": str(app["client_id"])}, {"client_secret": str(app["client_secret"])}

    def oauth2(self) -> OAuth2Endpoints | None:
        """The instance's Doorkeeper endpoints (methods/oauth.md): tokens do not expire, no refresh."""
        client_id = self.settings.get("client_id")
        if not client_id or not self.settings.get("instance"):
            return None
        return OAuth2Endpoints(
            authorize_url=f"{self.base_url}/oauth/authorize",
            token_url=f"{self.base_url}/oauth/token",
            scopes=OAUTH_SCOPES,
            client_id=client_id,
            refresh_field=None,
            client_secret_field="client_secret",  # noqa: S106 (a secret's name, not a secret)
        )

    # -- the instance's rules ---------------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        """What this account's instance allows (cached by `discover`; defaults until then)."""
        return Limits.from_cache(self.cache)

    @property
    def length_limit(self) -> int:
        return self.limits.max_characters

    @property
    def media_count_limit(self) -> int:
        return self.limits.max_media

    @property
    def accepted_media(self) -> Mapping[str, int]:
        return self.limits.accepted()

    @property
    def alt_text_limit(self) -> int | None:
        return self.limits.description

    @property
    def limits_source(self) -> str:
        return f"this {self.title} server"

    def alt_text_length(self, alt: str) -> int:
        return len(alt)  # a Rails length validation: code points

    def count(self, text: str) -> int:
        return countable_length(text, url_weight=self.limits.url_weight)

    def measure(self, content: Content) -> Measure:
        spoiler = content.options.get("spoiler_text") or ""
        return Measure(
            countable_length(content.text, str(spoiler), self.limits.url_weight),
            self.limit,
        )

    def validate(self, content: Content) -> list[Problem]:
        problems = super().validate(content)
        if content.reply_to and self._reply_id(content.reply_to.id) is None:
            here = host_of(self.base_url)
            problems.append(
                Problem(f"{content.reply_to.id!r} is not a status id or a link to one on {here}", "reply")
            )
        return problems

    def _reply_id(self, given: str) -> str | None:
        """A status id, or the id at the end of a status link on this instance (`…/@user/ID`)."""
        if _STATUS_ID.fullmatch(given):
            return given
        try:
            parts = urlsplit(given)
        except ValueError:
            return None
        last = parts.path.rstrip("/").rsplit("/", 1)[-1]
        if parts.netloc == host_of(self.base_url) and last.isascii() and last.isdigit():
            return last
        return None

    def validate_media(self, media: Sequence[MediaFile]) -> list[Problem]:
        """The shared checks against this server's limits, and Mastodon's own rule about video."""
        problems = super().validate_media(media)
        if len(media) > 1 and any(m.kind == "video" for m in media):
            # post_status_service.rb validate_media!: `images_and_video`
            problems.append(Problem(f"a video must be the only attachment of a {self.title} post", "media"))
        return problems

    # -- publishing -------------------------------------------------------------------------------

    def _body(self, content: Content, media_ids: Sequence[str]) -> dict[str, Any]:
        body: dict[str, Any] = {"status": content.text}
        if media_ids:
            body["media_ids"] = list(media_ids)
        if content.reply_to:
            body["in_reply_to_id"] = self._reply_id(content.reply_to.id) or content.reply_to.id
        visibility = content.options.get("visibility") or self.settings.get("visibility")
        if visibility:
            body["visibility"] = visibility
        for option in ("spoiler_text", "language"):
            if content.options.get(option):
                body[option] = content.options[option]
        return body

    def payload(self, content: Content) -> dict[str, Any]:
        """The status body; media ids are known only after the uploads, so they show as placeholders."""
        return self._body(content, [_placeholder(m) for m in content.media])

    @staticmethod
    def _auth(credentials: Mapping[str, str]) -> dict[str, str]:
        return {"Authorization": f"Bearer {credentials['access_token']}"}

    def _uploads(self, credentials: Mapping[str, str]) -> MediaUploads:
        return MediaUploads(self.http, self.base_url, self._auth(credentials), self.state, clock=self.clock)

    def publish(
        self, content: Content, credentials: Mapping[str, str], idempotency_key: str
    ) -> PublishResult:
        uploads = self._uploads(credentials)
        media_ids = uploads.ids_for(content.media, idempotency_key) if content.media else []
        try:
            result = self._post_status(content, credentials, idempotency_key, media_ids)
        except PermanentError:
            uploads.forget(idempotency_key)
            raise
        uploads.forget(idempotency_key)
        return result

    def _post_status(
        self, content: Content, credentials: Mapping[str, str], idempotency_key: str, media_ids: Sequence[str]
    ) -> PublishResult:
        response = self.http.post(
            f"{self.base_url}/api/v1/statuses",
            json=self._body(content, media_ids),
            headers={**self._auth(credentials), "Idempotency-Key": idempotency_key},
        )
        data = checked(response, self.clock())
        if not isinstance(data, dict) or not data.get("id"):
            raise OutcomeUnknown(
                f"Mastodon answered {response.status_code} without a status id",
                http_status=response.status_code,
            )
        return _result(data, response.status_code)

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
        """Replay with the same Idempotency-Key while Mastodon still remembers it (an hour);
        otherwise look for the item among the account's recent statuses.

        The worker passes each item's own key (`{key}-{N}` for item N of a thread). A replay
        of a media item reuses the ids its first attempt uploaded (kept in `state`); Mastodon
        answers a known key before it looks at the media.
        """
        age = self.clock() - sent_at
        if replay_allowed and age < IDEMPOTENCY_WINDOW:
            uploads = self._uploads(credentials)
            try:
                media_ids = uploads.ids_for(content.media, idempotency_key) if content.media else []
            except PermanentError:  # a file refused now says nothing about the status
                return self._search_recent(content, credentials, sent_at)
            try:
                result = self._post_status(content, credentials, idempotency_key, media_ids)
            except PermanentError as exc:  # a key only remembers successes: none was created
                uploads.forget(idempotency_key)
                return Absent(exc.message)
            uploads.forget(idempotency_key)
            return Found(result)
        return self._search_recent(content, credentials, sent_at)

    def _search_recent(self, content: Content, credentials: Mapping[str, str], sent_at: datetime) -> Lookup:
        if content.reply_to:
            parent = self._reply_id(content.reply_to.id) or content.reply_to.id
            content = replace(content, reply_to=replace(content.reply_to, id=parent))
        headers = self._auth(credentials)
        try:
            me = checked(
                self.http.get(f"{self.base_url}/api/v1/accounts/verify_credentials", headers=headers),
                self.clock(),
            )
            if not isinstance(me, dict) or not me.get("id"):
                return Undecidable("Mastodon did not say which account the token belongs to")
            statuses = checked(
                self.http.get(
                    f"{self.base_url}/api/v1/accounts/{me['id']}/statuses",
                    headers=headers,
                    params={"limit": 40, "exclude_reblogs": "true"},
                ),
                self.clock(),
            )
        except AuthExpired as exc:
            if exc.http_status == 403:
                return Undecidable(
                    "the token may not read the account's statuses (scopes profile and read:statuses)"
                )
            raise
        if not isinstance(statuses, list):
            return Undecidable("Mastodon answered the timeline request with something else")
        for status in statuses:
            if isinstance(status, dict) and is_this_item(status, content):
                return Found(_result(status, 200))
        times = [t for s in statuses if isinstance(s, dict) and (t := created_at(s)) is not None]
        oldest = min(times, default=None)
        if oldest is not None and oldest < sent_at - timedelta(minutes=5):
            return Absent("not among the account's statuses since the attempt")
        return Undecidable("the account's recent statuses do not reach back to the attempt")

    # -- the account's server ---------------------------------------------------------------------

    def discover(self, credentials: Mapping[str, str]) -> dict[str, Any]:
        """The instance's limits (`GET /api/v2/instance`, v1 on servers before 4.0), after checking
        the token with `GET /api/v1/accounts/verify_credentials`: 401 refuses it; 403 means a valid
        token without the `profile`/`read:accounts` scope, which publishing does not need."""
        headers = self._auth(credentials)
        me = self.http.get(f"{self.base_url}/api/v1/accounts/verify_credentials", headers=headers)
        if me.status_code != 403:
            checked(me, self.clock())
        response = self.http.get(f"{self.base_url}/api/v2/instance", headers=headers)
        if response.status_code in (404, 410):
            response = self.http.get(f"{self.base_url}/api/v1/instance", headers=headers)
        return instance_facts(checked(response, self.clock()))
