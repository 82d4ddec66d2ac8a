"""Rich-text facets against every case of the reference client's test suite (UTF-8 byte offsets).

The whole rule is proven against `@atproto/api` itself on generated texts by `tests/differential`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postmast.connectors.bluesky import Bluesky, facets
from postmast.connectors.content import Content, Measure
from postmast.connectors.text import graphemes, utf8_length

VECTORS = "bluesky-atproto/derived/richtext-facet-vectors.json"


def vectors(conformance: Path, section: str) -> list[dict[str, Any]]:
    return list(json.loads((conformance / VECTORS).read_text())[section])


def fake_did(handle: str) -> str:
    return f"did:fake:{handle}"  # how the reference tests resolve every handle


def test_every_mention_and_link_case(conformance) -> None:
    cases = vectors(conformance, "mentions_and_links")
    assert len(cases) == 40
    failures = []
    for case in cases:
        resolved, unresolved = facets.resolve(facets.detect(case["text"]), fake_did)
        assert unresolved == []
        got = [f.as_json() for f in resolved]
        expected = [{"index": e["index"], "features": e["features"]} for e in case["expected_facets"]]
        if got != expected:
            failures.append((case["text"], got, expected))
        for facet in case["expected_facets"]:  # the vectors' own byte ranges cover the right text
            index = facet["index"]
            assert case["text"].encode()[index["byteStart"] : index["byteEnd"]].decode() == facet["text"]
    assert failures == []
    assert sum(len(c["expected_facets"]) for c in cases) == 41  # cases that must find something do


@pytest.mark.parametrize(("section", "count", "found"), [("hashtags", 39, 33), ("cashtags", 18, 13)])
def test_every_hashtag_and_cashtag_case(conformance, section, count, found) -> None:
    cases = vectors(conformance, section)
    assert len(cases) == count
    failures = []
    for case in cases:
        tags = [
            f
            for f in facets.detect(case["text"])
            if f.kind == facets.TAG and f.value.startswith("$") == (section == "cashtags")
        ]
        got = ([t.value for t in tags], [{"byteStart": t.start, "byteEnd": t.end} for t in tags])
        if got != (case["expected_tags"], case["expected_indices"]):
            failures.append((case["text"], got))
    assert failures == []
    assert sum(len(c["expected_tags"]) for c in cases) == found


def test_length_cases_count_graphemes_and_bytes(conformance) -> None:
    cases = vectors(conformance, "length")
    assert len(cases) == 3
    connector = Bluesky({"handle": "brand.test"})
    for case in cases:
        assert utf8_length(case["text"]) == case["utf8_length"]
        assert graphemes(case["text"]) == connector.count(case["text"]) == case["grapheme_length"]
        assert connector.measure(Content(case["text"])) == Measure(case["grapheme_length"], 300)


def test_unresolvable_mentions_get_no_facet_are_named_and_each_handle_is_asked_once() -> None:
    asked: list[str] = []

    def did_of(handle: str) -> str | None:
        asked.append(handle)
        return "did:plc:bob" if handle == "bob.test" else None

    text = "@bob.test @ghost.test @Bob.test https://x.com"
    found, unresolved = facets.resolve(facets.detect(text), did_of)
    assert [(f.kind, f.value) for f in found] == [
        (facets.MENTION, "did:plc:bob"),
        (facets.MENTION, "did:plc:bob"),
        (facets.LINK, "https://x.com"),
    ]
    assert asked == ["bob.test", "ghost.test"] and unresolved == ["ghost.test"]
    assert facets.mentioned(facets.detect(text)) == ["bob.test", "ghost.test"]


def test_overlapping_candidates_are_all_kept_as_the_app_keeps_them() -> None:
    text = "see example.com/($AAPL) and $AAPL"
    found = facets.detect(text)
    assert [(f.kind, f.value) for f in found] == [
        (facets.LINK, "https://example.com/($AAPL)"),
        (facets.TAG, "$AAPL"),  # inside the link: detectFacets does not de-overlap
        (facets.TAG, "$AAPL"),
    ]
    assert text.encode()[found[1].start : found[1].end] == b"$AAPL"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HTTPS://EXAMPLE.COM and EXAMPLE.COM", []),  # the app's scheme and TLD checks are case-sensitive
        ("@UPPER.BSKY.SOCIAL", []),
        ("hi\ufeff#tag", [(facets.TAG, "tag")]),  # U+FEFF is white space for JavaScript
        ("a\u0085#tag", []),  # U+0085 is not
        ("x\u2028example.com", [(facets.LINK, "https://example.com")]),
        ("(https://x.com/a)", [(facets.LINK, "https://x.com/a")]),
    ],
)
def test_javascript_semantics_decide(text: str, expected: list[tuple[str, str]]) -> None:
    assert [(f.kind, f.value) for f in facets.detect(text)] == expected


def test_tags_longer_than_the_lexicon_allows_are_not_facets() -> None:
    assert [f.value for f in facets.detect("#" + "🦋" * 64)] == ["🦋" * 64]
    assert facets.detect("#" + "🦋" * 65) == []


def test_first_link_is_the_card() -> None:
    found = facets.detect("@bob.test read example.org/a then https://b.example.com")
    assert facets.first_link(found) == "https://example.org/a"
    assert facets.first_link(facets.detect("no link #here")) is None


@given(
    st.lists(
        st.sampled_from(
            ["héllo ", "👨‍👩‍👧‍👧 ", "日本 ", "@bob.test ", "#tag ", "example.com/é ", "$AAPL ", "\n", "(x) "]
        ),
        max_size=12,
    )
)
def test_byte_ranges_always_cut_the_text_at_character_boundaries(parts: list[str]) -> None:
    text = "".join(parts)
    data = text.encode()
    previous_start = 0
    for facet in facets.detect(text):
        piece = data[facet.start : facet.end].decode()  # raises if a range splits a character
        assert facet.start >= previous_start and piece.strip() == piece and piece
        previous_start = facet.start
        if facet.kind == facets.TAG:
            assert piece in ("#" + facet.value, facet.value)
        elif facet.kind == facets.MENTION:
            assert piece == "@" + facet.value
        else:
            assert facet.value.endswith(piece.removeprefix("https://"))
