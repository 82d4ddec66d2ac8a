"""Adversarial texts for the differential tests: what people really type, and where counting rules
break. A text is a few random pieces (emoji sequences, scripts, combining marks, URLs, hashtags,
mentions, cashtags, punctuation, long words) joined by random separators (spaces, line breaks of
every kind, invisible characters, or nothing), sometimes padded to just around a network's limit.

Every text is valid Unicode without control characters other than tab, LF and CR: postmast refuses
those before any network rule applies (`connectors/text.py` `text_problems`).
"""

from __future__ import annotations

import random

EMOJI = [
    "\U0001f600",  # grinning face
    "\U0001f44d\U0001f3fd",  # thumbs up, medium skin tone
    "\U0001f44b\U0001f3ff",  # waving hand, dark skin tone
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",  # family (ZWJ)
    "\U0001f3f3\ufe0f\u200d\u26a7\ufe0f",  # transgender flag (ZWJ, VS16)
    "\U0001f3f3\ufe0f\u200d\U0001f308",  # rainbow flag
    "\U0001f468\U0001f3fd\u200d\U0001f680",  # astronaut, skin tone
    "\U0001f9d1\u200d\U0001f91d\u200d\U0001f9d1",  # people holding hands (newer emoji)
    "\U0001f1e9\U0001f1ea",  # flag DE
    "\U0001f1ef\U0001f1f5",  # flag JP
    "\U0001f1fa",  # a lone regional indicator
    "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # Scotland (tags)
    "#\ufe0f\u20e3",  # keycap #
    "1\ufe0f\u20e3",  # keycap 1
    "1\u20e3",  # keycap without VS16
    "*\ufe0f\u20e3",
    "\u00a9",  # copyright, text style
    "\u00a9\ufe0f",  # copyright, emoji style
    "\u00ae",
    "\u2122\ufe0f",
    "\u2764",  # heart without VS16
    "\u2764\ufe0f",
    "\u263a\ufe0e",  # text presentation
    "\u2728",  # sparkles
    "\U0001fae0",  # melting face (Emoji 14)
    "\U0001f9ec",
    "\ufe0f",  # a lone variation selector
    "\u200d",  # a lone joiner
]

SCRIPTS = [
    "日本語",
    "中文字符",
    "한국어",
    "\u1100\u1161\u11a8",  # a Hangul syllable as conjoining jamo
    "ｶﾀｶﾅ",  # halfwidth katakana
    "ひらがな",
    "שלום",
    "עברית",
    "مرحبا",
    "العربية",
    "\u200f",  # right-to-left mark
    "\u200e",  # left-to-right mark
    "\u202b",  # right-to-left embedding
    "\u202c",  # pop directional formatting
    "\u2067",  # right-to-left isolate
    "\u2069",
    "\u061c",  # Arabic letter mark
    "हिन्दी",
    "क्ष",  # a Devanagari conjunct (virama)
    "क्\u200dष",  # conjunct with ZWJ
    "ক্ষ",  # Bengali conjunct
    "ไทย",
    "Ελληνικά",
    "русский",
    "Ⅻ",  # a letter number
    "²½①",  # other numbers
    "ſ\u212a",  # long s and the Kelvin sign (fold to s and k)
    "ı\u0130",  # dotless i and dotted capital I
    "straße",
]

COMBINING = [
    "é",  # composed
    "e\u0301",  # decomposed
    "Å",
    "A\u030a",
    "\u212b",  # Angstrom sign (NFC: Å)
    "\u2126",  # Ohm sign (NFC: Ω)
    "o\u0308\u0301",  # two marks
    "\u0301",  # a mark with nothing before it
    "ñ",
    "n\u0303",
    "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f",  # zalgo
]

SCHEMES = ["https://", "http://", "HTTPS://", "Http://", "hTtP://", "", "", "", "www.", "ftp://", "gemini://"]
SCHEMES_MORE = [
    "dat://",
    "ipfs://",
    "gopher://",
    "ssb://",
    "dweb://",
    "ipns://",
    "xmpp:",
    "magnet:?xt=",
    "://",
]
DOMAINS = [
    "example.com",
    "EXAMPLE.COM",
    "Example.Org",
    "sub.example.co.uk",
    "example.museum",
    "example.technology",
    "example.ninja",
    "example.zz",  # not a top-level domain
    "example.c",
    "t.co",
    "bsky.app",
    "x.com",
    "localhost",
    "bücher.de",
    "xn--bcher-kva.de",
    "日本.jp",
    "例え.テスト",
    "пример.рф",
    "\U0001f600.com",
    "a-b.io",
    "-ab.io",
    "a_b.example.com",
    "192.168.0.1",
    "a" * 64 + ".com",  # a label longer than 63
    "example.com.",
    "ex..ample.com",
    "alice.bsky.social",
    "test.test",
]
PATHS = [
    "",
    "",
    "/",
    "/path",
    "/a/b/c.html",
    "/wiki/Foo_(bar)",
    "/a_(b_(c))",
    "/ü",
    "/日本",
    "/…",
    "/%E2%9C%93",
    "/@user/123",
    "/~user",
    "/a-b_c",
    "/" + "p" * 120,
    "/x?q=1&y=2",
    "/x?q=a.b",
    "?q=1",
    "#frag",
    "/x#a(b)",
    ":8080/x",
    ":99999",
    "/<tag>",
    "/「x」",
    "/a*b",
    "/u'(ab)",  # balanced parentheses after a character that cannot end a path
    "/(ab)",
    "/x!(y)z",
    "/a.(b)",
]
TRAILING = ["", "", "", ".", ",", "!", "?", ")", ";", ":", "…", "'", '"', "...", ").", "!?", "/"]

