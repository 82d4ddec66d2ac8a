"""Queueing posts: validate every target first, then store the post and its deliveries.

A request (one post, possibly a thread with media, to several targets) or a batch
of them is accepted whole or rejected whole: nothing is written unless every item
of every post passes every target network's rules.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from postmast.connectors import Connector, MediaFile, available
from postmast.connectors.text import text_problems
from postmast.scheduler import media as media_store
from postmast.scheduler.accounts import connector_class, find, parse_target
from postmast.scheduler.body import Body, Item, MediaRef, OptionValue, dump
from postmast.scheduler.errors import UserError
from postmast.scheduler.models import Account, AccountStatus, Delivery, Post
from postmast.scheduler.states import Status
from postmast.scheduler.store import Store
from postmast.scheduler.timespec import check_due_time, zone

MAX_LATENESS = 3650 * 86400

__all__ = ["Item", "OptionValue", "PostRequest", "Posts", "QueuedPost", "Rejected", "TargetPlan"]


@dataclass(frozen=True)
class PostRequest:
    """One post as the user asked for it; `due_at` is an aware UTC datetime.

    `text` and `media` make the first item; `then` holds the thread's further items.
    `options` are `--option` values with their scopes; `reply_to` maps a target
    (`network:name`) to the remote id the first item answers.
    """

    text: str
    targets: Sequence[str]
    due_at: datetime
    timezone: str
    max_lateness: float | None = None
    options: tuple[OptionValue, ...] = ()
    media: tuple[MediaFile, ...] = ()
    then: tuple[Item[MediaFile], ...] = ()
    reply_to: Mapping[str, str] = field(default_factory=dict)

    @property
    def items(self) -> list[Item[MediaFile]]:
        return [Item(self.text, self.media), *self.then]

    @property
    def body(self) -> Body[MediaFile]:
        return Body(tuple(self.items), tuple(self.options), dict(self.reply_to))


@dataclass(frozen=True)
class TargetPlan:
    """What would happen for one target: length by the network's rule, problems, request bodies."""

    target: str
    length: int | None
    limit: int | None
    problems: list[str]
    payload: dict[str, Any] | None
    items: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "target": self.target,
            "length": self.length,
            "limit": self.limit,
            "ok": self.ok,
            "problems": self.problems,
            "payload": self.payload,
        }
        if len(self.items) > 1:
            data["items"] = self.items
        return data


@dataclass(frozen=True)
class QueuedDelivery:
    id: int
    target: str
    due_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "target": self.target,
            "due_at": self.due_at.isoformat(),
            "status": "scheduled",
        }


@dataclass(frozen=True)
class QueuedPost:
    id: int
    deliveries: list[QueuedDelivery]

    def as_dict(self) -> dict[str, Any]:
        return {"post": self.id, "deliveries": [d.as_dict() for d in self.deliveries]}


class Rejected(UserError):
    """Raised when any target of any post in a request or batch fails validation."""


def _plan(connector: Connector, target: str, request: PostRequest, problems: list[str]) -> TargetPlan:
    try:
        items = connector.items(request.body.contents(target, connector.options))
    except ValueError as exc:  # an option's value this network does not take
        return TargetPlan(target, None, connector.limit, [*problems, str(exc)], None)
    if request.reply_to.get(target) and not connector.threads:
        problems.append(f"{connector.title} does not take replies through postmast")
    problems += [p.message for p in connector.validate_thread(items)]
    if any(text_problems(item.text) for item in items):  # unprintable: no length, no payload
        return TargetPlan(target, None, connector.limit, problems, None)
    measures = [connector.measure(item) for item in items]
    payloads = [connector.payload(item) for item in items]
    described = [
        {"length": m.length, "limit": m.limit, "payload": p} for m, p in zip(measures, payloads, strict=True)
    ]
    return TargetPlan(target, measures[0].length, measures[0].limit, problems, payloads[0], described)


