"""Every error is one line, whatever the user typed into it."""

from __future__ import annotations

from postmast.scheduler.errors import one_line


def test_line_breaks_of_every_kind_are_shown_escaped() -> None:
    shown = one_line("col\u2028umn\u2029: a\nb\rc\x85d\x1b[2J")
    assert shown == "col\\u2028umn\\u2029: a\\nb\\rc\\x85d\\x1b[2J"
    assert len(shown.splitlines()) == 1


def test_printable_text_is_kept() -> None:
    assert one_line("Grüße 👋 — ok") == "Grüße 👋 — ok"
