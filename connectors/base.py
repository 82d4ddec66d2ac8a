"""The connector interface: a manifest in class attributes, validation, and publish.

One subclass per network, in its own module; `connectors.registry` finds it by
scanning the package, so adding a network edits nothing central.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from connectors.http import HttpClient
from connectors.text import graphemes, text_problems


@dataclass(frozen=True)
class Field:
    """One account setting or secret the connector needs (the manifest of `account add`)."""

    name: str
    help: str
    required: bool = True
    secret: bool = False


@dataclass(frozen=True)
class Problem:
    """Why a piece of content would be rejected by the network; shown to the user as is."""

    message: str
    code: str = "invalid"


@dataclass(frozen=True)
class Measure:
    """The length of a text by the network's own rule, and the account's limit."""

    length: int
    limit: int

    @property
    def ok(self) -> bool:
        return self.length <= self.limit


@dataclass(frozen=True)
class Content:
    """One item to publish: text plus the remote id it replies to (threads, later media)."""

    text: str
    reply_to: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PublishResult:
    """What the network answered for a published item."""

    remote_id: str
    url: str | None
    http_status: int | None = None


class Connector(ABC):
    """Base class of all connectors. Class attributes are the manifest.

    An instance is bound to one account's (non-secret) settings and an HTTP client
    whose timeouts the worker chose; credentials arrive only at publish time.
    """

    name: ClassVar[str]
    """Network id used in targets, e.g. `mastodon` in `mastodon:brand`."""
    title: ClassVar[str]
    """Human name of the network."""
    max_length: ClassVar[int]
    """Default text limit, by the network's own counting rule."""
    settings_fields: ClassVar[tuple[Field, ...]] = ()
    secret_fields: ClassVar[tuple[Field, ...]] = ()
    setup: ClassVar[str] = ""
    """How to obtain the settings and secrets (shown by `postmast account networks`)."""

    def __init__(self, settings: Mapping[str, str], http: HttpClient | None = None) -> None:
        self.settings = dict(settings)
        self.http = http or HttpClient()

    # -- manifest helpers -------------------------------------------------------------------------

    @classmethod
    def check_settings(cls, settings: Mapping[str, str]) -> list[Problem]:
        """Problems with an account's settings: unknown keys, missing required ones."""
        known = {f.name for f in cls.settings_fields}
        problems = [
            Problem(f"unknown setting {key!r} for {cls.name} (known: {', '.join(sorted(known)) or 'none'})")
            for key in settings
            if key not in known
        ]
        problems += [
            Problem(f"missing setting {f.name!r}: {f.help}")
            for f in cls.settings_fields
            if f.required and not settings.get(f.name)
        ]
        return problems

    @classmethod
    def check_secrets(cls, secrets: Mapping[str, str]) -> list[Problem]:
        """Problems with an account's secrets: unknown keys, missing required ones."""
        known = {f.name for f in cls.secret_fields}
        problems = [Problem(f"unknown secret {key!r} for {cls.name}") for key in secrets if key not in known]
        problems += [
            Problem(f"missing secret {f.name!r}: {f.help}")
            for f in cls.secret_fields
            if f.required and not secrets.get(f.name)
        ]
        return problems

    # -- text rules --------------------------------------------------------------------------------

    @property
    def limit(self) -> int:
        """This account's text limit; a `max_length` setting overrides the network default."""
        override = self.settings.get("max_length")
        return int(override) if override else self.max_length

    def count(self, text: str) -> int:
        """Length of `text` by the network's rule; graphemes unless the network says otherwise."""
        return graphemes(text)

    def measure(self, content: Content) -> Measure:
        return Measure(self.count(content.text), self.limit)

    def validate(self, content: Content) -> list[Problem]:
        """Everything that can be checked before storing: text sanity, emptiness, length."""
        problems = [Problem(p) for p in text_problems(content.text)]
        if problems:
            return problems
        if not content.text.strip():
            return [Problem("text is empty", "empty")]
        measure = self.measure(content)
        if not measure.ok:
            problems.append(
                Problem(
                    f"text is {measure.length} characters, over {self.title}'s limit of {measure.limit}",
                    "too_long",
                )
            )
        return problems

    # -- the network -------------------------------------------------------------------------------

    @abstractmethod
    def payload(self, content: Content) -> dict[str, Any]:
        """The exact request body `publish` sends for `content` (no credentials): for `--dry-run`."""

    @abstractmethod
    def publish(
        self, content: Content, credentials: Mapping[str, str], idempotency_key: str
    ) -> PublishResult:
        """Send one item. Returns its remote id and URL or raises a `connectors.errors` error."""


def check_http_url(value: str, what: str) -> list[Problem]:
    """A setting that must be an absolute http(s) URL with a host."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [Problem(f"{what} must be an absolute http(s) URL")]
    return []
