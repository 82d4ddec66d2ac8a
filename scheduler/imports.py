"""`postmast import`: a whole file of posts, every problem reported at once, stored all or nothing.

1. Read and check, outside the write lock: the file's form (`import_files`), each row's
   fields (`drafts.build`), each post against its targets and for duplicates
   (`Posts.check`). Any problem: the list of them (`FILE:LINE: column: message`) and
   nothing stored.
2. Write in short transactions: an `imports` row in state `staging`, then the posts and
   deliveries in batches sized to hold the write lock for about `LOCK_BUDGET` seconds
   each, so the dispatcher and the workers keep writing on SQLite meanwhile (`IDLE_BUDGET`
   while none of them is about to: `_others_may_write`). The rows of a batch are built
   before it takes the lock. The dispatcher ignores deliveries of a staging import
   (`staging.visible`).
3. One row's update (`staging` -> `done`) makes the whole import visible at once. A
   failure half-way deletes what was staged; one that killed the process is cleaned
   up by the scheduler (`abandon_stale`).

Every post carries its `import_id`; `cancel` cancels every delivery of an import that
has not started, and frees the file to be imported again.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import and_, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from postmast.scheduler.claims import IN_FLIGHT, WAITING
from postmast.scheduler.drafts import DraftProblems, build
from postmast.scheduler.duplicates import imported_before
from postmast.scheduler.errors import NotFound, UserError
from postmast.scheduler.import_files import FileProblem, Row, draft_of, read_file, rows_of
from postmast.scheduler.models import Delivery, Import, ImportState, Post
from postmast.scheduler.posts import Checked, Posts, QueuedPost
from postmast.scheduler.requests import PostRequest
from postmast.scheduler.staging import visible
from postmast.scheduler.states import Status, transition_many
from postmast.scheduler.store import Store

LOCK_BUDGET = 0.07
"""Seconds one batch should hold the write lock (at most about 100 ms; aim below it)."""
IDLE_BUDGET = 0.5
"""Seconds a batch may hold the lock while no delivery is in flight or due within `YIELD_HORIZON`:
no worker or dispatcher is about to write, and each batch's commit rewrites the pages of the
deliveries' indexes it touched (measured on 20,000 deliveries: ~100 batches of 70 ms spent about
as long committing as inserting). Far below the horizon, so what falls due is seen in time."""
MAX_BATCH = 2000
"""Posts in one batch, at most."""
PAUSE = 0.1
"""Seconds the import leaves the SQLite write lock free between two batches (measured: 0.03 s
left due posts 30 s late during a 30,000-delivery import; 0.1 s kept them under 1 s)."""
YIELD_HORIZON = 10.0
"""The import leaves the lock free between batches only while a delivery is in flight or due
within this many seconds: with none, no worker or dispatcher is about to write."""
STALE_STAGING = 3600.0
Progress = Callable[[str, int, int], None]


class ImportProblems(UserError):
    """Raised when an import file has problems; `problems` lists every one, nothing was stored."""

    def __init__(self, name: str, problems: Sequence[FileProblem]) -> None:
        self.name = name
        self.problems = sorted(problems, key=lambda p: (p.line, p.column))
        count = len(self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in {name}; nothing was imported")

    def lines(self) -> list[str]:
        return [p.render(self.name) for p in self.problems]


@dataclass
class Loaded:
    """An import file read and checked: its requests, ready to write."""

    path: Path
    sha256: str
    lines: list[int]
    checked: list[Checked] = field(default_factory=list)

    @property
    def posts(self) -> int:
        return len(self.checked)

    @property
    def deliveries(self) -> int:
        return sum(len(c.accounts) for c in self.checked if c.request.recurrence is None)

    @property
    def recurring(self) -> int:
        return sum(1 for c in self.checked if c.request.recurrence is not None)


@dataclass(frozen=True)
class Imported:
    id: int
    posts: int
    deliveries: int
    queued: list[QueuedPost]
    batches: int
    longest_batch: float
    """Seconds of the longest write transaction."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "import": self.id,
            "posts": [q.as_dict() for q in self.queued],
            "summary": {"posts": self.posts, "deliveries": self.deliveries},
        }


def _noop(stage: str, done: int, total: int) -> None:
    return None


