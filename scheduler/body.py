"""The post body: what a post says and how, in one typed value, serialised in one place.

A body is the thread's items (text and media), the options the user gave (each with
the scope it applies to) and the remote posts its first item answers, per target.
Media are files while a post is being queued (`Body[MediaFile]`) and stored ids once it
is (`Body[MediaRef]`); `dump` and `load` are the only code that knows the JSON shape
of `posts.content`, and every reader goes through `load`.

Options are kept as the user wrote them (`scope`, `name`, raw `value`) and resolved for
one target by `options_for`: the most specific scope wins (`NETWORK:NAME`, then
`NETWORK`, then every target), each value parsed by the target network's own declared
`Option`, so validation at queue time and use at publish time read them the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from postmast.connectors import Content, MediaFile, Option, RemoteRef

M = TypeVar("M")
N = TypeVar("N")

VERSION = 2
"""Version 1 (before options had scopes): `{"items", "options": {name: value}, "reply_to"}`."""


@dataclass(frozen=True)
class MediaRef:
    """A stored attachment: the `media` row's id and its alt text."""

    id: int
    alt: str = ""


@dataclass(frozen=True)
class Item(Generic[M]):
    """One item of a thread: its text and attachments."""

    text: str
    media: tuple[M, ...] = ()


@dataclass(frozen=True)
class OptionValue:
    """One `--option`: `scope` is "" (every target that takes it), `NETWORK` or `NETWORK:NAME`."""

    scope: str
    name: str
    value: str

    @property
    def spec(self) -> str:
        """As the user writes it: `[SCOPE.]NAME=VALUE`."""
        return f"{self.scope + '.' if self.scope else ''}{self.name}={self.value}"

    def applies_to(self, target: str) -> bool:
        network = target.partition(":")[0]
        return self.scope in ("", network, target)

    @property
    def rank(self) -> int:
        """More specific scopes win: every target 0, a network 1, an account 2."""
        return 0 if not self.scope else 2 if ":" in self.scope else 1


@dataclass(frozen=True)
class Body(Generic[M]):
    items: tuple[Item[M], ...]
    options: tuple[OptionValue, ...] = ()
    reply_to: Mapping[str, str] = field(default_factory=dict)
    """`network:name` -> the remote id the first item answers on that account."""

    @property
    def text(self) -> str:
        return self.items[0].text

    def with_media(self, convert: Callable[[M], N]) -> Body[N]:
        """The same body with every attachment converted (stored, or loaded)."""
        items = tuple(Item(item.text, tuple(convert(m) for m in item.media)) for item in self.items)
        return Body(items, self.options, self.reply_to)

    def options_for(self, target: str, declared: Sequence[Option]) -> dict[str, Any]:
        """The options `target` receives, parsed by its network's `declared` options.

        Names its network does not declare are left out (a post-wide `--option` applies to the
        targets that take it). Raises ValueError with the option's own message for a bad value.
        """
        known = {option.name: option for option in declared}
        chosen: dict[str, OptionValue] = {}
        for given in self.options:
            if given.name in known and given.applies_to(target):
                current = chosen.get(given.name)
                if current is None or given.rank >= current.rank:
                    chosen[given.name] = given
        return {name: known[name].parse(given.value) for name, given in chosen.items()}

    def contents(self: Body[MediaFile], target: str, declared: Sequence[Option]) -> list[Content]:
        """The items as the connector of `target` receives them; the first replies to `reply_to`."""
        options = self.options_for(target, declared)
        parent = self.reply_to.get(target)
        return [
            Content(
                item.text,
                item.media,
                reply_to=RemoteRef(parent) if parent and number == 0 else None,
                options=options,
            )
            for number, item in enumerate(self.items)
        ]


def dump(body: Body[MediaRef]) -> dict[str, Any]:
    """The JSON stored in `posts.content`."""
    data: dict[str, Any] = {
        "version": VERSION,
        "items": [
            {"text": item.text, "media": [{"id": m.id, "alt": m.alt} for m in item.media]}
            for item in body.items
        ],
    }
    if body.options:
        data["options"] = [{"scope": o.scope, "name": o.name, "value": o.value} for o in body.options]
    if body.reply_to:
        data["reply_to"] = dict(body.reply_to)
    return data


def load(data: Mapping[str, Any], text: str = "") -> Body[MediaRef]:
    """A stored body, from either version; `text` stands in for a body stored without items."""
    raw_items = data.get("items") or [{"text": text, "media": []}]
    items = tuple(
        Item(
            str(item["text"]),
            tuple(MediaRef(int(m["id"]), str(m.get("alt", ""))) for m in item.get("media", [])),
        )
        for item in raw_items
    )
    raw_options = data.get("options") or []
    if isinstance(raw_options, Mapping):  # version 1: every option applied to every target
        options = tuple(OptionValue("", str(k), str(v)) for k, v in raw_options.items() if v)
    else:
        options = tuple(OptionValue(str(o["scope"]), str(o["name"]), str(o["value"])) for o in raw_options)
    reply_to = {str(k): str(v) for k, v in (data.get("reply_to") or {}).items()}
    return Body(items, options, reply_to)
