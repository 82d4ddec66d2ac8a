"""Validation of post requests against their targets, before anything is stored.

Every problem is an `Issue`: which post of the batch, which field (as an import column
names it: `to`, `at`, `text`, `bluesky.text`, `media`, `options`, ...) and the message.
A batch is checked whole, every problem kept, so one run reports them all. Accounts and
their connectors are looked up once per target, however many posts name them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from postmast.clock import Clock
from postmast.connectors import Connector, available
from postmast.connectors.text import text_problems
from postmast.scheduler.accounts import connector_class
from postmast.scheduler.body import OptionValue
from postmast.scheduler.errors import NotFound, UserError
from postmast.scheduler.models import Account, AccountStatus
from postmast.scheduler.requests import PostRequest
from postmast.scheduler.targets import parse_target
from postmast.scheduler.timespec import check_due_time, zone

MAX_LATENESS = 3650 * 86400


@dataclass(frozen=True)
class Issue:
    post: int
    """Index of the post in its batch (0 for a single post)."""
    field: str
    message: str


@dataclass(frozen=True)
class TargetPlan:
    """What would happen for one target: length by the network's rule, problems, request bodies."""

    target: str
    length: int | None
    limit: int | None
    problems: list[str]
    payload: dict[str, Any] | None
    items: list[dict[str, Any]] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    """The field each problem comes from (parallel to `problems`)."""
    warnings: list[str] = field(default_factory=list)
    """What would be sent differently from what the text asks (`Connector.notes`); no refusal."""

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
        if self.warnings:
            data["warnings"] = self.warnings
        if len(self.items) > 1:
            data["items"] = self.items
        return data


_PROBLEM_FIELDS = {"media": "media", "option": "options", "reply": "reply_to"}


def _plan(
    connector: Connector,
    target: str,
    request: PostRequest,
    problems: list[tuple[str, str]],
    describe: bool = True,
) -> TargetPlan:
    body = request.body
    variant = body.variant_for(target)
    text_field = f"{variant.scope}.text" if variant else "text"
    media_field = f"{variant.scope}.media" if variant else "media"
    try:
        items = connector.items(body.contents(target, connector.options))
    except ValueError as exc:  # an option's value this network does not take
        problems.append(("options", str(exc)))
        return _result(target, None, connector.limit, problems, None, [])
    if request.reply_to.get(target) and not connector.threads:
        problems.append(("reply_to", f"{connector.title} does not take replies through postmast"))
    for problem in connector.validate_thread(items):
        where = _PROBLEM_FIELDS.get(problem.code, "text")
        problems.append(
            (media_field if where == "media" else text_field if where == "text" else where, problem.message)
        )
    if not describe or any(text_problems(item.text) for item in items):  # unprintable: no payload
        return _result(target, None, connector.limit, problems, None, [])
    # Payloads and notes are a dry run's (describe): they may ask the network (Bluesky's mentions),
    # which queueing, inside its transaction, never does.
    measures = [connector.measure(item) for item in items]
    payloads = [connector.payload(item) for item in items]
    described = [
        {"length": m.length, "limit": m.limit, "payload": p} for m, p in zip(measures, payloads, strict=True)
    ]
    numbered = len(items) > 1
    warnings = [
        f"item {n}: {note}" if numbered else note
        for n, item in enumerate(items, 1)
        for note in connector.notes(item)
    ]
    return _result(target, measures[0].length, measures[0].limit, problems, payloads[0], described, warnings)


def _result(
    target: str,
    length: int | None,
    limit: int | None,
    problems: list[tuple[str, str]],
    payload: dict[str, Any] | None,
    items: list[dict[str, Any]],
    warnings: list[str] | None = None,
) -> TargetPlan:
    return TargetPlan(
        target,
        length,
        limit,
        [m for _, m in problems],
        payload,
        items,
        [f for f, _ in problems],
        warnings or [],
    )


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


