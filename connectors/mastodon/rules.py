"""Mastodon's rules, shared by the connector (`connectors/mastodon/connector.py`) and its media uploads.

- `checked`: an HTTP answer to its JSON body or the classified error (the table with its
  sources is in `connectors/mastodon/connector.py`'s docstring).
- `Limits`: what an instance allows, read from `GET /api/v2/instance` (`instance_facts`,
  cached per account by `discover`) with the documented defaults when it is unknown.
- `LANGUAGES`: ISO 639-1 codes, which `language` takes (docs methods/statuses.md).
- `is_this_item`: whether a status read back from the account is a given item (for lookups).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import regex
import requests

from postmast.connectors.content import Content
from postmast.connectors.errors import (
    AuthExpired,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
)
from postmast.connectors.http import json_or_none, short_body
from postmast.connectors.mastodon.length import mentions
from postmast.connectors.ratelimit import reset_any, retry_after

VISIBILITIES = ("public", "unlisted", "private", "direct")

# ISO 639-1, from Debian's iso-codes (iso_639-2.json, the `alpha_2` codes); Mastodon's
# LanguagesHelper::ISO_639_1 holds the same two-letter codes.
_ISO_639_1 = """
    aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da
    de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia
    id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt
    lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt
    qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to
    tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu"""
LANGUAGES = frozenset(_ISO_639_1.split())

# -- the documented defaults (used until `discover` has read the instance) --------------------------

DEFAULT_MAX_CHARACTERS = 500
"""docs entities/Instance.md `configuration[statuses][max_characters]` example; the spec vectors."""
DEFAULT_URL_WEIGHT = 23
"""docs entities/Instance.md `characters_reserved_per_url`."""
DEFAULT_MAX_MEDIA = 4
"""docs entities/Instance.md `max_media_attachments`; NETWORKS.md §3 ("default 4")."""
DEFAULT_IMAGE_SIZE = 16_777_216
"""16 MB: docs entities/Instance.md `image_size_limit` example; cassette test_instance.yaml (4.6.4)."""
DEFAULT_VIDEO_SIZE = 103_809_024
"""99 MB: docs entities/Instance.md `video_size_limit` example; cassette test_instance.yaml."""
DEFAULT_DESCRIPTION_LIMIT = 1_500
"""docs entities/Instance.md `description_limit` example (4.4.0+; a 4.6.4 server said 10000)."""
DEFAULT_MIME_TYPES = (
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/heic",
    "image/heif",
    "image/webp",
    "image/avif",
    "video/webm",
    "video/mp4",
    "video/quicktime",
    "video/ogg",
)
"""The image and video types of docs entities/Instance.md `supported_mime_types` (the example)."""


@dataclass(frozen=True)
class Limits:
    """An instance's limits; built from an account's cache, defaults where it says nothing."""

    max_characters: int = DEFAULT_MAX_CHARACTERS
    url_weight: int = DEFAULT_URL_WEIGHT
    max_media: int = DEFAULT_MAX_MEDIA
    mime_types: tuple[str, ...] = DEFAULT_MIME_TYPES
    image_size: int = DEFAULT_IMAGE_SIZE
    video_size: int = DEFAULT_VIDEO_SIZE
    description: int = DEFAULT_DESCRIPTION_LIMIT

    @classmethod
    def from_cache(cls, cache: Mapping[str, Any]) -> Limits:
        def number(key: str, default: int) -> int:
            value = cache.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default

        types = cache.get("supported_mime_types")
        return cls(
            max_characters=number("max_characters", DEFAULT_MAX_CHARACTERS),
            url_weight=number("characters_reserved_per_url", DEFAULT_URL_WEIGHT),
            max_media=number("max_media_attachments", DEFAULT_MAX_MEDIA),
            mime_types=tuple(str(t) for t in types)
            if isinstance(types, list) and types
            else DEFAULT_MIME_TYPES,
            image_size=number("image_size_limit", DEFAULT_IMAGE_SIZE),
            video_size=number("video_size_limit", DEFAULT_VIDEO_SIZE),
            description=number("description_limit", DEFAULT_DESCRIPTION_LIMIT),
        )

    def size_limit(self, mime: str) -> int | None:
        """Largest accepted file of type `mime` (None: not accepted). Video and audio share a limit."""
        if mime not in self.mime_types:
            return None
        return self.video_size if mime.startswith(("video/", "audio/")) else self.image_size

    def accepted(self) -> dict[str, int]:
        """The image and video types this instance takes, with their size limits."""
        return {
            mime: self.video_size if mime.startswith("video/") else self.image_size
            for mime in self.mime_types
            if mime.startswith(("image/", "video/"))
        }


def instance_facts(instance: Any) -> dict[str, Any]:
    """The limits in an Instance entity (v2; v1's `configuration` has the same shape)."""
    if not isinstance(instance, dict):
        return {}
    configuration = instance.get("configuration")
    configuration = configuration if isinstance(configuration, dict) else {}
    statuses = configuration.get("statuses")
    statuses = statuses if isinstance(statuses, dict) else {}
    media = configuration.get("media_attachments")
    media = media if isinstance(media, dict) else {}
    facts: dict[str, Any] = {}
    for key in ("max_characters", "max_media_attachments", "characters_reserved_per_url"):
        if isinstance(statuses.get(key), int):
            facts[key] = statuses[key]
    if "max_characters" not in facts and isinstance(instance.get("max_toot_chars"), int):
        facts["max_characters"] = instance["max_toot_chars"]  # older forks (glitch-soc, Pleroma)
    for key in ("image_size_limit", "video_size_limit", "description_limit"):
        if isinstance(media.get(key), int):
            facts[key] = media[key]
    types = media.get("supported_mime_types")
    if isinstance(types, list) and all(isinstance(t, str) for t in types):
        facts["supported_mime_types"] = types
    if isinstance(instance.get("version"), str):
        facts["version"] = instance["version"]
    return facts


# -- recognising a status -------------------------------------------------------------------------

_TAG = regex.compile(r"<[^>]+>")
_BREAK = regex.compile(r"<br\s*/?>|</p>\s*<p>", regex.IGNORECASE)


def _plain(html_text: str) -> str:
    """A status's HTML `content` as plain text (links, mentions and tags keep their text)."""
    return html.unescape(_TAG.sub("", _BREAK.sub("\n", html_text)))


def _as_rendered(text: str) -> str:
    """The text as Mastodon renders it: `@user@domain` mentions shown as `@user`."""
    pieces, cursor = [], 0
    for start, end, name in mentions(text):
        pieces += [text[cursor:start], "@" + name.split("@")[0]]
        cursor = end
    return "".join(pieces) + text[cursor:]


def _comparable(text: str) -> str:
    return " ".join(text.split())


def created_at(status: Mapping[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(status.get("created_at")).replace("Z", "+00:00"))
    except ValueError:
        return None


def is_this_item(status: Mapping[str, Any], content: Content) -> bool:
    """Whether a status on the account is this item: text, content warning, parent, media and alt."""
    wanted = _comparable(_as_rendered(content.text))
    if _comparable(_plain(str(status.get("content") or ""))) != wanted:
        return False
    spoiler = str(content.options.get("spoiler_text") or "")
    if _comparable(str(status.get("spoiler_text") or "")) != _comparable(spoiler):
        return False
    parent = status.get("in_reply_to_id")
    if (str(parent) if parent else None) != (content.reply_to.id if content.reply_to else None):
        return False
    attached = status.get("media_attachments") or []
    if not isinstance(attached, list) or len(attached) != len(content.media):
        return False
    return all(
        isinstance(a, dict) and (a.get("description") or "") == m.alt
        for a, m in zip(attached, content.media, strict=True)
    )


# -- answers -----------------------------------------------------------------------------------------


def reason_of(response: requests.Response) -> str:
    data = json_or_none(response)
    error = data.get("error") if isinstance(data, dict) else None
    return f"Mastodon answered {response.status_code}: {error or short_body(response)}"


def checked(response: requests.Response, now: datetime) -> Any:
    """The JSON body of a 2xx answer, or the classified error (see `connectors/mastodon/connector.py`);
    `now` (the connector's clock) turns a rate limit's reset instant into a wait."""
    status = response.status_code
    if 200 <= status < 300:
        return json_or_none(response)
    reason = reason_of(response)
    if status in (401, 403):
        raise AuthExpired(reason, http_status=status)
    if status == 429:
        reset = response.headers.get("X-RateLimit-Reset")
        wait = reset_any(reset, now) if reset else None
        if wait is None:
            wait = retry_after(response.headers.get("Retry-After", ""), now)
        raise RateLimited(reason, retry_after=wait, http_status=status)
    if status in (502, 504):
        raise OutcomeUnknown(reason, http_status=status)
    if status >= 500 or status == 408:
        raise TransientError(reason, http_status=status)
    raise PermanentError(reason, http_status=status)
