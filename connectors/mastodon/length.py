"""Mastodon's length rule: what `StatusLengthValidator` counts, built from Mastodon's own source.

Mastodon has no library for it: the rule is Ruby inside the server. This module follows these
files of mastodon/mastodon (read at the commits named; the rule has not changed since 4.3):

- app/validators/status_length_validator.rb (a6a94c24 and later): the content warning joined to
  `countable_text(text)`, counted in grapheme clusters (`each_grapheme_cluster`), over the
  instance's limit (500 by default) is refused; `countable_text` is '' for a blank text, and
  otherwise replaces each URL with 'x' * 23 and each mention `@user@domain` with `@user`, after
  `Extractor.remove_overlapping_entities`;
- app/models/status.rb `prepare_contents`: text and content warning are `strip`ped first (ASCII
  white space and NUL);
- app/lib/extractor.rb (9120f127): mentions by `Account::MENTION_RE` (app/models/account.rb:
  `(?<![=/[:word:]])@((USERNAME_RE)(?:@[[:word:]]+([.-]+[[:word:]]+)*)?)`, USERNAME_RE
  `[a-z0-9_]+([.-]+[a-z0-9_]+)*` case-insensitive), dropped when followed by `@`, a Latin accent
  or `://` (twitter-text's `end_mention_match`) or when the domain is over 253 characters;
- URLs: twitter-text 3.1.0's Ruby extractor (rb/lib/twitter-text/extractor.rb, 11a48525,
  `extract_urls_with_indices(text, extract_url_without_protocol: false)`: only URLs with a scheme)
  with the regular expressions of rb/lib/twitter-text/regex.rb as Mastodon's
  config/initializers/twitter_regex.rb (3208bd8a) patches them: schemes `http`, `https`, `dat`,
  `dweb`, `ipfs`, `ipns`, `ssb`, `gopher`, `gemini`; a path of any characters but white space and
  `<>()?` (balanced parentheses aside) that does not end in one of `!*"'「」<>;:=,.$%[]~&|@`, so a
  trailing `…` or a non-ASCII path stays in the URL; non-ASCII query characters; a URL counts only
  if its domain passes `IDN::Idna.toASCII` (libidn: IDNA2003, nameprep refusing code points
  unassigned in Unicode 3.2, labels of 1 to 63 characters) and it stays within 4096 characters;
- grapheme clusters as Ruby 3.4 (Mastodon's .ruby-version 3.4.8, Unicode 15.0) cuts them: the
  Unicode 15.1 rule GB9c, which joins Indic conjuncts (`क्ष`), does not apply yet.

`tests/differential` proves the rule against an independent JavaScript port of the same Ruby
(`tests/differential/oracles/mastodon.mjs`) on generated texts, and against all vectors of
spec/validators/status_length_validator_spec.rb (tests/connectors/mastodon/test_length.py).
"""

from __future__ import annotations

import encodings.idna
import stringprep

import regex

from postmast.connectors.text import graphemes
from postmast.connectors.tlds import COUNTRY, GENERIC

URL_WEIGHT = 23
MAX_DOMAIN_LENGTH = 253
MAX_URL_LENGTH = 4096
MAX_TCO_SLUG_LENGTH = 40

# -- twitter-text 3.1.0 (Ruby) regex.rb, as config/initializers/twitter_regex.rb patches it ----------

