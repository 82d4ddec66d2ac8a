"""The values connectors exchange with the rest of postmast: content in, results out."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from postmast.connectors.text import graphemes, text_problems

OPTION_KINDS = ("text", "choice", "bool", "int")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,18}")


@dataclass(frozen=True)
class Field:
    """One account setting or secret the connector needs (the manifest of `account add`)."""

    name: str
    help: str
    required: bool = True
    secret: bool = False
    asked: bool = True
    """Whether `account add` asks for it at its prompt (False: `account connect` sets it)."""


@dataclass(frozen=True)
class SecretSet:
    """One complete way to sign in (e.g. X's four OAuth 1.0a keys, or an OAuth 2.0 token).

    A connector whose secrets are alternatives declares one per method in `secret_sets`;
    `account add` then asks which method, and collects every secret of that one, so a user
    never types three of four keys before learning the fourth was needed.
    """

    name: str
    """Identifier, e.g. `oauth1`."""
    title: str
    """What is being collected, as the prompt says it."""
    fields: tuple[str, ...]
    """Names of the `secret_fields` the method needs, all of them."""
    optional: tuple[str, ...] = ()
    """Secrets this method may also use (asked after, Enter to skip; other methods never ask them)."""


@dataclass(frozen=True)
class Renewal:
    """Credentials a network renewed (`Connector.refresh`): the whole new set, and its end."""

    secrets: dict[str, str] = field(repr=False)
    expires_at: datetime | None = None


def _shown(raw: str) -> str:
    """A value as an error message quotes it: short, and never across lines."""
    return repr(raw if len(raw) <= 40 else raw[:37] + "...")


@dataclass(frozen=True)
class Option:
    """One post option a network takes: the manifest behind `--option KEY=VALUE` and the
    `NETWORK.KEY` columns of import files. The connector declares it; the core takes it
    generically and hands the connector only its own options, parsed (`Content.options`)."""

    name: str
    """Identifier, e.g. `visibility`."""
    help: str
    """One line for `postmast account networks`."""
    kind: str = "text"
    """`text`, `choice`, `bool` or `int`: what `parse` makes of the raw value."""
    choices: tuple[str, ...] = ()
    """The accepted values of a `choice`."""
    per_item: bool = False
    """True: each item of a thread may have its own value; False: one value for the whole post."""
    max_length: int | None = None
    """Longest `text`, in characters as people see them (graphemes)."""

    def __post_init__(self) -> None:
        # A wrong declaration is a bug in the connector: fail when its module is imported.
        if not self.name.isidentifier():
            raise ValueError(f"option name {self.name!r} is not an identifier")
        if self.kind not in OPTION_KINDS:
            raise ValueError(
                f"option {self.name}: kind {self.kind!r} is not one of {', '.join(OPTION_KINDS)}"
            )
        if (self.kind == "choice") != bool(self.choices):
            raise ValueError(f"option {self.name}: choices go with kind 'choice', and it needs some")
        if self.max_length is not None and (self.kind != "text" or self.max_length < 1):
            raise ValueError(f"option {self.name}: max_length is a positive limit of a 'text'")

    @property
    def accepts(self) -> str:
        """What the option takes, in words: for messages and listings."""
        if self.kind == "choice":
            return f"one of {', '.join(self.choices)}"
        if self.kind == "bool":
            return "true or false"
        if self.kind == "int":
            return "a whole number"
        return f"text of at most {self.max_length} characters" if self.max_length else "text"

    def parse(self, raw: str) -> str | bool | int:
        """The value of `raw` (from the command line or an import file's cell).

        Raises `ValueError` with a one-line message that names the option and what it accepts.
        """
        value: str | bool | int
        if self.kind == "bool":
            word = raw.strip().lower()
            if word not in _TRUE | _FALSE:
                raise ValueError(f"{self.name} must be true or false (got {_shown(raw)})")
            value = word in _TRUE
        elif self.kind == "int":
            if not _WHOLE_NUMBER.fullmatch(raw.strip()):
                raise ValueError(f"{self.name} must be a whole number (got {_shown(raw)})")
            value = int(raw.strip())
        elif self.kind == "choice":
            value = raw.strip()
        else:
            value = raw
        problem = self.check(value)
        if problem:
            raise ValueError(problem)
        return value

    def check(self, value: Any) -> str | None:
        """Why `value` (as `parse` returns it) is not one this option takes; None when it is."""
        if self.kind == "bool":
            return None if isinstance(value, bool) else f"{self.name} must be true or false"
        if self.kind == "int":
            whole = isinstance(value, int) and not isinstance(value, bool)
            return None if whole else f"{self.name} must be a whole number"
        if not isinstance(value, str):
            return f"{self.name} must be {self.accepts}"
        if self.kind == "choice":
            return (
                None if value in self.choices else f"{self.name} must be {self.accepts} (got {_shown(value)})"
            )
        broken = text_problems(value)
        if broken:
            return f"{self.name} {broken[0].removeprefix('text ')}"
        if self.max_length is not None and graphemes(value) > self.max_length:
            return f"{self.name} is {graphemes(value)} characters, over the limit of {self.max_length}"
        return None

    def as_dict(self) -> dict[str, Any]:
        """The declaration as JSON (for `--json` listings)."""
        return {
            "name": self.name,
            "help": self.help,
            "kind": self.kind,
            "choices": list(self.choices),
            "per_item": self.per_item,
            "max_length": self.max_length,
        }


FIRST_COMMENT = Option(
    "first_comment",
    "a first comment: posted by the same account as a reply, right after the post (and its thread)",
)
"""Declared by the networks that can reply to their own posts; the post body makes it the last item."""


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
    """This network's options (those its connector declares in `options`), values as `Option.parse`
    returns them; a per-item option may differ from item to item."""


@dataclass(frozen=True)
class PublishResult:
    """What the network answered for a published item."""

    remote_id: str
    url: str | None
    http_status: int | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    """What was sent differently from what the text asked (e.g. a mention sent as plain text);
    the delivery's report line shows them."""

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