class Posts:
    def __init__(self, store: Store, *, default_max_lateness: float) -> None:
        self.store = store
        self.default_max_lateness = default_max_lateness

    def plan(self, request: PostRequest) -> list[TargetPlan]:
        """Validate without writing: for `--dry-run` and for the queueing itself."""
        self._check_request(request)
        with self.store.read() as session:
            return [plan for plan, _ in self._plans(session, request)]

    def queue(self, request: PostRequest) -> QueuedPost:
        return self.queue_many([request])[0]

    def queue_many(self, requests: Sequence[PostRequest]) -> list[QueuedPost]:
        """Store every post with its deliveries in one transaction, or nothing at all."""
        if not requests:
            raise UserError("nothing to queue")
        for number, request in enumerate(requests, 1):
            self._check_request(request, prefix=f"post {number}: " if len(requests) > 1 else "")
        now = self.store.now()
        with self.store.write() as session:
            checked = []
            failures = []
            for number, request in enumerate(requests, 1):
                plans = self._plans(session, request)
                prefix = f"post {number}: " if len(requests) > 1 else ""
                failures += [f"{prefix}{p.target}: {problem}" for p, _ in plans for problem in p.problems]
                checked.append((request, plans))
            if failures:
                more = f" (and {len(failures) - 3} more)" if len(failures) > 3 else ""
                raise Rejected("; ".join(failures[:3]) + more + "; nothing was queued")
            return [self._insert(session, request, plans, now) for request, plans in checked]

    def _check_request(self, request: PostRequest, prefix: str = "") -> None:
        if not request.targets:
            raise UserError(f"{prefix}no target: add --to NETWORK:NAME")
        lateness = request.max_lateness
        if lateness is not None and not (
            isinstance(lateness, int | float) and math.isfinite(lateness) and lateness > 0
        ):
            raise UserError(f"{prefix}the maximum lateness must be positive")
        if lateness is not None and not 1 <= lateness <= MAX_LATENESS:
            raise UserError(f"{prefix}the maximum lateness must be between 1 second and 10 years")
        zone(request.timezone)
        for option in request.options:
            problem = option_problem(option, request.targets)
            if problem:
                raise UserError(f"{prefix}{problem}")
        if any(not str(remote).strip() for remote in request.reply_to.values()):
            raise UserError(f"{prefix}a reply target needs the remote id of the post it answers")
        strays = sorted(set(request.reply_to) - set(request.targets))
        if strays:
            raise UserError(f"{prefix}--reply-to names {strays[0]}, which is not a --to target")
        try:
            check_due_time(request.due_at, self.store.now())
        except UserError as exc:
            raise UserError(f"{prefix}{exc}") from None

    def _plans(self, session: Session, request: PostRequest) -> list[tuple[TargetPlan, Account | None]]:
        seen: set[tuple[str, str]] = set()
        result: list[tuple[TargetPlan, Account | None]] = []
        for target in request.targets:
            try:
                key = parse_target(target)
                if key in seen:
                    raise UserError(f"target {target} is given twice")
                seen.add(key)
                account = find(session, target)
            except UserError as exc:
                result.append((TargetPlan(target, None, None, [str(exc)], None), None))
                continue
            connector = connector_class(account.network)(
                account.settings, cache=account.cache, clock=self.store.clock
            )
            problems = []
            if account.status == AccountStatus.NEEDS_REAUTH:
                problems.append(f"account needs re-authorisation ({account.status_reason or 'auth failed'})")
            result.append((_plan(connector, account.target, request, problems), account))
        return result

    def _insert(
        self,
        session: Session,
        request: PostRequest,
        plans: list[tuple[TargetPlan, Account | None]],
        now: datetime,
    ) -> QueuedPost:
        lateness = math.ceil(
            request.max_lateness if request.max_lateness is not None else self.default_max_lateness
        )
        due = request.due_at.astimezone(UTC)  # lateness is real time, not wall-clock time
        body = request.body.with_media(lambda m: MediaRef(media_store.store(session, m, now), m.alt))
        post = Post(
            text=request.text,
            content=dump(body),
            timezone=request.timezone,
            max_lateness=lateness,
            created_at=now,
        )
        session.add(post)
        session.flush()
        queued = []
        for plan, account in plans:
            assert account is not None  # plans with problems never reach here
            delivery = Delivery(
                post_id=post.id,
                account_id=account.id,
                status=Status.SCHEDULED,
                due_at=due,
                next_attempt_at=due,
                deadline_at=due + timedelta(seconds=lateness),
                idempotency_key=str(uuid.uuid4()),
                attempt_count=0,
                created_at=now,
                updated_at=now,
            )
            session.add(delivery)
            session.flush()
            queued.append(QueuedDelivery(delivery.id, plan.target, due))
        return QueuedPost(post.id, queued)


def option_problem(option: OptionValue, targets: Sequence[str]) -> str | None:
    """Why `option` cannot apply to any of `targets`, naming the networks that take it; None if it can."""
    normal = [f"{network.lower()}:{name}" for network, _, name in (t.partition(":") for t in targets)]
    if option.scope and not any(option.applies_to(t) for t in normal):
        return f"--option {option.spec[:80]}: {option.scope} is not one of the --to targets"
    taking = sorted(name for name, cls in available().items() if option.name in {o.name for o in cls.options})
    if not any(t.partition(":")[0] in taking for t in normal if option.applies_to(t)):
        where = f"taken by: {', '.join(taking)}" if taking else "no network takes it"
        return f"--option {option.spec[:80]}: no target takes the option {option.name!r} ({where})"
    return None
