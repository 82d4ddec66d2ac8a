"""Queueing posts: every target validated first, then the post and its deliveries, or nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from postmast.scheduler.body import OptionValue
from postmast.scheduler.errors import UserError
from postmast.scheduler.models import Account, AccountStatus, Delivery, Post
from postmast.scheduler.posts import PostRequest, Posts, Rejected
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.factories import add_account, row_counts

DUE = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # an hour after the fake clock's now
TARGETS = ["mastodon:brand", "webhook:team"]
NOTHING = {"accounts": 2, "posts": 0, "deliveries": 0, "attempts": 0}


@pytest.fixture
def posts(store: Store, vault: Vault) -> Posts:
    add_account(store, vault, "mastodon", "brand")
    add_account(store, vault, "webhook", "team")
    return Posts(store, default_max_lateness=1800)


def request(
    text: str = "Doors open at 9!", targets: list[str] | None = None, due: datetime = DUE, **kwargs
) -> PostRequest:
    return PostRequest(
        text=text,
        targets=TARGETS if targets is None else targets,
        due_at=due,
        timezone="Europe/Berlin",
        **kwargs,
    )


def stored_deliveries(store: Store) -> list[Delivery]:
    with store.read() as session:
        found = list(session.scalars(select(Delivery).order_by(Delivery.id)))
        for item in found:
            session.expunge(item)
        return found


def test_post_to_two_accounts(store: Store, posts: Posts) -> None:
    queued = posts.queue(request())
    assert [d.target for d in queued.deliveries] == TARGETS
    assert row_counts(store) == {"accounts": 2, "posts": 1, "deliveries": 2, "attempts": 0}
    with store.read() as session:
        post = session.scalars(select(Post)).one()
        assert (post.id, post.text, post.timezone, post.max_lateness) == (
            queued.id,
            "Doors open at 9!",
            "Europe/Berlin",
            1800,
        )
        assert post.created_at == store.now()
    found = stored_deliveries(store)
    assert [d.id for d in found] == [d.id for d in queued.deliveries]
    for item in found:
        assert item.post_id == queued.id
        assert item.status == Status.SCHEDULED
        assert item.due_at == DUE
        assert item.next_attempt_at == DUE
        assert item.deadline_at == DUE + timedelta(seconds=1800)
        assert item.attempt_count == 0
        assert item.queued_at is None and item.claim_token is None and item.lease_until is None
        assert len(item.idempotency_key) == 36
    assert len({d.idempotency_key for d in found}) == 2
    assert queued.as_dict() == {
        "post": queued.id,
        "deliveries": [
            {
                "id": found[0].id,
                "target": "mastodon:brand",
                "due_at": "2026-12-01T10:00:00+00:00",
                "status": "scheduled",
            },
            {
                "id": found[1].id,
                "target": "webhook:team",
                "due_at": "2026-12-01T10:00:00+00:00",
                "status": "scheduled",
            },
        ],
    }


def test_idempotency_keys_differ_across_posts(store: Store, posts: Posts) -> None:
    posts.queue(request())
    posts.queue(request(), allow_duplicate=True)
    keys = [d.idempotency_key for d in stored_deliveries(store)]
    assert len(keys) == 4 and len(set(keys)) == 4


def test_max_lateness_and_options_are_stored(store: Store, posts: Posts) -> None:
    posts.queue(request(max_lateness=90.0, options=(OptionValue("", "visibility", "unlisted"),)))
    with store.read() as session:
        post = session.scalars(select(Post)).one()
        assert post.max_lateness == 90
        assert post.content == {
            "version": 3,
            "items": [{"text": post.text, "media": []}],
            "options": [{"scope": "", "name": "visibility", "value": "unlisted"}],
        }
    assert {d.deadline_at for d in stored_deliveries(store)} == {DUE + timedelta(seconds=90)}


def test_text_too_long_for_one_target_rejects_the_whole_post(store: Store, posts: Posts) -> None:
    with pytest.raises(Rejected) as info:
        posts.queue(request("x" * 501))
    message = str(info.value)
    assert message == (
        "mastodon:brand: text is 501 characters, over Mastodon's limit of 500; nothing was queued"
    )
    assert "webhook" not in message
    assert row_counts(store) == NOTHING
    # the webhook alone takes it
    posts.queue(request("x" * 501, ["webhook:team"]))
    assert row_counts(store)["deliveries"] == 1


def test_exactly_at_the_limit_is_accepted(store: Store, posts: Posts) -> None:
    posts.queue(request("é" * 500))
    assert row_counts(store)["deliveries"] == 2


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (["mastodon:brand", "myspace:brand"], "myspace:brand: unknown network 'myspace'"),
        (["mastodon:brand", "mastodon:ghost"], "mastodon:ghost: no account mastodon:ghost"),
        (["mastodon:brand", "webhook:team", "mastodon:brand"], "target mastodon:brand is given twice"),
        (["mastodon:brand", "MASTODON:brand"], "target MASTODON:brand is given twice"),
        (["webhook:team", "team"], "target 'team' must look like NETWORK:NAME"),
    ],
)
def test_bad_targets_reject_the_whole_post(
    store: Store, posts: Posts, targets: list[str], message: str
) -> None:
    with pytest.raises(Rejected) as info:
        posts.queue(request(targets=targets))
    assert message in str(info.value)
    assert str(info.value).endswith("; nothing was queued")
    assert row_counts(store) == NOTHING


def test_no_targets(store: Store, posts: Posts) -> None:
    with pytest.raises(UserError, match="no target: give at least one NETWORK:NAME"):
        posts.queue(request(targets=[]))
    assert row_counts(store) == NOTHING


def test_time_in_the_past(store: Store, posts: Posts, clock) -> None:
    with pytest.raises(UserError, match="is 1 min in the past"):
        posts.queue(request(due=clock.now - timedelta(seconds=61)))
    with pytest.raises(UserError, match="in the past"):
        posts.plan(request(due=clock.now - timedelta(days=3)))
    assert row_counts(store) == NOTHING
    # within the grace period it is "now"
    posts.queue(request(due=clock.now - timedelta(seconds=59)))
    assert row_counts(store)["deliveries"] == 2


@pytest.mark.parametrize("lateness", [0, -1, -3600.0])
def test_non_positive_max_lateness(store: Store, posts: Posts, lateness: float) -> None:
    with pytest.raises(UserError, match="the maximum lateness must be positive"):
        posts.queue(request(max_lateness=lateness))
    assert row_counts(store) == NOTHING


def test_batch_is_all_or_nothing(store: Store, posts: Posts) -> None:
    batch = [request("one"), request("two", ["webhook:team"]), request("y" * 600)]
    with pytest.raises(Rejected) as info:
        posts.queue_many(batch)
    assert str(info.value).startswith("post 3: mastodon:brand: text is 600 characters")
    assert row_counts(store) == NOTHING
    # a bad time in the last post: also nothing
    with pytest.raises(UserError, match=r"^post 3: no target"):
        posts.queue_many([request("one"), request("two"), request("three", [])])
    assert row_counts(store) == NOTHING
    queued = posts.queue_many(batch[:2])
    assert [len(q.deliveries) for q in queued] == [2, 1]
    assert row_counts(store) == {"accounts": 2, "posts": 2, "deliveries": 3, "attempts": 0}


def test_batch_lists_a_few_failures_and_counts_the_rest(store: Store, posts: Posts) -> None:
    with pytest.raises(Rejected) as info:
        posts.queue_many([request(targets=[f"mastodon:ghost{i}"]) for i in range(5)])
    message = str(info.value)
    assert message.count("no account") == 3
    assert "(and 2 more); nothing was queued" in message


def test_empty_batch(posts: Posts) -> None:
    with pytest.raises(UserError, match="nothing to queue"):
        posts.queue_many([])


def test_plan_reports_each_target_and_writes_nothing(store: Store, posts: Posts) -> None:
    text = "Read https://example.org/" + "a" * 60 + " now"
    plans = posts.plan(request(text, [*TARGETS, "mastodon:ghost"]))
    assert [p.as_dict() for p in plans] == [
        {
            "target": "mastodon:brand",
            "length": 4 + 1 + 23 + 4,
            "limit": 500,
            "ok": True,
            "problems": [],
            "payload": {"status": text},
        },
        {
            "target": "webhook:team",
            "length": len(text),
            "limit": 65536,
            "ok": True,
            "problems": [],
            "payload": {"text": text, "idempotency_key": "(assigned when queued)", "reply_to": None},
        },
        {
            "target": "mastodon:ghost",
            "length": None,
            "limit": None,
            "ok": False,
            "problems": ["no account mastodon:ghost (see: postmast account list)"],
            "payload": None,
        },
    ]
    assert row_counts(store) == NOTHING


def test_plan_shows_the_problem_of_a_too_long_target(store: Store, posts: Posts) -> None:
    mastodon, webhook = posts.plan(request("z" * 700))
    assert (mastodon.ok, mastodon.length, mastodon.limit) == (False, 700, 500)
    assert mastodon.problems == ["text is 700 characters, over Mastodon's limit of 500"]
    assert mastodon.payload == {"status": "z" * 700}
    assert (webhook.ok, webhook.length) == (True, 700)
    assert row_counts(store) == NOTHING


def test_plan_uses_the_accounts_own_limit(store: Store, vault: Vault, posts: Posts) -> None:
    add_account(
        store, vault, "mastodon", "big", settings={"instance": "http://127.0.0.1:9", "max_length": "5000"}
    )
    [plan] = posts.plan(request("w" * 1000, ["mastodon:big"]))
    assert (plan.ok, plan.length, plan.limit) == (True, 1000, 5000)


def test_account_needing_reauthorisation_is_refused(store: Store, posts: Posts) -> None:
    with store.write() as session:
        session.execute(
            update(Account)
            .where(Account.name == "brand")
            .values(status=AccountStatus.NEEDS_REAUTH, status_reason="token revoked")
        )
    with pytest.raises(Rejected) as info:
        posts.queue(request())
    assert str(info.value) == (
        "mastodon:brand: account needs re-authorisation (token revoked); nothing was queued"
    )
    assert row_counts(store) == NOTHING


def test_removed_account_is_unknown(store: Store, vault: Vault, posts: Posts) -> None:
    from postmast.scheduler.accounts import Accounts

    Accounts(store, vault).remove("webhook:team")
    with pytest.raises(Rejected, match="webhook:team: no account webhook:team"):
        posts.queue(request())
    assert row_counts(store)["deliveries"] == 0


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "hello \ud800 world",
            "text is not valid Unicode (it contains a lone surrogate or undecodable bytes)",
        ),
        ("hello\x00world", "text contains control characters (U+0000)"),
        ("bell\x07 and escape\x1b", "text contains control characters (U+0007, U+001B)"),
        ("   \n\t ", "text is empty"),
    ],
)
def test_unreadable_or_empty_text_is_refused(store: Store, posts: Posts, text: str, problem: str) -> None:
    with pytest.raises(Rejected) as info:
        posts.queue(request(text))
    message = str(info.value)
    assert f"mastodon:brand: {problem}" in message
    assert f"webhook:team: {problem}" in message
    message.encode("utf-8")  # the message itself is printable
    assert row_counts(store) == NOTHING
    # a dry run explains it without crashing on the text
    plans = posts.plan(request(text))
    assert [p.problems for p in plans] == [[problem], [problem]]


def test_ordinary_whitespace_is_fine(store: Store, posts: Posts) -> None:
    posts.queue(request("line one\r\nline two\ttabbed"))
    assert row_counts(store)["deliveries"] == 2
