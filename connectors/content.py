"""The values connectors exchange with the rest of postmast: content in, results out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Field:
    """One account setting or secret the connector needs (the manifest of `account add`)."""

    name: str
    help: str
    required: bool = True
    secret: bool = False


@dataclass(frozen=True)
class Option:
    """A post option the network takes (the manifest of `--option NAME=VALUE`)."""

    name: str
    help: str
    kind: str = "text"
    """`text`, `choice`, `bool` or `int`."""
    choices: tuple[str, ...] = ()
    per_item: bool = False
    """True: may differ per thread item; False: one value for the whole post."""
    max_length: int | None = None

    def parse(self, raw: str) -> str | bool | int:
        """The value from a command line or a file cell; ValueError says what is accepted."""
        value = raw.strip()
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(
                    f"option {self.name} takes one of {', '.join(self.choices)}, not {value[:40]!r}"
                )
            return value
        if self.kind == "bool":
            lowered = value.lower()
            if lowered in ("true", "yes", "1", "on"):
                return True
            if lowered in ("false", "no", "0", "off"):
                return False
            raise ValueError(f"option {self.name} takes true or false, not {value[:40]!r}")
        if self.kind == "int":
            if not (value.isascii() and value.lstrip("-").isdecimal() and len(value) <= 12):
                raise ValueError(f"option {self.name} takes a whole number, not {value[:40]!r}")
            return int(value)
        if self.max_length is not None and len(raw) > self.max_length:
            raise ValueError(f"option {self.name} takes at most {self.max_length} characters")
        return raw

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "help": self.help,
            "kind": self.kind,
            "choices": list(self.choices),
            "per_item": self.per_item,
            "max_length": self.max_length,
        }


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
class MediaFile:
    """An image or video to attach, with its alt text. `data` is never printed."""

    data: bytes = field(repr=False)
    mime: str
    filename: str
    alt: str = ""
    width: int | None = None
    height: int | None = None
    duration: float | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def kind(self) -> str:
        """`image`, `gif` or `video`: networks treat the three differently."""
        if self.mime == "image/gif":
            return "gif"
        return "video" if self.mime.startswith("video/") else "image"


@dataclass(frozen=True)
class RemoteRef:
    """A published item on a network: its id, link, and what a reply to it needs (`extra`)."""

    id: str
    url: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Content:
    """One item to publish. `reply_to` is its parent, `root` the first item of its thread."""

    text: str
    media: tuple[MediaFile, ...] = ()
    reply_to: RemoteRef | None = None
    root: RemoteRef | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    """Network-neutral options: `spoiler_text` (content warning), `language`, `visibility`."""


@dataclass(frozen=True)
class PublishResult:
    """What the network answered for a published item."""

    remote_id: str
    url: str | None
    http_status: int | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def ref(self) -> RemoteRef:
        return RemoteRef(self.remote_id, self.url, dict(self.extra))


@dataclass(frozen=True)
class Found:
    """Reconciliation: the post is on the network."""

    result: PublishResult


@dataclass(frozen=True)
class Absent:
    """Reconciliation: the network confirms the post is not there; sending it is safe."""

    reason: str = ""


@dataclass(frozen=True)
class Undecidable:
    """Reconciliation: the network cannot tell (or cannot be asked); a person must decide."""

    reason: str


Lookup = Found | Absent | Undecidable
