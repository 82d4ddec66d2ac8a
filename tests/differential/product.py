"""postmast's own answer for each input, in the shape the reference scripts print."""

from __future__ import annotations

from typing import Any

from postmast.connectors.bluesky import facets
from postmast.connectors.mastodon.length import countable_length
from postmast.connectors.text import graphemes, utf8_length
from postmast.connectors.x.weighting import parse

MASTODON_LIMIT = 500


def x(text: str) -> dict[str, Any]:
    parsed = parse(text)
    return {"weightedLength": parsed.weighted_length, "valid": parsed.valid}


def bluesky(text: str) -> dict[str, Any]:
    found = [[f.kind, f.start, f.end, f.value] for f in facets.detect(text)]
    return {"graphemes": graphemes(text), "bytes": utf8_length(text), "facets": found}


def mastodon(pair: list[str]) -> dict[str, Any]:
    text, spoiler = pair
    length = countable_length(text, spoiler)
    return {"length": length, "ok": length <= MASTODON_LIMIT}


ANSWER = {"x": x, "bluesky": bluesky, "mastodon": mastodon}
COMPARED = {
    "x": ("weightedLength", "valid"),
    "bluesky": ("graphemes", "bytes", "facets"),
    "mastodon": ("length", "ok"),
}