class Importer:
    def __init__(self, store: Store, posts: Posts, *, progress: Progress | None = None) -> None:
        self.store = store
        self.posts = posts
        self.progress = progress or _noop

    def load(self, path: Path, *, ignore_columns: bool = False, allow_duplicate: bool = False) -> Loaded:
        """Read and check every row; raises `ImportProblems` with all problems found."""
        data = read_file(path)
        rows, problems = rows_of(path, data, ignore_columns=ignore_columns)
        sha256 = hashlib.sha256(data).hexdigest()
        if not allow_duplicate:
            with self.store.read() as session:
                earlier = imported_before(session, sha256)
            if earlier is not None:
                problems.append(
                    FileProblem(
                        0,
                        "",
                        f"this file was imported already (import {earlier}); undo that import first "
                        f"(postmast cancel --import {earlier}) or allow it with --allow-duplicate",
                    )
                )
        requests, lines = self._requests(path, rows, problems)
        loaded = Loaded(path, sha256, lines)
        if requests:  # every post against its targets, even when other rows have problems
            issues: list[Any] = []
            self.progress("checking", 0, len(requests))
            loaded.checked = self.posts.check(requests, allow_duplicate=allow_duplicate, issues=issues)
            self.progress("checking", len(requests), len(requests))
            problems += [FileProblem(lines[i.post], i.field, i.message) for i in issues]
        if problems:
            raise ImportProblems(path.name, problems)
        return loaded

    def _others_may_write(self) -> bool:
        """Whether a worker or the dispatcher may want the write lock soon: a delivery in flight,
        or one due (or due for a lookup) within `YIELD_HORIZON`. One indexed read, no lock."""
        soon = self.store.now() + timedelta(seconds=YIELD_HORIZON)
        waiting = (*WAITING, Status.UNKNOWN)
        with self.store.read() as session:
            found = session.scalar(
                select(Delivery.id)
                .where(
                    or_(
                        Delivery.status.in_(IN_FLIGHT),
                        and_(Delivery.status.in_(waiting), Delivery.next_attempt_at <= soon),
                    ),
                    visible(),
                )
                .limit(1)
            )
        return found is not None

    def _requests(
        self, path: Path, rows: Sequence[Row], problems: list[FileProblem]
    ) -> tuple[list[PostRequest], list[int]]:
        now = self.store.now()
        cache: dict[str, Any] = {}
        requests, lines = [], []
        for number, row in enumerate(rows):
            if number % 500 == 0:
                self.progress("reading", number, len(rows))
            draft = draft_of(row, problems)
            if draft is None:
                continue
            try:
                requests.append(build(draft, now, base=path.parent, cache=cache))
                lines.append(row.line)
            except DraftProblems as exc:
                problems += [FileProblem(row.line, column, message) for column, message in exc.problems]
        return requests, lines

    def write(self, loaded: Loaded) -> Imported:
        """Stage the posts in short transactions, then make them visible at once."""
        import_id = self._begin(loaded)
        queued: list[QueuedPost] = []
        size, longest, batches, start = 100, 0.0, 0, 0
        total = len(loaded.checked)
        sqlite = self.store.dialect == "sqlite"
        try:
            while start < total:
                chunk = loaded.checked[start : start + size]
                # the rows are made before the lock is taken: the batch holds it only to insert them
                prepared = self.posts.prepare(chunk, self.store.now(), import_id=import_id)
                began = time.monotonic()
                with self.store.write() as session:
                    queued += self.posts.write_prepared(session, prepared)
                spent = time.monotonic() - began
                longest, batches, start = max(longest, spent), batches + 1, start + len(chunk)
                self.progress("writing", start, total)
                budget = LOCK_BUDGET
                if sqlite and start < total:
                    if self._others_may_write():
                        # SQLite's busy handler is not fair: a writer that waits sleeps up to 100 ms
                        # between tries, and would never get in if the import took the lock back at once
                        time.sleep(PAUSE)
                    else:
                        budget = IDLE_BUDGET
                # grown at most fourfold: a small first batch says little about a large one
                size = max(10, min(MAX_BATCH, 4 * len(chunk), int(len(chunk) * budget / max(spent, 1e-3))))
            deliveries = sum(len(q.deliveries) for q in queued)
            with self.store.write() as session:
                done = session.execute(
                    update(Import)
                    .where(Import.id == import_id, Import.state == ImportState.STAGING)
                    .values(
                        state=ImportState.DONE,
                        posts=total,
                        deliveries=deliveries,
                        finished_at=self.store.now(),
                    )
                )
                if cast(Any, done).rowcount != 1:
                    raise UserError(f"import {import_id} was cancelled while it was written")
        except BaseException:
            self.discard(import_id)
            raise
        return Imported(import_id, total, deliveries, queued, batches, longest)

    def _begin(self, loaded: Loaded) -> int:
        with self.store.write() as session:
            if session.get_bind().dialect.name == "postgresql":  # one new import at a time, as on SQLite
                session.execute(text("LOCK TABLE imports IN SHARE ROW EXCLUSIVE MODE"))
            row = Import(
                filename=loaded.path.name[:255],
                sha256=loaded.sha256,
                state=ImportState.STAGING,
                posts=0,
                deliveries=0,
                created_at=self.store.now(),
            )
            session.add(row)
            session.flush()
            return row.id

    def discard(self, import_id: int) -> None:
        """Delete what a staging import wrote, in batches, and mark it cancelled."""
        discard(self.store, import_id)


