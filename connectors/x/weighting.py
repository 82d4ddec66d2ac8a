"""X's weighted length: twitter-text 3.1.0's `parseTweet`, ported from its JavaScript source.

X counts a post as the official JavaScript library `twitter-text` 3.1.0 does (js/src/parseTweet.js
with config v3, `conformance/twitter-text/config/v3.json`): NFC first; every URL weighs 23; every
emoji that `twemoji-parser` 11.0.2 finds weighs 2; any other character weighs 1 in the ranges of
the config (Latin, punctuation, ...) and 2 elsewhere (CJK, astral characters); over 280, or with
U+FFFE, U+FEFF or U+FFFF, the post is invalid.

Why a port rather than the Python package `twitter-text-parser` (3.0.0), which postmast used
before: that port disagreed with the JavaScript library on 226 of 1,000 generated texts of the
differential tests (`tests/differential`, seed 20261201), and its defects sit in its core: it
turns CRLF into LF before counting (X counts both characters), it detects emoji with its own list
where every bare `©` is an emoji (twemoji-parser needs VS16 for those), and it validates a domain
with Python's IDNA codec, which refuses labels (`שלוםexample`) that the library, which only
punycodes them, accepts. Its regular expressions are also compiled with Python's Unicode case
folding where JavaScript's case-insensitive non-Unicode mode folds much less. Fixing it would
mean replacing most of it, and a small port of the library's own code is easier to keep exact.

This module is the library's own logic over its own data, with JavaScript's semantics kept:
- the text is handled as UTF-16 code units, as JavaScript strings are (`_utf16`), so the
  library's regular expressions (non-Unicode mode, surrogate pairs spelled out) apply as written
  and every index and length is the library's;
- its case-insensitive expressions (`/i`) match as ECMAScript's Canonicalize does without the `u`
  flag: both sides upper-cased a code unit at a time, never folding a non-ASCII unit to ASCII
  (`_canon`);
- the top-level domains (`connectors/tlds.py`) and the emoji pattern (`connectors/x/emoji.py`)
  are copied from the npm packages, and `tests/differential` compares the copies with them and
  this module with `parseTweet` itself on generated texts.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from postmast.connectors.tlds import COUNTRY, GENERIC
from postmast.connectors.x.emoji import PATTERN as EMOJI_PATTERN


@dataclass(frozen=True)
class Config:
    """A twitter-text weighting configuration (config/v3.json's fields)."""

    max_weighted_tweet_length: int = 280
    scale: int = 100
    default_weight: int = 200
    transformed_url_length: int = 23
    emoji_parsing_enabled: bool = True
    ranges: tuple[tuple[int, int, int], ...] = (
        (0, 4351, 100),
        (8192, 8205, 100),
        (8208, 8223, 100),
        (8242, 8247, 100),
    )

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> Config:
        """From a config file of twitter-text (`maxWeightedTweetLength`, `ranges`, ...)."""
        ranges = raw.get("ranges")
        return cls(
            max_weighted_tweet_length=int(str(raw["maxWeightedTweetLength"])),
            scale=int(str(raw["scale"])),
            default_weight=int(str(raw["defaultWeight"])),
            transformed_url_length=int(str(raw["transformedURLLength"])),
            emoji_parsing_enabled=bool(raw.get("emojiParsingEnabled", False)),
            ranges=tuple(
                (int(r["start"]), int(r["end"]), int(r["weight"])) for r in ranges if isinstance(r, dict)
            )
            if isinstance(ranges, list)
            else (),
        )

    def weight(self, unit: int) -> int:
        return next((w for start, end, w in self.ranges if start <= unit <= end), self.default_weight)


V3 = Config()
"""config/v3.json: what X counts by."""


@dataclass(frozen=True)
class ParsedTweet:
    """`parseTweet`'s answer; ranges are UTF-16 indices, as the library gives them."""

    weighted_length: int
    valid: bool
    permillage: int
    valid_range_start: int
    valid_range_end: int
    display_range_start: int
    display_range_end: int


# -- UTF-16 and JavaScript's case-insensitive matching ------------------------------------------------


def _utf16(text: str) -> str:
    """`text` as a string of UTF-16 code units (astral characters become surrogate pairs)."""
    return re.sub(
        "[\U00010000-\U0010ffff]",
        lambda m: "".join(
            chr(0xD800 + ((ord(m[0]) - 0x10000) >> 10)) + chr(0xDC00 + ((ord(m[0]) - 0x10000) & 0x3FF))
        ),
        text,
    )


def _text(units: str) -> str:
    """Code units back to text (a lone surrogate stays one)."""
    return units.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


@cache
def _canon_unit(unit: int) -> int:
    """ECMAScript Canonicalize(ch) without the `u` flag (ES2015 21.2.2.8.2)."""
    upper = chr(unit).upper() if not 0xD800 <= unit <= 0xDFFF else chr(unit)
    if len(upper) != 1 or (unit >= 128 and ord(upper) < 128):
        return unit
    return ord(upper)


def _canon(units: str) -> str:
    return "".join(chr(_canon_unit(ord(u))) for u in units)


def _ranges(spec: str) -> set[int]:
    """The code units of a character-class body written as `a-z`, single characters and ranges."""
    units: set[int] = set()
    index = 0
    while index < len(spec):
        if index + 2 < len(spec) and spec[index + 1] == "-":
            units.update(range(ord(spec[index]), ord(spec[index + 2]) + 1))
            index += 3
        else:
            units.add(ord(spec[index]))
            index += 1
    return units


def _cls(members: Iterable[int], negate: bool = False) -> str:
    """A Python character class matching, on canonicalized text, what the case-insensitive
    JavaScript class of `members` matches on the text."""
    canon = sorted({_canon_unit(m) for m in members})
    parts, start = [], None
    for index, unit in enumerate(canon):
        start = unit if start is None else start
        if index + 1 == len(canon) or canon[index + 1] != unit + 1:
            parts.append(re.escape(chr(start)) + ("-" + re.escape(chr(unit)) if unit != start else ""))
            start = None
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


def _literal(word: str) -> str:
    return re.escape(_canon(_utf16(word)))


# -- twitter-text 3.1.0's regular expressions (js/src/regexp), on canonicalized code units ----------

_LATIN_ACCENTS = _ranges(
    "\xc0-\xd6\xd8-\xf6\xf8-\xff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263\u0268\u026f"
    "\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_CYRILLIC = _ranges("\u0400-\u04ff")
_SPACES = _ranges("\x09-\x0d\x20\x85\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000")
_INVALID = _ranges("\ufffe\ufeff\uffff")
_DIRECTIONAL = _ranges("\u202a-\u202e\u061c\u200e\u200f\u2066\u2067\u2068\u2069")
_PUNCT = set(map(ord, "!'#%&'()*+,\\-./:;<=>?@[]^_{|}~$"))  # js/src/regexp/punct.js (no `"`)
_ALNUM = _ranges("a-zA-Z0-9")

_DOMAIN_CHAR = _cls(_PUNCT | _SPACES | _INVALID | _DIRECTIONAL, negate=True)
_SUBDOMAIN = rf"(?:(?:{_DOMAIN_CHAR}(?:[_\-]|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\.)"
_DOMAIN_NAME = rf"(?:(?:{_DOMAIN_CHAR}(?:\-|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\.)"
_TLD_END = r"(?=" + _cls(_ALNUM | set(map(ord, "@+-")), negate=True) + r"|\Z)"
_GTLD = "(?:(?:" + "|".join(_literal(t) for t in GENERIC.split("|")) + ")" + _TLD_END + ")"
_CCTLD = "(?:(?:" + "|".join(_literal(t) for t in COUNTRY.split("|")) + ")" + _TLD_END + ")"
_PUNYCODE = r"(?:XN\-\-[\-0-9A-Z]+)"
_DOMAIN = rf"(?:{_SUBDOMAIN}*{_DOMAIN_NAME}(?:{_GTLD}|{_CCTLD}|{_PUNYCODE}))"
_PRECEDING = (
    "(?:" + _cls(_ALNUM | set(map(ord, "@＠$#＃")) | _INVALID, negate=True) + "|" + _cls(_DIRECTIONAL) + "|^)"
)
_PATH_CHAR = _cls(_ALNUM | _CYRILLIC | _LATIN_ACCENTS | set(map(ord, "!*';:=+,.$/%#[]-\u2013_~@|&")))
_PARENS = rf"\((?:{_PATH_CHAR}+|(?:{_PATH_CHAR}*\({_PATH_CHAR}+\){_PATH_CHAR}*))\)"
_PATH_END = _cls(_ALNUM | _CYRILLIC | _LATIN_ACCENTS | set(map(ord, "+-=_#/")))
# validUrlPath splices validUrlPathEndingChars' source (`[...]|(?:parens)`) in without a group, so
# its `|` splits the path: characters ending in one of the class, or balanced parentheses alone.
_PATH = rf"(?:(?:{_PATH_CHAR}*(?:{_PARENS}{_PATH_CHAR}*)*{_PATH_END}|(?:{_PARENS}))|(?:@{_PATH_CHAR}+/))"
_QUERY_CHAR = _cls(_ALNUM | set(map(ord, "!?*'@();:&=+$/%#[]-_.,~|")))
_QUERY_END = _cls(_ALNUM | set(map(ord, "-_&=#/")))

EXTRACT_URL = re.compile(
    rf"(({_PRECEDING})((HTTPS?://)?({_DOMAIN})(?::([0-9]+))?(/{_PATH}*)?(\?{_QUERY_CHAR}*{_QUERY_END})?))"
)
ASCII_DOMAIN = re.compile(
    r"(?:(?:" + _cls(_ALNUM | _LATIN_ACCENTS | {ord("-")}) + r"+)\.)+" + f"(?:{_GTLD}|{_CCTLD}|{_PUNYCODE})"
)
TCO_URL = re.compile(rf"HTTPS?://T\.CO/([A-Z0-9]+)(?:\?{_QUERY_CHAR}*{_QUERY_END})?")
EMOJI = re.compile(EMOJI_PATTERN)
INVALID = re.compile("[\ufffe\ufeff\uffff]")
MAX_URL_LENGTH = 4096
MAX_TCO_SLUG_LENGTH = 40


# -- extractUrlsWithIndices ------------------------------------------------------------------------


def _punycode_label(label: str) -> str:
    """punycode.js 1.4.1 `toASCII` of one label (no nameprep: it only encodes)."""
    local, at, domain = label.partition("@")
    parts = re.split("[.\u3002\uff0e\uff61]", domain if at else label)
    encoded = [
        "xn--" + part.encode("punycode").decode("ascii") if re.search(r"[^\x20-\x7e]", part) else part
        for part in parts
    ]
    return (local + "@" if at else "") + ".".join(encoded)


def _idna_ok(domain: str) -> bool:
    """twitter-text's `idna.toAscii` (js/src/lib/idna.js) succeeds: every label punycodes to 1-63."""
    if domain.startswith("xn--") and not ASCII_DOMAIN.search(_canon(domain)):
        return False
    return all(1 <= len(_utf16(_punycode_label(_text(label)))) <= 63 for label in domain.split("."))


def _url_entities(units: str) -> list[tuple[int, str]]:
    """(start, url) of every URL twitter-text finds, in UTF-16 code units."""
    if "." not in units:
        return []
    canon = _canon(units)
    found: list[tuple[int, str]] = []
    for match in EXTRACT_URL.finditer(canon):
        before = units[match.start(2) : match.end(2)]
        url = units[match.start(3) : match.end(3)]
        protocol = units[match.start(4) : match.end(4)] if match.start(4) >= 0 else ""
        domain = units[match.start(5) : match.end(5)]
        path = match.start(7) >= 0 and match.end(7) > match.start(7)
        start = match.end(3) - len(url)
        if not _idna_ok(domain) or len(protocol or "https://") + len(url) > MAX_URL_LENGTH:
            continue
        if not protocol:
            if re.search(r"[-_./]\Z", before):
                continue
            last: list[object] | None = None
            cursor = 0
            for ascii_match in ASCII_DOMAIN.finditer(_canon(domain)):
                ascii_domain = domain[ascii_match.start() : ascii_match.end()]
                at = domain.find(ascii_domain, cursor)
                cursor = at + len(ascii_domain)
                last = [start + at, ascii_domain]
                found.append((start + at, ascii_domain))
            if last is None:
                continue
            if path:
                found[-1] = (found[-1][0], url.replace(domain, str(last[1]), 1))
        else:
            tco = TCO_URL.match(_canon(url))
            if tco:
                if len(tco[1]) > MAX_TCO_SLUG_LENGTH:
                    continue
                url = url[: tco.end()]
            found.append((start, url))
    return found


def urls(text: str) -> list[tuple[int, int, str]]:
    """The URLs X links in `text` (with or without a scheme), as (start, end, url) in code points."""
    units = _utf16(text)
    found = []
    for start, url in _url_entities(units):
        begin = len(_text(units[:start]))
        found.append((begin, begin + len(_text(url)), _text(url)))
    return found


# -- parseTweet ------------------------------------------------------------------------------------


def parse(text: str, config: Config = V3) -> ParsedTweet:
    """twitter-text's `parseTweet(text, config)`."""
    normalized = _utf16(unicodedata.normalize("NFC", text))
    url_at = dict(_url_entities(normalized))
    emoji_at = {m.start(): m[0] for m in EMOJI.finditer(normalized)} if config.emoji_parsing_enabled else {}
    weighted, valid, valid_index, index = 0, True, 0, 0
    limit = config.max_weighted_tweet_length * config.scale
    while index < len(normalized):
        if index in url_at:
            weighted += config.transformed_url_length * config.scale
            index += len(url_at[index]) - 1
        elif index in emoji_at:
            weighted += config.default_weight
            index += len(emoji_at[index]) - 1
        else:
            pair = index + 1 < len(normalized) and _is_pair(normalized[index], normalized[index + 1])
            index += 1 if pair else 0
            weighted += config.weight(ord(normalized[index]))
        valid = valid and not INVALID.match(normalized, index)
        if valid and weighted <= limit:
            valid_index = index
        index += 1
    length = weighted / config.scale
    whole = int(length) if length == int(length) else length
    original = len(_utf16(text))
    return ParsedTweet(
        weighted_length=int(whole),
        valid=valid and 0 < length <= config.max_weighted_tweet_length,
        permillage=math.floor(length / config.max_weighted_tweet_length * 1000),
        valid_range_start=0,
        valid_range_end=valid_index + original - len(normalized),
        display_range_start=0,
        display_range_end=original - 1 if original > 0 else 0,
    )


def _is_pair(high: str, low: str) -> bool:
    return "\ud800" <= high <= "\udbff" and "\udc00" <= low <= "\udfff"


def weighted_length(text: str, config: Config = V3) -> int:
    """The weighted length of `text` (URL = 23, emoji and CJK = 2)."""
    return parse(text, config).weighted_length


def has_invalid_characters(text: str) -> bool:
    """Whether `text` holds a character X refuses (U+FFFE, U+FEFF, U+FFFF)."""
    return bool(INVALID.search(text))