_SPACES = r"\u0009-\u000d\u0020\u0085\u00a0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_DIRECTIONAL = r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_INVALID = r"\ufffe\ufeff\uffff"
_LATIN_ACCENTS = (
    r"\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263"
    r"\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
# PUNCTUATION_CHARS, SPACE_CHARS and CTRL_CHARS as Ruby reads them in a class (no backslash).
_PUNCTUATION = r"!\"#$%&'()*+,\-./:;<=>?@\[\]^_`{|}~"
_DOMAIN_CHAR = rf"[^{_DIRECTIONAL}{_PUNCTUATION}\u0000-\u0020\u007f{_INVALID}{_SPACES}]"
_SUBDOMAIN = rf"(?:(?:{_DOMAIN_CHAR}(?:[_\-]|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\.)"
_DOMAIN_NAME = rf"(?:(?:{_DOMAIN_CHAR}(?:\-|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\.)"
_TLD_END = r"(?=[^0-9a-z@+\-]|$)"
_DOMAIN = (
    rf"(?:{_SUBDOMAIN}*{_DOMAIN_NAME}"
    rf"(?:(?:(?:{GENERIC}){_TLD_END})|(?:(?:{COUNTRY}){_TLD_END})|(?:xn--[0-9a-z]+)))"
)
_PRECEDING = rf"(?:[^A-Z0-9@＠$#＃{_INVALID}]|[{_DIRECTIONAL}]|^)"
# twitter-text's own path characters: the patched ending characters still use its parentheses
_ORIGINAL_PATH_CHAR = rf"[a-z\p{{Script=Cyrillic}}0-9!*';:=+,.$/%#\[\]\p{{Pd}}_~&|@{_LATIN_ACCENTS}]"
_PATH_CHAR = r"[^\p{White_Space}<>()?]"


def _parens(char: str) -> str:
    return rf"\((?:{char}+|(?:{char}*\({char}+\){char}*))\)"


_PATH_END = rf"(?:[^\p{{White_Space}}()?!*\"'「」<>;:=,.$%\[\]~&|@]|(?:{_parens(_ORIGINAL_PATH_CHAR)}))"
_PATH = rf"(?:(?:{_PATH_CHAR}*(?:{_parens(_PATH_CHAR)}{_PATH_CHAR}*)*{_PATH_END})|(?:{_PATH_CHAR}+/))"
_UCHARS = (
    r"\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef\U00010000-\U0001fffd\U00020000-\U0002fffd\U00030000-\U0003fffd"
    r"\U00040000-\U0004fffd\U00050000-\U0005fffd\U00060000-\U0006fffd\U00070000-\U0007fffd"
    r"\U00080000-\U0008fffd\U00090000-\U0009fffd\U000a0000-\U000afffd\U000b0000-\U000bfffd"
    r"\U000c0000-\U000cfffd\U000d0000-\U000dfffd\U000e1000-\U000efffd\ue000-\uf8ff"
    r"\U000f0000-\U000ffffd\U00100000-\U0010fffd"
)
_QUERY_CHAR = rf"[a-z0-9!?*'();:&=+$/%#\[\]\-_.,~|@\^{_UCHARS}]"
_QUERY_END = rf"[a-z0-9_&=#/\-{_UCHARS}]"
VALID_URL = regex.compile(
    rf"(({_PRECEDING})(((?:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://)?({_DOMAIN})(?::([0-9]+))?"
    rf"(/{_PATH}*)?(\?{_QUERY_CHAR}*{_QUERY_END})?))",
    regex.IGNORECASE | regex.VERSION0,
)
TCO_URL = regex.compile(r"https?://t\.co/([a-z0-9]+)", regex.IGNORECASE)

# -- Account::MENTION_RE, twitter-text's end_mention_match ----------------------------------------

# [[:word:]] (Onigmo, Unicode): Alphabetic, marks, decimal digits, connector punctuation and the
# joiners; not other numbers such as `²` (ruby-lang.org bug #19417, closed as the documented rule).
_WORD = r"[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]"
_USER = r"(?i:[a-z0-9_])"  # USERNAME_RE is /i: with case folding it takes U+017F and U+212A too
MENTION = regex.compile(
    rf"(?<![=/]|{_WORD})@(({_USER}+(?:[.\-]+{_USER}+)*)(?:@{_WORD}+(?:[.\-]+{_WORD}+)*)?)"
)
END_MENTION = regex.compile(rf"(?:[@＠]|[{_LATIN_ACCENTS}]+|://)")
_BLANK = regex.compile(r"[\p{White_Space}]*")
_STRIP = " \t\n\x0b\x0c\r\x00"
_GB9C_JOINED = regex.compile(r"(?<=\p{InCB=Linker}[\p{InCB=Extend}\p{InCB=Linker}]*)\p{InCB=Consonant}")
_DOTS = regex.compile("[.\u3002\uff0e\uff61]")


def _to_ascii_label(label: str) -> str:
    """libidn's ToASCII of one label (RFC 3490, nameprep without unassigned code points)."""
    if not label.isascii():
        prepared = encodings.idna.nameprep(label)
        if any(stringprep.in_table_a1(c) for c in prepared):
            raise UnicodeError("unassigned code point")
    return encodings.idna.ToASCII(label).decode("ascii")


def domain_to_ascii(domain: str) -> str | None:
    """`IDN::Idna.toASCII(domain)`, or None where it raises."""
    labels = _DOTS.split(domain)
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()
    try:
        return ".".join(_to_ascii_label(label) for label in labels)
    except UnicodeError:
        return None


def _valid_domain(url_length: int, domain: str) -> bool:
    """twitter-text's `is_valid_domain` for a URL with a scheme."""
    encoded = domain_to_ascii(domain)
    if encoded is None:
        return False
    return url_length + max(0, len(encoded) - len(domain)) <= MAX_URL_LENGTH


def urls(text: str) -> list[tuple[int, int, str]]:
    """The URLs Mastodon counts as 23 (written with a scheme), as (start, end, url)."""
    if ":" not in text:
        return []
    found = []
    for match in VALID_URL.finditer(text):
        url, protocol, domain = match.group(3), match.group(4), match.group(5)
        start, end = match.start(3), match.end(3)
        if not protocol:
            continue  # extract_url_without_protocol: false
        tco = TCO_URL.match(url)
        if tco:
            if len(tco.group(1)) > MAX_TCO_SLUG_LENGTH:
                continue
            url, end = tco.group(0), start + len(tco.group(0))
        if _valid_domain(len(url), domain):
            found.append((start, end, url))
    return found


def mentions(text: str) -> list[tuple[int, int, str]]:
    """Mentions as Mastodon's Extractor finds them: (start, end, "user" or "user@domain")."""
    if "@" not in text and "＠" not in text:
        return []
    found = []
    for match in MENTION.finditer(text):
        if END_MENTION.match(text, match.end()):
            continue
        _, _, domain = match.group(1).partition("@")
        if domain and not _BLANK.fullmatch(domain) and len(domain) > MAX_DOMAIN_LENGTH:
            continue
        found.append((match.start(), match.end(), match.group(1)))
    return found


def countable_text(text: str, url_weight: int = URL_WEIGHT) -> str:
    """`StatusLengthValidator#countable_text`: URLs as `x` * 23, `@user@domain` as `@user`.

    `url_weight` is the instance's `characters_reserved_per_url` (Mastodon's own is 23)."""
    if _BLANK.fullmatch(text):
        return ""
    entities = sorted(
        [(s, e, "x" * url_weight) for s, e, _ in urls(text)]
        + [(s, e, "@" + name.split("@")[0]) for s, e, name in mentions(text)]
    )
    kept: list[tuple[int, int, str]] = []
    for entity in entities:  # remove_overlapping_entities
        if not kept or kept[-1][1] <= entity[0]:
            kept.append(entity)
    pieces, cursor = [], 0
    for start, end, replacement in kept:
        pieces += [text[cursor:start], replacement]
        cursor = end
    return "".join(pieces) + text[cursor:]


def ruby_graphemes(text: str) -> int:
    """Grapheme clusters as Ruby 3.4 counts them: Unicode's, without GB9c (Unicode 15.1)."""
    return graphemes(text) + len(_GB9C_JOINED.findall(text))


def countable_length(text: str, spoiler_text: str = "", url_weight: int = URL_WEIGHT) -> int:
    """The length Mastodon checks against `max_characters`: the content warning and the text,
    both stripped, joined, and counted in grapheme clusters."""
    counted = countable_text(text.strip(_STRIP), url_weight)
    return ruby_graphemes(spoiler_text.strip(_STRIP) + counted)
