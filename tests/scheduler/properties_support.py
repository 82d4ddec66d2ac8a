"""Shared parts of the property tests of the store's API (`test_input_properties*.py`).

Every call they make ends one of two ways: a correct success (the rows read back are exactly
what was asked) or a `UserError` with a one-line message and not one row written. Anything
else fails: no internal error, no exception but `UserError`, no line break in a message even
when the input has some.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from sqlalchemy import func, select, table

from postmast.connectors.text import blank_problem
from postmast.scheduler.accounts import Accounts
from postmast.scheduler.body import load
from postmast.scheduler.deliveries import Deliveries
from postmast.scheduler.errors import UserError
from postmast.scheduler.models import Account, Delivery, Post
from postmast.scheduler.posts import PostRequest, Posts
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.factories import add_account


def label(name: str) -> None:
    """hypothesis' `event`, also usable from the plain tests that share these checks."""
    with contextlib.suppress(InvalidArgument):
        event(name)


PROPERTY = settings(
    max_examples=int(os.environ.get("POSTMAST_PROPERTY_EXAMPLES", "30")),  # more for a deeper search
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # the fake clock
DUE = NOW + timedelta(hours=1)
BIG, SMALL, BRAND = "webhook:big", "webhook:small", "mastodon:brand"  # webhooks taking 2 000 000 and 10
ACCOUNTS = {("webhook", "big"), ("webhook", "small"), ("mastodon", "brand")}
DEFAULT_LATENESS = 1800
MAX_ID = 2**31 - 1
"""The largest id there can be (ids are 32-bit on PostgreSQL); others are refused, never sent to SQL."""
TEN_YEARS = timedelta(days=3650)
"""How far ahead a post may be due, and the longest maximum lateness."""
LINE_BREAK = re.compile(r"[\n\r]")

# -- strategies ---------------------------------------------------------------------------------------

SPECIALS = [
    *("\x00", "\ud800", "\udfff", "\udcff", "\x1b[31m", "\x07", "\x7f", "\x85", "\r\n", "\n", "\t"),
    *("\u200f", "\u202e", "\u2028", "\ufeff", "\u3000", " ", "e\u0301", "\u0301", "ﷺ", "𝕏"),
    *("👩\u200d👩\u200d👧\u200d👦", "🏳️\u200d🌈", "@alice@example.org", "https://example.org/x", ":", "="),
]
TEXT = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=30),  # every code point, surrogates too
    st.lists(st.one_of(st.sampled_from(SPECIALS), st.text(max_size=4)), max_size=10).map("".join),
)


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` seven times in ten, else `bad`: enough successes to check what they stored."""
    return st.integers(0, 9).flatmap(lambda n: good if n < 7 else bad)


GOOD_TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(
    lambda t: blank_problem(t) is None  # a text of only invisible characters is refused as empty
)
ZONE_NAME = st.one_of(
    st.timezone_keys(),
    TEXT,
    st.sampled_from(["", ".", "..", "/etc/passwd", "../UTC", "Europe/../UTC", "UTC\x00", "A" * 300]),
)
OFFSETS = st.builds(timezone, st.timedeltas(-timedelta(hours=23), timedelta(hours=23)))
AWARE = st.datetimes(
    datetime(1, 1, 2), datetime(9999, 12, 30), timezones=st.just(UTC) | st.timezones() | OFFSETS
)
MOMENT = st.one_of(
    AWARE,
    st.datetimes(),  # naive
    st.timedeltas(-timedelta(minutes=5), timedelta(days=400)).map(lambda d: NOW + d),  # near the clock
    st.timedeltas(TEN_YEARS - timedelta(minutes=5), TEN_YEARS + timedelta(minutes=5)).map(lambda d: NOW + d),
)
DST_EDGES = [
    ("2027-03-28 02:30", "Europe/Berlin"),  # does not exist
    ("2027-10-31 02:30", "Europe/Berlin"),  # exists twice
    ("2027-03-14 02:30", "America/New_York"),
    ("2027-11-07 01:30", "America/New_York"),
    ("2027-10-03 02:15", "Australia/Lord_Howe"),  # a 30-minute shift
]
WHEN_TEXT = st.one_of(
    TEXT,
    AWARE.map(datetime.isoformat),
    st.datetimes(datetime(1, 1, 1)).map(lambda d: f"{d.year:04d}-{d:%m-%d %H:%M}"),
    st.builds(
        "{}{}{}".format,
        st.sampled_from(["in ", "+", "", "in  "]),
        st.one_of(st.integers(0, 10**12).map(str), st.floats(0, 1e12).map(repr)),
        st.sampled_from(["s", "m", "h", "d", " days", "min", "w", ""]),
    ),
    st.sampled_from([t for t, _ in DST_EDGES] + ["now", " NOW ", "", "0001-01-01T00:00+01:00"]),
    st.sampled_from(["9999-12-31T23:59:59+00:00", "9999-12-31 23:59", "in 3650d", "in 3651d"]),
)
LATENESS = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-10, 10**20).map(float),
    st.floats(0, 2),
    st.sampled_from([1.0, 1.5, TEN_YEARS.total_seconds(), TEN_YEARS.total_seconds() + 1]),
)
TARGET = mostly(
    st.sampled_from([BIG, SMALL, BRAND, "WEBHOOK:big", "Mastodon:brand"]),
    st.one_of(
        st.sampled_from(["webhook:BIG", " webhook:big", "webhook:big ", "x:big", "webhook:nobody"]),
        st.sampled_from(["webhook:", ":big", "webhook", "webhook:big:1", "webhook:b\nig", "webhook:b\x00ig"]),
        st.builds("{}:{}".format, st.sampled_from(["webhook", "mastodon", "Mastodon"]), TEXT),
        TEXT,
    ),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(TEXT, kids, max_size=3),
    max_leaves=6,
)

# -- checks ---------------------------------------------------------------------------------------------


def counts(store: Store) -> dict[str, int]:
    names = ("accounts", "posts", "deliveries", "attempts", "delivery_items", "media")
    with store.read() as session:
        return {n: int(session.scalar(select(func.count()).select_from(table(n))) or 0) for n in names}


@dataclass
class Outcome:
    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def attempt(store: Store, call: Callable[[], Any], *, expect: bool | None) -> Outcome:
    """Run `call`: a success, or a one-line UserError with nothing written. `expect` True: it
    must succeed; False: it must be refused; None: either. Any other exception fails the test."""
    before = counts(store)
    try:
        value = call()
    except UserError as exc:
        message = str(exc)
        assert message.strip(), "an empty error message"
        assert not LINE_BREAK.search(message), message
        assert counts(store) == before, f"refused ({message}) but rows were written"
        assert expect is not True, f"valid input refused: {message}"
        label("refused")
        return Outcome(error=message)
    assert expect is not False, f"invalid input accepted: {value!r:.300}"
    label("success")
    return Outcome(value)


def refused(call: Callable[[], Any], reason: str, store: Store | None = None) -> str:
    """`call` is refused with a one-line UserError saying `reason` (and nothing written in `store`)."""
    if store is not None:
        message = attempt(store, call, expect=False).error
    else:
        with pytest.raises(UserError) as raised:
            call()
        message = str(raised.value)
        assert not LINE_BREAK.search(message), message
    assert message is not None and reason in message, message
    return message


def valid_text(text: str) -> bool:
    """Text any network could take: valid Unicode, no control characters but tab, CR and LF."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any((ord(c) < 32 or 127 <= ord(c) < 160) and c not in "\t\n\r" for c in text)


# -- a store with three accounts ----------------------------------------------------------------------


@dataclass
class World:
    store: Store
    vault: Vault
    posts: Posts
    accounts: Accounts
    deliveries: Deliveries
    tmp: Path = Path()

    @property
    def dialect(self) -> str:
        return self.store.dialect

    def account_id(self, name: str = "big") -> int:
        with self.store.read() as session:
            return session.scalars(select(Account.id).where(Account.name == name)).one()


def make_world(store: Store, vault: Vault, tmp_path: Path) -> World:
    """`webhook:big` (2 000 000 characters), `webhook:small` (10) and `mastodon:brand`."""
    for name, limit in (("big", "2000000"), ("small", "10")):
        add_account(store, vault, "webhook", name, {"url": "http://127.0.0.1:9/hook", "max_length": limit})
    add_account(store, vault, "mastodon", "brand")
    posts = Posts(store, default_max_lateness=DEFAULT_LATENESS, duplicate_window=0)  # texts repeat here
    return World(store, vault, posts, Accounts(store, vault), Deliveries(store), tmp_path)


def ask(text: str = "hello", targets: list[str] | None = None, due: datetime = DUE, **kw: Any) -> PostRequest:
    return PostRequest(text, [BIG] if targets is None else targets, due, kw.pop("timezone", "UTC"), **kw)


def check_stored(world: World, post_id: int, req: PostRequest) -> None:
    """The post and its deliveries, read back, are exactly the request."""
    with world.store.read() as session:
        post = session.get(Post, post_id)
        assert post is not None
        query = select(Delivery, Account).join(Account, Account.id == Delivery.account_id)
        rows = session.execute(query.where(Delivery.post_id == post_id)).all()
    assert post.text == req.text and post.timezone == req.timezone
    body = load(post.content)
    assert [i.text for i in body.items] == [i.text for i in req.items]
    assert body.options == tuple(req.options)
    assert body.reply_to == dict(req.reply_to)
    lateness = DEFAULT_LATENESS if req.max_lateness is None else req.max_lateness
    assert post.max_lateness == math.ceil(lateness)  # whole seconds, rounded up
    wanted = sorted(f"{t.partition(':')[0].lower()}:{t.partition(':')[2]}" for t in req.targets)
    assert sorted(a.target for _, a in rows) == wanted
    for delivery, _ in rows:
        assert delivery.status == Status.SCHEDULED and delivery.attempt_count == 0
        due = req.due_at.astimezone(UTC)  # (aware times in a fold never compare equal across zones)
        assert delivery.due_at == due == delivery.next_attempt_at
        assert delivery.deadline_at == due + timedelta(seconds=post.max_lateness)  # real time, not wall clock
        assert uuid.UUID(delivery.idempotency_key)
