"""What a worker writes once a network has answered: records, each applied in one transaction.

A record is a frozen value that says what to write and when it was learnt: an `Item` of a
thread, an `Ending` (the attempt row completed and the delivery moved on from its claimed
state), or an `Abandon` (a claim whose commit failed with the store unavailable: nothing was
sent). The `Recorder` (`workers.record`) applies it at once, or keeps its JSON form
(`encode`) in the outbox until the store is back.

Every write is guarded by the claim: the attempt row is completed once (`finished_at IS
NULL`), and the delivery moves only from the state the claim holds it in, with the claim's
token. If the lease ran out meanwhile and the reaper said `unknown` ("the worker stopped
answering"), that reason is not true: the worker knows better, and as long as nothing was
sent again since, its outcome replaces the reaper's (`published`, `retry_wait`, `failed`,
or `unknown` with the true reason).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Update, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from postmast.scheduler import claims
from postmast.scheduler.models import Account, AccountStatus, Attempt, Delivery, DeliveryItem
from postmast.scheduler.states import UNSETTLED, Status, transition

log = logging.getLogger("postmast.worker")
LATE = frozenset({Status.RETRY_WAIT, Status.FAILED, Status.UNKNOWN})
"""Outcomes that may replace the reaper's `unknown` when they arrive after the lease (besides
`published`, which always may: the post is on the network)."""
WORKER_LOST = "WorkerLost"
"""The reaper's error class: the lease ran out without a word from the worker."""


@dataclass(frozen=True)
class Item:
    """One item of a thread is on the network: recorded before the next is sent."""

    delivery_id: int
    position: int
    remote_id: str
    url: str | None
    ref: dict[str, Any]
    at: datetime


@dataclass(frozen=True)
class Ending:
    """The end of a claim: its attempt row completed, the delivery moved from `held` to `status`."""

    delivery_id: int
    account_id: int
    target: str
    attempt_id: int
    token: str
    held: Status
    status: Status
    at: datetime
    attempt: dict[str, Any] = field(default_factory=dict)
    """Attempt columns: http_status, error_class, message, remote_id."""
    columns: dict[str, Any] = field(default_factory=dict)
    """Delivery columns set with the new status."""
    limit_until: datetime | None = None
    """Hold back the account's deliveries until then (the network said "too many")."""
    flag_reason: str | None = None
    """The network refused the credentials: flag the account for re-authorisation."""


@dataclass(frozen=True)
class Abandon:
    """A claim whose commit failed with the store unavailable: it may or may not have been stored,
    and nothing was sent. If it was, the delivery goes back to wait, with that reason."""

    delivery_id: int
    token: str
    worker: str
    at: datetime


Record = Item | Ending | Abandon
_KINDS: dict[str, type[Item] | type[Ending] | type[Abandon]] = {
    "item": Item,
    "ending": Ending,
    "abandon": Abandon,
}


# -- applying a record -------------------------------------------------------------------------------


def apply(session: Session, record: Record) -> None:
    """Write `record` in `session`'s transaction (the caller commits)."""
    if isinstance(record, Item):
        _apply_item(session, record)
    elif isinstance(record, Ending):
        _apply_ending(session, record)
    else:
        _apply_abandon(session, record)


def apply_entry(session: Session, entry: Mapping[str, Any]) -> None:
    """Apply an outbox entry (the JSON form of a record)."""
    apply(session, decode(entry))


def _apply_item(session: Session, item: Item) -> None:
    connection = session.connection()
    exists = connection.scalar(_ITEM_EXISTS, {"delivery": item.delivery_id, "position": item.position})
    if exists is not None:
        log.warning("delivery %s item %s was already recorded", item.delivery_id, item.position)
        return
    connection.execute(
        insert(DeliveryItem),
        {
            "delivery_id": item.delivery_id,
            "position": item.position,
            "remote_id": item.remote_id,
            "public_url": item.url,
            "ref": dict(item.ref),
            "published_at": item.at,
        },
    )


_ITEM_EXISTS = select(DeliveryItem.id).where(
    DeliveryItem.delivery_id == bindparam("delivery"), DeliveryItem.position == bindparam("position")
)
"""Built once, as the other statements every delivery runs (`_close_attempt`)."""


@functools.lru_cache(maxsize=64)
def _close_attempt(keys: tuple[str, ...]) -> Update:
    """Complete an attempt row once (`finished_at IS NULL`), setting the columns `keys`."""
    return (
        update(Attempt)
        .where(Attempt.id == bindparam("attempt"), Attempt.finished_at.is_(None))
        .values(
            finished_at=bindparam("at"),
            outcome=bindparam("outcome"),
            **{k: bindparam(f"v_{k}") for k in keys},
        )
    )


