"""Mastodon: `POST {instance}/api/v1/statuses` with an OAuth bearer token.

Every request carries an `Idempotency-Key` derived from the delivery: Mastodon keeps
keys for an hour and answers a replay with the status it already created, so a
retry after an ambiguous failure cannot post twice (docs: methods/statuses.md;
mastodon PR #2419).

Length rule (mastodon `StatusLengthValidator`): grapheme clusters of the content
warning plus the text, where every http(s) URL found by twitter-text's extractor
counts `characters_reserved_per_url` (23) and every `@user@domain` counts as
`@user`. Default limit 500; instances may raise it (`max_length` setting).

| response | error class | source |
|---|---|---|
| 200 Status | success: `id`, public URL = `url` | docs entities/Status.md; cassette test_toot |
| 401 `The access token is invalid` | AuthExpired | docs methods/statuses.md; cassette test_unauthed_... |
| 403 `This action is outside the authorized scopes` | AuthExpired (needs new scopes) | docs oauth-scopes |
| 404 `Record not found` (e.g. deleted reply target) | PermanentError | docs; cassette test_status_missing |
| 410 | PermanentError | docs methods/statuses.md |
| 422 `Validation failed: …` (localized: by status only) | PermanentError | cassettes test_status_empty, ... |
| 429 + `X-RateLimit-Reset` (ISO 8601; epoch tolerated) | RateLimited | docs api/rate-limits.md; cassettes |
| 500, 503 | TransientError (a retry replays the same key) | docs |
| 502, 504 | OutcomeUnknown (a proxy may have forwarded it) | RELIABILITY.md |
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import regex

from connectors.base import Connector, check_http_url
from connectors.content import Absent, Content, Field, Found, Lookup, Problem, PublishResult, Undecidable
from connectors.errors import AuthExpired, OutcomeUnknown, PermanentError, RateLimited, TransientError
from connectors.http import json_or_none, short_body
from connectors.ratelimit import reset_any, retry_after
from connectors.text import graphemes, http_urls

# Mastodon's Account::MENTION_RE: a username, optionally followed by @domain.
_MENTION = regex.compile(
    r"(?<![=/\w])@([a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?)(?:@[\w.-]+\w+)?",
    regex.IGNORECASE,
)
VISIBILITIES = ("public", "unlisted", "private", "direct")
IDEMPOTENCY_WINDOW = timedelta(minutes=55)
"""Mastodon keeps an Idempotency-Key for an hour; replays stay safely inside that."""
_TAG = regex.compile(r"<[^>]+>")
_BREAK = regex.compile(r"<br\s*/?>|</p>\s*<p>", regex.IGNORECASE)


def _plain(html_text: str) -> str:
    """A status's HTML `content` as plain text (links, mentions and tags keep their text)."""
    return html.unescape(_TAG.sub("", _BREAK.sub("\n", html_text)))


def _comparable(text: str) -> str:
    return " ".join(text.split())


