"""Text rules shared by connectors: graphemes, UTF-8 bytes, sanity checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postmast.connectors import Content, Problem
from postmast.connectors.text import blank_problem, graphemes, text_problems, utf8_length
from postmast.connectors.webhook import Webhook

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # man ZWJ woman ZWJ girl ZWJ boy
FLAG_DE = "\U0001f1e9\U0001f1ea"
THUMB_MEDIUM = "\U0001f44d\U0001f3fd"
E_ACUTE_DECOMPOSED = "e\u0301"
HANGUL_JAMO = "\u1100\u1161\u11a8"  # one syllable written as three conjoining jamo


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("abc", 3),
        (FAMILY, 1),
        (FLAG_DE, 1),
        (THUMB_MEDIUM, 1),
        (E_ACUTE_DECOMPOSED, 1),
        (HANGUL_JAMO, 1),
        ("\r\n", 1),  # CRLF is a single cluster
        ("a\nb", 3),
        (FAMILY * 3 + " ok", 6),
        ("日本語", 3),
    ],
)
def test_graphemes(text: str, expected: int) -> None:
    assert graphemes(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("a", 1),
        ("é", 2),
        ("€", 3),
        ("\U0001f600", 4),
        (FAMILY, 4 * 4 + 3 * 3),
        ("日本語", 9),
    ],
)
def test_utf8_length(text: str, expected: int) -> None:
    assert utf8_length(text) == expected


@given(st.text())
def test_graphemes_never_exceed_code_points_nor_bytes(text: str) -> None:
    count = graphemes(text)
    assert count <= len(text) <= utf8_length(text)
    assert (count == 0) == (text == "")


# -- sanity ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "plain",
        "tab\tnewline\nwindows\r\n",
        FAMILY,  # ZWJ is a format character (Cf), not a control
        "soft\u00adhyphen and zero\u200bwidth",
    ],
)
def test_acceptable_text_has_no_problems(text: str) -> None:
    assert text_problems(text) == []


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("nul\x00", "U+0000"),
        ("\x1b[31mred", "U+001B"),
        ("bell\x07", "U+0007"),
        ("delete\x7f", "U+007F"),
        ("next line\x85", "U+0085"),  # C1 control
    ],
)
def test_control_characters_are_named(text: str, shown: str) -> None:
    problems = text_problems(text)
    assert len(problems) == 1
    assert "control characters" in problems[0]
    assert shown in problems[0]


def test_control_characters_are_listed_sorted_unique_and_at_most_five() -> None:
    text = "\x06\x05\x04\x03\x02\x01\x01\x01"
    [problem] = text_problems(text)
    assert "U+0001, U+0002, U+0003, U+0004, U+0005" in problem
    assert "U+0006" not in problem


@pytest.mark.parametrize("text", ["lone \ud800 high", "lone \udfff low", "\udc80"])
def test_lone_surrogates_are_invalid_unicode(text: str) -> None:
    [problem] = text_problems(text)
    assert "not valid Unicode" in problem


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\u200b\u200b", "U+200B"),  # zero-width spaces
        (" \u200d\u200c ", "U+200C, U+200D"),  # joiners
        ("\ufeff", "U+FEFF"),  # byte order mark
        ("\u2060\u3164\u2800", "U+2060, U+2800, U+3164"),  # word joiner, Hangul filler, blank Braille
    ],
)
def test_a_text_of_only_invisible_characters_is_empty(text: str, shown: str) -> None:
    assert blank_problem(text) == f"text is empty: it has only invisible characters ({shown})"
    assert Webhook({"url": "http://127.0.0.1:9/"}).validate(Content(text)) == [
        Problem(f"text is empty: it has only invisible characters ({shown})", "empty")
    ]


@pytest.mark.parametrize("text", ["a\u200b", "👩\u200d💻", "\u200bok\ufeff", "·"])
def test_a_visible_character_among_invisible_ones_is_text(text: str) -> None:
    assert blank_problem(text) is None
