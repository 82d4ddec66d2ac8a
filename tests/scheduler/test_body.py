"""The post body: one typed value, one JSON shape, options resolved per target."""

from __future__ import annotations

import pytest

from postmast.connectors import MediaFile, Option
from postmast.scheduler.body import Body, Item, MediaRef, OptionValue, dump, load

DECLARED = (
    Option("visibility", "who sees it", kind="choice", choices=("public", "unlisted", "direct")),
    Option("spoiler_text", "a warning"),
)


def body(*options: OptionValue, reply_to: dict[str, str] | None = None) -> Body[MediaRef]:
    items = (Item("head", (MediaRef(7, "a fox"),)), Item("tail"))
    return Body(items, options, reply_to or {})


def test_dump_and_load_are_inverses() -> None:
    original = body(OptionValue("", "visibility", "unlisted"), reply_to={"mastodon:brand": "123"})
    data = dump(original)
    assert data == {
        "version": 3,
        "items": [{"text": "head", "media": [{"id": 7, "alt": "a fox"}]}, {"text": "tail", "media": []}],
        "options": [{"scope": "", "name": "visibility", "value": "unlisted"}],
        "reply_to": {"mastodon:brand": "123"},
    }
    assert load(data) == original


def test_version_1_bodies_still_load() -> None:
    """Posts stored before options had scopes: every option applied to every target."""
    data = {"items": [{"text": "old", "media": []}], "options": {"spoiler_text": "cw", "language": ""}}
    loaded = load(data)
    assert loaded.options == (OptionValue("", "spoiler_text", "cw"),)
    assert load({}, "only text").items == (Item("only text"),)


def test_the_most_specific_scope_wins_whatever_the_order() -> None:
    given = body(
        OptionValue("mastodon:brand", "visibility", "direct"),
        OptionValue("mastodon", "visibility", "unlisted"),
        OptionValue("", "visibility", "public"),
        OptionValue("", "colour", "red"),  # declared by no network of these targets: left out
    )
    assert given.options_for("mastodon:brand", DECLARED) == {"visibility": "direct"}
    assert given.options_for("mastodon:other", DECLARED) == {"visibility": "unlisted"}
    assert given.options_for("bluesky:brand", DECLARED) == {"visibility": "public"}
    assert given.options_for("webhook:team", ()) == {}


def test_a_value_the_network_refuses_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="visibility"):
        body(OptionValue("", "visibility", "everyone")).options_for("mastodon:brand", DECLARED)


def test_contents_carry_options_and_the_reply_target_on_the_first_item_only() -> None:
    png = MediaFile(b"\x89PNG", "image/png", "fox.png", "a fox")
    files = body(OptionValue("", "spoiler_text", "cw"), reply_to={"mastodon:brand": "99"}).with_media(
        lambda ref: png
    )
    head, tail = files.contents("mastodon:brand", DECLARED)
    assert (head.text, head.media, head.reply_to and head.reply_to.id) == ("head", (png,), "99")
    assert tail.reply_to is None and tail.options == head.options == {"spoiler_text": "cw"}
    assert OptionValue("mastodon:brand", "x", "1").spec == "mastodon:brand.x=1"