def _instant(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _result(status: Mapping[str, Any], http_status: int) -> PublishResult:
    url = status.get("url") or status.get("uri")
    return PublishResult(str(status["id"]), str(url) if url else None, http_status)


def countable_length(text: str, spoiler_text: str = "", url_weight: int = 23) -> int:
    """Length of a status by Mastodon's rule (see the module docstring)."""
    urls = http_urls(text)
    entities: list[tuple[int, int, str]] = [(s, e, "x" * url_weight) for s, e, _ in urls]
    for match in _MENTION.finditer(text):
        start, end = match.span()
        if not any(s < end and start < e for s, e, _ in urls):
            entities.append((start, end, "@" + match.group(1)))
    entities.sort()
    pieces, cursor = [], 0
    for start, end, replacement in entities:
        pieces += [text[cursor:start], replacement]
        cursor = end
    pieces.append(text[cursor:])
    return graphemes(spoiler_text) + graphemes("".join(pieces))


class Mastodon(Connector):
    name: ClassVar[str] = "mastodon"
    title: ClassVar[str] = "Mastodon"
    max_length: ClassVar[int] = 500
    settings_fields: ClassVar[tuple[Field, ...]] = (
        Field("instance", "base URL of the server, e.g. https://mastodon.social"),
        Field("max_length", "the instance's character limit (default 500)", required=False),
        Field("visibility", "public, unlisted, private or direct (default: the account's)", required=False),
    )
    secret_fields: ClassVar[tuple[Field, ...]] = (
        Field("access_token", "an access token with the write:statuses scope", secret=True),
    )
    setup: ClassVar[str] = (
        "In Mastodon: Preferences > Development > New application, scope write:statuses (and write:media). "
        "Then: postmast account add mastodon NAME --set instance=https://your.server "
        "and paste 'Your access token' at the prompt."
    )

    @classmethod
    def check_settings(cls, settings: Mapping[str, str]) -> list[Problem]:
        problems = super().check_settings(settings)
        if settings.get("instance"):
            problems += check_http_url(settings["instance"], "instance")
        limit = settings.get("max_length")
        if limit and (not limit.isdecimal() or int(limit) < 1):
            problems.append(Problem("max_length must be a positive whole number"))
        visibility = settings.get("visibility")
        if visibility and visibility not in VISIBILITIES:
            problems.append(Problem(f"visibility must be one of {', '.join(VISIBILITIES)}"))
        return problems

    @property
    def base_url(self) -> str:
        return self.settings["instance"].rstrip("/")

    def count(self, text: str) -> int:
        return countable_length(text)

    def payload(self, content: Content) -> dict[str, Any]:
        body: dict[str, Any] = {"status": content.text}
        if content.reply_to:
            body["in_reply_to_id"] = content.reply_to.id
        visibility = content.options.get("visibility") or self.settings.get("visibility")
        if visibility:
            body["visibility"] = visibility
        return body

    def publish(
        self, content: Content, credentials: Mapping[str, str], idempotency_key: str
    ) -> PublishResult:
        response = self.http.post(
            f"{self.base_url}/api/v1/statuses",
            json=self.payload(content),
            headers={
                "Authorization": f"Bearer {credentials['access_token']}",
                "Idempotency-Key": idempotency_key,
            },
        )
        data = self._checked(response)
        if not isinstance(data, dict) or not data.get("id"):
            raise OutcomeUnknown(
                f"Mastodon answered {response.status_code} without a status id",
                http_status=response.status_code,
            )
        return _result(data, response.status_code)

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
        otherwise look for the text among the account's recent statuses."""
        age = datetime.now(UTC) - sent_at
        if replay_allowed and age < IDEMPOTENCY_WINDOW:
            try:
                return Found(self.publish(content, credentials, idempotency_key))
            except PermanentError as exc:  # a key only remembers successes: none was created
                return Absent(exc.message)
        return self._search_recent(content, credentials, sent_at)

    def _search_recent(self, content: Content, credentials: Mapping[str, str], sent_at: datetime) -> Lookup:
        headers = {"Authorization": f"Bearer {credentials['access_token']}"}
        me = self._checked(
            self.http.get(f"{self.base_url}/api/v1/accounts/verify_credentials", headers=headers)
        )
        if not isinstance(me, dict) or not me.get("id"):
            return Undecidable("Mastodon did not say which account the token belongs to")
        statuses = self._checked(
            self.http.get(
                f"{self.base_url}/api/v1/accounts/{me['id']}/statuses",
                headers=headers,
                params={"limit": 40, "exclude_reblogs": "true"},
            )
        )
        if not isinstance(statuses, list):
            return Undecidable("Mastodon answered the timeline request with something else")
        wanted = _comparable(_MENTION.sub(lambda m: "@" + m.group(1), content.text))
        for status in statuses:
            if isinstance(status, dict) and _comparable(_plain(str(status.get("content", "")))) == wanted:
                return Found(_result(status, 200))
        times = [
            t for s in statuses if isinstance(s, dict) and (t := _instant(s.get("created_at"))) is not None
        ]
        oldest = min(times, default=None)
        if oldest is not None and oldest < sent_at - timedelta(minutes=5):
            return Absent("not among the account's statuses since the attempt")
        return Undecidable("the account's recent statuses do not reach back to the attempt")

    def _checked(self, response: Any) -> Any:
        """The JSON body of a 2xx answer, or the classified error."""
        status = response.status_code
        data = json_or_none(response)
        if 200 <= status < 300:
            return data
        error = data.get("error") if isinstance(data, dict) else None
        reason = f"Mastodon answered {status}: {error or short_body(response)}"
        if status in (401, 403):
            raise AuthExpired(reason, http_status=status)
        if status == 429:
            reset = response.headers.get("X-RateLimit-Reset")
            wait = reset_any(reset) if reset else retry_after(response.headers.get("Retry-After", ""))
            raise RateLimited(reason, retry_after=wait, http_status=status)
        if status in (502, 504):
            raise OutcomeUnknown(reason, http_status=status)
        if status >= 500 or status == 408:
            raise TransientError(reason, http_status=status)
        raise PermanentError(reason, http_status=status)
