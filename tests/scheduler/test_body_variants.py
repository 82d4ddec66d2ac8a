"""Variants and the first comment: each target receives its own items, stored in body version 3."""

from __future__ import annotations

from postmast.connectors import FIRST_COMMENT, MediaFile, Option
from postmast.scheduler.body import Body, Item, MediaRef, OptionValue, Variant, dump, load

DECLARED = (Option("language", "x"), FIRST_COMMENT)


def test_the_most_specific_variant_wins_and_round_trips() -> None:
    body: Body[MediaRef] = Body(
        (Item("base", (MediaRef(1, "a"),)),),
        variants=(
            Variant("bluesky", (Item("short"),)),
            Variant("bluesky:brand", (Item("brand", (MediaRef(2, "b"),)), Item("more"))),
        ),
    )
    assert body.items_for("bluesky:brand")[0].text == "brand"
    assert body.items_for("bluesky:other")[0].text == "short"
    assert body.items_for("mastodon:brand")[0].text == "base"
    assert [m.id for m in body.media()] == [1, 2]
    data = dump(body)
    assert data["version"] == 3 and data["variants"][1]["items"][1] == {"text": "more", "media": []}
    assert load(data) == body


def test_a_first_comment_is_one_more_item_and_not_an_option() -> None:
    body: Body[MediaFile] = Body(
        (Item("head"), Item("tail")),
        (OptionValue("", "first_comment", "Link in here"), OptionValue("", "language", "en")),
    )
    items = body.contents("bluesky:brand", DECLARED)
    assert [c.text for c in items] == ["head", "tail", "Link in here"]
    assert all(c.options == {"language": "en"} for c in items)
    assert [c.text for c in body.contents("webhook:team", ())] == ["head", "tail"]  # not declared: no comment
