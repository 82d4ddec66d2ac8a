"""MarkdownV2 escaping: every reserved character arrives literally, by a separate reading of the rules
(the contract server's parser), and Telegram's length rule (code points after parsing)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postmast.connectors.telegram.markdown import RESERVED, escape, length
from tests.servers.telegram import RESERVED as SERVER_RESERVED
from tests.servers.telegram import parse_markdown_v2

DOCUMENTED = ["_", "*", "[", "]", "(", ")", "~", "`", ">", "#", "+", "-", "=", "|", "{", "}", ".", "!"]
"""core.telegram.org/bots/api#markdownv2-style: "In all other places characters ... must be escaped"."""


def test_the_reserved_characters_are_the_documented_eighteen() -> None:
    assert sorted(RESERVED) == sorted(DOCUMENTED) == sorted(SERVER_RESERVED)


@pytest.mark.parametrize("char", [*DOCUMENTED, "\\"])
def test_every_reserved_character_and_the_backslash_arrive_literally(char: str) -> None:
    text = f"a{char}b{char}{char}"
    assert escape(text) == f"a\\{char}b\\{char}\\{char}"
    assert parse_markdown_v2(escape(text)) == text


@pytest.mark.parametrize("char", DOCUMENTED)
def test_unescaped_the_server_refuses_each_of_them(char: str) -> None:
    """The check above can fail: the same text unescaped is not taken."""
    with pytest.raises(ValueError, match="reserved and must be escaped"):
        parse_markdown_v2(f"a{char}b")


def test_other_characters_are_left_alone() -> None:
    text = "Ünïcødé 👩‍👩‍👧 <b&amp; \"quotes\" 'single' @mention /path ?q"
    assert escape(text) == text
    assert parse_markdown_v2(escape(text)) == text


@settings(max_examples=int(os.environ.get("POSTMAST_PROPERTY_EXAMPLES", "200")), deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80))
def test_any_text_round_trips(text: str) -> None:
    assert parse_markdown_v2(escape(text)) == text


def test_length_counts_code_points_as_tdlib_does() -> None:
    assert length("abc") == 3
    assert length("😀") == 1  # one code point, two UTF-16 units
    assert length("👩‍👩‍👧") == 5  # five code points, one grapheme
    assert length(escape("a.b")) == 4 and length("a.b") == 3  # counted after parsing: the text itself