class Validator:
    """Checks requests in one read session; accounts and connectors are looked up once each."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self.session = session
        self.clock = clock
        self._accounts: dict[tuple[str, str], Account | None] = {}
        self._connectors: dict[int, Connector] = {}
        self._keys: dict[str, tuple[str, str]] = {}
        self._found: dict[str, Account] = {}
        """Targets as written -> their parsed key, their live account: a batch names the same few
        targets in every row, each parsed and found once."""

    def key(self, target: str) -> tuple[str, str]:
        """`parse_target`, once per distinct target (raises `UserError` as it does)."""
        key = self._keys.get(target)
        if key is None:
            key = self._keys[target] = parse_target(target)
        return key

    def preload(self, targets: Sequence[str]) -> None:
        """Read every account the targets name in one query."""
        keys = set()
        for target in targets:
            try:
                keys.add(parse_target(target))
            except UserError:
                continue
        for account in self.session.scalars(select(Account).where(Account.status != AccountStatus.REMOVED)):
            if (account.network, account.name) in keys:
                self._accounts[(account.network, account.name)] = account
        for key in keys:
            self._accounts.setdefault(key, None)

    def account(self, target: str) -> Account:
        found = self._found.get(target)
        if found is not None:
            return found
        network, name = key = self.key(target)
        connector_class(network)
        if key not in self._accounts:
            self.preload([target])
        account = self._accounts[key]
        if account is None:
            raise NotFound(f"no account {network}:{name} (see: postmast account list)")
        self._found[target] = account
        return account

    def connector(self, account: Account) -> Connector:
        if account.id not in self._connectors:
            self._connectors[account.id] = connector_class(account.network)(
                account.settings, cache=account.cache, clock=self.clock
            )
        return self._connectors[account.id]

    def check(
        self, index: int, request: PostRequest, now: datetime, *, describe: bool = True
    ) -> tuple[list[tuple[TargetPlan, Account | None]], list[Issue]]:
        """The plan of every target and every problem of `request` (post number `index`); without
        `describe`, only the problems (no lengths and payloads: what a batch needs)."""
        issues = [Issue(index, where, message) for where, message in request_problems(request, now)]
        seen: set[tuple[str, str]] = set()
        plans: list[tuple[TargetPlan, Account | None]] = []
        for target in request.targets:
            try:
                key = self.key(target)
                if key in seen:
                    raise UserError(f"target {target} is given twice")
                seen.add(key)
                account = self.account(target)
            except UserError as exc:
                plan = TargetPlan(target, None, None, [str(exc)], None, fields=["to"])
                plans.append((plan, None))
                issues.append(Issue(index, "to", f"{target}: {exc}"))
                continue
            problems: list[tuple[str, str]] = []
            if account.status == AccountStatus.NEEDS_REAUTH:
                reason = account.status_reason or "auth failed"
                problems.append(("to", f"account needs re-authorisation ({reason})"))
            plan = _plan(self.connector(account), account.target, request, problems, describe)
            plans.append((plan, account))
            issues += [
                Issue(index, where, f"{plan.target}: {message}")
                for where, message in zip(plan.fields, plan.problems, strict=True)
            ]
        return plans, issues


def request_problems(request: PostRequest, now: datetime) -> list[tuple[str, str]]:
    """Problems of a request that do not depend on its targets' networks."""
    problems: list[tuple[str, str]] = []
    if not request.targets:
        problems.append(("to", "no target: give at least one NETWORK:NAME"))
    lateness = request.max_lateness
    if lateness is not None and not (
        isinstance(lateness, int | float) and math.isfinite(lateness) and lateness > 0
    ):
        problems.append(("max_lateness", "the maximum lateness must be positive"))
    elif lateness is not None and not 1 <= lateness <= MAX_LATENESS:
        problems.append(("max_lateness", "the maximum lateness must be between 1 second and 10 years"))
    try:
        zone(request.timezone)
    except UserError as exc:
        problems.append(("tz", str(exc)))
    for option in request.options:
        problem = option_problem(option, request.targets)
        if problem:
            problems.append(("options", problem))
    normal = {f"{n.lower()}:{a}" for n, _, a in (t.partition(":") for t in request.targets)}
    for variant in request.variants:
        if not any(variant.scope in (t, t.partition(":")[0]) for t in normal):
            problems.append((f"{variant.scope}.text", f"the variant for {variant.scope} matches no target"))
    if any(not str(remote).strip() for remote in request.reply_to.values()):
        problems.append(("reply_to", "a reply target needs the remote id of the post it answers"))
    strays = sorted(set(request.reply_to) - set(request.targets))
    if strays:
        problems.append(("reply_to", f"--reply-to names {strays[0]}, which is not a --to target"))
    if request.recurrence is None:
        try:
            check_due_time(request.due_at, now)
        except UserError as exc:
            problems.append(("at", str(exc)))
    return problems
