"""Housekeeping for the embedded broker (kombu's SQLAlchemy transport on SQLite).

That transport never deletes a consumed message; it only hides it. Left alone the
file grows by a row per publish, so the dispatcher deletes hidden rows now and then.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import DateTime, bindparam, create_engine, inspect, text


def clean_embedded_broker(broker_url: str, *, older_than: float = 3600.0) -> int:
    """Delete consumed messages older than `older_than` seconds; returns how many."""
    if not broker_url.startswith("sqla+"):
        return 0
    engine = create_engine(broker_url.removeprefix("sqla+"), connect_args={"timeout": 30})
    try:
        if not inspect(engine).has_table("kombu_message"):
            return 0
        # kombu stamps `timestamp` with naive local time when it hands a message out.
        cutoff = datetime.now() - timedelta(seconds=older_than)
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
