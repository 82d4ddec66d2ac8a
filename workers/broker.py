"""Housekeeping for the embedded broker (kombu's SQLAlchemy transport on SQLite).

That transport never deletes a consumed message; it only hides it. Left alone the
file grows by a row per publish, so the dispatcher deletes hidden rows now and then.
"""

from __future__ import annotations

from datetime import timedelta

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Transport as SqlaTransport
from sqlalchemy import DateTime, bindparam, create_engine, inspect, text

from postmast import clock

EMBEDDED_SCHEME = "postmast-sqla"


class EmbeddedTransport(SqlaTransport):
    """kombu's SQLAlchemy transport, polling every 0.2 s instead of every second.

    Its polling interval cannot be set through `broker_transport_options` (the sqla
    transport hands every option to `create_engine`), hence this subclass.
    """

    polling_interval = 0.2


def register_embedded_transport() -> None:
    TRANSPORT_ALIASES.setdefault(EMBEDDED_SCHEME, "postmast.workers.broker:EmbeddedTransport")


def kombu_url(broker_url: str) -> str:
    """The URL Celery connects with: the embedded broker goes through `EmbeddedTransport`."""
    if broker_url.startswith("sqla+"):
        register_embedded_transport()
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
