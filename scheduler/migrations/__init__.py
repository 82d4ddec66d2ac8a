"""Alembic migrations, applied on first use and by `postmast db upgrade`.

Several processes may start at once (workers, schedulers): PostgreSQL serialises
the upgrade with an advisory lock, SQLite with a lock file beside the database.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from postmast.scheduler.files import private_file

if TYPE_CHECKING:
    from alembic.config import Config

_ADVISORY_LOCK_ID = 0x706F73746D617374  # "postmast"

HEAD = "0008"
"""The newest revision in versions/ (tests/scheduler/test_migrations.py checks it against
Alembic's own reading). Every command opens the store, which checks the schema: comparing
the stored revision with this one needs no Alembic, whose import cost a CLI command a third
of its time; Alembic is loaded only when there is something to apply."""


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _up_to_date(connection: Connection) -> bool:
    """The stored revision is HEAD, read with one query (False when there is no version table)."""
    try:
        stored = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except DBAPIError:
        stored = []
    connection.rollback()
    return stored == [HEAD]


@contextmanager
def _upgrade_lock(engine: Engine, connection: Connection) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _ADVISORY_LOCK_ID})
            connection.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(private_file(Path(f"{database}.migrate-lock")), "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def upgrade(engine: Engine) -> bool:
    """Bring the schema to the newest revision; returns True if anything was applied."""
    with engine.connect() as connection:
        if _up_to_date(connection):
            return False
    from alembic import command

    head = head_revision()
    with engine.connect() as connection:
        current = current_revision(connection)
        connection.rollback()
        if current == head:
            return False
        with _upgrade_lock(engine, connection):
            if current_revision(connection) == head:
                connection.rollback()
                return False
            connection.rollback()
            with _foreign_keys_off(connection):
                command.upgrade(alembic_config(connection), "head")
                connection.commit()
    return True


@contextmanager
def _foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite: migrations rebuild tables (copy, drop, rename); with foreign keys on, dropping
    `posts` or `deliveries` would cascade into their deliveries and attempts and lose them.
    The pragma only takes effect outside a transaction, so it is set on the idle connection."""
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.dbapi_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        connection.rollback()
        raw.execute("PRAGMA foreign_keys=ON")
