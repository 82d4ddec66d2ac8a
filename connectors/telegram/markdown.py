r"""Telegram's MarkdownV2: escaping a text so that it arrives literally, and its length.

postmast sends every text with `parse_mode=MarkdownV2` and escapes it whole: the 18
characters the Bot API reserves (`_ * [ ] ( ) ~ > # + - = | { } . !` and the backtick) and the escape
character itself get a preceding backslash. "Any character with code between 1 and 126
inclusively can be escaped anywhere with a preceding '\' character, in which case it is
treated as an ordinary character"; unescaped, a reserved character is markup or refused
("can't parse entities: Character '.' is reserved and must be escaped")
(core.telegram.org/bots/api#markdownv2-style).

Length is counted after entity parsing, that is on the text itself, in Unicode code
points: tdlib's `utf8_length` (td/telegram/MessageContent.cpp, "Message is too long"),
which is what `message_text_length_max` (4,096) and the 1,024 of a caption are compared
with. Python's `len` counts code points.
"""

from __future__ import annotations

RESERVED = "_*[]()~`>#+-=|{}.!"
"""The characters MarkdownV2 reserves outside code and link URLs."""
_ESCAPED = frozenset(RESERVED + "\\")


def escape(text: str) -> str:
    """`text` as MarkdownV2 that Telegram shows exactly as written."""
    return "".join(f"\\{c}" if c in _ESCAPED else c for c in text)


def length(text: str) -> int:
    """Length of the text Telegram shows, by its rule (code points after parsing)."""
    return len(text)
