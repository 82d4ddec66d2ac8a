"""Migrations: the migrated schema is the models' schema; upgrades are idempotent and race-safe."""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from postmast.scheduler.migrations import HEAD, alembic_config, current_revision, head_revision, upgrade
from postmast.scheduler.models import Base
from postmast.scheduler.store import Store
from tests.services import Services

TABLES = {"accounts", "posts", "deliveries", "attempts", "alembic_version"}


@pytest.fixture
def fresh_url(backend: str, tmp_path: Path, services: Services) -> Iterator[str]:
    """An empty database (never migrated) on each backend."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    admin_url = services.postgres_admin_url()
    name = f"postmast_fresh_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name "
                "AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def test_the_head_the_store_checks_without_alembic_is_alembics_head() -> None:
    assert head_revision() == HEAD, "a new revision: set HEAD in scheduler/migrations/__init__.py"


def test_migrated_schema_matches_the_models(store: Store) -> None:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_compare_metadata_would_notice_a_difference(store: Store) -> None:
    """The check above is not vacuous: a column the models lack is reported."""
    with store.write() as session:
        session.execute(text("ALTER TABLE posts ADD COLUMN surprise INTEGER"))
    try:
        with store.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        with store.write() as session:
            session.execute(text("ALTER TABLE posts DROP COLUMN surprise"))
    assert [(d[0], d[2], d[3].name) for d in differences] == [("remove_column", "posts", "surprise")]


def test_upgrade_twice_is_a_no_op_the_second_time(fresh_url: str) -> None:
    store = Store(fresh_url, migrate=False)
    try:
        with store.engine.connect() as connection:
            assert current_revision(connection) is None
        assert upgrade(store.engine) is True
        assert upgrade(store.engine) is False
        with store.engine.connect() as connection:
            assert current_revision(connection) == head_revision()
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
        assert set(inspect(store.engine).get_table_names()) >= TABLES
    finally:
        store.dispose()


def test_store_migrates_on_first_use(fresh_url: str) -> None:
    store = Store(fresh_url)
    try:
        with store.read() as session:
            assert session.execute(text("SELECT count(*) FROM deliveries")).scalar_one() == 0
            assert current_revision(session.connection()) == head_revision()
    finally:
        store.dispose()


def test_store_without_migrate_leaves_the_schema_alone(fresh_url: str) -> None:
    store = Store(fresh_url, migrate=False)
    try:
        with store.read() as session:
            assert current_revision(session.connection()) is None
        assert "deliveries" not in inspect(store.engine).get_table_names()
    finally:
        store.dispose()


def _upgrade_in_child(
    url: str, barrier: multiprocessing.synchronize.Barrier, results: multiprocessing.Queue[tuple[str, object]]
) -> None:
    try:
        store = Store(url, migrate=False)
        barrier.wait(10)
        results.put(("ok", upgrade(store.engine)))
        store.dispose()
    except BaseException as exc:  # reported to the parent
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def test_concurrent_upgrades_of_a_fresh_database_both_succeed(fresh_url: str) -> None:
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(2)
    results: multiprocessing.Queue[tuple[str, object]] = context.Queue()
    children = [
        context.Process(target=_upgrade_in_child, args=(fresh_url, barrier, results)) for _ in range(2)
    ]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=60) for _ in children]
    for child in children:
        child.join(30)
        assert child.exitcode == 0
    assert sorted(outcomes, key=str) == [("ok", False), ("ok", True)]
    store = Store(fresh_url, migrate=False)
    try:
        with store.engine.connect() as connection:
            assert current_revision(connection) == head_revision()
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
        assert set(inspect(store.engine).get_table_names()) >= TABLES
    finally:
        store.dispose()


def test_upgrading_turns_a_waiting_lookup_into_an_unknown_delivery(fresh_url: str) -> None:
    """0004: `scheduled` + `needs_lookup` becomes `unknown` with its lookup due; the flag goes."""
    store = Store(fresh_url, migrate=False)
    try:
        with store.engine.connect() as connection:
            command.upgrade(alembic_config(connection), "0003")
            connection.commit()
            connection.execute(
                text(
                    "INSERT INTO accounts (network, name, settings, secrets, status, session_version, "
                    "created_at, updated_at) VALUES ('webhook', 'team', '{}', :s, 'active', 0, :t, :t)"
                ),
                {"s": b"x", "t": "2026-12-01 09:00:00"},
            )
            for number, (status, flag) in enumerate([("scheduled", True), ("scheduled", False)], 1):
                connection.execute(
                    text(
                        "INSERT INTO posts (text, content, timezone, max_lateness, created_at) "
                        "VALUES ('hi', '{}', 'UTC', 60, :t)"
                    ),
                    {"t": "2026-12-01 09:00:00"},
                )
                connection.execute(
                    text(
                        "INSERT INTO deliveries (post_id, account_id, status, due_at, next_attempt_at, "
                        "deadline_at, attempt_count, idempotency_key, reconcile_attempts, needs_lookup, "
                        "created_at, updated_at) "
                        "VALUES (:post, 1, :status, :t, :next, :t, 0, :key, 0, :flag, :t, :t)"
                    ),
                    {
                        "post": number,
                        "status": status,
                        "t": "2026-12-01 09:00:00",
                        "next": "2026-12-01 09:05:00",
                        "key": f"k{number}",
                        "flag": flag,
                    },
                )
            connection.commit()
        assert upgrade(store.engine) is True
        with store.engine.connect() as connection:
            rows = connection.execute(
                text("SELECT status, reconcile_at IS NOT NULL FROM deliveries ORDER BY id")
            ).all()
            assert [tuple(r) for r in rows] == [("unknown", True), ("scheduled", False)]
            assert "needs_lookup" not in {c["name"] for c in inspect(connection).get_columns("deliveries")}
            connection.execute(text("UPDATE deliveries SET status = 'reconciling' WHERE id = 1"))
    finally:
        store.dispose()


def test_upgrading_to_0005_keeps_deliveries_and_their_attempts(fresh_url: str) -> None:
    """0005 rebuilds `posts` and `deliveries` on SQLite: with foreign keys on, dropping the old
    tables would cascade into deliveries and attempts; the migration turns them off meanwhile."""
    store = Store(fresh_url, migrate=False)
    t = "2026-12-01 09:00:00"
    try:
        with store.engine.connect() as connection:
            command.upgrade(alembic_config(connection), "0004")
            connection.commit()
            connection.execute(
                text(
                    "INSERT INTO accounts (network, name, settings, secrets, status, session_version, "
                    "created_at, updated_at) VALUES ('webhook', 'team', '{}', :s, 'active', 0, :t, :t)"
                ),
                {"s": b"x", "t": t},
            )
            connection.execute(
                text(
                    "INSERT INTO posts (text, content, timezone, max_lateness, created_at) "
                    "VALUES ('hi', '{}', 'UTC', 60, :t)"
                ),
                {"t": t},
            )
            connection.execute(
                text(
                    "INSERT INTO deliveries (post_id, account_id, status, due_at, next_attempt_at, "
                    "deadline_at, attempt_count, idempotency_key, reconcile_attempts, created_at, "
                    "updated_at) VALUES (1, 1, 'published', :t, :t, :t, 1, 'k1', 0, :t, :t)"
                ),
                {"t": t},
            )
            connection.execute(
                text(
                    "INSERT INTO attempts (delivery_id, number, kind, started_at) "
                    "VALUES (1, 1, 'publish', :t)"
                ),
                {"t": t},
            )
            connection.commit()
        assert upgrade(store.engine) is True
        with store.engine.connect() as connection:
            assert connection.execute(text("SELECT occurrence, slotted FROM deliveries")).all() == [
                (0, False)
            ]
            assert connection.execute(text("SELECT count(*) FROM attempts")).scalar_one() == 1
            assert connection.execute(text("SELECT import_id FROM posts")).all() == [(None,)]
    finally:
        store.dispose()
