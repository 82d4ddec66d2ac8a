"""The job store's transactions and time type, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from postmast.scheduler.errors import ConfigError
from postmast.scheduler.models import Post
from postmast.scheduler.store import Store
from tests.conftest import table_counts
from tests.factories import add_account, add_delivery


def new_post(store: Store, body: str = "hello", created_at: datetime | None = None) -> Post:
    return Post(text=body, content={}, timezone="UTC", max_lateness=60, created_at=created_at or store.now())


def post_texts(store: Store) -> list[str]:
    with store.read() as session:
        return list(session.scalars(select(Post.text).order_by(Post.id)))


def test_write_commits(store: Store) -> None:
    with store.write() as session:
        session.add(new_post(store, "kept"))
    assert post_texts(store) == ["kept"]


def test_write_rolls_back_everything_on_error(store, vault) -> None:
    add_account(store, vault)
    before = table_counts(store.database_url)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), store.write() as session:
        session.add(new_post(store, "first"))
        session.flush()
        session.add(new_post(store, "second"))
        session.flush()
        session.execute(text("UPDATE accounts SET name = 'renamed'"))
        raise Boom
    assert table_counts(store.database_url) == before
    assert post_texts(store) == []
    with store.read() as session:
        assert session.scalar(text("SELECT name FROM accounts")) == "brand"


def test_failed_statement_rolls_back_the_earlier_ones(store, vault) -> None:
    account = add_account(store, vault)
    delivery_id = add_delivery(store, account)
    before = table_counts(store.database_url)
    with pytest.raises(IntegrityError), store.write() as session:
        session.add(new_post(store, "first"))
        session.flush()
        # the same idempotency key twice violates a unique constraint
        session.execute(
            text(
                "INSERT INTO deliveries (post_id, account_id, status, due_at, next_attempt_at, deadline_at, "
                "attempt_count, idempotency_key, created_at, updated_at) SELECT post_id, account_id, status, "
                "due_at, next_attempt_at, deadline_at, 0, idempotency_key, created_at, updated_at "
                "FROM deliveries WHERE id = :id"
            ),
            {"id": delivery_id},
        )
    assert table_counts(store.database_url) == before


def test_read_never_commits(store: Store) -> None:
    with store.read() as session:
        session.add(new_post(store, "dropped"))
        session.flush()
        assert session.scalar(select(func.count()).select_from(Post)) == 1
    assert post_texts(store) == []


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(IntegrityError), store.write() as session:
        session.execute(
            text(
                "INSERT INTO deliveries (post_id, account_id, status, due_at, next_attempt_at, deadline_at, "
                "attempt_count, idempotency_key, created_at, updated_at) VALUES (999, 999, 'scheduled', "
                ":t, :t, :t, 0, 'k', :t, :t)"
            ),
            {"t": "2026-12-01 09:00:00"},
        )


def test_utc_datetime_refuses_naive_datetimes(store: Store) -> None:
    with pytest.raises(StatementError, match="naive datetime given to the store"), store.write() as session:
        session.add(new_post(store, created_at=datetime(2026, 12, 1, 9, 0)))
        session.flush()
    assert post_texts(store) == []


def test_utc_datetime_returns_aware_utc(store: Store) -> None:
    eastern = timezone(timedelta(hours=5, minutes=30))
    moment = datetime(2026, 12, 1, 14, 30, 15, 123456, tzinfo=eastern)
    with store.write() as session:
        session.add(new_post(store, "a", created_at=moment))
    with store.read() as session:
        found = session.scalars(select(Post.created_at)).one()
        # a raw read shows what is stored: the UTC wall time
        raw = session.scalar(text("SELECT created_at FROM posts"))
    assert found == moment
    assert found.tzinfo is UTC
    assert (found.hour, found.minute, found.second, found.microsecond) == (9, 0, 15, 123456)
    if store.dialect == "sqlite":
        assert raw == "2026-12-01 09:00:15.123456"
    else:
        assert raw == moment and raw.utcoffset() == timedelta(0)


def test_utc_datetime_compares_instants(store: Store) -> None:
    with store.write() as session:
        session.add(new_post(store, "early", created_at=datetime(2026, 12, 1, 8, 0, tzinfo=UTC)))
        session.add(new_post(store, "late", created_at=datetime(2026, 12, 1, 10, 0, tzinfo=UTC)))
    cut = datetime(2026, 12, 1, 10, 30, tzinfo=timezone(timedelta(hours=1)))  # 09:30 UTC
    with store.read() as session:
        assert list(session.scalars(select(Post.text).where(Post.created_at >= cut))) == ["late"]


def test_missing_data_dir_is_created(tmp_path: Path) -> None:
    database = tmp_path / "deep" / "er" / "postmast.db"
    store = Store(f"sqlite:///{database}")
    try:
        with store.read() as session:
            assert session.scalar(select(func.count()).select_from(Post)) == 0
    finally:
        store.dispose()
    assert database.exists()


def test_data_dir_that_cannot_be_created_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    store = Store(f"sqlite:///{tmp_path / 'a-file' / 'data' / 'postmast.db'}")
    with pytest.raises(ConfigError) as info, store.read():
        pass
    message = str(info.value)
    assert message.startswith(f"cannot create the data directory {tmp_path / 'a-file' / 'data'}: ")
    assert "Not a directory" in message
    assert "\n" not in message


def test_database_path_that_cannot_be_opened_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "postmast.db").mkdir()  # a directory where the database file should be
    store = Store(f"sqlite:///{tmp_path / 'postmast.db'}")
    with pytest.raises(ConfigError) as info, store.write():
        pass
    assert str(info.value) == f"cannot create {tmp_path / 'postmast.db'}: Is a directory"


def test_unreachable_postgresql_is_a_config_error() -> None:
    store = Store("postgresql+psycopg://postgres@127.0.0.1:1/postmast")
    with pytest.raises(ConfigError) as info, store.read():
        pass
    message = str(info.value)
    assert message.startswith("cannot open the database: ")
    assert "\n" not in message


def test_sqlite_uses_wal(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'postmast.db'}")
    try:
        with store.read() as session:
            assert session.scalar(text("PRAGMA journal_mode")) == "wal"
            assert session.scalar(text("PRAGMA foreign_keys")) == 1
    finally:
        store.dispose()


def test_sqlite_writers_queue_up_and_see_each_others_commits(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE: a second writer waits for the first instead of working on a stale snapshot."""
    url = f"sqlite:///{tmp_path / 'postmast.db'}"
    first, second = Store(url), Store(url)
    first.engine  # noqa: B018  (migrate before the race)
    holding = threading.Event()
    errors: list[BaseException] = []

    def slow_writer() -> None:
        try:
            with first.write() as session:
                session.add(new_post(first, "first"))
                session.flush()
                holding.set()
                threading.Event().wait(0.3)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            holding.set()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert holding.wait(5)
    with second.write() as session:
        seen = session.scalar(select(func.count()).select_from(Post))
        session.add(new_post(second, f"second saw {seen}"))
    thread.join(5)
    first.dispose()
    second.dispose()
    assert errors == []
    assert post_texts(Store(url)) == ["first", "second saw 1"]


def _open(url: str, barrier, errors) -> None:
    try:
        barrier.wait(10)
        store = Store(url, migrate=False)
        with store.read() as session:
            session.execute(text("SELECT 1"))
        store.dispose()
    except BaseException as exc:  # reported to the parent
        errors.put(f"{type(exc).__name__}: {exc}")


def test_processes_opening_a_fresh_sqlite_file_at_once_all_switch_it_to_wal(tmp_path: Path) -> None:
    """The switch to WAL races on a new file; the loser used to fail with "database is locked"."""
    context = multiprocessing.get_context("fork")
    errors = context.Queue()
    for round_ in range(10):
        url = f"sqlite:///{tmp_path / f'fresh-{round_}.db'}"
        barrier = context.Barrier(4)
        children = [context.Process(target=_open, args=(url, barrier, errors)) for _ in range(4)]
        for child in children:
            child.start()
        for child in children:
            child.join(60)
        assert [c.exitcode for c in children] == [0, 0, 0, 0]
    assert errors.empty(), errors.get()
