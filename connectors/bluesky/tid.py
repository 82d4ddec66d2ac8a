"""AT Protocol record keys: TIDs (timestamp identifiers) and the general record-key syntax.

A TID is a 64-bit integer written as 13 characters of the "base32-sortable" alphabet
`234567abcdefghijklmnopqrstuvwxyz`: the top bit is zero, then 53 bits of microseconds
since the epoch, then a 10-bit clock id (atproto spec "Record Key", "TID"). 13 characters
hold 65 bits, so the first one carries only 4 and is one of `234567abcdefghij`.

postmast chooses each Bluesky post's record key itself (`createRecord` with `rkey`), derived
from the delivery's idempotency key: a retry of the same item asks for the same key, and the
repository refuses a second record under it, so an item can never be posted twice. The
derived TID's bits come from a SHA-256 of the key, so its "timestamp" is not a time; nothing
orders posts by it (Bluesky sorts by the record's `createdAt`) and the PDS checks only the
syntax (`@atproto/pds` repo/prepare: the lexicon's `key: "tid"` is a syntax check).

Syntax checks follow the interop test files (interop-test-files/syntax/{tid,recordkey}_*).
"""

from __future__ import annotations

import hashlib
import re

ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
TID_LENGTH = 13
_TID = re.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")
# Record keys: 1-512 characters of [A-Za-z0-9._:~-], but not "." or "..".
_RECORD_KEY = re.compile(r"[A-Za-z0-9._:~-]{1,512}")


def encode(value: int) -> str:
    """The 13-character TID of a 64-bit unsigned integer (those postmast makes keep the top bit 0)."""
    if not 0 <= value < 1 << 64:
        raise ValueError("a TID holds a 64-bit unsigned integer")
    chars = []
    for _ in range(TID_LENGTH):
        chars.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def decode(tid: str) -> int:
    """The integer a valid TID stands for."""
    if not is_valid_tid(tid):
        raise ValueError(f"not a TID: {tid!r}")
    value = 0
    for char in tid:
        value = value << 5 | ALPHABET.index(char)
    return value


def from_time(microseconds: int, clock_id: int = 0) -> str:
    """A TID for a moment (microseconds since the epoch), the way the PDS makes them."""
    return encode((microseconds & ((1 << 53) - 1)) << 10 | (clock_id & 1023))


def from_key(key: str) -> str:
    """The TID that stands for `key`: the same key always gives the same TID."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return encode(int.from_bytes(digest[:8], "big") >> 1)


def is_valid_tid(value: str) -> bool:
    return _TID.fullmatch(value) is not None


def is_valid_record_key(value: str) -> bool:
    return value not in (".", "..") and _RECORD_KEY.fullmatch(value) is not None
