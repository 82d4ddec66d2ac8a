"""Mastodon's length rule (`connectors/mastodon/length.py`): every vector of Mastodon's own
spec/validators/status_length_validator_spec.rb, and the cases where postmast once disagreed.

The spec stubs `MAX_CHARS` to 100 (`stub_const`), so its vectors are checked against 100; the
older spec's vectors (MAX_CHARS 500) are kept too. The whole rule is proven against an
independent port of Mastodon's Ruby on generated texts by `tests/differential`.
"""

from __future__ import annotations

import pytest

from postmast.connectors.mastodon.length import (
    countable_length,
    countable_text,
    domain_to_ascii,
    mentions,
    urls,
)

SPEC_MAX = 100


def accepted(text: str, spoiler: str = "", limit: int = SPEC_MAX) -> bool:
    return countable_length(text, spoiler) <= limit


def example_link() -> str:
    return f"http://{'b' * 30}.com/example"


def test_over_the_limit_text_and_content_warning_are_refused() -> None:
    over = "a" * SPEC_MAX * 2
    assert not accepted(over)  # 'when text is over character limit'
    assert not accepted("", over)  # 'when content warning text is over character limit'
    assert not accepted("a" * 50, "a" * 55)  # 'when text and content warning combine to exceed limit'
    assert accepted("a" * 50, "a" * 50)


def test_space_separated_urls_count_23_and_glued_ones_do_not() -> None:
    assert accepted(" ".join(["a" * 76, example_link()]))  # 76 + 1 + 23 = 100
    assert not accepted("a" * 76 + example_link())  # 'when text has non-separated URLs'


def test_excessively_long_urls_are_refused() -> None:
    assert not accepted(f"http://example.com/valid?{'#foo?' * 1000}")


def test_remote_usernames_count_their_local_part() -> None:
    assert accepted(
        "a" * 75 + f" @alice@{'b' * 30}.com"
    )  # 'when remote account usernames cause limit excess'
    assert not accepted(f"@alice@{'b' * 253 * 2}.com")  # 'when remote usernames are attached to long domains'


def test_special_character_strings_count_one_each() -> None:
    assert accepted("\u2728" * SPEC_MAX)  # multibyte emoji
    assert accepted("\U0001f3f3\ufe0f\u200d\u26a7\ufe0f" * SPEC_MAX)  # ZWJ sequence


def test_the_older_spec_vectors_at_500() -> None:
    assert countable_length("a" * 476 + " http://" + "b" * 30 + ".com/example") == 500
    assert countable_length("a" * 475 + " @alice@" + "b" * 30 + ".com") == 482
    assert countable_length("b" * 251, "a" * 250) == 501
    assert countable_length("a" * 520) == 520 and countable_length("", "a" * 520) == 520


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("https://example.com/\u00fc", 23),  # a non-ASCII path stays in the URL (Mastodon's patch)
        ("https://example.com/a\u2026", 23),  # and so does a trailing ellipsis
        ("https://example.com/a.", 24),  # a trailing period does not
        *[
            (f"{scheme}://example.com/x", 23)
            for scheme in ("dat", "dweb", "ipfs", "ipns", "ssb", "gopher", "gemini")
        ],
        ("ftp://example.com/x", 19),  # not a scheme Mastodon links
        ("example.com/x", 13),  # nor a bare domain
        ("@user@example.com@foo", 21),  # followed by @: no mention
        ("@alice@example.com", 6),
        ("https://\U0001f600.com", 13),  # unassigned in Unicode 3.2: libidn refuses the domain
        ("https://b\u00fccher.de", 23),
        ("https://\u05e9\u05dc\u05d5\u05deexample.com", 23),  # a bidi violation: libidn refuses it, no URL
        ("   ", 0),  # blank: nothing to count
        ("  hi  ", 2),  # stripped first
        ("\u0915\u094d\u0937", 2),  # Ruby 3.4 (Unicode 15.0) has no Indic conjunct rule yet
    ],
)
def test_mastodons_own_rules(text: str, length: int) -> None:
    assert countable_length(text) == length


def test_the_content_warning_joins_the_text_before_counting() -> None:
    assert countable_length("\u0301x", "e") == 2  # the mark joins the warning's last letter
    assert countable_length("a", "http://example.com") == 19  # a warning's URL is not shortened


def test_pieces() -> None:
    text = "hi @bob@example.org see https://example.com/x."
    assert [u for _, _, u in urls(text)] == ["https://example.com/x"]
    assert [m for _, _, m in mentions(text)] == ["bob@example.org"]
    assert countable_text(text) == "hi @bob see " + "x" * 23 + "."
    assert (
        domain_to_ascii("b\u00fccher.de") == "xn--bcher-kva.de" and domain_to_ascii("\U0001f600.com") is None
    )