def load_requests(path: Path, now: datetime) -> list[PostRequest]:
    """The requests of an import file, checked for form and fields but not against any account
    (no store needed); raises `ImportProblems` with every problem."""
    rows, problems = rows_of(path, read_file(path))
    requests = []
    for row in rows:
        draft = draft_of(row, problems)
        if draft is None:
            continue
        try:
            requests.append(build(draft, now, base=path.parent))
        except DraftProblems as exc:
            problems += [FileProblem(row.line, column, message) for column, message in exc.problems]
    if problems:
        raise ImportProblems(path.name, problems)
    return requests


def discard(store: Store, import_id: int) -> None:
    while True:
        with store.write() as session:
            ids = list(session.scalars(select(Post.id).where(Post.import_id == import_id).limit(500)))
            if not ids:
                session.execute(
                    update(Import).where(Import.id == import_id).values(state=ImportState.CANCELLED)
                )
                return
            session.execute(delete(Delivery).where(Delivery.post_id.in_(ids)))
            session.execute(delete(Post).where(Post.id.in_(ids)))


def abandon_stale(store: Store, now: datetime) -> int:
    """Imports still staging long after they began (their process died): delete what they wrote."""
    cutoff = now - timedelta(seconds=STALE_STAGING)
    with store.read() as session:
        stale = list(
            session.scalars(
                select(Import.id).where(Import.state == ImportState.STAGING, Import.created_at < cutoff)
            )
        )
    for import_id in stale:
        discard(store, import_id)
    return len(stale)


CANCELLABLE = (Status.SCHEDULED, Status.QUEUED, Status.RETRY_WAIT)


@dataclass(frozen=True)
class Cancelled:
    import_id: int
    cancelled: int
    left: dict[str, int]
    """Deliveries that could not be cancelled, by state (published, publishing, ...)."""

    def as_dict(self) -> dict[str, Any]:
        return {"import": self.import_id, "cancelled": self.cancelled, "not_cancelled": self.left}


def cancel(store: Store, import_id: int) -> Cancelled:
    """Cancel every delivery of the import that has not started (in batches); the file may then
    be imported again. What already went out is counted, not undone."""
    with store.read() as session:
        found = session.get(Import, import_id)
        if found is None or found.state == ImportState.STAGING:
            raise NotFound(f"no import {import_id}")
    now = store.now()
    cancelled = 0
    while True:
        with store.write() as session:
            batch = (
                select(Delivery.id)
                .join(Post, Post.id == Delivery.post_id)
                .where(Post.import_id == import_id, Delivery.status.in_(CANCELLABLE))
                .limit(500)
                .with_for_update(skip_locked=True)
            )
            moved = transition_many(
                session,
                batch,
                list(CANCELLABLE),
                Status.CANCELLED,
                now=now,
                last_error=f"cancelled with import {import_id}",
                last_error_class=None,
            )
            cancelled += len(moved)
            if not moved:
                session.execute(
                    update(Import).where(Import.id == import_id).values(state=ImportState.CANCELLED)
                )
                left = _left(session, import_id)
                return Cancelled(import_id, cancelled, left)


def _left(session: Session, import_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Delivery.status, func.count())
        .join(Post, Post.id == Delivery.post_id)
        .where(Post.import_id == import_id, Delivery.status != Status.CANCELLED)
        .group_by(Delivery.status)
    ).all()
    return {Status(status).value: int(number) for status, number in rows}


def import_of(session: Session, import_id: int) -> Import:
    found = session.get(Import, import_id)
    if found is None:
        raise NotFound(f"no import {import_id}")
    return found
