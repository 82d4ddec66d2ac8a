"""The delivery state machine: one enum, one table of allowed transitions, one writer.

Every change of `deliveries.status` goes through `transition` (one row) or
`transition_many` (a set of rows): a single `UPDATE ... WHERE status IN (:expected)`
that reports whether it won. Nothing else in the code base writes that column. The
enum itself lives in `status` so that the models can use it without importing this.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import ClauseElement, ColumnElement, CursorResult, Select, Update, bindparam, func, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import InstrumentedAttribute, Session

from postmast.scheduler.models import Delivery
from postmast.scheduler.status import Status

T = TypeVar("T")

__all__ = [
    "PENDING",
    "TERMINAL",
    "TRANSITIONS",
    "UNSETTLED",
    "Status",
    "TransitionNotAllowed",
    "allowed",
    "transition",
    "transition_many",
    "transition_returning",
]

S = Status

TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    # dispatched when due; cancelled or rescheduled by the user; missed if picked up too late
    S.SCHEDULED: frozenset({S.QUEUED, S.CANCELLED, S.MISSED, S.SCHEDULED}),
    # claimed by a worker; cancelled or rescheduled by the user; missed if claimed too late
    S.QUEUED: frozenset({S.PUBLISHING, S.CANCELLED, S.MISSED, S.SCHEDULED}),
    # the outcome of one attempt (the reaper sets unknown when the lease expires)
    S.PUBLISHING: frozenset({S.PUBLISHED, S.RETRY_WAIT, S.FAILED, S.UNKNOWN, S.MISSED}),
    # due again after backoff; cancelled or rescheduled by the user; missed when too late;
    # due at once when its account is fixed (retry_wait -> retry_wait, scheduler/reactivation.py)
    S.RETRY_WAIT: frozenset({S.QUEUED, S.CANCELLED, S.MISSED, S.SCHEDULED, S.RETRY_WAIT}),
    # the outcome of an attempt is unknown: when its settle delay has passed, the dispatcher claims
    # it for a lookup (reconciling); the user re-sends after confirming (scheduled); a worker whose
    # answer arrives after its lease ran out (its write waited for the store) settles it with what
    # the network said (published, retry_wait, failed, or unknown with the true reason)
    S.UNKNOWN: frozenset({S.RECONCILING, S.PUBLISHED, S.SCHEDULED, S.RETRY_WAIT, S.FAILED, S.UNKNOWN}),
    # a worker asks the network whether the post is there, before anything is sent: found
    # (published, or queued to send the rest of a thread), confirmed absent (queued to send it,
    # or missed when too late), undecided or the lookup's lease expired (unknown). Its own claim
    # (reconciling -> reconciling) sets the token. A late answer to the publish before it settles
    # it as from unknown. Nothing else: no cancel, reschedule or removal while the post may be live.
    S.RECONCILING: frozenset(
        {S.RECONCILING, S.PUBLISHED, S.QUEUED, S.UNKNOWN, S.MISSED, S.RETRY_WAIT, S.FAILED}
    ),
    # `postmast retry`: a new schedule, due now
    S.FAILED: frozenset({S.SCHEDULED}),
    S.MISSED: frozenset({S.SCHEDULED}),
    S.PUBLISHED: frozenset(),
    S.CANCELLED: frozenset(),
}

TERMINAL = frozenset({S.PUBLISHED, S.FAILED, S.CANCELLED, S.MISSED})
"""States nothing moves out of without a person asking (`unknown` needs attention, so it is not here)."""
PENDING = frozenset({S.SCHEDULED, S.QUEUED, S.PUBLISHING, S.RETRY_WAIT})
"""States on their way to the network."""
UNSETTLED = frozenset({S.UNKNOWN, S.RECONCILING})
"""States where the post may or may not be on the network: a lookup or a person decides."""


MANY = 500
"""Deliveries one `transition_many` statement moves (SQLite allows 32,766 parameters)."""


class TransitionNotAllowed(ValueError):
    """Raised when code asks for a transition the table forbids: a bug, never user input."""


def allowed(source: Status, target: Status) -> bool:
    return target in TRANSITIONS[source]


def _expected(expected: Status | Iterable[Status], target: Status) -> list[Status]:
    sources = [expected] if isinstance(expected, Status) else list(expected)
    if not sources:
        raise TransitionNotAllowed("no expected state given")
    for source in sources:
        if not allowed(source, target):
            raise TransitionNotAllowed(f"{source} -> {target} is not an allowed transition")
    return sources


INCREMENT_ATTEMPTS = Delivery.attempt_count + 1
"""The attempt counter's increment as a `transition` value: one shared expression, so that the
statements that set it are built once (`_statement`)."""


def transition(
    session: Session,
    delivery_id: int,
    expected: Status | Iterable[Status],
    target: Status,
    *,
    now: datetime,
    expected_token: str | None = None,
    unclaimed: bool = False,
    **values: Any,
) -> bool:
    """Compare-and-set one delivery from `expected` to `target`; True if this call won.

    `expected_token`, when given, must match the stored claim token: a worker can only
    finish its own claim. `unclaimed` requires that no claim token is set (a worker taking
    a delivery nobody has taken yet). `values` are further columns to set in the same statement.
    """
    stmt, params = _compare_and_set(delivery_id, expected, target, now, expected_token, unclaimed, values)
    result = cast(CursorResult[Any], _connection(session).execute(stmt, params))
    return result.rowcount == 1


def transition_returning(
    session: Session,
    delivery_id: int,
    expected: Status | Iterable[Status],
    target: Status,
    column: InstrumentedAttribute[T],
    *,
    now: datetime,
    unclaimed: bool = False,
    **values: Any,
) -> T | None:
    """`transition`, returning `column` as the winning statement left it (None if it lost): a
    worker reads its attempt number in the statement that takes the delivery."""
    stmt, params = _compare_and_set(delivery_id, expected, target, now, None, unclaimed, values)
    found: T | None = _connection(session).execute(stmt.returning(column), params).scalar_one_or_none()
    return found


def _compare_and_set(
    delivery_id: int,
    expected: Status | Iterable[Status],
    target: Status,
    now: datetime,
    expected_token: str | None,
    unclaimed: bool,
    values: dict[str, Any],
) -> tuple[Update, dict[str, Any]]:
    """The statement and its parameters. Statements of one shape are built once: building one
    cost more than running it, on the path every delivery takes several times."""
    sources = tuple(_expected(expected, target))
    if any(isinstance(v, ClauseElement) and v is not INCREMENT_ATTEMPTS for v in values.values()):
        stmt = _update(sources, target, (), expected_token is not None, unclaimed).values(**values)
        return stmt, _params(delivery_id, now, expected_token, {})
    shape = tuple(sorted((k, v is INCREMENT_ATTEMPTS) for k, v in values.items()))
    stmt = _statement(sources, target, shape, expected_token is not None, unclaimed)
    plain = {k: v for k, v in values.items() if v is not INCREMENT_ATTEMPTS}
    return stmt, _params(delivery_id, now, expected_token, plain)


def _params(delivery_id: int, now: datetime, token: str | None, values: dict[str, Any]) -> dict[str, Any]:
    params = {f"v_{k}": v for k, v in values.items()}
    params.update(cas_id=delivery_id, cas_now=now)
    if token is not None:
        params["cas_token"] = token
    return params


def _update(
    sources: tuple[Status, ...],
    target: Status,
    shape: tuple[tuple[str, bool], ...],
    token: bool,
    unclaimed: bool,
) -> Update:
    stmt = (
        update(Delivery)
        .where(Delivery.id == bindparam("cas_id"), Delivery.status.in_(sources))
        .values(
            status=target,
            updated_at=bindparam("cas_now"),
            **{k: INCREMENT_ATTEMPTS if inc else bindparam(f"v_{k}") for k, inc in shape},
        )
    )
    if token:
        stmt = stmt.where(Delivery.claim_token == bindparam("cas_token"))
    if unclaimed:
        stmt = stmt.where(Delivery.claim_token.is_(None))
    return stmt


_statement = functools.lru_cache(maxsize=512)(_update)


def _status_by_id() -> ColumnElement[Status]:
    """The status column for a row already found by id: `coalesce` of a non-null column is the
    column, but no planner reads it from a status index. Given `id IN (...) AND status IN (...)`,
    SQLite walked every `scheduled` delivery in (status, ...) order to find twenty ids."""
    return func.coalesce(Delivery.status, Delivery.status)


def transition_many(
    session: Session,
    ids: Select[Any],
    expected: Status | Iterable[Status],
    target: Status,
    *,
    now: datetime,
    params: Mapping[str, Any] | None = None,
    **values: Any,
) -> list[int]:
    """Compare-and-set every delivery selected by `ids` (with its bound `params`) that is still in
    `expected`.

    Returns the ids that moved. `ids` may lock rows (`FOR UPDATE SKIP LOCKED` on
    PostgreSQL); on SQLite the transaction holds the write lock (`BEGIN IMMEDIATE`).

    The ids are selected first and updated by primary key, `MANY` at a time, in the same
    transaction: as one `UPDATE ... WHERE id IN (SELECT ...) AND status IN (...)`, SQLite
    walked every row in the expected states (a million future deliveries) to test each id.
    """
    sources = tuple(_expected(expected, target))
    connection = _connection(session)
    selected = list(connection.execute(ids, dict(params or {})).scalars().all())
    if not selected:
        return []
    if any(isinstance(v, ClauseElement) for v in values.values()):
        raise TypeError("transition_many sets plain values only")
    stmt = _statement_many(sources, target, tuple(sorted(values)))
    moved: list[int] = []
    for start in range(0, len(selected), MANY):
        bound = {f"v_{k}": v for k, v in values.items()}
        bound.update(cas_now=now, cas_ids=selected[start : start + MANY])
        moved += connection.execute(stmt, bound).scalars().all()
    return sorted(moved)


@functools.lru_cache(maxsize=128)
def _statement_many(sources: tuple[Status, ...], target: Status, keys: tuple[str, ...]) -> Update:
    return (
        update(Delivery)
        .where(Delivery.id.in_(bindparam("cas_ids", expanding=True)), _status_by_id().in_(sources))
        .values(status=target, updated_at=bindparam("cas_now"), **{k: bindparam(f"v_{k}") for k in keys})
        .returning(Delivery.id)
    )


def _connection(session: Session) -> Connection:
    """The session's connection, after writing what the session holds (as its own statements
    would): these statements are Core, which skips the session's flush."""
    session.flush()
    return session.connection()
