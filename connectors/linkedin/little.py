"""LinkedIn's "little" text format: what `commentary` is written in.

Characters reserved for little elements must be escaped with a backslash to be read as
plain text, "even if those characters are not used in one of the supported elements"
[little]; LinkedIn cuts a post silently at the first unescaped one (n8n#10179, NETWORKS.md §4).
The reserved characters: `| { } @ [ ] ( ) < > # \\ * _ ~`.

`commentary` escapes every one of them, except that a hashtag (`#` starting a word of
letters and digits) becomes the hashtag template `{hashtag|\\#|word}`, so it stays a
hashtag on LinkedIn [little: HashtagTemplate]. Mentions (`@[Name](urn:li:person:…)`) are not
made from plain text: an `@` is escaped like any other reserved character.

Source: [little] learn.microsoft.com/linkedin/marketing/community-management/shares/little-text-format.
"""

from __future__ import annotations

import regex

RESERVED = frozenset("|{}@[]()<>#\\*_~")
_HASHTAG = regex.compile(r"(?<![\w#\\])#([^\W_]+)(?!\w)")


def escape(text: str) -> str:
    """Plain text as little text: reserved characters escaped."""
    return "".join("\\" + c if c in RESERVED else c for c in text)


def commentary(text: str) -> str:
    """The `commentary` a post's text becomes: escaped, its hashtags kept as hashtag templates."""
    pieces, cursor = [], 0
    for found in _HASHTAG.finditer(text):
        pieces.append(escape(text[cursor : found.start()]))
        pieces.append("{hashtag|\\#|" + found.group(1) + "}")
        cursor = found.end()
    pieces.append(escape(text[cursor:]))
    return "".join(pieces)
