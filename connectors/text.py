"""Text rules shared by connectors: graphemes, UTF-8 bytes, and sanity checks.

Each network's own counting lives with its connector (X: `connectors/x/weighting.py`, Bluesky:
`connectors/bluesky/facets.py`, Mastodon: `connectors/mastodon/length.py`).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import regex

_GRAPHEME = regex.compile(r"\X")
# C0/C1 control characters other than tab and newline (carriage return is allowed in CRLF).
_ALLOWED_CONTROLS = {"\t", "\n", "\r"}
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""Category Cc (U+0000-U+001F, U+007F-U+009F) less the allowed ones: a fast first look."""


@lru_cache(maxsize=4096)
def graphemes(text: str) -> int:
    """Number of extended grapheme clusters: what people see as characters (cached: an import
    measures one text for several targets)."""
    return len(_GRAPHEME.findall(text))


def utf8_length(text: str) -> int:
    return len(text.encode("utf-8"))


def text_problems(text: str) -> list[str]:
    """Problems no network accepts: invalid Unicode and control characters."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return ["text is not valid Unicode (it contains a lone surrogate or undecodable bytes)"]
    if not _CONTROL.search(text):
        return []
    bad = sorted({c for c in text if unicodedata.category(c) == "Cc" and c not in _ALLOWED_CONTROLS})
    if bad:
        shown = ", ".join(f"U+{ord(c):04X}" for c in bad[:5])
        return [f"text contains control characters ({shown})"]
    return []


INVISIBLE = frozenset("\u034f\u115f\u1160\u2800\u3164\uffa0")
"""Characters that show nothing but are not format characters: the combining grapheme joiner,
the Hangul fillers, the blank Braille pattern (favourites for posting "nothing")."""


def invisible(char: str) -> bool:
    """Whitespace, a format character (zero-width space and joiners, BOM, word joiner, soft
    hyphen, bidi marks: Unicode category Cf), or one of `INVISIBLE`."""
    return char.isspace() or unicodedata.category(char) == "Cf" or char in INVISIBLE


def blank_problem(text: str) -> str | None:
    """Why `text` says nothing, if it does not: empty, or only spaces and invisible characters."""
    if not text.strip():
        return "text is empty"
    if all(invisible(c) for c in text):
        shown = ", ".join(f"U+{ord(c):04X}" for c in sorted({c for c in text if not c.isspace()})[:5])
        return f"text is empty: it has only invisible characters ({shown})"
    return None
