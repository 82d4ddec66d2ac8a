"""Record keys: TID syntax per atproto's interop test files, and keys derived from idempotency keys."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postmast.connectors.bluesky import tid


def syntax_lines(conformance: Path, name: str) -> list[str]:
    path = conformance / "bluesky-atproto" / "interop-test-files" / "syntax" / name
    lines = path.read_text().splitlines()
    return [
        line for line in lines if line and line != "#" and not line.startswith("# ")
    ]  # "#extra" is a case


@pytest.mark.parametrize(
    ("name", "valid", "count"), [("tid_syntax_valid.txt", True, 6), ("tid_syntax_invalid.txt", False, 7)]
)
def test_tid_syntax_matches_the_interop_files(conformance, name, valid, count) -> None:
    lines = syntax_lines(conformance, name)
    assert len(lines) == count  # the files are read, not skipped
    assert [line for line in lines if tid.is_valid_tid(line) != valid] == []


@pytest.mark.parametrize(
    ("name", "valid", "count"),
    [("recordkey_syntax_valid.txt", True, 16), ("recordkey_syntax_invalid.txt", False, 12)],
)
def test_record_key_syntax_matches_the_interop_files(conformance, name, valid, count) -> None:
    lines = syntax_lines(conformance, name)
    assert len(lines) == count
    assert [line for line in lines if tid.is_valid_record_key(line) != valid] == []


def test_valid_tids_decode_and_encode_back(conformance) -> None:
    for line in syntax_lines(conformance, "tid_syntax_valid.txt"):
        assert tid.encode(tid.decode(line)) == line


def test_derived_keys_are_stable_valid_and_distinct() -> None:
    key = "6f1c2b7e-0d7a-4c55-9d4f-3f2b1b0a9e11"
    first = tid.from_key(key)
    assert first == tid.from_key(key) == "2z5tyoqmzkc6x"  # pinned: a change would orphan posts in flight
    assert tid.is_valid_tid(first) and tid.is_valid_record_key(first)
    thread = {tid.from_key(key if n == 0 else f"{key}-{n}") for n in range(50)}
    assert len(thread) == 50


@given(st.text(min_size=1, max_size=80))
def test_any_idempotency_key_gives_a_valid_tid(key: str) -> None:
    derived = tid.from_key(key)
    assert len(derived) == 13 and tid.is_valid_tid(derived) and tid.is_valid_record_key(derived)
    assert tid.decode(derived) < 2**63  # the top bit stays zero, as the spec asks of TIDs


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_tids_sort_like_the_numbers_they_hold(a: int, b: int) -> None:
    assert tid.decode(tid.encode(a)) == a
    assert (tid.encode(a) < tid.encode(b)) == (a < b)


def test_time_tids_are_valid_and_later_ones_sort_after() -> None:
    early, late = tid.from_time(1_700_000_000_000_000), tid.from_time(1_700_000_000_000_001)
    now = int(datetime.now(UTC).timestamp() * 1_000_000)
    assert tid.is_valid_tid(tid.from_time(now)) and early < late
    assert tid.decode(early) >> 10 == 1_700_000_000_000_000


@pytest.mark.parametrize("value", [-1, 2**64])
def test_out_of_range_values_are_refused(value: int) -> None:
    with pytest.raises(ValueError, match="64-bit"):
        tid.encode(value)


def test_decode_refuses_what_is_not_a_tid() -> None:
    with pytest.raises(ValueError, match="not a TID"):
        tid.decode("zzzzzzzzzzzzz")
