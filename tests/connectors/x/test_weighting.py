"""X's weighted length (`connectors/x/weighting.py`): the cases where the Python port postmast used
before disagreed with twitter-text 3.1.0, each with the JavaScript library's answer.

The whole rule is proven against the library itself by `tests/differential`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from postmast.connectors.x.weighting import Config, has_invalid_characters, parse, urls, weighted_length


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("a\r\nb", 4),  # CR and LF both count (the port folded CRLF into LF)
        ("\u00a9" * 141, 141),  # a bare © is no emoji for twemoji-parser: weight 1
        ("\u00a9\ufe0f", 2),  # with VS16 it is one
        ("\u2764", 2),  # no emoji without VS16, but outside the config's ranges: 2 all the same
        ("\u2764\ufe0f", 2),
        ("שלוםexample.com", 27),  # 4 Hebrew letters (2 each) + a URL: punycode only, no IDNA checks
        ("HTTPS://EXAMPLE.COM/PATH", 23),
        ("see example.com.", 4 + 23 + 1),
        ("t.co/abcdef?x=1", 23),
        ("1\u20e3", 2),  # a keycap without VS16
        ("\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466", 2),
        ("e\u0301", 1),  # NFC first
        ("\u212a", 1),  # the Kelvin sign: NFC makes it a K
        ("", 0),
    ],
)
def test_weighted_length_is_the_libraries(text: str, length: int) -> None:
    assert weighted_length(text) == length


def test_valid_means_within_280_and_without_invalid_characters() -> None:
    assert parse("a" * 280).valid and not parse("a" * 281).valid
    assert not parse("").valid  # twitter-text: an empty post is not valid
    assert not parse("hi\ufeff").valid and has_invalid_characters("hi\ufeff")
    assert parse("\u00a9" * 280).valid


def test_ranges_are_utf16_indices_as_the_library_gives_them() -> None:
    parsed = parse("\U0001f600" + "a" * 279)
    assert (parsed.weighted_length, parsed.display_range_end, parsed.valid_range_end) == (281, 280, 279)


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("https://a.io/u'(ab) z", "https://a.io/u"),  # parentheses do not end a path after a `'`
        ("https://a.io/u(ab) z", "https://a.io/u(ab)"),
        ("https://a.io/(ab) z", "https://a.io/(ab)"),
        ("https://a.io/a.(b)c z", "https://a.io/a.(b)c"),
    ],
)
def test_a_path_ends_as_the_librarys_spliced_pattern_lets_it(text: str, url: str) -> None:
    """validUrlPath splices validUrlPathEndingChars' `[...]|(?:parens)` in without a group."""
    assert [u for _, _, u in urls(text)] == [url]


def test_urls_are_code_point_indices() -> None:
    text = "\U0001f600 go to example.com/x, or HTTP://Example.Org"
    assert urls(text) == [(8, 21, "example.com/x"), (26, 44, "HTTP://Example.Org")]
    for start, end, url in urls(text):
        assert text[start:end] == url


def test_a_config_reads_twitter_text_files() -> None:
    raw = {"maxWeightedTweetLength": 140, "scale": 1, "defaultWeight": 1, "transformedURLLength": 23}
    config = Config.from_json({**raw, "ranges": []})
    assert weighted_length("日本 https://example.com", config) == 26 and not config.emoji_parsing_enabled


def test_twitter_text_url_extraction_conformance(conformance: Path) -> None:
    """Every URL case of twitter-text's extract.yml, with and without a scheme."""
    suite = yaml.safe_load((conformance / "twitter-text/conformance/extract.yml").read_text("utf-8"))["tests"]
    failures = []
    for case in suite["urls"]:
        if [u for _, _, u in urls(case["text"])] != case["expected"]:
            failures.append(case["description"])
    for case in suite["urls_with_indices"]:
        expected = [(e["indices"][0], e["indices"][1], e["url"]) for e in case["expected"]]
        if urls(case["text"]) != expected:
            failures.append(case["description"])
    assert len(suite["urls"]) + len(suite["urls_with_indices"]) >= 100
    assert failures == []
