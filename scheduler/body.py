"""The post body: what a post says and how, in one typed value, serialised in one place.

A body is the thread's items (text and media), the options the user gave (each with
the scope it applies to), the remote posts its first item answers, per target, and its
variants: other items for one network or one account (`--text-for bluesky "..."`).
Media are files while a post is being queued (`Body[MediaFile]`) and stored ids once it
is (`Body[MediaRef]`); `dump` and `load` are the only code that knows the JSON shape
of `posts.content`, and every reader goes through `load`.

Options are kept as the user wrote them (`scope`, `name`, raw `value`) and resolved for
one target by `options_for`: the most specific scope wins (`NETWORK:NAME`, then
`NETWORK`, then every target), each value parsed by the target network's own declared
`Option`, so validation at queue time and use at publish time read them the same way.
Variants are resolved the same way by `items_for`: an account's variant, else its
network's, else the body's own items.

The first comment (`FIRST_COMMENT`) is the one option the core knows by name: a network
that can reply to its own posts declares it, and `contents` makes it one more item of
the thread, so the worker delivers it as a self-reply, resumably, like any thread item.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from postmast.connectors import Content, MediaFile, Option, RemoteRef

M = TypeVar("M")
N = TypeVar("N")

VERSION = 3
"""Version 1 (before options had scopes): `{"items", "options": {name: value}, "reply_to"}`;
version 2: options as `[{"scope", "name", "value"}]`; version 3 adds `variants`."""

FIRST_COMMENT = "first_comment"
"""The option a network declares when it can post a first comment (a reply by the same account)."""


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
        return applies(self.scope, target)

    @property
    def rank(self) -> int:
        """More specific scopes win: every target 0, a network 1, an account 2."""
        return rank(self.scope)


def rank(scope: str) -> int:
    """Every target 0, a network 1, an account 2."""
    return 0 if not scope else 2 if ":" in scope else 1


def applies(scope: str, target: str) -> bool:
    return scope in ("", target.partition(":")[0], target)


@dataclass(frozen=True)
class Variant(Generic[M]):
    """The items one network (`scope` = NETWORK) or one account (`NETWORK:NAME`) receives instead."""

    scope: str
    items: tuple[Item[M], ...]


def _convert(items: tuple[Item[M], ...], convert: Callable[[M], N]) -> tuple[Item[N], ...]:
    return tuple(Item(item.text, tuple(convert(m) for m in item.media)) for item in items)


@dataclass(frozen=True)
class Body(Generic[M]):
    items: tuple[Item[M], ...]
    options: tuple[OptionValue, ...] = ()
    reply_to: Mapping[str, str] = field(default_factory=dict)
    """`network:name` -> the remote id the first item answers on that account."""
    variants: tuple[Variant[M], ...] = ()

    @property
    def text(self) -> str:
        return self.items[0].text

    def with_media(self, convert: Callable[[M], N]) -> Body[N]:
        """The same body with every attachment converted (stored, or loaded)."""
        variants = tuple(Variant(v.scope, _convert(v.items, convert)) for v in self.variants)
        return Body(_convert(self.items, convert), self.options, self.reply_to, variants)

    def variant_for(self, target: str) -> Variant[M] | None:
        """The most specific variant that applies to `target` (`network:name`), if any."""
        found = [v for v in self.variants if applies(v.scope, target)]
        return max(found, key=lambda v: rank(v.scope)) if found else None

    def items_for(self, target: str) -> tuple[Item[M], ...]:
        """The items `target` receives: its variant's, else the body's own."""
        variant = self.variant_for(target)
        return variant.items if variant is not None else self.items

    def media(self) -> list[M]:
        """Every attachment of the body and of its variants."""
        groups = [self.items, *(v.items for v in self.variants)]
        return [m for items in groups for item in items for m in item.media]

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
        """The items as the connector of `target` receives them (its variant, if it has one), then
        the first comment as one more item; the first replies to `reply_to`."""
        options = self.options_for(target, declared)
        comment = options.pop(FIRST_COMMENT, None)
        items = list(self.items_for(target))
        if isinstance(comment, str) and comment.strip():
            items.append(Item(comment))
        parent = self.reply_to.get(target)
        return [
            Content(
                item.text,
                item.media,
                reply_to=RemoteRef(parent) if parent and number == 0 else None,
                options=options,
            )
            for number, item in enumerate(items)
        ]


def _dump_items(items: Sequence[Item[MediaRef]]) -> list[dict[str, Any]]:
    return [{"text": item.text, "media": [{"id": m.id, "alt": m.alt} for m in item.media]} for item in items]


def _load_items(raw_items: Sequence[Mapping[str, Any]]) -> tuple[Item[MediaRef], ...]:
    return tuple(
        Item(
            str(item["text"]),
            tuple(MediaRef(int(m["id"]), str(m.get("alt", ""))) for m in item.get("media", [])),
        )
        for item in raw_items
    )


def dump(body: Body[MediaRef]) -> dict[str, Any]:
    """The JSON stored in `posts.content`."""
    data: dict[str, Any] = {"version": VERSION, "items": _dump_items(body.items)}
    if body.options:
        data["options"] = [{"scope": o.scope, "name": o.name, "value": o.value} for o in body.options]
    if body.reply_to:
        data["reply_to"] = dict(body.reply_to)
    if body.variants:
        data["variants"] = [{"scope": v.scope, "items": _dump_items(v.items)} for v in body.variants]
    return data


def load(data: Mapping[str, Any], text: str = "") -> Body[MediaRef]:
    """A stored body, from any version; `text` stands in for a body stored without items."""
    items = _load_items(data.get("items") or [{"text": text, "media": []}])
    raw_options = data.get("options") or []
    if isinstance(raw_options, Mapping):  # version 1: every option applied to every target
        options = tuple(OptionValue("", str(k), str(v)) for k, v in raw_options.items() if v)
    else:
        options = tuple(OptionValue(str(o["scope"]), str(o["name"]), str(o["value"])) for o in raw_options)
    reply_to = {str(k): str(v) for k, v in (data.get("reply_to") or {}).items()}
    variants = tuple(Variant(str(v["scope"]), _load_items(v["items"])) for v in data.get("variants") or [])
    return Body(items, options, reply_to, variants)
