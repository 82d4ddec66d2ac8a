"""Housekeeping for the embedded broker (kombu's SQLAlchemy transport on SQLite).

That transport never deletes a consumed message; it only hides it. Left alone the
file grows by a row per publish, so the dispatcher deletes hidden rows now and then.
"""

from __future__ import annotations

import time
from datetime import timedelta
from queue import Empty
from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Channel as SqlaChannel
from kombu.transport.sqlalchemy import Transport as SqlaTransport
from sqlalchemy import DateTime, bindparam, create_engine, event, inspect, text
from sqlalchemy.exc import IntegrityError, OperationalError

from postmast import clock
from postmast.scheduler.files import private_sqlite, sqlite_path
from postmast.scheduler.store import use_wal

EMBEDDED_SCHEME = "postmast-sqla"


class EmbeddedChannel(SqlaChannel):
    """kombu's channel, safe when several processes set up a fresh broker file at once.

    kombu guards table and queue creation with a lock inside one process only: the worker and
    the scheduler of `postmast run` both starting on a new `broker.db` made one of them fail
    with `table kombu_queue already exists` or `UNIQUE constraint failed: kombu_queue.name`.
    The loser now uses what the winner created.
    """

    def _open(self) -> Any:
        for attempt in range(5):
            try:
                return super()._open()  # type: ignore[no-untyped-call]
            except OperationalError as exc:
                if "already exists" not in str(exc) or attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def _engine_from_config(self) -> Any:
        """kombu's engine, on a broker file in WAL mode with `synchronous=NORMAL`: every poll and
        every publish is a write transaction, and in SQLite's default journal each commit waited
        for several syncs (a worker's publish of the next message took as long as the delivery).
        A message lost to a power cut is not a post lost: the store is the schedule, and the
        dispatcher sends a queued delivery whose message went missing again (`requeue_stale`)."""
        engine = super()._engine_from_config()  # type: ignore[no-untyped-call]

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            use_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine

    def _get_or_create(self, queue: str) -> Any:
        try:
            return super()._get_or_create(queue)  # type: ignore[no-untyped-call]
        except IntegrityError:
            self.session.rollback()
            return self.session.query(self.queue_cls).filter(self.queue_cls.name == queue).one()


class EmbeddedTransport(SqlaTransport):
    """kombu's SQLAlchemy transport, polling every 0.2 s instead of every second (every 10 ms
    while messages keep coming), with a channel that survives a race to create the queue, and
    that does not sleep while messages wait.

    Its polling interval cannot be set through `broker_transport_options` (the sqla
    transport hands every option to `create_engine`), hence this subclass.

    kombu's virtual transport sleeps its polling interval whenever a get finds nothing, and
    a channel whose prefetch is full finds nothing without looking: a worker that had just
    finished a task (its pool acks from another thread) slept up to 0.2 s before taking the
    next waiting message, 212 ms per delivery for 30 ms of work. Here a full prefetch waits
    `ack_wait` before looking again. An empty queue waits `busy_interval` for `busy_window`
    seconds after the last message (a worker hands an account its next delivery the moment
    the last one ends: one account's posts went out at 4 a second, each waiting for a poll),
    then the polling interval: an idle worker still looks five times a second, not a hundred.
    """

    Channel = EmbeddedChannel
    polling_interval = 0.2
    ack_wait = 0.005
    busy_interval = 0.01
    busy_window = 2.0
    _last_message = float("-inf")

    def drain_events(self, connection: Any, timeout: float | None = None) -> None:  # type: ignore[override]
        cycle = self.cycle
        assert cycle is not None, "the transport has no channels yet"
        start = time.monotonic()
        while True:
            try:
                cycle.get(self._deliver, timeout=timeout)  # type: ignore[no-untyped-call]
                self._last_message = time.monotonic()
                return
            except Empty:
                now = time.monotonic()
                waited = now - start
                if timeout is not None and waited >= timeout:
                    raise TimeoutError from None
                full = any(channel._consumers and not channel.qos.can_consume() for channel in self.channels)
                busy = now - self._last_message < self.busy_window
                pause = self.ack_wait if full else self.busy_interval if busy else self.polling_interval
                time.sleep(pause if timeout is None else max(0.0, min(pause, timeout - waited)))


def register_embedded_transport() -> None:
    TRANSPORT_ALIASES.setdefault(EMBEDDED_SCHEME, "postmast.workers.broker:EmbeddedTransport")


def kombu_url(broker_url: str) -> str:
    """The URL Celery connects with: the embedded broker goes through `EmbeddedTransport`, its
    file created private (0600) before SQLite opens it."""
    if broker_url.startswith("sqla+"):
        register_embedded_transport()
        path = sqlite_path(broker_url)
        if path is not None:
            private_sqlite(path)
        return EMBEDDED_SCHEME + broker_url.removeprefix("sqla")
    return broker_url


def clean_embedded_broker(broker_url: str, *, older_than: float = 3600.0) -> int:
    """Delete consumed messages older than `older_than` seconds; returns how many."""
    if not broker_url.startswith("sqla+"):
        return 0
    engine = create_engine(broker_url.removeprefix("sqla+"), connect_args={"timeout": 30})
    try:
        if not inspect(engine).has_table("kombu_message"):
            return 0
        # kombu stamps `timestamp` with the wall clock's naive local time when it hands a message out.
        cutoff = clock.system().astimezone().replace(tzinfo=None) - timedelta(seconds=older_than)
        with engine.begin() as connection:
            result = connection.execute(
                text("DELETE FROM kombu_message WHERE visible = 0 AND timestamp < :cutoff").bindparams(
                    bindparam("cutoff", type_=DateTime())
                ),
                {"cutoff": cutoff},
            )
            return int(result.rowcount or 0)
    finally:
        engine.dispose()
