"""`postmast import` in the store: every problem at once and nothing stored; staged batches the
dispatcher cannot see until the import is done; the same file refused twice; undo by import id."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from postmast.scheduler import claims
from postmast.scheduler.imports import Importer, ImportProblems, cancel, discard
from postmast.scheduler.models import Delivery, Import, ImportState, Post
from postmast.scheduler.posts import Posts
from postmast.scheduler.states import Status, transition
from postmast.scheduler.store import Store
from postmast.scheduler.vault import Vault
from tests.conftest import FakeClock
from tests.factories import add_account, add_delivery


@pytest.fixture
def importer(store: Store, vault: Vault) -> Importer:
    add_account(store, vault, "webhook", "team")
    add_account(store, vault, "mastodon", "brand")
    return Importer(store, Posts(store, default_max_lateness=3600))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def counts(store: Store) -> tuple[int, int]:
    with store.read() as session:
        return len(session.scalars(select(Post.id)).all()), len(session.scalars(select(Delivery.id)).all())


BAD = (
    "text,to,at,tz,max_lateness\n"
    "fine,webhook:team,2030-01-01 09:00,UTC,\n"
    "too long " + "x" * 600 + ",mastodon:brand,2030-01-01 09:00,UTC,\n"
    "no target,,2030-01-01 09:00,UTC,\n"
    "bad time,webhook:team,yesterday-ish,Mars/Base,soon\n"
    "old,webhook:team,2001-01-01 09:00,UTC,\n"
    "who,mastodon:ghost,,,\n"
)


def test_every_problem_at_once_and_nothing_stored(store: Store, importer: Importer, tmp_path: Path) -> None:
    with pytest.raises(ImportProblems) as info:
        importer.load(write(tmp_path, "month.csv", BAD))
    assert info.value.lines() == [
        "month.csv:3: text: mastodon:brand: text is 609 characters, over Mastodon's limit of 500",
        "month.csv:4: to: no target: give NETWORK:NAME (several: space-separated)",
        "month.csv:5: max_lateness: max lateness 'soon' is not a duration (e.g. 30m, 2h)",
        "month.csv:5: tz: unknown time zone 'Mars/Base' (use an IANA name such as Europe/Berlin or UTC)",
        "month.csv:6: at: 2001-01-01T09:00+00:00 is 9465 days in the past; use a future time, "
        "or give no time to post now",
        "month.csv:7: to: mastodon:ghost: no account mastodon:ghost (see: postmast account list)",
    ]
    assert str(info.value) == "6 problems in month.csv; nothing was imported"
    assert [p.as_dict()["line"] for p in info.value.problems] == [3, 4, 5, 5, 6, 7]
    assert counts(store) == (0, 0)


def test_the_import_is_invisible_until_done_then_all_at_once(
    store: Store, importer: Importer, tmp_path: Path, clock: FakeClock
) -> None:
    lines = "".join(f"post {n},webhook:team mastodon:brand,in {n}m\n" for n in range(1, 301))
    loaded = importer.load(write(tmp_path, "big.csv", "text,to,at\n" + lines))
    seen: list[int] = []

    def watch(stage: str, done: int, total: int) -> None:
        if stage == "writing" and done < total:
            clock.advance(0)  # between batches: what would a dispatcher claim now?
            with store.write() as session:
                seen.append(len(claims.claim_due(session, clock.now + timedelta(hours=6), 100, 60)))

    importer.progress = watch
    done = importer.write(loaded)
    assert done.batches > 1 and seen and set(seen) == {0}
    assert (done.posts, done.deliveries) == (300, 600)
    with store.read() as session:
        assert session.get(Import, done.id).state == ImportState.DONE  # type: ignore[union-attr]
        assert set(session.scalars(select(Post.import_id))) == {done.id}
    with store.write() as session:
        assert len(claims.claim_due(session, clock.now + timedelta(hours=6), 100, 60)) == 2


def test_the_import_leaves_the_lock_free_only_while_someone_may_write(
    store: Store, vault: Vault, importer: Importer, tmp_path: Path
) -> None:
    assert not importer._others_may_write()  # nothing stored: no one is about to write
    team = importer.load(write(tmp_path, "soon.csv", "text,to,at\nsoon,webhook:team,in 1m\n"))
    import_id = importer._begin(team)
    with store.write() as session:
        importer.posts.write(session, team.checked, store.now(), import_id=import_id)
    assert not importer._others_may_write()  # only the import's own staged delivery is due soon
    discard(store, import_id)
    later = importer.write(
        importer.load(write(tmp_path, "later.csv", "text,to,at\nlater,webhook:team,in 1d\n"))
    )
    assert later.posts == 1 and not importer._others_may_write()  # due, but not within the horizon
    soon = add_delivery(
        store, add_account(store, vault, "webhook", "other"), due=store.now() + timedelta(seconds=5)
    )
    assert importer._others_may_write()  # a delivery the dispatcher is about to claim
    with store.write() as session:
        transition(
            session,
            soon,
            Status.SCHEDULED,
            Status.QUEUED,
            now=store.now(),
            next_attempt_at=store.now() + timedelta(days=1),
        )
    assert importer._others_may_write()  # in flight: a worker will record its outcome


def test_the_same_file_twice_is_refused_and_cancel_undoes_it(
    store: Store, importer: Importer, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "p.json",
        json.dumps([{"text": f"t{n}", "to": "webhook:team", "at": "in 1h"} for n in range(3)]),
    )
    done = importer.write(importer.load(path))
    with pytest.raises(ImportProblems) as info:
        importer.load(path)
    assert f"this file was imported already (import {done.id})" in info.value.lines()[0]
    undone = cancel(store, done.id)
    assert (undone.cancelled, undone.left) == (3, {})
    with store.read() as session:
        assert set(session.scalars(select(Delivery.status))) == {"cancelled"}
    assert importer.load(path).posts == 3  # cancelled: the file may come again


def test_a_failed_import_removes_what_it_staged(store: Store, importer: Importer, tmp_path: Path) -> None:
    loaded = importer.load(write(tmp_path, "p.csv", "text,to\na,webhook:team\nb,webhook:team\n"))
    import_id = importer._begin(loaded)
    with store.write() as session:
        importer.posts.write(session, loaded.checked, store.now(), import_id=import_id)
    assert counts(store) == (2, 2)
    discard(store, import_id)
    assert counts(store) == (0, 0)


def test_duplicates_within_the_window_are_refused(store: Store, importer: Importer, tmp_path: Path) -> None:
    importer.posts.queue_many(
        [
            importer.load(write(tmp_path, "a.csv", "text,to,at\nHello  World,webhook:team,in 2h\n"))
            .checked[0]
            .request
        ]
    )
    with pytest.raises(ImportProblems) as info:
        importer.load(
            write(
                tmp_path,
                "b.csv",
                "text,to,at\nhello world,webhook:team,in 3h\nother,webhook:team,\nother,webhook:team,in 1h\n",
            )
        )
    messages = info.value.lines()
    assert messages[0].startswith(
        "b.csv:2: text: webhook:team: the same text goes to this account in delivery 1"
    )
    assert messages[1].startswith(
        "b.csv:4: text: webhook:team: the same text goes to this account in post 2 of this batch"
    )
    loaded = importer.load(tmp_path / "b.csv", allow_duplicate=True)
    assert loaded.posts == 3
    assert datetime.now(UTC)  # (the window is measured on due times, not on the wall clock)
