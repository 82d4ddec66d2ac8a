"""The outbox: outcomes a worker knows but could not write to the job store yet.

When the store is unavailable at the moment a network has answered (PostgreSQL restarting,
connections refused, SQLite locked past its busy timeout), the write is kept here instead
of being lost, and applied when the store is back: by the task itself (retrying with
backoff until its time limit), by a background thread of every worker process, by the next
worker that starts, and by the dispatcher at the start of every tick (before it reaps
expired leases, so a lease never turns a known outcome into `unknown`).

It is a directory in the data directory (0700), one small JSON file (0600) per write,
written whole to a temporary name, synced, then renamed into place: a crash leaves either
the whole entry or nothing. Names sort in the order the writes were made, and one drainer
at a time (an advisory lock) applies them in that order, so an item of a thread is recorded
before the state that follows it. Every write is a compare-and-set, so applying one twice
is harmless.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from postmast import clock
from postmast.scheduler.files import FILE_MODE, private_dir, private_file
from postmast.scheduler.store import Store, unavailable

log = logging.getLogger("postmast.worker")

Apply = Callable[[Session, Mapping[str, Any]], None]
"""Applies one entry inside a write transaction; raises to leave it for later."""

_sequence = itertools.count()


@dataclass(frozen=True)
class Drained:
    applied: int = 0
    remaining: int = 0
    busy: bool = False
    """Another process was applying the outbox: nothing was tried."""


class Outbox:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def put(self, delivery_id: int, entry: Mapping[str, Any]) -> Path:
        """Keep `entry` durably (synced to disk before this returns)."""
        private_dir(self.directory)
        stamp = int(clock.system().timestamp() * 1_000_000)  # names sort in the order of the writes
        name = f"{stamp:017d}-{os.getpid()}-{next(_sequence):06d}-d{delivery_id}.json"
        temporary = self.directory / f".{name}.tmp"
        data = json.dumps(dict(entry), sort_keys=True).encode("utf-8")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        final = self.directory / name
        os.rename(temporary, final)
        self._sync_directory()
        return final

    def entries(self) -> list[Path]:
        """Waiting entries, oldest first."""
        try:
            return sorted(p for p in self.directory.iterdir() if p.suffix == ".json" and p.name[0] != ".")
        except FileNotFoundError:
            return []

    def holds(self, delivery_id: int) -> bool:
        """Whether a write for `delivery_id` is waiting (later writes for it must wait behind it)."""
        suffix = f"-d{delivery_id}.json"
        return any(p.name.endswith(suffix) for p in self.entries())

    def drain(self, store: Store, apply: Apply) -> Drained:
        """Apply waiting entries in order, each in its own transaction, until the store fails."""
        if not self.entries():
            return Drained()
        with self._lock() as locked:
            if not locked:
                return Drained(remaining=len(self.entries()), busy=True)
            applied = 0
            pending = self.entries()
            for number, path in enumerate(pending):
                try:
                    entry = json.loads(path.read_bytes())
                except FileNotFoundError:  # applied by a drainer that held the lock before us
                    continue
                except ValueError:
                    log.error("outbox entry %s is unreadable; moved aside as %s.bad", path, path.name)
                    path.rename(path.with_name(path.name + ".bad"))
                    continue
                try:
                    with store.write() as session:
                        apply(session, entry)
                except IntegrityError:  # a row this entry adds is there already: applied before
                    pass
                except Exception as exc:
                    if unavailable(exc):
                        return Drained(applied, len(pending) - number)
                    # a bug, not an outage: keep the entry for a person, let the others through
                    log.exception(
                        "outbox entry %s could not be applied; moved aside as %s.failed", path, path.name
                    )
                    path.rename(path.with_name(path.name + ".failed"))
                    continue
                path.unlink(missing_ok=True)
                applied += 1
            self._sync_directory()
            return Drained(applied, 0)

    def drain_until(self, store: Store, apply: Apply, deadline: float, *, first: float = 0.2) -> Drained:
        """Drain, retrying with backoff (doubling from `first`, at most 2 s) until the outbox is empty
        or `deadline` (a `time.monotonic()` value) is near."""
        delay = first
        while True:
            result = self.drain(store, apply)
            if not result.remaining or time.monotonic() + delay >= deadline:
                return result
            time.sleep(delay)
            delay = min(2.0, delay * 2)

    @contextmanager
    def _lock(self) -> Iterator[bool]:
        path = private_file(self.directory / ".lock")
        with open(path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
