"""The job store's engine and transactions, for SQLite and PostgreSQL alike.

SQLite: WAL, a busy timeout, foreign keys, and write transactions that start with
`BEGIN IMMEDIATE` so two writers queue up instead of failing half-way.
PostgreSQL: psycopg 3 with pre-ping. The schema is migrated on first use.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from postmast.clock import Clock, system
from postmast.scheduler.errors import ConfigError
from postmast.scheduler.files import private_sqlite


class StoreUnavailable(ConfigError):
    """Raised when the database cannot be reached now (refused, restarting, locked): try later."""


class CommitUncertain(StoreUnavailable):
    """Raised when the connection failed during COMMIT: the transaction may or may not be stored."""


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the store is unreachable or busy for now, rather than that a statement
    is wrong: a refused or dropped connection, a server restarting, SQLite locked past its busy
    timeout. Writes that fail this way are worth trying again."""
    if isinstance(exc, StoreUnavailable | OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _sqlite_engine(url: str, busy_timeout: float) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        private_sqlite(Path(parsed.database).expanduser())
    engine = create_engine(url, connect_args={"timeout": busy_timeout})
    busy_ms = int(busy_timeout * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        use_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "BEGIN")
        connection.exec_driver_sql(mode)

    return engine


def use_wal(cursor: Any, tries: int = 100) -> None:
    """Switch a new database file to WAL. Two processes opening a fresh file at once (a worker and
    a scheduler) race for that switch, and SQLite answers "locked" without waiting for the busy
    timeout, so the loser tries again; once the file is in WAL mode the pragma is a no-op."""
    for attempt in range(tries):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == tries - 1:
                raise
            time.sleep(0.05)


class Store:
    """Owns the engine and the clock; hands out sessions for reading and for writing.

    `clock` is the one clock (DESIGN.md): everything that needs "now" asks the store,
    or is handed the store's clock, so a test that moves it moves every part.

    Engines are created per process (lazily, keyed by PID): a forked worker child
    never reuses its parent's connections.
    """

    def __init__(
        self, database_url: str, *, clock: Clock = system, migrate: bool = True, busy_timeout: float = 30.0
    ) -> None:
        self.database_url = database_url
        self.clock = clock
        self.busy_timeout = busy_timeout
        """SQLite: how long a statement waits for another writer's lock before failing."""
        self._migrate = migrate
        self._engine: Engine | None = None
        self._pid = 0

    @property
    def dialect(self) -> str:
        return "postgresql" if self.database_url.startswith("postgresql") else "sqlite"

    @property
    def engine(self) -> Engine:
        if self._engine is None or self._pid != os.getpid():
            if self.dialect == "sqlite":
                engine = _sqlite_engine(self.database_url, self.busy_timeout)
            else:
                engine = create_engine(self.database_url, pool_pre_ping=True)
            if self._migrate:
                from postmast.scheduler.migrations import upgrade

                upgrade(engine)
            self._engine, self._pid = engine, os.getpid()
        return self._engine

    def now(self) -> datetime:
        return self.clock()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for queries; rolled back at the end."""
        with self._connect(write=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits at the end, or rolls back everything on error."""
        with self._connect(write=True) as session:
            yield session
            try:
                session.commit()
            except DatabaseError as exc:
                if not unavailable(exc):
                    raise
                raise CommitUncertain(f"the database went away during a commit: {first_line(exc)}") from exc

    @contextmanager
    def _connect(self, *, write: bool) -> Iterator[Session]:
        try:
            connection = self.engine.connect()
        except DatabaseError as exc:  # unreachable server, not a database file, ...
            error = StoreUnavailable if unavailable(exc) else ConfigError
            raise error(f"cannot open the database: {first_line(exc)}") from None
        with connection:
            if write and self.dialect == "sqlite":
                connection = connection.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            with Session(bind=connection, expire_on_commit=False, autoflush=False) as session:
                try:
                    yield session
                except BaseException:
                    session.rollback()
                    raise

    def dispose(self) -> None:
        if self._engine is not None and self._pid == os.getpid():
            self._engine.dispose()
        self._engine = None


def first_line(exc: BaseException) -> str:
    """The first line of a database error, without SQL or parameters."""
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
