"""Liveness: each scheduler and worker writes a heartbeat row to the store while it runs.

The store is the one place every process can reach, so `postmast status` (and a Docker
health check) can tell what runs where without asking each machine. A process beats
every `INTERVAL` seconds; one not heard of for `STALE_AFTER` seconds is silent (hung or
dead); one that stopped cleanly says so. Rows older than a day are pruned.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from postmast.scheduler.models import Heartbeat
from postmast.scheduler.store import Store

log = logging.getLogger("postmast.heartbeat")


def _version() -> str:
    try:
        return version("postmast")
    except PackageNotFoundError:
        return "unknown"


INTERVAL = 10.0
STALE_AFTER = 45.0
KEEP = timedelta(days=1)


def host() -> str:
    return socket.gethostname()


class Beat:
    """This process's heartbeat: `beat()` now and then, `stop()` at a clean exit."""

    def __init__(self, store: Store, role: str, detail: dict[str, Any] | None = None) -> None:
        self.store = store
        self.role = role
        self.detail = {"version": _version(), **(detail or {})}
        self.id = f"{role}:{host()}:{os.getpid()}"
        self.started_at: datetime | None = None
        self._last = 0.0

    def beat(self) -> None:
        now = self.store.now()
        with self.store.write() as session:
            moved = session.execute(
                update(Heartbeat)
                .where(Heartbeat.id == self.id)
                .values(seen_at=now, stopped_at=None, detail=self.detail)
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            if not moved:
                self.started_at = now
                try:
                    with session.begin_nested():
                        session.add(
                            Heartbeat(
                                id=self.id,
                                role=self.role,
                                host=host(),
                                pid=os.getpid(),
                                started_at=now,
                                seen_at=now,
                                detail=self.detail,
                            )
                        )
                except IntegrityError:  # another thread of this process wrote it first
                    pass
            session.execute(delete(Heartbeat).where(Heartbeat.seen_at < now - KEEP))
        self._last = time.monotonic()

    def maybe_beat(self) -> None:
        """Beat if the last beat is `INTERVAL` old (for loops that run more often)."""
        if not self._last or time.monotonic() - self._last >= INTERVAL:
            try:
                self.beat()
            except Exception as exc:  # the store is down: status will say so; the work goes on
                log.warning("could not write the heartbeat (%s)", type(exc).__name__)

    def stop(self) -> None:
        with self.store.write() as session:
            session.execute(
                update(Heartbeat).where(Heartbeat.id == self.id).values(stopped_at=self.store.now())
            )


class Beater:
    """Beats in a background thread (the worker's main process, whose own loop is Celery's)."""

    def __init__(self, beat: Beat, interval: float = INTERVAL) -> None:
        self.beat = beat
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="postmast-heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.beat._last = 0.0
            self.beat.maybe_beat()
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self.beat.stop()
        except Exception as exc:
            log.warning("could not record the clean stop (%s)", type(exc).__name__)


@dataclass(frozen=True)
class Process:
    """A process as its heartbeats tell it."""

    role: str
    host: str
    pid: int
    started_at: datetime
    seen_at: datetime
    stopped_at: datetime | None
    detail: dict[str, Any]
    state: str
    """`running`, `silent` (no beat for `STALE_AFTER` seconds) or `stopped`."""

    def as_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "role": self.role,
            "host": self.host,
            "pid": self.pid,
            "state": self.state,
            "started_at": self.started_at.isoformat(),
            "seen_at": self.seen_at.isoformat(),
            "seen_seconds_ago": round((now - self.seen_at).total_seconds(), 1),
            "stopped_at": self.stopped_at.isoformat() if self.stopped_at else None,
            **{
                k: v
                for k, v in self.detail.items()
                if k in ("version", "queue", "concurrency", "metrics_port")
            },
        }


def processes(store: Store, *, stale_after: float = STALE_AFTER) -> list[Process]:
    now = store.now()
    with store.read() as session:
        rows = session.scalars(
            select(Heartbeat).order_by(Heartbeat.role, Heartbeat.host, Heartbeat.pid)
        ).all()
    return [
        Process(
            r.role,
            r.host,
            r.pid,
            r.started_at,
            r.seen_at,
            r.stopped_at,
            dict(r.detail or {}),
            "stopped"
            if r.stopped_at is not None
            else "running"
            if (now - r.seen_at).total_seconds() <= stale_after
            else "silent",
        )
        for r in rows
    ]