TAGS = [
    "#tag",
    "#Tag_1",
    "#123",
    "#1a",
    "#日本語",
    "＃fullwidth",
    "#tag.",
    "#tag!",
    "#tag?!",
    "#a#b",
    "#" + "t" * 70,
    "#" + "t" * 64,
    "#tag\u200b",
    "#ab\ufe0f",
    "#\u20e3",
    "#",
    "##",
    "#café",
    "#cafe\u0301",
    "#under_score",
    "#emoji\U0001f600",
    "#tag-dash",
    "#https",
]
MENTIONS = [
    "@alice",
    "@alice.bsky.social",
    "@UPPER.BSKY.SOCIAL",
    "@bob.test",
    "@carol.example.com",
    "@alice@example.com",
    "@alice@mastodon.social",
    "@user@example.com@foo",
    "@alice@" + "b" * 260 + ".com",
    "@alice@" + "b" * 30 + ".com",
    "@-dash.com",
    "@alice.",
    "@alice_x",
    "@a.b-c.d.e.com",
    "@ä.com",
    "＠alice",
    "@@alice",
    "@alice.bsky.social.",
    "email@example.com",
    "@alice:",
    "@al.ice@exa-mple.org",
    "@x",
]
CASHTAGS = ["$AAPL", "$aapl", "$TOOLONG", "$A1", "$GOOG.", "$1", "$A", "$BRK", "($MSFT)", "$AAPL's"]
PUNCTUATION = [
    ".",
    ",",
    "!",
    "?",
    "(",
    ")",
    '"',
    "'",
    "…",
    "—",
    "–",
    ":",
    ";",
    "/",
    "&",
    "*",
    "「",
    "」",
    "<",
    ">",
]
WORDS = ["hello", "world", "post", "a", "I", "Test", "naïve", "co-op", "x" * 40, "w" * 300, "ok", "1234"]

SEPARATORS = [
    " ",
    " ",
    " ",
    " ",
    "",
    "\n",
    "\r",
    "\r\n",
    "\n\n",
    "\t",
    "\u00a0",  # no-break space
    "\u2028",  # line separator
    "\u2029",  # paragraph separator
    "\ufeff",  # zero width no-break space (BOM)
    "\u200b",  # zero width space
    "\u3000",  # ideographic space
    "\u180e",  # Mongolian vowel separator
    "\u202f",
    "\u2009",
    " (",
    "(",
    ") ",
]


def _url(rng: random.Random) -> str:
    scheme = rng.choice(SCHEMES if rng.random() < 0.85 else SCHEMES_MORE)
    return scheme + rng.choice(DOMAINS) + rng.choice(PATHS) + rng.choice(TRAILING)


def _piece(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.22:
        return _url(rng)
    if kind < 0.34:
        return rng.choice(EMOJI) * rng.choice([1, 1, 1, 2, 3])
    if kind < 0.46:
        return rng.choice(SCRIPTS)
    if kind < 0.54:
        return rng.choice(COMBINING)
    if kind < 0.64:
        return rng.choice(TAGS) + rng.choice(TRAILING)
    if kind < 0.76:
        return rng.choice(MENTIONS) + rng.choice(TRAILING)
    if kind < 0.80:
        return rng.choice(CASHTAGS)
    if kind < 0.88:
        return rng.choice(PUNCTUATION)
    return rng.choice(WORDS)


def text(rng: random.Random, limits: tuple[int, ...] = (280, 300, 500)) -> str:
    """One adversarial text; about one in six is padded to just around one of `limits`."""
    pieces = [_piece(rng) for _ in range(rng.randint(1, 9))]
    out = pieces[0]
    for piece in pieces[1:]:
        out += rng.choice(SEPARATORS) + piece
    if rng.random() < 1 / 6:
        filler = rng.choice(["a", "日", "\U0001f600", "é", "e\u0301", "ab ", "\u00a9"])
        target = rng.choice(limits) + rng.randint(-6, 6)
        out += " " + filler * max(0, (target - len(out)) // len(filler))
    return out


def texts(seed: int, count: int, limits: tuple[int, ...] = (280, 300, 500)) -> list[str]:
    """`count` texts from `seed` (the same seed gives the same texts)."""
    rng = random.Random(seed)
    return [text(rng, limits) for _ in range(count)]
