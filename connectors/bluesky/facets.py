"""Bluesky rich text: links, mentions, hashtags and cashtags as facets with UTF-8 byte offsets.

Bluesky does not link anything itself: the client sends `app.bsky.richtext.facet` entries whose
`index.byteStart` (inclusive) and `byteEnd` (exclusive) count UTF-8 bytes of the text, with a
`#link {uri}`, `#mention {did}` or `#tag {tag}` feature (lexicon app/bsky/richtext/facet.json).

The rule is the Bluesky app's own: `@atproto/api` 0.21.0, `RichText.detectFacets`
(packages/api/src/rich-text/detection.ts and util.ts), ported with its JavaScript semantics and
proven identical on generated texts by `tests/differential` (type, byte range, URI, tag, handle):

- the order of detection and the result: mentions, links, tags, cashtags, then sorted by
  `byteStart` (a stable sort); facets are not de-overlapped;
- `\\s` is JavaScript's white space (it includes U+FEFF and excludes U+0085 and U+180E), `\\d`
  is ASCII, `\\b` is ASCII, `^` of the link pattern also matches after CR, LF, U+2028 and U+2029;
- links: `https?://` and anything up to white space, taken only when it starts with lowercase
  `http` (the pattern is case-insensitive, the check is not: `HTTPS://X.COM` is no link), or a bare
  ASCII domain ending in a known TLD (compared case-sensitively: `EXAMPLE.COM` is no link) that
  becomes `https://...`; one trailing `. , ; : ! ?` is dropped, then a `)` when there is no `(`;
- mentions: `@` after the start, white space or `(`, then `[a-zA-Z0-9.-]+` up to a word boundary,
  kept when the handle ends in `.` and a known TLD or in `.test` (case-sensitive); the handle is
  resolved to a DID when the post is sent (`resolve`);
- hashtags: `#` or `＃` after the start or white space, at least one character that is not a digit,
  white space or punctuation, trailing punctuation dropped, refused over 64 UTF-16 units and 64
  graphemes (the app's own check);
- cashtags: `$` and a letter and up to 4 letters or digits, followed by white space, the end or
  `.,;:!?)"'’`, written as a `#tag` feature `$AAPL` in capitals (the lexicon has no cashtag).

The known TLDs are the npm package `tlds` the app depends on (`connectors/bluesky/tlds.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import regex

from postmast.connectors.bluesky.tlds import ASCII as TLDS
from postmast.connectors.text import graphemes

LINK = "app.bsky.richtext.facet#link"
MENTION = "app.bsky.richtext.facet#mention"
TAG = "app.bsky.richtext.facet#tag"

# JavaScript's \s: WhiteSpace (TAB, VT, FF, ZWNBSP, Zs) and LineTerminator (LF, CR, LS, PS).
_WS = "\t\n\x0b\x0c\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_ZERO_WIDTH = "\u00ad\u2060\u200a\u200b\u200c\u200d\u20e2"

# util.ts MENTION_REGEX: /(^|\s|\()(@)([a-zA-Z0-9.-]+)(\b)/g
_MENTION_RE = regex.compile(rf"(^|[{_WS}]|\()(@)([a-zA-Z0-9.-]+)\b", regex.ASCII)
# util.ts URL_REGEX: /(^|\s|\()((https?:\/\/[\S]+)|((?<domain>[a-z][a-z0-9]*(\.[a-z0-9]+)+)[\S]*))/gim
_URL_RE = regex.compile(
    rf"((?:^|(?<=[\n\r\u2028\u2029]))|[{_WS}]|\()"
    rf"(([hH][tT][tT][pP][sS]?://[^{_WS}]+)|((?P<domain>[a-zA-Z][a-zA-Z0-9]*(\.[a-zA-Z0-9]+)+)[^{_WS}]*))"
)
# util.ts TAG_REGEX (with the u flag: \p{P} is Unicode punctuation, \d stays ASCII)
_TAG_RE = regex.compile(
    rf"(^|[{_WS}])[#＃]((?!\ufe0f)[^{_WS}{_ZERO_WIDTH}]*[^0-9{_WS}\p{{P}}{_ZERO_WIDTH}]+[^{_WS}{_ZERO_WIDTH}]*)?"
)
_TRAILING_PUNCTUATION = regex.compile(r"\p{P}+\Z")
# util.ts CASHTAG_REGEX: /(^|\s|\()\$([A-Za-z][A-Za-z0-9]{0,4})(?=\s|$|[.,;:!?)"'\u2019])/gu
_CASHTAG_RE = regex.compile(rf"(^|[{_WS}]|\()\$([A-Za-z][A-Za-z0-9]{{0,4}})(?=[{_WS}]|\Z|[.,;:!?)\"'\u2019])")
MAX_TAG_LENGTH = 64


@dataclass(frozen=True)
class Facet:
    """A detected facet: `start`/`end` are UTF-8 byte offsets; `value` is the link's URI, the
    mentioned handle (or its DID once resolved) or the tag without `#`."""

    start: int
    end: int
    kind: str
    value: str

    def as_json(self) -> dict[str, Any]:
        key = {LINK: "uri", MENTION: "did", TAG: "tag"}[self.kind]
        return {
            "index": {"byteStart": self.start, "byteEnd": self.end},
            "features": [{"$type": self.kind, key: self.value}],
        }


class _Offsets:
    """Code-point index -> UTF-8 byte offset, for one text."""

    def __init__(self, text: str) -> None:
        self.table = [0]
        for char in text:
            self.table.append(self.table[-1] + len(char.encode("utf-8")))

    def __call__(self, index: int) -> int:
        return self.table[index]


def is_valid_domain(name: str) -> bool:
    """detection.ts `isValidDomain`: `name` ends in `.` and a TLD of the list (case-sensitive)."""
    _, dot, tld = name.rpartition(".")
    return bool(dot) and tld in TLDS


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _mentions(text: str, at: _Offsets) -> Iterable[Facet]:
    for match in _MENTION_RE.finditer(text):
        handle = match.group(3)
        if not is_valid_domain(handle) and not handle.endswith(".test"):
            continue  # probably not a handle
        start = text.find(handle, match.start()) - 1
        yield Facet(at(start), at(start + len(handle) + 1), MENTION, handle)


def _links(text: str, at: _Offsets) -> Iterable[Facet]:
    for match in _URL_RE.finditer(text):
        uri = match.group(2)
        if not uri.startswith("http"):
            domain = match.group("domain")
            if not domain or not is_valid_domain(domain):
                continue
            uri = "https://" + uri
        start = text.find(match.group(2), match.start())
        end = start + len(match.group(2))
        if uri[-1] in ".,;:!?":
            uri, end = uri[:-1], end - 1
        if uri.endswith(")") and "(" not in uri:
            uri, end = uri[:-1], end - 1
        yield Facet(at(start), at(end), LINK, uri)


def _tags(text: str, at: _Offsets) -> Iterable[Facet]:
    for match in _TAG_RE.finditer(text):
        tag = match.group(2)
        if not tag:
            continue
        tag = _TRAILING_PUNCTUATION.sub("", tag)  # `trim()` first: a tag holds no white space
        if not tag or (_utf16_length(tag) > MAX_TAG_LENGTH and graphemes(tag) > MAX_TAG_LENGTH):
            continue
        start = match.end(1)
        yield Facet(at(start), at(start + 1 + len(tag)), TAG, tag)


def _cashtags(text: str, at: _Offsets) -> Iterable[Facet]:
    for match in _CASHTAG_RE.finditer(text):
        ticker = match.group(2).upper()
        start = match.end(1)
        yield Facet(at(start), at(start + 1 + len(ticker)), TAG, "$" + ticker)


def detect(text: str) -> list[Facet]:
    """Every facet of `text` as the app finds it, mentions still naming handles, by `byteStart`."""
    at = _Offsets(text)
    found = [*_mentions(text, at), *_links(text, at), *_tags(text, at), *_cashtags(text, at)]
    return sorted(found, key=lambda f: f.start)


def mentioned(facets: Iterable[Facet]) -> list[str]:
    """The distinct handles `facets` mention, in order, as resolved (lower case)."""
    return list(dict.fromkeys(f.value.lower() for f in facets if f.kind == MENTION))


def resolve(facets: Iterable[Facet], did_of: Callable[[str], str | None]) -> tuple[list[Facet], list[str]]:
    """Mentions with their handle replaced by a DID, and the handles `did_of` could not resolve:
    their facets are left out (the text stays, as plain text), as the app leaves them out."""
    resolved, unresolved = [], []
    cache: dict[str, str | None] = {}
    for facet in facets:
        if facet.kind == MENTION:
            handle = facet.value.lower()
            if handle not in cache:
                cache[handle] = did_of(handle)
            did = cache[handle]
            if did is None:
                unresolved.append(facet.value)
                continue
            facet = Facet(facet.start, facet.end, MENTION, did)
        resolved.append(facet)
    return resolved, list(dict.fromkeys(unresolved))


def first_link(facets: Iterable[Facet]) -> str | None:
    """The URI of the first link, for a link card."""
    return next((f.value for f in facets if f.kind == LINK), None)
