"""Bluesky (AT Protocol): `com.atproto.repo.createRecord` of an `app.bsky.feed.post` on the account's PDS.

Login with an app password (`createSession`); the session lives in the account's encrypted state
and is refreshed on `ExpiredToken`, never re-created per post (connectors/bluesky/atproto.py). Rich text
facets (links, mentions, hashtags) with UTF-8 byte offsets come from connectors/bluesky/facets.py.

Never twice: each item's record key is a TID derived from its idempotency key
(connectors/bluesky/tid.py), so a retry asks for the same key and the repository cannot hold a second
post under it. The reference PDS answers a reused key with 500 (observed, PEERS.md): the record
is then read back with `getRecord` and returned as the success if its text is ours. `lookup`
reads the same key.

Length: at most 300 graphemes and 3000 UTF-8 bytes (lexicon app.bsky.feed.post `maxGraphemes`,
`maxLength`). Images: up to 4 per post, each at most 1,000,000 bytes (bsky-docs posts.md; the
PDS does not check: PEERS.md), with alt text and `aspectRatio` from the image's size. Without
images, the first link becomes a link card (`app.bsky.embed.external`) whose title is the URL and
description empty: postmast fetches nothing but the PDS. Video is not supported: it needs
Bluesky's video service (`app.bsky.video.*`) to be processed for playback.

Mentions (connectors/bluesky/mentions.py): `publish` resolves each handle to a DID; one that does not
resolve is sent as plain text and named on the delivery's report line (`PublishResult.notes`). The
dry run (`payload`, `notes`) shows the DID the account's service gives now, or a marker and a warning.

Replies: `reply.parent` is the previous item (uri and cid from its `PublishResult.extra`) or the
post the user named (an `at://` URI or a bsky.app link, read with `getRecord`); `reply.root` is
the thread's root, carried in every item's `extra` as `root_uri`/`root_cid`.

Sources: spec = lexicons and OpenAPI error enums (bsky-docs atproto-openapi-types), xrpc-server
`ResponseType`; PDS = observed on the reference PDS (@atproto/pds 0.5.35, PEERS.md); doc = bsky-docs.

| answer | error class | source |
|---|---|---|
| 200 `{uri, cid}` | success; `https://bsky.app/profile/{handle}/post/{rkey}` | spec createRecord |
| 400 `ExpiredToken` | refreshSession, the call again; then AuthExpired | spec; PDS (400, not 401) |
| 400 `InvalidToken` | one createSession, the call again; then AuthExpired | spec; PDS |
| 401 `AuthMissing`; login: 401 `AuthenticationRequired` | AuthExpired | spec; PDS |
| login: `AccountTakedown`, `AuthFactorTokenRequired` | AuthExpired | spec createSession |
| 400 `InvalidRequest` (`grapheme too big`), `InvalidSwap` | PermanentError | spec; PDS |
| 400 `RecordNotFound` (getRecord) | reply target: PermanentError; lookup: Absent | spec; PDS |
| 400 `HandleNotFound` (resolveHandle) | no mention facet; the report line names it | spec; PDS |
| 429 `RateLimitExceeded`, `RateLimit-Reset` (epoch s) | RateLimited | spec; doc rate-limits.md |
| 500 from createRecord, record key taken | getRecord: our text → success | PDS (PEERS.md) |
| 500, 503 `NotEnoughResources`, other 5xx | TransientError (a retry reuses the key) | spec |
| 502 `UpstreamFailure`, 504 `UpstreamTimeout` | createRecord: OutcomeUnknown; else Transient | spec |
| 413 `PayloadTooLarge`, 415, other 4xx | PermanentError | spec |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import regex

from postmast.connectors.base import Connector, check_http_url
from postmast.connectors.bluesky import facets, tid
from postmast.connectors.bluesky.atproto import Session
from postmast.connectors.bluesky.mentions import Handles
from postmast.connectors.content import (
    FIRST_COMMENT,
    Absent,
    Content,
    Field,
    Found,
    Lookup,
    MediaFile,
    Option,
    Problem,
    PublishResult,
    RemoteRef,
    Undecidable,
)
from postmast.connectors.errors import PermanentError, TransientError
from postmast.connectors.text import text_problems, utf8_length

POST = "app.bsky.feed.post"
DEFAULT_SERVICE = "https://bsky.social"
MAX_BYTES = 3000
_LANGUAGE = regex.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")
_BSKY_APP = regex.compile(r"https://(?:www\.)?bsky\.app/profile/([^/\s]+)/post/([^/?#\s]+)/?")
_AT_URI = regex.compile(r"at://([^/\s]+)/([^/\s]+)/([^/?#\s]+)")


def post_address(reference: str) -> tuple[str, str, str] | None:
    """(repo, collection, rkey) of a post named by an `at://` URI or a bsky.app link."""
    if match := _AT_URI.fullmatch(reference.strip()):
        return match.group(1), match.group(2), match.group(3)
    if match := _BSKY_APP.fullmatch(reference.strip()):
        return match.group(1), POST, match.group(2)
    return None


def _strong(uri: Any, cid: Any) -> dict[str, str] | None:
    return {"uri": uri, "cid": cid} if isinstance(uri, str) and isinstance(cid, str) else None


def _root_of(ref: RemoteRef | None) -> dict[str, str] | None:
    """The thread root an earlier item of ours recorded (or the item itself)."""
    if ref is None:
        return None
    return _strong(ref.extra.get("root_uri"), ref.extra.get("root_cid")) or _strong(
        ref.extra.get("uri"), ref.extra.get("cid")
    )


def _created_at(now: datetime) -> str:
    """`createdAt` as the reference client writes it: UTC, milliseconds, `Z`."""
    return now.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Bluesky(Connector):
    name: ClassVar[str] = "bluesky"
    title: ClassVar[str] = "Bluesky"
    max_length: ClassVar[int] = 300
    settings_fields: ClassVar[tuple[Field, ...]] = (
        Field("handle", "the account's handle, e.g. brand.bsky.social (or set identifier)", required=False),
        Field("identifier", "what to log in with instead of the handle: email or DID", required=False),
        Field("service", f"base URL of the account's PDS or entryway (default {DEFAULT_SERVICE})", False),
    )
    sign_in_settings: ClassVar[tuple[str, ...]] = ("handle",)
    secret_fields: ClassVar[tuple[Field, ...]] = (
        Field(
            "app_password", "an app password (Settings > Privacy and security > App passwords)", secret=True
        ),
    )
    setup: ClassVar[str] = (
        "In Bluesky: Settings > Privacy and security > App passwords > Add App Password. Then: "
        "postmast account add bluesky NAME --set handle=you.bsky.social and paste the app password. "
        "Self-hosted PDS: add --set service=https://your.pds"
    )
    max_media: ClassVar[int] = 4
    media_limits: ClassVar[Mapping[str, int]] = {
        "image/jpeg": 1_000_000,
        "image/png": 1_000_000,
        "image/webp": 1_000_000,
    }
    max_alt_text: ClassVar[int | None] = 2000
    threads: ClassVar[bool] = True
    options: ClassVar[tuple[Option, ...]] = (
        Option("language", "the post's language: a tag such as en or pt-BR (sent as the record's langs)"),
        FIRST_COMMENT,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handles: Handles | None = None

    @classmethod
    def check_settings(cls, settings: Mapping[str, str]) -> list[Problem]:
        problems = super().check_settings(settings)
        if not settings.get("handle") and not settings.get("identifier"):
            problems.append(Problem("missing setting 'handle': the account's handle, e.g. brand.bsky.social"))
        if settings.get("service"):
            problems += check_http_url(settings["service"], "service")
        return problems

    @classmethod
    def check_options(cls, values: Mapping[str, Any]) -> list[Problem]:
        """The declared options' checks, and `language` as a language tag."""
        language = values.get("language")
        return super().check_options(values) + (
            _language_problems(language) if isinstance(language, str) else []
        )

    # -- text, media and options -------------------------------------------------------------------

    def validate(self, content: Content) -> list[Problem]:
        problems = super().validate(content)
        if not text_problems(content.text) and utf8_length(content.text) > MAX_BYTES:
            size = utf8_length(content.text)
            problems.append(Problem(f"text is {size} bytes, over Bluesky's limit of {MAX_BYTES}", "too_long"))
        reply = content.reply_to
        if (
            reply is not None
            and not _strong(reply.extra.get("uri"), reply.extra.get("cid"))
            and post_address(reply.id) is None
        ):
            problems.append(
                Problem("a Bluesky reply needs an at:// URI or a bsky.app post link to answer", "reply")
            )
        return problems

    def payload(self, content: Content) -> dict[str, Any]:
        """The createRecord body. Mentions carry the DIDs the account's service gives now (or the
        marker of connectors/bluesky/mentions.py); what only sending can tell (uploaded blobs, a
        parent's cid, the record key) is shown as a placeholder."""
        found = self.handles.shown(facets.detect(content.text))
        reply = None
        if content.reply_to is not None:
            extra = content.reply_to.extra
            parent = _strong(extra.get("uri"), extra.get("cid")) or {
                "uri": content.reply_to.id,
                "cid": "(read when sent)",
            }
            reply = {"root": _root_of(content.root) or _root_of(content.reply_to) or parent, "parent": parent}
        images = [
            {"$type": "blob", "ref": {"$link": f"(uploaded when sent: {m.filename})"}, "mimeType": m.mime}
            for m in content.media
        ]
        return {
            "repo": self.cache.get("did") or self.state.get("did") or "(the account's DID)",
            "collection": POST,
            "record": self._record(content, found, images, reply),
        }

    def _record(
        self,
        content: Content,
        found: list[facets.Facet],
        blobs: list[dict[str, Any]],
        reply: dict[str, Any] | None,
    ) -> dict[str, Any]:
        record: dict[str, Any] = {"$type": POST, "text": content.text, "createdAt": _created_at(self.clock())}
        if found:
            record["facets"] = [f.as_json() for f in found]
        if reply:
            record["reply"] = reply
        if content.media:
            record["embed"] = {
                "$type": "app.bsky.embed.images",
                "images": [_image(m, blob) for m, blob in zip(content.media, blobs, strict=True)],
            }
        elif link := facets.first_link(found):
            record["embed"] = {
                "$type": "app.bsky.embed.external",
                "external": {"uri": link, "title": link, "description": ""},
            }
        if content.options.get("language"):
            record["langs"] = [str(content.options["language"])]
        return record

    def notes(self, content: Content) -> list[str]:
        """A warning for each mentioned handle that does not resolve now (see `payload`)."""
        return self.handles.warnings(content.text)

    @property
    def handles(self) -> Handles:
        """The dry run's resolutions, asked of the account's service without credentials."""
        if self._handles is None:
            self._handles = Handles(self.http, self.service)
        return self._handles

    # -- the network -------------------------------------------------------------------------------

    @property
    def service(self) -> str:
        return (self.settings.get("service") or DEFAULT_SERVICE).rstrip("/")

    def _session(self, credentials: Mapping[str, str]) -> Session:
        identifier = (
            (self.settings.get("identifier") or self.settings.get("handle") or "").strip().lstrip("@")
        )
        password = credentials["app_password"]
        return Session(self.http, self.service, identifier, password, self.state, clock=self.clock).begin()

    def discover(self, credentials: Mapping[str, str]) -> dict[str, Any]:
        """Log in (or check the stored session) and remember the account's DID and handle."""
        session = self._session(credentials)
        if session.active:
            info = session.call("GET", "com.atproto.server.getSession")
            if isinstance(info, dict) and isinstance(info.get("handle"), str):
                self.state["handle"] = info["handle"]
        else:
            session.login()
        found = {"did": str(self.state["did"]), "handle": str(self.state["handle"])}
        self.cache.update(found)
        return found

    def publish(
        self, content: Content, credentials: Mapping[str, str], idempotency_key: str
    ) -> PublishResult:
        problems = self.validate(content)
        if problems:
            raise PermanentError("; ".join(p.message for p in problems))
        session = self._session(credentials)
        did = str(session.ensure()["did"])
        reply = self._reply(session, content)
        found, unresolved = facets.resolve(
            facets.detect(content.text), lambda handle: self._did_of(session, handle)
        )
        notes = tuple(
            f"mention @{handle} did not resolve to a Bluesky account: sent as plain text"
            for handle in unresolved
        )
        blobs = [self._upload(session, m) for m in content.media]
        record = self._record(content, found, blobs, reply)
        rkey = tid.from_key(idempotency_key)
        body = {"repo": did, "collection": POST, "rkey": rkey, "record": record}
        try:
            created = session.call("POST", "com.atproto.repo.createRecord", json=body, sent_post=True)
        except TransientError as exc:
            if exc.http_status != 500:
                raise
            existing = self._get(session, did, POST, rkey)  # 500 for a key that is taken (observed)
            if existing is None:
                raise
            if existing["value"].get("text") != content.text:
                raise PermanentError(f"record key {rkey} already holds a different post") from None
            return replace(self._result(existing), notes=notes)
        if not isinstance(created, dict) or not _strong(created.get("uri"), created.get("cid")):
            raise PermanentError("Bluesky answered createRecord without the post's uri and cid")
        return replace(
            self._result({"uri": created["uri"], "cid": created["cid"], "value": record}), notes=notes
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
        """Read the item's own record key: there, or certainly not (the key is ours alone)."""
        session = self._session(credentials)
        did = self.state.get("did") or self.cache.get("did") or session.ensure()["did"]
        rkey = tid.from_key(idempotency_key)
        existing = self._get(session, str(did), POST, rkey)
        if existing is None:
            return Absent(f"no post under its record key {rkey}")
        if existing["value"].get("text") != content.text:
            return Undecidable(f"record key {rkey} holds a post with another text")
        return Found(self._result(existing))

    # -- steps -------------------------------------------------------------------------------------

    def _get(self, session: Session, repo: str, collection: str, rkey: str) -> dict[str, Any] | None:
        """A record as `{uri, cid, value}`, or None when the repository has no such record."""
        try:
            view = session.call(
                "GET",
                "com.atproto.repo.getRecord",
                auth=False,
                params={"repo": repo, "collection": collection, "rkey": rkey},
            )
        except PermanentError as exc:
            if exc.http_status == 404 or "RecordNotFound" in exc.message:
                return None
            raise
        if not isinstance(view, dict) or not _strong(view.get("uri"), view.get("cid")):
            raise TransientError("Bluesky answered getRecord without the record's uri and cid")
        if not isinstance(view.get("value"), dict):
            view["value"] = {}
        return view

    def _reply(self, session: Session, content: Content) -> dict[str, Any] | None:
        """`reply.root` and `reply.parent` strong refs for an item that answers a post."""
        target = content.reply_to
        if target is None:
            return None
        parent = _strong(target.extra.get("uri"), target.extra.get("cid"))
        root = _root_of(content.root)
        if parent is None:  # a post the user named: read its cid and its own thread root
            address = post_address(target.id)
            if address is None:
                raise PermanentError(f"cannot reply to {target.id!r}: not an at:// URI or bsky.app link")
            view = self._get(session, *address)
            if view is None:
                raise PermanentError(f"the post to reply to does not exist: {target.id}")
            parent = {"uri": view["uri"], "cid": view["cid"]}
            their = view["value"].get("reply")
            root = root or (
                _strong(their["root"].get("uri"), their["root"].get("cid")) if _has_root(their) else None
            )
        return {"root": root or _root_of(target) or parent, "parent": parent}

    def _did_of(self, session: Session, handle: str) -> str | None:
        try:
            answer = session.call(
                "GET", "com.atproto.identity.resolveHandle", auth=False, params={"handle": handle}
            )
        except PermanentError:  # HandleNotFound, InvalidRequest "Unable to resolve handle"
            return None
        did = answer.get("did") if isinstance(answer, dict) else None
        return did if isinstance(did, str) else None

    def _upload(self, session: Session, media: MediaFile) -> dict[str, Any]:
        answer = session.call(
            "POST", "com.atproto.repo.uploadBlob", data=media.data, headers={"Content-Type": media.mime}
        )
        blob = answer.get("blob") if isinstance(answer, dict) else None
        if not isinstance(blob, dict):
            raise TransientError(f"Bluesky answered uploadBlob for {media.filename} without a blob")
        return blob

    def _result(self, view: Mapping[str, Any]) -> PublishResult:
        uri, cid = str(view["uri"]), str(view["cid"])
        their = view["value"].get("reply")
        root = _strong(their["root"].get("uri"), their["root"].get("cid")) if _has_root(their) else None
        root = root or {"uri": uri, "cid": cid}
        extra = {"uri": uri, "cid": cid, "root_uri": root["uri"], "root_cid": root["cid"]}
        return PublishResult(uri, self.public_url(uri), 200, extra)

    def public_url(self, uri: str) -> str:
        """`https://bsky.app/profile/{handle}/post/{rkey}` (the DID when the handle is unknown)."""
        address = post_address(uri)
        repo, rkey = (address[0], address[2]) if address else ("", urlsplit(uri).path.rsplit("/", 1)[-1])
        actor = self.cache.get("handle") or self.state.get("handle") or repo
        return f"https://bsky.app/profile/{actor}/post/{rkey}"


def _language_problems(language: Any) -> list[Problem]:
    if language and not _LANGUAGE.fullmatch(str(language)):
        return [Problem(f"language {language!r} is not a language tag such as en or pt-BR", "option")]
    return []


def _has_root(reply: Any) -> bool:
    return isinstance(reply, dict) and isinstance(reply.get("root"), dict)


def _image(media: MediaFile, blob: dict[str, Any]) -> dict[str, Any]:
    image: dict[str, Any] = {"image": blob, "alt": media.alt}
    if media.width and media.height:
        image["aspectRatio"] = {"width": media.width, "height": media.height}
    return image