def _apply_ending(session: Session, ending: Ending) -> bool:
    session.connection().execute(
        _close_attempt(tuple(sorted(ending.attempt))),
        {"attempt": ending.attempt_id, "at": ending.at, "outcome": ending.status.value}
        | {f"v_{k}": v for k, v in ending.attempt.items()},
    )
    won = transition(
        session,
        ending.delivery_id,
        ending.held,
        ending.status,
        now=ending.at,
        expected_token=ending.token,
        **ending.columns,
    )
    if not won:
        won = _settle_late(session, ending)
    if ending.limit_until is not None:
        claims.limit_account(session, ending.account_id, ending.limit_until)
    if ending.flag_reason is not None:
        _flag(session, ending)
    if ending.status == Status.PUBLISHED and won:
        log.info(
            "delivery %s published to %s as %s",
            ending.delivery_id,
            ending.target,
            ending.columns.get("public_url") or ending.columns.get("remote_id"),
        )
    return won


def _settle_late(session: Session, ending: Ending) -> bool:
    """The claim is gone (the lease ran out and the reaper said `unknown`): settle the delivery with
    what the worker learnt, unless it was sent again since."""
    if ending.status == Status.PUBLISHED:  # the post is on the network: nothing else can be true
        won = transition(
            session, ending.delivery_id, list(UNSETTLED), Status.PUBLISHED, now=ending.at, **ending.columns
        )
    elif ending.status in LATE:
        row = session.execute(
            select(Delivery.status, Delivery.claim_token).where(Delivery.id == ending.delivery_id)
        ).one_or_none()
        if row is None or row.status not in UNSETTLED or row.claim_token is not None:
            return False  # moved on, or a lookup is asking the network right now
        sent_again = session.scalar(
            select(func.count())
            .select_from(Attempt)
            .where(
                Attempt.delivery_id == ending.delivery_id,
                Attempt.id > ending.attempt_id,
                Attempt.kind == "publish",
            )
        )
        if sent_again:
            return False
        won = transition(
            session, ending.delivery_id, row.status, ending.status, now=ending.at, **ending.columns
        )
    else:
        return False
    if won:  # the reaper's "the worker stopped answering" was not true: the attempt says what was
        session.execute(
            update(Attempt)
            .where(
                Attempt.id == ending.attempt_id,
                or_(Attempt.finished_at.is_(None), Attempt.error_class == WORKER_LOST),
            )
            .values(finished_at=ending.at, outcome=ending.status.value, **_attempt_defaults(ending))
        )
        log.info(
            "delivery %s: its outcome arrived after the lease and replaces `unknown`", ending.delivery_id
        )
    return won


def _attempt_defaults(ending: Ending) -> dict[str, Any]:
    """The attempt columns of `ending`, with the ones it does not set cleared (the reaper's)."""
    return {"http_status": None, "error_class": None, "message": None, "remote_id": None, **ending.attempt}


def _flag(session: Session, ending: Ending) -> None:
    flipped = session.execute(
        update(Account)
        .where(Account.id == ending.account_id, Account.status == AccountStatus.ACTIVE)
        .values(status=AccountStatus.NEEDS_REAUTH, status_reason=ending.flag_reason, updated_at=ending.at)
    ).rowcount  # type: ignore[attr-defined]
    if flipped:  # one notice per incident: only the worker that flipped the flag says it
        log.error(
            "account %s needs re-authorisation: %s (its deliveries wait; fix with: "
            "postmast account update %s --secrets)",
            ending.target,
            ending.flag_reason,
            ending.target,
        )


def _apply_abandon(session: Session, abandon: Abandon) -> None:
    found = session.execute(
        select(Attempt.id, Attempt.kind, Delivery.account_id)
        .join(Delivery, Delivery.id == Attempt.delivery_id)
        .where(
            Attempt.delivery_id == abandon.delivery_id,
            Attempt.started_at == abandon.at,
            Attempt.worker == abandon.worker,
        )
    ).one_or_none()
    if found is None:
        return  # the claim was never stored: nothing to undo
    message = "the job store was unavailable when the worker took it; nothing was sent"
    if found.kind == "lookup":
        held, status = Status.RECONCILING, Status.UNKNOWN
        columns: dict[str, Any] = {"reconcile_at": abandon.at}
    else:
        held, status = Status.PUBLISHING, Status.RETRY_WAIT
        columns = {"next_attempt_at": abandon.at}
    _apply_ending(
        session,
        Ending(
            abandon.delivery_id,
            found.account_id,
            f"delivery {abandon.delivery_id}",
            found.id,
            abandon.token,
            held,
            status,
            abandon.at,
            attempt={"error_class": "StoreUnavailable", "message": message},
            columns={
                **columns,
                "last_error": message,
                "last_error_class": "StoreUnavailable",
                "claim_token": None,
                "lease_until": None,
            },
        ),
    )


# -- the outbox's JSON form ---------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$at": value.isoformat()}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$at"}:
            return datetime.fromisoformat(value["$at"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def encode(record: Record) -> dict[str, Any]:
    kind = next(name for name, cls in _KINDS.items() if isinstance(record, cls))
    fields = {k: (v.value if isinstance(v, Status) else v) for k, v in asdict(record).items()}
    return {"kind": kind, "record": _encode(fields)}


def decode(entry: Mapping[str, Any]) -> Record:
    fields = _decode(entry["record"])
    for name in ("held", "status"):
        if name in fields:
            fields[name] = Status(fields[name])
    return _KINDS[entry["kind"]](**fields)
